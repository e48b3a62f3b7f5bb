/* testutil.c - isolation helpers shared by the tests. */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

bool testutil_in_ci(void)
{
	const char *ci = getenv("CI");

	return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

/* The signals that stop a daemon back to their default action: a test
 * run started under nohup(1) or as a background job of a script has
 * SIGHUP, or SIGINT and SIGQUIT, ignored, every child inherits that, and
 * libfuse installs its handlers only over the default action: the
 * daemons started would ignore what the tests send them. */
static void default_stop_signals(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/* The daemons' state directory for this test program (SHMFS_STATE_DIR:
 * ownset.c records there each set a daemon makes), and the process that
 * made it and removes it at its exit (not its children). */
static char state_dir[64];
static pid_t state_owner;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void remove_state_dir(void)
{
	if (state_owner == getpid())
		nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The watchdog's alarm: the state directory goes too (a child does it:
 * nftw is no call for a signal handler), then the alarm kills as ever. */
static void on_watchdog(int sig)
{
	pid_t pid;

	if (state_owner == getpid() && state_dir[0]) {
		pid = fork();
		if (pid == 0) {
			execl("/bin/rm", "rm", "-rf", state_dir, (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Records of the sets a test's daemons make go to a directory of the
 * test's own, never the host's /run/shmfs: the test's IPC namespace dies
 * with it, and no later daemon would ever reclaim (and remove) them. */
static void use_private_state_dir(void)
{
	snprintf(state_dir, sizeof(state_dir), "/tmp/shmfs-state.XXXXXX");
	if (!mkdtemp(state_dir)) {
		fprintf(stderr, "testutil: mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	state_owner = getpid();
	setenv("SHMFS_STATE_DIR", state_dir, 1);
	atexit(remove_state_dir);
}

const char *testutil_state_dir(void)
{
	return state_dir;
}

void testutil_isolate(bool with_mount)
{
	default_stop_signals();
	int flags = CLONE_NEWIPC | (with_mount ? CLONE_NEWNS : 0);

	if (unshare(flags) != 0) {
		fprintf(stderr, "cannot unshare(%s): %s; these tests need root\n",
			with_mount ? "CLONE_NEWIPC|CLONE_NEWNS" : "CLONE_NEWIPC", strerror(errno));
		exit(testutil_in_ci() ? 1 : TEST_SKIP);
	}
	if (with_mount && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fprintf(stderr, "cannot make / private: %s\n", strerror(errno));
		exit(1);
	}
	use_private_state_dir();
}

void testutil_watchdog(unsigned int seconds)
{
	const char *wrapper = getenv("SHMFS_WRAPPER");

	default_stop_signals();
	setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef __SANITIZE_ADDRESS__
	/* the ASan build: daemon and tests 2-3 times slower (an integration
	 * test's 300 s meson timeout still bounds it) */
	seconds *= 3;
#endif
	signal(SIGALRM, on_watchdog);
	alarm(wrapper && *wrapper ? 4 * seconds : seconds);
}

pid_t testutil_fork(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "testutil: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

void testutil_become(uid_t uid)
{
	if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		_exit(100);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

pid_t testutil_fork_holder(int (*take)(void *arg), void *arg)
{
	int ready[2];
	char c;
	pid_t pid;

	if (pipe(ready) != 0) {
		fprintf(stderr, "testutil: pipe: %s\n", strerror(errno));
		exit(1);
	}
	pid = testutil_fork();
	if (pid == 0) {
		close(ready[0]);
		if (take(arg) != 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	/* The child's end closes without a byte if take failed. */
	if (read(ready[0], &c, 1) != 1) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(ready[0]);
	return pid;
}

void testutil_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int testutil_wait_bounded(pid_t pid, int seconds)
{
	int status;

	for (int i = 0; i < seconds * 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10000);
	}
	testutil_kill(pid);
	return -1;
}

bool testutil_still_running(pid_t pid)
{
	siginfo_t info = { 0 };

	return waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

bool testutil_set_next_id(const char *kind, int id)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/kernel/%s_next_id", kind);
	f = fopen(path, "we");
	if (!f)
		return false;
	if (fprintf(f, "%d\n", id) < 0) {
		fclose(f);
		return false;
	}
	return fclose(f) == 0;
}

int testutil_sysvipc_count(const char *kind)
{
	char path[64];
	int n = -1, c; /* the header line is no object */
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sysvipc/%s", kind);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n < 0 ? -1 : n;
}

void testutil_filter(void)
{
	const char *only = getenv("SHMFS_TEST");

	if (only && *only)
		cmocka_set_test_filter(only);
}

int testutil_torn_down(int failed, int (*teardown)(void **state))
{
	void *state = NULL;

	if (teardown && teardown(&state) != 0) {
		fprintf(stderr, "[  FAILED  ] GROUP TEARDOWN\n");
		return failed + 1;
	}
	return failed;
}
