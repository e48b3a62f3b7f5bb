/* shmlock.h - the lock protocol of shmfs and IPC::ShareLite, for the examples.
 *
 * A segment with key K is guarded by the lock set of K: the System V
 * semaphore set that has the same key K (segment keys and semaphore keys
 * are separate name spaces, so one number names both), 5 semaphores:
 *   semaphore 0 is 1 once the set is in use (IPC::ShareLite's "share
 *               initialised" flag);
 *   semaphore 1 counts the holders of the shared (read) lock;
 *   semaphore 2 is 1 while a writer holds the exclusive lock;
 *   semaphores 3 and 4 are the shmfs mark, 0x5348 and 0x464d ("SHFM"): they
 *               say "this set is a lock in the shmfs protocol".
 * shmfs locks a segment with the set of its key only with a proof that
 * the set is such a lock, and never wakes or counts on any other set:
 * the shmfs mark (made by root or the segment's owner or creator, in a state
 * the lock reaches), or the segment being an IPC::ShareLite or
 * IPC::Shareable share (their own header in its first bytes; they make
 * 3-semaphore sets).  Semaphores 0..2 alone prove nothing: a PHP worker's
 * sysvsem set, or a program's mutex, count and flag, can read 1 0 0 or
 * 1 1 0 as well.  The mark is two values no count or flag reaches by
 * accident, in semaphores the lock's semops never touch; it is in the set
 * and not in the segment so that the segment's bytes stay the program's.
 *
 * Opening: semget(K, 5, IPC_CREAT | mode), take the exclusive lock; if
 * semaphore 0 is 0, set semaphores 3 and 4 to the shmfs mark, then semaphore 0
 * to 1; release.  Marking under the lock makes it race-free: of two
 * programs that start at once, one creates the set, the other finds it,
 * and both mark it (or see it marked) while no one else holds it.  A set
 * of K with fewer than 5 semaphores (semget fails with EINVAL), or marked
 * initialised without the shmfs mark, is someone else's: shmlock_open() refuses
 * it.  IPC::ShareLite programs can share a set made so (they use
 * semaphores 0..2 of whatever set K has), but store a header of their own
 * in the segment: do not mix them with raw writers on one segment.
 *
 * Shared lock:    {2, 0, 0}, {1, +1, SEM_UNDO}                release {1, -1, SEM_UNDO}
 * Exclusive lock: {1, 0, 0}, {2, 0, 0}, {2, +1, SEM_UNDO}     release {2, -1, SEM_UNDO}
 *
 * Each acquisition is one semop() call, so the "wait for zero" and the
 * increment happen atomically; that is why it cannot be built from
 * single-semaphore wait/post primitives.  SEM_UNDO makes the kernel drop
 * the locks of a process that dies holding them.
 *
 * shmfs takes the shared lock around a read through the mount and the
 * exclusive lock around a write, so a program that does the same with the
 * same set never shows `cat` a half-written buffer, and `echo ... >` never
 * lands in the middle of its own write.  The sidecar's lock_semid names
 * the set shmfs locks with.
 *
 * All functions return 0 (or a semid) on success and a negative errno on
 * failure.  Static inline: the examples are single-file programs.
 */
#ifndef SHMFS_EXAMPLES_SHMLOCK_H
#define SHMFS_EXAMPLES_SHMLOCK_H

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <time.h>
#include <sys/ipc.h>
#include <sys/sem.h>

/* The caller defines it, says semctl(2). */
union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

#define SHMLOCK_NSEMS		 5
#define SHMLOCK_SEM_MARK	 0 /* the "initialised" flag */
#define SHMLOCK_SEM_READERS	 1
#define SHMLOCK_SEM_WRITER	 2
#define SHMLOCK_SEM_SHMFS_MARK_3 3
#define SHMLOCK_SEM_SHMFS_MARK_4 4
#define SHMLOCK_SHMFS_MARK_3	 0x5348 /* "SH" */
#define SHMLOCK_SHMFS_MARK_4	 0x464d /* "FM" */

/* A blocking wait is cut into slices this long, so that a stop request
 * from a signal handler that arrives just before the wait starts is seen
 * within one slice instead of whenever the semaphore next moves. */
#define SHMLOCK_WAIT_SLICE_MS 200

/* Perform ops atomically, waiting as long as it takes unless *stop
 * becomes non-zero (then -EINTR).  stop may be NULL.  For blocking
 * operations only: an IPC_NOWAIT op that would block is retried forever. */
static inline int shmlock_semop(int semid, struct sembuf *ops, size_t nops,
				const volatile sig_atomic_t *stop)
{
	const struct timespec slice = {
		.tv_sec = SHMLOCK_WAIT_SLICE_MS / 1000,
		.tv_nsec = (SHMLOCK_WAIT_SLICE_MS % 1000) * 1000000L,
	};

	for (;;) {
		if (stop && *stop)
			return -EINTR;
		if (semtimedop(semid, ops, nops, &slice) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

static inline int shmlock_shared(int semid, const volatile sig_atomic_t *stop)
{
	struct sembuf ops[] = {
		{ .sem_num = SHMLOCK_SEM_WRITER, .sem_op = 0, .sem_flg = 0 },
		{ .sem_num = SHMLOCK_SEM_READERS, .sem_op = 1, .sem_flg = SEM_UNDO },
	};

	return shmlock_semop(semid, ops, 2, stop);
}

static inline int shmlock_exclusive(int semid, const volatile sig_atomic_t *stop)
{
	struct sembuf ops[] = {
		{ .sem_num = SHMLOCK_SEM_READERS, .sem_op = 0, .sem_flg = 0 },
		{ .sem_num = SHMLOCK_SEM_WRITER, .sem_op = 0, .sem_flg = 0 },
		{ .sem_num = SHMLOCK_SEM_WRITER, .sem_op = 1, .sem_flg = SEM_UNDO },
	};

	return shmlock_semop(semid, ops, 3, stop);
}

/* Releases never wait: IPC_NOWAIT turns "we did not hold it" into
 * -EAGAIN instead of a hang, as IPC::ShareLite does. */
static inline int shmlock_release(int semid, unsigned short sem)
{
	struct sembuf op = { .sem_num = sem, .sem_op = -1, .sem_flg = SEM_UNDO | IPC_NOWAIT };

	return semop(semid, &op, 1) == 0 ? 0 : -errno;
}

static inline int shmlock_shared_release(int semid)
{
	return shmlock_release(semid, SHMLOCK_SEM_READERS);
}

static inline int shmlock_exclusive_release(int semid)
{
	return shmlock_release(semid, SHMLOCK_SEM_WRITER);
}

/* The lock set of key, found or created with mode, and marked (see the
 * top).  Waits for the exclusive lock like any writer, unless *stop.
 * Fails with -EINVAL if a set with that key exists but has fewer than 5
 * semaphores, or is marked initialised without the shmfs mark: then the key is
 * used for something else. */
static inline int shmlock_open(key_t key, int mode, const volatile sig_atomic_t *stop)
{
	union semun one = { .val = 1 }, mark3 = { .val = SHMLOCK_SHMFS_MARK_3 },
		    mark4 = { .val = SHMLOCK_SHMFS_MARK_4 };
	int semid, err, marked;

	for (;;) {
		semid = semget(key, SHMLOCK_NSEMS, IPC_CREAT | mode);
		if (semid < 0)
			return -errno;
		err = shmlock_exclusive(semid, stop);
		/* removed between semget and semop: make it again */
		if (err == -EINVAL || err == -EIDRM)
			continue;
		if (err < 0)
			return err;
		break;
	}
	marked = semctl(semid, SHMLOCK_SEM_MARK, GETVAL);
	err = marked < 0 ? -errno : 0;
	if (marked == 0) {
		/* the shmfs mark first: the set never looks initialised without it */
		if (semctl(semid, SHMLOCK_SEM_SHMFS_MARK_3, SETVAL, mark3) < 0 ||
		    semctl(semid, SHMLOCK_SEM_SHMFS_MARK_4, SETVAL, mark4) < 0 ||
		    semctl(semid, SHMLOCK_SEM_MARK, SETVAL, one) < 0)
			err = -errno;
	} else if (marked > 0 &&
		   (semctl(semid, SHMLOCK_SEM_SHMFS_MARK_3, GETVAL) != SHMLOCK_SHMFS_MARK_3 ||
		    semctl(semid, SHMLOCK_SEM_SHMFS_MARK_4, GETVAL) != SHMLOCK_SHMFS_MARK_4)) {
		err = -EINVAL; /* initialised by something else */
	}
	shmlock_exclusive_release(semid);
	return err < 0 ? err : semid;
}

#endif
