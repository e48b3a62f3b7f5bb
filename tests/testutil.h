/* testutil.h - isolation helpers shared by the tests. */
#ifndef SHMFS_TESTUTIL_H
#define SHMFS_TESTUTIL_H

#include <stdbool.h>
#include <sys/types.h>

/* Built with ASan (so is the daemon the test runs: the same build), whose
 * shadow memory makes memory figures meaningless. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Exit code meson understands as "skipped". */
#define TEST_SKIP 77

/* True when running under CI (CI=true): a skip is then a failure. */
bool testutil_in_ci(void);

/* Move this process into a private IPC namespace (and, if with_mount, a
 * private mount namespace with "/" made recursively private), so nothing
 * it creates can touch the machine's own segments or mounts.  If that is
 * impossible (not root), exits with TEST_SKIP, or with 1 under CI. */
void testutil_isolate(bool with_mount);

/* The daemons' state directory (SHMFS_STATE_DIR, set in the
 * environment) that testutil_isolate() made: a temporary directory of
 * this test program's, removed at its exit, so that no record of a set
 * goes to the host's /run/shmfs.  "" before testutil_isolate(). */
const char *testutil_state_dir(void);

/* Line-buffered output and a watchdog: SIGALRM ends the test program
 * after seconds (four times that under SHMFS_WRAPPER, a slow tool such as
 * valgrind), so a hang fails the test instead of stalling the suite. */
void testutil_watchdog(unsigned int seconds);

/* fork() for a test: output flushed first (nothing printed twice), and the
 * child dies with the test program (PR_SET_PDEATHSIG).  Exits the test
 * program if fork fails. */
pid_t testutil_fork(void);

/* A child that takes something and holds it until killed: it runs
 * take(arg) and, once that returned 0, the call returns its pid.  Returns
 * -1 (the child reaped) if take failed.  The child keeps what it took (a
 * lock with SEM_UNDO, open files, a namespace) until testutil_kill(). */
pid_t testutil_fork_holder(int (*take)(void *arg), void *arg);

/* In a child: become uid entirely (no supplementary groups; real,
 * effective and saved uid and gid), still dying with the test program
 * (the change of ids clears PR_SET_PDEATHSIG: set again).  _exit(100) if
 * it cannot. */
void testutil_become(uid_t uid);

/* SIGKILL a child and reap it. */
void testutil_kill(pid_t pid);

/* waitpid, bounded: the child's wait status, or -1 if it did not end
 * within seconds (it is then killed and reaped). */
int testutil_wait_bounded(pid_t pid, int seconds);

/* Whether a child has not ended yet, without reaping it. */
bool testutil_still_running(pid_t pid);

/* kernel.<kind>_next_id of this IPC namespace ("shm", "sem", "msg"): the
 * next object of that kind made gets id.  Whether it could be written. */
bool testutil_set_next_id(const char *kind, int id);

/* How many objects /proc/sysvipc/<kind> ("shm", "sem", "msg") lists in
 * this IPC namespace; -1 if it cannot be read. */
int testutil_sysvipc_count(const char *kind);

/* cmocka_run_group_tests(), except that a failed group teardown fails
 * the test program too: cmocka 1.1 only prints "GROUP TEARDOWN" and
 * counts failed tests, so a teardown's checks (the daemon's exit status,
 * nothing left behind) would fail nobody.  The teardown runs after the
 * tests, as cmocka's would. */
#define testutil_run_group_tests(tests, setup, teardown)                                           \
	testutil_torn_down((testutil_filter(), cmocka_run_group_tests(tests, setup, NULL)),        \
			   teardown)

/* SHMFS_TEST=PATTERN runs only the tests whose names match (cmocka's
 * filter: '*' and '?'), to repeat one test under load. */
void testutil_filter(void);

/* failed, or failed + 1 if teardown (run now) fails. */
int testutil_torn_down(int failed, int (*teardown)(void **state));

#endif
