/* test_inherit.c - what the daemon's children take from it.
 *
 * A root daemon serves an allow_other mount in private IPC and mount
 * namespaces.  SHM_LOCK through a sidecar (N.stat) runs in a child the
 * daemon clones (helper.c: not CLONE_VM, so a copy of its memory), which
 * then becomes the caller.  A copy of the daemon's memory holds a copy of
 * each System V attachment the daemon has at that moment: the kernel
 * counts it as an attach by the daemon at the clone, and as a detach by
 * the child, a process of the caller's, at its exit.  Another user's
 * segment must not see any of that (principles 1 and 2).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 120
#define VICTIM	   65533
#define ATTACKER   65534
#define KEY_VICTIM 0x7e1a0001

static const char *shmfs_path;
static struct test_mount mnt;

static void set_rmid_forced(const char *value)
{
	int fd = open("/proc/sys/kernel/shm_rmid_forced", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, value, 1) != 1)
			fprintf(stderr, "shm_rmid_forced not set to %s\n", value);
		close(fd);
	}
}

/* The exit status of a child: 0, or what it says went wrong. */
static int child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* The victim makes a segment of its own through by-key/ (the daemon
 * creates it as the victim, attached, and under shm_rmid_forced=1 keeps
 * that attachment after the close: "parked"). */
static int victim_creates(void)
{
	char path[256];
	pid_t pid = testutil_fork();

	if (pid == 0) {
		int fd;

		testutil_become(VICTIM);
		snprintf(path, sizeof(path), "%s/by-key/0x%08x", mnt.dir, KEY_VICTIM);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0) {
			fprintf(stderr, "victim's creation of %s: %s\n", path, strerror(errno));
			_exit(10);
		}
		if (write(fd, "VICTIM", 6) != 6)
			_exit(11);
		_exit(close(fd) == 0 ? 0 : 12);
	}
	assert_int_equal(child_status(pid), 0);
	return shmget(KEY_VICTIM, 0, 0);
}

/* The attacker locks a segment of its own through its sidecar, as the
 * man page offers any owner; 0, or the errno its write got. */
static int attacker_locks_its_own(void)
{
	pid_t pid = testutil_fork();
	int status;

	if (pid == 0) {
		char path[256];
		int id, fd, err = 0;

		testutil_become(ATTACKER);
		id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		if (id < 0)
			_exit(100);
		snprintf(path, sizeof(path), "%s/%d.stat", mnt.dir, id);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			err = errno;
		else if (write(fd, "lock\n", 5) != 5)
			err = errno;
		if (fd >= 0)
			close(fd);
		shmctl(id, SHM_UNLOCK, NULL);
		shmctl(id, IPC_RMID, NULL);
		_exit(err);
	}
	status = child_status(pid);
	assert_true(status >= 0 && status < 100);
	return status;
}

/* Another user's SHM_LOCK of its own segment leaves a segment the daemon
 * holds attached untouched: same last attacher (the daemon), same
 * nattch.  On main the helper's clone copies the daemon's attachment of
 * the victim's segment into a child that becomes the attacker, so the
 * victim's ipcs -p shows a process of the attacker's as its last
 * attacher, and its nattch is 2 for the child's life (a child its caller
 * may stop for 2 s: long enough for the daemon's sweep to see a second
 * attacher and let go of its parked attachment, after which the child's
 * exit destroys the segment under shm_rmid_forced=1). */
static void test_lock_helper_leaves_others_segments(void **state)
{
	struct shmid_ds before, after;
	int victim, err;

	(void)state;
	set_rmid_forced("1");
	victim = victim_creates();
	assert_true(victim >= 0);
	before = shm_stat(victim);
	/* parked: the daemon's own attachment, made at the creation */
	assert_int_equal(before.shm_nattch, 1);
	assert_int_equal(before.shm_lpid, mnt.pid);

	err = attacker_locks_its_own();
	printf("attacker's lock through its sidecar: %s\n", err ? strerror(err) : "done");

	assert_true(shm_exists(victim));
	after = shm_stat(victim);
	if (after.shm_lpid != before.shm_lpid)
		fail_msg("uid %d's segment %d: last attacher %d after uid %d's lock of its own "
			 "segment, was the daemon (%d): the lock helper's clone attached and "
			 "detached it",
			 VICTIM, victim, (int)after.shm_lpid, ATTACKER, (int)before.shm_lpid);
	assert_int_equal(after.shm_nattch, before.shm_nattch);
	assert_int_equal(after.shm_dtime, before.shm_dtime);
}

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	(void)state;
	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	int id = shmget(KEY_VICTIM, 0, 0);
	int ret;

	(void)state;
	/* removed while parked: the daemon's detach at its exit destroys it */
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	set_rmid_forced("0");
	ret = mount_stop_clean(&mnt);
	if (ipc_left_behind("shm"))
		ret = -1;
	return ret;
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_helper_leaves_others_segments),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
