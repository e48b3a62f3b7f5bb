/* lockwait.c - waits for a segment's lock that hold no worker thread. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include "budget.h"
#include "lockwait.h"

/* How long one wait in the kernel lasts before the waiters are looked
 * at for deadlines and interrupts. */
#define SLICE_MS	  20
#define WAITER_STACK_SIZE (256 * 1024)
/* A set's thread waits this long for more waiters before it ends: a lock
 * contended over and over would otherwise cost a thread per request. */
#define LINGER_MS     200
#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC  1000000000ull

/* The waiters of one set, and the thread that waits for them. */
struct set_queue {
	struct set_queue *next;
	struct lockwait *lw;
	int semid;
	struct lockwait_req *head, **tail;
	pthread_cond_t more; /* a waiter was added */
};

struct lockwait {
	pthread_mutex_t mutex;
	pthread_cond_t idle; /* a thread ended */
	struct set_queue *queues;
	struct budget *budget;
	unsigned int threads;
	bool stopping;
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t lockwait_deadline(unsigned int timeout_ms)
{
	return monotonic_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
}

struct lockwait *lockwait_new(unsigned int per_user)
{
	struct lockwait *lw = calloc(1, sizeof(*lw));

	if (!lw)
		return NULL;
	lw->budget = budget_new(per_user);
	if (!lw->budget) {
		free(lw);
		return NULL;
	}
	pthread_mutex_init(&lw->mutex, NULL);
	pthread_cond_init(&lw->idle, NULL);
	return lw;
}

/* Take r out of q (the caller holds the mutex). */
static void unlink_locked(struct set_queue *q, struct lockwait_req *r)
{
	for (struct lockwait_req **link = &q->head; *link; link = &(*link)->next) {
		if (*link == r) {
			*link = r->next;
			if (q->tail == &r->next)
				q->tail = link;
			break;
		}
	}
	r->next = NULL;
}

static void answer(struct lockwait *lw, struct lockwait_req *r, int err)
{
	budget_give(lw->budget, r->uid);
	r->granted(r, err);
}

/* A waiter whose time is up, who gave up, or any when stopping: taken out
 * of q, with why; answered by the caller. */
static struct lockwait_req *expired_locked(struct lockwait *lw, struct set_queue *q, int *why)
{
	uint64_t now = monotonic_ns();

	for (struct lockwait_req *r = q->head; r; r = r->next) {
		if (lw->stopping)
			*why = -ESHUTDOWN;
		else if (r->abandoned && r->abandoned(r))
			*why = -EINTR;
		else if (now >= r->deadline_ns)
			*why = -ETIMEDOUT;
		else
			continue;
		unlink_locked(q, r);
		return r;
	}
	return NULL;
}

static void *queue_main(void *arg)
{
	struct set_queue *q = arg;
	struct lockwait *lw = q->lw;

	lock_thread_may_block(); /* the one place that waits */
	pthread_mutex_lock(&lw->mutex);
	for (;;) {
		struct lockwait_req *r, *gone;
		int ret, why = 0;

		while ((gone = expired_locked(lw, q, &why))) {
			pthread_mutex_unlock(&lw->mutex);
			answer(lw, gone, why);
			pthread_mutex_lock(&lw->mutex);
		}
		r = q->head;
		if (!r && !lw->stopping) {
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += LINGER_MS * (long)NSEC_PER_MSEC;
			if (until.tv_nsec >= (long)NSEC_PER_SEC) {
				until.tv_sec++;
				until.tv_nsec -= (long)NSEC_PER_SEC;
			}
			pthread_cond_timedwait(&q->more, &lw->mutex, &until);
			r = q->head;
			if (r)
				continue; /* look at it as at any other */
		}
		if (!r)
			break;
		pthread_mutex_unlock(&lw->mutex);
		/* Wait in the kernel, without the mutex: woken as the lock frees. */
		ret = lock_acquire(q->semid, r->mode, SLICE_MS, NULL, NULL);
		r->grant =
			(struct lock_grant){ .hold = r->hold, .semid = q->semid, .mode = r->mode };
		pthread_mutex_lock(&lw->mutex);
		if (ret == -ETIMEDOUT)
			continue;
		/* Only this thread takes waiters off the head, and the others
		 * only ever go behind it: r is still the head. */
		unlink_locked(q, r);
		pthread_mutex_unlock(&lw->mutex);
		answer(lw, r, ret);
		pthread_mutex_lock(&lw->mutex);
	}
	for (struct set_queue **link = &lw->queues; *link; link = &(*link)->next) {
		if (*link == q) {
			*link = q->next;
			break;
		}
	}
	lw->threads--;
	pthread_cond_broadcast(&lw->idle);
	pthread_mutex_unlock(&lw->mutex);
	pthread_cond_destroy(&q->more);
	free(q);
	return NULL;
}

static struct set_queue *find_queue_locked(struct lockwait *lw, int semid)
{
	for (struct set_queue *q = lw->queues; q; q = q->next)
		if (q->semid == semid)
			return q;
	return NULL;
}

static int park_on_set(struct lockwait *lw, struct lockwait_req *r)
{
	struct set_queue *q;
	pthread_condattr_t cattr;
	pthread_attr_t attr;
	pthread_t thread;
	int ret = 0;

	if (!budget_take(lw->budget, r->uid))
		return -ENOLCK;
	r->next = NULL;
	pthread_mutex_lock(&lw->mutex);
	if (lw->stopping) {
		ret = -ESHUTDOWN;
		goto out;
	}
	q = find_queue_locked(lw, r->semid);
	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q) {
			ret = -ENOMEM;
			goto out;
		}
		q->lw = lw;
		q->semid = r->semid;
		pthread_condattr_init(&cattr);
		pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
		pthread_cond_init(&q->more, &cattr);
		pthread_condattr_destroy(&cattr);
		q->head = r;
		q->tail = &r->next;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, WAITER_STACK_SIZE);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ret = -pthread_create(&thread, &attr, queue_main, q);
		pthread_attr_destroy(&attr);
		if (ret) {
			pthread_cond_destroy(&q->more);
			free(q);
			goto out;
		}
		/* The thread starts with r, once it gets the mutex we hold. */
		q->next = lw->queues;
		lw->queues = q;
		lw->threads++;
		goto out;
	}
	*q->tail = r;
	q->tail = &r->next;
	pthread_cond_signal(&q->more); /* a lingering thread takes it */
out:
	pthread_mutex_unlock(&lw->mutex);
	if (ret)
		budget_give(lw->budget, r->uid);
	return ret;
}

void lockwait_free(struct lockwait *lw)
{
	if (!lw)
		return;
	pthread_mutex_lock(&lw->mutex);
	lw->stopping = true;
	for (struct set_queue *q = lw->queues; q; q = q->next)
		pthread_cond_signal(&q->more);
	/* Each thread answers its waiters within a slice, then ends. */
	while (lw->threads > 0)
		pthread_cond_wait(&lw->idle, &lw->mutex);
	pthread_mutex_unlock(&lw->mutex);
	pthread_cond_destroy(&lw->idle);
	pthread_mutex_destroy(&lw->mutex);
	budget_free(lw->budget);
	free(lw);
}

size_t lockwait_count_set(struct lockwait *lw, int semid)
{
	struct set_queue *q;
	size_t n = 0;

	pthread_mutex_lock(&lw->mutex);
	q = find_queue_locked(lw, semid);
	for (struct lockwait_req *r = q ? q->head : NULL; r; r = r->next)
		n++;
	pthread_mutex_unlock(&lw->mutex);
	return n;
}

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
		answer(lw, r, 0);
	}
	calling = false;
}

void lockwait_give(struct lockwait *lw, const struct lock_grant *g)
{
	call_granted(lw, lock_hold_give(g));
}

int lockwait_take(struct lockwait *lw, struct lockwait_req *r, bool park)
{
	int ret;

	if (!park)
		return lock_hold_take(r->hold, r->mode, r->pid, NULL, &r->grant);
	if (!budget_take(lw->budget, r->uid))
		return -ENOLCK;
	ret = lock_hold_take(r->hold, r->mode, r->pid, &r->pw, &r->grant);
	if (ret == LOCK_QUEUED)
		return LOCKWAIT_PARKED; /* the release that lets it in answers */
	if (ret == -EAGAIN) {
		budget_give(lw->budget, r->uid);
		r->semid = r->grant.semid;
		ret = park_on_set(lw, r);
		return ret ? ret : LOCKWAIT_PARKED;
	}
	budget_give(lw->budget, r->uid);
	return ret;
}
