/* test_inherit.c - what the daemon's children take from it.
 *
 * A root daemon serves an allow_other mount in private IPC, mount and pid
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
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S  120
#define VICTIM	    65533
#define ATTACKER    65534
#define KEY_VICTIM  0x7e1a0001
#define KEY_VICTIM2 0x7e1a0002
/* The attacker's segment, locked then unlocked through its sidecar: the
 * SHM_UNLOCK of its resident pages is what the helper child is doing when
 * the attacker's SIGSTOP reaches it (within RLIMIT_MEMLOCK's usual 8 MiB). */
#define LOCK_BYTES (4 << 20)
#define ATTEMPTS   100

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
static int victim_creates(int32_t key)
{
	char path[256];
	pid_t pid = testutil_fork();

	if (pid == 0) {
		int fd;

		testutil_become(VICTIM);
		snprintf(path, sizeof(path), "%s/by-key/0x%08x", mnt.dir, (unsigned int)key);
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
	return shmget(key, 0, 0);
}

static int sidecar_command(const char *path, const char *cmd)
{
	int fd = open(path, O_WRONLY);
	int err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		err = errno;
	close(fd);
	return err;
}

/* The attacker locks a segment of its own through its sidecar, as the
 * man page offers any owner; 0, or the errno its write got. */
static int attacker_locks_its_own(void)
{
	pid_t pid = testutil_fork();
	int status;

	if (pid == 0) {
		char path[256];
		int id, err;

		testutil_become(ATTACKER);
		id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		if (id < 0)
			_exit(100);
		snprintf(path, sizeof(path), "%s/%d.stat", mnt.dir, id);
		err = sidecar_command(path, "lock\n");
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
 * nattch, same dtime.  On main the helper's clone copies the daemon's
 * attachment of the victim's segment into a child that becomes the
 * attacker, so the victim's ipcs -p shows a process of the attacker's as
 * its last attacher. */
static void test_lock_helper_leaves_others_segments(void **state)
{
	struct shmid_ds before, after;
	int victim, err;

	(void)state;
	set_rmid_forced("1");
	victim = victim_creates(KEY_VICTIM);
	assert_true(victim >= 0);
	before = shm_stat(victim);
	/* parked: the daemon's own attachment, made at the creation */
	assert_int_equal(before.shm_nattch, 1);
	assert_int_equal(before.shm_lpid, mnt.pid);

	err = attacker_locks_its_own();
	printf("attacker's lock through its sidecar: %s\n", err ? strerror(err) : "done");
	assert_int_equal(err, 0); /* the helper ran */

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

/* As the attacker: lock a segment of its own through its sidecar, then
 * unlock it from a second process while stopping the helper child the
 * daemon clones for the unlock, as soon as it is the attacker's (its pid
 * follows the second process's: the test has a pid namespace of its
 * own).  Exits 0 once a child was stopped before it answered (the daemon
 * kills it after HELPER_TIMEOUT_MS), 50 if none ever was. */
static void attacker_stops_the_helper(void)
{
	char path[256];
	int id = shmget(IPC_PRIVATE, LOCK_BYTES, IPC_CREAT | 0600);
	char *bytes = id >= 0 ? shmat(id, NULL, 0) : (char *)-1;
	pid_t caught = 0;

	if (bytes == (char *)-1)
		_exit(40);
	memset(bytes, 1, LOCK_BYTES);
	snprintf(path, sizeof(path), "%s/%d.stat", mnt.dir, id);
	for (int attempt = 0; attempt < ATTEMPTS && !caught; attempt++) {
		pid_t writer;
		int status;

		if (sidecar_command(path, "lock\n") != 0)
			_exit(41);
		writer = fork();
		if (writer == 0)
			_exit(sidecar_command(path, "unlock\n"));
		while (!caught && waitpid(writer, &status, WNOHANG) == 0)
			for (pid_t k = 1; k <= 32 && !caught; k++)
				if (kill(writer + k, SIGSTOP) == 0)
					caught = writer + k;
		if (!caught)
			continue;
		/* Stopped before it answered, the child lives until the daemon
		 * kills it (HELPER_TIMEOUT_MS); stopped after, it is killed at
		 * once and the writer answered: try again. */
		usleep(500 * 1000);
		if (waitpid(writer, &status, WNOHANG) != 0)
			caught = 0;
		else
			waitpid(writer, &status, 0); /* answered once the child is killed */
	}
	shmctl(id, SHM_UNLOCK, NULL);
	shmdt(bytes);
	shmctl(id, IPC_RMID, NULL);
	_exit(caught ? 0 : 50);
}

/* The same lock helper, stopped by its caller (allowed: it is the
 * caller's process then) until the daemon kills it: a segment the daemon
 * keeps attached so that shm_rmid_forced=1 does not destroy it (parked)
 * must still exist afterwards.  On main the child's copy of the parked
 * attachment makes nattch 2, the daemon's sweep takes that for another
 * attacher and detaches, and the child's death detaches the last copy:
 * the kernel destroys the victim's segment. */
static void test_stopped_lock_helper_destroys_nothing(void **state)
{
	int victim, status;
	pid_t attacker;

	(void)state;
	set_rmid_forced("1");
	victim = victim_creates(KEY_VICTIM2);
	assert_true(victim >= 0);
	assert_int_equal(shm_stat(victim).shm_nattch, 1);

	attacker = testutil_fork();
	if (attacker == 0) {
		testutil_become(ATTACKER);
		attacker_stops_the_helper();
	}
	status = child_status(attacker);
	if (status == 50)
		fail_msg("the attack was not carried out: no helper child stopped in %d tries",
			 ATTEMPTS);
	assert_int_equal(status, 0);
	if (!shm_exists(victim))
		fail_msg("uid %d's segment %d (parked by the daemon under shm_rmid_forced=1) was "
			 "destroyed after uid %d stopped the lock helper of its own segment",
			 VICTIM, victim, ATTACKER);
	assert_int_equal(shm_stat(victim).shm_nattch, 1);
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
	static const int32_t keys[] = { KEY_VICTIM, KEY_VICTIM2 };
	int ret;

	(void)state;
	/* removed while parked: the daemon's detach at its exit destroys them */
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int id = shmget(keys[i], 0, 0);

		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
	}
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
		cmocka_unit_test(test_stopped_lock_helper_destroys_nothing),
	};
	pid_t pid;
	int status;

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	/* The tests run as the first process of a pid namespace of their
	 * own, with its /proc (the mount namespace is the test's): the
	 * attacker predicts the pid of the helper child and stops nothing
	 * else, and the daemon finds its callers in /proc. */
	if (unshare(CLONE_NEWPID) != 0) {
		fprintf(stderr, "unshare(CLONE_NEWPID): %s\n", strerror(errno));
		return testutil_in_ci() ? 1 : TEST_SKIP;
	}
	pid = testutil_fork();
	if (pid == 0) {
		/* its /proc in a mount namespace of its own: this process keeps
		 * its own /proc (LeakSanitizer reads it at exit) */
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
			fprintf(stderr, "mount /proc: %s\n", strerror(errno));
			_exit(1);
		}
		testutil_watchdog(WATCHDOG_S);
		_exit(testutil_run_group_tests(tests, setup, teardown));
	}
	/* _exit: past unshare(CLONE_NEWPID) this process can clone no more
	 * once that namespace's first process is gone (ENOMEM), and
	 * LeakSanitizer's exit check must clone */
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		_exit(1);
	_exit(WEXITSTATUS(status));
}
