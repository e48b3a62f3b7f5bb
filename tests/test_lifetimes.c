/* test_lifetimes.c - a shmid or semid that comes back is never taken for
 * the object it named before (issue 18), as hostile users would try it:
 * kernel.shm_next_id and kernel.sem_next_id bring an id back at once.
 *
 *  - mmap of a segment whose shmid another user's removed segment had,
 *    while a file of the removed one is open: the mapping is the new
 *    segment, never the removed one's memory;
 *  - a new open of a shmid that came back (same creator, size and ids,
 *    and another user's) reads the new segment's bytes, never the
 *    removed one's; the removed one's open file keeps its own bytes;
 *  - a notification set handed to a segment's owner, removed by the
 *    owner, its semid taken by another user: shmfs never removes that
 *    user's set; a .next reader gets EIDRM and the sidecar says
 *    "removed";
 *  - kill -9 of the daemon and a new daemon: nothing the dead one made
 *    is left once the new one has stopped.
 *
 * Runs in a private IPC and mount namespace, under a watchdog, as root,
 * with users 1000 and 65534 in forked children.
 */
#include <errno.h>
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
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "semun.h"
#include "testutil.h"

#define WATCHDOG_S 200
#define SIZE	   8192
#define SECRET	   "uid-1000-secret"

static const char *shmfs_path;
static struct test_mount mnt;	/* allow_other, passthrough if offered */
static struct test_mount plain; /* allow_other, no passthrough */
static char out[65536];

/* Become uid (its own gid, no groups) for good: in a child only. */
/* Run fn(arg) as uid in a child; its exit code (0: what it checked held). */
static int as_user(uid_t uid, int (*fn)(void *arg), void *arg)
{
	pid_t pid = testutil_fork();
	int status;

	if (pid == 0) {
		testutil_become(uid);
		_exit(fn(arg));
	}
	status = testutil_wait_bounded(pid, 60);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

struct make_arg {
	int id;	  /* the shmid it must get */
	int mode; /* of the new segment */
	const char *fill;
};

/* As a user: make a segment that gets shmid id, and fill it. */
static int make_as_user(void *p)
{
	struct make_arg *a = p;
	int id = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | a->mode);
	char *addr;

	if (id != a->id)
		return 10;
	addr = shmat(id, NULL, 0);
	if (addr == (void *)-1)
		return 11;
	strcpy(addr, a->fill);
	shmdt(addr);
	return 0;
}

static int open_path(const struct test_mount *m, const char *name, int flags)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", m->dir, name);
	return open(path, flags);
}

static void fill_segment(int id, const char *text)
{
	char *addr = shm_attach(id);

	strcpy(addr, text);
	shmdt(addr);
}

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	mount_start(&mnt, shmfs_path, args);
	setenv("SHMFS_MASK_KERNEL_FEATURES", "passthrough", 1);
	mount_start(&plain, shmfs_path, args);
	unsetenv("SHMFS_MASK_KERNEL_FEATURES");
	return 0;
}

static int teardown(void **state)
{
	return mount_stop_clean(&mnt) | mount_stop_clean(&plain);
}

/* ---- the bytes of a lifetime -------------------------------------------- */

struct map_check {
	const char *dir;
	int id;
};

/* As 65534: make the segment that gets id, open it through the mount and
 * map it: the mapping must be its own fresh memory (zeros), and a write
 * through the mapping must land in it. */
static int map_own_segment(void *p)
{
	struct map_check *c = p;
	char name[32], *map, *addr;
	int id, fd, ret = 0;

	id = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
	if (id != c->id)
		return 20;
	snprintf(name, sizeof(name), "%s/%d", c->dir, id);
	fd = open(name, O_RDWR);
	if (fd < 0)
		/* before node ids of their own the kernel's inode is the
		 * removed one's: ESTALE, never the old memory */
		return errno == ESTALE ? 0 : 21;
	map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return errno == ENODEV ? 0 : 22; /* no passthrough here */
	if (memcmp(map, SECRET, sizeof(SECRET)) == 0)
		ret = 23; /* another user's memory */
	else if (map[0] != 0)
		ret = 24;
	strcpy(map, "mine");
	addr = shmat(id, NULL, SHM_RDONLY);
	if (!ret && (addr == (void *)-1 || strcmp(addr, "mine") != 0))
		ret = 25; /* the write went elsewhere */
	munmap(map, SIZE);
	close(fd);
	shmctl(id, IPC_RMID, NULL);
	return ret;
}

/* uid 1000's 0600 segment, opened through the mount, removed with the
 * file open; uid 65534's new segment gets the shmid and is mapped.
 * Planted: kernel_features_open() sharing a backing file by inode alone
 * maps "uid-1000-secret" (23). */
static void test_mmap_never_maps_a_removed_segment(void **state)
{
	struct make_arg made = { .id = 4242, .mode = 0600, .fill = SECRET };
	struct map_check check = { .dir = mnt.dir, .id = 4242 };
	char buf[sizeof(SECRET)] = "";
	int fd;

	assert_true(testutil_set_next_id("shm", 4242));
	assert_int_equal(as_user(1000, make_as_user, &made), 0);
	fd = open_path(&mnt, "4242", O_RDWR);
	assert_true(fd >= 0);
	void *old = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);

	assert_int_equal(shmctl(4242, IPC_RMID, NULL), 0);
	assert_true(testutil_set_next_id("shm", 4242));
	assert_int_equal(as_user(65534, map_own_segment, &check), 0);
	/* the removed one's file: its own bytes, or EIO, never another's */
	if (pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf))
		assert_string_equal(buf, SECRET);
	if (old != MAP_FAILED) {
		assert_string_equal((char *)old, SECRET);
		munmap(old, SIZE);
	}
	close(fd);
}

struct read_check {
	const char *dir;
	int id;
	const char * not ;
};

/* Open id through dir read-only and read: never the bytes c->not, and
 * zeros (a fresh segment).  0, or why not. */
static int read_fresh(void *p)
{
	struct read_check *c = p;
	char name[32], buf[64] = "";
	int fd;

	snprintf(name, sizeof(name), "%s/%d", c->dir, c->id);
	fd = open(name, O_RDONLY);
	if (fd < 0)
		return errno == ESTALE ? 0 : 30;
	if (read(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		return 31;
	close(fd);
	if (strncmp(buf, c->not, strlen(c->not )) == 0)
		return 32;
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i])
			return 33;
	return 0;
}

/* The same creator, size and ids get the shmid back: a new open reads
 * the new segment.  Planted: attach_open() sharing an attach by (shmid,
 * cpid, cuid) reads "AAAA" (32). */
static void test_new_open_of_a_recycled_shmid(void **state)
{
	struct read_check check = { .dir = plain.dir, .id = 4343, .not = "AAAA" };
	char buf[8] = "";
	int fd, id;

	assert_true(testutil_set_next_id("shm", 4343));
	id = make_segment(IPC_PRIVATE, SIZE, 0644);
	assert_int_equal(id, 4343);
	fill_segment(id, "AAAA");
	fd = open_path(&plain, "4343", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_true(testutil_set_next_id("shm", 4343));
	assert_int_equal(make_segment(IPC_PRIVATE, SIZE, 0644), 4343);
	assert_int_equal(read_fresh(&check), 0);
	/* a write through the mount, then a read-only open: the new bytes */
	assert_int_equal(run(out, sizeof(out),
			     "printf BBBB | dd of=%s/4343 conv=notrunc status=none "
			     "&& head -c 4 %s/4343",
			     plain.dir, plain.dir),
			 0);
	assert_string_equal(out, "BBBB");
	/* the removed one's open file keeps its own bytes */
	assert_int_equal(pread(fd, buf, 4, 0), 4);
	assert_string_equal(buf, "AAAA");
	close(fd);
	shmctl(4343, IPC_RMID, NULL);
}

/* uid 1000 removes its 0600 segment (a file of it open) and makes a 0644
 * one that gets the shmid, in one process (same cpid, size and ids): uid
 * 65534 opens and reads the new one.  Planted as above: 32. */
static void test_another_users_removed_bytes(void **state)
{
	struct read_check check = { .dir = plain.dir, .id = 4444, .not = SECRET };
	pid_t pid;
	int status;

	assert_true(testutil_set_next_id("shm", 4444));
	pid = testutil_fork();
	if (pid == 0) {
		char path[128];
		int fd, id;
		char *addr;

		testutil_become(1000);
		id = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
		addr = id == 4444 ? shmat(id, NULL, 0) : (void *)-1;
		if (addr == (void *)-1)
			_exit(40);
		strcpy(addr, SECRET);
		shmdt(addr);
		snprintf(path, sizeof(path), "%s/4444", plain.dir);
		fd = open(path, O_RDONLY);
		if (fd < 0 || shmctl(4444, IPC_RMID, NULL) != 0)
			_exit(41);
		raise(SIGSTOP); /* the parent sets shm_next_id again */
		if (shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0644) != 4444)
			_exit(42);
		raise(SIGSTOP); /* the file stays open while 65534 reads */
		close(fd);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFSTOPPED(status));
	assert_true(testutil_set_next_id("shm", 4444));
	kill(pid, SIGCONT);
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(as_user(65534, read_fresh, &check), 0);
	kill(pid, SIGCONT);
	assert_int_equal(testutil_wait_bounded(pid, 10), 0);
	shmctl(4444, IPC_RMID, NULL);
}

/* ---- sets --------------------------------------------------------------- */

static int notify_semid(const struct test_mount *m, int id)
{
	char value[32];

	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat", m->dir, id), 0);
	assert_non_null(sidecar_value(out, "notify_semid", value, sizeof(value)));
	if (strcmp(value, "none") == 0)
		return -1;
	if (strcmp(value, "removed") == 0)
		return -2;
	return atoi(value);
}

static int remove_set(void *p)
{
	return semctl(*(int *)p, 0, IPC_RMID) == 0 ? 0 : 50;
}

static int make_set(void *p)
{
	return semget(IPC_PRIVATE, 1, IPC_CREAT | 0600) == *(int *)p ? 0 : 51;
}

struct next_read {
	int fd;
	int err; /* the read's errno, 0 if it read */
};

static int read_next(void *p)
{
	struct next_read *r = p;
	char c;

	return read(r->fd, &c, 1) < 0 ? errno : 0;
}

/* The .next reader's set, handed to the segment's owner (1000), removed
 * by the owner; 65534 makes a set that gets its semid.  The waiting read
 * gets EIDRM, the sidecar says "removed", and at the reader's close the
 * other user's set is still there.  Planted: watch.c removing its set by
 * semid without the proof removes 65534's set. */
static void test_handed_set_removed_by_its_owner(void **state)
{
	struct shmid_ds ds;
	struct next_read r;
	char name[32];
	int id, semid, fd;
	pid_t reader;

	id = make_segment(IPC_PRIVATE, SIZE, 0666);
	ds = shm_stat(id);
	ds.shm_perm.uid = 1000;
	ds.shm_perm.gid = 1000;
	assert_int_equal(shmctl(id, IPC_SET, &ds), 0);
	snprintf(name, sizeof(name), "%d.next", id);
	fd = open_path(&mnt, name, O_RDONLY);
	assert_true(fd >= 0);
	semid = notify_semid(&mnt, id);
	assert_true(semid >= 0);
	/* a read waiting for the next write, in a child */
	r.fd = fd;
	reader = testutil_fork();
	if (reader == 0)
		_exit(read_next(&r));
	/* waiting: the daemon waits in the kernel for a post on the set
	 * (a read that came after the set's removal would wait on a new one) */
	for (int look = 0; look < 2000 && semctl(semid, 0, GETNCNT) < 1; look++)
		usleep(10 * 1000);
	assert_true(semctl(semid, 0, GETNCNT) >= 1);
	assert_int_equal(as_user(1000, remove_set, &semid), 0);
	assert_true(testutil_set_next_id("sem", semid));
	assert_int_equal(as_user(65534, make_set, &semid), 0);
	/* the waiter learns it (the daemon looks every few ms) */
	assert_int_equal(testutil_wait_bounded(reader, 20) >> 8, EIDRM);
	assert_int_equal(notify_semid(&mnt, id), -2);
	close(fd);
	usleep(100 * 1000);
	assert_true(sem_exists(semid)); /* 65534's set, untouched */
	semctl(semid, 0, IPC_RMID);
	shmctl(id, IPC_RMID, NULL);
}

static int count_sets(void)
{
	return testutil_sysvipc_count("sem");
}

/* kill -9 of a daemon with a .next open (its notification set); a new daemon of the namespace
 * removes them once it has proven them its own, and leaves another
 * program's set alone.  Planted: no reclaim at start leaves the
 * notification set. */
static void test_nothing_outlives_kill_9(void **state)
{
	static const char *const args[] = { "-o", "allow_other", NULL };
	struct test_mount doomed, next;
	int id, fd, before, foreign;
	char name[32];

	foreign = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600); /* not the daemon's */
	assert_true(foreign >= 0);
	/* the segment's own ShareLite set is its lock: the daemon's private
	 * lock sets are the lock module's (moving into the daemon) */
	assert_true(make_sharelite_set(0x1d0009) >= 0);
	before = count_sets();
	id = make_segment(0x1d0009, SIZE, 0666);
	mount_start(&doomed, shmfs_path, args);
	snprintf(name, sizeof(name), "%d.next", id);
	fd = open_path(&doomed, name, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(notify_semid(&doomed, id) >= 0);
	assert_true(count_sets() > before);
	kill(doomed.pid, SIGKILL);
	testutil_wait_bounded(doomed.pid, 10);
	close(fd);
	umount2(doomed.dir, MNT_DETACH);
	rmdir(doomed.dir);
	assert_true(count_sets() > before); /* left by the dead one */

	mount_start(&next, shmfs_path, args);
	assert_int_equal(mount_stop_clean(&next), 0);
	if (count_sets() != before)
		run(NULL, 0, "cat /proc/sysvipc/sem >&2");
	assert_int_equal(count_sets(), before);
	assert_true(sem_exists(foreign));
	semctl(foreign, 0, IPC_RMID);
	semctl(semget(0x1d0009, 0, 0), 0, IPC_RMID);
	shmctl(id, IPC_RMID, NULL);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mmap_never_maps_a_removed_segment),
		cmocka_unit_test(test_new_open_of_a_recycled_shmid),
		cmocka_unit_test(test_another_users_removed_bytes),
		cmocka_unit_test(test_handed_set_removed_by_its_owner),
		cmocka_unit_test(test_nothing_outlives_kill_9),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_watchdog(WATCHDOG_S);
	testutil_isolate(true);
	return testutil_run_group_tests(tests, setup, teardown);
}
