#!/usr/bin/perl
# sharelite.pl - write or read a System V segment with IPC::ShareLite.
#
#   sharelite.pl [-k KEY] [-s SIZE] write TEXT   store TEXT (plus a newline)
#   sharelite.pl [-k KEY] read                   print what was stored
#   sharelite.pl [-k KEY] remove                 remove the segment(s) and lock set
#
# KEY defaults to 0x53484c54 ("SHLT"); SIZE (default 4096) is used only
# when `write` creates the segment.
#
# The lock.  IPC::ShareLite guards the segment with key K by the semaphore
# set with key K and 3 semaphores: lock(LOCK_SH) is semop {2,0,0},{1,+1,UNDO}
# and lock(LOCK_EX) is {1,0,0},{2,0,0},{2,+1,UNDO}.  That is the protocol
# shmfs speaks (and producer.c, consumer.c and sysv_ipc_client.py), so a
# `cat` through the mount never sees half a store(), and this script never
# reads half of an `echo > ...` through the mount.  store() and fetch() take
# the lock themselves; the explicit lock()/unlock() below show it, and are
# what you would widen to make several operations one atomic step.
#
# What a person sees through the mount.  IPC::ShareLite does not store bare
# text: the segment starts with its own 16-byte header, four native-endian
# 32-bit integers,
#   bytes  0..3   next_shmid  -1 (ff ff ff ff), or the shmid of a continuation
#   bytes  4..7   length      bytes stored, across all segments
#   bytes  8..11  shm_state   bumped when continuation segments are freed
#   bytes 12..15  version     bumped by every store()
# then the data, then NULs or whatever an earlier, longer store() left there
# (store() does not clear the rest; only `length` says where the data ends).
# So `cat /mnt/shm/by-key/0x53484c54` prints 16 bytes of binary, then the
# text; `xxd /mnt/shm/by-key/0x53484c54 | head` shows it plainly.  Data longer
# than the segment minus 16 bytes continues in extra segments that ShareLite
# creates with the first free key of KEY+1, KEY+2, ...: they appear under
# /mnt/shm as files of their own, each with a header, but ShareLite guards
# them with the *first* segment's lock and makes no set for their keys;
# shmfs follows ShareLite's chain from the first segment and locks each
# continuation with the first segment's set too.
# Semaphore 0 of the lock set is ShareLite's "share initialised" flag:
# new() sets it to 1, under the exclusive lock, when it finds it 0.  shmfs
# locks a segment with ShareLite's set because the segment starts with
# ShareLite's header (the set's values alone prove nothing: other programs'
# sets read 1 0 0 too); the C and Python examples mark their own 5-semaphore
# set instead (examples/shmlock.h), and ShareLite shares one of those if it
# finds it under the key.
#
# Writing through the mount into a ShareLite segment overwrites the header,
# after which ShareLite misreads the length and the continuation chain:
# write ShareLite segments only with ShareLite.  The reverse holds too:
# ShareLite takes any segment whose lock set has semaphore 0 at zero for a
# fresh one and writes its header over the first 16 bytes, and it takes the
# first 16 bytes of a marked one for its header, whoever marked it.  So
# this script refuses a segment ShareLite did not set up, such as the
# producer's: no lock set, an unmarked one, or a first 16 bytes that are
# not a ShareLite header.  Use sysv_ipc_client.py for those.
use strict;
use warnings;
use Getopt::Long qw(:config bundling no_ignore_case require_order);
use IPC::ShareLite qw(:lock);
use IPC::SysV qw(GETVAL IPC_STAT);
use IPC::SharedMem;

use constant SHARELITE_HEADER_BYTES => 16;

sub usage {
	my ($status) = @_;
	my $out = $status ? \*STDERR : \*STDOUT;
	print $out <<"EOF";
usage: $0 [-k KEY] [-s SIZE] write TEXT | read | remove
Store or fetch TEXT in the System V segment KEY with IPC::ShareLite, under
the lock shmfs uses.
  -k KEY   segment key: decimal, 0octal or 0xhex (default 0x53484c54)
  -s SIZE  segment size in bytes when write creates it (default 4096)
EOF
	exit $status;
}

# As strtol(3) with base 0 reads it, then as a 32-bit pattern; returned
# unsigned, because IPC::ShareLite takes only digits for a numeric key.
sub parse_key {
	my ($s) = @_;
	$s =~ /^(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/ or return undef;
	my ($sign, $digits) = ($1, $2);
	my $v = $digits =~ /^0/ ? oct($digits) : $digits + 0;
	$v = -$v if $sign;
	return undef if $v < -2**31 || $v > 2**32 - 1;
	$v += 2**32 if $v < 0;
	return $v == 0 ? undef : $v;    # IPC_PRIVATE: no other process finds it
}

# Perl's own shmget() and semget() saturate a key above 0x7fffffff instead
# of wrapping it as C would: give them key_t's signed value.
sub signed_key {
	my ($key) = @_;
	return $key > 2**31 - 1 ? $key - 2**32 : $key;
}

sub segment_exists {
	my ($key) = @_;
	return defined shmget(signed_key($key), 0, 0);
}

# The first 16 bytes of shmid read as ShareLite's header: the next segment
# of the chain is -1 or a live segment, and the length fits (the whole
# length in this segment when it is the last); version and shm_state start
# at 1 and only grow.  The C and Python examples mark the lock set too, so
# the mark alone does not tell a ShareLite segment.
sub sharelite_header {
	my ($shmid) = @_;
	my ($ds, $header);
	defined shmctl($shmid, IPC_STAT, $ds) or return 0;
	my $size = 'IPC::SharedMem::stat'->new->unpack($ds)->segsz;
	$size > SHARELITE_HEADER_BYTES or return 0;
	shmread($shmid, $header, 0, SHARELITE_HEADER_BYTES) or return 0;
	my ($next, $length, $state, $version) = unpack('i i I i', $header);
	return 0 if $length < 0 || $state < 1 || $version < 1;
	return $length <= $size - SHARELITE_HEADER_BYTES if $next == -1;
	return $next >= 0 && defined shmctl($next, IPC_STAT, $ds);
}

# A segment with this key exists, but IPC::ShareLite did not set it up.
sub foreign_segment {
	my ($key) = @_;
	my $shmid = shmget(signed_key($key), 0, 0);
	defined $shmid or return 0;
	my $semid = semget(signed_key($key), 0, 0);
	return 1 unless defined $semid;
	my $initialised = semctl($semid, 0, GETVAL, 0);
	return 1 unless defined $initialised && $initialised == 1;
	return !sharelite_header($shmid);
}

my $key_text = '0x53484c54';
my $size = 4096;
GetOptions(
	'k|key=s' => \$key_text,
	's|size=i' => \$size,
	'h|help' => sub { usage(0) },
) or usage(2);
my $key = parse_key($key_text);
defined $key or die "$0: bad key '$key_text'\n";
$size > SHARELITE_HEADER_BYTES
	or die "$0: size must exceed ShareLite's " . SHARELITE_HEADER_BYTES . "-byte header\n";

my $command = shift @ARGV // usage(2);
my $text;
if ($command eq 'write') {
	@ARGV == 1 or usage(2);
	$text = shift @ARGV;
	$text .= "\n" unless $text =~ /\n\z/;
} elsif ($command eq 'read' || $command eq 'remove') {
	@ARGV == 0 or usage(2);
} else {
	usage(2);
}

my $key_hex = sprintf('0x%08x', $key);
die "$0: segment $key_hex was not set up by IPC::ShareLite (it would overwrite "
	. "its first " . SHARELITE_HEADER_BYTES . " bytes); use sysv_ipc_client.py\n"
	if foreign_segment($key);

# new() asks shmget() for -size bytes, which fails on an existing, smaller
# segment; any size above the header attaches, and ShareLite then learns
# the real size with IPC_STAT.  (Without -size it would ask for 65536.)
my $exists = segment_exists($key);
my $share = eval {
	IPC::ShareLite->new(
		-key => $key,
		-create => $command eq 'write' ? 'yes' : 'no',
		-destroy => $command eq 'remove' ? 'yes' : 'no',
		-mode => 0666,
		-size => $exists ? SHARELITE_HEADER_BYTES + 1 : $size,
	);
};
defined $share or die "$0: segment $key_hex: $!\n";

if ($command eq 'write') {
	defined $share->lock(LOCK_EX) or die "$0: lock: $!\n";
	$share->store($text);
	$share->unlock;
} elsif ($command eq 'read') {
	defined $share->lock(LOCK_SH) or die "$0: lock: $!\n";
	my $data = $share->fetch;
	$share->unlock;
	print $data;
} else {
	# With -destroy, dropping the object removes every segment of the
	# chain and the lock set.
	undef $share;
}
exit 0;
