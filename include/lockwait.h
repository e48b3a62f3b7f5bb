/* lockwait.h - waits for a segment's lock that hold no worker thread.
 *
 * A request whose lock is busy is parked here and its FUSE worker goes
 * back to reading requests.  For each set being waited on, one thread of
 * ours waits in the kernel (semtimedop: it wakes the moment the lock
 * frees) on behalf of the set's waiters, first come first served, and
 * calls each back with the lock taken, or with why not: the wait timed
 * out, was abandoned (an interrupt), the set went, or the daemon stops.
 * No mutex is held across a wait.  Each user may park at most a budget
 * of requests at once.
 *
 * Knows nothing of FUSE: a waiter is a callback.
 */
#ifndef SHMFS_LOCKWAIT_H
#define SHMFS_LOCKWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lock.h"

struct lockwait;

struct lockwait_req {
	int semid;
	enum lock_mode mode;
	uid_t uid;	      /* whose budget it counts against */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: then -ETIMEDOUT */
	/* Asked every few milliseconds: true to give up (-EINTR). */
	bool (*abandoned)(struct lockwait_req *r);
	/* Called once, from one of our threads, err 0 with the lock held
	 * in mode (the callee releases it), or -ETIMEDOUT, -EINTR, -EIDRM,
	 * -EINVAL, -EACCES, -ESHUTDOWN.  The req is ours no more. */
	void (*granted)(struct lockwait_req *r, int err);
	struct lockwait_req *next;
};

/* per_user: how many requests one user may have parked at once. */
struct lockwait *lockwait_new(unsigned int per_user);
/* Stop: every waiter is called back with -ESHUTDOWN, our threads end. */
void lockwait_free(struct lockwait *lw);

/* Park r.  0, or -ENOLCK when r->uid's budget is spent (r is not
 * parked), -ESHUTDOWN when stopping, -ENOMEM/-EAGAIN without a thread. */
int lockwait_park(struct lockwait *lw, struct lockwait_req *r);

/* The deadline timeout_ms from now, for r->deadline_ns. */
uint64_t lockwait_deadline(unsigned int timeout_ms);

/* How many requests are parked on semid (the first of them is the one
 * our thread waits for in the kernel, so the kernel counts it too). */
size_t lockwait_count_set(struct lockwait *lw, int semid);

#endif
