/* lockop.h - one request that needs a segment's lock: the state machine
 * between "asked" and "answered", FUSE-free.
 *
 * A request runs at once if its lock is free.  Else a copy of it is
 * parked (lockwait.h) and runs later, on the thread that waited for the
 * set or on the one whose release let it in, while the caller's thread
 * goes on: nothing here waits.  If the set went under it (EIDRM/EINVAL;
 * EFBIG: its semid names a smaller set now, another's),
 * the segment's files choose their lock again, once, and the request is
 * submitted anew.  A write's bytes belong to the caller until it returns:
 * a parked write keeps a copy, counted in its user's budget of parked
 * bytes (past it: ENOLCK).  Either way the request ends exactly once:
 * run() with the lock held, or fail() with why not.
 *
 * The FUSE layer embeds struct lockop at the start of its own request
 * (size given to lockop_submit(), so that a parked copy is whole) and
 * supplies the hooks; interrupts reach a parked request through
 * lockop_interrupted().
 */
#ifndef SHMFS_LOCKOP_H
#define SHMFS_LOCKOP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "budget.h"
#include "lock.h"
#include "lockwait.h"

struct lockop;

struct lockop_hooks {
	/* With the lock held (op->lw.grant): do it, lockop_unlock(), answer. */
	void (*run)(struct lockop *op);
	/* The lock could not be had: answer err (a positive errno). */
	void (*fail)(struct lockop *op, int err);
	/* A parked copy starts (on) or stops (off) being told of interrupts;
	 * once off returns, no lockop_interrupted() of it runs any more.
	 * May be NULL. */
	void (*interrupts)(struct lockop *op, bool on);
};

struct lockop {
	struct lockwait_req lw; /* first: lockwait hands it back */
	const struct lockop_hooks *hooks;
	struct lockwait *waits;
	struct lock_table *locks;
	struct budget *parked_bytes; /* per user: bytes of parked writes */
	unsigned int timeout_ms;     /* the longest a parked request waits */
	size_t size;		     /* of the caller's whole request, lockop first */
	const char *data;	     /* a write's bytes, data_len of them; or NULL */
	size_t data_len;

	/* lockop's */
	bool renewed;	 /* the lock was chosen again once already */
	bool interrupts; /* a parked copy, told of interrupts */
	char *owned;	 /* a parked write's copy of data */
};

/* Run op now or park a copy of it (op itself may be on the caller's
 * stack; fill lw.hold, lw.mode, lw.uid, lw.pid, the fields above and the
 * caller's own).  Ends exactly once, through the hooks, perhaps before
 * this returns. */
void lockop_submit(struct lockop *op);

/* Let go of the lock run() was given. */
void lockop_unlock(struct lockop *op);

/* The request of a parked op was interrupted (from the interrupt hook's
 * callback: it never answers there). */
void lockop_interrupted(struct lockop *op);

#endif
