/* test_watch.c - src/watch.c and src/ownset.c: write counts and waiters,
 * waits for posts woken by the kernel (one of the parking module's set
 * threads waits on the set), notification sets proven the daemon's before
 * they are touched, and the record a killed daemon leaves for the next;
 * in a private IPC namespace, with kernel.sem_next_id to bring a semid
 * back. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "lockwait.h"
#include "ownset.h"
#include "semun.h"
#include "testutil.h"
#include "watch.h"

static struct watch_table *table;
static struct lockwait *waits;

/* Looks, 10 ms apart, before a test gives up on something another thread
 * does: a bound on looks, not a timing asserted. */
#define LOOKS 1000

static bool set_exists(int semid)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	return semctl(semid, 0, IPC_STAT, arg) == 0;
}

struct waiter {
	struct watch_waiter w;
	int fired;
	int err;
};

/* Called on the set's thread, or on the test's. */
static void fire(struct watch_waiter *w, int err)
{
	struct waiter *me = (struct waiter *)w;

	__atomic_store_n(&me->err, err, __ATOMIC_RELAXED);
	__atomic_add_fetch(&me->fired, 1, __ATOMIC_RELEASE);
}

static int fired(struct waiter *me)
{
	return __atomic_load_n(&me->fired, __ATOMIC_ACQUIRE);
}

/* Until me fired (bounded): nothing but the set's thread fires it. */
static void await_fired(struct waiter *me)
{
	for (int look = 0; look < LOOKS && !fired(me); look++)
		usleep(10000);
	assert_int_equal(fired(me), 1);
}

/* Until n threads wait in the kernel for semid's value to rise. */
static void await_ncount(int semid, int n)
{
	int look = 0;

	while (look++ < LOOKS && semctl(semid, 0, GETNCNT) != n)
		usleep(10000);
	assert_int_equal(semctl(semid, 0, GETNCNT), n);
}

static struct segment_info seg_of(int shmid)
{
	return (struct segment_info){ .shmid = shmid,
				      .cpid = 1,
				      .cuid = 0,
				      .size = 4096,
				      .uid = 1000,
				      .gid = 1000,
				      .mode = 0640 };
}

/* The sets' records go to testutil_state_dir(), made and removed by
 * testutil_isolate(). */
static int setup(void **state)
{
	return 0;
}

/* A table of its own for each test (one test stops its table). */
static int table_setup(void **state)
{
	waits = lockwait_new(16, 4);
	table = waits ? watch_table_new(NULL, waits) : NULL;
	return table ? 0 : -1;
}

static int table_teardown(void **state)
{
	watch_table_unpark(table);
	lockwait_free(waits);
	watch_table_free(table);
	return 0;
}

static int teardown(void **state)
{
	return 0;
}

/* The state is the owner's: two owners (two lifetimes of one shmid) have
 * two; a write through the mount fires only its own waiters. */
static void test_state_per_lifetime(void **state)
{
	struct segment_info seg = seg_of(7);
	struct segment_identity id;
	struct waiter a = { .w.fire = fire }, b = { .w.fire = fire };
	int owner1, owner2;
	struct watch_seg *s1, *s2, *again;

	identity_weak(&seg, &id);
	s1 = watch_get(table, &owner1, &id);
	s2 = watch_get(table, &owner2, &id);
	again = watch_get(table, &owner1, &id);
	assert_ptr_equal(s1, again);
	assert_ptr_not_equal(s1, s2);
	assert_int_equal(watch_wait(table, s1, watch_written(s1), &a.w), 0);
	assert_int_equal(watch_wait(table, s2, watch_written(s2), &b.w), 0);
	watch_mark_written(table, s1);
	assert_int_equal(a.fired, 1);
	assert_int_equal(a.err, 0);
	assert_int_equal(b.fired, 0);
	assert_int_equal(watch_wait(table, s1, 0, &a.w), 1); /* it moved already */
	watch_table_stop(table);
	assert_int_equal(b.fired, 1);
	assert_int_equal(b.err, -ESHUTDOWN);
	watch_put(table, again);
	watch_put(table, s1);
	watch_put(table, s2);
}

/* The set is handed to the segment's owner with its read and write bits;
 * an outside post counts as a write; the last stop removes the set. */
static void test_set_handed_and_posted(void **state)
{
	struct segment_info seg = seg_of(8);
	struct segment_identity id;
	struct sembuf post = { 0, 1, IPC_NOWAIT };
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	int owner, semid, sets = testutil_sysvipc_count("sem");
	struct watch_seg *s;

	identity_weak(&seg, &id);
	s = watch_get(table, &owner, &id);
	assert_int_equal(watch_start(table, s, &seg, 0), 0);
	semid = watch_notify_semid(table, &seg);
	assert_true(semid >= 0);
	assert_int_equal(semctl(semid, 0, IPC_STAT, arg), 0);
	assert_int_equal(ds.sem_perm.uid, 1000);
	assert_int_equal(ds.sem_perm.gid, 1000);
	assert_int_equal(ds.sem_perm.mode & 0777, 0640);
	assert_int_equal(ds.sem_perm.cuid, geteuid());
	assert_int_equal(testutil_sysvipc_count("sem"), sets + 1);
	assert_int_equal(semop(semid, &post, 1), 0);
	assert_int_equal(watch_refresh(table, s), 1);
	/* chmod: the set follows */
	seg.mode = 0600;
	watch_set_perm(table, &id, &seg);
	assert_int_equal(semctl(semid, 0, IPC_STAT, arg), 0);
	assert_int_equal(ds.sem_perm.mode & 0777, 0600);
	watch_stop(table, s);
	assert_false(set_exists(semid));
	assert_int_equal(testutil_sysvipc_count("sem"), sets);
	assert_int_equal(watch_notify_semid(table, &seg), -1);
	watch_put(table, s);
}

/* The owner removes the set; another user's set gets its semid.  The
 * waiter gets -EIDRM, the sidecar's value is WATCH_SET_LOST, the other
 * set is never touched (no post taken, not removed at the stop), and a
 * refresh makes a new set.  The waiter hears it from the set's thread,
 * whose wait the removal ends: nobody sweeps here. */
static void test_set_removed_by_its_owner(void **state)
{
	int shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	struct segment_info seg;
	struct segment_identity id;
	struct waiter a = { .w.fire = fire };
	union semun one = { .val = 1 };
	int owner, semid, theirs, fresh;
	struct watch_seg *s;

	/* a real segment: it is not gone, the set is */
	assert_int_equal(segment_stat(shmid, false, &seg), 0);
	identity_weak(&seg, &id);
	s = watch_get(table, &owner, &id);
	assert_int_equal(watch_start(table, s, &seg, 0), 0);
	semid = watch_notify_semid(table, &seg);
	assert_int_equal(watch_wait(table, s, watch_written(s), &a.w), 0);
	await_ncount(semid, 1);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	assert_true(testutil_set_next_id("sem", semid));
	theirs = semget(IPC_PRIVATE, 1, IPC_CREAT | 0666);
	assert_int_equal(theirs, semid);
	assert_int_equal(semctl(theirs, 0, SETVAL, one), 0); /* a "post" of theirs */
	await_fired(&a);
	assert_int_equal(a.err, -EIDRM);
	assert_int_equal(watch_written(s), 0);
	assert_int_equal(semctl(theirs, 0, GETVAL), 1);
	assert_int_equal(watch_notify_semid(table, &seg), WATCH_SET_LOST);
	watch_refresh(table, s);
	fresh = watch_notify_semid(table, &seg);
	assert_true(fresh >= 0 && fresh != theirs);
	watch_stop(table, s);
	assert_true(set_exists(theirs));
	assert_false(set_exists(fresh));
	semctl(theirs, 0, IPC_RMID);
	watch_put(table, s);
	shmctl(shmid, IPC_RMID, NULL);
}

/* An outside post wakes the waiter through the kernel: the set's thread
 * waits on the set (ncount 1, as ipcs -s -i shows) and fires the waiter
 * when the post comes; nobody sweeps or refreshes here.  The posts are
 * all taken (one write; posts made after the waiters fired stay for the
 * next reader); the thread goes once nobody waits.  Planted: the
 * 10 ms tick back in place of the thread (watch_park_locked() parking
 * nothing) fails at await_ncount(). */
static void test_post_wakes_waiter(void **state)
{
	struct segment_info seg = seg_of(9);
	struct segment_identity id;
	struct waiter a = { .w.fire = fire }, b = { .w.fire = fire };
	struct sembuf posts[2] = { { 0, 1, IPC_NOWAIT }, { 0, 1, IPC_NOWAIT } };
	int owner, semid, look = 0;
	struct watch_seg *s;

	identity_weak(&seg, &id);
	s = watch_get(table, &owner, &id);
	assert_int_equal(watch_start(table, s, &seg, 0), 0);
	semid = watch_notify_semid(table, &seg);
	assert_int_equal(watch_wait(table, s, watch_written(s), &a.w), 0);
	assert_int_equal(watch_wait(table, s, watch_written(s), &b.w), 0);
	await_ncount(semid, 1); /* one thread for the set, not one per waiter */
	assert_int_equal(lockwait_threads(waits), 1);
	assert_int_equal(fired(&a) + fired(&b), 0);
	assert_int_equal(semop(semid, posts, 2), 0); /* two posts at once */
	await_fired(&a);
	await_fired(&b);
	assert_int_equal(a.err, 0);
	assert_int_equal(b.err, 0);
	assert_true(watch_written(s) >= 1);
	while (look++ < LOOKS && (semctl(semid, 0, GETVAL) != 0 || lockwait_threads(waits) != 0))
		usleep(10000);
	assert_int_equal(semctl(semid, 0, GETVAL), 0);
	assert_int_equal(lockwait_threads(waits), 0); /* it lingered, then ended */
	watch_stop(table, s);
	watch_put(table, s);
}

/* An abandoned waiter (an interrupted read) is fired with -EINTR by its
 * set's thread, kicked: no post is ever made and nobody sweeps.  The
 * other waiter still waits, and a waiter abandoned before it waits is
 * refused.  Planted: watch_abandon() only marking the waiter (left for a
 * sweep) fails at await_fired(). */
static void test_abandon_answered_at_once(void **state)
{
	struct segment_info seg = seg_of(10);
	struct segment_identity id;
	struct waiter a = { .w.fire = fire }, b = { .w.fire = fire }, c = { .w.fire = fire };
	int owner, semid;
	struct watch_seg *s;

	identity_weak(&seg, &id);
	s = watch_get(table, &owner, &id);
	assert_int_equal(watch_start(table, s, &seg, 0), 0);
	semid = watch_notify_semid(table, &seg);
	assert_int_equal(watch_wait(table, s, watch_written(s), &a.w), 0);
	assert_int_equal(watch_wait(table, s, watch_written(s), &b.w), 0);
	await_ncount(semid, 1);
	watch_abandon(table, &a.w);
	await_fired(&a);
	assert_int_equal(a.err, -EINTR);
	assert_int_equal(fired(&b), 0);
	await_ncount(semid, 1); /* waiting again, for b */
	watch_abandon(table, &c.w);
	assert_int_equal(watch_wait(table, s, watch_written(s), &c.w), -EINTR);
	watch_mark_written(table, s);
	assert_int_equal(fired(&b), 1);
	assert_int_equal(b.err, 0);
	watch_stop(table, s);
	watch_put(table, s);
}

/* The owner removes the set while nobody waits: the read that comes
 * next (a refresh, then a wait, as fs_io.c's next_read) finds it gone and
 * waits on a new set, which a post then fires (issue 18's harness, semrm).
 * Planted: the remake before the loss is seen (the old order in
 * watch_refresh()) gives that read -EIDRM. */
static void test_read_after_set_removed_waits(void **state)
{
	int shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	struct segment_info seg;
	struct segment_identity id;
	struct waiter a = { .w.fire = fire };
	struct sembuf post = { 0, 1, IPC_NOWAIT };
	int owner, semid, fresh;
	struct watch_seg *s;

	assert_int_equal(segment_stat(shmid, false, &seg), 0);
	identity_weak(&seg, &id);
	s = watch_get(table, &owner, &id);
	assert_int_equal(watch_start(table, s, &seg, 0), 0);
	semid = watch_notify_semid(table, &seg);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	watch_refresh(table, s);
	assert_int_equal(watch_wait(table, s, watch_written(s), &a.w), 0);
	fresh = watch_notify_semid(table, &seg);
	assert_true(fresh >= 0);
	await_ncount(fresh, 1); /* waiting on the new set */
	assert_int_equal(fired(&a), 0);
	assert_int_equal(semop(fresh, &post, 1), 0);
	await_fired(&a);
	assert_int_equal(a.err, 0);
	watch_stop(table, s);
	assert_false(set_exists(fresh));
	watch_put(table, s);
	shmctl(shmid, IPC_RMID, NULL);
}

/* A destroyed segment's waiter hears ENOENT (nothing can write it any
 * more), whether or not its set was removed too: from the set's thread
 * (its wait finds the set gone) or the sweep, whichever sees it first.
 * Planted: the lost set looked at before the gone segment (in
 * watch_sweep() then) gave -EIDRM. */
static void test_gone_segment_with_its_set_removed(void **state)
{
	int shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	struct segment_info seg;
	struct segment_identity id;
	struct waiter a = { .w.fire = fire };
	int owner, semid;
	struct watch_seg *s;

	assert_int_equal(segment_stat(shmid, false, &seg), 0);
	identity_weak(&seg, &id);
	s = watch_get(table, &owner, &id);
	assert_int_equal(watch_start(table, s, &seg, 0), 0);
	semid = watch_notify_semid(table, &seg);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	assert_int_equal(shmctl(shmid, IPC_RMID, NULL), 0); /* nobody attached: destroyed */
	assert_int_equal(watch_wait(table, s, watch_written(s), &a.w), 0);
	watch_sweep(table);
	await_fired(&a);
	assert_int_equal(a.err, -ENOENT);
	watch_stop(table, s);
	watch_put(table, s);
}

/* A segment removed through the mount (watch_removed() after its
 * IPC_RMID): while another program is attached it can still be written,
 * and its waiter waits on; once that removal destroyed it, the waiter is
 * fired with -ENOENT before watch_removed() returns, with no sweep.
 * Planted: watch_removed() doing nothing fails at the second fired(). */
static void test_removed_fires_at_once(void **state)
{
	int shmid = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	struct segment_info seg;
	struct segment_identity id;
	/* outlives a failed assertion: the table's teardown fires it */
	static struct waiter a;
	struct watch_seg *s;
	static int owner;
	void *addr;

	a = (struct waiter){ .w.fire = fire };
	assert_int_equal(segment_stat(shmid, false, &seg), 0);
	identity_weak(&seg, &id);
	s = watch_get(table, &owner, &id);
	assert_int_equal(watch_start(table, s, &seg, 0), 0);
	assert_int_equal(watch_wait(table, s, watch_written(s), &a.w), 0);
	addr = shmat(shmid, NULL, SHM_RDONLY); /* another program's attachment */
	assert_true(addr != (void *)-1);
	assert_int_equal(shmctl(shmid, IPC_RMID, NULL), 0);
	watch_removed(table, &id);
	assert_int_equal(fired(&a), 0);
	assert_int_equal(shmdt(addr), 0); /* the last attachment: destroyed */
	watch_removed(table, &id);
	assert_int_equal(fired(&a), 1);
	assert_int_equal(a.err, -ENOENT);
	watch_stop(table, s);
	watch_put(table, s);
}

/* A set changed by someone else (its owner's IPC_SET) is not provably
 * ours: left alone at the stop. */
static void test_changed_set_left_alone(void **state)
{
	struct own_set set;
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	assert_int_equal(ownset_make(1, &set), 0);
	assert_true(ownset_proven(&set));
	assert_int_equal(ownset_hand(&set, 1000, 1000, 0600), 0);
	assert_true(ownset_proven(&set));
	sleep(1); /* sem_ctime has one-second steps */
	assert_int_equal(semctl(set.semid, 0, IPC_STAT, arg), 0);
	ds.sem_perm.mode = 0600;
	assert_int_equal(semctl(set.semid, 0, IPC_SET, arg), 0);
	assert_false(ownset_proven(&set));
	int semid = set.semid;

	assert_int_equal(ownset_remove(&set), -ESTALE);
	assert_true(set_exists(semid));
	semctl(semid, 0, IPC_RMID);
}

/* What a daemon killed with -9 recorded: the next one removes the sets it
 * can prove and leaves the others.  A dead daemon is a record directory
 * whose pid-start names no live process. */
static void test_reclaim_after_kill(void **state)
{
	char dir[256], cmd[600];
	struct own_set mine, changed;
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	struct stat st;

	assert_int_equal(ownset_make(1, &mine), 0);
	assert_int_equal(ownset_hand(&mine, 1000, 1000, 0666), 0);
	assert_int_equal(ownset_make(1, &changed), 0);
	/* move this process's records where a dead daemon's would be */
	assert_int_equal(stat("/proc/self/ns/ipc", &st), 0);
	snprintf(dir, sizeof(dir), "%s/ipc-%lu-%lu", testutil_state_dir(), (unsigned long)st.st_dev,
		 (unsigned long)st.st_ino);
	snprintf(cmd, sizeof(cmd), "mv %s/%d-* %s/999999999-1", dir, (int)getpid(), dir);
	assert_int_equal(system(cmd), 0);
	/* one of them changed by another since */
	sleep(1);
	assert_int_equal(semctl(changed.semid, 0, IPC_STAT, arg), 0);
	ds.sem_perm.mode = 0644;
	assert_int_equal(semctl(changed.semid, 0, IPC_SET, arg), 0);
	assert_int_equal(ownset_reclaim(), 1);
	assert_false(set_exists(mine.semid));
	assert_true(set_exists(changed.semid));
	semctl(changed.semid, 0, IPC_RMID);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", dir);
	assert_int_equal(system(cmd), 0); /* the records went too */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_per_lifetime, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_set_handed_and_posted, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_set_removed_by_its_owner, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_read_after_set_removed_waits, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_gone_segment_with_its_set_removed, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_post_wakes_waiter, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_abandon_answered_at_once, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_removed_fires_at_once, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_changed_set_left_alone, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_after_kill, table_setup,
						table_teardown),
	};

	testutil_watchdog(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, setup, teardown);
}
