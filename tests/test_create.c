/* test_create.c - names created in by-key/, through a real mount, against
 * the kernel (shmget, IPC_STAT, the bytes attached):
 *
 *  - a key created again after its first segment was removed, while a
 *    descriptor of the first creation is still open: the new name is a
 *    creation of its own; its bytes and size go to the new segment,
 *    never to the removed lifetime's file, whether its shmid went to
 *    another segment or not (principle 3: nothing recycled is trusted);
 *  - a descriptor kept of a name made, once its segment is gone, answers
 *    as any open segment file: never for the segment that took its
 *    shmid.
 *
 * Runs in a private IPC and mount namespace, under a watchdog, as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 120

static const char *shmfs_path;
static struct test_mount mnt;

static int setup(void **state)
{
	mount_start(&mnt, shmfs_path, NULL);
	return 0;
}

static int teardown(void **state)
{
	return mount_stop_clean(&mnt);
}

static void bykey_path(char *path, size_t size, int32_t key)
{
	snprintf(path, size, "%s/by-key/0x%08x", mnt.dir, (unsigned int)key);
}

/* The bytes of key's segment, as the kernel has them: size and the first
 * len bytes must be what is expected. */
static void assert_segment(int32_t key, size_t size, const char *bytes, size_t len)
{
	int id = shmget(key, 0, 0);
	struct shmid_ds ds;
	char *addr;

	assert_true(id >= 0);
	ds = shm_stat(id);
	assert_int_equal(ds.shm_segsz, size);
	addr = shm_attach(id);
	assert_memory_equal(addr, bytes, len);
	shmdt(addr);
}

/* The first creation of the key is made (ftruncate), its descriptor kept,
 * its segment removed; the same user creates the key again. */
static void test_recreation_with_a_removed_creation_kept(void **state)
{
	static const char first[] = "first lifetime";
	static const char second[] = "second lifetime, its own bytes";
	const int32_t key = 0x00c7ea01;
	char path[128];
	int kept, fd, id, other;

	bykey_path(path, sizeof(path), key);
	kept = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(kept >= 0);
	assert_int_equal(write(kept, first, sizeof(first)), sizeof(first));
	assert_int_equal(ftruncate(kept, 4096), 0);
	assert_segment(key, 4096, first, sizeof(first));
	id = shmget(key, 0, 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_false(shm_exists(id));
	/* its shmid given to another segment at once, as the kernel may */
	assert_true(testutil_set_next_id("shm", id));
	other = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	assert_int_equal(other, id);

	/* a new creation: nothing of the removed one is reached */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		fprintf(stderr, "open O_CREAT|O_EXCL again: %s\n", strerror(errno));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, second, sizeof(second)), sizeof(second));
	if (ftruncate(fd, 8192) != 0)
		fprintf(stderr, "ftruncate of the new name: %s\n", strerror(errno));
	assert_segment(key, 8192, second, sizeof(second));
	assert_int_equal(close(fd), 0);
	assert_segment(key, 8192, second, sizeof(second));

	/* the kept descriptor's close makes nothing and changes nothing */
	assert_int_equal(close(kept), 0);
	assert_segment(key, 8192, second, sizeof(second));
	assert_int_equal(shmctl(shmget(key, 0, 0), IPC_RMID, NULL), 0);
	assert_int_equal(shmctl(other, IPC_RMID, NULL), 0);
}

/* The same, closed without a truncation: the close makes the new name
 * (max(written, default size)) as a new segment. */
static void test_recreation_made_at_close(void **state)
{
	static const char first[] = "first";
	static const char second[] = "second, made at its close";
	const int32_t key = 0x00c7ea02;
	char path[128];
	int kept, fd, id;

	bykey_path(path, sizeof(path), key);
	kept = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(kept >= 0);
	assert_int_equal(write(kept, first, sizeof(first)), sizeof(first));
	assert_int_equal(ftruncate(kept, 4096), 0);
	id = shmget(key, 0, 0);
	assert_true(id >= 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, second, sizeof(second)), sizeof(second));
	assert_int_equal(close(fd), 0);
	id = shmget(key, 0, 0);
	assert_true(id >= 0);
	assert_true(shm_stat(id).shm_segsz >= sizeof(second));
	assert_segment(key, shm_stat(id).shm_segsz, second, sizeof(second));

	assert_int_equal(close(kept), 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

/* A name of key made (ftruncate to 4096), its descriptor kept, its
 * segment removed (and so destroyed: an open file is no attacher): the
 * kept descriptor; *id the removed segment's shmid. */
static int made_and_removed(int32_t key, int *id)
{
	char path[128];
	int kept;

	bykey_path(path, sizeof(path), key);
	kept = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(kept >= 0);
	assert_int_equal(write(kept, "mine", 4), 4);
	assert_int_equal(ftruncate(kept, 4096), 0);
	*id = shmget(key, 0, 0);
	assert_true(*id >= 0);
	assert_int_equal(shmctl(*id, IPC_RMID, NULL), 0);
	assert_false(shm_exists(*id));
	return kept;
}

/* A descriptor kept of a name made, after its segment is destroyed: as
 * any open segment file (THE MOUNT in the man page), chmod(2) and
 * chown(2) through it fail with ENOENT (the segment is gone); fstat(2)
 * shows it as its open found it, with link count 0; ftruncate(2)
 * zero-fills its own bytes. */
static void test_kept_creation_after_its_segment_is_gone(void **state)
{
	struct stat st;
	int id, kept = made_and_removed(0x00c7ea03, &id);

	assert_int_equal(fchmod(kept, 0644), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fchown(kept, 65534, 65534), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fstat(kept, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_size, 4096);
	assert_int_equal(ftruncate(kept, 2), 0);
	assert_int_equal(close(kept), 0);
}

/* The same once the kernel gave its shmid to another segment of the same
 * user's: chmod(2) and chown(2) through the kept descriptor fail with
 * ESTALE and never change that segment; fstat(2) fails with ESTALE;
 * ftruncate(2) zero-fills the removed segment's bytes, never the other's. */
static void test_kept_creation_after_its_shmid_is_reused(void **state)
{
	static const char other_bytes[] = "another segment's bytes";
	struct stat st;
	char *addr;
	int id, other, kept = made_and_removed(0x00c7ea04, &id);

	assert_true(testutil_set_next_id("shm", id));
	other = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	assert_int_equal(other, id);
	addr = shm_attach(other);
	memcpy(addr, other_bytes, sizeof(other_bytes));
	shmdt(addr);

	if (fchmod(kept, 0644) == 0)
		fprintf(stderr, "fchmod of the kept file changed shmid %d: mode now %o\n", other,
			shm_stat(other).shm_perm.mode & 0777);
	assert_int_equal(shm_stat(other).shm_perm.mode & 0777, 0600);
	assert_int_equal(errno, ESTALE);
	assert_int_equal(fchown(kept, 65534, 65534), -1);
	assert_int_equal(errno, ESTALE);
	assert_int_equal(shm_stat(other).shm_perm.uid, 0);
	assert_int_equal(fstat(kept, &st), -1);
	assert_int_equal(errno, ESTALE);
	assert_int_equal(ftruncate(kept, 0), 0);
	addr = shm_attach(other);
	assert_memory_equal(addr, other_bytes, sizeof(other_bytes));
	shmdt(addr);

	assert_int_equal(close(kept), 0);
	assert_int_equal(shmctl(other, IPC_RMID, NULL), 0);
}

/* A descriptor kept of a name made whose segment is gone, while the same
 * user creates the key again: what the kernel sends without the file
 * through the kept descriptor (fchmod, fstat) answers for its own
 * creation, never for the new one, which keeps its mode and size. */
static void test_kept_creation_beside_a_new_one(void **state)
{
	const int32_t key = 0x00c7ea05;
	char path[128];
	struct stat st;
	int id, fd, kept = made_and_removed(key, &id);

	bykey_path(path, sizeof(path), key);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "new", 3), 3);
	assert_int_equal(fchmod(kept, 0644), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fstat(kept, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_size, 4096);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(close(fd), 0);
	id = shmget(key, 0, 0);
	assert_true(id >= 0);
	assert_int_equal(shm_stat(id).shm_perm.mode & 0777, 0600);
	assert_int_equal(close(kept), 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recreation_with_a_removed_creation_kept),
		cmocka_unit_test(test_recreation_made_at_close),
		cmocka_unit_test(test_kept_creation_after_its_segment_is_gone),
		cmocka_unit_test(test_kept_creation_after_its_shmid_is_reused),
		cmocka_unit_test(test_kept_creation_beside_a_new_one),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_watchdog(WATCHDOG_S);
	testutil_isolate(true);
	return testutil_run_group_tests(tests, setup, teardown);
}
