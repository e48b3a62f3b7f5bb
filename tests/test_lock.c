/* test_lock.c - the semaphore lock protocol and the lock table, on real
 * semaphores in a private IPC namespace, and against IPC::ShareLite. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "budget.h"
#include "lock.h"
#include "semun.h"
#include "share.h"
#include "testutil.h"

/* Each test uses keys of its own, so none sees another's sets. */
#define KEY(n) ((int32_t)(0x10c0000 + (n)))

static int new_set(void)
{
	int id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);

	assert_true(id >= 0);
	return id;
}

static int semval(int semid, int num)
{
	return semctl(semid, num, GETVAL);
}

static bool set_exists(int semid)
{
	struct semid_ds ds;

	return semctl(semid, 0, IPC_STAT, &ds) == 0;
}

static void remove_set(int semid)
{
	semctl(semid, 0, IPC_RMID);
}

static double elapsed_s(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Children: a separate process waits on (or holds) the lock, since
 * SEM_UNDO and so a lock's holder are per process.  They report through
 * their exit code and never call cmocka. */

static pid_t fork_child(int (*fn)(void *), void *arg)
{
	pid_t pid = testutil_fork();

	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

/* The child's exit code, or -1 if it did not exit normally. */
static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_child(int (*fn)(void *), void *arg)
{
	return wait_child(fork_child(fn, arg));
}

/* Tries one semop of the protocol in a child: exits 0 if it gave want. */
struct attempt {
	int semid;
	enum lock_mode mode;
	unsigned int timeout_ms;
	int want;
};

static int attempt_child(void *arg)
{
	const struct attempt *a = arg;

	return lock_acquire(a->semid, a->mode, a->timeout_ms, NULL, NULL) == a->want ? 0 : 1;
}

static int attempt(int semid, enum lock_mode mode, unsigned int timeout_ms, int want)
{
	struct attempt a = { semid, mode, timeout_ms, want };

	return run_child(attempt_child, &a);
}

static void test_shared_and_shared(void **state)
{
	int id = new_set();

	assert_int_equal(lock_acquire(id, LOCK_MODE_SHARED, 0, NULL, NULL), 0);
	/* The protocol's own counts, as ShareLite reads them. */
	assert_int_equal(semval(id, 0), 0);
	assert_int_equal(semval(id, 1), 1);
	assert_int_equal(semval(id, 2), 0);

	assert_int_equal(attempt(id, LOCK_MODE_SHARED, 0, 0), 0);
	/* The child exited holding it: SEM_UNDO gave it back. */
	assert_int_equal(semval(id, 1), 1);

	assert_int_equal(lock_release(id, LOCK_MODE_SHARED), 0);
	assert_int_equal(semval(id, 1), 0);
	remove_set(id);
}

static void test_exclusive_excludes(void **state)
{
	int id = new_set();

	assert_int_equal(lock_acquire(id, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);
	assert_int_equal(semval(id, 0), 0);
	assert_int_equal(semval(id, 1), 0);
	assert_int_equal(semval(id, 2), 1);
	assert_int_equal(attempt(id, LOCK_MODE_SHARED, 0, -ETIMEDOUT), 0);
	assert_int_equal(attempt(id, LOCK_MODE_SHARED, 50, -ETIMEDOUT), 0);
	assert_int_equal(attempt(id, LOCK_MODE_EXCLUSIVE, 50, -ETIMEDOUT), 0);
	assert_int_equal(lock_release(id, LOCK_MODE_EXCLUSIVE), 0);
	assert_int_equal(semval(id, 2), 0);
	assert_int_equal(attempt(id, LOCK_MODE_EXCLUSIVE, 0, 0), 0);

	/* A shared lock keeps writers out, not readers. */
	assert_int_equal(lock_acquire(id, LOCK_MODE_SHARED, 0, NULL, NULL), 0);
	assert_int_equal(attempt(id, LOCK_MODE_EXCLUSIVE, 50, -ETIMEDOUT), 0);
	assert_int_equal(attempt(id, LOCK_MODE_SHARED, 50, 0), 0);
	assert_int_equal(lock_release(id, LOCK_MODE_SHARED), 0);
	assert_int_equal(attempt(id, LOCK_MODE_EXCLUSIVE, 0, 0), 0);
	remove_set(id);
}

static void test_waiter_times_out(void **state)
{
	int id = new_set();
	struct timespec start;

	assert_int_equal(lock_acquire(id, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);

	/* timeout 0: one try, no wait. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(lock_acquire(id, LOCK_MODE_SHARED, 0, NULL, NULL), -ETIMEDOUT);
	assert_true(elapsed_s(&start) < 5.0);

	/* The holder is this very process: the set knows no owners. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(lock_acquire(id, LOCK_MODE_EXCLUSIVE, 200, NULL, NULL), -ETIMEDOUT);
	assert_true(elapsed_s(&start) >= 0.2);
	assert_true(elapsed_s(&start) < 10.0);

	/* A wait that fails leaves no trace in the counts. */
	assert_int_equal(semval(id, 1), 0);
	assert_int_equal(semval(id, 2), 1);
	assert_int_equal(lock_release(id, LOCK_MODE_EXCLUSIVE), 0);
	remove_set(id);
}

static bool abort_on_third_call(void *arg)
{
	int *calls = arg;

	return ++*calls >= 3;
}

static bool never_abort(void *arg)
{
	int *calls = arg;

	++*calls;
	return false;
}

static void test_abort_gives_eintr(void **state)
{
	int id = new_set();
	struct timespec start;
	int calls = 0;

	assert_int_equal(lock_acquire(id, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);

	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(lock_acquire(id, LOCK_MODE_SHARED, 60000, abort_on_third_call, &calls),
			 -EINTR);
	assert_int_equal(calls, 3);
	assert_true(elapsed_s(&start) < 10.0);

	calls = 0;
	assert_int_equal(lock_acquire(id, LOCK_MODE_EXCLUSIVE, 100, never_abort, &calls),
			 -ETIMEDOUT);
	assert_true(calls >= 1);

	/* A free lock is taken at once. */
	assert_int_equal(lock_release(id, LOCK_MODE_EXCLUSIVE), 0);
	calls = 0;
	assert_int_equal(lock_acquire(id, LOCK_MODE_EXCLUSIVE, 60000, never_abort, &calls), 0);
	assert_int_equal(lock_release(id, LOCK_MODE_EXCLUSIVE), 0);
	remove_set(id);
}

static int take_exclusive(void *arg)
{
	return lock_acquire(*(const int *)arg, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL);
}

static void test_dead_holder_releases(void **state)
{
	int semid = new_set();
	pid_t pid = testutil_fork_holder(take_exclusive, &semid);
	int status;

	assert_true(pid > 0);
	assert_int_equal(lock_acquire(semid, LOCK_MODE_SHARED, 50, NULL, NULL), -ETIMEDOUT);
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* The kernel undoes the dead holder's +1 as it exits. */
	assert_int_equal(lock_acquire(semid, LOCK_MODE_EXCLUSIVE, 10000, NULL, NULL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(semval(semid, 2), 1);
	assert_int_equal(lock_release(semid, LOCK_MODE_EXCLUSIVE), 0);
	remove_set(semid);
}

struct waiter {
	int semid;
	int result[2]; /* the child writes lock_acquire()'s result */
};

static int wait_and_report(void *arg)
{
	struct waiter *w = arg;
	int rc = lock_acquire(w->semid, LOCK_MODE_EXCLUSIVE, 20000, NULL, NULL);

	return write(w->result[1], &rc, sizeof(rc)) == sizeof(rc) ? 0 : 1;
}

static void test_removed_set(void **state)
{
	struct waiter w = { .semid = new_set() };
	struct timespec start;
	pid_t pid;
	int rc = 0;

	/* Removed before: no such set. */
	remove_set(w.semid);
	assert_int_equal(lock_acquire(w.semid, LOCK_MODE_SHARED, 100, NULL, NULL), -EINVAL);
	assert_int_equal(lock_acquire(w.semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), -EINVAL);
	assert_int_equal(lock_release(w.semid, LOCK_MODE_SHARED), -EINVAL);

	/* Removed under a waiter: EIDRM, or EINVAL if it went between two
	 * slices of the wait. */
	w.semid = new_set();
	assert_int_equal(lock_acquire(w.semid, LOCK_MODE_SHARED, 0, NULL, NULL), 0);
	assert_int_equal(pipe(w.result), 0);
	pid = fork_child(wait_and_report, &w);
	close(w.result[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (semctl(w.semid, 1, GETZCNT) < 1 && elapsed_s(&start) < 10.0)
		usleep(1000);
	remove_set(w.semid);
	assert_int_equal(read(w.result[0], &rc, sizeof(rc)), sizeof(rc));
	close(w.result[0]);
	assert_int_equal(wait_child(pid), 0);
	assert_true(rc == -EIDRM || rc == -EINVAL);
}

/* As uid 65534 (a forked child): semget(key, 5) with id, if forced. */
static int make_as_other(void *arg)
{
	int32_t key = *(int32_t *)arg;

	if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
		return 1;
	return semget(key, SHARE_NSEMS_MARK, IPC_CREAT | IPC_EXCL | 0666) >= 0 ? 0 : 2;
}

/* A set made for a by-key creation is changed and removed only while
 * provably that set: once its creator removed it, a set another user
 * made under the same key with the same semid (kernel.sem_next_id) is
 * left alone, as is the set after someone else's SETVAL. */
static void test_made_set_proven(void **state)
{
	int32_t key = KEY(20);
	union semun one = { .val = 1 };
	struct lock_made made, copy;
	int semid = lock_create_sharelite(key, 0600, &made);

	assert_true(semid >= 0);
	assert_int_equal(made.semid, semid);
	assert_int_equal(lock_mark_made(&made), 0);
	assert_int_equal(semval(semid, SHARE_SEM_MARK_3), SHARE_MARK_3);
	assert_int_equal(lock_remove_made(&made), 0);
	assert_false(set_exists(semid));

	/* Removed by its creator, then another user's set with the key and
	 * the semid. */
	semid = lock_create_sharelite(key, 0600, &made);
	assert_true(semid >= 0);
	copy = made;
	remove_set(semid);
	if (testutil_set_next_id("sem", semid)) {
		assert_int_equal(wait_child(fork_child(make_as_other, &key)), 0);
		assert_int_equal(semget(key, 0, 0), semid);
		assert_int_equal(lock_mark_made(&made), -ESTALE);
		assert_int_equal(lock_remove_made(&copy), -ESTALE);
		assert_true(set_exists(semid));
		assert_int_equal(semval(semid, SHARE_SEM_INIT), 0);
		assert_int_equal(semval(semid, SHARE_SEM_MARK_3), 0);
		remove_set(semid);
	} else {
		print_message(
			"no kernel.sem_next_id: the look-alike with the same semid skipped\n");
		assert_int_equal(lock_remove_made(&copy), -ESTALE);
	}

	/* Changed by someone else (sem_ctime moves: at a later second). */
	semid = lock_create_sharelite(key, 0600, &made);
	assert_true(semid >= 0);
	while (time(NULL) == made.ctime)
		usleep(10 * 1000);
	assert_int_equal(semctl(semid, SHARE_SEM_INIT, SETVAL, one), 0);
	assert_int_equal(lock_remove_made(&made), -ESTALE);
	assert_true(set_exists(semid));
	remove_set(semid);
}

static void test_release_unheld(void **state)
{
	int id = new_set();

	assert_int_equal(lock_release(id, LOCK_MODE_SHARED), -EAGAIN);
	assert_int_equal(lock_release(id, LOCK_MODE_EXCLUSIVE), -EAGAIN);
	assert_int_equal(semval(id, 1), 0);
	assert_int_equal(semval(id, 2), 0);
	remove_set(id);
}

/* The sets in use. */

static struct segment_info seg_of(int shmid, int32_t key, unsigned int mode)
{
	return (struct segment_info){ .shmid = shmid, .key = key, .mode = mode, .cpid = 42 };
}

static int count_sets(void)
{
	int n = testutil_sysvipc_count("sem");

	assert_true(n >= 0);
	return n;
}

/* kernel.sem's fourth field, SEMMNI, of this IPC namespace. */
static void set_semmni(int semmni)
{
	FILE *f = fopen("/proc/sys/kernel/sem", "w");

	assert_non_null(f);
	fprintf(f, "32000 1024000000 500 %d\n", semmni);
	assert_int_equal(fclose(f), 0);
}

/* A set of the shmfs protocol, which lends its lock whatever the
 * segment holds: 5 semaphores, marked (share.h). */
static int sharelite_set(int32_t key)
{
	int id = semget(key, SHARE_NSEMS_MARK, IPC_CREAT | IPC_EXCL | 0600);

	assert_true(id >= 0);
	assert_int_equal(lock_mark_initialised(id), 0);
	return id;
}

static int hold_semid(struct lock_table *t, const struct segment_info *seg, struct lock_hold **h)
{
	assert_int_equal(lock_table_hold(t, seg, NULL, 0, h), 0);
	return lock_hold_semid(*h);
}

static void test_table_takes_no_key(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info seg = seg_of(100, KEY(1), 0666);
	struct lock_hold *a, *b;
	struct lock_grant g;
	int before = count_sets();

	/* Looking creates nothing. */
	assert_int_equal(lock_table_current(t, &seg, NULL, NULL), -1);
	/* Opening makes no kernel object: the private lock is the daemon's,
	 * and never a set with the segment's key. */
	assert_int_equal(hold_semid(t, &seg, &a), LOCK_PRIVATE);
	assert_int_equal(count_sets(), before);
	assert_int_equal(semget(KEY(1), 0, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(hold_semid(t, &seg, &b), LOCK_PRIVATE);
	assert_ptr_equal(a, b);
	assert_int_equal(lock_table_current(t, &seg, NULL, NULL), LOCK_PRIVATE);
	assert_int_equal(lock_hold_take(a, LOCK_MODE_EXCLUSIVE, 1, NULL, &g), 0);
	assert_int_equal(g.semid, LOCK_PRIVATE);
	assert_int_equal(count_sets(), before);
	assert_null(lock_hold_give(&g));
	lock_table_release(t, a);
	lock_table_release(t, b);
	/* Closed: nothing is remembered of it. */
	assert_int_equal(lock_table_current(t, &seg, NULL, NULL), -1);
	assert_int_equal(count_sets(), before);
	lock_table_free(t);
}

static void test_table_uses_sharelite_set(void **state)
{
	struct lock_table *t = lock_table_new();
	int theirs = sharelite_set(KEY(2));
	struct segment_info seg = seg_of(101, KEY(2), 0644);
	struct lock_hold *h;

	assert_int_equal(lock_table_current(t, &seg, NULL, NULL), theirs);
	assert_int_equal(hold_semid(t, &seg, &h), theirs);
	/* Not ours: neither the last close nor freeing removes it. */
	lock_table_release(t, h);
	assert_true(set_exists(theirs));
	assert_int_equal(hold_semid(t, &seg, &h), theirs);
	lock_table_free(t);
	assert_true(set_exists(theirs));
	assert_int_equal(semval(theirs, 0), 1);
	remove_set(theirs);
}

/* A program's own set under the segment's key is not a lock: not with 3
 * semaphores either, even at 1 0 0 (ShareLite's idle state: without the
 * segment's bytes to show a share, nothing proves one). */
static void test_table_leaves_program_sets(void **state)
{
	struct lock_table *t = lock_table_new();
	int one = semget(KEY(3), 1, IPC_CREAT | IPC_EXCL | 0600);
	int three = semget(KEY(4), 3, IPC_CREAT | IPC_EXCL | 0600);
	int counted = semget(KEY(5), SHARE_NSEMS_MARK, IPC_CREAT | IPC_EXCL | 0600);
	struct segment_info a = seg_of(102, KEY(3), 0600), b = seg_of(103, KEY(4), 0600),
			    c = seg_of(104, KEY(5), 0600);
	union {
		int val;
	} two = { .val = 2 };
	struct lock_hold *ha, *hb, *hc;
	struct lock_grant g;

	assert_true(one >= 0 && three >= 0 && counted >= 0);
	assert_int_equal(semctl(three, 0, SETVAL, (union semun){ .val = 1 }), 0);
	/* marked, but semaphore 2 counts beyond one writer: a counter */
	assert_int_equal(lock_mark_initialised(counted), 0);
	assert_int_equal(semctl(counted, 2, SETVAL, two), 0);
	assert_int_not_equal(hold_semid(t, &a, &ha), one);
	assert_int_not_equal(hold_semid(t, &b, &hb), three);
	assert_int_not_equal(hold_semid(t, &c, &hc), counted);
	assert_int_equal(lock_hold_semid(ha), LOCK_PRIVATE);
	assert_int_equal(lock_hold_semid(hb), LOCK_PRIVATE);
	assert_int_equal(lock_hold_semid(hc), LOCK_PRIVATE);
	assert_int_equal(lock_hold_take(hb, LOCK_MODE_EXCLUSIVE, 1, NULL, &g), 0);
	assert_int_equal(semval(three, 0), 1);
	assert_int_equal(semval(three, 1), 0);
	assert_int_equal(semval(three, 2), 0);
	assert_null(lock_hold_give(&g));
	lock_table_free(t);
	assert_true(set_exists(one) && set_exists(three) && set_exists(counted));
	assert_int_equal(semval(counted, 2), 2);
	remove_set(one);
	remove_set(three);
	remove_set(counted);
}

/* A set made by someone who neither owns nor created the segment is not
 * its lock, ShareLite's mark or not: its maker could hold it. */
static void test_table_refuses_planted_set(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info seg = seg_of(105, KEY(6), 0644);
	struct lock_hold *h;
	int status, planted;
	pid_t pid = testutil_fork();

	if (pid == 0) {
		int id;

		if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
			_exit(2);
		id = semget(KEY(6), SHARE_NSEMS_MARK, IPC_CREAT | IPC_EXCL | 0666);
		_exit(id >= 0 && lock_mark_initialised(id) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	planted = semget(KEY(6), 0, 0);
	assert_true(planted >= 0);
	seg.uid = seg.cuid = 1000; /* someone else's segment */
	assert_int_equal(lock_table_current(t, &seg, NULL, NULL), -1);
	assert_int_not_equal(hold_semid(t, &seg, &h), planted);
	lock_table_release(t, h);
	/* The same set on its maker's own segment is the lock. */
	seg.uid = 65534;
	assert_int_equal(hold_semid(t, &seg, &h), planted);
	lock_table_release(t, h);
	lock_table_free(t);
	remove_set(planted);
}

/* The choice made at the first open holds while any file is open: after
 * ipcrm (key cleared, dest) the ShareLite set stays the lock. */
static void test_table_choice_holds(void **state)
{
	struct lock_table *t = lock_table_new();
	int theirs = sharelite_set(KEY(7));
	struct segment_info seg = seg_of(106, KEY(7), 0600);
	struct lock_hold *a, *b;
	int id;

	assert_int_equal(hold_semid(t, &seg, &a), theirs);
	seg.key = 0;
	seg.mode |= SEGMENT_MODE_DEST;
	assert_int_equal(hold_semid(t, &seg, &b), theirs);
	lock_table_release(t, a);
	lock_table_release(t, b);
	/* With no file open the set is remembered: a reader that opens the
	 * segment anew for every read (cat in a loop) keeps ShareLite's lock. */
	assert_int_equal(hold_semid(t, &seg, &a), theirs);
	lock_table_release(t, a);
	/* Once the set goes, the private lock. */
	remove_set(theirs);
	id = hold_semid(t, &seg, &a);
	assert_int_equal(id, LOCK_PRIVATE);
	lock_table_release(t, a);
	lock_table_free(t);
}

/* A ShareLite set made while a file holds the private lock: the next open
 * moves every file to the ShareLite set, once nobody holds the private
 * lock; never while someone does. */
static void test_table_leaves_private_set(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info seg = seg_of(109, KEY(8), 0600);
	struct lock_hold *a, *b;
	struct lock_grant g;
	int priv = hold_semid(t, &seg, &a), theirs;

	assert_int_equal(priv, LOCK_PRIVATE);
	theirs = sharelite_set(KEY(8));
	/* held by a request: no move */
	assert_int_equal(lock_hold_take(a, LOCK_MODE_SHARED, 1, NULL, &g), 0);
	assert_int_equal(hold_semid(t, &seg, &b), LOCK_PRIVATE);
	lock_table_release(t, b);
	assert_null(lock_hold_give(&g));
	/* free: the next open moves */
	assert_int_equal(hold_semid(t, &seg, &b), theirs);
	assert_int_equal(lock_hold_semid(a), theirs);
	assert_int_equal(lock_hold_take(a, LOCK_MODE_SHARED, 1, NULL, &g), 0);
	assert_int_equal(g.semid, theirs);
	assert_int_equal(semval(theirs, 1), 1);
	assert_null(lock_hold_give(&g));
	/* a request that had read LOCK_PRIVATE finds the new set */
	assert_int_equal(lock_hold_renew(t, a, LOCK_PRIVATE), theirs);
	lock_table_release(t, a);
	lock_table_release(t, b);
	lock_table_free(t);
	assert_true(set_exists(theirs));
	remove_set(theirs);
}

/* Three free mutexes, 1 1 1, are a program's, not ShareLite's: the
 * protocol never has readers and a writer at once. */
static void test_table_leaves_free_mutexes(void **state)
{
	struct lock_table *t = lock_table_new();
	int mutexes = semget(KEY(9), 3, IPC_CREAT | IPC_EXCL | 0600);
	unsigned short ones[3] = { 1, 1, 1 };
	struct segment_info seg = seg_of(110, KEY(9), 0600);
	struct lock_hold *h;

	assert_true(mutexes >= 0);
	assert_int_equal(semctl(mutexes, 0, SETALL, ones), 0);
	assert_int_equal(lock_table_current(t, &seg, NULL, NULL), -1);
	assert_int_not_equal(hold_semid(t, &seg, &h), mutexes);
	lock_table_release(t, h);
	lock_table_free(t);
	for (int i = 0; i < 3; i++)
		assert_int_equal(semval(mutexes, i), 1);
	remove_set(mutexes);
}

/* A reused shmid is another segment, with a lock of its own. */
static void test_table_generation(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info old = seg_of(107, 0, 0600), fresh = old;
	struct lock_hold *a, *b;
	struct lock_grant ga, gb;

	fresh.cpid = 43;
	assert_int_equal(lock_table_hold(t, &old, NULL, 0, &a), 0);
	assert_int_equal(lock_table_hold(t, &fresh, NULL, 0, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(lock_hold_take(a, LOCK_MODE_EXCLUSIVE, 1, NULL, &ga), 0);
	assert_int_equal(lock_hold_take(b, LOCK_MODE_EXCLUSIVE, 1, NULL, &gb), 0);
	assert_null(lock_hold_give(&ga));
	assert_null(lock_hold_give(&gb));
	lock_table_release(t, a);
	lock_table_release(t, b);
	lock_table_free(t);
}

/* A hold's set removed and its number given at once to another set of
 * the same size (another program's, another key): the hold never takes,
 * waits on or lets go of that set (EIDRM: its holder chooses again). */
static void test_hold_never_acts_on_a_reused_semid(void **state)
{
	struct lock_table *t = lock_table_new();
	int theirs = sharelite_set(KEY(12)), other;
	struct segment_info seg = seg_of(112, KEY(12), 0600);
	unsigned short vals[SHARE_NSEMS_MARK];
	union semun arg = { .array = vals };
	struct lock_hold *a;
	struct lock_grant g;

	assert_int_equal(hold_semid(t, &seg, &a), theirs);
	assert_int_equal(lock_hold_take(a, LOCK_MODE_EXCLUSIVE, 1, NULL, &g), 0);
	remove_set(theirs); /* while held: its SEM_UNDO goes with it */
	if (!testutil_set_next_id("sem", theirs)) {
		print_message("no kernel.sem_next_id: skipped\n");
		skip();
	}
	other = semget(IPC_PRIVATE, SHARE_NSEMS_MARK, IPC_CREAT | 0600);
	assert_int_equal(other, theirs);
	assert_null(lock_hold_give(&g)); /* not let go on the other set */
	assert_int_equal(lock_hold_take(a, LOCK_MODE_SHARED, 1, NULL, &g), -EIDRM);
	assert_false(lock_hold_set_still(a));
	assert_int_equal(semctl(other, 0, GETALL, arg), 0);
	for (int i = 0; i < SHARE_NSEMS_MARK; i++)
		assert_int_equal(vals[i], 0);
	assert_int_equal(semctl(other, 0, GETPID), 0); /* nobody operated on it */
	lock_table_release(t, a);
	lock_table_free(t);
	remove_set(other);
}

/* A ShareLite set removed under its holders: they choose again, once
 * for all (the private lock, as the key has no set now). */
static void test_table_renew(void **state)
{
	struct lock_table *t = lock_table_new();
	int theirs = sharelite_set(KEY(10));
	struct segment_info seg = seg_of(108, KEY(10), 0600);
	struct lock_hold *a, *b;
	struct lock_grant g;

	assert_int_equal(hold_semid(t, &seg, &a), theirs);
	assert_int_equal(hold_semid(t, &seg, &b), theirs);
	remove_set(theirs);
	assert_int_equal(lock_hold_take(a, LOCK_MODE_SHARED, 1, NULL, &g), -EIDRM);
	/* the segment (108) is not there: the private lock */
	assert_int_equal(lock_hold_renew(t, a, theirs), LOCK_PRIVATE);
	/* the second holder finds the new choice already made */
	assert_int_equal(lock_hold_renew(t, b, theirs), LOCK_PRIVATE);
	assert_int_equal(lock_hold_semid(b), LOCK_PRIVATE);
	lock_table_release(t, a);
	lock_table_release(t, b);
	lock_table_free(t);
}

/* Many segments opened and closed one after the other leave the
 * semaphore table as it was; a full kernel table fails no open. */
static void test_table_bounded_by_use(void **state)
{
	struct lock_table *t = lock_table_new();
	int before = count_sets();
	struct lock_hold *h;
	int filler[4096], nfill = 0;
	size_t held, priv;

	for (int i = 0; i < 2000; i++) {
		struct segment_info seg = seg_of(1000 + i, KEY(1000 + i), 0600);

		hold_semid(t, &seg, &h);
		lock_table_release(t, h);
	}
	assert_int_equal(count_sets(), before);
	lock_table_count(t, &held, &priv);
	assert_int_equal(held, 0);
	assert_int_equal(priv, 0);
	/* Fill the kernel's table (SEMMNI lowered in this namespace): opens
	 * need none of it. */
	set_semmni(before + 16);
	while (nfill < 4096 && (filler[nfill] = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600)) >= 0)
		nfill++;
	assert_int_equal(errno, ENOSPC);
	struct segment_info seg = seg_of(5000, 0, 0600);
	assert_int_equal(lock_table_hold(t, &seg, NULL, 0, &h), 0);
	lock_table_release(t, h);
	while (nfill > 0)
		remove_set(filler[--nfill]);
	lock_table_free(t);
	assert_int_equal(count_sets(), before);
	set_semmni(32000);
}

/* The private lock's queue: first come first served, a release lets in
 * the waiters it admits and says who they are. */
static void test_table_private_queue(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info seg = seg_of(3000, 0, 0600);
	struct privlock_waiter w1, w2, w3, *granted;
	struct lock_state st;
	unsigned int queued = 0;
	struct lock_hold *h;
	struct lock_grant g, g2;

	assert_int_equal(lock_table_hold(t, &seg, NULL, 0, &h), 0);
	assert_int_equal(lock_hold_take(h, LOCK_MODE_EXCLUSIVE, 10, NULL, &g), 0);
	assert_int_equal(lock_hold_take(h, LOCK_MODE_SHARED, 11, NULL, &g2), -EAGAIN);
	assert_int_equal(lock_hold_take(h, LOCK_MODE_SHARED, 11, &w1, &g2), LOCK_QUEUED);
	assert_int_equal(lock_hold_take(h, LOCK_MODE_SHARED, 12, &w2, &g2), LOCK_QUEUED);
	assert_int_equal(lock_hold_take(h, LOCK_MODE_EXCLUSIVE, 13, &w3, &g2), LOCK_QUEUED);
	assert_int_equal(lock_table_current(t, &seg, &st, &queued), LOCK_PRIVATE);
	assert_int_equal(st.writer, 10);
	assert_int_equal(st.waiting_for_writer, 3);
	assert_int_equal(queued, 3);
	/* the writer goes: both readers in, the writer behind them waits */
	granted = lock_hold_give(&g);
	assert_ptr_equal(granted, &w1);
	assert_ptr_equal(granted->next, &w2);
	assert_null(w2.next);
	/* a newcomer waits behind the queued writer, though readers hold it */
	assert_int_equal(lock_hold_take(h, LOCK_MODE_SHARED, 14, NULL, &g2), -EAGAIN);
	lock_table_current(t, &seg, &st, &queued);
	assert_int_equal(st.readers, 2);
	assert_int_equal(st.waiting_for_readers, 1);
	g2 = (struct lock_grant){ .hold = h, .semid = LOCK_PRIVATE, .mode = LOCK_MODE_SHARED };
	assert_null(lock_hold_give(&g2));
	assert_ptr_equal(lock_hold_give(&g2), &w3);
	g2.mode = LOCK_MODE_EXCLUSIVE;
	assert_null(lock_hold_give(&g2));
	lock_table_release(t, h);
	lock_table_free(t);
}

/* Every round, all threads hold and release the same few segments. */
static void *race(void *arg)
{
	struct lock_table *t = arg;

	for (int round = 0; round < 200; round++) {
		struct segment_info seg = seg_of(2000 + round % 4, 0, 0600);
		struct lock_hold *h;
		struct lock_grant g;
		int ret;

		if (lock_table_hold(t, &seg, NULL, 0, &h) != 0)
			return (void *)1;
		while ((ret = lock_hold_take(h, round % 3 ? LOCK_MODE_SHARED : LOCK_MODE_EXCLUSIVE,
					     1, NULL, &g)) == -EAGAIN)
			sched_yield();
		if (ret != 0 || lock_hold_give(&g) != NULL)
			return (void *)1;
		lock_table_release(t, h);
	}
	return NULL;
}

static void test_table_threads(void **state)
{
	struct lock_table *t = lock_table_new();
	pthread_t threads[8];
	int before = count_sets();
	size_t held, owned;

	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, race, t), 0);
	for (int i = 0; i < 8; i++) {
		void *res;

		pthread_join(threads[i], &res);
		assert_null(res);
	}
	lock_table_count(t, &held, &owned);
	assert_int_equal(held, 0);
	assert_int_equal(count_sets(), before);
	lock_table_free(t);
}

/* Interoperation with the real IPC::ShareLite. */

static const char sharelite_script[] =
	"use strict;\n"
	"use IPC::ShareLite qw(:lock);\n"
	"my ($key, $dir) = @ARGV;\n"
	"my $t0 = time;\n"
	"sub touch { open(my $f, '>', \"$dir/$_[0]\") or die \"$!\"; close $f }\n"
	"sub await {\n"
	"	until (-e \"$dir/$_[0]\") {\n"
	"		die \"timed out waiting for $_[0]\\n\" if time - $t0 > 60;\n"
	"		select(undef, undef, undef, 0.01);\n"
	"	}\n"
	"}\n"
	"my $s = IPC::ShareLite->new(-key => $key, -create => 1, -destroy => 1,\n"
	"	-mode => 0600) or die \"new: $!\";\n"
	"$s->lock(LOCK_EX) or die \"lock: $!\";\n"
	"touch('locked');\n"
	"await('go');\n"
	"$s->unlock or die \"unlock: $!\";\n"
	"touch('unlocked');\n"
	"await('held');\n"
	"my $r = $s->lock(LOCK_SH | LOCK_NB);\n"
	"die \"lock nb: $!\" unless defined $r;\n"
	"$s->unlock if $r;\n"
	"touch($r ? 'nb-granted' : 'nb-refused');\n"
	"await('done');\n"
	"exit 0;\n";

static char sharelite_dir[64];
static pid_t sharelite_pid = -1;

static pid_t spawn_perl(char *const argv[], bool quiet)
{
	pid_t pid = testutil_fork();

	if (pid == 0) {
		if (quiet) {
			freopen("/dev/null", "w", stdout);
			freopen("/dev/null", "w", stderr);
		}
		execvp("perl", argv);
		_exit(127);
	}
	return pid;
}

static bool have_sharelite(void)
{
	char *argv[] = { "perl", "-MIPC::ShareLite", "-e", "1", NULL };
	pid_t pid = spawn_perl(argv, true);

	return pid > 0 && wait_child(pid) == 0;
}

static void dir_file(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", sharelite_dir, name);
}

static bool file_exists(const char *name)
{
	char path[128];
	struct stat st;

	dir_file(path, sizeof(path), name);
	return stat(path, &st) == 0;
}

static void touch(const char *name)
{
	char path[128];
	FILE *f;

	dir_file(path, sizeof(path), name);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
}

/* Wait (boundedly) for perl to create one of two files; false if it never
 * does. */
static bool await_either(const char *name, const char *other)
{
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!file_exists(name) && !(other && file_exists(other))) {
		if (elapsed_s(&start) > 30.0 || waitpid(sharelite_pid, NULL, WNOHANG) != 0)
			return false;
		usleep(5000);
	}
	return true;
}

static bool await_file(const char *name)
{
	return await_either(name, NULL);
}

static int sharelite_teardown(void **state)
{
	static const char *const names[] = { "locked",	   "go",	 "unlocked", "held",
					     "nb-granted", "nb-refused", "done" };
	char path[128];

	if (sharelite_pid > 0) {
		kill(sharelite_pid, SIGKILL);
		waitpid(sharelite_pid, NULL, 0);
		sharelite_pid = -1;
	}
	if (sharelite_dir[0]) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			dir_file(path, sizeof(path), names[i]);
			unlink(path);
		}
		rmdir(sharelite_dir);
		sharelite_dir[0] = '\0';
	}
	return 0;
}

static void test_sharelite_interop(void **state)
{
	const int32_t key = KEY(200);
	char keystr[16];
	char *argv[] = { "perl", "-e", (char *)sharelite_script, keystr, sharelite_dir, NULL };
	struct lock_table *t;
	struct lock_hold *hold;
	struct segment_info seg;
	struct shmid_ds ds;
	unsigned char head[SHARE_HEAD_BYTES];
	void *addr;
	int shmid, semid, status;

	if (!have_sharelite()) {
		if (testutil_in_ci())
			fail_msg("perl with IPC::ShareLite is needed (libipc-sharelite-perl)");
		skip();
	}
	snprintf(keystr, sizeof(keystr), "%d", (int)key);
	strcpy(sharelite_dir, "/tmp/test_lock.XXXXXX");
	assert_non_null(mkdtemp(sharelite_dir));
	sharelite_pid = spawn_perl(argv, false);
	assert_true(sharelite_pid > 0);
	assert_true(await_file("locked"));

	/* The segment as shmfs sees it. */
	shmid = shmget(key, 0, 0);
	assert_true(shmid >= 0);
	assert_int_equal(shmctl(shmid, IPC_STAT, &ds), 0);
	seg = seg_of(shmid, ds.shm_perm.__key, ds.shm_perm.mode);
	seg.uid = ds.shm_perm.uid;
	seg.cuid = ds.shm_perm.cuid;
	seg.size = ds.shm_segsz;
	addr = shmat(shmid, NULL, SHM_RDONLY);
	assert_true(addr != (void *)-1);
	memcpy(head, addr, sizeof(head));
	shmdt(addr);
	t = lock_table_new();
	/* ShareLite's own set, its header in the segment: it is the lock. */
	assert_int_equal(lock_table_hold(t, &seg, head, sizeof(head), &hold), 0);
	semid = lock_hold_semid(hold);
	assert_int_equal(semid, semget(key, 0, 0));

	/* ShareLite holds LOCK_EX. */
	assert_int_equal(lock_acquire(semid, LOCK_MODE_SHARED, 100, NULL, NULL), -ETIMEDOUT);
	assert_int_equal(lock_acquire(semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), -ETIMEDOUT);

	touch("go");
	assert_true(await_file("unlocked"));
	assert_int_equal(lock_acquire(semid, LOCK_MODE_EXCLUSIVE, 10000, NULL, NULL), 0);

	/* And the other way round: ShareLite cannot share our LOCK_EX. */
	touch("held");
	assert_true(await_either("nb-refused", "nb-granted"));
	assert_false(file_exists("nb-granted"));
	assert_int_equal(lock_release(semid, LOCK_MODE_EXCLUSIVE), 0);

	/* Not ours: closing and freeing leave ShareLite's set alone. */
	lock_table_release(t, hold);
	lock_table_free(t);
	assert_int_equal(semget(key, 0, 0), semid);

	touch("done");
	assert_int_equal(waitpid(sharelite_pid, &status, 0), sharelite_pid);
	sharelite_pid = -1;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_and_shared),
		cmocka_unit_test(test_exclusive_excludes),
		cmocka_unit_test(test_waiter_times_out),
		cmocka_unit_test(test_abort_gives_eintr),
		cmocka_unit_test(test_dead_holder_releases),
		cmocka_unit_test(test_removed_set),
		cmocka_unit_test(test_made_set_proven),
		cmocka_unit_test(test_release_unheld),
		cmocka_unit_test(test_table_takes_no_key),
		cmocka_unit_test(test_table_uses_sharelite_set),
		cmocka_unit_test(test_table_leaves_program_sets),
		cmocka_unit_test(test_table_refuses_planted_set),
		cmocka_unit_test(test_table_choice_holds),
		cmocka_unit_test(test_table_leaves_private_set),
		cmocka_unit_test(test_table_leaves_free_mutexes),
		cmocka_unit_test(test_table_generation),
		cmocka_unit_test(test_table_renew),
		cmocka_unit_test(test_hold_never_acts_on_a_reused_semid),
		cmocka_unit_test(test_table_bounded_by_use),
		cmocka_unit_test(test_table_private_queue),
		cmocka_unit_test(test_table_threads),
		cmocka_unit_test_teardown(test_sharelite_interop, sharelite_teardown),
	};

	testutil_isolate(false);
	testutil_filter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
