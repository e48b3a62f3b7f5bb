/* test_multiuser.c - a shared mount that no user can subvert or starve.
 *
 * shmfs is mounted by root with allow_other, as a machine would mount it
 * for all its users; uid 65534 plays the attacker and uid 65533 the other
 * user.  Each test asserts what the victim sees (an answer, an errno, a
 * segment's metadata or bytes), with the kernel as the oracle: the same
 * calls made directly by the same user, with the same limits.
 */
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
#include <grp.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "semun.h"
#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S	200
#define CHILD_TIMEOUT_S 60
#define ATTACKER	65534 /* nobody */
#define OTHER		65533
#define MAX_PENDING	(1 << 20) /* the mount's per-user budget */
#ifndef MAX_PENDING_OPT		  /* another to run this against a shmfs without it */
#define MAX_PENDING_OPT "max_pending=1M"
#endif
#define MIB	       (1 << 20)
#define SEGMENT_LOCKED 02000 /* SHM_LOCKED in shm_perm.mode */
/* Segments locked under limits from 0 to 5 MiB (the hard limit here may
 * be 8 MiB, and raising it needs CAP_SYS_RESOURCE). */
#define LOCK_SEGMENT   (2 * MIB)
#define LOG_BURST      5 /* as include/log.h */
#define LOG_INTERVAL_S 10

static const char *shmfs_path;
static struct test_mount mnt;
static char log_path[64] = "/tmp/shmfs-multiuser-log.XXXXXX";
static int log_fd = -1;

/* What a child saw, for its parent to assert on. */
struct seen {
	int err[16];
	long val[16];
	int shmid[4];
};

static struct seen *seen;
static int sharelite_semid = -1; /* checked after the unmount */

/* ---- children as another user ----------------------------------------- */

/* Become uid:gid (no groups) with RLIMIT_MEMLOCK at memlock (unless -1),
 * die with the test, never hang it. */
static void become(uid_t uid, gid_t gid, long memlock)
{
	pid_t parent = getppid();

	if (memlock >= 0) {
		struct rlimit rl = { (rlim_t)memlock, (rlim_t)memlock };

		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			_exit(2);
	}
	if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		_exit(2);
	umask(0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);
	alarm(CHILD_TIMEOUT_S);
}

static pid_t spawn_as(uid_t uid, long memlock, void (*fn)(void *), void *arg)
{
	pid_t pid = testutil_fork();

	if (pid == 0) {
		become(uid, uid, memlock);
		fn(arg);
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "child %d: status 0x%x\n", (int)pid, status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void as_user(uid_t uid, long memlock, void (*fn)(void *), void *arg)
{
	reap(spawn_as(uid, memlock, fn, arg));
}

/* A pipe used as a one-shot signal between parent and child. */
struct gate {
	int fd[2];
};

static void gate_open(struct gate *g)
{
	assert_int_equal(pipe(g->fd), 0);
}

static void gate_pass(struct gate *g)
{
	if (write(g->fd[1], "x", 1) != 1)
		_exit(4);
}

static void gate_wait(struct gate *g)
{
	char c;

	if (read(g->fd[0], &c, 1) != 1)
		_exit(5);
}

static void gate_close(struct gate *g)
{
	close(g->fd[0]);
	close(g->fd[1]);
}

static void bykey(char *buf, size_t size, int key)
{
	snprintf(buf, size, "%s/by-key/0x%08x", mnt.dir, (unsigned int)key);
}

static int err_of(long ret)
{
	return ret < 0 ? errno : 0;
}

/* A creation through by-key/ as a shell's "printf > by-key/KEY" makes
 * it: open O_CREAT | O_EXCL, write the bytes, close.  The errnos of the
 * three (0 for success) go to err[0], err[1], err[2]. */
static void create_key(int key, unsigned int mode, const void *bytes, size_t size, int *err)
{
	char path[256];
	int fd;

	bykey(path, sizeof(path), key);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	err[0] = err_of(fd);
	if (fd < 0)
		return;
	err[1] = err_of(write(fd, bytes, size));
	err[2] = err_of(close(fd));
}

/* The segment of key as the kernel has it, waiting for it to appear (a
 * close's RELEASE is answered after close(2) returns).  -1 if none. */
static int wait_segment(int key, struct shmid_ds *ds)
{
	int id = -1;

	for (int i = 0; i < 300 && (id = shmget(key, 0, 0)) < 0; i++)
		usleep(10000);
	if (id >= 0 && ds)
		assert_int_equal(shmctl(id, IPC_STAT, ds), 0);
	return id;
}

static void remove_key(int key)
{
	int id = shmget(key, 0, 0);

	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
}

/* ---- 1. a creation is the creator's: no forged cuid ---------------------------- */

#define KEY_FORGED 0x7e000001
#define KEY_ORACLE 0x7e000002

static void forge_through_mount(void *arg)
{
	char path[256];
	int fd;

	bykey(path, sizeof(path), KEY_FORGED);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
	seen->err[0] = err_of(fd);
	if (fd < 0)
		return;
	seen->err[1] = err_of(fchown(fd, 0, 0));
	seen->err[2] = err_of(write(fd, "forged", 6));
	seen->err[3] = err_of(close(fd));
}

/* The oracle: what the kernel lets the same user do directly. */
static void forge_directly(void *arg)
{
	struct shmid_ds ds;
	int id = shmget(KEY_ORACLE, 4096, IPC_CREAT | IPC_EXCL | 0666);

	seen->err[4] = err_of(id);
	if (id < 0)
		return;
	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = 0;
	ds.shm_perm.gid = 0;
	ds.shm_perm.mode = 0666;
	seen->err[5] = err_of(shmctl(id, IPC_SET, &ds));
}

static void test_creator_cannot_be_forged(void **state)
{
	struct shmid_ds made, oracle;

	memset(seen, 0, sizeof(*seen));
	as_user(ATTACKER, -1, forge_through_mount, NULL);
	as_user(ATTACKER, -1, forge_directly, NULL);
	assert_int_equal(seen->err[0], 0);
	assert_int_equal(seen->err[4], 0);
	/* fchown answers as IPC_SET would, and the write and close land */
	assert_int_equal(seen->err[1], seen->err[5]);
	assert_int_equal(seen->err[2], 0);
	assert_int_equal(seen->err[3], 0);
	assert_true(wait_segment(KEY_FORGED, &made) >= 0);
	assert_true(wait_segment(KEY_ORACLE, &oracle) >= 0);
	/* The creator is the caller, whatever the owner became. */
	assert_int_equal(made.shm_perm.cuid, ATTACKER);
	assert_int_equal(made.shm_perm.cgid, ATTACKER);
	assert_int_equal(made.shm_perm.cuid, oracle.shm_perm.cuid);
	assert_int_equal(made.shm_perm.cgid, oracle.shm_perm.cgid);
	assert_int_equal(made.shm_perm.uid, oracle.shm_perm.uid);
	assert_int_equal(made.shm_perm.gid, oracle.shm_perm.gid);
	assert_int_equal(made.shm_perm.mode & 0777, oracle.shm_perm.mode & 0777);
	remove_key(KEY_FORGED);
	remove_key(KEY_ORACLE);
}

/* ---- 2. SHM_LOCK through the sidecar: the caller's limit, the caller's charge ---- */

struct lock_case {
	int shmid[3];
	bool through_mount; /* lock the first segment through N.stat */
};

static int lock_through_sidecar(int shmid)
{
	char path[256];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%d.stat", mnt.dir, shmid);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	if (write(fd, "lock\n", 5) != 5)
		err = errno;
	close(fd);
	return err;
}

static int lock_directly(int shmid)
{
	return shmctl(shmid, SHM_LOCK, NULL) == 0 ? 0 : errno;
}

static void make_three(void *arg)
{
	struct lock_case *c = arg;

	for (int i = 0; i < 3; i++) {
		c->shmid[i] = shmget(IPC_PRIVATE, LOCK_SEGMENT, IPC_CREAT | 0600);
		seen->shmid[i] = c->shmid[i];
		if (c->shmid[i] < 0)
			_exit(6);
	}
}

/* Lock segment 0 (through the mount or directly), then segment 1
 * directly: the second must meet what the first was charged. */
static void lock_two(void *arg)
{
	struct lock_case *c = arg;

	seen->err[0] =
		c->through_mount ? lock_through_sidecar(c->shmid[0]) : lock_directly(c->shmid[0]);
	seen->err[1] = lock_directly(c->shmid[1]);
}

static bool is_locked(int shmid)
{
	struct shmid_ds ds;

	assert_int_equal(shmctl(shmid, IPC_STAT, &ds), 0);
	return (ds.shm_perm.mode & SEGMENT_LOCKED) != 0;
}

static void unlock_all(const struct lock_case *c)
{
	for (int i = 0; i < 3; i++)
		shmctl(c->shmid[i], SHM_UNLOCK, NULL);
}

/* One round: LOCK_SEGMENT segments of the attacker's, RLIMIT_MEMLOCK memlock;
 * what the first lock and the following direct one answer. */
static void lock_round(long memlock, bool through_mount, int *first, int *second)
{
	struct lock_case c = { .through_mount = through_mount };

	memset(seen, 0, sizeof(*seen));
	as_user(ATTACKER, memlock, make_three, &c);
	for (int i = 0; i < 3; i++)
		c.shmid[i] = seen->shmid[i];
	as_user(ATTACKER, memlock, lock_two, &c);
	*first = seen->err[0];
	*second = seen->err[1];
	/* what the kernel says is locked matches the answers */
	assert_int_equal(is_locked(c.shmid[0]), *first == 0);
	assert_int_equal(is_locked(c.shmid[1]), *second == 0);
	unlock_all(&c);
	for (int i = 0; i < 3; i++)
		shmctl(c.shmid[i], IPC_RMID, NULL);
}

static void test_sidecar_lock_is_the_callers(void **state)
{
	static const long limits[] = { 0, 1 * MIB, 3 * MIB, 5 * MIB };
	int mount_first, mount_second, direct_first, direct_second;

	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		lock_round(limits[i], true, &mount_first, &mount_second);
		lock_round(limits[i], false, &direct_first, &direct_second);
		printf("RLIMIT_MEMLOCK %ld MiB: through N.stat %s then %s; directly %s then %s\n",
		       limits[i] / MIB, strerror(mount_first), strerror(mount_second),
		       strerror(direct_first), strerror(direct_second));
		assert_int_equal(mount_first, direct_first);
		assert_int_equal(mount_second, direct_second);
	}
	/* and the oracle said something: refused under a small limit, charged
	 * (the second lock refused) under 3 MiB */
	lock_round(1 * MIB, false, &direct_first, &direct_second);
	assert_int_not_equal(direct_first, 0);
	lock_round(3 * MIB, false, &direct_first, &direct_second);
	assert_int_equal(direct_first, 0);
	assert_int_not_equal(direct_second, 0);
}

/* ---- 3. budgets per user: one user's load is that user's problem ----------------- */

#define KEY_HOG	   0x7e000010
#define KEY_VICTIM 0x7e000011
#define KEY_SPOILT 0x7e000012
#define KEY_MARK   0x7e000013

struct hold {
	struct gate filled, done;
};

/* Fill the whole budget with one name, hold it open until told. */
static void hog(void *arg)
{
	struct hold *h = arg;
	char path[256];
	char *buf = malloc(MAX_PENDING);
	int fd;

	bykey(path, sizeof(path), KEY_HOG);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || !buf)
		_exit(6);
	memset(buf, 'h', MAX_PENDING);
	seen->err[0] = err_of(write(fd, buf, MAX_PENDING));
	seen->err[1] = err_of(pwrite(fd, "h", 1, MAX_PENDING));
	gate_pass(&h->filled);
	gate_wait(&h->done);
	seen->err[11] = err_of(close(fd));
	free(buf);
}

static void victim_creates(void *arg)
{
	char buf[65536];

	memset(buf, 'v', sizeof(buf));
	create_key(KEY_VICTIM, 0644, buf, sizeof(buf), &seen->err[2]);
}

/* A write beyond the budget fails, and so does the close: nothing made. */
static void spoil(void *arg)
{
	char path[256];
	int fd;

	bykey(path, sizeof(path), KEY_SPOILT);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	seen->err[5] = err_of(fd);
	if (fd < 0)
		return;
	seen->err[6] = err_of(pwrite(fd, "x", 1, (off_t)MAX_PENDING + 4096));
	seen->err[7] = err_of(close(fd));
	/* then a name closed empty, which is made: its segment tells the
	 * parent that the releases before it were handled */
	bykey(path, sizeof(path), KEY_MARK);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0)
		close(fd);
}

static void test_pending_budget_is_per_user(void **state)
{
	struct hold h;
	struct shmid_ds ds;
	pid_t pid;
	int id;
	unsigned char *p;

	memset(seen, 0, sizeof(*seen));
	gate_open(&h.filled);
	gate_open(&h.done);
	pid = spawn_as(ATTACKER, -1, hog, &h);
	gate_wait(&h.filled);
	/* the attacker's budget is spent: its own next byte is refused */
	assert_int_equal(seen->err[0], 0);
	assert_int_equal(seen->err[1], EFBIG);
	/* the other user's creation is not affected */
	as_user(OTHER, -1, victim_creates, NULL);
	gate_pass(&h.done);
	reap(pid);
	gate_close(&h.filled);
	gate_close(&h.done);
	assert_int_equal(seen->err[2], 0);
	assert_int_equal(seen->err[3], 0);
	assert_int_equal(seen->err[4], 0);
	id = wait_segment(KEY_VICTIM, &ds);
	assert_true(id >= 0);
	assert_int_equal(ds.shm_perm.cuid, OTHER);
	assert_int_equal(ds.shm_segsz, 65536);
	p = shmat(id, NULL, SHM_RDONLY);
	assert_true(p != (void *)-1);
	assert_int_equal(p[0], 'v');
	assert_int_equal(p[65535], 'v');
	shmdt(p);
	remove_key(KEY_VICTIM);
	/* the hog's write failed: its close says so */
	assert_int_equal(seen->err[11], EFBIG);

	/* a creation that failed with EFBIG makes no segment at close */
	as_user(ATTACKER, -1, spoil, NULL);
	assert_int_equal(seen->err[5], 0);
	assert_int_equal(seen->err[6], EFBIG);
	assert_int_equal(seen->err[7], EFBIG);
	assert_true(wait_segment(KEY_MARK, NULL) >= 0);
	assert_int_equal(shmget(KEY_SPOILT, 0, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(shmget(KEY_HOG, 0, 0), -1);
	assert_int_equal(errno, ENOENT);
	remove_key(KEY_MARK);
}

/* ---- 4. a name being created is its creator's alone ----------------------------- */

#define KEY_PRIVATE 0x7e000020

struct creating {
	struct gate opened, others_done, closed, second_open, second_done;
};

/* The creator: open, write, let the other user try, write more, close. */
static void creator(void *arg)
{
	struct creating *c = arg;
	char path[256];
	int fd;

	bykey(path, sizeof(path), KEY_PRIVATE);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
	if (fd < 0)
		_exit(6);
	seen->err[0] = err_of(write(fd, "first-", 6));
	gate_pass(&c->opened);
	gate_wait(&c->others_done);
	seen->err[1] = err_of(write(fd, "second", 6));
	seen->err[2] = err_of(close(fd));
	gate_pass(&c->closed);
}

/* The other user, while the creator's name is open. */
static void other_looks(void *arg)
{
	struct creating *c = arg;
	char path[256];
	struct stat st;
	int fd;

	bykey(path, sizeof(path), KEY_PRIVATE);
	seen->err[3] = err_of(stat(path, &st));
	seen->err[4] = err_of(utimensat(AT_FDCWD, path, NULL, 0)); /* touch */
	seen->err[5] = err_of(truncate(path, 1));
	seen->err[6] = err_of(open(path, O_WRONLY));
	seen->err[7] = err_of(chmod(path, 0666));
	/* an O_CREAT open is a creation of one's own, as shmget(IPC_CREAT)
	 * of a key not made yet would be */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	seen->err[8] = err_of(fd);
	if (fd >= 0 && write(fd, "other", 5) != 5)
		seen->err[9] = errno;
	gate_pass(&c->others_done);
	gate_wait(&c->closed);
	/* the creator's close made the segment first: this one comes too late */
	if (fd >= 0) {
		for (int i = 0; i < 300 && shmget(KEY_PRIVATE, 0, 0) < 0; i++)
			usleep(10000);
		seen->err[10] = err_of(close(fd));
	}
}

static void test_pending_name_is_the_creators(void **state)
{
	struct creating c;
	struct shmid_ds ds;
	pid_t a, b;
	int id;
	char *p;

	memset(seen, 0, sizeof(*seen));
	gate_open(&c.opened);
	gate_open(&c.others_done);
	gate_open(&c.closed);
	a = spawn_as(ATTACKER, -1, creator, &c);
	gate_wait(&c.opened);
	b = spawn_as(OTHER, -1, other_looks, &c);
	reap(a);
	reap(b);
	gate_close(&c.opened);
	gate_close(&c.others_done);
	gate_close(&c.closed);
	/* the other user saw no name: what the kernel shows of a segment not
	 * made yet */
	assert_int_equal(seen->err[3], ENOENT);
	assert_int_equal(seen->err[4], ENOENT);
	assert_int_equal(seen->err[5], ENOENT);
	assert_int_equal(seen->err[6], ENOENT);
	assert_int_equal(seen->err[7], ENOENT);
	/* its own creation of the key started, and lost to the first made */
	assert_int_equal(seen->err[8], 0);
	assert_int_equal(seen->err[9], 0);
	assert_int_equal(seen->err[10], EEXIST);
	/* the creator was not disturbed: all its bytes, its creation */
	assert_int_equal(seen->err[0], 0);
	assert_int_equal(seen->err[1], 0);
	assert_int_equal(seen->err[2], 0);
	id = wait_segment(KEY_PRIVATE, &ds);
	assert_true(id >= 0);
	assert_int_equal(ds.shm_perm.cuid, ATTACKER);
	assert_int_equal(ds.shm_perm.mode & 0777, 0666);
	p = shmat(id, NULL, SHM_RDONLY);
	assert_true(p != (void *)-1);
	assert_memory_equal(p, "first-second", 12);
	shmdt(p);
	remove_key(KEY_PRIVATE);
}

/* ---- 5. the log cannot be flooded ------------------------------------------------- */

#define KEY_FLOOD 0x7e100000
#define FLOODS	  300

/* Open a name, make its key directly, close: the close's creation fails. */
static void flood(void *arg)
{
	char path[256];

	for (int i = 0; i < FLOODS; i++) {
		int fd, id;

		bykey(path, sizeof(path), KEY_FLOOD + i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			_exit(6);
		id = shmget(KEY_FLOOD + i, 4096, IPC_CREAT | IPC_EXCL | 0600);
		if (id < 0)
			_exit(7);
		close(fd);
	}
}

static long log_lines(void)
{
	char buf[4096];
	long lines = 0;
	ssize_t n;

	for (off_t off = 0; (n = pread(log_fd, buf, sizeof(buf), off)) > 0; off += n)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	return lines;
}

/* Run fn as the attacker, wait for the daemon's log to settle (the last
 * releases are answered after the last close; it is the count that is
 * asserted), and check the lines it wrote: some, at most a burst per
 * interval begun. */
static void expect_rate_limited(const char *what, void (*fn)(void *))
{
	struct timespec t0, t1;
	long before = log_lines(), lines, bound;
	double elapsed;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	as_user(ATTACKER, -1, fn, NULL);
	for (int quiet = 0, i = 0; quiet < 20 && i < 500; i++) {
		long now = log_lines();

		usleep(10000);
		quiet = log_lines() == now ? quiet + 1 : 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	lines = log_lines() - before;
	elapsed = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	bound = LOG_BURST * (2 + (long)(elapsed / LOG_INTERVAL_S));
	printf("%d %s in %.1f s: %ld log lines (at most %ld)\n", FLOODS, what, elapsed, lines,
	       bound);
	assert_true(lines >= 1);
	assert_true(lines <= bound);
}

/* Create through the mount and close, under kernel.shm_rmid_forced=1:
 * each close keeps the new segment attached, and says so. */
static void flood_kept(void *arg)
{
	char path[256];

	for (int i = 0; i < FLOODS; i++) {
		int fd;

		bykey(path, sizeof(path), KEY_FLOOD + FLOODS + i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0)
			_exit(6);
	}
}

static void set_rmid_forced(const char *value)
{
	int fd = open("/proc/sys/kernel/shm_rmid_forced", O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, value, 1), 1);
	close(fd);
}

static void test_log_cannot_be_flooded(void **state)
{
	expect_rate_limited("failed creations at close", flood);
	for (int i = 0; i < FLOODS; i++)
		remove_key(KEY_FLOOD + i);
	set_rmid_forced("1");
	expect_rate_limited("segments kept attached", flood_kept);
	set_rmid_forced("0");
	for (int i = 0; i < FLOODS; i++) {
		int semid = semget(KEY_FLOOD + FLOODS + i, 0, 0);

		remove_key(KEY_FLOOD + FLOODS + i);
		if (semid >= 0)
			semctl(semid, 0, IPC_RMID);
	}
}

/* ---- 6. the creation never waits for a lock ------------------------------------------ */

#define KEY_HELD 0x7e000030

struct held {
	struct gate locked, done;
};

/* A program of the attacker's that made the lock set of the key (as
 * examples/shmlock.h does: 5 semaphores, semaphore 0 set to 1, 3 and 4 the
 * shmfs mark) and holds its exclusive lock, its segment not made yet. */
static void hold_sharelite_lock(void *arg)
{
	struct held *h = arg;
	unsigned short marked[] = { 1, 0, 0, 0x5348, 0x464d };
	int semid = semget(KEY_HELD, 5, IPC_CREAT | IPC_EXCL | 0600);

	if (semid < 0 || semctl(semid, 0, SETALL, (union semun){ .array = marked }) != 0 ||
	    outside_lock(semid, true) != 0)
		_exit(6);
	seen->val[0] = semid;
	gate_pass(&h->locked);
	gate_wait(&h->done);
}

static void create_held_key(void *arg)
{
	create_key(KEY_HELD, 0600, "bytes", 5, seen->err);
}

/* Creating a key whose lock someone holds fails at once with EBUSY and
 * leaves nothing: no segment, the holder's set as it was. */
static void test_creation_never_waits_for_a_lock(void **state)
{
	struct held h;
	pid_t holder;

	memset(seen, 0, sizeof(*seen));
	gate_open(&h.locked);
	gate_open(&h.done);
	holder = spawn_as(ATTACKER, -1, hold_sharelite_lock, &h);
	gate_wait(&h.locked);
	as_user(ATTACKER, -1, create_held_key, NULL);
	assert_int_equal(seen->err[0], 0);
	assert_int_equal(seen->err[1], 0);
	assert_int_equal(seen->err[2], EBUSY);
	assert_int_equal(shmget(KEY_HELD, 0, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(semctl(seen->val[0], 0, GETVAL), 1);
	assert_int_equal(semctl(seen->val[0], 2, GETVAL), 1); /* still held */
	gate_pass(&h.done);
	reap(holder);
	gate_close(&h.locked);
	gate_close(&h.done);
	assert_int_equal(semctl(seen->val[0], 0, IPC_RMID), 0);
}

/* ---- 7. a segment created through by-key/ gets its ShareLite set ------------------------- */

#define KEY_SHARELITE 0x7e000040

static void create_with_bytes(void *arg)
{
	create_key(KEY_SHARELITE, 0640, "shared", 6, seen->err);
}

/* The key's set in the shmfs protocol (examples/shmlock.h): 5 semaphores,
 * made by the creating user with the segment's mode, semaphore 0 at 1
 * (initialised: its bytes are in) and 3, 4 the mark, the lock free; and it
 * is the one the sidecar says a read locks with. */
static void test_creation_makes_the_sharelite_set(void **state)
{
	struct shmid_ds ds;
	struct semid_ds sds;
	char path[256], text[4096], value[32];
	int id, semid;

	memset(seen, 0, sizeof(*seen));
	as_user(ATTACKER, -1, create_with_bytes, NULL);
	assert_int_equal(seen->err[0], 0);
	assert_int_equal(seen->err[1], 0);
	assert_int_equal(seen->err[2], 0);
	id = wait_segment(KEY_SHARELITE, &ds);
	assert_true(id >= 0);
	semid = semget(KEY_SHARELITE, 0, 0);
	assert_true(semid >= 0);
	assert_int_equal(semctl(semid, 0, IPC_STAT, (union semun){ .buf = &sds }), 0);
	assert_int_equal(sds.sem_nsems, 5); /* the shmfs protocol's set, marked */
	assert_int_equal(semctl(semid, 3, GETVAL), 0x5348);
	assert_int_equal(semctl(semid, 4, GETVAL), 0x464d);
	assert_int_equal(sds.sem_perm.uid, ATTACKER);
	assert_int_equal(sds.sem_perm.cuid, ATTACKER);
	assert_int_equal(sds.sem_perm.mode & 0777, 0640);
	assert_int_equal(semctl(semid, 0, GETVAL), 1);
	assert_int_equal(semctl(semid, 1, GETVAL), 0);
	assert_int_equal(semctl(semid, 2, GETVAL), 0);
	snprintf(path, sizeof(path), "%s/%d.stat", mnt.dir, id);
	assert_int_equal(run(text, sizeof(text), "cat %s", path), 0);
	assert_non_null(sidecar_value(text, "lock_semid", value, sizeof(value)));
	assert_int_equal(atoi(value), semid);
	/* it is the user's: removing the segment leaves it */
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	sharelite_semid = semid;
}

/* ---- setup ------------------------------------------------------------------------- */

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other",   "-o", "lock_timeout=2",
					    "-o", MAX_PENDING_OPT, NULL };
	int saved = dup(2);

	/* the daemon's stderr goes to log_path, where test 5 counts lines */
	log_fd = mkstemp(log_path);
	if (log_fd < 0 || saved < 0)
		return -1;
	dup2(log_fd, 2);
	mount_start(&mnt, shmfs_path, args);
	dup2(saved, 2);
	close(saved);
	return 0;
}

static int teardown(void **state)
{
	char left[4096];
	int ret = mount_stop_clean(&mnt);

	/* shmfs never removes a keyed set it made for a user */
	if (sharelite_semid >= 0 && semctl(sharelite_semid, 0, IPC_RMID) != 0) {
		fprintf(stderr, "the ShareLite set made at creation is gone after the unmount\n");
		ret = -1;
	}
	if (ipc_left_behind("shm"))
		ret = -1;
	if (run(left, sizeof(left), "cat %s", log_path) == 0 && left[0])
		fprintf(stderr, "the daemon said:\n%s", left);
	close(log_fd);
	unlink(log_path);
	return ret;
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creator_cannot_be_forged),
		cmocka_unit_test(test_sidecar_lock_is_the_callers),
		cmocka_unit_test(test_pending_budget_is_per_user),
		cmocka_unit_test(test_pending_name_is_the_creators),
		cmocka_unit_test(test_log_cannot_be_flooded),
		cmocka_unit_test(test_creation_never_waits_for_a_lock),
		cmocka_unit_test(test_creation_makes_the_sharelite_set),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (seen == MAP_FAILED)
		return 1;
	return testutil_run_group_tests(tests, setup, teardown);
}
