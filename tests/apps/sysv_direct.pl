#!/usr/bin/perl
# sysv_direct.pl KEY - a Perl program on IPC::SysV directly: a segment and
# a 3-semaphore set under one key, used as a mutex (semaphore 0, free: 1),
# a count of queued jobs (1, none: 0) and a flag (2, down: 0).  A worker
# child waits for a job (semop {1, -1}).  Prints "ready" once it waits in
# the kernel and "woke" if its wait ever ends; runs until killed.  Knows
# nothing of shmfs.
use strict;
use warnings;
use IPC::SysV qw(IPC_CREAT IPC_EXCL SETALL GETNCNT);

my $key = oct($ARGV[0]);
$| = 1;
my $shm = shmget($key, 4096, IPC_CREAT | IPC_EXCL | 0600);
defined $shm or die "shmget: $!\n";
shmwrite($shm, "jobs: none\n", 0, 11) or die "shmwrite: $!\n";
my $sem = semget($key, 3, IPC_CREAT | IPC_EXCL | 0600);
defined $sem or die "semget: $!\n";
semctl($sem, 0, SETALL, pack('s!3', 1, 0, 0)) or die "SETALL: $!\n";
my $pid = fork() // die "fork: $!\n";
if ($pid == 0) {
	print "woke\n" if semop($sem, pack('s!3', 1, -1, 0));
	exit 0;
}
select(undef, undef, undef, 0.001) until semctl($sem, 1, GETNCNT, 0) == 1;
print "ready\n";
$SIG{TERM} = sub { kill 'KILL', $pid; exit 0 };
sleep 600 while 1;
