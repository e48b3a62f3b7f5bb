/* test_semwait.c - a -N written to a semaphore's file in sem/ that cannot
 * go through now waits (issue 23), through a real mount: released by a
 * +1 to the same file from another process (the kernel lets both writes
 * into the daemon at once), by a semop of another program, by SETVAL;
 * ended by Ctrl-C (EINTR), by the set's removal (EIDRM), at lock_timeout
 * (ETIMEDOUT); where the kernel would hold the file's lock for the whole
 * wait (O_TRUNC, O_APPEND) it does not wait (EAGAIN), nor does an
 * O_NONBLOCK one; and uid 65534's waits are bounded by its budgets and
 * leave root's alone; the set's stat names the writers waiting, to those
 * who may see them.  A wait is seen as the kernel's semncnt (the
 * daemon's thread in semtimedop), never by a clock. */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "semun.h"
#include "testutil.h"

#define WATCHDOG_S 240
#define NOBODY	   65534
/* A writer's exit status: the write's errno (0: done); an open that
 * failed: OPEN_FAILED + its errno. */
#define OPEN_FAILED 128

static const char *shmfs_path;
static struct test_mount mnt;

#define M_DIR mnt.dir

static int setup(void **state)
{
	/* A long lock_timeout: only a planted bug waits for it. */
	static const char *const args[] = { "-o", "allow_other,lock_timeout=30", NULL };

	(void)state;
	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return mount_stop_clean(&mnt);
}

static char *sem_path(char *buf, size_t size, const char *dir, int semid, int num)
{
	snprintf(buf, size, "%s/sem/%d/%d", dir, semid, num);
	return buf;
}

static void on_sigint(int sig)
{
	(void)sig;
}

/* A child writing text to path (opened with flags) as uid: see
 * OPEN_FAILED.  With catch, SIGINT has a handler (no SA_RESTART: the
 * write ends with EINTR), else its default action (it kills). */
static pid_t start_writer(uid_t uid, const char *path, int flags, const char *text, bool catch)
{
	pid_t pid = testutil_fork();
	struct sigaction sa;
	int fd;

	if (pid)
		return pid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = catch ? on_sigint : SIG_DFL;
	sigaction(SIGINT, &sa, NULL);
	if (uid)
		testutil_become(uid);
	fd = open(path, flags);
	if (fd < 0)
		_exit(OPEN_FAILED + errno);
	_exit(write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : errno);
}

/* A writer's result (its exit status), bounded by the watchdog's clock. */
static int result_of(pid_t pid)
{
	int status = testutil_wait_bounded(pid, WATCHDOG_S);

	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The same write, by a child of the test's, to its end. */
static int write_as(uid_t uid, const char *path, int flags, const char *text)
{
	return result_of(start_writer(uid, path, flags, text, false));
}

/* Until semaphore num of semid has n waiters in the kernel (the daemon's
 * thread for a parked write): false if that never came (bounded by a
 * count of looks). */
static bool await_ncnt(int semid, int num, int n)
{
	for (int look = 0; look < 6000; look++) {
		if (semctl(semid, num, GETNCNT) == n)
			return true;
		usleep(10000);
	}
	return false;
}

/* Whether sem/semid/stat under dir, read as uid (root or 65534), has
 * the line "parked <pid> uid <uid> sem <num> op -1". */
static bool stat_shows_parked(const char *dir, int semid, uid_t reader, pid_t pid, uid_t uid,
			      int num)
{
	char out[16384], line[128];

	assert_int_equal(run(out, sizeof(out), "%s cat %s/sem/%d/stat",
			     reader ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "",
			     dir, semid),
			 0);
	snprintf(line, sizeof(line), "\nparked %d uid %u sem %d op -1\n", (int)pid, (unsigned)uid,
		 num);
	return strstr(out, line) != NULL;
}

static int make_set(int key, int nsems, int mode)
{
	int semid = semget(key, nsems, IPC_CREAT | IPC_EXCL | mode);

	assert_true(semid >= 0);
	return semid;
}

static int value_of(int semid, int num)
{
	return semctl(semid, num, GETVAL);
}

/* The -1 waits (the daemon's thread in semtimedop for it, the writer
 * still in its write); a +1 to the same file by another process goes
 * through at once and lets it through; so do another program's semop and
 * a SETVAL.  Planted: the sem/ files opened without parallel writes (the
 * +1 waited behind the -1 until lock_timeout: the -1 got ETIMEDOUT). */
static void test_wait_then_released(void **state)
{
	int semid = make_set(0x5e3001, 2, 0600);
	char p0[256], p1[256];
	struct sembuf up = { .sem_num = 0, .sem_op = 1 };
	union semun two = { .val = 2 };
	pid_t a;

	(void)state;
	sem_path(p0, sizeof(p0), M_DIR, semid, 0);
	sem_path(p1, sizeof(p1), M_DIR, semid, 1);
	a = start_writer(0, p0, O_WRONLY, "-1\n", false);
	assert_true(await_ncnt(semid, 0, 1));
	assert_true(testutil_still_running(a));
	assert_true(stat_shows_parked(M_DIR, semid, 0, a, 0, 0));
	assert_int_equal(write_as(0, p0, O_WRONLY, "+1\n"), 0);
	assert_int_equal(result_of(a), 0);
	assert_int_equal(value_of(semid, 0), 0);
	assert_int_equal(semctl(semid, 0, GETNCNT), 0);

	/* another program's semop */
	a = start_writer(0, p0, O_WRONLY, "-1", false);
	assert_true(await_ncnt(semid, 0, 1));
	assert_int_equal(semop(semid, &up, 1), 0);
	assert_int_equal(result_of(a), 0);
	assert_int_equal(value_of(semid, 0), 0);

	/* SETVAL through the mount (O_RDWR, as a shell's 1<> opens) */
	a = start_writer(0, p0, O_WRONLY, "-1", false);
	assert_true(await_ncnt(semid, 0, 1));
	assert_int_equal(write_as(0, p0, O_RDWR, "2"), 0);
	assert_int_equal(result_of(a), 0);
	assert_int_equal(value_of(semid, 0), 1);
	assert_int_equal(semctl(semid, 0, SETVAL, (union semun){ .val = 0 }), 0);

	/* Where the kernel would hold the file's lock through the wait it
	 * does not wait; nor with O_NONBLOCK; and a truncating open while a
	 * write waits is refused (it would wait, unkillable, behind it). */
	assert_int_equal(write_as(0, p1, O_WRONLY | O_TRUNC, "-1"), EAGAIN);
	assert_int_equal(write_as(0, p1, O_WRONLY | O_APPEND, "-1"), EAGAIN);
	assert_int_equal(write_as(0, p1, O_WRONLY | O_NONBLOCK, "-1"), EAGAIN);
	a = start_writer(0, p0, O_WRONLY, "-1", false);
	assert_true(await_ncnt(semid, 0, 1));
	assert_int_equal(write_as(0, p0, O_WRONLY | O_TRUNC, "+1"), OPEN_FAILED + EBUSY);
	assert_int_equal(write_as(0, p1, O_WRONLY | O_TRUNC, "+1"), 0); /* nobody waits on 1 */
	assert_true(testutil_still_running(a));
	assert_int_equal(semctl(semid, 0, SETVAL, two), 0);
	assert_int_equal(result_of(a), 0);
	assert_int_equal(value_of(semid, 0), 1);
	assert_int_equal(value_of(semid, 1), 1);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
}

/* How many writes the set's stat lists as parked (root reads). */
static int parked_count(const char *dir, int semid)
{
	char out[64];

	if (run(out, sizeof(out), "grep -c ^parked %s/sem/%d/stat", dir, semid) > 1)
		return -1;
	return atoi(out);
}

/* A parked -1 holds no worker: more of them than libfuse has worker
 * threads (10 at most by default) wait at once, and the mount still
 * answers (a read, a listing); one +N lets them all through, in turn.
 * Planted: the wait made in the worker (a blocking semop): the read hung
 * (the watchdog). */
static void test_holds_no_worker(void **state)
{
	enum {
		WRITERS = 24
	};
	int semid = make_set(0x5e3006, 1, 0600);
	char p0[256], out[256];
	pid_t w[WRITERS];
	int looks = 0;

	(void)state;
	sem_path(p0, sizeof(p0), M_DIR, semid, 0);
	for (int i = 0; i < WRITERS; i++)
		w[i] = start_writer(0, p0, O_WRONLY, "-1", false);
	while (parked_count(M_DIR, semid) != WRITERS && looks++ < 6000)
		usleep(10000);
	assert_int_equal(parked_count(M_DIR, semid), WRITERS);
	assert_int_equal(run(out, sizeof(out), "cat %s/sem/%d/0 && ls %s/sem/%d", M_DIR, semid,
			     M_DIR, semid),
			 0);
	assert_string_equal(out, "0\n0\nstat\n");
	assert_int_equal(write_as(0, p0, O_WRONLY, "+24"), 0);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(result_of(w[i]), 0);
	assert_int_equal(value_of(semid, 0), 0);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
}

/* Ctrl-C: a writer with a SIGINT handler gets EINTR, one without dies of
 * it; either way its -1 is gone from the kernel's count and takes nothing
 * from a later +1.  Planted: no interrupt callback (the wait went on to
 * lock_timeout, ETIMEDOUT). */
static void test_interrupted(void **state)
{
	int semid = make_set(0x5e3002, 1, 0600), status;
	char p0[256];
	pid_t a;

	(void)state;
	sem_path(p0, sizeof(p0), M_DIR, semid, 0);
	a = start_writer(0, p0, O_WRONLY, "-1", true);
	assert_true(await_ncnt(semid, 0, 1));
	assert_int_equal(kill(a, SIGINT), 0);
	assert_int_equal(result_of(a), EINTR);
	assert_true(await_ncnt(semid, 0, 0));

	a = start_writer(0, p0, O_WRONLY, "-1", false);
	assert_true(await_ncnt(semid, 0, 1));
	assert_int_equal(kill(a, SIGINT), 0);
	status = testutil_wait_bounded(a, WATCHDOG_S);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
	assert_true(await_ncnt(semid, 0, 0));
	assert_int_equal(write_as(0, p0, O_WRONLY, "+1"), 0);
	assert_int_equal(value_of(semid, 0), 1);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
}

/* The set removed while a -1 waits: EIDRM.  Planted: the removal taken
 * for a timeout and waited again (ETIMEDOUT). */
static void test_set_removed(void **state)
{
	int semid = make_set(0x5e3003, 1, 0600);
	char p0[256];
	pid_t a;

	(void)state;
	sem_path(p0, sizeof(p0), M_DIR, semid, 0);
	a = start_writer(0, p0, O_WRONLY, "-1", false);
	assert_true(await_ncnt(semid, 0, 1));
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	assert_int_equal(result_of(a), EIDRM);
}

/* A -1 parked behind another on the same semaphore (not itself in the
 * kernel) when the set is removed, and a look-alike (same creator, key
 * IPC_PRIVATE, nsems) made at its semid before the daemon's thread comes
 * to it (the daemon stopped meanwhile): both writes end with EIDRM, and
 * the new set's value is untouched.  The removal comes before the stop:
 * a stop takes every thread of the daemon out of its semtimedop (EINTR,
 * signal(7)), and the -5, proven again after it with the same weak
 * fingerprint, would act on the look-alike (the window the man page
 * names; root's SIGSTOP of the daemon widens it).  Planted (main before
 * the fix): the second passed its weak proof on the new set and took 1
 * from it (its write succeeded, the value 4) whenever the stop landed
 * before the daemon's thread came to it. */
static void test_removed_behind(void **state)
{
	int semid = semget(IPC_PRIVATE, 1, 0600), again;
	union semun five = { .val = 5 };
	char p0[256];
	pid_t a, b;

	(void)state;
	assert_true(semid >= 0);
	sem_path(p0, sizeof(p0), M_DIR, semid, 0);
	a = start_writer(0, p0, O_WRONLY, "-5", false);
	assert_true(await_ncnt(semid, 0, 1));
	b = start_writer(0, p0, O_WRONLY, "-1", false);
	for (int look = 0; look < 6000 && !stat_shows_parked(M_DIR, semid, 0, b, 0, 0); look++)
		usleep(10000);
	assert_true(stat_shows_parked(M_DIR, semid, 0, b, 0, 0));
	/* The -5 back in the kernel (a kick for the -1's arrival took it
	 * out for a moment): the removal below then answers it EIDRM in
	 * the kernel, synchronously, whatever the daemon does next. */
	for (int look = 0; look < 6000 && semctl(semid, 0, GETNCNT) != 1; look++)
		usleep(1000);
	assert_int_equal(semctl(semid, 0, GETNCNT), 1);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	assert_int_equal(kill(mnt.pid, SIGSTOP), 0);
	assert_true(testutil_set_next_id("sem", semid));
	again = semget(IPC_PRIVATE, 1, 0600);
	assert_int_equal(again, semid);
	assert_int_equal(semctl(again, 0, SETVAL, five), 0);
	assert_int_equal(kill(mnt.pid, SIGCONT), 0);
	assert_int_equal(result_of(a), EIDRM);
	assert_int_equal(result_of(b), EIDRM);
	assert_int_equal(value_of(again, 0), 5);
	assert_int_equal(semctl(again, 0, IPC_RMID), 0);
}

/* uid 65534 on a set it may alter (0666): its -1s wait, two at most
 * (max_waits=2: the next is ENOLCK at once, though a thread is free);
 * root's -1 then still waits and is let through.  A mount of its own: no
 * thread of an earlier test lingers in the shares.  Planted: no per-user
 * count of these waits (the third waited). */
static void test_hostile_bounded(void **state)
{
	static const char *const args[] = {
		"-o", "allow_other,lock_timeout=30,max_waits=2,max_lock_threads=3", NULL
	};
	int semid = make_set(0x5e3004, 4, 0666);
	struct test_mount m;
	char p[4][256];
	pid_t h0, h1, r;

	(void)state;
	mount_start(&m, shmfs_path, args);
	for (int i = 0; i < 4; i++)
		sem_path(p[i], sizeof(p[i]), m.dir, semid, i);
	h0 = start_writer(NOBODY, p[0], O_WRONLY, "-1", false);
	assert_true(await_ncnt(semid, 0, 1));
	h1 = start_writer(NOBODY, p[1], O_WRONLY, "-1", false);
	assert_true(await_ncnt(semid, 1, 1));
	assert_int_equal(write_as(NOBODY, p[2], O_WRONLY, "-1"), ENOLCK);
	assert_int_equal(semctl(semid, 2, GETNCNT), 0);

	r = start_writer(0, p[3], O_WRONLY, "-1", false);
	assert_true(await_ncnt(semid, 3, 1));
	/* who waits: a user sees their own parked writes, root all */
	assert_true(stat_shows_parked(m.dir, semid, NOBODY, h0, NOBODY, 0));
	assert_true(stat_shows_parked(m.dir, semid, NOBODY, h1, NOBODY, 1));
	assert_false(stat_shows_parked(m.dir, semid, NOBODY, r, 0, 3));
	assert_true(stat_shows_parked(m.dir, semid, 0, h0, NOBODY, 0));
	assert_true(stat_shows_parked(m.dir, semid, 0, r, 0, 3));
	assert_int_equal(write_as(0, p[3], O_WRONLY, "+1"), 0);
	assert_int_equal(result_of(r), 0);

	/* the hostile user's own waits go on, and end as anyone's */
	assert_true(testutil_still_running(h0) && testutil_still_running(h1));
	assert_int_equal(write_as(NOBODY, p[0], O_WRONLY, "+1"), 0);
	assert_int_equal(write_as(0, p[1], O_WRONLY, "+1"), 0);
	assert_int_equal(result_of(h0), 0);
	assert_int_equal(result_of(h1), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(value_of(semid, i), 0);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	assert_int_equal(mount_stop(&m), 0);
}

/* The deadline: lock_timeout=1 ends a wait nothing lets through with
 * ETIMEDOUT; lock_timeout=0 does not wait (EAGAIN). */
static void test_deadline(void **state)
{
	static const char *const one[] = { "-o", "lock_timeout=1", NULL };
	static const char *const none[] = { "-o", "lock_timeout=0", NULL };
	int semid = make_set(0x5e3005, 1, 0600);
	struct test_mount m;
	char p0[256];

	(void)state;
	mount_start(&m, shmfs_path, one);
	sem_path(p0, sizeof(p0), m.dir, semid, 0);
	assert_int_equal(write_as(0, p0, O_WRONLY, "-1"), ETIMEDOUT);
	assert_int_equal(mount_stop(&m), 0);
	mount_start(&m, shmfs_path, none);
	sem_path(p0, sizeof(p0), m.dir, semid, 0);
	assert_int_equal(write_as(0, p0, O_WRONLY, "-1"), EAGAIN);
	assert_int_equal(mount_stop(&m), 0);
	assert_int_equal(value_of(semid, 0), 0);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_then_released), cmocka_unit_test(test_holds_no_worker),
		cmocka_unit_test(test_interrupted),	   cmocka_unit_test(test_set_removed),
		cmocka_unit_test(test_removed_behind),	   cmocka_unit_test(test_hostile_bounded),
		cmocka_unit_test(test_deadline),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
