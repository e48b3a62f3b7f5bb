/* test_hostile.c - odd names, odd offsets, odd sizes, junk commands.
 *
 * Every hostile input must get a clear errno (or a documented harmless
 * answer such as end of file), and must leave the segments exactly as
 * they were: their bytes are compared through a direct shmat before and
 * after, and the namespace must hold no new segment.  The inputs are
 * counted and the count printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 85
#define SEG_SIZE   4096

static const char *shmfs_path;
static struct test_mount mnt;
static long tried;
static long mismatches; /* answers other than the expected ones */

#define M mnt.dir

/* The reference segment every test aims at, and a copy of its bytes. */
static int ref_id;
static unsigned char *ref;
static unsigned char before[SEG_SIZE];
static struct shmid_ds ref_ds;

static int setup(void **state)
{
	static const char *const args[] = { "-o", "lock_timeout=2", NULL };

	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	printf("hostile: %ld inputs tried\n", tried);
	return mount_stop_clean(&mnt);
}

static int count_segments(void)
{
	return testutil_sysvipc_count("shm");
}

static int nsegments_before;

static int ref_setup(void **state)
{
	ref_id = make_segment(0x7fb00000, SEG_SIZE, 0640);
	ref = shmat(ref_id, NULL, 0);
	if (ref == (void *)-1)
		return -1;
	for (int i = 0; i < SEG_SIZE; i++)
		ref[i] = (unsigned char)(i * 7 + 3);
	memcpy(before, ref, SEG_SIZE);
	mismatches = 0;
	shmctl(ref_id, IPC_STAT, &ref_ds);
	nsegments_before = count_segments();
	return 0;
}

/* The segment is exactly as it was, and no segment came or went. */
static int ref_teardown(void **state)
{
	struct shmid_ds ds;
	int ret = 0;

	if (memcmp(ref, before, SEG_SIZE) != 0) {
		fprintf(stderr, "the segment's bytes changed\n");
		ret = -1;
	}
	if (shmctl(ref_id, IPC_STAT, &ds) != 0 || ds.shm_segsz != ref_ds.shm_segsz ||
	    ds.shm_perm.mode != ref_ds.shm_perm.mode || ds.shm_perm.uid != ref_ds.shm_perm.uid ||
	    ds.shm_perm.gid != ref_ds.shm_perm.gid) {
		fprintf(stderr, "the segment's metadata changed\n");
		ret = -1;
	}
	if (count_segments() != nsegments_before) {
		fprintf(stderr, "segments were made or removed: %d, was %d\n", count_segments(),
			nsegments_before);
		ret = -1;
	}
	shmdt(ref);
	shmctl(ref_id, IPC_RMID, NULL);
	return ret;
}

/* One hostile input: ret must be -1 with errno one of the wanted (a
 * 0-terminated list). */
static void expect_errno(long ret, int err, const char *what, ...)
{
	va_list ap;
	int want;

	tried++;
	if (ret == -1) {
		va_start(ap, what);
		while ((want = va_arg(ap, int)) != 0)
			if (want == err) {
				va_end(ap);
				return;
			}
		va_end(ap);
	}
	fprintf(stderr, "unexpected: %s: returned %ld, errno %d (%s)\n", what, ret,
		ret == -1 ? err : 0, ret == -1 ? strerror(err) : "-");
	mismatches++;
}

#define EXPECT(call, ...)                                                                          \
	do {                                                                                       \
		errno = 0;                                                                         \
		long ret_ = (long)(call);                                                          \
		expect_errno(ret_, errno, #call, __VA_ARGS__, 0);                                  \
	} while (0)

/* One hostile input that must succeed with exactly this result. */
#define EXPECT_RESULT(call, want)                                                                  \
	do {                                                                                       \
		errno = 0;                                                                         \
		long ret_ = (long)(call);                                                          \
		tried++;                                                                           \
		if (ret_ != (long)(want)) {                                                        \
			fprintf(stderr, "unexpected: %s: returned %ld (errno %s), want %ld\n",     \
				#call, ret_, strerror(errno), (long)(want));                       \
			mismatches++;                                                              \
		}                                                                                  \
	} while (0)

static char *path_of(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, size, "%s/", M);

	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
	return buf;
}

/* ---- names ---------------------------------------------------------------------------- */

static void try_name(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s%s", M, dir, name);
	EXPECT(stat(path, &st), ENOENT, ENAMETOOLONG);
	EXPECT(open(path, O_RDONLY), ENOENT, ENAMETOOLONG);
	EXPECT(open(path, O_RDWR | O_TRUNC), ENOENT, ENAMETOOLONG);
	/* creation: refused in the root, and by-key takes only good keys */
	EXPECT(open(path, O_RDWR | O_CREAT | O_EXCL, 0600), EPERM, EINVAL, ENAMETOOLONG);
	EXPECT(unlink(path), ENOENT, EPERM, ENAMETOOLONG);
	EXPECT(truncate(path, 0), ENOENT, ENAMETOOLONG);
	EXPECT(chmod(path, 0777), ENOENT, ENAMETOOLONG);
}

static void test_odd_names(void **state)
{
	char id[32], name[2048];
	const char *junk[] = {
		"-1",
		"+1",
		"-0",
		"+0",
		" 1",
		"1 ",
		"\t1",
		"1\n",
		"01",
		"00",
		"000000000000000000001",
		"0x1",
		"0X1",
		"1e3",
		"1.0",
		"2147483648",
		"4294967296",
		"9223372036854775808",
		"99999999999999999999999999999999",
		"%s%s%s%n",
		"%d",
		"%x%x%x%x",
		"%%",
		"\\",
		"\x7f",
		"\xff\xfe",
		"\xc3\xa9",
		"1.stat.stat",
		"1.STAT",
		"1.stat ",
		".stat",
		"stat",
		".next",
		"1.next.next",
		"1.nex",
		"1.",
		"by-key.stat",
		"by-keys",
		"BY-KEY",
		"*",
		"?",
		"[0-9]",
	};
	const char *junk_keys[] = {
		"0x",
		"0x1",
		"0x1234567",
		"0x123456789",
		"0X00001234",
		"0x0000123g",
		"0x-0000123",
		"x00001234",
		"00x00001234",
		"0x00000000",
		"0x00000000.next",
		"0x00001234.stat",
		"0x00001234.next.next",
		"0x 0001234",
		"0x00001234 ",
		"-0x0001234",
		"0x+0001234",
		"0x%08x",
		"..0x00001234",
		"0x00001234\n",
		"0xffffffff0",
		"%n%n%n%n",
	};

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		try_name("/", junk[i]);
	for (size_t i = 0; i < sizeof(junk_keys) / sizeof(junk_keys[0]); i++)
		try_name("/by-key/", junk_keys[i]);

	/* the reference segment's own name, bent */
	snprintf(id, sizeof(id), "%d", ref_id);
	const char *bent[] = { "0%s",	   "+%s", "-%s", "%s0",		 "%s.", "%s.stat.",
			       "%s.statx", "%s ", " %s", "%s.next.stat", "%s\n" };
	for (size_t i = 0; i < sizeof(bent) / sizeof(bent[0]); i++) {
		snprintf(name, sizeof(name), bent[i], id);
		try_name("/", name);
	}
	/* long names: 255, 256, 1024 and 1500 characters of digits and junk */
	const size_t lengths[] = { 255, 256, 1023, 1024, 1500 };
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		memset(name, '9', lengths[i]);
		name[lengths[i]] = '\0';
		try_name("/", name);
		memcpy(name, id, strlen(id)); /* a real shmid, then more digits */
		try_name("/", name);
		memset(name, 'a', lengths[i]);
		try_name("/", name);
		memcpy(name, "0x00001234", 10);
		try_name("/by-key/", name);
	}
	/* a name over PATH_MAX */
	char *huge = malloc(PATH_MAX + 10);
	assert_non_null(huge);
	memset(huge, '1', PATH_MAX + 9);
	huge[PATH_MAX + 9] = '\0';
	try_name("/", huge);
	free(huge);

	/* . and .. are directories, never segments */
	char path[256];
	EXPECT(open(path_of(path, sizeof(path), "."), O_RDWR), EISDIR);
	EXPECT(open(path_of(path, sizeof(path), ".."), O_RDWR), EISDIR);
	EXPECT(open(path_of(path, sizeof(path), "by-key/.."), O_RDWR), EISDIR);
	EXPECT(unlink(path_of(path, sizeof(path), "by-key")), EISDIR, EPERM);
	EXPECT(rmdir(path_of(path, sizeof(path), "by-key")), EPERM);
	EXPECT(rmdir(path_of(path, sizeof(path), "%d", ref_id)), ENOTDIR, EPERM);
	EXPECT(mkdir(path_of(path, sizeof(path), "%d", ref_id), 0755), EEXIST, EPERM);
	EXPECT(mkdir(path_of(path, sizeof(path), "by-key/0x00001234"), 0755), EPERM);
	EXPECT(open(path_of(path, sizeof(path), "%d/x", ref_id), O_RDONLY), ENOTDIR);
	EXPECT(open(path_of(path, sizeof(path), "%d", ref_id), O_RDONLY | O_DIRECTORY), ENOTDIR);
	EXPECT(open(path_of(path, sizeof(path), "%d", ref_id), O_RDWR | O_CREAT | O_EXCL, 0600),
	       EEXIST);
	printf("names: %ld inputs so far\n", tried);
	assert_int_equal(mismatches, 0);
}

/* ---- offsets and sizes ---------------------------------------------------------------------- */

static void test_odd_offsets_and_sizes(void **state)
{
	char path[256];
	unsigned char buf[SEG_SIZE * 2];
	const off_t far[] = { SEG_SIZE,	      SEG_SIZE + 1,	    (off_t)1 << 31, (off_t)1 << 32,
			      (off_t)1 << 62, INT64_MAX - SEG_SIZE, INT64_MAX - 1,  INT64_MAX };
	int fd = open(path_of(path, sizeof(path), "%d", ref_id), O_RDWR);

	assert_true(fd >= 0);
	memset(buf, 'X', sizeof(buf));
	for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
		/* reading at or past the end is end of file; the kernel
		 * refuses a range past the largest offset first */
		if (far[i] > INT64_MAX - 1)
			EXPECT(pread(fd, buf, 1, far[i]), EINVAL);
		else
			EXPECT_RESULT(pread(fd, buf, 1, far[i]), 0);
		if (far[i] > INT64_MAX - (off_t)sizeof(buf))
			EXPECT(pread(fd, buf, sizeof(buf), far[i]), EINVAL);
		else
			EXPECT_RESULT(pread(fd, buf, sizeof(buf), far[i]), 0);
		/* writing there: no space (a fixed size), or past the largest
		 * file offset */
		EXPECT(pwrite(fd, buf, 1, far[i]), ENOSPC, EFBIG, EINVAL);
		EXPECT(pwrite(fd, buf, sizeof(buf), far[i]), ENOSPC, EFBIG, EINVAL);
		EXPECT_RESULT(pwrite(fd, buf, 0, far[i]), 0);
		EXPECT(ftruncate(fd, far[i] < INT64_MAX ? far[i] + 1 : far[i]), EFBIG, EINVAL);
	}
	EXPECT(pread(fd, buf, 1, -1), EINVAL);
	EXPECT(pread(fd, buf, 1, INT64_MIN), EINVAL);
	EXPECT(pwrite(fd, buf, 1, -1), EINVAL);
	EXPECT(pwrite(fd, buf, 1, INT64_MIN), EINVAL);
	EXPECT(ftruncate(fd, -1), EINVAL);
	EXPECT(lseek(fd, -1, SEEK_SET), EINVAL);
	EXPECT_RESULT(pread(fd, buf, 0, 0), 0);
	EXPECT_RESULT(pwrite(fd, buf, 0, 0), 0);
	EXPECT_RESULT(write(fd, buf, 0), 0);
	/* a huge read returns the segment, no more */
	size_t huge = 64 << 20;
	unsigned char *big =
		mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(big, MAP_FAILED);
	memset(big, 'X', huge);
	EXPECT_RESULT(pread(fd, big, huge, 0), SEG_SIZE);
	assert_memory_equal(big, before, SEG_SIZE);
	EXPECT_RESULT(pread(fd, big, huge, SEG_SIZE - 1), 1);
	EXPECT(pwrite(fd, big, huge, SEG_SIZE), ENOSPC);
	/* reads and writes from a buffer that is not there */
	void *hole = mmap(NULL, SEG_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_not_equal(hole, MAP_FAILED);
	EXPECT(pread(fd, hole, SEG_SIZE, 0), EFAULT);
	EXPECT(pwrite(fd, hole, SEG_SIZE, 0), EFAULT);
	munmap(hole, SEG_SIZE);
	/* many pieces past the end */
	struct iovec iov[64];
	for (int i = 0; i < 64; i++)
		iov[i] = (struct iovec){ big + i * 3, 3 };
	EXPECT(pwritev(fd, iov, 64, SEG_SIZE), ENOSPC);
	EXPECT_RESULT(preadv(fd, iov, 64, SEG_SIZE), 0);
	EXPECT_RESULT(preadv(fd, iov, 64, 0), 64 * 3);
	munmap(big, huge);
	/* no room to grow, and no holes to punch */
	EXPECT(fallocate(fd, 0, 0, SEG_SIZE * 2), EOPNOTSUPP, ENOSYS);
	EXPECT(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, SEG_SIZE), EOPNOTSUPP,
	       ENOSYS);
	EXPECT(truncate(path, SEG_SIZE + 1), EFBIG);
	EXPECT(truncate(path, -1), EINVAL);
	close(fd);

	/* O_APPEND: the end of a fixed-size file has no room */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	EXPECT(write(fd, "x", 1), ENOSPC);
	EXPECT(write(fd, buf, sizeof(buf)), ENOSPC);
	close(fd);
	/* read-only and write-only descriptors */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	EXPECT(pwrite(fd, "x", 1, 0), EBADF);
	EXPECT(ftruncate(fd, 0), EINVAL, EBADF);
	close(fd);
	/* O_DIRECT: refused, or served like any read */
	fd = open(path, O_RDONLY | O_DIRECT);
	tried++;
	if (fd >= 0) {
		void *aligned = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		EXPECT_RESULT(pread(fd, aligned, SEG_SIZE, 0), SEG_SIZE);
		assert_memory_equal(aligned, before, SEG_SIZE);
		munmap(aligned, SEG_SIZE);
		close(fd);
	} else {
		assert_int_equal(errno, EINVAL);
	}
	/* a shared mapping is the segment itself (FUSE passthrough, see
	 * test_mmap.c), or ENODEV where the kernel cannot; at an odd or a
	 * negative offset, refused as for any file */
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	tried++;
	void *shared = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shared != MAP_FAILED) {
		EXPECT_RESULT(pread(fd, buf, SEG_SIZE, 0), SEG_SIZE);
		assert_memory_equal(shared, buf, SEG_SIZE);
		munmap(shared, SEG_SIZE);
		EXPECT(mmap(NULL, SEG_SIZE, PROT_READ, MAP_SHARED, fd, 1) == MAP_FAILED ? -1 : 0,
		       EINVAL);
		EXPECT(mmap(NULL, SEG_SIZE, PROT_READ, MAP_SHARED, fd, -SEG_SIZE) == MAP_FAILED ? -1
												: 0,
		       EINVAL, EOVERFLOW);
	} else {
		assert_int_equal(errno, ENODEV);
	}
	close(fd);
	printf("offsets: %ld inputs so far\n", tried);
	assert_int_equal(mismatches, 0);
}

/* ---- sidecar commands ------------------------------------------------------------------------ */

static void test_sidecar_junk(void **state)
{
	static const char *const junk[] = { "lock\n\n", "lockk",	"LOCK",	      " lock",
					    "lock ",	"lock\r\n",	"unlock\r\n", "\n",
					    "\nlock",	"lo",		"ck",	      "unlo",
					    "lock;rm",	"lock\nunlock", "unlockk",    "lock\t",
					    "%s%n",	"lock\\n",	"l0ck",	      "true",
					    "1",	"lock lock",	"lock\n ",    "\xff\xfe" };
	char path[256], *big;
	int fd = open(path_of(path, sizeof(path), "%d.stat", ref_id), O_WRONLY);

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		EXPECT(write(fd, junk[i], strlen(junk[i])), EINVAL);
		EXPECT(pwrite(fd, junk[i], strlen(junk[i]), 1 << 20), EINVAL);
	}
	/* a NUL inside, before and after the word */
	EXPECT(write(fd, "lock\0", 5), EINVAL);
	EXPECT(write(fd, "\0lock", 5), EINVAL);
	EXPECT(write(fd, "lo\0ck", 5), EINVAL);
	/* all of 0..255 as single bytes */
	for (int c = 0; c < 256; c++) {
		char b = (char)c;

		EXPECT(write(fd, &b, 1), EINVAL);
	}
	/* a megabyte of junk, and one of "lock" repeated */
	big = malloc(1 << 20);
	assert_non_null(big);
	memset(big, 'a', 1 << 20);
	EXPECT(write(fd, big, 1 << 20), EINVAL);
	for (int i = 0; i + 4 <= 1 << 20; i += 4)
		memcpy(big + i, "lock", 4);
	EXPECT(write(fd, big, 1 << 20), EINVAL);
	free(big);
	EXPECT_RESULT(write(fd, "", 0), 0);
	close(fd);
	/* not a segment's place to be written through: .next */
	EXPECT(open(path_of(path, sizeof(path), "%d.next", ref_id), O_WRONLY), EACCES);
	EXPECT(open(path_of(path, sizeof(path), "%d.next", ref_id), O_RDONLY | O_TRUNC), EACCES);
	EXPECT(truncate(path_of(path, sizeof(path), "%d.stat", ref_id), 0), EPERM, EACCES);
	/* never locked by any of that */
	struct shmid_ds ds;
	assert_int_equal(shmctl(ref_id, IPC_STAT, &ds), 0);
	assert_false(ds.shm_perm.mode & SHM_LOCKED);
	printf("sidecar: %ld inputs so far\n", tried);
	assert_int_equal(mismatches, 0);
}

/* ---- operations the structure refuses ------------------------------------------------------- */

static void test_refused_operations(void **state)
{
	char seg[256], sc[256], keylink[256], other[256], buf[64];
	struct stat st;

	path_of(seg, sizeof(seg), "%d", ref_id);
	path_of(sc, sizeof(sc), "%d.stat", ref_id);
	path_of(keylink, sizeof(keylink), "by-key/0x7fb00000");
	path_of(other, sizeof(other), "x");

	EXPECT(readlink(seg, buf, sizeof(buf)), EINVAL);
	EXPECT(readlink(sc, buf, sizeof(buf)), EINVAL);
	EXPECT(rename(seg, other), EPERM);
	EXPECT(rename(keylink, other), EPERM);
	EXPECT(rename(sc, seg), EPERM);
	EXPECT(link(seg, other), EPERM);
	EXPECT(symlink(seg, other), EPERM);
	EXPECT(mknod(other, S_IFIFO | 0600, 0), EPERM);
	EXPECT(mknod(path_of(buf, sizeof(buf), "by-key/0x00004321"), S_IFIFO | 0600, 0), EPERM,
	       EINVAL);
	EXPECT(unlink(keylink), EPERM);
	EXPECT(unlink(sc), EPERM);
	EXPECT(setxattr(seg, "user.x", "1", 1, 0), ENOTSUP);
	EXPECT(setxattr(sc, "trusted.x", "1", 1, 0), ENOTSUP);
	EXPECT(getxattr(seg, "user.x", buf, sizeof(buf)), ENOTSUP, ENODATA);
	EXPECT(removexattr(seg, "user.x"), ENOTSUP, ENODATA);
	EXPECT(lchown(keylink, 1, 1), EPERM, ENOTSUP);
	/* set-id and sticky bits are not IPC permission bits */
	tried++;
	assert_int_equal(chmod(seg, 07640), 0);
	assert_int_equal(stat(seg, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* times are the kernel's: accepted, not changed */
	tried++;
	assert_int_equal(utimensat(AT_FDCWD, seg, NULL, 0), 0);
	EXPECT(chmod(sc, 0777), EPERM);
	EXPECT(chown(sc, 1, 1), EPERM);
	EXPECT(truncate(keylink, SEG_SIZE + 1), EFBIG);
	printf("refused: %ld inputs so far\n", tried);
	assert_int_equal(mismatches, 0);
}

/* ---- a name being created in by-key/ ------------------------------------------------------- */

/* Junk sizes and offsets on a name being created are refused, and the
 * name is there for access(2) like for stat(2) while it is open. */
static void test_name_being_created(void **state)
{
	char path[256];
	struct stat st;
	int fd, id;

	path_of(path, sizeof(path), "by-key/0x7fb0abcd");
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	EXPECT(ftruncate(fd, (off_t)1 << 62), EFBIG, ENOMEM, ENOSPC);
	EXPECT(pwrite(fd, "x", 1, (off_t)1 << 40), EFBIG);
	EXPECT(pwrite(fd, "x", 1, -1), EINVAL);
	EXPECT_RESULT(pread(fd, &st, sizeof(st), 1 << 20), 0);
	EXPECT_RESULT(stat(path, &st), 0);
	EXPECT_RESULT(access(path, F_OK), 0);
	EXPECT_RESULT(access(path, R_OK | W_OK), 0);
	EXPECT(open(path, O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
	/* after a failed size or write, the close makes nothing and says so */
	EXPECT(close(fd), EFBIG);
	/* closed without a size or a byte: made at the default size (and
	 * once made, the release of the name before it was handled) */
	path_of(path, sizeof(path), "by-key/0x7fb0abce");
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	for (int i = 0; i < 100 && (id = shmget(0x7fb0abce, 0, 0)) < 0; i++)
		usleep(10000);
	assert_true(id >= 0);
	shmctl(id, IPC_RMID, NULL);
	EXPECT(shmget(0x7fb0abcd, 0, 0), ENOENT);
	printf("creating: %ld inputs so far\n", tried);
	assert_int_equal(mismatches, 0);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_odd_names, ref_setup, ref_teardown),
		cmocka_unit_test_setup_teardown(test_odd_offsets_and_sizes, ref_setup,
						ref_teardown),
		cmocka_unit_test_setup_teardown(test_sidecar_junk, ref_setup, ref_teardown),
		cmocka_unit_test_setup_teardown(test_refused_operations, ref_setup, ref_teardown),
		cmocka_unit_test(test_name_being_created),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
