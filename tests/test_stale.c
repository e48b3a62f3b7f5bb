/* test_stale.c - a name the kernel holds is one segment lifetime.
 *
 * The kernel hands a removed segment's shmid out again; here at once,
 * with kernel.shm_next_id written inside the test's own IPC namespace.
 * A root allow_other mount serves uid 1000 (the victim) and uid 65534
 * (the other user); the test process takes on their effective ids for a
 * step (the daemon sees the caller's fsuid), so one process can hold a
 * file open as one user while the other acts.  Asserted, as each user
 * sees it:
 *  - a file opened before its segment was removed keeps reading and
 *    writing that segment's bytes (no EIO) after another segment got the
 *    shmid and was looked up through the mount;
 *  - fstat(2) of that file never shows the new segment (ESTALE);
 *  - ftruncate(2) of it acts on its own segment: its size (EFBIG beyond
 *    it, whatever the new segment's), its bytes;
 *  - a segment destroyed while a file of it is open (removed, nobody
 *    attached) and whose shmid nobody has: fstat(2) of the file shows
 *    its own attributes with link count 0, as an unlinked file's;
 *  - a lookup of the name (stat, open, mmap, a listing) shows the new
 *    segment, and nothing written through the old file reaches it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 120
#define VICTIM	   1000
#define OTHER	   65534
#define SECRET	   "uid-1000-secret"
#define OTHERS	   "nobody-bytes"

static const char *shmfs_path;
static struct test_mount mnt;

/* ---- acting as a user ------------------------------------------------- */

static void as(uid_t uid)
{
	assert_int_equal(setresgid(-1, uid, -1), 0);
	assert_int_equal(setresuid(-1, uid, -1), 0);
}

static void as_root(void)
{
	assert_int_equal(setresuid(-1, 0, -1), 0);
	assert_int_equal(setresgid(-1, 0, -1), 0);
}

/* A segment of size bytes made by uid (in this process, or in a child of
 * its own when other_process), with text at its start. */
static int make_as(uid_t uid, size_t size, int mode, const char *text, bool other_process)
{
	int *shared =
		mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid = other_process ? testutil_fork() : 0;
	int id;

	assert_true(shared != MAP_FAILED);
	if (pid == 0) {
		char *p;

		as(uid);
		id = shmget(IPC_PRIVATE, size, IPC_CREAT | mode);
		p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
		if (p != (char *)-1) {
			strcpy(p, text);
			shmdt(p);
		}
		*shared = id;
		if (other_process)
			_exit(0);
		as_root();
	} else {
		assert_int_equal(testutil_wait_bounded(pid, 30), 0);
	}
	id = *shared;
	munmap(shared, sizeof(int));
	assert_true(id >= 0);
	return id;
}

static void path_of(char *buf, size_t size, int id)
{
	snprintf(buf, size, "%s/%d", mnt.dir, id);
}

/* The segment's first bytes, read directly by uid (the kernel's view). */
static void direct_read(uid_t uid, int id, char *buf, size_t len)
{
	char *p;

	as(uid);
	p = shmat(id, NULL, SHM_RDONLY);
	assert_true(p != (char *)-1);
	memcpy(buf, p, len);
	shmdt(p);
	as_root();
}

/* uid opens segment id through the mount, reads its first bytes: the fd. */
static int open_as(uid_t uid, int id, const char *expect)
{
	char path[128], buf[64] = { 0 };
	int fd;

	path_of(path, sizeof(path), id);
	as(uid);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, strlen(expect), 0), (ssize_t)strlen(expect));
	assert_string_equal(buf, expect);
	as_root();
	return fd;
}

/* The shmid of a removed segment of the victim's, held open by fd,
 * handed to a new segment (by uid, size, in this or another process). */
static int reuse(int id, uid_t uid, size_t size, const char *text, bool other_process)
{
	int again;

	as(VICTIM);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	as_root();
	assert_true(testutil_set_next_id("shm", id));
	again = make_as(uid, size, 0644, text, other_process);
	assert_int_equal(again, id);
	return again;
}

/* What the victim's old file shows: its own segment's bytes, written
 * and read again, and truncated; fstat refused (ESTALE), never the new
 * segment. */
static void old_file_is_its_own(int fd, const struct stat *before)
{
	char buf[64] = { 0 };
	struct stat st;

	as(VICTIM);
	errno = 0;
	assert_int_equal(pread(fd, buf, strlen(SECRET), 0), (ssize_t)strlen(SECRET));
	assert_string_equal(buf, SECRET);
	assert_int_equal(pwrite(fd, "UID", 3, 0), 3);
	assert_int_equal(pread(fd, buf, strlen(SECRET), 0), (ssize_t)strlen(SECRET));
	assert_string_equal(buf, "UID-1000-secret");
	assert_int_equal(pwrite(fd, "uid", 3, 0), 3);
	/* ftruncate: the file's own segment, its size and its bytes */
	errno = 0;
	assert_int_equal(ftruncate(fd, before->st_size + 1), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(ftruncate(fd, (off_t)strlen(SECRET)), 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, SECRET, strlen(SECRET));
	assert_int_equal(buf[sizeof(buf) - 1], 0);
	memset(&st, 0, sizeof(st));
	if (fstat(fd, &st) == 0)
		fail_msg("fstat of the old file shows size %lld ino %llu (its own: %lld, %llu)",
			 (long long)st.st_size, (unsigned long long)st.st_ino,
			 (long long)before->st_size, (unsigned long long)before->st_ino);
	assert_int_equal(errno, ESTALE);
	as_root();
}

/* ---- the tests ---------------------------------------------------------- */

/* issue 18: "an open file breaks" and "another user's memory": the victim
 * keeps its file through another user's segment with the shmid. */
static void test_open_file_outlives_its_shmid(void **state)
{
	int id = make_as(VICTIM, 4096, 0600, SECRET, false);
	int fd = open_as(VICTIM, id, SECRET);
	char path[128], buf[64] = { 0 };
	struct stat before, st;
	char *map;
	int fd2;

	assert_int_equal(fstat(fd, &before), 0);
	reuse(id, OTHER, 8192, OTHERS, false);
	path_of(path, sizeof(path), id);

	/* the other user looks the name up: the new segment, its bytes */
	as(OTHER);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 8192);
	assert_int_equal(st.st_uid, OTHER);
	assert_true(st.st_ino != before.st_ino);
	fd2 = open(path, O_RDWR);
	assert_true(fd2 >= 0);
	assert_int_equal(pread(fd2, buf, strlen(OTHERS), 0), (ssize_t)strlen(OTHERS));
	assert_string_equal(buf, OTHERS);
	map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	if (map == MAP_FAILED) {
		assert_int_equal(errno, ENODEV); /* no passthrough on this kernel */
	} else {
		assert_memory_equal(map, OTHERS, strlen(OTHERS));
		munmap(map, 8192);
	}
	close(fd2);
	as_root();

	old_file_is_its_own(fd, &before);
	/* nothing the victim wrote reached the other user's segment */
	direct_read(OTHER, id, buf, strlen(OTHERS));
	assert_memory_equal(buf, OTHERS, strlen(OTHERS));
	close(fd);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

/* The same user gets the shmid back (from another process of theirs):
 * the old file and a new lookup each see their own.  (The same process
 * with another size is identity-objects' test_lifetimes: one attach per
 * lifetime.) */
static void check_same_user(size_t size, bool other_process)
{
	int id = make_as(VICTIM, 4096, 0600, SECRET, false);
	int fd = open_as(VICTIM, id, SECRET);
	char path[128], buf[64] = { 0 };
	struct stat before, st;
	int fd2;

	assert_int_equal(fstat(fd, &before), 0);
	reuse(id, VICTIM, size, "AAAA", other_process);
	path_of(path, sizeof(path), id);
	as(VICTIM);
	/* a lookup of the name: the new segment */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)size);
	assert_int_equal(st.st_mode & 0777, 0644);
	fd2 = open(path, O_RDONLY);
	assert_true(fd2 >= 0);
	assert_int_equal(pread(fd2, buf, 4, 0), 4);
	assert_memory_equal(buf, "AAAA", 4);
	close(fd2);
	as_root();
	old_file_is_its_own(fd, &before);
	direct_read(VICTIM, id, buf, 4);
	assert_memory_equal(buf, "AAAA", 4);
	close(fd);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

static void test_same_user_another_process(void **state)
{
	check_same_user(4096, true);
}

/* A listing (readdirplus: it hands the kernel nodes) of the new segment
 * leaves the old file alone. */
static void test_listing_leaves_old_file_alone(void **state)
{
	int id = make_as(VICTIM, 4096, 0600, SECRET, false);
	int fd = open_as(VICTIM, id, SECRET);
	char out[4096];
	struct stat before;

	assert_int_equal(fstat(fd, &before), 0);
	reuse(id, OTHER, 8192, OTHERS, false);
	assert_int_equal(run(out, sizeof(out), "ls -li %s %s/by-key", mnt.dir, mnt.dir), 0);
	assert_non_null(strstr(out, " 8192 "));
	old_file_is_its_own(fd, &before);
	close(fd);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

/* A segment removed with nobody attached is destroyed at once; the file
 * still open on it acts on it as on an unlinked file: fstat shows its own
 * attributes with link count 0, ftruncate checks its own size, its bytes
 * stay.  Planted: getattr without the file's handle (fstat) not looking
 * for an open file of the lifetime answers ENOENT. */
static void test_destroyed_segment_stays_the_files(void **state)
{
	int id = make_as(VICTIM, 4096, 0600, SECRET, false);
	int fd = open_as(VICTIM, id, SECRET);
	char buf[64] = { 0 };
	struct shmid_ds ds;
	struct stat st;

	as(VICTIM);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(shmctl(id, IPC_STAT, &ds), -1); /* nobody attached: destroyed */
	usleep(300 * 1000); /* past attr_timeout (0.1 s): the daemon is asked, not the cache */
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 4096);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_uid, VICTIM);
	errno = 0;
	assert_int_equal(ftruncate(fd, 4097), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(ftruncate(fd, (off_t)strlen(SECRET) + 1), 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_string_equal(buf, SECRET);
	assert_int_equal(buf[sizeof(buf) - 1], 0);
	as_root();
	close(fd);
}

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	if (setgroups(0, NULL) != 0)
		return -1;
	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	int ret = mount_stop_clean(&mnt);

	if (ipc_left_behind("shm sem"))
		ret = -1;
	return ret;
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_file_outlives_its_shmid),
		cmocka_unit_test(test_same_user_another_process),
		cmocka_unit_test(test_listing_leaves_old_file_alone),
		cmocka_unit_test(test_destroyed_segment_stays_the_files),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	if (access("/proc/sys/kernel/shm_next_id", W_OK) != 0) {
		fprintf(stderr, "no kernel.shm_next_id (CONFIG_CHECKPOINT_RESTORE)\n");
		return testutil_in_ci() ? 1 : TEST_SKIP;
	}
	return testutil_run_group_tests(tests, setup, teardown);
}
