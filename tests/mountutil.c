/* mountutil.c - run a real shmfs mount for a test, and real tools against it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mountutil.h"
#include "testutil.h"

#define FUSE_SUPER_MAGIC 0x65735546

static void die(const char *what)
{
	fprintf(stderr, "mountutil: %s: %s\n", what, strerror(errno));
	exit(1);
}

bool mount_is_live(const char *dir)
{
	struct statfs st;

	return statfs(dir, &st) == 0 && st.f_type == FUSE_SUPER_MAGIC;
}

void mount_start(struct test_mount *m, const char *shmfs, const char *const *extra_args)
{
	/* SHMFS_WRAPPER runs the daemon under a tool, e.g. "valgrind
	 * --error-exitcode=99 --leak-check=full": words split at blanks. */
	static char wrapper[512];
	const char *argv[64];
	int argc = 0, waits = 1000;
	const char *env = getenv("SHMFS_WRAPPER");

	snprintf(m->dir, sizeof(m->dir), "/tmp/shmfs-test.XXXXXX");
	if (!mkdtemp(m->dir))
		die("mkdtemp");
	if (env && *env) {
		snprintf(wrapper, sizeof(wrapper), "%s", env);
		for (char *w = strtok(wrapper, " \t"); w && argc < 30; w = strtok(NULL, " \t"))
			argv[argc++] = w;
		waits = 6000; /* a slow start under the tool */
	}
	argv[argc++] = shmfs;
	argv[argc++] = "-f";
	/* Tests check liveness to the request: no attribute caching unless
	 * a test asks for some. */
	bool timeout_given = false;
	for (int i = 0; extra_args && extra_args[i]; i++)
		timeout_given |= strstr(extra_args[i], "attr_timeout=") != NULL;
	if (!timeout_given) {
		argv[argc++] = "-o";
		argv[argc++] = "attr_timeout=0";
	}
	for (int i = 0; extra_args && extra_args[i] && argc < 60; i++)
		argv[argc++] = extra_args[i];
	argv[argc++] = m->dir;
	argv[argc] = NULL;

	m->pid = fork();
	if (m->pid < 0)
		die("fork");
	if (m->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < waits; i++) {
		int status;

		if (mount_is_live(m->dir))
			return;
		if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
			fprintf(stderr, "mountutil: shmfs exited (status %d) before mounting\n",
				status);
			exit(1);
		}
		usleep(10000);
	}
	fprintf(stderr, "mountutil: %s did not mount within %d s\n", m->dir, waits / 100);
	kill(m->pid, SIGKILL);
	exit(1);
}

int mount_stop(struct test_mount *m)
{
	int status;

	if (m->pid <= 0)
		return -1;
	/* SIGTERM makes the session loop end and unmount, as fusermount3 -u
	 * would (no fusermount3 needed: we are root in our own namespace). */
	kill(m->pid, SIGTERM);
	status = testutil_wait_bounded(m->pid, 10);
	m->pid = 0;
	if (mount_is_live(m->dir))
		umount2(m->dir, MNT_DETACH);
	rmdir(m->dir);
	return status;
}

int mount_stop_clean(struct test_mount *m)
{
	int status = mount_stop(m);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "shmfs exited with status %d\n", status);
		return -1;
	}
	return 0;
}

const char *shmfs_path_arg(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-SHMFS\n", argv[0]);
		exit(1);
	}
	return argv[1];
}

bool ipc_left_behind(const char *kinds)
{
	char files[256] = "", left[4096];
	size_t n = 0;

	for (const char *k = kinds; *k;) {
		size_t len = strcspn(k, " ");

		n += (size_t)snprintf(files + n, sizeof(files) - n, " /proc/sysvipc/%.*s", (int)len,
				      k);
		k += len;
		k += strspn(k, " ");
	}
	if (run(left, sizeof(left), "tail -q -n +2%s", files) != 0 || left[0]) {
		fprintf(stderr, "left behind (%s):\n%s", kinds, left);
		return true;
	}
	return false;
}

int run(char *out, size_t out_size, const char *fmt, ...)
{
	char cmd[4096], wrapped[4200];
	va_list ap;
	FILE *p;
	size_t n = 0;
	int status;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	/* timeout(1) so that a hang fails the test instead of stalling it. */
	snprintf(wrapped, sizeof(wrapped), "timeout -s KILL 60 sh -c '%s' 2>&1", cmd);
	p = popen(wrapped, "r");
	if (!p)
		die("popen");
	if (out && out_size) {
		n = fread(out, 1, out_size - 1, p);
		out[n] = '\0';
	} else {
		char sink[4096];

		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	status = pclose(p);
	if (!WIFEXITED(status))
		return -1;
	if (WEXITSTATUS(status) == 137)
		return -1;
	return WEXITSTATUS(status);
}

const char *sidecar_value(const char *text, const char *name, char *value, size_t size)
{
	size_t len = strlen(name);

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t line_len = end ? (size_t)(end - line) : strlen(line);

		if (line_len > len && strncmp(line, name, len) == 0 && line[len] == ' ') {
			size_t vlen = line_len - len - 1;

			if (vlen >= size)
				vlen = size - 1;
			memcpy(value, line + len + 1, vlen);
			value[vlen] = '\0';
			return value;
		}
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

int sidecar_semid(const char *dir, int id)
{
	char text[4096], v[32];

	if (run(text, sizeof(text), "cat %s/%d.stat", dir, id) != 0 ||
	    !sidecar_value(text, "lock_semid", v, sizeof(v))) {
		fprintf(stderr, "mountutil: no lock_semid in %s/%d.stat:\n%s", dir, id, text);
		exit(1);
	}
	if (strcmp(v, "private") == 0)
		return SIDECAR_PRIVATE;
	return strcmp(v, "-") == 0 || strcmp(v, "none") == 0 ? -1 : atoi(v);
}

int make_segment(int key, size_t size, int mode)
{
	int id = shmget(key, size, IPC_CREAT | IPC_EXCL | mode);

	if (id < 0)
		die("shmget");
	return id;
}

void *shm_attach(int id)
{
	void *p = shmat(id, NULL, 0);

	if (p == (void *)-1)
		die("shmat");
	return p;
}

struct shmid_ds shm_stat(int id)
{
	struct shmid_ds ds;

	if (shmctl(id, IPC_STAT, &ds) != 0)
		die("shmctl IPC_STAT");
	return ds;
}

bool shm_exists(int id)
{
	struct shmid_ds ds;

	return shmctl(id, IPC_STAT, &ds) == 0;
}

bool sem_exists(int semid)
{
	struct semid_ds ds;

	return semctl(semid, 0, IPC_STAT, &ds) == 0;
}

int make_sharelite_set(int key)
{
	/* semaphores 0..2 free, initialised; 3 and 4 the mark (share.h) */
	unsigned short marked[] = { 1, 0, 0, 0x5348, 0x464d };
	int semid = semget(key, 5, IPC_CREAT | IPC_EXCL | 0600);

	if (semid < 0)
		die("semget");
	if (semctl(semid, 0, SETALL, marked) != 0)
		die("semctl SETALL");
	return semid;
}

int outside_lock(int semid, bool exclusive)
{
	struct sembuf ex[] = { { 1, 0, 0 }, { 2, 0, 0 }, { 2, 1, SEM_UNDO } };
	struct sembuf sh[] = { { 2, 0, 0 }, { 1, 1, SEM_UNDO } };

	return exclusive ? semop(semid, ex, 3) : semop(semid, sh, 2);
}

int outside_unlock(int semid, bool exclusive)
{
	struct sembuf rel = { exclusive ? 2 : 1, -1, SEM_UNDO };

	return semop(semid, &rel, 1);
}

/* ---- another user's programs ------------------------------------------------ */

void segments_as(uid_t uid, int32_t first, int n, size_t size, int *ids, int *semids)
{
	int status;
	pid_t pid = testutil_fork();

	if (pid == 0) {
		testutil_become(uid);
		for (int i = 0; i < n; i++) {
			if (shmget(first + i, size, IPC_CREAT | IPC_EXCL | 0644) < 0)
				_exit(2);
			make_sharelite_set(first + i);
		}
		_exit(0);
	}
	status = testutil_wait_bounded(pid, 60);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "mountutil: segments_as(%u): status %d\n", (unsigned int)uid,
			status);
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		ids[i] = shmget(first + i, 0, 0);
		semids[i] = semget(first + i, 0, 0);
		if (ids[i] < 0 || semids[i] < 0)
			die("segments_as");
	}
}

struct locks_as {
	uid_t uid;
	const int *semids;
	int n;
	bool shared;
};

static int take_locks_as(void *arg)
{
	const struct locks_as *l = arg;

	testutil_become(l->uid);
	for (int i = 0; i < l->n; i++)
		if (outside_lock(l->semids[i], !l->shared) != 0)
			return -1;
	return 0;
}

pid_t hold_locks_as(uid_t uid, const int *semids, int n, bool shared)
{
	struct locks_as l = { .uid = uid, .semids = semids, .n = n, .shared = shared };
	pid_t pid = testutil_fork_holder(take_locks_as, &l);

	if (pid < 0) {
		fprintf(stderr, "mountutil: hold_locks_as(%u): the locks were not taken\n",
			(unsigned int)uid);
		exit(1);
	}
	return pid;
}

pid_t start_waiter(uid_t uid, const char *path, bool write_it)
{
	pid_t pid = testutil_fork();

	if (pid == 0) {
		char buf[64] = "w";
		ssize_t n;
		int fd;

		testutil_become(uid);
		fd = open(path, write_it ? O_WRONLY : O_RDONLY);
		if (fd < 0)
			_exit(errno);
		n = write_it ? pwrite(fd, buf, 1, 0) : pread(fd, buf, sizeof(buf), 0);
		_exit(n < 0 ? errno : 0);
	}
	return pid;
}

int waiter_result(pid_t pid)
{
	int status = testutil_wait_bounded(pid, 60);

	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool in_fuse_request(pid_t pid)
{
	char path[64], wchan[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(wchan, sizeof(wchan), f))
		wchan[0] = 0;
	fclose(f);
	return strstr(wchan, "request_wait_answer") || strstr(wchan, "fuse");
}

bool await_waiting(const pid_t *pids, int n)
{
	for (int look = 0; look < 3000; look++) {
		int waiting = 0;

		for (int i = 0; i < n; i++)
			waiting += in_fuse_request(pids[i]);
		if (waiting == n)
			return true;
		usleep(10000);
	}
	return false;
}

int parked_on(const char *dir, int id)
{
	char text[4096], v[32];

	if (run(text, sizeof(text), "cat %s/%d.stat", dir, id) != 0 ||
	    !sidecar_value(text, "lock_queued_in_shmfs", v, sizeof(v)))
		return -1;
	return atoi(v);
}

bool await_parked(const char *dir, int id, int n)
{
	for (int look = 0; look < 3000; look++) {
		if (parked_on(dir, id) >= n)
			return true;
		usleep(10000);
	}
	return false;
}
