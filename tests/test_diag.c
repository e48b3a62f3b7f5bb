/* test_diag.c - what shmfs tells that ipcs cannot (issue 14), through a
 * real root allow_other mount, with real tools, as root and as other
 * users:
 *   - <shmid>.procs against /proc/PID/maps read by the same caller
 *     (setpriv cat), for the caller's own processes and others';
 *   - the lock's state in the sidecar while IPC::ShareLite holds the
 *     lock exclusive, then shared, and a cat or a dd through the mount
 *     waits for it;
 *   - df and df -i against shmctl(IPC_INFO) and shmctl(SHM_INFO).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 120
#define SEG_SIZE   (4 * 4096)

static const char *shmfs_path;
static struct test_mount mnt;
static char out[65536];

#define M mnt.dir

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", "-o", "lock_timeout=20", NULL };

	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	int status = mount_stop(&mnt);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "shmfs exited with status %d\n", status);
		return -1;
	}
	return 0;
}

/* Every child a test starts, killed after each test even if it failed;
 * and every segment and set of the (private) namespace removed. */
static pid_t tracked[16];
static int ntracked;

static void track(pid_t pid)
{
	if (ntracked < 16)
		tracked[ntracked++] = pid;
}

/* Reaped: never to be killed by cleanup() (its pid may be reused). */
static void untrack(pid_t pid)
{
	for (int i = 0; i < ntracked; i++)
		if (tracked[i] == pid)
			tracked[i] = tracked[--ntracked];
}

static int cleanup(void **state)
{
	char line[512];
	FILE *f;

	for (int i = 0; i < ntracked; i++) {
		kill(tracked[i], SIGKILL);
		waitpid(tracked[i], NULL, 0);
	}
	ntracked = 0;
	f = fopen("/proc/sysvipc/shm", "r");
	if (f && fgets(line, sizeof(line), f))
		while (fgets(line, sizeof(line), f)) {
			int key, id;

			if (sscanf(line, "%d %d", &key, &id) == 2)
				shmctl(id, IPC_RMID, NULL);
		}
	if (f)
		fclose(f);
	f = fopen("/proc/sysvipc/sem", "r");
	if (f && fgets(line, sizeof(line), f))
		while (fgets(line, sizeof(line), f)) {
			int key, id;

			if (sscanf(line, "%d %d", &key, &id) == 2)
				semctl(id, 0, IPC_RMID);
		}
	if (f)
		fclose(f);
	return 0;
}

/* ---- .procs ------------------------------------------------------------ */

/* A process that attaches shmid, then becomes uid (0: stays root),
 * dumpable, named name, and waits to be killed. */
static pid_t attacher_start(int shmid, uid_t uid, const char *name)
{
	int rep[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(rep), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(rep[0]);
		if (shmat(shmid, NULL, 0) == (void *)-1)
			_exit(3);
		prctl(PR_SET_NAME, name);
		if (uid && (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
			    setresuid(uid, uid, uid) || prctl(PR_SET_DUMPABLE, 1)))
			_exit(4);
		/* again: a change of credentials clears it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(6);
		if (write(rep[1], "k", 1) != 1)
			_exit(5);
		for (;;)
			pause();
	}
	close(rep[1]);
	track(pid);
	assert_int_equal(read(rep[0], &c, 1), 1);
	close(rep[0]);
	return pid;
}

static void attacher_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	untrack(pid);
}

static const char *as_user(uid_t uid, char *buf, size_t size)
{
	if (uid == 0)
		snprintf(buf, size, " ");
	else
		snprintf(buf, size, "setpriv --reuid=%u --regid=%u --clear-groups ",
			 (unsigned int)uid, (unsigned int)uid);
	return buf;
}

/* The oracle: the caller's own cat of /proc/PID/maps, reduced to what
 * .procs shows of it: "start-end:perms" of each line of the segment,
 * comma-separated; NULL if the caller may not read that file. */
static const char *maps_of(pid_t pid, int shmid, uid_t uid, char *ranges, size_t size)
{
	static char maps[65536];
	char who[128], *line, *save = NULL;
	size_t n = 0;

	if (run(maps, sizeof(maps), "%scat /proc/%d/maps", as_user(uid, who, sizeof(who)),
		(int)pid) != 0)
		return NULL;
	ranges[0] = '\0';
	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char range[64], perms[8], dev[16], path[64];
		unsigned long long off, inode;

		if (sscanf(line, "%63s %7s %llx %15s %llu %63s", range, perms, &off, dev, &inode,
			   path) != 6 ||
		    inode != (unsigned long long)shmid || strncmp(path, "/SYSV", 5) != 0)
			continue;
		n += (size_t)snprintf(ranges + n, size - n, "%s%s:%s", n ? "," : "", range, perms);
	}
	return ranges;
}

/* The line of pid in text, or NULL. */
static const char *line_of(const char *text, pid_t pid, char *line, size_t size)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "%d ", (int)pid);

	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (strncmp(p, head, (size_t)n) == 0) {
			assert_true(len < size);
			memcpy(line, p, len);
			line[len] = '\0';
			return line;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* uid's cat of <shmid>.procs shows exactly the processes whose maps uid
 * can read itself, each with the ranges its maps show. */
static void check_procs_as(int shmid, uid_t uid, const pid_t *pids, const uid_t *owners,
			   const char *const *names, int n, const bool *must_see)
{
	char who[128], line[1024], want[1024], ranges[512];
	size_t lines = 1;

	assert_int_equal(run(out, sizeof(out), "%scat %s/%d.procs", as_user(uid, who, sizeof(who)),
			     M, shmid),
			 0);
	assert_int_equal(strncmp(out, "pid uid comm attaches\n", 22), 0);
	for (int i = 0; i < n; i++) {
		const char *shown = line_of(out, pids[i], line, sizeof(line));
		const char *maps = maps_of(pids[i], shmid, uid, ranges, sizeof(ranges));

		if (must_see)
			assert_int_equal(shown != NULL, must_see[i]);
		if (!maps || !*maps) {
			if (shown)
				fail_msg("uid %u is shown pid %d, whose maps it cannot read: %s",
					 (unsigned int)uid, (int)pids[i], shown);
			continue;
		}
		assert_non_null(shown);
		snprintf(want, sizeof(want), "%d %u %s %s", (int)pids[i], (unsigned int)owners[i],
			 names[i], maps);
		assert_string_equal(shown, want);
		lines++;
	}
	/* nobody else: the test's processes are the only attachers */
	size_t count = 0;
	for (const char *p = out; *p; p++)
		count += *p == '\n';
	assert_int_equal(count, lines);
}

static void test_procs(void **state)
{
	int shmid = make_segment(IPC_PRIVATE, SEG_SIZE, 0666);
	const uid_t owners[3] = { 0, 65534, 65533 };
	const char *const names[3] = { "holder-root", "holder-nobody", "holder-other" };
	pid_t pids[3];
	struct stat st;
	char v[128];

	for (int i = 0; i < 3; i++)
		pids[i] = attacher_start(shmid, owners[i], names[i]);

	const bool root_sees[3] = { true, true, true };
	const bool nobody_sees[3] = { false, true, false };
	const bool other_sees[3] = { false, false, true };
	check_procs_as(shmid, 0, pids, owners, names, 3, root_sees);
	check_procs_as(shmid, 65534, pids, owners, names, 3, nobody_sees);
	check_procs_as(shmid, 65533, pids, owners, names, 3, other_sees);
	/* a user with no process attached sees the header alone */
	assert_int_equal(run(out, sizeof(out),
			     "setpriv --reuid=4242 --regid=4242 --clear-groups cat %s/%d.procs", M,
			     shmid),
			 0);
	assert_string_equal(out, "pid uid comm attaches\n");

	/* Removed while attached: the sidecar says dest, .procs who keeps
	 * it alive. */
	assert_int_equal(run(out, sizeof(out), "rm %s/%d", M, shmid), 0);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat", M, shmid), 0);
	assert_string_equal(sidecar_value(out, "status", v, sizeof(v)), "dest");
	check_procs_as(shmid, 0, pids, owners, names, 3, root_sees);

	/* Not listed; a read-only file of size 0, like the sidecar. */
	assert_int_equal(run(out, sizeof(out), "ls -a %s", M), 0);
	assert_null(strstr(out, ".procs"));
	snprintf(v, sizeof(v), "%s/%d.procs", M, shmid);
	assert_int_equal(stat(v, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(open(v, O_WRONLY), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(unlink(v), -1);
	assert_int_equal(errno, EPERM);
	assert_int_not_equal(run(out, sizeof(out), "cat %s/%d.procs", M, shmid + 1000000), 0);
	assert_non_null(strstr(out, "No such file"));

	for (int i = 0; i < 3; i++)
		attacher_stop(pids[i]);
	/* the last attacher gone, the segment with it */
	assert_int_not_equal(run(out, sizeof(out), "cat %s/%d.procs", M, shmid), 0);
}

/* An open file of the segment is not an attach: the daemon does not
 * appear (where it must stay attached, without CAP_SYS_ADMIN or for
 * SHM_HUGETLB, its line is marked "(shmfs)": test_procs.c checks the
 * marking), and never to another user. */
static void test_procs_daemon_not_shown(void **state)
{
	int shmid = make_segment(IPC_PRIVATE, SEG_SIZE, 0644);
	char path[96], line[512];
	pid_t holder = attacher_start(shmid, 0, "holder");
	int fd;

	snprintf(path, sizeof(path), "%s/%d", M, shmid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.procs", M, shmid), 0);
	assert_non_null(line_of(out, holder, line, sizeof(line)));
	/* root's daemon reads through the segment's own file, detached */
	assert_null(line_of(out, mnt.pid, line, sizeof(line)));
	/* never to another user */
	assert_int_equal(run(out, sizeof(out),
			     "setpriv --reuid=65534 --regid=65534 --clear-groups cat %s/%d.procs",
			     M, shmid),
			 0);
	assert_null(line_of(out, mnt.pid, line, sizeof(line)));
	close(fd);
	attacher_stop(holder);
	shmctl(shmid, IPC_RMID, NULL);
}

/* A daemon run by uid 65534 for itself (no CAP_SYS_ADMIN) keeps a
 * segment it has open attached: it is in .procs, marked, and visible to
 * its user, as the kernel would have it. */
static void test_procs_user_daemon_marked(void **state)
{
	int shmid = make_segment(IPC_PRIVATE, SEG_SIZE, 0666);
	const uid_t nobody = 65534;
	char dir[64] = "/tmp/shmfs-test.XXXXXX", line[512], want[512], ranges[256];
	char devdir[64] = "/tmp/shmfs-dev.XXXXXX", node[96];
	struct stat st;
	pid_t holder = attacher_start(shmid, nobody, "holder");
	pid_t daemon;
	int status;

	if (run(NULL, 0, "command -v fusermount3") != 0) {
		if (testutil_in_ci())
			fail_msg("no fusermount3: a user cannot mount");
		skip();
	}
	/* fusermount3 opens /dev/fuse as the user: a 0666 node of it, bound
	 * over it in this (private) mount namespace only */
	assert_non_null(mkdtemp(devdir));
	assert_int_equal(mount("tmpfs", devdir, "tmpfs", 0, "mode=0755"), 0);
	assert_int_equal(stat("/dev/fuse", &st), 0);
	snprintf(node, sizeof(node), "%s/fuse", devdir);
	assert_int_equal(mknod(node, S_IFCHR | 0666, st.st_rdev), 0);
	assert_int_equal(chmod(node, 0666), 0);
	assert_int_equal(mount(node, "/dev/fuse", NULL, MS_BIND, NULL), 0);

	assert_non_null(mkdtemp(dir));
	assert_int_equal(chown(dir, nobody, nobody), 0);
	daemon = fork();
	assert_true(daemon >= 0);
	if (daemon == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (setgroups(0, NULL) || setresgid(nobody, nobody, nobody) ||
		    setresuid(nobody, nobody, nobody))
			_exit(126);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(126);
		execl(shmfs_path, shmfs_path, "-f", dir, (char *)NULL);
		_exit(127);
	}
	track(daemon);
	for (int i = 0; i < 1000 && !mount_is_live(dir); i++)
		usleep(10000);
	assert_true(mount_is_live(dir));

	/* the user holds the segment open through its mount and reads .procs */
	assert_int_equal(run(out, sizeof(out),
			     "setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "
			     "\"exec 3< %s/%d; cat %s/%d.procs; cat /proc/%d/maps\"",
			     dir, shmid, dir, shmid, (int)daemon),
			 0);
	assert_non_null(line_of(out, holder, line, sizeof(line)));
	assert_non_null(line_of(out, daemon, line, sizeof(line)));
	/* the daemon's attach, as its maps (read by the same user) show it */
	{
		char *maps = strstr(out, "\n") ? out : NULL;
		char *p, *save = NULL;
		size_t n = 0;

		assert_non_null(maps);
		ranges[0] = '\0';
		for (p = strtok_r(maps, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
			char range[64], perms[8], dev[16], path[64];
			unsigned long long off, inode;

			if (sscanf(p, "%63s %7s %llx %15s %llu %63s", range, perms, &off, dev,
				   &inode, path) == 6 &&
			    inode == (unsigned long long)shmid && strncmp(path, "/SYSV", 5) == 0)
				n += (size_t)snprintf(ranges + n, sizeof(ranges) - n, "%s%s:%s",
						      n ? "," : "", range, perms);
		}
	}
	assert_true(ranges[0] != '\0');
	snprintf(want, sizeof(want), "%d %u shmfs %s (shmfs)", (int)daemon, (unsigned int)nobody,
		 ranges);
	assert_string_equal(line, want);

	kill(daemon, SIGTERM);
	assert_int_equal(waitpid(daemon, &status, 0), daemon);
	untrack(daemon);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rmdir(dir);
	umount2("/dev/fuse", MNT_DETACH);
	umount2(devdir, MNT_DETACH);
	rmdir(devdir);
	attacher_stop(holder);
	shmctl(shmid, IPC_RMID, NULL);
}

/* ---- the lock's state ------------------------------------------------------ */

/* perl with IPC::ShareLite holding key's lock (LOCK_SH or LOCK_EX) until
 * its stdin closes. */
static pid_t sharelite_hold(int key, const char *mode, int *stdin_fd)
{
	char script[512];
	int in[2], rep[2];
	pid_t pid;
	char c;

	snprintf(script, sizeof(script),
		 "use IPC::ShareLite qw(:lock); "
		 "my $s = IPC::ShareLite->new(-key => %d, -create => 'yes', -destroy => 'no', "
		 "-size => 4096) or die $!; $s->lock(%s) or die $!; $| = 1; print 'L'; <STDIN>;",
		 key, mode);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(rep[1], 1);
		execlp("perl", "perl", "-e", script, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(rep[1]);
	track(pid);
	if (read(rep[0], &c, 1) != 1) {
		close(rep[0]);
		close(in[1]);
		waitpid(pid, NULL, 0);
		untrack(pid);
		if (testutil_in_ci())
			fail_msg("perl IPC::ShareLite did not take the lock");
		skip();
	}
	close(rep[0]);
	*stdin_fd = in[1];
	return pid;
}

/* The sidecar's value of name, as uid reads it. */
static const char *value_as(uid_t uid, int shmid, const char *name, char *v, size_t size)
{
	char who[128];

	assert_int_equal(
		run(out, sizeof(out), "%scat %s/%d.stat", as_user(uid, who, sizeof(who)), M, shmid),
		0);
	assert_non_null(sidecar_value(out, name, v, size));
	return v;
}

static int value_int(int shmid, const char *name)
{
	char v[64];

	return atoi(value_as(0, shmid, name, v, sizeof(v)));
}

/* Until the sidecar's name reads want (the waiter is queued). */
static void wait_value(int shmid, const char *name, const char *want)
{
	char v[64];

	for (int i = 0; i < 500; i++) {
		if (strcmp(value_as(0, shmid, name, v, sizeof(v)), want) == 0)
			return;
		usleep(10000);
	}
	assert_string_equal(value_as(0, shmid, name, v, sizeof(v)), want);
}

/* A command run in the background; its pid. */
static pid_t background(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static pid_t background(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	track(pid);
	return pid;
}

static int finish(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	untrack(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_lock_state(void **state)
{
	const int key = 0x53484c54;
	char v[64], want[32];
	int fd, shmid, semid;
	pid_t perl, cat, cat2, dd;

	/* ShareLite holds it exclusive, a cat through the mount waits */
	perl = sharelite_hold(key, "LOCK_EX", &fd);
	shmid = shmget(key, 0, 0);
	semid = semget(key, 3, 0);
	assert_true(shmid >= 0 && semid >= 0);
	cat = background("exec cat %s/by-key/0x%08x > /dev/null", M, key);
	cat2 = background("exec cat %s/by-key/0x%08x > /dev/null", M, key);
	/* both wait in shmfs, which waits for them in the kernel */
	wait_value(shmid, "lock_queued_in_shmfs", "2");
	wait_value(shmid, "lock_waiting_for_writer", "1");
	assert_int_equal(value_int(shmid, "lock_semid"), semid);
	snprintf(want, sizeof(want), "%d", (int)perl);
	assert_string_equal(value_as(0, shmid, "lock_writer", v, sizeof(v)), want);
	assert_string_equal(value_as(0, shmid, "lock_last_pid", v, sizeof(v)), want);
	assert_string_equal(value_as(0, shmid, "lock_readers", v, sizeof(v)), "0");
	assert_string_equal(value_as(0, shmid, "lock_waiting_for_readers", v, sizeof(v)), "0");
	assert_string_not_equal(value_as(0, shmid, "lock_last_op", v, sizeof(v)), "not-set");
	/* the kernel's own view of the same set, by ipcs */
	assert_int_equal(run(out, sizeof(out),
			     "ipcs -s -i %d | awk \"\\$1 == 2 {print \\$2, \\$5}\"", semid),
			 0);
	snprintf(want, sizeof(want), "1 %d\n", (int)perl);
	assert_string_equal(out, want);
	/* the set is 0666: another user sees the same */
	snprintf(want, sizeof(want), "%d", (int)perl);
	assert_string_equal(value_as(65534, shmid, "lock_writer", v, sizeof(v)), want);
	close(fd);
	assert_int_equal(finish(cat), 0);
	assert_int_equal(finish(cat2), 0);
	assert_int_equal(finish(perl), 0);
	assert_string_equal(value_as(0, shmid, "lock_queued_in_shmfs", v, sizeof(v)), "0");
	assert_string_equal(value_as(0, shmid, "lock_writer", v, sizeof(v)), "none");
	assert_string_equal(value_as(0, shmid, "lock_waiting_for_writer", v, sizeof(v)), "0");

	/* ShareLite holds it shared, a writer through the mount waits */
	perl = sharelite_hold(key, "LOCK_SH", &fd);
	dd = background("printf x | exec dd of=%s/by-key/0x%08x bs=1 seek=4000 conv=notrunc "
			"status=none",
			M, key);
	wait_value(shmid, "lock_waiting_for_readers", "1");
	assert_string_equal(value_as(0, shmid, "lock_readers", v, sizeof(v)), "1");
	assert_string_equal(value_as(0, shmid, "lock_writer", v, sizeof(v)), "none");
	snprintf(want, sizeof(want), "%d", (int)perl);
	assert_string_equal(value_as(0, shmid, "lock_last_pid", v, sizeof(v)), want);
	close(fd);
	assert_int_equal(finish(dd), 0);
	assert_int_equal(finish(perl), 0);
	assert_string_equal(value_as(0, shmid, "lock_readers", v, sizeof(v)), "0");

	shmctl(shmid, IPC_RMID, NULL);
	semctl(semid, 0, IPC_RMID);
}

/* shmfs's private lock, of a segment only root may read: its state is for
 * those who may read the segment. */
static void test_lock_state_private_set(void **state)
{
	int shmid = make_segment(IPC_PRIVATE, SEG_SIZE, 0600);
	char path[96], v[64];
	int fd;

	snprintf(path, sizeof(path), "%s/%d", M, shmid);
	fd = open(path, O_RDONLY); /* the private lock is named while open */
	assert_true(fd >= 0);
	assert_string_equal(value_as(0, shmid, "lock_semid", v, sizeof(v)), "private");
	assert_string_equal(value_as(0, shmid, "lock_readers", v, sizeof(v)), "0");
	assert_string_equal(value_as(0, shmid, "lock_writer", v, sizeof(v)), "none");
	assert_string_equal(value_as(65534, shmid, "lock_readers", v, sizeof(v)), "-");
	assert_string_equal(value_as(65534, shmid, "lock_writer", v, sizeof(v)), "-");
	assert_string_equal(value_as(65534, shmid, "lock_last_pid", v, sizeof(v)), "-");
	close(fd);
	shmctl(shmid, IPC_RMID, NULL);
}

/* ---- df ------------------------------------------------------------------ */

static void write_sysctl(const char *path, unsigned long long value)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "%llu\n", value);
	assert_int_equal(fclose(f), 0);
}

static void test_df(void **state)
{
	unsigned long long size, used, avail, itotal, iused, ifree;
	unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);
	struct shminfo limits;
	struct shm_info use;
	int ids[3];

	write_sysctl("/proc/sys/kernel/shmall", 50000);
	write_sysctl("/proc/sys/kernel/shmmni", 300);
	ids[0] = make_segment(IPC_PRIVATE, 1 << 20, 0600);
	ids[1] = make_segment(IPC_PRIVATE, 3 * 4096 + 1, 0600);
	ids[2] = make_segment(0x7777, 100, 0644);

	assert_int_equal(run(out, sizeof(out), "df -B1 --output=size,used,avail %s | tail -n 1", M),
			 0);
	assert_int_equal(sscanf(out, "%llu %llu %llu", &size, &used, &avail), 3);
	assert_true(shmctl(0, IPC_INFO, (struct shmid_ds *)(void *)&limits) >= 0);
	assert_true(shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&use) >= 0);
	assert_int_equal(limits.shmall, 50000);
	assert_int_equal(size, limits.shmall * page);
	assert_int_equal(used, use.shm_tot * page);
	assert_true(use.shm_tot >= 256 + 4 + 1);
	assert_int_equal(avail, (limits.shmall - use.shm_tot) * page);

	assert_int_equal(run(out, sizeof(out), "df --output=itotal,iused,iavail %s | tail -n 1", M),
			 0);
	assert_int_equal(sscanf(out, "%llu %llu %llu", &itotal, &iused, &ifree), 3);
	assert_int_equal(itotal, 300);
	assert_int_equal(iused, use.used_ids);
	assert_true(iused >= 3);
	assert_int_equal(ifree, 300 - iused);

	/* not "100% full": df's Use% is the share of kernel.shmall */
	assert_int_equal(run(out, sizeof(out), "df --output=pcent %s | tail -n 1", M), 0);
	assert_int_equal(atoi(out), (int)((use.shm_tot * 100 + limits.shmall - 1) / limits.shmall));

	/* the default kernel.shmall, about 2^64 pages: cut so bytes fit */
	write_sysctl("/proc/sys/kernel/shmall", 18446744073692774399ull);
	assert_int_equal(run(out, sizeof(out), "df -B1 --output=size,used %s | tail -n 1", M), 0);
	assert_int_equal(sscanf(out, "%llu %llu", &size, &used), 2);
	assert_int_equal(size, UINT64_MAX / page * page);
	assert_int_equal(used, use.shm_tot * page);

	for (int i = 0; i < 3; i++)
		shmctl(ids[i], IPC_RMID, NULL);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_procs, cleanup),
		cmocka_unit_test_teardown(test_procs_daemon_not_shown, cleanup),
		cmocka_unit_test_teardown(test_procs_user_daemon_marked, cleanup),
		cmocka_unit_test_teardown(test_lock_state, cleanup),
		cmocka_unit_test_teardown(test_lock_state_private_set, cleanup),
		cmocka_unit_test_teardown(test_df, cleanup),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-SHMFS\n", argv[0]);
		return 1;
	}
	shmfs_path = argv[1];
	testutil_isolate(true);
	alarm(getenv("SHMFS_WRAPPER") ? 4 * WATCHDOG_S : WATCHDOG_S);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
