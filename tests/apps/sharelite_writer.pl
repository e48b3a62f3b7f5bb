#!/usr/bin/perl
# sharelite_writer.pl KEY - store self-checking values with IPC::ShareLite,
# one after another, until killed.
#
# Each value is "seq=N len=P " then P copies of one letter (chosen by N),
# then " sum=S", S being the 32-bit sum of every byte before " sum=".  P
# changes with N, so a read that mixes two stores shows a wrong letter, a
# wrong length or a wrong sum.  The share is created fresh (-exclusive), in
# one 4096-byte segment, and left in place at exit (-destroy 0).  Prints
# "ready SHMID" once the first value is stored.  It knows nothing of shmfs.
use strict;
use warnings;
use IPC::ShareLite;

my ($key) = @ARGV;
die "usage: $0 KEY\n" unless defined $key;
$key = oct($key) if $key =~ /^0/;
$| = 1;

my $share = IPC::ShareLite->new(-key => $key, -create => 1, -exclusive => 1,
				-destroy => 0, -size => 4096)
	or die "IPC::ShareLite: $!\n";

sub value {
	my ($n) = @_;
	my $p = 200 + ($n * 37) % 3000;
	my $body = sprintf('seq=%d len=%d ', $n, $p) . (chr(ord('a') + $n % 26) x $p);
	return $body . sprintf(' sum=%u', unpack('%32C*', $body));
}

$share->store(value(0));
my $shmid = shmget($key, 0, 0);
defined $shmid or die "shmget: $!\n";
print "ready $shmid\n";
for (my $n = 1;; $n++) {
	$share->store(value($n));
}
