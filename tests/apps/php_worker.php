<?php
// php_worker.php MODE ANCHOR - a PHP worker as PHP programs commonly are:
// one ftok key for its segment and its semaphore (sysvsem's sem_get,
// max_acquire 1), the segment through sysvshm (MODE "sysvshm":
// shm_attach, shm_put_var) or shmop (MODE "shmop": shmop_open,
// shmop_write).  While idle it keeps the semaphore resource, so its
// sysvsem set reads 1 1 0 (semaphore, usage count, init lock).  Prints
// "ready KEY" (hex), then waits to be killed.  Knows nothing of shmfs.
[, $mode, $anchor] = $argv;
$key = ftok($anchor, 'p');
$sem = sem_get($key, 1, 0600, true);
sem_acquire($sem);
if ($mode === 'sysvshm') {
	$shm = shm_attach($key, 4096, 0600);
	shm_put_var($shm, 1, "hello from php");
} else {
	$shm = shmop_open($key, "c", 0600, 4096);
	shmop_write($shm, "hello from php\n", 0);
}
sem_release($sem);
printf("ready 0x%08x\n", $key);
fflush(STDOUT);
sleep(600);
