/* test_mmap.c - mmap of segment files, and writers in parallel (issue 13).
 *
 * With FUSE passthrough the mapping of a segment file is the segment
 * itself; read() and write() still go through the daemon.  The oracles:
 * shmat() of the same segment, cat(1), a regular tmpfs file for what a
 * mapping past the end does, and the kernel's own table of backing ids
 * (FUSE_DEV_IOC_BACKING_CLOSE on the daemon's /dev/fuse, taken with
 * pidfd_getfd()) for the ids being closed after release.
 *
 * Runs in a private IPC and mount namespace, under a watchdog.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fuse.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 100
#define PAGE	   4096
#define KEY_BASE   0x7e5a0000

#ifndef FUSE_DEV_IOC_BACKING_CLOSE
#define FUSE_DEV_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
#endif

static const char *shmfs_path;
static struct test_mount mnt; /* allow_other */
static char out[65536];
static int next_key = KEY_BASE;

#define M mnt.dir

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	return mount_stop_clean(&mnt);
}

static int open_segment(const struct test_mount *m, int id, int flags)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%d", m->dir, id);
	return open(path, flags);
}

static void *map(int fd, size_t len, int prot)
{
	return mmap(NULL, len, prot, MAP_SHARED, fd, 0);
}

static void fill(unsigned char *p, size_t len, unsigned char seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

/* ---- SIGBUS, as a file gives it ------------------------------------- */

static sigjmp_buf bus_jump;

static void on_sigbus(int sig)
{
	siglongjmp(bus_jump, 1);
}

/* Whether touching p faults with SIGBUS. */
static bool touch_faults(volatile unsigned char *p, bool write)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	bool faulted = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jump, 1) == 0) {
		if (write)
			*p = 1;
		else
			(void)*p;
	} else {
		faulted = true;
	}
	sigaction(SIGBUS, &old, NULL);
	return faulted;
}

/* ---- the mapping is the segment --------------------------------------- */

/* Written through the mapping: seen at once by shmat and cat; written
 * through shmat: seen at once in the mapping and by read(). */
static void test_mapping_is_the_segment(void **state)
{
	const size_t size = 3 * PAGE + 100;
	int id = make_segment(IPC_PRIVATE, size, 0600);
	unsigned char *seg = shmat(id, NULL, 0), *mapped, *expect = malloc(size),
		      *buf = malloc(size);
	int fd = open_segment(&mnt, id, O_RDWR);

	assert_ptr_not_equal(seg, (void *)-1);
	assert_true(fd >= 0);
	mapped = map(fd, size, PROT_READ | PROT_WRITE);
	assert_ptr_not_equal(mapped, MAP_FAILED);

	fill(expect, size, 1);
	memcpy(mapped, expect, size);
	assert_memory_equal(seg, expect, size);
	assert_int_equal(pread(fd, buf, size, 0), size);
	assert_memory_equal(buf, expect, size);
	memcpy(mapped + size - 11, "cat-sees-me", 11);
	assert_int_equal(run(out, sizeof(out), "tail -c 11 %s/%d", M, id), 0);
	assert_string_equal(out, "cat-sees-me");

	fill(expect, size, 99);
	memcpy(seg, expect, size);
	assert_memory_equal(mapped, expect, size);
	/* and a write() through the mount, which goes to the daemon */
	assert_int_equal(pwrite(fd, "via-write", 9, PAGE - 4), 9);
	assert_memory_equal(mapped + PAGE - 4, "via-write", 9);
	assert_memory_equal(seg + PAGE - 4, "via-write", 9);

	assert_int_equal(munmap(mapped, size), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(shmdt(seg), 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	free(expect);
	free(buf);
}

/* A read-only open gives a read-only mapping, as a regular file does;
 * for a second user (uid 65534) too, who may not open it for writing,
 * while root has it open for writing (and so its backing file). */
static void test_read_only_open_maps_read_only(void **state)
{
	int id = make_segment(IPC_PRIVATE, PAGE, 0644);
	char *seg = shmat(id, NULL, 0), *mapped;
	int fd = open_segment(&mnt, id, O_RDONLY), status;
	pid_t pid;

	assert_ptr_not_equal(seg, (void *)-1);
	strcpy(seg, "root wrote this");
	assert_true(fd >= 0);
	errno = 0;
	assert_ptr_equal(map(fd, PAGE, PROT_READ | PROT_WRITE), MAP_FAILED);
	assert_int_equal(errno, EACCES);
	mapped = map(fd, PAGE, PROT_READ);
	assert_ptr_not_equal(mapped, MAP_FAILED);
	assert_string_equal(mapped, "root wrote this");
	assert_int_equal(mprotect(mapped, PAGE, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	munmap(mapped, PAGE);
	close(fd);

	fd = open_segment(&mnt, id, O_RDWR);
	assert_true(fd >= 0);
	mapped = map(fd, PAGE, PROT_READ | PROT_WRITE);
	assert_ptr_not_equal(mapped, MAP_FAILED);
	pid = testutil_fork();
	if (pid == 0) {
		int code = 0;

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(100);
		fd = open_segment(&mnt, id, O_RDWR);
		if (fd >= 0 || errno != EACCES)
			code |= 1;
		fd = open_segment(&mnt, id, O_RDONLY);
		if (fd < 0)
			_exit(code | 2);
		if (map(fd, PAGE, PROT_READ | PROT_WRITE) != MAP_FAILED || errno != EACCES)
			code |= 4;
		mapped = map(fd, PAGE, PROT_READ);
		if (mapped == MAP_FAILED || strcmp(mapped, "root wrote this") != 0)
			code |= 8;
		else if (mprotect(mapped, PAGE, PROT_READ | PROT_WRITE) == 0 || errno != EACCES)
			code |= 16;
		_exit(code);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	munmap(mapped, PAGE);
	close(fd);
	shmdt(seg);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

/* The mapping cannot grow the segment: past the last page SIGBUS, as a
 * tmpfs file of the same size gives; within it, bytes past the end are
 * the page's tail, not the segment's. */
static void test_mapping_beyond_the_end(void **state)
{
	const size_t size = PAGE + 10;
	int id = make_segment(IPC_PRIVATE, size, 0600);
	int fd = open_segment(&mnt, id, O_RDWR);
	char tmpfs_file[] = "/dev/shm/shmfs-test-mmap.XXXXXX";
	int tfd = mkstemp(tmpfs_file);
	unsigned char *mapped, *file_mapped;
	struct shmid_ds ds;
	struct stat st;

	assert_true(fd >= 0);
	assert_true(tfd >= 0);
	unlink(tmpfs_file);
	assert_int_equal(ftruncate(tfd, size), 0);
	mapped = map(fd, 3 * PAGE, PROT_READ | PROT_WRITE);
	file_mapped = map(tfd, 3 * PAGE, PROT_READ | PROT_WRITE);
	assert_ptr_not_equal(mapped, MAP_FAILED);
	assert_ptr_not_equal(file_mapped, MAP_FAILED);

	assert_false(touch_faults(mapped + size - 1, true));
	assert_false(touch_faults(file_mapped + size - 1, true));
	/* the tail of the last page: there, but not the segment's */
	assert_false(touch_faults(mapped + size + 5, true));
	assert_false(touch_faults(file_mapped + size + 5, true));
	assert_true(touch_faults(mapped + 2 * PAGE, false));
	assert_true(touch_faults(file_mapped + 2 * PAGE, false));
	assert_true(touch_faults(mapped + 2 * PAGE + 1, true));
	assert_true(touch_faults(file_mapped + 2 * PAGE + 1, true));

	assert_int_equal(shmctl(id, IPC_STAT, &ds), 0);
	assert_int_equal(ds.shm_segsz, size);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, size);
	/* a read through the mount still ends at the segment's end */
	assert_int_equal(pread(fd, out, sizeof(out), 0), size);

	munmap(mapped, 3 * PAGE);
	munmap(file_mapped, 3 * PAGE);
	close(fd);
	close(tfd);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

/* Removed while mapped: the mapping and the open file keep the bytes. */
static void test_segment_removed_while_mapped(void **state)
{
	const size_t size = 2 * PAGE;
	int id = make_segment(IPC_PRIVATE, size, 0600);
	int fd = open_segment(&mnt, id, O_RDWR);
	char *mapped, buf[32] = "";
	struct shmid_ds ds;

	assert_true(fd >= 0);
	mapped = map(fd, size, PROT_READ | PROT_WRITE);
	assert_ptr_not_equal(mapped, MAP_FAILED);
	strcpy(mapped + PAGE, "before removal");
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	/* nobody attached: gone for the kernel at once */
	assert_int_equal(shmctl(id, IPC_STAT, &ds), -1);

	assert_string_equal(mapped + PAGE, "before removal");
	strcpy(mapped, "after removal");
	assert_int_equal(pread(fd, buf, 13, 0), 13);
	assert_memory_equal(buf, "after removal", 13);
	assert_int_equal(pwrite(fd, "by write", 8, 100), 8);
	assert_memory_equal(mapped + 100, "by write", 8);
	close(fd);
	/* the mapping outlives the open file */
	assert_string_equal(mapped + PAGE, "before removal");
	assert_int_equal(munmap(mapped, size), 0);
}

/* ---- read() and write() still go to the daemon ---------------------- */

/* With the segment's lock held outside, write() and read() through the
 * mount wait for it (lock_timeout=1: ETIMEDOUT) while the mapping, like
 * shmat, does not lock; a write at the end is ENOSPC.  A mount of its
 * own: a second is short for the other tests' waits under valgrind. */
static void test_reads_and_writes_still_locked(void **state)
{
	static const char *const args[] = { "-o", "lock_timeout=1", NULL };
	struct test_mount m2;
	int key = next_key++;
	int id = make_segment(key, PAGE, 0600);
	int semid = make_sharelite_set(key);
	int fd;
	char *mapped, buf[16];

	mount_start(&m2, shmfs_path, args);
	fd = open_segment(&m2, id, O_RDWR);

	assert_true(fd >= 0);
	mapped = map(fd, PAGE, PROT_READ | PROT_WRITE);
	assert_ptr_not_equal(mapped, MAP_FAILED);
	assert_int_equal(outside_lock(semid, true), 0);
	errno = 0;
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	errno = 0;
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	strcpy(mapped, "unlocked");
	assert_int_equal(outside_unlock(semid, true), 0);
	assert_int_equal(pread(fd, buf, 8, 0), 8);
	assert_memory_equal(buf, "unlocked", 8);
	errno = 0;
	assert_int_equal(pwrite(fd, "x", 1, PAGE), -1);
	assert_int_equal(errno, ENOSPC);

	munmap(mapped, PAGE);
	close(fd);
	assert_int_equal(mount_stop(&m2), 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
}

/* ---- the backing ids are closed after release ----------------------- */

static int daemon_fds_named(pid_t pid, const char *prefix, int *last)
{
	char dir[64], target[256];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	dp = opendir(dir);
	assert_non_null(dp);
	while ((d = readdir(dp))) {
		ssize_t len;

		len = readlinkat(dirfd(dp), d->d_name, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strncmp(target, prefix, strlen(prefix)) == 0) {
			n++;
			if (last)
				*last = atoi(d->d_name);
		}
	}
	closedir(dp);
	return n;
}

/* RELEASE is asynchronous: wait (bounded) until the daemon holds n
 * segment files; it closes a file's backing id before its descriptor. */
static void wait_daemon_segment_files(pid_t pid, int n)
{
	for (int i = 0; i < 1000 && daemon_fds_named(pid, "/SYSV", NULL) != n; i++)
		usleep(10000);
	assert_int_equal(daemon_fds_named(pid, "/SYSV", NULL), n);
}

/* The daemon's /dev/fuse, in this process: the kernel's table of backing
 * ids is the connection's. */
static int daemon_fuse_device(pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), devfd, fd = -1;

	assert_int_equal(daemon_fds_named(pid, "/dev/fuse", &fd), 1);
	assert_true(pidfd >= 0);
	devfd = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	assert_true(devfd >= 0);
	close(pidfd);
	return devfd;
}

/* 0 if the kernel had backing id `id` (and closes it), else -errno. */
static int backing_close(int devfd, uint32_t id)
{
	return ioctl(devfd, FUSE_DEV_IOC_BACKING_CLOSE, &id) == 0 ? 0 : -errno;
}

/* A mount of its own, so that its ids are 1, 2, 3 in order of first
 * open: a (kept open), b (opened twice: one id), c (mapped, closed). */
static void test_backing_ids_closed_after_release(void **state)
{
	struct test_mount m2;
	int a = make_segment(IPC_PRIVATE, PAGE, 0600);
	int b = make_segment(IPC_PRIVATE, PAGE, 0600);
	int c = make_segment(IPC_PRIVATE, PAGE, 0600);
	int fa, fb1, fb2, fc, devfd;
	char *ma, *mb1, *mb2, *mc;

	mount_start(&m2, shmfs_path, NULL);
	fa = open_segment(&m2, a, O_RDWR);
	ma = map(fa, PAGE, PROT_READ | PROT_WRITE);
	fb1 = open_segment(&m2, b, O_RDWR);
	fb2 = open_segment(&m2, b, O_RDONLY);
	mb1 = map(fb1, PAGE, PROT_READ | PROT_WRITE);
	mb2 = map(fb2, PAGE, PROT_READ);
	fc = open_segment(&m2, c, O_RDWR);
	mc = map(fc, PAGE, PROT_READ | PROT_WRITE);
	assert_ptr_not_equal(ma, MAP_FAILED);
	assert_ptr_not_equal(mb1, MAP_FAILED);
	assert_ptr_not_equal(mb2, MAP_FAILED);
	assert_ptr_not_equal(mc, MAP_FAILED);
	strcpy(mb1, "two opens, one backing file");
	assert_string_equal(mb2, "two opens, one backing file");

	close(fb1);
	close(fb2);
	close(fc);
	wait_daemon_segment_files(m2.pid, 1);
	strcpy(mc, "the mapping outlives the id");
	assert_string_equal(mc, "the mapping outlives the id");

	devfd = daemon_fuse_device(m2.pid);
	for (uint32_t id = 2; id <= 8; id++)
		assert_int_equal(backing_close(devfd, id), -ENOENT);
	/* The probe sees a live id: a's, still open (this closes it; a's
	 * mapping keeps its backing file, and the daemon's own close at a's
	 * release then finds nothing, which it ignores). */
	assert_int_equal(backing_close(devfd, 1), 0);
	strcpy(ma, "still mapped");
	close(fa);
	close(devfd);
	wait_daemon_segment_files(m2.pid, 0);

	munmap(ma, PAGE);
	munmap(mb1, PAGE);
	munmap(mb2, PAGE);
	munmap(mc, PAGE);
	assert_int_equal(mount_stop(&m2), 0);
	shmctl(a, IPC_RMID, NULL);
	shmctl(b, IPC_RMID, NULL);
	shmctl(c, IPC_RMID, NULL);
}

/* ---- without passthrough: as before --------------------------------- */

/* The kernel not offering passthrough (masked): MAP_SHARED is ENODEV,
 * MAP_PRIVATE, read() and write() work as they did. */
static void test_without_passthrough_enodev(void **state)
{
	struct test_mount m2;
	int id = make_segment(IPC_PRIVATE, PAGE, 0600);
	char *seg = shmat(id, NULL, 0), *priv;
	int fd;

	setenv("SHMFS_MASK_KERNEL_FEATURES", "passthrough", 1);
	mount_start(&m2, shmfs_path, NULL);
	unsetenv("SHMFS_MASK_KERNEL_FEATURES");
	strcpy(seg, "in the segment");
	fd = open_segment(&m2, id, O_RDWR);
	assert_true(fd >= 0);
	errno = 0;
	assert_ptr_equal(map(fd, PAGE, PROT_READ | PROT_WRITE), MAP_FAILED);
	assert_int_equal(errno, ENODEV);
	errno = 0;
	assert_ptr_equal(map(fd, PAGE, PROT_READ), MAP_FAILED);
	assert_int_equal(errno, ENODEV);
	priv = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_ptr_not_equal(priv, MAP_FAILED);
	assert_string_equal(priv, "in the segment");
	assert_int_equal(pwrite(fd, "IN", 2, 0), 2);
	assert_memory_equal(seg, "IN", 2);
	munmap(priv, PAGE);
	close(fd);
	assert_int_equal(mount_stop(&m2), 0);
	shmdt(seg);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

/* ---- two writers on one segment -------------------------------------- */

struct tally {
	long ops, torn, errors;
	int first_errno;
};

static bool uniform(const unsigned char *p, size_t size)
{
	return size < 2 || (p[0] == p[size - 1] && memcmp(p, p + 1, size - 1) == 0);
}

/* Each writer writes the whole segment of one byte value with one
 * pwrite; each reader reads it with one pread (a page-aligned buffer:
 * one request) or, outside, under the shared lock: a read that sees two
 * values is torn. */
static void worker(int id, int semid, size_t size, bool writer, bool outside, long ops,
		   unsigned char seed, struct tally *t)
{
	unsigned char *buf =
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *seg = outside ? shmat(id, NULL, SHM_RDONLY) : NULL;
	int fd = outside ? -1 : open_segment(&mnt, id, writer ? O_RDWR : O_RDONLY);

	if (buf == MAP_FAILED || (!outside && fd < 0) || seg == (void *)-1) {
		t->errors++, t->first_errno = errno;
		return;
	}
	for (long i = 0; i < ops; i++) {
		ssize_t n = (ssize_t)size;

		if (outside) {
			if (outside_lock(semid, false) != 0)
				n = -1;
			else if (!uniform(seg, size))
				t->torn++;
			outside_unlock(semid, false);
		} else if (writer) {
			memset(buf, (unsigned char)(seed + 2 * i), size);
			n = pwrite(fd, buf, size, 0);
		} else {
			n = pread(fd, buf, size, 0);
			if (n == (ssize_t)size && !uniform(buf, size))
				t->torn++;
		}
		if (n != (ssize_t)size && t->errors++ == 0)
			t->first_errno = n < 0 ? errno : 0;
		t->ops++;
	}
}

static void test_two_writers_no_torn_reads(void **state)
{
	static const size_t sizes[] = { PAGE, 65536 + 3, 1024 * 1024 };
	struct tally *tallies = mmap(NULL, 8 * sizeof(*tallies), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long total = 0;

	assert_ptr_not_equal(tallies, MAP_FAILED);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t size = sizes[s];
		long ops = size > 65536 + 3 ? 300 : 3000;
		int key = next_key++;
		int id = make_segment(key, size, 0600), semid = make_sharelite_set(key);
		/* two writers (seeds even and odd: never the same value),
		 * two readers through the mount, one outside */
		static const struct {
			bool writer, outside;
		} kinds[] = { { true, false },
			      { true, false },
			      { false, false },
			      { false, false },
			      { false, true } };
		const int n = sizeof(kinds) / sizeof(kinds[0]);
		pid_t pids[8];

		memset(tallies, 0, 8 * sizeof(*tallies));
		for (int k = 0; k < n; k++) {
			pids[k] = testutil_fork();
			if (pids[k] == 0) {
				worker(id, semid, size, kinds[k].writer, kinds[k].outside, ops,
				       (unsigned char)k, &tallies[k]);
				_exit(0);
			}
		}
		for (int k = 0; k < n; k++) {
			int status;

			assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			if (tallies[k].errors)
				fprintf(stderr, "size %zu, child %d: %ld errors, first: %s\n", size,
					k, tallies[k].errors, strerror(tallies[k].first_errno));
			assert_int_equal(tallies[k].errors, 0);
			assert_int_equal(tallies[k].torn, 0);
			total += tallies[k].ops;
		}
		assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
		assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	}
	printf("two writers: %ld operations, no torn read\n", total);
	munmap(tallies, 8 * sizeof(*tallies));
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping_is_the_segment),
		cmocka_unit_test(test_read_only_open_maps_read_only),
		cmocka_unit_test(test_mapping_beyond_the_end),
		cmocka_unit_test(test_segment_removed_while_mapped),
		cmocka_unit_test(test_reads_and_writes_still_locked),
		cmocka_unit_test(test_backing_ids_closed_after_release),
		cmocka_unit_test(test_without_passthrough_enodev),
		cmocka_unit_test(test_two_writers_no_torn_reads),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
