#!/usr/bin/perl
# counters.pl - a program whose own keyed set has 3 semaphores, used as
# counters, and is not IPC::ShareLite's: it keeps a segment and a set of 3
# semaphores under one key, and semaphore 0 is a counter like the others
# (IPC::ShareLite's lock set has semaphore 0 at 1 and semaphore 2 at 0 or 1).
# It knows nothing of shmfs.
#
#   counters.pl create KEY V0 V1 V2   segment KEY (4096 bytes, 0600) and set KEY
#                                     with values V0 V1 V2; prints "shmid semid"
#   counters.pl show KEY              prints the three values
#   counters.pl bump KEY              one event: semaphore 1 up, semaphore 2 down
use strict;
use warnings;
use IPC::SysV qw(IPC_CREAT IPC_EXCL IPC_NOWAIT GETALL SETALL);

my ($command, $key, @values) = @ARGV;
die "usage: $0 create|show|bump KEY [V0 V1 V2]\n" unless defined $key;
$key = oct($key) if $key =~ /^0/;

if ($command eq 'create') {
	die "create needs three values\n" unless @values == 3;
	my $shmid = shmget($key, 4096, IPC_CREAT | IPC_EXCL | 0600);
	defined $shmid or die "shmget: $!\n";
	shmwrite($shmid, "counters 0\0", 0, 11) or die "shmwrite: $!\n";
	my $semid = semget($key, 3, IPC_CREAT | IPC_EXCL | 0600);
	defined $semid or die "semget: $!\n";
	semctl($semid, 0, SETALL, pack('s!3', @values)) or die "SETALL: $!\n";
	print "$shmid $semid\n";
} elsif ($command eq 'show') {
	my $semid = semget($key, 3, 0);
	defined $semid or die "semget: $!\n";
	my $buf = '';
	semctl($semid, 0, GETALL, $buf) or die "GETALL: $!\n";
	print join(' ', unpack('s!3', $buf)), "\n";
} elsif ($command eq 'bump') {
	my $semid = semget($key, 3, 0);
	defined $semid or die "semget: $!\n";
	semop($semid, pack('s!3s!3', 1, 1, IPC_NOWAIT, 2, -1, IPC_NOWAIT)) or die "semop: $!\n";
} else {
	die "unknown command $command\n";
}
