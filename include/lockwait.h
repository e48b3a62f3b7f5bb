/* lockwait.h - waits for a segment's lock that hold no worker thread.
 *
 * A request whose lock is busy is parked here and its FUSE worker goes
 * back to reading requests.  On the private lock (privlock.h) it waits
 * in the lock's queue and the release that lets it in calls it back: no
 * thread.  For each set being waited on, one thread of
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
	struct lock_hold *hold; /* whose lock */
	enum lock_mode mode;
	uid_t uid;	      /* whose budget it counts against */
	pid_t pid;	      /* who asks: the private lock's holder and last pid */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: then -ETIMEDOUT */
	/* Asked every few milliseconds while waiting on a set: true to give
	 * up (-EINTR). */
	bool (*abandoned)(struct lockwait_req *r);
	/* Called once, from one of our threads or from the release that
	 * lets it in, err 0 with the lock held as grant says (the callee
	 * lets go of it with lockwait_give()), or -ETIMEDOUT, -EINTR, -EIDRM,
	 * -EINVAL, -EACCES, -ESHUTDOWN.  The req is ours no more. */
	void (*granted)(struct lockwait_req *r, int err);
	struct lock_grant grant;

	/* the parking module's */
	int semid; /* the set waited on */
	struct privlock_waiter pw;
	struct lockwait_req *next;
};

/* per_user: how many requests one user may have parked at once. */
struct lockwait *lockwait_new(unsigned int per_user);
/* Stop: every waiter on a set is called back with -ESHUTDOWN, our
 * threads end. */
void lockwait_free(struct lockwait *lw);

#define LOCKWAIT_PARKED 1

/* Take r->hold's lock in r->mode, now or later.  Without park: 0 (taken:
 * r->grant) or -EAGAIN (busy), never waiting.  With park, r must live
 * until granted() is called: 0 (taken now), LOCKWAIT_PARKED (granted()
 * will be called exactly once), or -ENOLCK when r->uid's budget is spent,
 * -ESHUTDOWN when stopping, -ENOMEM/-EAGAIN without a thread.  Either
 * way -EIDRM or -EINVAL if the set is gone (lock_hold_renew()), -EACCES.
 * Never waits: every path that takes a segment's lock goes through here. */
int lockwait_take(struct lockwait *lw, struct lockwait_req *r, bool park);

/* Let go of a lock taken through lockwait_take() (at once or granted).
 * The private lock's waiters it lets in are called back on this thread,
 * after the caller's own callback returns if it is one (never nested). */
void lockwait_give(struct lockwait *lw, const struct lock_grant *g);

/* The deadline timeout_ms from now, for r->deadline_ns. */
uint64_t lockwait_deadline(unsigned int timeout_ms);

/* How many requests are parked on semid (the first of them is the one
 * our thread waits for in the kernel, so the kernel counts it too). */
size_t lockwait_count_set(struct lockwait *lw, int semid);

#endif
