/* test_lockwait.c - the parking module: answers now or parks, and a
 * parked wait ends when the lock frees, at its deadline, when abandoned
 * or when the module stops; the private lock's waiters are called back by
 * the release that lets them in. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockwait.h"
#include "testutil.h"

struct waiter {
	struct lockwait_req r;
	struct lockwait *lw;
	pthread_mutex_t m;
	pthread_cond_t c;
	int calls, err;
	int readers; /* granted a set's lock: its readers' count then */
	bool give;   /* let go of the lock as soon as granted */
};

static void granted(struct lockwait_req *r, int err)
{
	struct waiter *w = (struct waiter *)r;

	if (err == 0 && r->grant.semid >= 0)
		w->readers = semctl(r->grant.semid, 1, GETVAL);
	if (err == 0 && w->give)
		lockwait_give(w->lw, &r->grant);
	pthread_mutex_lock(&w->m);
	w->calls++;
	w->err = err;
	pthread_cond_broadcast(&w->c);
	pthread_mutex_unlock(&w->m);
}

static void waiter_init(struct waiter *w, struct lockwait *lw, struct lock_hold *h,
			enum lock_mode mode, unsigned int timeout_ms)
{
	*w = (struct waiter){ .lw = lw };
	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->c, NULL);
	w->r.hold = h;
	w->r.mode = mode;
	w->r.uid = 1000;
	w->r.pid = getpid();
	w->r.deadline_ns = lockwait_deadline(timeout_ms);
	w->r.granted = granted;
	w->give = true;
}

/* Wait (bounded) for w's callback: its err. */
static int await_answer(struct waiter *w)
{
	pthread_mutex_lock(&w->m);
	for (int i = 0; i < 600 && w->calls == 0; i++) {
		pthread_mutex_unlock(&w->m);
		usleep(50000);
		pthread_mutex_lock(&w->m);
	}
	assert_int_equal(w->calls, 1);
	pthread_mutex_unlock(&w->m);
	return w->err;
}

#define KEY(n) (0x1a770000 + (n))

/* A set that lends its lock under key (the shmfs protocol's, marked; made
 * by root, as the segment's owner would), and the hold of a segment with
 * that key. */
static int sharelite_set(int32_t key)
{
	int id = semget(key, 5, IPC_CREAT | IPC_EXCL | 0600);

	assert_true(id >= 0);
	assert_int_equal(lock_mark_initialised(id), 0);
	return id;
}

static struct lock_hold *hold_of(struct lock_table *t, int shmid, int32_t key)
{
	struct segment_info seg = { .shmid = shmid, .key = key, .mode = 0600, .cpid = 7 };
	struct lock_hold *h;

	assert_int_equal(lock_table_hold(t, &seg, NULL, 0, &h), 0);
	return h;
}

/* Wait (bounded) until a thread waits in the kernel on semid. */
static void await_kernel_waiter(int semid)
{
	for (int i = 0; i < 3000; i++) {
		int n = 0;

		for (int sem = 1; sem <= 2; sem++)
			n += semctl(semid, sem, GETZCNT) + semctl(semid, sem, GETNCNT);
		if (n > 0)
			return;
		usleep(10000);
	}
	fail_msg("nobody waits on set %d", semid);
}

/* A set held by another: the wait parks and ends as the set frees; one
 * ends at its deadline; one abandoned ends at once (long before its
 * deadline: the thread is woken, not polling); one left ends when the
 * module stops. */
static void test_set_wait(void **state)
{
	struct lock_table *t = lock_table_new();
	struct lockwait *lw = lockwait_new(16, 4);
	int semid = sharelite_set(KEY(1));
	struct lock_hold *h = hold_of(t, 1, KEY(1));
	struct waiter a, b, c, d;

	assert_int_equal(lock_hold_semid(h), semid);
	assert_int_equal(lock_acquire(semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);
	waiter_init(&a, lw, h, LOCK_MODE_SHARED, 600000);
	assert_int_equal(lockwait_take(lw, &a.r, false), -EAGAIN);
	assert_int_equal(lockwait_take(lw, &a.r, true), LOCKWAIT_PARKED);
	assert_int_equal(lockwait_count_set(lw, semid), 1);
	assert_int_equal(lock_release(semid, LOCK_MODE_EXCLUSIVE), 0);
	assert_int_equal(await_answer(&a), 0);

	assert_int_equal(lock_acquire(semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);
	waiter_init(&b, lw, h, LOCK_MODE_SHARED, 100);
	assert_int_equal(lockwait_take(lw, &b.r, true), LOCKWAIT_PARKED);
	assert_int_equal(await_answer(&b), -ETIMEDOUT);

	waiter_init(&c, lw, h, LOCK_MODE_EXCLUSIVE, 600000);
	assert_int_equal(lockwait_take(lw, &c.r, true), LOCKWAIT_PARKED);
	await_kernel_waiter(semid);
	lockwait_abandon(lw, &c.r);
	assert_int_equal(await_answer(&c), -EINTR);

	waiter_init(&d, lw, h, LOCK_MODE_EXCLUSIVE, 600000);
	assert_int_equal(lockwait_take(lw, &d.r, true), LOCKWAIT_PARKED);
	lockwait_free(lw);
	assert_int_equal(await_answer(&d), -ESHUTDOWN);
	assert_int_equal(lock_release(semid, LOCK_MODE_EXCLUSIVE), 0);
	lock_table_release(t, h);
	lock_table_free(t);
	semctl(semid, 0, IPC_RMID);
}

/* Shared waits parked one behind the other are all let in by the grant
 * of the first, each with its own unit of the set's readers, before the
 * first is answered (one wake of the set's thread for them all); an
 * exclusive wait behind them, and whoever is behind it, keep their turn:
 * let in as the shared ones let go, one after the other. */
static void test_shared_waits_granted_together(void **state)
{
	struct lock_table *t = lock_table_new();
	struct lockwait *lw = lockwait_new(16, 4);
	int semid = sharelite_set(KEY(5));
	struct lock_hold *h = hold_of(t, 5, KEY(5));
	struct waiter s[3], x, after;

	assert_int_equal(lock_acquire(semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);
	for (int i = 0; i < 3; i++) {
		waiter_init(&s[i], lw, h, LOCK_MODE_SHARED, 600000);
		s[i].give = false;
		assert_int_equal(lockwait_take(lw, &s[i].r, true), LOCKWAIT_PARKED);
	}
	waiter_init(&x, lw, h, LOCK_MODE_EXCLUSIVE, 600000);
	assert_int_equal(lockwait_take(lw, &x.r, true), LOCKWAIT_PARKED);
	waiter_init(&after, lw, h, LOCK_MODE_SHARED, 600000);
	assert_int_equal(lockwait_take(lw, &after.r, true), LOCKWAIT_PARKED);
	await_kernel_waiter(semid);
	assert_int_equal(lock_release(semid, LOCK_MODE_EXCLUSIVE), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(await_answer(&s[i]), 0);
		assert_int_equal(s[i].readers, 3);
	}
	/* the exclusive one and the one behind it still wait */
	assert_int_equal(lockwait_count_set(lw, semid), 2);
	assert_int_equal(semctl(semid, 1, GETVAL), 3);
	for (int i = 0; i < 3; i++)
		lockwait_give(lw, &s[i].r.grant);
	assert_int_equal(await_answer(&x), 0);
	assert_int_equal(x.readers, 0);
	assert_int_equal(await_answer(&after), 0);
	assert_int_equal(after.readers, 1);
	assert_int_equal(semctl(semid, 1, GETVAL), 0);
	assert_int_equal(semctl(semid, 2, GETVAL), 0);
	lockwait_free(lw);
	lock_table_release(t, h);
	lock_table_free(t);
	semctl(semid, 0, IPC_RMID);
}

/* The private lock: waiters queue and are called back, in order, by the
 * release that lets them in, on the releasing thread: no thread. */
static void test_private_wait(void **state)
{
	struct lock_table *t = lock_table_new();
	struct lockwait *lw = lockwait_new(16, 4);
	struct lock_hold *h = hold_of(t, 2, 0);
	struct waiter x, y, z;

	assert_int_equal(lock_hold_semid(h), LOCK_PRIVATE);
	waiter_init(&x, lw, h, LOCK_MODE_EXCLUSIVE, 600000);
	assert_int_equal(lockwait_take(lw, &x.r, false), 0);
	waiter_init(&y, lw, h, LOCK_MODE_SHARED, 600000);
	waiter_init(&z, lw, h, LOCK_MODE_EXCLUSIVE, 600000);
	assert_int_equal(lockwait_take(lw, &y.r, false), -EAGAIN);
	assert_int_equal(lockwait_take(lw, &y.r, true), LOCKWAIT_PARKED);
	assert_int_equal(lockwait_take(lw, &z.r, true), LOCKWAIT_PARKED);
	assert_int_equal(y.calls + z.calls, 0);
	lockwait_give(lw, &x.r.grant);
	/* y was let in, let go in its callback, which let z in */
	assert_int_equal(y.calls, 1);
	assert_int_equal(y.err, 0);
	assert_int_equal(z.calls, 1);
	assert_int_equal(z.err, 0);
	assert_int_equal(lockwait_threads(lw), 0);
	assert_int_equal(lockwait_take(lw, &x.r, false), 0);
	lockwait_give(lw, &x.r.grant);
	lockwait_free(lw);
	lock_table_release(t, h);
	lock_table_free(t);
}

/* Two threads for all: one user waiting on two sets has both; another
 * user's wait takes one back (the first user's wait on that set ends with
 * ENOLCK), and the first user's wait on a third set is refused. */
static void test_thread_share(void **state)
{
	struct lock_table *t = lock_table_new();
	struct lockwait *lw = lockwait_new(16, 2);
	struct lock_hold *h[4];
	int semid[4], refused = 0;
	struct waiter w[4];

	for (int i = 0; i < 4; i++) {
		semid[i] = sharelite_set(KEY(10 + i));
		h[i] = hold_of(t, 10 + i, KEY(10 + i));
		assert_int_equal(lock_acquire(semid[i], LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);
		waiter_init(&w[i], lw, h[i], LOCK_MODE_SHARED, 600000);
		w[i].r.uid = i == 2 ? 1001 : 1000;
	}
	assert_int_equal(lockwait_take(lw, &w[0].r, true), LOCKWAIT_PARKED);
	assert_int_equal(lockwait_take(lw, &w[1].r, true), LOCKWAIT_PARKED);
	assert_int_equal(lockwait_take(lw, &w[2].r, true), LOCKWAIT_PARKED);
	for (int i = 0; i < 2; i++) {
		pthread_mutex_lock(&w[i].m);
		refused += w[i].calls;
		pthread_mutex_unlock(&w[i].m);
	}
	if (refused == 0) {
		/* the one given up ends as its thread notices: wait for it */
		for (int look = 0; look < 600 && w[0].calls + w[1].calls == 0; look++)
			usleep(50000);
	}
	assert_int_equal(w[0].calls + w[1].calls, 1);
	assert_int_equal(w[0].calls ? w[0].err : w[1].err, -ENOLCK);
	assert_int_equal(lockwait_take(lw, &w[3].r, true), -ENOLCK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(lock_release(semid[i], LOCK_MODE_EXCLUSIVE), 0);
	assert_int_equal(await_answer(&w[2]), 0);
	assert_int_equal(await_answer(w[0].err == -ENOLCK ? &w[1] : &w[0]), 0);
	lockwait_free(lw);
	for (int i = 0; i < 4; i++) {
		lock_table_release(t, h[i]);
		semctl(semid[i], 0, IPC_RMID);
	}
	lock_table_free(t);
}

/* A user's threads all lingering after their waits were served (at the
 * user's share of max_threads): a wait on another set is taken by one of
 * them, not refused while they linger. */
static void test_lingering_thread_reused(void **state)
{
	struct lock_table *t = lock_table_new();
	struct lockwait *lw = lockwait_new(16, 2);
	struct lock_hold *h[3];
	int semid[3];
	struct waiter w[3];

	for (int i = 0; i < 3; i++) {
		semid[i] = sharelite_set(KEY(20 + i));
		h[i] = hold_of(t, 20 + i, KEY(20 + i));
		assert_int_equal(lock_acquire(semid[i], LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);
		waiter_init(&w[i], lw, h[i], LOCK_MODE_SHARED, 600000);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(lockwait_take(lw, &w[i].r, true), LOCKWAIT_PARKED);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(lock_release(semid[i], LOCK_MODE_EXCLUSIVE), 0);
		assert_int_equal(await_answer(&w[i]), 0);
	}
	/* both threads linger (LINGER_MS); the third set's wait parks on one */
	assert_int_equal(lockwait_take(lw, &w[2].r, true), LOCKWAIT_PARKED);
	assert_true(lockwait_threads(lw) <= 2);
	assert_int_equal(lockwait_count_set(lw, semid[2]), 1);
	assert_int_equal(lock_release(semid[2], LOCK_MODE_EXCLUSIVE), 0);
	assert_int_equal(await_answer(&w[2]), 0);
	lockwait_free(lw);
	for (int i = 0; i < 3; i++) {
		lock_table_release(t, h[i]);
		semctl(semid[i], 0, IPC_RMID);
	}
	lock_table_free(t);
}

/* A wait for a semop, not a lock (the sem/ view's -N): on semaphore
 * r->tag - 1 of semid. */
static int take_one(struct lockwait_req *r, int semid, const struct timespec *timeout)
{
	struct sembuf op = { .sem_num = (unsigned short)(r->tag - 1), .sem_op = -1 };

	return semtimedop(semid, &op, 1, timeout) == 0 ? 0 : -errno;
}

static void op_waiter_init(struct waiter *w, struct lockwait *lw, int semid, int num)
{
	waiter_init(w, lw, NULL, LOCK_MODE_SHARED, 600000);
	w->give = false;
	w->r.semid = semid;
	w->r.tag = 1 + num;
	w->r.wait = take_one;
}

/* Each tag of a set is a queue of its own, with its own thread: a wait
 * for semaphore 1 is not behind one for semaphore 0 (nor counted with
 * the set's lock waiters), and ends as the kernel lets it through; an
 * abandon ends the other.  Planted: queues found by semid alone (b waited
 * behind a, and took a's place in the kernel only after a ended). */
static void test_tagged_queues(void **state)
{
	struct lockwait *lw = lockwait_new(16, 4);
	int semid = semget(IPC_PRIVATE, 2, 0600);
	struct sembuf up1 = { .sem_num = 1, .sem_op = 1 };
	struct waiter a, b;

	assert_true(semid >= 0);
	op_waiter_init(&a, lw, semid, 0);
	op_waiter_init(&b, lw, semid, 1);
	assert_int_equal(lockwait_park(lw, &a.r), LOCKWAIT_PARKED);
	assert_int_equal(lockwait_park(lw, &b.r), LOCKWAIT_PARKED);
	assert_int_equal(lockwait_count_queue(lw, semid, 1), 1);
	assert_int_equal(lockwait_count_queue(lw, semid, 2), 1);
	assert_int_equal(lockwait_count_set(lw, semid), 0);
	for (int i = 0; i < 3000 && semctl(semid, 1, GETNCNT) != 1; i++)
		usleep(10000);
	assert_int_equal(semctl(semid, 1, GETNCNT), 1);
	assert_int_equal(semop(semid, &up1, 1), 0);
	assert_int_equal(await_answer(&b), 0);
	assert_int_equal(semctl(semid, 1, GETVAL), 0);
	assert_int_equal(a.calls, 0);
	lockwait_abandon(lw, &a.r);
	assert_int_equal(await_answer(&a), -EINTR);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	lockwait_free(lw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_wait),
		cmocka_unit_test(test_shared_waits_granted_together),
		cmocka_unit_test(test_private_wait),
		cmocka_unit_test(test_thread_share),
		cmocka_unit_test(test_lingering_thread_reused),
		cmocka_unit_test(test_tagged_queues),
	};

	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
