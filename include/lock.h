/* lock.h - the semaphore lock protocol shared with IPC::ShareLite, and
 * which set guards a segment.
 *
 * The protocol: a set of 3 semaphores.
 *   shared lock:     semop {2,0,0},{1,+1,SEM_UNDO}       release {1,-1,SEM_UNDO}
 *   exclusive lock:  semop {1,0,0},{2,0,0},{2,+1,SEM_UNDO} release {2,-1,SEM_UNDO}
 * Semaphore 0 is the mark IPC::ShareLite and IPC::Shareable set to 1 once
 * their share is initialised; the lock never touches it.
 *
 * Which lock guards a segment (shmfs only looks, so it never takes a key
 * that is not its own):
 *   - the set of the segment's key, if the segment is a share that lends
 *     it (share.h, lock_sharelite_set()): a ShareLite or Shareable share,
 *     or one whose set carries the shmfs protocol's mark; for a ShareLite
 *     continuation, the set of the share's first segment;
 *   - otherwise the private lock, inside the daemon (privlock.h): no
 *     kernel object, nobody else can take it.
 * The choice made at the first open holds while any file of the segment
 * is open: the lock never moves under someone who may hold it.  Two
 * refinements keep shmfs on the set the segment's programs use:
 *   - a ShareLite set is remembered after the last close, so that after
 *     ipcrm (which clears the key) files opened anew still use it;
 *   - the private lock gives way to a ShareLite set made for the key
 *     later, at an open that finds the private lock free.
 *
 * Knows nothing of FUSE; of a segment's bytes, only the first ones an
 * open passes in, for share.h to judge.
 */
#ifndef SHMFS_LOCK_H
#define SHMFS_LOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lockset.h"
#include "lockstate.h"
#include "privlock.h"
#include "segment.h"

enum lock_mode {
	LOCK_MODE_SHARED,
	LOCK_MODE_EXCLUSIVE,
};

/* Asked while waiting; returning true abandons the wait with -EINTR. */
typedef bool (*lock_abort_fn)(void *arg);

/* Acquire on a known set.  Waits at most timeout_ms (then -ETIMEDOUT;
 * 0 means try once without waiting), asking abort(arg) every few
 * milliseconds (then -EINTR); abort may be NULL.  -EIDRM or -EINVAL if
 * the set is gone, -EACCES if the daemon may not alter it.  SEM_UNDO makes
 * the kernel release the lock if the process dies holding it.
 * In the daemon, only a thread of the parking module may wait
 * (timeout_ms > 0): anywhere else it is an assertion failure. */
int lock_acquire(int semid, enum lock_mode mode, unsigned int timeout_ms, lock_abort_fn abort,
		 void *arg);
/* One semtimedop() of acquiring mode: 0, -EAGAIN when *timeout passed,
 * -EINTR when a signal came, -EIDRM or -EINVAL if the set is gone,
 * -EACCES.  For the parking module's threads only. */
struct timespec;
int lock_acquire_timed(int semid, enum lock_mode mode, struct timespec *timeout);
/* 0, or -errno: -EAGAIN if no such lock was held (never waits), -EIDRM or
 * -EINVAL if the set is gone. */
int lock_release(int semid, enum lock_mode mode);

/* The daemon's rule "no worker waits": after lock_forbid_blocking(),
 * lock_acquire() may wait only on a thread that called
 * lock_thread_may_block() (the parking module's own). */
void lock_forbid_blocking(void);
void lock_thread_may_block(void);
bool lock_blocking_allowed(void);

/* The locks in use by open files: one per segment, chosen at its first
 * open, kept until its last close.  Thread-safe. */
struct lock_table;
struct lock_hold; /* one segment's lock, held by its open files */

/* lock_hold_semid() of a segment guarded by the private lock. */
#define LOCK_PRIVATE (-2)

struct lock_table *lock_table_new(void);
void lock_table_free(struct lock_table *table);

/* Hold seg's lock for an open: the one already in use for it, or the
 * choice above, from seg's first len bytes at head (NULL: unknown).
 * Makes no kernel object.  0 or -ENOMEM. */
int lock_table_hold(struct lock_table *table, const struct segment_info *seg, const void *head,
		    size_t len, struct lock_hold **out);
/* The semid of a hold, LOCK_PRIVATE, or -1 once its set is gone for good. */
int lock_hold_semid(struct lock_hold *hold);
/* The set of a hold vanished under it (EIDRM/EINVAL from a semop on
 * semid): choose again for every file of the segment (a keyed set made
 * anew, or the private lock).  Returns the new semid or LOCK_PRIVATE. */
int lock_hold_renew(struct lock_table *table, struct lock_hold *hold, int semid);
/* Let go of a hold (its file closes). */
void lock_table_release(struct lock_table *table, struct lock_hold *hold);

/* A lock taken: what lock_hold_give() lets go of. */
struct lock_grant {
	struct lock_hold *hold;
	int semid; /* the set taken, or LOCK_PRIVATE */
	enum lock_mode mode;
};

#define LOCK_QUEUED 1

/* Take hold's lock in mode for pid, never waiting.  0: taken (*g says
 * which); -EAGAIN: busy; LOCK_QUEUED: the private lock was busy and w
 * (not NULL) now waits in its queue, to be returned by the release that
 * grants it; -EIDRM or -EINVAL: the set is gone (lock_hold_renew());
 * -EACCES.  Only the parking module (lockwait.h) calls this. */
int lock_hold_take(struct lock_hold *h, enum lock_mode mode, pid_t pid, struct privlock_waiter *w,
		   struct lock_grant *g);
/* Let go of a lock taken; returns the private lock's waiters it granted
 * (privlock_release()), whom the caller calls back. */
struct privlock_waiter *lock_hold_give(const struct lock_grant *g);
/* Whether h's set is still the one chosen for it (the same key, creator
 * and size): checked before each semop on it, as a semid may be another
 * set's by now (then -EIDRM: the caller chooses again). */
bool lock_hold_set_still(struct lock_hold *h);
/* Take a waiter out of the private lock's queue: privlock_cancel(). */
bool lock_hold_cancel(struct lock_hold *h, struct privlock_waiter *w,
		      struct privlock_waiter **granted);

/* The lock a read of seg would use now: the one held for it (a semid or
 * LOCK_PRIVATE; then *priv and *queued, if not NULL, get the private
 * lock's state and how many wait for it), or its ShareLite set, or -1
 * (none yet: an open would use the private lock).  Creates nothing. */
int lock_table_current(struct lock_table *table, const struct segment_info *seg,
		       struct lock_state *priv, unsigned int *queued);

/* How many locks the table holds, and how many of them are private. */
void lock_table_count(struct lock_table *table, size_t *held, size_t *private_locks);

#endif
