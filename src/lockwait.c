/* lockwait.c - the parking module: every wait for a segment's lock.
 *
 * On a set, one thread of ours per set waits in the kernel for the
 * set's first waiter, with that waiter's real deadline: it wakes when
 * the lock frees, when the deadline comes, or when we interrupt it (an
 * interrupted request, the daemon stopping, its thread given to another
 * user).  Nothing polls: a daemon whose users wait on many held sets
 * uses no CPU while nothing changes.
 *
 * The interrupt is a signal sent to that thread alone (SIG_KICK, a
 * handler without SA_RESTART).  A signal that comes between the thread's
 * last look at its waiters and its entry into semtimedop() would be lost
 * (the call would then sleep until the deadline); so the handler zeroes
 * the timeout the thread is about to pass: the kernel reads it at entry,
 * and a zero timeout returns at once.  A signal after the call returned
 * changes a timeout nobody reads.  A thread is signalled only while it is
 * in that window (kick_ts set), never while it runs a request's callback,
 * whose own syscalls must not see EINTR.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "clock.h"
#include "lockwait_int.h"

#ifdef __SANITIZE_ADDRESS__
#define WAITER_STACK_SIZE (256 * 1024) /* ASan's frames are bigger */
#else
#define WAITER_STACK_SIZE (64 * 1024)
#endif
/* A set's thread waits this long for more waiters before it ends: a lock
 * contended over and over would otherwise cost a thread per request. */
#define LINGER_MS 200

/* The waiters of one set, and the thread that waits for them. */
struct set_queue {
	struct set_queue *next;
	struct lockwait *lw;
	int semid;
	int tag;     /* with semid, which of the set's queues (lockwait_req.tag) */
	uid_t owner; /* whose share of the threads it counts in */
	pthread_t thread;
	struct lockwait_req *head, **tail;
	pthread_cond_t more; /* a waiter was added */
	/* Parkers about to signal more after letting go of the mutex (a
	 * thread woken under the mutex would only block on it: one more
	 * switch per parked request).  Counted under the mutex while q is
	 * listed, dropped atomically after the signal; the thread frees q
	 * only once it is out of the list and this is 0. */
	unsigned int signalling;
	bool in_wait; /* between its last look and the end of semtimedop() */
	bool evicted; /* its thread goes to another user: answer ENOLCK, end */
};

/* The timeout a set thread is about to give semtimedop(), for the
 * handler to zero (initial-exec: the daemon's own executable, no lazy
 * allocation in a handler). */
static __thread struct timespec *volatile kick_ts __attribute__((tls_model("initial-exec")));

static void on_kick(int sig)
{
	struct timespec *ts = kick_ts;

	(void)sig;
	if (ts) {
		ts->tv_sec = 0;
		ts->tv_nsec = 0;
	}
}

int lockwait_kick_signal(void)
{
	return SIGRTMIN + 4;
}

static void install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick; /* no SA_RESTART: the wait returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(lockwait_kick_signal(), &sa, NULL);
}

uint64_t lockwait_deadline(unsigned int timeout_ms)
{
	return clock_deadline_ns(timeout_ms);
}

struct lockwait *lockwait_new(unsigned int per_user, unsigned int max_threads)
{
	struct lockwait *lw = calloc(1, sizeof(*lw));
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (!lw)
		return NULL;
	pthread_once(&once, install_kick_handler);
	lw->budget = budget_new(per_user);
	lw->threads = budget_new(0);
	if (!lw->budget || !lw->threads) {
		budget_free(lw->budget);
		budget_free(lw->threads);
		free(lw);
		return NULL;
	}
	lw->max_threads = max_threads ? max_threads : 1;
	pthread_mutex_init(&lw->mutex, NULL);
	pthread_cond_init(&lw->idle, NULL);
	return lw;
}

/* Interrupt q's thread if it waits in the kernel (the caller holds the
 * mutex, so the thread cannot end meanwhile). */
static void kick_locked(struct set_queue *q)
{
	if (q->in_wait)
		pthread_kill(q->thread, lockwait_kick_signal());
	pthread_cond_signal(&q->more);
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
	r->queue = NULL;
}

void lockwait_answer(struct lockwait *lw, struct lockwait_req *r, int err)
{
	if (!r->wait)
		budget_give(lw->budget, r->uid);
	r->granted(r, err);
}

/* A waiter whose time is up, who gave up, or any when stopping or
 * evicted: taken out of q, with why; answered by the caller. */
static struct lockwait_req *expired_locked(struct lockwait *lw, struct set_queue *q, int *why)
{
	uint64_t now = clock_now_ns();

	for (struct lockwait_req *r = q->head; r; r = r->next) {
		if (lw->stopping)
			*why = -ESHUTDOWN;
		else if (q->evicted)
			*why = -ENOLCK;
		else if (r->abandoned_flag)
			*why = -EINTR;
		else if (r->set_removed)
			*why = -EIDRM;
		else if (now >= r->deadline_ns)
			*why = -ETIMEDOUT;
		else
			continue;
		unlink_locked(q, r);
		return r;
	}
	return NULL;
}

/* r (q's head a moment ago) was granted a shared lock: the shared waits
 * right behind it for the same hold get theirs now too, each its own
 * unit of the set's readers (taken without waiting: r's unit keeps any
 * writer out), so that one wake of this thread answers them all, as the
 * kernel would have let them all in at once had each waited in it.  The
 * first waiter of another kind (exclusive, another hold, another wait,
 * given up, out of time) and all behind it keep their turn.  Taken out
 * of q, in order; the caller answers them after r.  Under the mutex. */
static struct lockwait_req *shared_along_locked(struct set_queue *q, const struct lockwait_req *r)
{
	struct lockwait_req *along = NULL, **tail = &along;
	uint64_t now = clock_now_ns();

	if (r->mode != LOCK_MODE_SHARED || r->wait || q->tag != 0)
		return NULL;
	while (q->head) {
		struct lockwait_req *o = q->head;

		if (o->mode != LOCK_MODE_SHARED || o->wait || o->hold != r->hold ||
		    o->abandoned_flag || o->set_removed || now >= o->deadline_ns ||
		    lock_acquire(q->semid, LOCK_MODE_SHARED, 0, NULL, NULL) != 0)
			break;
		o->grant = r->grant;
		unlink_locked(q, o);
		*tail = o;
		tail = &o->next;
	}
	return along;
}

static void *queue_main(void *arg)
{
	struct set_queue *q = arg;
	struct lockwait *lw = q->lw;
	sigset_t kick;

	lock_thread_may_block(); /* the one place that waits */
	sigemptyset(&kick);
	sigaddset(&kick, lockwait_kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	pthread_mutex_lock(&lw->mutex);
	for (;;) {
		struct lockwait_req *r, *gone, *along;
		struct timespec ts;
		uint64_t now;
		int ret, why = 0;

		while ((gone = expired_locked(lw, q, &why))) {
			pthread_mutex_unlock(&lw->mutex);
			lockwait_answer(lw, gone, why);
			pthread_mutex_lock(&lw->mutex);
		}
		r = q->head;
		if (!r && !lw->stopping && !q->evicted) {
			struct timespec until = clock_timespec(clock_deadline_ns(LINGER_MS));

			pthread_cond_timedwait(&q->more, &lw->mutex, &until);
			if (q->head)
				continue; /* look at it as at any other */
		}
		if (!r)
			break;
		now = clock_now_ns();
		if (now >= r->deadline_ns)
			continue;
		ts = clock_timespec(r->deadline_ns - now);
		kick_ts = &ts;
		q->in_wait = true;
		pthread_mutex_unlock(&lw->mutex);
		/* Wait in the kernel, without the mutex: woken as the lock
		 * frees (or what r waits for comes), at r's deadline, or by a
		 * kick. */
		if (r->wait)
			ret = r->wait(r, q->semid, &ts);
		else if (!lock_hold_set_still(r->hold))
			ret = -EIDRM; /* the number is another set's: never waited on */
		else
			ret = lock_acquire_timed(q->semid, r->mode, &ts);
		pthread_mutex_lock(&lw->mutex);
		q->in_wait = false;
		kick_ts = NULL;
		if (ret == -EAGAIN || ret == -EINTR)
			continue; /* the deadline, or a kick: look again */
		/* Only this thread takes waiters off the head, and the others
		 * only ever go behind it: r is still the head. */
		r->grant =
			(struct lock_grant){ .hold = r->hold, .semid = q->semid, .mode = r->mode };
		unlink_locked(q, r);
		/* A tagged queue's set removed (the sem/ view's -N waits on
		 * one semaphore): those waiting behind r were proven on it
		 * (or, parked in the moment since, on a set made at its
		 * number: answered -EIDRM too, the safe side).  A set made
		 * at its number before the thread came to them would pass
		 * their weak proof (semid, creator, key, nsems), and their
		 * semop act on it.  Untagged queues' waiters prove their
		 * sets themselves. */
		if (ret == -EIDRM && q->tag != 0)
			for (struct lockwait_req *o = q->head; o; o = o->next)
				o->set_removed = true;
		along = ret == 0 ? shared_along_locked(q, r) : NULL;
		pthread_mutex_unlock(&lw->mutex);
		lockwait_answer(lw, r, ret);
		while (along) {
			struct lockwait_req *o = along;

			along = o->next;
			o->next = NULL;
			lockwait_answer(lw, o, 0);
		}
		pthread_mutex_lock(&lw->mutex);
	}
	for (struct set_queue **link = &lw->queues; *link; link = &(*link)->next) {
		if (*link == q) {
			*link = q->next;
			break;
		}
	}
	lw->nthreads--;
	budget_give(lw->threads, q->owner);
	pthread_cond_broadcast(&lw->idle);
	pthread_mutex_unlock(&lw->mutex);
	/* Out of the list: no parker finds q any more; one that found it
	 * is a signal away from done. */
	while (__atomic_load_n(&q->signalling, __ATOMIC_ACQUIRE))
		sched_yield();
	pthread_cond_destroy(&q->more);
	free(q);
	return NULL;
}

static struct set_queue *find_queue_locked(struct lockwait *lw, int semid, int tag)
{
	for (struct set_queue *q = lw->queues; q; q = q->next)
		if (q->semid == semid && q->tag == tag && !q->evicted)
			return q;
	return NULL;
}

/* One of uid's set threads lingering with no waiter, to be given a wait
 * on another set: a user whose threads all linger after their waits were
 * served is not refused (ENOLCK) until they end.  Its semid may change:
 * the thread reads it only while it has a waiter (head != NULL), and only
 * it takes waiters off. */
static struct set_queue *idle_queue_locked(struct lockwait *lw, uid_t uid)
{
	for (struct set_queue *q = lw->queues; q; q = q->next)
		if (q->owner == uid && !q->head && !q->evicted && !q->in_wait)
			return q;
	return NULL;
}

/* Room for one more set thread for uid: every user gets an equal share
 * of max_threads among those that have threads.  Past the bound, a user
 * over their share gives one up (an idle thread first: nobody loses a
 * wait; else that user's waits on one set end with ENOLCK); uid itself
 * at or over its share gets ENOLCK.  0 or -ENOLCK. */
static int thread_room_locked(struct lockwait *lw, uid_t uid)
{
	size_t mine = budget_held(lw->threads, uid);
	size_t users = budget_users(lw->threads) + (mine == 0);
	size_t share = lw->max_threads / users, most = 0;
	struct set_queue *victim = NULL;

	if (share == 0)
		share = 1;
	if (mine >= share)
		return -ENOLCK;
	if (lw->nthreads < lw->max_threads)
		return 0;
	for (struct set_queue *q = lw->queues; q; q = q->next) {
		size_t held = budget_held(lw->threads, q->owner);

		if (q->evicted)
			continue;
		if (!q->head) {
			victim = q; /* lingering: costs nobody a wait */
			break;
		}
		if (q->owner != uid && held > share && held > most) {
			most = held;
			victim = q;
		}
	}
	if (!victim)
		return -ENOLCK;
	victim->evicted = true;
	kick_locked(victim);
	return 0;
}

int lockwait_park_on_set(struct lockwait *lw, struct lockwait_req *r)
{
	struct set_queue *q, *signal = NULL;
	pthread_condattr_t cattr;
	pthread_attr_t attr;
	sigset_t all, old;
	int ret = 0;

	if (!r->wait && !budget_take(lw->budget, r->uid))
		return -ENOLCK;
	r->next = NULL;
	pthread_mutex_lock(&lw->mutex);
	if (lw->stopping) {
		ret = -ESHUTDOWN;
		goto out;
	}
	if (r->abandoned_flag) {
		ret = -EINTR;
		goto out;
	}
	q = find_queue_locked(lw, r->semid, r->tag);
	if (!q && (q = idle_queue_locked(lw, r->uid))) {
		q->semid = r->semid;
		q->tag = r->tag;
	}
	if (q) {
		*q->tail = r;
		q->tail = &r->next;
		r->queue = q;
		/* A lingering thread takes it, woken once the mutex is free
		 * (with waiters ahead of r it is not waiting for more). */
		if (q->head == r) {
			q->signalling++;
			signal = q;
		}
		goto out;
	}
	ret = thread_room_locked(lw, r->uid);
	if (ret)
		goto out;
	q = calloc(1, sizeof(*q));
	if (!q) {
		ret = -ENOMEM;
		goto out;
	}
	q->lw = lw;
	q->semid = r->semid;
	q->tag = r->tag;
	q->owner = r->uid;
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&q->more, &cattr);
	pthread_condattr_destroy(&cattr);
	q->head = r;
	q->tail = &r->next;
	r->queue = q;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WAITER_STACK_SIZE);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The thread starts with every signal blocked but its kick (the
	 * daemon's SIGTERM and the like are for libfuse's threads). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&q->thread, &attr, queue_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret) {
		r->queue = NULL;
		pthread_cond_destroy(&q->more);
		free(q);
		goto out;
	}
	/* The thread starts with r, once it gets the mutex we hold. */
	q->next = lw->queues;
	lw->queues = q;
	lw->nthreads++;
	budget_take(lw->threads, q->owner);
out:
	pthread_mutex_unlock(&lw->mutex);
	if (signal) {
		pthread_cond_signal(&signal->more);
		__atomic_sub_fetch(&signal->signalling, 1, __ATOMIC_RELEASE);
	}
	if (ret && !r->wait)
		budget_give(lw->budget, r->uid);
	return ret;
}

int lockwait_park(struct lockwait *lw, struct lockwait_req *r)
{
	int ret;

	r->abandoned_flag = false;
	r->set_removed = false;
	r->queue = NULL;
	ret = lockwait_park_on_set(lw, r);
	return ret ? ret : LOCKWAIT_PARKED;
}

void lockwait_abandon(struct lockwait *lw, struct lockwait_req *r)
{
	pthread_mutex_lock(&lw->mutex);
	r->abandoned_flag = true;
	if (r->queue)
		kick_locked(r->queue);
	pthread_mutex_unlock(&lw->mutex);
}

void lockwait_free(struct lockwait *lw)
{
	if (!lw)
		return;
	pthread_mutex_lock(&lw->mutex);
	lw->stopping = true;
	for (struct set_queue *q = lw->queues; q; q = q->next)
		kick_locked(q);
	/* Each thread answers its waiters at once, then ends. */
	while (lw->nthreads > 0)
		pthread_cond_wait(&lw->idle, &lw->mutex);
	pthread_mutex_unlock(&lw->mutex);
	pthread_cond_destroy(&lw->idle);
	pthread_mutex_destroy(&lw->mutex);
	budget_free(lw->budget);
	budget_free(lw->threads);
	free(lw);
}

size_t lockwait_count_set(struct lockwait *lw, int semid)
{
	return lockwait_count_queue(lw, semid, 0);
}

size_t lockwait_count_queue(struct lockwait *lw, int semid, int tag)
{
	struct set_queue *q;
	size_t n = 0;

	pthread_mutex_lock(&lw->mutex);
	q = find_queue_locked(lw, semid, tag);
	for (struct lockwait_req *r = q ? q->head : NULL; r; r = r->next)
		n++;
	pthread_mutex_unlock(&lw->mutex);
	return n;
}

void lockwait_each_queued(struct lockwait *lw, int semid, int tag,
			  void (*fn)(const struct lockwait_req *r, void *arg), void *arg)
{
	struct set_queue *q;

	pthread_mutex_lock(&lw->mutex);
	q = find_queue_locked(lw, semid, tag);
	for (struct lockwait_req *r = q ? q->head : NULL; r; r = r->next)
		fn(r, arg);
	pthread_mutex_unlock(&lw->mutex);
}

unsigned int lockwait_threads(struct lockwait *lw)
{
	unsigned int n;

	pthread_mutex_lock(&lw->mutex);
	n = lw->nthreads;
	pthread_mutex_unlock(&lw->mutex);
	return n;
}
