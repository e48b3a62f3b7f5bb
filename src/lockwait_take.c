/* lockwait_take.c - a take of a segment's lock that may wait (parked on
 * its set's queue, lockwait.c, or in the private lock's own queue), and
 * the private lock's grants: answered by the release that lets them in,
 * on the releasing thread.  Declared in lockwait.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "lockwait_int.h"

/* ---- the private lock: no thread ----------------------------------------- */

/* The private lock's waiters let in by a release, to be called back by
 * the outermost lockwait_give() of this thread: a callback that lets go
 * of its own lock only adds to the list, so a long queue is a loop, not a
 * recursion. */
static __thread struct privlock_waiter *to_call, **to_call_tail;
static __thread bool calling;

static struct lockwait_req *req_of(struct privlock_waiter *w)
{
	return (struct lockwait_req *)((char *)w - offsetof(struct lockwait_req, pw));
}

static void call_granted(struct lockwait *lw, struct privlock_waiter *granted)
{
	if (!granted)
		return;
	if (!to_call_tail)
		to_call_tail = &to_call;
	*to_call_tail = granted;
	while (granted->next)
		granted = granted->next;
	to_call_tail = &granted->next;
	if (calling)
		return;
	calling = true;
	while (to_call) {
		struct privlock_waiter *w = to_call;
		struct lockwait_req *r = req_of(w);

		to_call = w->next;
		if (!to_call)
			to_call_tail = &to_call;
		r->grant = (struct lock_grant){ .hold = r->hold,
						.semid = LOCK_PRIVATE,
						.mode = r->mode };
		lockwait_answer(lw, r, 0);
	}
	calling = false;
}

void lockwait_give(struct lockwait *lw, const struct lock_grant *g)
{
	call_granted(lw, lock_hold_give(g));
}

int lockwait_take(struct lockwait *lw, struct lockwait_req *r, bool park)
{
	int ret, semid;

	r->tag = 0;
	if (!park)
		return lock_hold_take(r->hold, r->mode, r->pid, NULL, &r->grant);
	semid = lock_hold_semid(r->hold);
	if (r->found_busy && semid >= 0) {
		/* proven by the set's thread before it waits */
		r->semid = semid;
		ret = lockwait_park_on_set(lw, r);
		return ret ? ret : LOCKWAIT_PARKED;
	}
	if (!budget_take(lw->budget, r->uid))
		return -ENOLCK;
	ret = lock_hold_take(r->hold, r->mode, r->pid, &r->pw, &r->grant);
	if (ret == LOCK_QUEUED)
		return LOCKWAIT_PARKED; /* the release that lets it in answers */
	if (ret == -EAGAIN) {
		budget_give(lw->budget, r->uid);
		r->semid = r->grant.semid;
		ret = lockwait_park_on_set(lw, r);
		return ret ? ret : LOCKWAIT_PARKED;
	}
	budget_give(lw->budget, r->uid);
	return ret;
}
