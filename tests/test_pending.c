/* test_pending.c - src/pending.c: the bookkeeping of names being created,
 * with real segments (shmget in a private IPC namespace) made here when
 * the table answers PENDING_MAKE, as the FUSE layer makes them. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cmocka.h>

#include "pending.h"
#include "testutil.h"

#define BUDGET	     4096
#define DEFAULT_SIZE 1024
#define USER_A	     1001
#define USER_B	     1002

/* What the making saw, and a gate it may be held at. */
static struct {
	int calls;
	int hold[2]; /* make waits for a byte here when holding */
	int entered[2];
	bool holding;
} maker;

struct made {
	int shmid;
};

/* The real thing: shmget with IPC_EXCL, the bytes copied in. */
static int make_segment(const struct pending_info *info, const char *data, size_t len, size_t size,
			void **file, int *shmid)
{
	struct made *m;
	char c;
	void *addr;
	int id;

	maker.calls++;
	if (maker.holding) {
		assert_int_equal(write(maker.entered[1], "x", 1), 1);
		assert_int_equal(read(maker.hold[0], &c, 1), 1);
	}
	id = shmget(info->key, size, IPC_CREAT | IPC_EXCL | info->mode);
	if (id < 0)
		return -errno;
	addr = shmat(id, NULL, 0);
	if (addr == (void *)-1) {
		shmctl(id, IPC_RMID, NULL);
		return -ENOMEM;
	}
	if (len)
		memcpy(addr, data, len < size ? len : size);
	shmdt(addr);
	m = malloc(sizeof(*m));
	assert_non_null(m);
	m->shmid = id;
	*file = m;
	*shmid = id;
	return 0;
}

static struct pending_table *t;

/* What the FUSE layer does with an answer of pending.c's: makes the
 * segment asked for (PENDING_MAKE) and reports back. */
static int make_asked(struct pending *p, int ret, const struct pending_make *mk)
{
	void *file = NULL;
	int shmid = -1;

	if (ret != PENDING_MAKE)
		return ret;
	ret = make_segment(&mk->info, mk->data, mk->len, mk->size, &file, &shmid);
	return pending_made(t, p, ret, file, shmid);
}

static int flush(struct pending *p)
{
	struct pending_make mk;

	return make_asked(p, pending_on_flush(t, p, DEFAULT_SIZE, &mk), &mk);
}

static void put(struct pending *p)
{
	free(pending_put(t, p));
}

static void unhold(struct pending *p)
{
	free(pending_unhold(t, p));
}

static int release(struct pending *p)
{
	struct pending_make mk;
	int ret = make_asked(p, pending_on_release(t, p, DEFAULT_SIZE, &mk), &mk);

	unhold(p);
	return ret;
}

static int change(struct pending *p, uid_t caller, const struct pending_change *c, void **file)
{
	struct pending_make mk;

	return make_asked(p, pending_change(t, p, caller, c, DEFAULT_SIZE, file, &mk), &mk);
}

static int table_setup(void **state)
{
	memset(&maker, 0, sizeof(maker));
	t = pending_table_new(BUDGET);
	return t ? 0 : -1;
}

static int table_teardown(void **state)
{
	char line[256];
	FILE *f;

	pending_table_free(t);
	/* remove every segment the test made */
	f = fopen("/proc/sysvipc/shm", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			int key, id;

			if (sscanf(line, "%d %d", &key, &id) == 2)
				shmctl(id, IPC_RMID, NULL);
		}
		fclose(f);
	}
	return 0;
}

static struct pending *get(int32_t key, uid_t uid, bool create)
{
	struct pending_info info;
	struct pending *p = NULL;
	bool created;

	assert_int_equal(pending_get(t, key, uid, uid, 0600, create, &p, &created, &info), 0);
	return p;
}

static int segment_of(int32_t key, struct shmid_ds *ds)
{
	int id = shmget(key, 0, 0);

	if (id >= 0 && ds)
		assert_int_equal(shmctl(id, IPC_STAT, ds), 0);
	return id;
}

/* Each creator has the whole budget, whatever the others hold. */
static void test_budget_is_per_creator(void **state)
{
	static char buf[BUDGET];
	struct pending *a = get(0x100, USER_A, true), *a2 = get(0x101, USER_A, true);
	struct pending *b = get(0x100, USER_B, true);
	void *file;

	assert_int_equal(pending_gather(t, a, buf, BUDGET - 10, 0, &file), 0);
	/* the budget is for all of A's names */
	assert_int_equal(pending_gather(t, a2, buf, 11, 0, &file), -EFBIG);
	assert_int_equal(pending_gather(t, a, buf, 1, BUDGET, &file), -EFBIG);
	/* B is not affected */
	assert_int_equal(pending_gather(t, b, buf, BUDGET, 0, &file), 0);
	/* A's spoilt names make nothing, and give their bytes back */
	assert_int_equal(flush(a), -EFBIG);
	assert_int_equal(release(a), 0);
	assert_int_equal(release(a2), 0);
	assert_int_equal(maker.calls, 0);
	assert_int_equal(segment_of(0x100, NULL), -1);
	a = get(0x102, USER_A, true);
	assert_int_equal(pending_gather(t, a, buf, BUDGET, 0, &file), 0);
	put(a);
	put(b);
}

/* Many creators (more than the first room of the per-user table): each
 * keeps its own count while the table grows. */
static void test_budget_for_many_creators(void **state)
{
	enum {
		USERS = 20
	};
	static char buf[BUDGET];
	struct pending *first[USERS], *second[USERS];
	void *file;

	for (int i = 0; i < USERS; i++) {
		first[i] = get(0x200 + i, (uid_t)(2000 + i), true);
		assert_int_equal(pending_gather(t, first[i], buf, BUDGET - 1, 0, &file), 0);
	}
	/* one byte of each creator's budget left, for all its names */
	for (int i = 0; i < USERS; i++) {
		second[i] = get(0x300 + i, (uid_t)(2000 + i), true);
		assert_int_equal(pending_gather(t, second[i], buf, 2, 0, &file), -EFBIG);
		assert_int_equal(pending_gather(t, second[i], buf, 1, 0, &file), 0);
	}
	for (int i = 0; i < USERS; i++) {
		put(first[i]);
		put(second[i]);
	}
}

/* A name is found by its creator only; another's creation of the same
 * key is a name of its own, and the second made gets EEXIST. */
static void test_names_are_their_creators(void **state)
{
	struct pending_info info;
	struct pending *a = get(0x200, USER_A, true), *b, *other;
	bool created;
	void *file;

	assert_int_equal(pending_find(t, 0x200, USER_B, &info), -ENOENT);
	assert_int_equal(pending_find(t, 0x200, 0, &info), -ENOENT);
	assert_int_equal(pending_hold(t, 0x200, USER_B, 0, &other), -ENOENT);
	assert_int_equal(
		pending_get(t, 0x200, USER_B, USER_B, 0600, false, &other, &created, &info),
		-ENOENT);
	assert_int_equal(pending_get(t, 0x200, USER_B, USER_B, 0644, true, &b, &created, &info), 0);
	assert_true(created);
	assert_ptr_not_equal(a, b);
	assert_int_equal(info.cuid, USER_B);
	/* the creator's own second open shares its name */
	assert_int_equal(pending_get(t, 0x200, USER_A, USER_A, 0600, true, &other, &created, &info),
			 0);
	assert_false(created);
	assert_ptr_equal(other, a);
	put(other);
	assert_int_equal(pending_gather(t, a, "from-a", 6, 0, &file), 0);
	assert_int_equal(pending_gather(t, b, "from-b", 6, 0, &file), 0);
	assert_int_equal(flush(a), 0);
	assert_int_equal(flush(b), -EEXIST);
	assert_int_equal(release(a), 0);
	assert_int_equal(release(b), 0);
	assert_int_equal(maker.calls, 2);
}

/* A close after bytes makes the segment with them, at least the default
 * size; the last close of a name never written makes it too. */
static void test_close_makes_the_segment(void **state)
{
	struct pending *p = get(0x300, USER_A, true), *q = get(0x301, USER_A, true);
	struct shmid_ds ds;
	char buf[16];
	size_t n;
	void *file;
	char *addr;

	assert_int_equal(pending_gather(t, p, "hello", 5, 2, &file), 0);
	assert_int_equal(pending_copy_out(t, p, buf, sizeof(buf), 0, &n, &file), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "\0\0hello", 7);
	assert_int_equal(flush(p), 0);
	assert_true(segment_of(0x300, &ds) >= 0);
	assert_int_equal(ds.shm_segsz, DEFAULT_SIZE);
	addr = shmat(segment_of(0x300, NULL), NULL, SHM_RDONLY);
	assert_true(addr != (void *)-1);
	assert_memory_equal(addr, "\0\0hello", 7);
	shmdt(addr);
	/* once made, requests go to the segment */
	assert_int_equal(pending_gather(t, p, "x", 1, 0, &file), PENDING_MADE);
	assert_int_equal(((struct made *)file)->shmid, segment_of(0x300, NULL));
	assert_int_equal(pending_copy_out(t, p, buf, 1, 0, &n, &file), PENDING_MADE);
	assert_int_equal(release(p), 0);
	/* a flush with nothing written makes nothing; the last release does */
	assert_int_equal(flush(q), 0);
	assert_int_equal(segment_of(0x301, NULL), -1);
	assert_int_equal(release(q), 0);
	assert_true(segment_of(0x301, &ds) >= 0);
	assert_int_equal(ds.shm_segsz, DEFAULT_SIZE);
}

/* chmod, chown, truncate and touch: the creator's or root's; a size or
 * a touch makes the segment. */
static void test_changes(void **state)
{
	struct pending *p = get(0x400, USER_A, true), *q;
	struct pending_change chown_to_0 = { .what = PENDING_SET_UID | PENDING_SET_GID };
	struct pending_change chmod_0640 = { .what = PENDING_SET_MODE, .mode = 0640 };
	struct pending_change size = { .what = PENDING_SET_SIZE, .size = 8192 };
	struct pending_change touch = { .what = PENDING_SET_TOUCH };
	struct pending_info info;
	struct shmid_ds ds;
	void *file;

	assert_int_equal(change(p, USER_B, &chmod_0640, &file), -EPERM);
	assert_int_equal(change(p, USER_B, &touch, &file), -EPERM);
	assert_int_equal(maker.calls, 0);
	assert_int_equal(change(p, USER_A, &chown_to_0, &file), 0);
	assert_int_equal(change(p, 0, &chmod_0640, &file), 0);
	pending_info_of(t, p, &info);
	assert_int_equal(info.uid, 0);
	assert_int_equal(info.gid, 0);
	assert_int_equal(info.cuid, USER_A); /* the creator stays */
	assert_int_equal(info.mode, 0640);
	assert_int_equal(change(p, USER_A, &size, &file), 0);
	assert_true(segment_of(0x400, &ds) >= 0);
	assert_int_equal(ds.shm_segsz, 8192);
	assert_int_equal(ds.shm_perm.mode & 0777, 0640);
	assert_int_equal(change(p, USER_A, &chmod_0640, &file), PENDING_MADE);
	assert_int_equal(release(p), 0);

	/* a touch by path: a hold, not an open file */
	q = get(0x401, USER_A, true);
	assert_int_equal(pending_hold(t, 0x401, USER_A, 0, &p), 0);
	assert_ptr_equal(p, q);
	assert_int_equal(change(p, USER_A, &touch, &file), 0);
	unhold(p);
	assert_true(segment_of(0x401, &ds) >= 0);
	assert_int_equal(ds.shm_segsz, DEFAULT_SIZE);
	assert_int_equal(release(q), 0);
	assert_int_equal(maker.calls, 2);
}

/* A name once made names its lifetime, no creation: while a file of it is
 * open and its segment is gone, a creation of the key by the same user is
 * a new name, whose bytes and size are its own (never the made file's). */
static void test_made_name_is_no_creation(void **state)
{
	struct pending_change size = { .what = PENDING_SET_SIZE, .size = 2048 };
	struct pending *old = get(0x600, USER_A, true), *p, *held;
	struct pending_info info;
	uint64_t old_serial;
	struct shmid_ds ds;
	bool created;
	void *file;

	assert_int_equal(pending_gather(t, old, "old", 3, 0, &file), 0);
	assert_int_equal(flush(old), 0);
	assert_int_equal(shmctl(segment_of(0x600, NULL), IPC_RMID, NULL), 0);
	/* no name being created for the key any more */
	assert_int_equal(pending_find(t, 0x600, USER_A, &info), -ENOENT);
	assert_int_equal(pending_get(t, 0x600, USER_A, USER_A, 0600, false, &p, &created, &info),
			 -ENOENT);
	/* a request without its file still reaches the made one */
	assert_int_equal(pending_hold(t, 0x600, USER_A, 0, &held), 0);
	assert_ptr_equal(held, old);
	unhold(held);

	pending_info_of(t, old, &info);
	old_serial = info.serial;
	assert_int_equal(pending_get(t, 0x600, USER_A, USER_A, 0600, true, &p, &created, &info), 0);
	assert_true(created);
	assert_ptr_not_equal(p, old);
	assert_int_equal(info.shmid, -1);
	assert_int_not_equal(info.serial, old_serial);
	/* a node names one creation: its requests reach that one only */
	assert_int_equal(pending_hold(t, 0x600, USER_A, old_serial, &held), 0);
	assert_ptr_equal(held, old);
	unhold(held);
	assert_int_equal(pending_hold(t, 0x600, USER_A, info.serial, &held), 0);
	assert_ptr_equal(held, p);
	unhold(held);
	assert_int_equal(pending_reopen(t, 0x600, USER_A, old_serial, &held, &info), -ENOENT);
	assert_int_equal(pending_hold(t, 0x600, USER_B, info.serial, &held), -ENOENT);
	assert_int_equal(pending_gather(t, p, "new", 3, 0, &file), 0);
	assert_int_equal(pending_find(t, 0x600, USER_A, &info), 0);
	assert_int_equal(info.len, 3);
	assert_int_equal(pending_hold(t, 0x600, USER_A, 0, &held), 0);
	assert_ptr_equal(held, p);
	unhold(held);
	assert_int_equal(change(p, USER_A, &size, &file), 0);
	assert_true(segment_of(0x600, &ds) >= 0);
	assert_int_equal(ds.shm_segsz, 2048);
	assert_int_equal(maker.calls, 2);
	/* the old file's requests still go to its own file */
	assert_int_equal(pending_gather(t, old, "x", 1, 0, &file), PENDING_MADE);
	assert_int_not_equal(((struct made *)file)->shmid, segment_of(0x600, NULL));
	assert_int_equal(release(old), 0);
	assert_int_equal(release(p), 0);
	assert_int_equal(maker.calls, 2);
}

/* The making is the caller's: pending.c answers PENDING_MAKE with what to
 * make and waits for pending_made(); a making that failed spoils the
 * name (a close reports it, the last release makes nothing). */
static void test_making_is_the_callers(void **state)
{
	struct pending *p = get(0x700, USER_A, true);
	struct pending_make mk;
	void *file;

	assert_int_equal(pending_gather(t, p, "abc", 3, 0, &file), 0);
	assert_int_equal(pending_on_flush(t, p, DEFAULT_SIZE, &mk), PENDING_MAKE);
	assert_int_equal(mk.info.key, 0x700);
	assert_int_equal(mk.info.cuid, USER_A);
	assert_int_equal(mk.info.mode, 0600);
	assert_int_equal(mk.len, 3);
	assert_memory_equal(mk.data, "abc", 3);
	assert_int_equal(mk.size, DEFAULT_SIZE);
	assert_int_equal(pending_made(t, p, -EBUSY, NULL, -1), -EBUSY);
	assert_int_equal(flush(p), -EBUSY);
	assert_int_equal(pending_on_release(t, p, DEFAULT_SIZE, &mk), 0);
	assert_null(pending_unhold(t, p));
	assert_int_equal(maker.calls, 0);
	assert_int_equal(segment_of(0x700, NULL), -1);
}

struct flusher {
	struct pending *p;
	int ret;
	void *file;
};

static void *flush_thread(void *arg)
{
	struct flusher *f = arg;

	f->ret = flush(f->p);
	return NULL;
}

static void *write_thread(void *arg)
{
	struct flusher *f = arg;

	f->ret = pending_gather(t, f->p, "late", 4, 0, &f->file);
	return NULL;
}

/* While one name is being made (the caller's making held), the table
 * serves every other name: the mutex is not held across the making.
 * A write to the name being made waits for it, then goes to the segment. */
static void test_making_holds_no_lock(void **state)
{
	struct pending *a = get(0x500, USER_A, true), *b;
	struct flusher maker_side = { .p = a }, writer_side = { .p = a };
	struct pending_info info;
	pthread_t th, tw;
	char c;
	void *file;

	assert_int_equal(pipe(maker.hold), 0);
	assert_int_equal(pipe(maker.entered), 0);
	maker.holding = true;
	assert_int_equal(pending_gather(t, a, "bytes", 5, 0, &file), 0);
	assert_int_equal(pthread_create(&th, NULL, flush_thread, &maker_side), 0);
	assert_int_equal(read(maker.entered[0], &c, 1), 1); /* make is running */
	/* everything else goes on (the watchdog fails the test if not) */
	b = get(0x501, USER_B, true);
	assert_int_equal(pending_gather(t, b, "other", 5, 0, &file), 0);
	assert_int_equal(pending_find(t, 0x500, USER_A, &info), 0);
	assert_int_equal(info.len, 5);
	put(b);
	assert_int_equal(pthread_create(&tw, NULL, write_thread, &writer_side), 0);
	assert_int_equal(write(maker.hold[1], "x", 1), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(pthread_join(tw, NULL), 0);
	assert_int_equal(maker_side.ret, 0);
	assert_int_equal(writer_side.ret, PENDING_MADE);
	assert_non_null(writer_side.file);
	maker.holding = false;
	assert_int_equal(release(a), 0);
	assert_int_equal(maker.calls, 1);
	for (int i = 0; i < 2; i++) {
		close(maker.hold[i]);
		close(maker.entered[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_budget_is_per_creator, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_budget_for_many_creators, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_names_are_their_creators, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_close_makes_the_segment, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_changes, table_setup, table_teardown),
		cmocka_unit_test_setup_teardown(test_made_name_is_no_creation, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_making_is_the_callers, table_setup,
						table_teardown),
		cmocka_unit_test_setup_teardown(test_making_holds_no_lock, table_setup,
						table_teardown),
	};

	testutil_isolate(false);
	alarm(60);
	testutil_filter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
