/* double-buffer - the consumer of the classic double-buffer handshake,
 * whose producer is a shell script writing through a shmfs mount
 * (double-buffer.sh).
 *
 * Two buffers of SLOT bytes in one segment of key KEY, and a set of two
 * semaphores with the same key: semaphore 0 counts the empty buffers
 * (starts at 2), semaphore 1 the full ones (starts at 0).  The producer
 * fills buffer 0, 1, 0, 1, ...: P(empty), write, V(full).  This program
 * takes them in the same order: P(full), copy out, V(empty), print.  So
 * the producer can fill one buffer while the other is read, and never
 * one that has not been read.
 *
 *   double-buffer [-w] KEY COUNT [MOUNT]
 *                              make both, print "semid shmid", then
 *                              print COUNT buffers; remove both at the end
 *
 * With -w, each empty buffer is given back only once the producer waits
 * for one (the kernel's semncnt of semaphore 0; a -1 waiting in shmfs
 * counts there too): the producer's P then always waits, whatever the
 * speed of either side.
 *
 * P and V are semop(2) calls; with MOUNT, writes of "-1" and "+1" to the
 * semaphores' files in MOUNT/sem/ instead, as the script's are: a -1 that
 * cannot go through waits in shmfs (each written at offset 0 with
 * pwrite(2), so that it may: see shmfs(1)), while the script's +1 to the
 * same file goes through.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#define SLOT  64
#define EMPTY 0
#define FULL  1

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

/* The semaphores' files in the mount, or -1 (semop). */
static int files[2] = { -1, -1 };

static int op(int semid, unsigned short num, short delta)
{
	struct sembuf sb = { .sem_num = num, .sem_op = delta, .sem_flg = 0 };
	const char *text = delta < 0 ? "-1" : "+1";

	if (files[num] >= 0) {
		/* A wait that timed out (ETIMEDOUT, shmfs's lock_timeout) is
		 * an error; an interrupted one is tried again. */
		while (pwrite(files[num], text, 2, 0) != 2)
			if (errno != EINTR)
				return -1;
		return 0;
	}
	while (semop(semid, &sb, 1) != 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* -w: wait until the producer waits in its P(empty), so that every P of
 * the script is one that waits.  Bounded (10 s): a producer that ended
 * never waits, and the set may be gone (semctl fails): neither may keep
 * this program looping. */
static int await_waiter(int semid)
{
	for (int tries = 0; tries < 10000; tries++) {
		int n = semctl(semid, EMPTY, GETNCNT);

		if (n < 0)
			return -1;
		if (n > 0)
			return 0;
		usleep(1000);
	}
	errno = ETIMEDOUT;
	return -1;
}

int main(int argc, char *argv[])
{
	unsigned short start[2] = { 2, 0 };
	union semun arg = { .array = start };
	key_t key;
	long count;
	int semid, shmid, ret = 0;
	char *buf;

	bool slow = argc > 1 && strcmp(argv[1], "-w") == 0;

	argc -= slow;
	argv += slow;
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: double-buffer [-w] KEY COUNT [MOUNT]\n");
		return 2;
	}
	key = (key_t)strtoul(argv[1], NULL, 0);
	count = strtol(argv[2], NULL, 10);
	semid = semget(key, 2, IPC_CREAT | IPC_EXCL | 0600);
	shmid = shmget(key, 2 * SLOT, IPC_CREAT | IPC_EXCL | 0600);
	if (semid < 0 || shmid < 0 || semctl(semid, 0, SETALL, arg) != 0) {
		perror("double-buffer: semget/shmget/SETALL");
		return 1;
	}
	buf = shmat(shmid, NULL, SHM_RDONLY);
	if (buf == (void *)-1) {
		perror("double-buffer: shmat");
		return 1;
	}
	for (int num = 0; argc == 4 && num < 2; num++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/sem/%d/%d", argv[3], semid, num);
		files[num] = open(path, O_WRONLY);
		if (files[num] < 0) {
			perror(path);
			return 1;
		}
	}
	printf("%d %d\n", semid, shmid);
	fflush(stdout);
	for (long i = 0; i < count; i++) {
		char copy[SLOT + 1];

		if (op(semid, FULL, -1) != 0) {
			perror("double-buffer: P(full)");
			ret = 1;
			break;
		}
		memcpy(copy, buf + (i % 2) * SLOT, SLOT);
		copy[SLOT] = '\0';
		/* the producer's P for buffer i + 2 (if it fills one) waits */
		if (slow && i + 2 < count && await_waiter(semid) != 0) {
			perror("double-buffer: GETNCNT");
			ret = 1;
			break;
		}
		if (op(semid, EMPTY, 1) != 0) {
			perror("double-buffer: V(empty)");
			ret = 1;
			break;
		}
		/* a line, padded with blanks to the buffer's size */
		size_t len = strcspn(copy, "\n");

		while (len > 0 && copy[len - 1] == ' ')
			len--;
		printf("%.*s\n", (int)len, copy);
		fflush(stdout);
	}
	shmdt(buf);
	semctl(semid, 0, IPC_RMID);
	shmctl(shmid, IPC_RMID, NULL);
	return ret;
}
