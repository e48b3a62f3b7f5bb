/* test_faults.c - shmfs when things go wrong around it.
 *
 * The daemon killed while it holds a lock; a lock held for ever by someone
 * else; segments and semaphore sets removed under a busy loop; a shmid
 * reused by another segment; kernel.shm_rmid_forced=1; the daemon stopped
 * by a signal while files are open.  Each test mounts shmfs itself, in a
 * private IPC and mount namespace; every child dies with the test and
 * every wait is bounded.
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
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lock.h"
#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 85
#define MIB	   (1024 * 1024)

static const char *shmfs_path;
static char out[65536];
static long faults_injected;

/* ---- helpers ---------------------------------------------------------------- */

/* The mounts a test made (static, so they outlive a failed assertion),
 * stopped by the teardown whatever became of the test. */
static struct test_mount *live[4];

static void start_mount(struct test_mount *m, const char *shmfs, const char *const *args)
{
	mount_start(m, shmfs, args);
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (!live[i]) {
			live[i] = m;
			return;
		}
}

static int stop_mounts(void **state)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		struct test_mount *m = live[i];

		live[i] = NULL;
		if (!m || !m->dir[0])
			continue;
		if (m->pid > 0) {
			mount_stop(m); /* unmounts and removes the directory */
		} else {
			umount2(m->dir, MNT_DETACH);
			rmdir(m->dir);
		}
		m->dir[0] = '\0';
		m->pid = 0;
	}
	return 0;
}

static const char *const short_timeout[] = { "-o", "lock_timeout=1", NULL };
static const char *const long_timeout[] = { "-o", "lock_timeout=60", NULL };

static bool all_bytes(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return false;
	return true;
}

/* The semaphore set ids of the namespace, as a sorted text list. */
static void sem_sets(char *buf, size_t size)
{
	assert_int_equal(
		run(buf, size, "tail -n +2 /proc/sysvipc/sem | awk '\\''{print $2}'\\'' | sort -n"),
		0);
}

/* ---- the daemon killed while it holds a lock ---------------------------------- */

/* SIGKILL the daemon at a moment it holds the segment's exclusive lock in
 * the middle of 1 MiB writes: stop it, make sure it is the holder, kill. */
static void test_daemon_killed_holding_lock(void **state)
{
	const int32_t key = 0x7fa00001;
	static struct test_mount m, again;
	int big = make_segment(key, MIB, 0600);
	int other = make_segment(IPC_PRIVATE, 4096, 0600);
	unsigned char *pb = shm_attach(big), *po = shm_attach(other);
	int semid, status, tries;
	bool caught = false;
	pid_t writer;

	memset(po, 'B', 4096);
	semid = make_sharelite_set(key);
	start_mount(&m, shmfs_path, NULL);
	assert_int_equal(sidecar_semid(m.dir, big), semid);

	writer = testutil_fork();
	if (writer == 0) {
		char path[128];
		unsigned char *buf =
			mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int fd;

		snprintf(path, sizeof(path), "%s/%d", m.dir, big);
		fd = open(path, O_RDWR);
		if (fd < 0 || buf == MAP_FAILED)
			_exit(100);
		for (int i = 0; i < 1000000; i++) {
			memset(buf, 1 + i % 250, MIB);
			if (pwrite(fd, buf, MIB, 0) != MIB)
				_exit(errno);
		}
		_exit(0);
	}

	/* Catch the daemon holding the lock: semaphore 2 taken, last by it.
	 * Bounded by a count of writes rather than by a clock. */
	for (tries = 0; tries < 5000000 && !caught && testutil_still_running(writer); tries++) {
		if (semctl(semid, 2, GETVAL) != 1 || semctl(semid, 2, GETPID) != m.pid)
			continue;
		kill(m.pid, SIGSTOP);
		assert_int_equal(waitpid(m.pid, &status, WUNTRACED), m.pid);
		caught = semctl(semid, 2, GETVAL) == 1 && semctl(semid, 2, GETPID) == m.pid;
		if (!caught)
			kill(m.pid, SIGCONT);
	}
	assert_true(caught);
	/* held: nobody else gets it */
	assert_int_not_equal(lock_acquire(semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL), 0);
	kill(m.pid, SIGKILL);
	assert_int_equal(waitpid(m.pid, &status, 0), m.pid);
	assert_true(WIFSIGNALED(status));
	m.pid = 0;
	faults_injected++;

	/* SEM_UNDO: the kernel released the lock as the daemon died. */
	assert_int_equal(lock_acquire(semid, LOCK_MODE_EXCLUSIVE, 1000, NULL, NULL), 0);
	assert_int_equal(lock_release(semid, LOCK_MODE_EXCLUSIVE), 0);

	/* The writer is told, it does not hang. */
	status = testutil_wait_bounded(writer, 20);
	assert_true(WIFEXITED(status));
	assert_true(WEXITSTATUS(status) == ENOTCONN || WEXITSTATUS(status) == ECONNABORTED);

	/* Segments intact: the one being written holds at most the old and
	 * the new fill (a write cut by death is not atomic), the other all. */
	assert_int_equal(shm_stat(big).shm_segsz, MIB);
	int values = 0;
	bool seen[256] = { false };
	for (size_t i = 0; i < MIB; i++)
		if (!seen[pb[i]]) {
			seen[pb[i]] = true;
			values++;
		}
	assert_true(values <= 2);
	assert_true(all_bytes(po, 4096, 'B'));

	/* The dead mount: ENOTCONN, lazily unmounted; a new mount works. */
	assert_int_not_equal(run(out, sizeof(out), "ls %s", m.dir), 0);
	assert_non_null(strstr(out, "Transport endpoint is not connected"));
	assert_int_equal(umount2(m.dir, MNT_DETACH), 0);
	assert_int_equal(rmdir(m.dir), 0);

	start_mount(&again, shmfs_path, NULL);
	assert_int_equal(sidecar_semid(again.dir, big), semid);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d | wc -c", again.dir, big), 0);
	assert_int_equal(atoi(out), MIB);
	assert_int_equal(run(out, sizeof(out), "printf x | dd of=%s/%d conv=notrunc status=none",
			     again.dir, big),
			 0);
	assert_int_equal(pb[0], 'x');
	assert_int_equal(run(out, sizeof(out), "tr -d B < %s/%d | wc -c", again.dir, other), 0);
	assert_int_equal(atoi(out), 0);
	assert_int_equal(mount_stop(&again), 0);

	shmdt(pb);
	shmdt(po);
	shmctl(big, IPC_RMID, NULL);
	shmctl(other, IPC_RMID, NULL);
	/* The set is the key's: the daemons used it and left it. */
	assert_true(sem_exists(semid));
	semctl(semid, 0, IPC_RMID);
}

/* ---- a lock held for ever ------------------------------------------------------ */

struct lock_hold_arg {
	int semid;
	enum lock_mode mode;
};

static int take_lock(void *arg)
{
	const struct lock_hold_arg *l = arg;

	return lock_acquire(l->semid, l->mode, 5000, NULL, NULL);
}

static pid_t hold_lock(int semid, enum lock_mode mode)
{
	struct lock_hold_arg l = { semid, mode };
	pid_t pid = testutil_fork_holder(take_lock, &l);

	assert_true(pid > 0);
	return pid;
}

/* Reads and writes time out with ETIMEDOUT, change nothing, and the
 * daemon serves other segments while one request waits. */
static void test_lock_held_forever(void **state)
{
	static struct test_mount quick, patient;
	int held = make_segment(0x7fa00002, 4096, 0600);
	int free_seg = make_segment(IPC_PRIVATE, 4096, 0600);
	unsigned char *p = shm_attach(held), buf[4096];
	char path[128];
	int semid, fd, status;
	pid_t holder, waiter;

	memset(p, 'h', 4096);
	make_sharelite_set(0x7fa00002);
	start_mount(&quick, shmfs_path, short_timeout);
	start_mount(&patient, shmfs_path, long_timeout);
	semid = sidecar_semid(quick.dir, held);
	assert_int_equal(sidecar_semid(patient.dir, held), semid);
	holder = hold_lock(semid, LOCK_MODE_EXCLUSIVE);
	faults_injected++;

	snprintf(path, sizeof(path), "%s/%d", quick.dir, held);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	memset(buf, 'w', sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	close(fd);
	/* O_TRUNC zero-fills under the lock: it times out as a whole */
	assert_int_equal(open(path, O_WRONLY | O_TRUNC), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(all_bytes(p, 4096, 'h'));

	/* One reader waits on the patient mount ... */
	waiter = testutil_fork();
	if (waiter == 0) {
		snprintf(path, sizeof(path), "%s/%d", patient.dir, held);
		fd = open(path, O_RDONLY);
		if (fd < 0 || pread(fd, buf, sizeof(buf), 0) != sizeof(buf))
			_exit(1);
		_exit(all_bytes(buf, sizeof(buf), 'h') ? 0 : 2);
	}
	for (int i = 0; i < 1000 && semctl(semid, 2, GETZCNT) == 0; i++)
		usleep(10000);
	assert_true(semctl(semid, 2, GETZCNT) > 0);
	/* ... while both daemons serve another segment. */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(run(NULL, 0, "printf %03d > %s/%d && cat %s/%d > /dev/null", i,
				     i % 2 ? quick.dir : patient.dir, free_seg, quick.dir,
				     free_seg),
				 0);
	}
	assert_int_equal(
		run(out, sizeof(out), "ls %s %s | grep -c %d.stat", quick.dir, patient.dir, held),
		0);
	assert_int_equal(atoi(out), 2);
	assert_true(testutil_still_running(waiter));

	/* The holder dies: SEM_UNDO frees the lock, the waiter gets its read. */
	testutil_kill(holder);
	status = testutil_wait_bounded(waiter, 20);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(mount_stop(&quick), 0);
	assert_int_equal(mount_stop(&patient), 0);
	shmdt(p);
	shmctl(held, IPC_RMID, NULL);
	shmctl(free_seg, IPC_RMID, NULL);
}

/* ---- removals under a busy loop ------------------------------------------------ */

/* The errors a loop may see when its segment's set or segment goes:
 * anything else, a crash or a hang fails. */
static bool clear_error(int err)
{
	return err == EIDRM || err == EINVAL || err == ENOENT;
}

struct loop_result {
	int stop; /* set by the parent once its removals are done */
	long ops;
	long failures;
	long unclear; /* failures with an errno outside clear_error() */
	int first_unclear;
};

static pid_t start_loop(const char *dir, int id, size_t size, long ops, struct loop_result *r)
{
	pid_t pid = testutil_fork();

	if (pid == 0) {
		char path[128];
		unsigned char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int fd;

		snprintf(path, sizeof(path), "%s/%d", dir, id);
		fd = open(path, O_RDWR);
		if (fd < 0 || buf == MAP_FAILED)
			_exit(1);
		for (long i = 0; i < ops || !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE); i++) {
			ssize_t n;

			memset(buf, 1 + i % 200, size);
			n = i % 2 ? pread(fd, buf, size, 0) : pwrite(fd, buf, size, 0);
			r->ops++;
			if (n == (ssize_t)size)
				continue;
			r->failures++;
			if (n >= 0 || !clear_error(errno)) {
				if (r->unclear++ == 0)
					r->first_unclear = n >= 0 ? 0 : errno;
			}
		}
		_exit(0);
	}
	return pid;
}

/* Remove the set guarding a segment again and again while a loop reads
 * and writes it through the mount, then the segment itself. */
static void test_removed_under_busy_loop(void **state)
{
	static const struct {
		int32_t key;
		size_t size;
	} cases[] = { { 0x7fa00003, MIB }, { IPC_PRIVATE, 65536 + 3 } };
	struct loop_result *res =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static struct test_mount m;
	long set_removals = 0, seg_removals = 0;

	assert_ptr_not_equal(res, MAP_FAILED);
	start_mount(&m, shmfs_path, NULL);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int id = make_segment(cases[c].key, cases[c].size, 0600);
		struct loop_result *r = &res[c];

		if (cases[c].key)
			make_sharelite_set(cases[c].key);
		pid_t loop;
		int status;

		memset(r, 0, sizeof(*r));
		loop = start_loop(m.dir, id, cases[c].size, 1000, r);
		for (int i = 0; i < 200; i++) {
			/* once removed, a private segment has no sidecar: it is
			 * destroyed (nobody attached) and lives on in the file */
			int semid = cases[c].key ? semget(cases[c].key, 3, 0)
				    : i < 150	 ? sidecar_semid(m.dir, id)
						 : -1;

			if (i == 150) {
				/* the segment goes too; the open file keeps it */
				assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
				seg_removals++;
			}
			if (semid >= 0 && semctl(semid, 0, IPC_RMID) == 0)
				set_removals++;
			usleep(2000);
		}
		__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
		status = testutil_wait_bounded(loop, 60);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		printf("removals: size %zu: %ld operations, %ld failed (%ld unclear, %s)\n",
		       cases[c].size, r->ops, r->failures, r->unclear,
		       r->unclear ? strerror(r->first_unclear) : "none");
		assert_int_equal(r->unclear, 0);
		assert_true(r->ops >= 1000);
		if (shm_exists(id))
			shmctl(id, IPC_RMID, NULL);
	}
	/* the daemon still answers */
	assert_int_equal(run(out, sizeof(out), "ls %s", m.dir), 0);
	assert_int_equal(mount_stop(&m), 0);
	printf("removals: %ld semaphore sets and %ld segments removed under the loops\n",
	       set_removals, seg_removals);
	faults_injected += set_removals + seg_removals;
	munmap(res, 4096);
}

/* ---- a shmid reused by another segment ----------------------------------------- */

static int make_segment_with_id(int want, int32_t key, size_t size)
{
	int id;

	assert_true(testutil_set_next_id("shm", want));
	id = make_segment(key, size, 0600);
	assert_int_equal(id, want);
	return id;
}

/* stat, cat and the sidecar show the new segment, not the old one. */
static void test_shmid_reuse(void **state)
{
	const int32_t key1 = 0x7fa00004, key3 = 0x7fa00005;
	static struct test_mount m;
	int id, semid1;
	unsigned char *p;
	char v[64];

	start_mount(&m, shmfs_path, NULL);
	/* keyed, then private with the same shmid */
	make_sharelite_set(key1);
	make_sharelite_set(key3);
	id = make_segment(key1, 64, 0600);
	p = shm_attach(id);
	memset(p, 'a', 64);
	shmdt(p);
	assert_int_equal(run(out, sizeof(out), "stat -c %%s %s/%d; cat %s/%d | tr -d a | wc -c",
			     m.dir, id, m.dir, id),
			 0);
	assert_string_equal(out, "64\n0\n");
	semid1 = sidecar_semid(m.dir, id);
	assert_int_equal(semget(key1, 3, 0), semid1);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(make_segment_with_id(id, IPC_PRIVATE, 8192), id);
	faults_injected++;
	p = shm_attach(id);
	memset(p, 'b', 8192);
	shmdt(p);
	assert_int_equal(run(out, sizeof(out), "stat -c %%s %s/%d; cat %s/%d | tr -d b | wc -c",
			     m.dir, id, m.dir, id),
			 0);
	assert_string_equal(out, "8192\n0\n");
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat", m.dir, id), 0);
	assert_string_equal(sidecar_value(out, "size", v, sizeof(v)), "8192");
	assert_string_equal(sidecar_value(out, "key", v, sizeof(v)), "0x00000000");
	assert_int_not_equal(atoi(sidecar_value(out, "lock_semid", v, sizeof(v))), semid1);
	assert_int_not_equal(run(out, sizeof(out), "ls %s/by-key/0x%08x", m.dir, key1), 0);

	/* private, then keyed with the same shmid: its set is the key's */
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(make_segment_with_id(id, key3, 100), id);
	faults_injected++;
	assert_int_equal(
		run(out, sizeof(out), "stat -c %%s %s/%d; cat %s/%d | wc -c", m.dir, id, m.dir, id),
		0);
	assert_string_equal(out, "100\n100\n");
	assert_int_equal(sidecar_semid(m.dir, id), semget(key3, 3, 0));
	assert_int_equal(run(out, sizeof(out), "readlink %s/by-key/0x%08x", m.dir, key3), 0);
	snprintf(v, sizeof(v), "../%d\n", id);
	assert_string_equal(out, v);

	/* an open file of a segment keeps showing that segment */
	int fd;
	char path[128];
	unsigned char c = 0;
	snprintf(path, sizeof(path), "%s/%d", m.dir, id);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_false(shm_exists(id)); /* no attacher: destroyed, the file keeps it */
	assert_int_equal(pread(fd, &c, 1, 99), 1);
	assert_int_equal(pread(fd, &c, 1, 100), 0);
	close(fd);

	assert_int_equal(mount_stop(&m), 0);
	for (int i = 0; i < 100 && shm_exists(id); i++)
		usleep(10000);
	assert_false(shm_exists(id));
	semctl(semget(key1, 3, 0), 0, IPC_RMID);
	semctl(semget(key3, 3, 0), 0, IPC_RMID);
}

/* ---- kernel.shm_rmid_forced=1 ---------------------------------------------------- */

/* Under kernel.shm_rmid_forced=1 the kernel destroys a segment at the
 * detach that leaves nobody attached.  An open file is no attacher: the
 * program's own detach destroys the segment as if shmfs were not there
 * (its open file keeps the bytes), an open of a segment nobody has
 * attached is refused (its detach would destroy it), and listing never
 * attaches. */
static void test_rmid_forced(void **state)
{
	static struct test_mount m;
	int id = make_segment(0x7fa00006, 64, 0600);
	int orphan = make_segment(IPC_PRIVATE, 64, 0600);
	unsigned char *p = shm_attach(id), c = 0;
	char path[128];
	int fd;

	memset(p, 'r', 64);
	start_mount(&m, shmfs_path, NULL);
	assert_int_equal(run(out, sizeof(out), "echo 1 > /proc/sys/kernel/shm_rmid_forced"), 0);
	snprintf(path, sizeof(path), "%s/%d", m.dir, id);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(shm_stat(id).shm_nattch, 1);
	/* listing, by-key, stat and the sidecar never attach */
	assert_int_equal(run(out, sizeof(out),
			     "ls -l %s %s/by-key; readlink %s/by-key/0x7fa00006; "
			     "stat %s/%d; cat %s/%d.stat",
			     m.dir, m.dir, m.dir, m.dir, id, m.dir, id),
			 0);
	assert_int_equal(shm_stat(id).shm_nattch, 1);
	shmdt(p);
	faults_injected++;
	assert_false(shm_exists(id));
	assert_int_equal(pread(fd, &c, 1, 63), 1);
	assert_int_equal(c, 'r');
	close(fd);
	/* nobody attached: the open is refused, the segment lives */
	assert_int_not_equal(run(out, sizeof(out), "cat %s/%d", m.dir, orphan), 0);
	assert_non_null(strstr(out, "Device or resource busy"));
	assert_true(shm_exists(orphan));
	assert_int_equal(run(out, sizeof(out), "echo 0 > /proc/sys/kernel/shm_rmid_forced"), 0);
	assert_int_equal(mount_stop(&m), 0);
	shmctl(orphan, IPC_RMID, NULL);
}

/* ---- stopped with files open ------------------------------------------------------- */

struct open_files {
	const char *dir;
	const int *ids;
	int n;
};

/* Opens every segment's file (writing to it) and its sidecar, and keeps
 * them open. */
static int open_files(void *arg)
{
	const struct open_files *o = arg;

	for (int i = 0; i < o->n; i++) {
		char path[128];
		int fd;

		snprintf(path, sizeof(path), "%s/%d", o->dir, o->ids[i]);
		fd = open(path, O_RDWR);
		if (fd < 0 || pwrite(fd, "open", 4, 0) != 4)
			return -1;
		snprintf(path, sizeof(path), "%s/%d.stat", o->dir, o->ids[i]);
		if (open(path, O_RDONLY) < 0)
			return -1;
	}
	return 0;
}

/* Stop the daemon with sig while a process holds ten segment files and a
 * sidecar open: a clean exit, no attachment left, and every set shmfs
 * made removed while the sets others made stay. */
static void stop_with_files_open(int sig)
{
	enum {
		NSEG = 10
	};
	const int32_t own_key = 0x7fa01000 + 0x100 * sig; /* a failed run leaves its own */
	static struct test_mount m;
	char before[4096], after[4096];
	int ids[NSEG], own_set, private_set, status;
	pid_t holder;

	/* sets of others: one under a segment's key (as ShareLite makes),
	 * one private */
	own_set = make_sharelite_set(own_key);
	private_set = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	assert_true(private_set >= 0);
	sem_sets(before, sizeof(before));
	for (int i = 0; i < NSEG; i++)
		ids[i] = make_segment(i == 0 ? own_key : (i % 3 ? IPC_PRIVATE : own_key + i), 4096,
				      0600);
	start_mount(&m, shmfs_path, NULL);

	holder = testutil_fork_holder(open_files, &(struct open_files){ m.dir, ids, NSEG });
	assert_true(holder > 0);
	for (int i = 0; i < NSEG; i++)
		assert_int_equal(shm_stat(ids[i]).shm_nattch, 0); /* open files are no attachers */
	assert_int_equal(sidecar_semid(m.dir, ids[0]), own_set);

	kill(m.pid, sig);
	faults_injected++;
	status = testutil_wait_bounded(m.pid, 30);
	m.pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (int i = 0; i < NSEG; i++)
		assert_int_equal(shm_stat(ids[i]).shm_nattch, 0);
	sem_sets(after, sizeof(after));
	assert_string_equal(after, before);
	assert_true(sem_exists(own_set) && sem_exists(private_set));

	/* the holder's files are dead, not hung */
	assert_int_equal(run(out, sizeof(out), "ls %s; true", m.dir), 0);
	testutil_kill(holder);
	umount2(m.dir, MNT_DETACH);
	assert_int_equal(rmdir(m.dir), 0);
	for (int i = 0; i < NSEG; i++)
		shmctl(ids[i], IPC_RMID, NULL);
	semctl(own_set, 0, IPC_RMID);
	semctl(private_set, 0, IPC_RMID);
}

static void test_sigterm_with_files_open(void **state)
{
	stop_with_files_open(SIGTERM);
}

static void test_sigint_with_files_open(void **state)
{
	stop_with_files_open(SIGINT);
}

static void test_sighup_with_files_open(void **state)
{
	stop_with_files_open(SIGHUP);
}

static int report(void **state)
{
	printf("faults: %ld injected\n", faults_injected);
	return 0;
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_daemon_killed_holding_lock, stop_mounts),
		cmocka_unit_test_teardown(test_lock_held_forever, stop_mounts),
		cmocka_unit_test_teardown(test_removed_under_busy_loop, stop_mounts),
		cmocka_unit_test_teardown(test_shmid_reuse, stop_mounts),
		cmocka_unit_test_teardown(test_rmid_forced, stop_mounts),
		cmocka_unit_test_teardown(test_sigterm_with_files_open, stop_mounts),
		cmocka_unit_test_teardown(test_sigint_with_files_open, stop_mounts),
		cmocka_unit_test_teardown(test_sighup_with_files_open, stop_mounts),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, NULL, report);
}
