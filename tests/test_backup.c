/* test_backup.c - backing up and restoring through the mount with the
 * real tools (issue 20): tar, rsync and cp save a sidecar's whole text
 * (its size is its text's), restore a segment's bytes with tar x
 * --overwrite, cp and rsync --inplace, and a plain tar x, which removes
 * and re-creates, ends instead of looping on a segment that stays
 * listed (unlink of a segment marked for destruction is ENOENT).
 *
 * Runs in a private IPC and mount namespace; the kernel (shmat, IPC_STAT)
 * is the oracle for the bytes.
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

#define WATCHDOG_S 240
#define SEG_SIZE   8192
#define NOBODY	   65534

static const char *shmfs_path;
static struct test_mount mnt;
static char work[] = "/tmp/shmfs-backup.XXXXXX"; /* archives and copies */
static char out[65536];

#define M mnt.dir

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	if (!mkdtemp(work))
		return -1;
	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	run(NULL, 0, "rm -rf %s", work);
	return mount_stop_clean(&mnt);
}

/* A segment holding text at offset 0 (the rest zeros). */
static int segment_with(const char *text)
{
	int id = make_segment(IPC_PRIVATE, SEG_SIZE, 0644);
	char *p = shm_attach(id);

	strcpy(p, text);
	shmdt(p);
	return id;
}

/* Whether segment id holds text at offset 0, followed by zeros if
 * zeros_after (as segment_with() made it). */
static bool segment_holds(int id, const char *text, bool zeros_after)
{
	char *p = shm_attach(id);
	size_t n = strlen(text);
	bool ok = memcmp(p, text, n) == 0;

	for (size_t i = n; ok && zeros_after && i < SEG_SIZE; i++)
		ok = p[i] == 0;
	shmdt(p);
	return ok;
}

static void overwrite(int id, const char *text)
{
	char *p = shm_attach(id);

	memset(p, 'X', SEG_SIZE);
	strcpy(p, text);
	shmdt(p);
}

/* ---- unlink ---------------------------------------------------------- */

/* A segment marked for destruction is gone from the name space although
 * listed until its attachers leave: unlink answers ENOENT, as for any
 * name that is gone (a second IPC_RMID answered 0 and tar's unlink and
 * retry looped until the attacher left). */
static void test_unlink_marked_segment(void **state)
{
	int id = make_segment(IPC_PRIVATE, SEG_SIZE, 0644);
	char *p = shm_attach(id), path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%d", M, id);
	assert_int_equal(unlink(path), 0);
	/* still listed, with no link */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(unlink(path), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(run(out, sizeof(out), "rm %s", path), 1);
	assert_non_null(strstr(out, "No such file or directory"));
	shmdt(p);
	assert_false(shm_exists(id));
}

/* ---- restoring bytes --------------------------------------------------- */

/* tar x --overwrite opens the existing name with O_TRUNC and writes: the
 * segment keeps its shmid and gets the saved bytes back. */
static void test_restore_tar_overwrite(void **state)
{
	int id = segment_with("saved by tar");

	assert_int_equal(run(out, sizeof(out), "tar -C %s -cf %s/seg.tar %d", M, work, id), 0);
	overwrite(id, "changed since");
	assert_int_equal(run(out, sizeof(out), "tar -C %s --overwrite -xf %s/seg.tar", M, work), 0);
	assert_true(segment_holds(id, "saved by tar", true));
	assert_false(shm_stat(id).shm_perm.mode & SHM_DEST);
	shmctl(id, IPC_RMID, NULL);
}

/* cp onto the name: O_TRUNC and a write, the same segment. */
static void test_restore_cp(void **state)
{
	int id = segment_with("saved by cp");

	assert_int_equal(run(out, sizeof(out), "cp %s/%d %s/seg.cp", M, id, work), 0);
	overwrite(id, "changed since");
	assert_int_equal(run(out, sizeof(out), "cp %s/seg.cp %s/%d", work, M, id), 0);
	assert_true(segment_holds(id, "saved by cp", true));
	shmctl(id, IPC_RMID, NULL);
}

/* rsync --inplace writes into the name instead of a temporary file and a
 * rename (which the mount refuses); --ignore-times, as the segment's
 * mtime does not move at a write. */
static void test_restore_rsync_inplace(void **state)
{
	int id = segment_with("saved by rsync");

	assert_int_equal(run(out, sizeof(out), "rsync -a %s/%d %s/seg.rsync", M, id, work), 0);
	overwrite(id, "changed since");
	assert_int_equal(run(out, sizeof(out), "rsync --inplace --ignore-times %s/seg.rsync %s/%d",
			     work, M, id),
			 0);
	assert_true(segment_holds(id, "saved by rsync", true));
	/* without --inplace: the temporary name cannot be made */
	overwrite(id, "changed again");
	assert_int_not_equal(
		run(out, sizeof(out), "rsync --ignore-times %s/seg.rsync %s/%d", work, M, id), 0);
	assert_true(segment_holds(id, "changed again", false));
	shmctl(id, IPC_RMID, NULL);
}

/* A plain tar x replaces: it finds the name (EEXIST), unlinks it (the
 * segment is removed) and cannot create it again (EPERM).  With a program
 * attached, the removed segment stays listed: tar's retry finds it, its
 * next unlink is ENOENT and tar gives up, instead of unlinking for as
 * long as the program stays attached. */
static void test_plain_tar_x_replaces(void **state)
{
	int id = segment_with("saved"), held = segment_with("held");
	char *p = shm_attach(held);

	assert_int_equal(run(out, sizeof(out), "tar -C %s -cf %s/two.tar %d %d", M, work, id, held),
			 0);
	/* 124: timeout's status, had tar still been unlinking after 30 s */
	assert_int_equal(run(out, sizeof(out),
			     "timeout 30 tar -C %s -xf %s/two.tar; echo status $?", M, work),
			 0);
	assert_non_null(strstr(out, "status 2"));
	assert_false(shm_exists(id));
	assert_true(shm_stat(held).shm_perm.mode & SHM_DEST);
	shmdt(p);
	assert_false(shm_exists(held));
}

/* ---- sidecars ---------------------------------------------------------- */

/* stat's size of a sidecar is the length of the text cat gets, for each
 * caller (another user sees the lock's values as -). */
static void test_sidecar_size_is_its_text(void **state)
{
	int id = segment_with("x");
	int fd;
	char path[128], size[64];

	snprintf(path, sizeof(path), "%s/%d", M, id);
	fd = open(path, O_RDONLY); /* a lock set, so lock_ fields have values */
	assert_true(fd >= 0);
	assert_int_equal(run(size, sizeof(size), "stat -c %%s %s.stat", path), 0);
	assert_int_equal(run(out, sizeof(out), "cat %s.stat | wc -c", path), 0);
	assert_string_equal(size, out);
	assert_int_equal(run(size, sizeof(size),
			     "setpriv --reuid=%d --regid=%d --clear-groups stat -c %%s %s.stat",
			     NOBODY, NOBODY, path),
			 0);
	assert_int_equal(run(out, sizeof(out),
			     "setpriv --reuid=%d --regid=%d --clear-groups cat %s.stat | wc -c",
			     NOBODY, NOBODY, path),
			 0);
	assert_string_equal(size, out);
	close(fd);
	shmctl(id, IPC_RMID, NULL);
}

/* The same in a listing, on a mount where the kernel may keep attributes
 * (attr_timeout=1): a listing's entries hand the sidecar out, its size
 * comes from the stat that follows, never a size kept from the entry. */
static void test_sidecar_size_in_a_listing(void **state)
{
	static const char *const args[] = { "-o", "attr_timeout=1", NULL };
	struct test_mount cached;
	int id = segment_with("x");
	char size[64];

	mount_start(&cached, shmfs_path, args);
	assert_int_equal(run(size, sizeof(size),
			     "ls -l %s | grep \" %d.stat$\" | tr -s \" \" | cut -d\" \" -f5",
			     cached.dir, id),
			 0);
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat | wc -c", cached.dir, id), 0);
	assert_string_equal(size, out);
	assert_int_equal(mount_stop_clean(&cached), 0);
	shmctl(id, IPC_RMID, NULL);
}

/* tar c, rsync -a and cp save a sidecar's whole text: each copy is what
 * cat shows (nothing changes the segment meanwhile). */
static void test_sidecar_backed_up_whole(void **state)
{
	int id = segment_with("x");

	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat > %s/cat.stat", M, id, work), 0);
	assert_int_equal(run(out, sizeof(out),
			     "mkdir %s/t && tar -C %s -cf %s/stat.tar %d.stat && "
			     "tar -C %s/t -xf %s/stat.tar && cmp %s/cat.stat %s/t/%d.stat",
			     work, M, work, id, work, work, work, work, id),
			 0);
	assert_int_equal(run(out, sizeof(out),
			     "rsync -a %s/%d.stat %s/rsync.stat && cmp %s/cat.stat %s/rsync.stat",
			     M, id, work, work, work),
			 0);
	assert_int_equal(run(out, sizeof(out),
			     "cp %s/%d.stat %s/cp.stat && cmp %s/cat.stat %s/cp.stat", M, id, work,
			     work, work),
			 0);
	shmctl(id, IPC_RMID, NULL);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlink_marked_segment),
		cmocka_unit_test(test_restore_tar_overwrite),
		cmocka_unit_test(test_restore_cp),
		cmocka_unit_test(test_restore_rsync_inplace),
		cmocka_unit_test(test_plain_tar_x_replaces),
		cmocka_unit_test(test_sidecar_size_is_its_text),
		cmocka_unit_test(test_sidecar_size_in_a_listing),
		cmocka_unit_test(test_sidecar_backed_up_whole),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
