/* trio.c - a C program with its own 3-semaphore set under its segment's
 * key: a mutex (semaphore 0), an item count (1) and a slot flag (2), the
 * shape of many producer/consumer programs, which shmfs must leave alone.
 *
 *   trio KEY V0 V1 V2
 *
 * Makes the segment KEY (4096 bytes, 0600, a line of text) and the set
 * KEY (3 semaphores, set to V0 V1 V2), then one waiter per semaphore: on
 * a semaphore at 0, a consumer waiting to take one ({n, -1}); on one
 * above 0, a waiter for it to reach zero ({n, 0}).  Prints "ready" once
 * all three wait in the kernel, and "woke N" if waiter N's semop ever
 * returns: nothing but the program itself should end their wait.  Runs
 * until killed; its children die with it.  Knows nothing of shmfs.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char *argv[])
{
	unsigned short values[3];
	key_t key;
	int shmid, semid;
	char *addr;

	if (argc != 5) {
		fprintf(stderr, "usage: %s KEY V0 V1 V2\n", argv[0]);
		return 2;
	}
	key = (key_t)strtol(argv[1], NULL, 0);
	for (int i = 0; i < 3; i++)
		values[i] = (unsigned short)atoi(argv[2 + i]);
	setvbuf(stdout, NULL, _IONBF, 0);

	shmid = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
	if (shmid < 0)
		die("shmget");
	addr = shmat(shmid, NULL, 0);
	if (addr == (void *)-1)
		die("shmat");
	snprintf(addr, 4096, "trio %s: %s %s %s\n", argv[1], argv[2], argv[3], argv[4]);
	shmdt(addr);
	semid = semget(key, 3, IPC_CREAT | IPC_EXCL | 0600);
	if (semid < 0 || semctl(semid, 0, SETALL, values) != 0)
		die("semget");

	for (int n = 0; n < 3; n++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			struct sembuf op = { .sem_num = (unsigned short)n,
					     .sem_op = values[n] ? 0 : -1 };

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (semop(semid, &op, 1) == 0)
				printf("woke %d\n", n);
			_exit(0);
		}
	}
	for (;;) {
		int waiting = 0;

		for (int n = 0; n < 3; n++)
			waiting += semctl(semid, n, values[n] ? GETZCNT : GETNCNT);
		if (waiting == 3)
			break;
		usleep(1000);
	}
	printf("ready\n");
	for (;;)
		pause();
}
