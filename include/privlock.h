/* privlock.h - the private lock: the shared/exclusive lock that guards a
 * segment with no ShareLite set, kept inside the daemon.
 *
 * No kernel object stands for it: no other program can take it (it never
 * could: shmfs's private set was the daemon's), opening and closing cost
 * no syscall, and a killed daemon leaves nothing behind.  Only the
 * daemon's own copies hold it, each for one copy.
 *
 * Waiters queue first come first served: a request that finds others
 * waiting waits behind them even if the lock would let it in, so a
 * stream of readers cannot starve a writer.  A release hands the lock to
 * the waiters at the head that it now admits (one writer, or every
 * reader up to the next writer) and returns them: the caller calls them
 * back.  Pure data: the caller holds the mutex that guards it.
 *
 * Knows nothing of FUSE, semaphores or threads.
 */
#ifndef SHMFS_PRIVLOCK_H
#define SHMFS_PRIVLOCK_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "lockstate.h"

struct privlock_waiter {
	struct privlock_waiter *next;
	bool exclusive;
	pid_t pid; /* for the sidecar's lock_writer and lock_last_pid */
};

struct privlock {
	unsigned int readers;
	bool writer;
	pid_t writer_pid;
	pid_t last_pid; /* the last operation, as a set's sempid */
	time_t last_op;
	struct privlock_waiter *head, **tail;
};

void privlock_init(struct privlock *l);

/* Take it now if it is free for mode and nobody waits: true.  Else, with
 * w, queue w (false: w is granted later by a release); without, false. */
bool privlock_take(struct privlock *l, bool exclusive, pid_t pid, struct privlock_waiter *w);

/* Let go of a hold in mode.  Returns the waiters now holding the lock
 * (a list through next, in queue order), NULL if none. */
struct privlock_waiter *privlock_release(struct privlock *l, bool exclusive);

/* Take w out of the queue (its request gave up): true if it was queued.
 * The waiters it held back that may go now are returned in *granted. */
bool privlock_cancel(struct privlock *l, struct privlock_waiter *w,
		     struct privlock_waiter **granted);

/* Nobody holds it and nobody waits. */
bool privlock_idle(const struct privlock *l);

/* Its state in the words of a lock set (lockstate.h): readers, writer,
 * the waiting split as the kernel would count them. */
void privlock_state(const struct privlock *l, struct lock_state *out);

/* How many wait. */
unsigned int privlock_waiting(const struct privlock *l);

#endif
