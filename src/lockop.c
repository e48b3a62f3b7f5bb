/* lockop.c - one request that needs a segment's lock. */
#include <alloca.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lockop.h"

void lockop_unlock(struct lockop *op)
{
	lockwait_give(op->waits, &op->lw.grant);
}

void lockop_interrupted(struct lockop *op)
{
	lockwait_abandon(op->waits, &op->lw);
}

static void no_interrupts(struct lockop *op)
{
	if (op->interrupts && op->hooks->interrupts)
		op->hooks->interrupts(op, false);
	op->interrupts = false;
}

/* A parked write's own copy of its bytes, and their place in its user's
 * budget, given back. */
static void drop_owned(struct lockop *op)
{
	if (!op->owned)
		return;
	budget_give_n(op->parked_bytes, op->lw.uid, op->data_len);
	free(op->owned);
	op->owned = NULL;
}

static void op_free(struct lockop *op)
{
	drop_owned(op);
	free(op);
}

/* Called back by lockwait: on its thread, or on the releasing one. */
static void granted(struct lockwait_req *r, int err)
{
	struct lockop *op = (struct lockop *)r;

	no_interrupts(op);
	if (err == 0) {
		op->hooks->run(op);
	} else if ((err == -EIDRM || err == -EINVAL || err == -EFBIG) && !op->renewed) {
		/* the set went under the wait (EFBIG: its semid names a set
		 * too small to be it now): choose again, once; submitted
		 * from a copy on our stack (a parked copy copies again) */
		struct lockop *a = alloca(op->size);
		int gone = r->semid;

		memcpy(a, op, op->size);
		op->owned = NULL; /* a's now */
		free(op);
		a->renewed = true;
		lock_hold_renew(a->locks, a->lw.hold, gone);
		lockop_submit(a);
		drop_owned(a);
		return;
	} else {
		/* ESHUTDOWN: the session ends; the caller sees an interrupted call */
		op->hooks->fail(op, err == -ESHUTDOWN ? EINTR : -err);
	}
	op_free(op);
}

/* A copy of op that outlives the caller's buffers, to park; or NULL with
 * *err. */
static struct lockop *park_copy(const struct lockop *op, int *err)
{
	struct lockop *parked = malloc(op->size);

	*err = ENOMEM;
	if (!parked)
		return NULL;
	memcpy(parked, op, op->size);
	parked->owned = NULL;
	if (op->data && op->data_len) {
		if (!budget_take_n(op->parked_bytes, op->lw.uid, op->data_len)) {
			free(parked);
			*err = ENOLCK;
			return NULL;
		}
		parked->owned = malloc(op->data_len);
		if (!parked->owned) {
			budget_give_n(op->parked_bytes, op->lw.uid, op->data_len);
			free(parked);
			return NULL;
		}
		memcpy(parked->owned, op->data, op->data_len);
		parked->data = parked->owned;
	}
	parked->lw.deadline_ns = lockwait_deadline(op->timeout_ms);
	parked->lw.granted = granted;
	parked->lw.abandoned_flag = false;
	parked->lw.queue = NULL;
	parked->lw.found_busy = true; /* lockop_submit() just tried */
	return parked;
}

void lockop_submit(struct lockop *op)
{
	struct lockop *parked;
	int ret, err;

	op->interrupts = false;
	for (;;) {
		int semid = lock_hold_semid(op->lw.hold);

		ret = lockwait_take(op->waits, &op->lw, false);
		if (ret == 0) {
			op->hooks->run(op);
			return;
		}
		if ((ret != -EIDRM && ret != -EINVAL && ret != -EFBIG) || op->renewed)
			break;
		op->renewed = true;
		lock_hold_renew(op->locks, op->lw.hold, semid);
	}
	if (ret != -EAGAIN) {
		op->hooks->fail(op, -ret);
		return;
	}
	parked = park_copy(op, &err);
	if (!parked) {
		op->hooks->fail(op, err);
		return;
	}
	/* Before it is parked: an interrupt that came already abandons it
	 * at once, one that comes later wakes its wait. */
	if (parked->hooks->interrupts) {
		parked->interrupts = true;
		parked->hooks->interrupts(parked, true);
	}
	ret = lockwait_take(parked->waits, &parked->lw, true);
	if (ret == 0) {
		no_interrupts(parked);
		parked->hooks->run(parked);
		op_free(parked);
	} else if (ret < 0) {
		/* ENOLCK: this user has enough requests (or threads) waiting */
		no_interrupts(parked);
		parked->hooks->fail(parked, -ret);
		op_free(parked);
	}
}
