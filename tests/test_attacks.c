/* test_attacks.c - issue 19's attacks on a root allow_other mount, each
 * made by uid 65534 (the attacker) while another user (the victim) is
 * served.
 *
 * The assertions are on what users see and on the order of events (the
 * victim's answers come while every attacker request is still pending),
 * never on a duration: timings are bench/stall.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
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
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 300
#define ATTACKER   65534
#define VICTIM	   65533

static const char *shmfs_path;
static struct test_mount mnt;

#define M mnt.dir

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", "-o", "lock_timeout=3600", NULL };

	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	if (mnt.pid > 0) {
		int status = mount_stop(&mnt);

		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return -1;
	}
	return 0;
}

static void become(uid_t uid)
{
	if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		_exit(100);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static int sets_now(void)
{
	int n = testutil_sysvipc_count("sem");

	assert_true(n >= 0);
	return n;
}

/* ---- the poll race ---------------------------------------------------------- */

#define POLL_TRIES 300

static void *poller(void *arg)
{
	struct pollfd p = { .fd = *(int *)arg, .events = POLLIN };

	/* a wait (not 0): the kernel asks the daemon to notify it */
	poll(&p, 1, 20);
	return NULL;
}

/* Two threads poll one freshly opened file at once, hundreds of times,
 * while another file of the segment stays open (so the segment's watch
 * state lives on): each file's close stops every watch its polls started,
 * so no notification set is left that nobody watches. */
static void test_two_pollers_leave_no_set(void **state)
{
	int id = make_segment(IPC_PRIVATE, 4096, 0644), before = sets_now(), status;
	pid_t pid = testutil_fork();

	if (pid == 0) {
		char path[128];
		int keep, now = -1;

		become(ATTACKER);
		snprintf(path, sizeof(path), "%s/%d", M, id);
		keep = open(path, O_RDONLY);
		if (keep < 0)
			_exit(1);
		for (int i = 0; i < POLL_TRIES; i++) {
			pthread_t a, b;
			int fd = open(path, O_RDONLY);

			if (fd < 0)
				_exit(1);
			pthread_create(&a, NULL, poller, &fd);
			pthread_create(&b, NULL, poller, &fd);
			pthread_join(a, NULL);
			pthread_join(b, NULL);
			close(fd);
		}
		/* a release is sent after close(2) returns: wait for the last */
		for (int i = 0; i < 300 && (now = testutil_sysvipc_count("sem")) != before; i++)
			usleep(10000);
		printf("pollers: %d sets left nobody watches after %d tries\n", now - before,
		       POLL_TRIES);
		_exit(now == before ? 0 : 3);
	}
	status = testutil_wait_bounded(pid, 120);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(sets_now(), before);
	shmctl(id, IPC_RMID, NULL);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_pollers_leave_no_set),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s SHMFS\n", argv[0]);
		return 2;
	}
	shmfs_path = argv[1];
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
