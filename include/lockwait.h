/* lockwait.h - waits for a segment's lock that hold no worker thread.
 *
 * A request whose lock is busy is parked here and its FUSE worker goes
 * back to reading requests.  On the private lock (privlock.h) it waits
 * in the lock's queue and the release that lets it in calls it back: no
 * thread.  For each set being waited on, one thread of ours waits in the
 * kernel (semtimedop with the first waiter's deadline: it wakes the
 * moment the lock frees) on behalf of the set's waiters, first come first
 * served, and calls each back with the lock taken, or with why not: the
 * wait timed out, was abandoned (an interrupt: the thread is signalled),
 * the set went, the daemon stops, or the thread went to another user.
 * A shared lock granted lets in with it the shared waits of the same
 * segment queued right behind (each its own unit of the set's readers,
 * as the kernel lets all readers in at once), up to the first of another
 * kind, which keeps its turn.  Nothing polls.  No mutex is held across a wait.  Each user may park
 * at most a budget of requests at once, and hold a fair share of the threads.
 *
 * A set's thread may also wait for something else than its lock: a
 * request with a wait function (watch.c's wait for a post on a
 * notification set) is parked with lockwait_park() and served by the
 * same threads, under the same shares, kicks and linger.
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
struct set_queue;

struct lockwait_req {
	struct lock_hold *hold; /* whose lock */
	enum lock_mode mode;
	uid_t uid;	      /* whose budget it counts against */
	pid_t pid;	      /* who asks: the private lock's holder and last pid */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: then -ETIMEDOUT */
	/* Called once, from one of our threads or from the release that
	 * lets it in, err 0 with the lock held as grant says (the callee
	 * lets go of it with lockwait_give()), or -ETIMEDOUT, -EINTR, -EIDRM,
	 * -EINVAL, -EACCES, -ESHUTDOWN.  The req is ours no more. */
	void (*granted)(struct lockwait_req *r, int err);
	struct lock_grant grant;
	/* NULL: the set's thread takes the lock in mode for this request.
	 * Else what it does in the kernel instead, without our mutex, on
	 * semid (the set r was parked on), with timeout passed to the kernel
	 * as it is (a kick zeroes it): 0 to call r back with 0, -EAGAIN (the
	 * timeout) or -EINTR (a kick) to look again, else the -errno to call
	 * r back with.  Such a request is not counted in the per-user budget
	 * of requests (its owner has budgets of its own). */
	int (*wait)(struct lockwait_req *r, int semid, const struct timespec *timeout);
	/* With wait: which of the set's queues r waits in, each with a thread
	 * of its own, first come first served within it (the sem/ view's
	 * waits for one semaphore: 1 + its number).  0 is the set's own
	 * queue, its lock's waiters' (lockwait_take() sets 0). */
	int tag;
	/* The caller tried the lock (lockwait_take() without park) a moment
	 * ago and found it busy: a set's is not tried again when parked, the
	 * wait goes to the set's thread at once.  The private lock's queue is
	 * joined under its mutex either way. */
	bool found_busy;

	/* the parking module's */
	int semid; /* the set waited on */
	struct privlock_waiter pw;
	struct set_queue *queue; /* the set's queue it waits in, or NULL */
	bool abandoned_flag;	 /* lockwait_abandon() */
	/* In a tagged queue: the set was removed while r waited behind the
	 * queue's first (whose wait said -EIDRM): r is answered -EIDRM,
	 * never proven again (a look-alike may have its semid by then). */
	bool set_removed;
	struct lockwait_req *next;
};

/* per_user: how many requests one user may have parked at once.
 * max_threads: how many threads may wait on sets at once, all users
 * together; each user's fair share is an equal part of them among the
 * users that have some.  A user past their share gets ENOLCK for a wait
 * on one more set; when all are in use, a user under their share takes
 * one from the user with the most (an idle one first; else that user's
 * waits on one set end with ENOLCK): never the other way round. */
struct lockwait *lockwait_new(unsigned int per_user, unsigned int max_threads);
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

/* No deadline: for a request with a wait function. */
#define LOCKWAIT_NO_DEADLINE UINT64_MAX

/* Park r (with its wait function) on the set r->semid, for r->uid's
 * share of the threads: LOCKWAIT_PARKED (granted() will be called
 * exactly once), or -ENOLCK past r->uid's share, -ESHUTDOWN, -ENOMEM,
 * -EAGAIN.  A request called back may be parked again, from its
 * callback too (it then keeps the same thread). */
int lockwait_park(struct lockwait *lw, struct lockwait_req *r);

/* Let go of a lock taken through lockwait_take() (at once or granted).
 * The private lock's waiters it lets in are called back on this thread,
 * after the caller's own callback returns if it is one (never nested). */
void lockwait_give(struct lockwait *lw, const struct lock_grant *g);

/* r's request was interrupted: r ends with -EINTR at once if it waits on
 * a set (its thread is woken), or never starts waiting if not parked
 * yet (lockwait_park() forgets an earlier abandon: its caller has its
 * own record of what was interrupted).  A wait for the private lock ends as the copies ahead of it
 * do. Never calls r back itself: callable from libfuse's interrupt callback. */
void lockwait_abandon(struct lockwait *lw, struct lockwait_req *r);

/* The signal that interrupts a set's waiting thread (a real-time signal,
 * sent to that thread alone). */
int lockwait_kick_signal(void);

/* How many threads wait on sets now (with those lingering). */
unsigned int lockwait_threads(struct lockwait *lw);

/* The deadline timeout_ms from now, for r->deadline_ns. */
uint64_t lockwait_deadline(unsigned int timeout_ms);

/* How many requests are parked on semid (the first of them is the one
 * our thread waits for in the kernel, so the kernel counts it too). */
size_t lockwait_count_set(struct lockwait *lw, int semid);
/* The same for the queue tag of semid (lockwait_req.tag). */
size_t lockwait_count_queue(struct lockwait *lw, int semid, int tag);
/* fn on each request parked in the queue tag of semid, in order, with
 * the module's mutex held: fn only looks (no lock, no call into here). */
void lockwait_each_queued(struct lockwait *lw, int semid, int tag,
			  void (*fn)(const struct lockwait_req *r, void *arg), void *arg);

#endif
