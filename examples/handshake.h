/* handshake.h - how the example producer and consumer take turns, and the
 * option parsing and signal handling they share.
 *
 * One segment (key K) holds one buffer.  A second semaphore set, with key
 * K + 1 and 2 semaphores, hands the buffer back and forth:
 *   HANDSHAKE_WRITTEN (0) is posted by the producer once it filled the buffer;
 *   HANDSHAKE_READ    (1) is posted by the consumer once it consumed it.
 * The buffer starts free (WRITTEN 0, READ 1), so the producer writes first:
 *   producer: wait READ,    write under the exclusive lock, post WRITTEN;
 *   consumer: wait WRITTEN, read under the shared lock,     post READ.
 * Only the producer that creates the set (IPC_EXCL) sets those initial
 * values; everyone else opens it as it is.  No SEM_UNDO here: a post must
 * outlive the process that made it.
 *
 * The handshake orders the two programs; the lock of shmlock.h is what
 * keeps third parties (shmfs, IPC::ShareLite, sysv_ipc_client.py) from
 * seeing or making a half-written buffer.  Both are needed.
 */
#ifndef SHMFS_EXAMPLES_HANDSHAKE_H
#define SHMFS_EXAMPLES_HANDSHAKE_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "shmlock.h"

#define DEFAULT_KEY  0x5348464d /* "SHFM" */
#define DEFAULT_SIZE 4096

#define HANDSHAKE_NSEMS	  2
#define HANDSHAKE_WRITTEN 0
#define HANDSHAKE_READ	  1

/* Computed in unsigned arithmetic: keys are 32-bit patterns, and
 * 0x7fffffff + 1 must not be signed overflow. */
static inline key_t handshake_key(key_t key)
{
	return (key_t)((uint32_t)key + 1);
}

/* Wait for one token of sem (WRITTEN or READ) and take it. */
static inline int handshake_wait(int semid, unsigned short sem, const volatile sig_atomic_t *stop)
{
	struct sembuf op = { .sem_num = sem, .sem_op = -1, .sem_flg = 0 };

	return shmlock_semop(semid, &op, 1, stop);
}

/* Wait until sem has a token, but leave it there. */
static inline int handshake_wait_idle(int semid, unsigned short sem,
				      const volatile sig_atomic_t *stop)
{
	struct sembuf ops[] = {
		{ .sem_num = sem, .sem_op = -1, .sem_flg = 0 },
		{ .sem_num = sem, .sem_op = 1, .sem_flg = 0 },
	};

	return shmlock_semop(semid, ops, 2, stop);
}

static inline int handshake_post(int semid, unsigned short sem)
{
	struct sembuf op = { .sem_num = sem, .sem_op = 1, .sem_flg = 0 };

	return semop(semid, &op, 1) == 0 ? 0 : -errno;
}

/* A key as strtol(3) base 0 reads it (decimal, 0octal, 0xhex), taken as a
 * 32-bit pattern.  IPC_PRIVATE (0) names nothing another process can find,
 * and 0xffffffff would give the handshake set key 0, so both are refused. */
static inline int parse_key(const char *s, key_t *key)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end || v < INT32_MIN || v > (long long)UINT32_MAX)
		return -EINVAL;
	*key = (key_t)(uint32_t)v;
	if (*key == IPC_PRIVATE || handshake_key(*key) == IPC_PRIVATE)
		return -EINVAL;
	return 0;
}

/* A non-negative count, size or duration; strtoull(3) alone would take
 * "-1" for a huge number. */
static inline int parse_count(const char *s, unsigned long long *out)
{
	char *end;

	if (strchr(s, '-'))
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return -EINVAL;
	return 0;
}

/* Route the polite termination signals to handler, without SA_RESTART:
 * blocking calls return EINTR and the program unwinds normally. */
static inline int catch_stop_signals(void (*handler)(int))
{
	static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		if (sigaction(signals[i], &sa, NULL) < 0)
			return -errno;
	}
	return 0;
}

/* Sleep ms milliseconds, or less if *stop becomes non-zero. */
static inline void sleep_ms(unsigned long long ms, const volatile sig_atomic_t *stop)
{
	struct timespec left = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (!*stop && nanosleep(&left, &left) < 0 && errno == EINTR)
		;
}

#endif
