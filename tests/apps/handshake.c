/* handshake.c - a producer/consumer pair with the habits of many programs
 * that were written without shmfs in mind: one ftok() key names both its
 * segment and its own 2-semaphore set, created with plain IPC_CREAT and
 * initialised by whoever calls "sems".
 *
 *   handshake create PATH       the segment (4096 bytes), "item 0" in it
 *   handshake sems PATH         semget(K, 2, IPC_CREAT), empty=1, full=0
 *   handshake produce PATH TEXT wait for empty, write TEXT, post full
 *   handshake consume PATH      wait for full, print the segment, post empty
 *
 * Semaphore 0 is "empty" (the producer may write), semaphore 1 is "full"
 * (the consumer may read).  Waits are bounded (60 s), so a broken run
 * ends instead of hanging.  This program knows nothing of shmfs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>

#define SEG_SIZE 4096
#define EMPTY	 0
#define FULL	 1

static void die(const char *what)
{
	fprintf(stderr, "handshake: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int set_of(key_t key)
{
	int id = semget(key, 2, 0);

	if (id < 0)
		die("semget");
	return id;
}

static void op(int semid, unsigned short num, short delta)
{
	struct sembuf sb = { .sem_num = num, .sem_op = delta, .sem_flg = 0 };
	struct timespec limit = { .tv_sec = 60 };

	if (semtimedop(semid, &sb, 1, &limit) != 0)
		die(delta < 0 ? "wait" : "post");
}

static char *attach(key_t key)
{
	int id = shmget(key, 0, 0);
	char *p;

	if (id < 0)
		die("shmget");
	p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		die("shmat");
	return p;
}

int main(int argc, char *argv[])
{
	key_t key;

	if (argc < 3) {
		fprintf(stderr, "usage: %s create|sems|produce|consume PATH [TEXT]\n", argv[0]);
		return 2;
	}
	key = ftok(argv[2], 'H');
	if (key == -1)
		die("ftok");

	if (strcmp(argv[1], "create") == 0) {
		int id = shmget(key, SEG_SIZE, IPC_CREAT | IPC_EXCL | 0600);
		char *p;

		if (id < 0)
			die("shmget");
		p = attach(key);
		strcpy(p, "item 0");
		shmdt(p);
		printf("%d\n", id);
	} else if (strcmp(argv[1], "sems") == 0) {
		int id = semget(key, 2, IPC_CREAT | 0600);
		struct semid_ds ds;

		if (id < 0)
			die("semget");
		if (semctl(id, EMPTY, SETVAL, 1) != 0 || semctl(id, FULL, SETVAL, 0) != 0)
			die("semctl SETVAL");
		if (semctl(id, 0, IPC_STAT, &ds) != 0)
			die("semctl IPC_STAT");
		printf("%d %lu\n", id, (unsigned long)ds.sem_nsems);
	} else if (strcmp(argv[1], "produce") == 0 && argc == 4) {
		int semid = set_of(key);
		char *p;

		op(semid, EMPTY, -1);
		p = attach(key);
		snprintf(p, SEG_SIZE, "%s", argv[3]);
		shmdt(p);
		op(semid, FULL, +1);
	} else if (strcmp(argv[1], "consume") == 0) {
		int semid = set_of(key);
		char *p, item[SEG_SIZE];

		op(semid, FULL, -1);
		p = attach(key);
		snprintf(item, sizeof(item), "%s", p);
		shmdt(p);
		printf("got %s\n", item);
		fflush(stdout);
		op(semid, EMPTY, +1);
	} else {
		fprintf(stderr, "handshake: unknown command %s\n", argv[1]);
		return 2;
	}
	return 0;
}
