#!/usr/bin/perl
# share_writer.pl MODE KEY SIZE - store values with IPC::ShareLite or
# IPC::Shareable under their own lock, one after another, until killed.
# Each value is one letter repeated (the next letter each time), so a read
# that mixes two stores shows two letters.
#   lite       IPC::ShareLite, a value that fills one SIZE-byte segment
#   chain      IPC::ShareLite, a value three segments long: the first
#              segment and two continuations (keys KEY+1, KEY+2)
#   shareable  IPC::Shareable, a tied scalar stored under lock(LOCK_EX)
# Prints "ready" once the first value is stored.  Knows nothing of shmfs.
use strict;
use warnings;

my ($mode, $key, $size) = @ARGV;
$key = oct($key) if $key =~ /^0/;
$| = 1;
my $n = 0;
sub letters { my ($len) = @_; return chr(ord('a') + $n++ % 26) x $len }

if ($mode eq 'lite' || $mode eq 'chain') {
	require IPC::ShareLite;
	my $share = IPC::ShareLite->new(-key => $key, -create => 1, -exclusive => 1,
					-destroy => 0, -size => $size)
		or die "IPC::ShareLite: $!\n";
	my $len = ($size - 16) * ($mode eq 'chain' ? 3 : 1);
	$share->store(letters($len));
	print "ready\n";
	$share->store(letters($len)) while 1;
} elsif ($mode eq 'shareable') {
	require IPC::Shareable;
	my $knot = tie my $value, 'IPC::Shareable',
		{ key => $key, create => 1, exclusive => 1, size => $size };
	my $len = $size - 64;
	$knot->lock(IPC::Shareable::LOCK_EX());
	$value = letters($len);
	$knot->unlock;
	print "ready\n";
	while (1) {
		$knot->lock(IPC::Shareable::LOCK_EX());
		$value = letters($len);
		$knot->unlock;
	}
}
die "usage: $0 lite|chain|shareable KEY SIZE\n";
