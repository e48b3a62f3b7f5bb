/* test_lock.c - the semaphore lock protocol and the lock table, on real
 * semaphores in a private IPC namespace, and against IPC::ShareLite. */
#include <errno.h>
#include <pthread.h>
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

#include "lock.h"
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

static void stat_set(int semid, struct semid_ds *ds)
{
	assert_int_equal(semctl(semid, 0, IPC_STAT, ds), 0);
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
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
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

struct holder {
	int semid;
	int ready[2]; /* the child writes one byte once it holds the lock */
};

static int hold_until_killed(void *arg)
{
	struct holder *h = arg;

	if (lock_acquire(h->semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL) != 0)
		return 1;
	if (write(h->ready[1], "x", 1) != 1)
		return 2;
	for (;;)
		pause();
}

static void test_dead_holder_releases(void **state)
{
	struct holder h = { .semid = new_set() };
	pid_t pid;
	char c;
	int status;

	assert_int_equal(pipe(h.ready), 0);
	pid = fork_child(hold_until_killed, &h);
	close(h.ready[1]);
	assert_int_equal(read(h.ready[0], &c, 1), 1);
	close(h.ready[0]);

	assert_int_equal(lock_acquire(h.semid, LOCK_MODE_SHARED, 50, NULL, NULL), -ETIMEDOUT);
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* The kernel undoes the dead holder's +1 as it exits. */
	assert_int_equal(lock_acquire(h.semid, LOCK_MODE_EXCLUSIVE, 10000, NULL, NULL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(semval(h.semid, 2), 1);
	assert_int_equal(lock_release(h.semid, LOCK_MODE_EXCLUSIVE), 0);
	remove_set(h.semid);
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

static void test_release_unheld(void **state)
{
	int id = new_set();

	assert_int_equal(lock_release(id, LOCK_MODE_SHARED), -EAGAIN);
	assert_int_equal(lock_release(id, LOCK_MODE_EXCLUSIVE), -EAGAIN);
	assert_int_equal(semval(id, 1), 0);
	assert_int_equal(semval(id, 2), 0);
	remove_set(id);
}

/* The lock table. */

static struct segment_info seg_of(int shmid, int32_t key, unsigned int mode)
{
	return (struct segment_info){ .shmid = shmid, .key = key, .mode = mode };
}

static void sweep_with(struct lock_table *t, struct segment_info *v, size_t n)
{
	struct segment_list live = { .v = v, .n = n, .cap = n };

	lock_table_sweep(t, &live);
}

static void assert_private_set(int semid)
{
	struct semid_ds ds;

	stat_set(semid, &ds);
	assert_int_equal(ds.sem_perm.__key, IPC_PRIVATE);
	assert_int_equal(ds.sem_nsems, 3);
}

static void test_table_reuses_existing_set(void **state)
{
	struct lock_table *t = lock_table_new();
	int theirs = semget(KEY(1), 3, IPC_CREAT | IPC_EXCL | 0600);
	struct segment_info seg = seg_of(100, KEY(1), 0644);

	assert_non_null(t);
	assert_true(theirs >= 0);
	assert_int_equal(lock_table_semid(t, &seg), theirs);
	assert_int_equal(lock_table_semid(t, &seg), theirs);
	/* Not ours: neither sweeping nor freeing removes it. */
	sweep_with(t, NULL, 0);
	sweep_with(t, NULL, 0);
	assert_true(set_exists(theirs));
	assert_int_equal(lock_table_semid(t, &seg), theirs);
	lock_table_free(t);
	assert_true(set_exists(theirs));
	remove_set(theirs);
}

static void test_table_small_set_gets_private(void **state)
{
	struct lock_table *t = lock_table_new();
	int theirs = semget(KEY(2), 1, IPC_CREAT | IPC_EXCL | 0600);
	struct segment_info seg = seg_of(101, KEY(2), 0600);
	int id;

	assert_true(theirs >= 0);
	id = lock_table_semid(t, &seg);
	assert_true(id >= 0);
	assert_int_not_equal(id, theirs);
	assert_private_set(id);
	assert_int_equal(lock_table_semid(t, &seg), id);
	/* Marked for destruction: it was private already, so it stays. */
	seg.key = 0;
	seg.mode |= SEGMENT_MODE_DEST;
	assert_int_equal(lock_table_semid(t, &seg), id);
	lock_table_free(t);
	assert_false(set_exists(id));
	assert_true(set_exists(theirs));
	remove_set(theirs);
}

static void test_table_creates_missing_set(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info seg = seg_of(102, KEY(3), 0640 | SEGMENT_MODE_LOCKED);
	struct semid_ds ds;
	int id;

	assert_int_equal(semget(KEY(3), 0, 0), -1);
	assert_int_equal(errno, ENOENT);
	id = lock_table_semid(t, &seg);
	assert_true(id >= 0);
	assert_int_equal(semget(KEY(3), 0, 0), id);
	stat_set(id, &ds);
	assert_int_equal(ds.sem_perm.mode & 0777, 0640);
	assert_int_equal(ds.sem_nsems, 3);
	assert_int_equal(ds.sem_perm.uid, getuid());
	for (int i = 0; i < 3; i++)
		assert_int_equal(semval(id, i), 0);
	assert_int_equal(lock_table_semid(t, &seg), id);
	lock_table_free(t);
	assert_false(set_exists(id));
	assert_int_equal(semget(KEY(3), 0, 0), -1);
}

static void test_table_sweep_removes_missing(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info segs[2] = { seg_of(103, KEY(4), 0600), seg_of(104, 0, 0600) };
	int keyed = lock_table_semid(t, &segs[0]);
	int private = lock_table_semid(t, &segs[1]);

	assert_true(keyed >= 0);
	assert_true(private >= 0);
	sweep_with(t, segs, 2);
	sweep_with(t, segs, 2);
	assert_true(set_exists(keyed));
	assert_true(set_exists(private));

	/* segs[0] is gone. */
	sweep_with(t, &segs[1], 1);
	assert_false(set_exists(keyed));
	assert_true(set_exists(private));
	assert_int_equal(lock_table_semid(t, &segs[1]), private);

	/* Both gone. */
	sweep_with(t, NULL, 0);
	assert_false(set_exists(private));
	lock_table_free(t);
}

static void test_table_sweep_spares_new_entries(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info seg = seg_of(105, KEY(5), 0600);
	int id;

	sweep_with(t, NULL, 0);
	id = lock_table_semid(t, &seg);
	/* The list may have been read before the segment appeared. */
	sweep_with(t, NULL, 0);
	assert_true(set_exists(id));
	assert_int_equal(lock_table_semid(t, &seg), id);
	sweep_with(t, NULL, 0);
	assert_false(set_exists(id));
	lock_table_free(t);
}

static void test_table_private_per_segment(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info a = seg_of(106, 0, 0600), b = seg_of(107, 0, 0660);
	struct semid_ds ds;
	int ida = lock_table_semid(t, &a);
	int idb = lock_table_semid(t, &b);

	assert_true(ida >= 0);
	assert_true(idb >= 0);
	assert_int_not_equal(ida, idb);
	assert_private_set(ida);
	assert_private_set(idb);
	stat_set(idb, &ds);
	assert_int_equal(ds.sem_perm.mode & 0777, 0660);
	assert_int_equal(lock_table_semid(t, &a), ida);
	assert_int_equal(lock_table_semid(t, &b), idb);
	lock_table_free(t);
	assert_false(set_exists(ida));
	assert_false(set_exists(idb));
}

static void test_table_key_lost(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info seg = seg_of(108, KEY(6), 0660);
	int theirs = semget(KEY(7), 3, IPC_CREAT | IPC_EXCL | 0600);
	struct segment_info other = seg_of(109, KEY(7), 0600);
	int keyed = lock_table_semid(t, &seg);
	int keyed_theirs = lock_table_semid(t, &other);
	int private, private_other;

	assert_true(keyed >= 0);
	assert_int_equal(keyed_theirs, theirs);

	/* Marked for destruction: the kernel shows key 0 and SHM_DEST. */
	seg.key = 0;
	seg.mode |= SEGMENT_MODE_DEST;
	private = lock_table_semid(t, &seg);
	assert_true(private >= 0);
	assert_int_not_equal(private, keyed);
	assert_private_set(private);
	assert_true(set_exists(keyed));
	assert_int_equal(lock_table_semid(t, &seg), private);

	/* SHM_DEST alone is enough. */
	other.mode |= SEGMENT_MODE_DEST;
	private_other = lock_table_semid(t, &other);
	assert_true(private_other >= 0);
	assert_int_not_equal(private_other, theirs);
	assert_private_set(private_other);

	/* Still attached somewhere: everything stays. */
	struct segment_info live[2] = { seg, other };

	sweep_with(t, live, 2);
	sweep_with(t, live, 2);
	assert_true(set_exists(keyed));
	assert_true(set_exists(private));
	assert_true(set_exists(private_other));
	assert_int_equal(lock_table_semid(t, &seg), private);

	/* Gone: both sets we made for it go, the foreign one stays. */
	sweep_with(t, NULL, 0);
	assert_false(set_exists(keyed));
	assert_false(set_exists(private));
	assert_false(set_exists(private_other));
	assert_true(set_exists(theirs));
	lock_table_free(t);
	assert_true(set_exists(theirs));
	remove_set(theirs);
}

static void test_table_shmid_reused(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info old = seg_of(110, KEY(8), 0600);
	struct segment_info new = seg_of(110, KEY(9), 0600);
	struct segment_info newer = seg_of(110, KEY(10), 0600);
	int id_old = lock_table_semid(t, &old);
	int id_new, id_newer;

	assert_true(id_old >= 0);
	/* The sweep sees shmid 110 with another key: a new segment. */
	sweep_with(t, &new, 1);
	sweep_with(t, &new, 1);
	assert_false(set_exists(id_old));
	id_new = lock_table_semid(t, &new);
	assert_true(id_new >= 0);
	assert_int_equal(semget(KEY(9), 0, 0), id_new);

	/* So does a lookup. */
	id_newer = lock_table_semid(t, &newer);
	assert_true(id_newer >= 0);
	assert_false(set_exists(id_new));
	assert_int_equal(semget(KEY(10), 0, 0), id_newer);
	lock_table_free(t);
	assert_false(set_exists(id_newer));
}

static void test_table_invalidate(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info seg = seg_of(111, 0, 0600);
	struct segment_info keyed = seg_of(112, KEY(11), 0600);
	int theirs = semget(KEY(11), 3, IPC_CREAT | IPC_EXCL | 0600);
	int id = lock_table_semid(t, &seg);
	int id2, mine;

	assert_true(id >= 0);
	/* Some other semid: nothing happens. */
	lock_table_invalidate(t, seg.shmid, id + 1);
	lock_table_invalidate(t, 999, id);
	assert_int_equal(lock_table_semid(t, &seg), id);

	remove_set(id);
	id2 = lock_acquire(id, LOCK_MODE_SHARED, 0, NULL, NULL);
	assert_true(id2 == -EIDRM || id2 == -EINVAL);
	lock_table_invalidate(t, seg.shmid, id);
	id2 = lock_table_semid(t, &seg);
	assert_true(id2 >= 0);
	assert_int_not_equal(id2, id);
	assert_int_equal(lock_acquire(id2, LOCK_MODE_SHARED, 0, NULL, NULL), 0);
	assert_int_equal(lock_release(id2, LOCK_MODE_SHARED), 0);

	/* The key's owner removed its set (as ShareLite's -destroy does):
	 * we make the key's set anew, and so remove it later. */
	assert_int_equal(lock_table_semid(t, &keyed), theirs);
	remove_set(theirs);
	lock_table_invalidate(t, keyed.shmid, theirs);
	mine = lock_table_semid(t, &keyed);
	assert_true(mine >= 0);
	assert_int_equal(semget(KEY(11), 0, 0), mine);
	lock_table_free(t);
	assert_false(set_exists(mine));
	assert_false(set_exists(id2));
}

#define MANY 2000

static void test_table_many_segments(void **state)
{
	struct lock_table *t = lock_table_new();
	struct segment_info *segs = calloc(MANY, sizeof(*segs));
	int *ids = calloc(MANY, sizeof(*ids));

	assert_non_null(segs);
	assert_non_null(ids);
	/* shmids as the kernel makes them: index + 32768 * sequence. */
	for (int i = 0; i < MANY; i++) {
		segs[i] = seg_of(i + 32768 * (i % 7), 0, 0600);
		ids[i] = lock_table_semid(t, &segs[i]);
		assert_true(ids[i] >= 0);
	}
	for (int i = 0; i < MANY; i++)
		assert_int_equal(lock_table_semid(t, &segs[i]), ids[i]);

	/* The first half goes. */
	sweep_with(t, segs + MANY / 2, MANY / 2);
	sweep_with(t, segs + MANY / 2, MANY / 2);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(set_exists(ids[i]), i >= MANY / 2);
		if (i >= MANY / 2)
			assert_int_equal(lock_table_semid(t, &segs[i]), ids[i]);
	}
	lock_table_free(t);
	for (int i = MANY / 2; i < MANY; i++)
		assert_false(set_exists(ids[i]));
	free(segs);
	free(ids);
}

#define NTHREADS 4
#define NROUNDS	 50
#define NSEGS	 20

struct racer {
	struct lock_table *t;
	pthread_barrier_t *start;
	int ids[NROUNDS][NSEGS];
};

/* Every round, all threads ask at once for segments new to the table. */
static void *race(void *arg)
{
	struct racer *r = arg;

	for (int round = 0; round < NROUNDS; round++) {
		pthread_barrier_wait(r->start);
		for (int i = 0; i < NSEGS; i++) {
			int n = round * NSEGS + i;
			struct segment_info seg = seg_of(5000 + n, n % 2 ? KEY(1000 + n) : 0, 0600);

			r->ids[round][i] = lock_table_semid(r->t, &seg);
		}
	}
	return NULL;
}

static void test_table_threads(void **state)
{
	struct lock_table *t = lock_table_new();
	static struct racer racers[NTHREADS];
	pthread_t threads[NTHREADS];
	pthread_barrier_t start;

	assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
	for (int i = 0; i < NTHREADS; i++) {
		racers[i].t = t;
		racers[i].start = &start;
		assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	pthread_barrier_destroy(&start);
	/* One set per segment, whoever asked first. */
	for (int round = 0; round < NROUNDS; round++) {
		for (int i = 0; i < NSEGS; i++) {
			int id = racers[0].ids[round][i];

			assert_true(id >= 0);
			for (int j = 1; j < NTHREADS; j++)
				assert_int_equal(racers[j].ids[round][i], id);
		}
	}
	lock_table_free(t);
	for (int round = 0; round < NROUNDS; round++)
		for (int i = 0; i < NSEGS; i++)
			assert_false(set_exists(racers[0].ids[round][i]));
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
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
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
	struct segment_info seg;
	struct shmid_ds ds;
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
	t = lock_table_new();
	semid = lock_table_semid(t, &seg);
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

	/* Not ours: freeing the table leaves ShareLite's set alone. */
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
		cmocka_unit_test(test_release_unheld),
		cmocka_unit_test(test_table_reuses_existing_set),
		cmocka_unit_test(test_table_small_set_gets_private),
		cmocka_unit_test(test_table_creates_missing_set),
		cmocka_unit_test(test_table_sweep_removes_missing),
		cmocka_unit_test(test_table_sweep_spares_new_entries),
		cmocka_unit_test(test_table_private_per_segment),
		cmocka_unit_test(test_table_key_lost),
		cmocka_unit_test(test_table_shmid_reused),
		cmocka_unit_test(test_table_invalidate),
		cmocka_unit_test(test_table_many_segments),
		cmocka_unit_test(test_table_threads),
		cmocka_unit_test_teardown(test_sharelite_interop, sharelite_teardown),
	};

	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
