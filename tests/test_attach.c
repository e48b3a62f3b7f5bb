/* test_attach.c - src/attach.c: one attach per segment lifetime, found by
 * what proves the lifetime, attached before it is checked; against real
 * segments whose shmid is brought back (kernel.shm_next_id) in a private
 * IPC namespace. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "attach.h"
#include "guarded.h"
#include "testutil.h"

#define SIZE 8192

static struct attach_table *table;

/* A segment that gets shmid id, holding text; *weak its identity as a
 * lookup sees it (IPC_STAT, no attachment). */
static int make(int id, const char *text, struct segment_identity *weak)
{
	struct segment_info seg;
	int shmid;
	char *addr;

	assert_true(testutil_set_next_id("shm", id));
	shmid = shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600);
	assert_int_equal(shmid, id);
	addr = shmat(shmid, NULL, 0);
	assert_true(addr != (void *)-1);
	strcpy(addr, text);
	shmdt(addr);
	assert_int_equal(segment_stat(shmid, false, &seg), 0);
	identity_weak(&seg, weak);
	return shmid;
}

/* nattch of segment id, or -1 if there is none. */
static int shm_nattch(int id)
{
	struct shmid_ds ds;

	return shmctl(id, IPC_STAT, &ds) == 0 ? (int)ds.shm_nattch : -1;
}

static void read_text(struct attach *a, char *buf, size_t size)
{
	struct attach_src src;

	assert_int_equal(attach_read(a, 0, size, 0, ATTACH_NO_UID, &src), 0);
	assert_true(src.fd < 0 && src.len == size);
	memcpy(buf, src.ptr, size);
	buf[size - 1] = '\0';
}

/* A file kept after its last close: the next open of that lifetime
 * (strong identity) is proven by a look, without an attach; another
 * attacher since, or the segment removed, and it is pinned again. */
static void test_kept_file_proven_by_a_look(void **state)
{
	struct segment_identity weak, strong;
	struct segment_info held;
	enum attach_left left;
	struct attach *a, *b;
	uint64_t count;
	char buf[8];
	pid_t child;
	int status;

	make(320, "KEPT", &weak);
	assert_int_equal(attach_open(table, &weak, false, false, &held, &a), 0);
	strong = *attach_identity(a);
	assert_true(strong.strong);
	left = attach_close(table, a);
	assert_true(left == ATTACH_IDLE || left == ATTACH_IDLE_FIRST);
	assert_int_equal(shm_nattch(320), 0); /* kept as a file: no attacher */
	count = segment_attach_count(320);
	assert_int_equal(attach_open(table, &strong, false, false, &held, &b), 0);
	assert_ptr_equal(a, b);
	assert_false(segment_attached_since(320, count));
	assert_int_equal(held.shmid, 320);
	read_text(b, buf, 5);
	assert_string_equal(buf, "KEPT");
	assert_int_equal(attach_close(table, b), ATTACH_IDLE);

	/* another process attached since: lpid is not ours, pinned again */
	child = fork();
	if (child == 0) {
		void *p = shmat(320, NULL, SHM_RDONLY);

		_exit(p == (void *)-1 || shmdt(p) != 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(status, 0);
	count = segment_attach_count(320);
	assert_int_equal(attach_open(table, &strong, false, false, &held, &b), 0);
	assert_true(segment_attached_since(320, count));
	attach_close(table, b);
	shmctl(320, IPC_RMID, NULL);
}

/* The shmid of a kept file's lifetime taken again by a look-alike (the
 * same creator, ids and size) while its file is kept: removed, made
 * again at the same shmid, then attached by this process or not. */
static void kept_then_look_alike(int id, bool attach_it)
{
	struct segment_identity weak, strong, second;
	struct segment_info held;
	struct attach *a;
	void *addr;

	make(id, "OLD", &weak);
	assert_int_equal(attach_open(table, &weak, false, false, &held, &a), 0);
	strong = *attach_identity(a);
	attach_close(table, a);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_true(testutil_set_next_id("shm", id));
	assert_int_equal(shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600), id);
	assert_int_equal(segment_stat(id, false, &held), 0);
	identity_weak(&held, &second);
	assert_true(identity_same(&strong, &second)); /* weak: a look-alike */
	if (attach_it) { /* through the counted attach: its lpid is ours */
		assert_int_equal(segment_attach(id, false, &addr), 0);
		assert_int_equal(segment_detach(addr), 0);
	}
	assert_int_equal(attach_open(table, &strong, false, false, &held, &a), -ESTALE);
	shmctl(id, IPC_RMID, NULL);
}

/* Never served from the kept file: neither while the look-alike has no
 * attacher (lpid 0) nor once this process attached it (its own lpid, but
 * the attach count moved). */
static void test_kept_file_never_serves_a_look_alike(void **state)
{
	kept_then_look_alike(330, false);
	kept_then_look_alike(331, true);
}

/* A kept file opened again looks at its chunks again: a page punched
 * out of the segment between two opens (MADV_REMOVE by an attacher) is
 * read as the hole it is, never brought back by a read through the
 * daemon's mapping (the segment's rss stays one page). */
static void test_kept_file_looks_again(void **state)
{
	struct segment_identity weak, strong;
	struct segment_info held, seg;
	struct attach_src src;
	struct attach *a, *b;
	char *p;
	int id = make(370, "", &weak);

	p = shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	memset(p, 'x', SIZE); /* every page in */
	shmdt(p);
	assert_int_equal(attach_open(table, &weak, false, false, &held, &a), 0);
	strong = *attach_identity(a);
	for (int i = 0; i < 12; i++)
		assert_int_equal(attach_read(a, 4096, 64, 0, getuid(), &src), 0);
	assert_ptr_not_equal(src.ptr, guarded_read_buffer()); /* from the mapping */
	attach_close(table, a);

	p = shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	assert_int_equal(madvise(p + 4096, 4096, MADV_REMOVE), 0);
	shmdt(p);
	assert_int_equal(attach_open(table, &strong, false, false, &held, &b), 0);
	assert_ptr_equal(a, b); /* the kept file */
	assert_int_equal(attach_read(b, 4096, 64, 0, getuid(), &src), 0);
	assert_int_equal(src.len, 64);
	assert_int_equal(src.ptr[0], '\0');
	assert_int_equal(segment_stat(id, true, &seg), 0);
	assert_int_equal(seg.rss, 4096);
	attach_close(table, b);
	shmctl(id, IPC_RMID, NULL);
}

/* Descriptors this process has open. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A kept file goes at the first sweep once its segment is removed (its
 * memory is not held longer); at most 64 are kept at once, 16 of them
 * closed by one user. */
static void test_kept_files_let_go(void **state)
{
	struct segment_identity weak;
	struct segment_info held;
	struct attach *a;
	int before, ids[70];

	while (attach_sweep(table)) /* the earlier tests' kept files: removed */
		;
	before = open_fds();
	make(340, "GONE", &weak);
	assert_int_equal(attach_open(table, &weak, false, false, &held, &a), 0);
	attach_close(table, a);
	assert_int_equal(open_fds(), before + 1); /* kept */
	assert_true(attach_sweep(table));	  /* still there: kept */
	assert_int_equal(open_fds(), before + 1);
	shmctl(340, IPC_RMID, NULL);
	assert_false(attach_sweep(table)); /* removed: let go, nothing left */
	assert_int_equal(open_fds(), before);

	/* one user's closes keep 16 (a quarter), five users' 64 in all */
	for (int i = 0; i < 70; i++) {
		ids[i] = make(350 + i, "MANY", &weak);
		assert_int_equal(attach_open(table, &weak, false, false, &held, &a), 0);
		attach_close_as(table, a, i < 20 ? 1000 : 1001 + (i % 4));
		if (i == 19)
			assert_int_equal(open_fds(), before + 16);
	}
	assert_int_equal(open_fds(), before + 64);
	for (int i = 0; i < 70; i++)
		shmctl(ids[i], IPC_RMID, NULL);
	assert_false(attach_sweep(table));
	assert_int_equal(open_fds(), before);
}

static int setup(void **state)
{
	table = attach_table_new(1024, 0);
	return table ? 0 : -1;
}

static int teardown(void **state)
{
	attach_table_free(table);
	return 0;
}

/* Opens of one lifetime share one attach, readers and writers alike; the
 * held segment is what IPC_STAT shows after the attach. */
static void test_one_attach_per_lifetime(void **state)
{
	struct segment_identity weak;
	struct segment_info held;
	struct attach *r, *w;
	char buf[8];
	int id = make(300, "hello", &weak);

	assert_int_equal(attach_open(table, &weak, false, false, &held, &r), 0);
	assert_int_equal(held.shmid, id);
	assert_true(held.nattch == 1);	     /* stated while attached */
	assert_int_equal(shm_nattch(id), 0); /* then detached: the file stays */
	assert_int_equal(attach_open(table, &weak, true, false, &held, &w), 0);
	assert_ptr_equal(r, w);
	assert_true(attach_identity(r)->strong);
	read_text(r, buf, 6);
	assert_string_equal(buf, "hello");
	assert_int_equal(attach_write(w, "HELLO", 5, 0, 0), 5);
	read_text(r, buf, 6);
	assert_string_equal(buf, "HELLO");
	attach_close(table, r);
	attach_close(table, w);
	shmctl(id, IPC_RMID, NULL);
}

/* The same creator, ids and size get the shmid back while a file of the
 * removed one is open: a new open (weak identity only, all equal) gets
 * its own attach and the new bytes; the removed one's keeps its own. */
static void test_recycled_shmid_is_another_attach(void **state)
{
	struct segment_identity first, second;
	struct segment_info held;
	struct attach *old, *new;
	char buf[8];

	make(301, "AAAA", &first);
	assert_int_equal(attach_open(table, &first, false, false, &held, &old), 0);
	assert_int_equal(shmctl(301, IPC_RMID, NULL), 0);
	make(301, "BBBB", &second);
	assert_true(identity_same(&first, &second)); /* weak: look-alikes */
	assert_int_equal(attach_open(table, &second, false, false, &held, &new), 0);
	assert_ptr_not_equal(old, new);
	assert_false(identity_strong_same(attach_identity(old), attach_identity(new)));
	read_text(new, buf, 5);
	assert_string_equal(buf, "BBBB");
	read_text(old, buf, 5);
	assert_string_equal(buf, "AAAA");
	attach_close(table, new);
	attach_close(table, old);
	shmctl(301, IPC_RMID, NULL);
}

/* An open that knows the strong identity refuses a look-alike (ESTALE),
 * and a gone segment is ENOENT. */
static void test_stale_and_gone(void **state)
{
	struct segment_identity weak, proven, other;
	struct segment_info held;
	struct attach *a;

	make(302, "x", &weak);
	assert_int_equal(attach_open(table, &weak, false, false, &held, &a), 0);
	proven = *attach_identity(a);
	attach_close(table, a);
	assert_int_equal(shmctl(302, IPC_RMID, NULL), 0);
	assert_int_equal(attach_open(table, &proven, false, false, &held, &a), -ENOENT);
	make(302, "y", &other);
	assert_int_equal(attach_open(table, &proven, false, false, &held, &a), -ESTALE);
	/* another creator's size: refused before anything is attached */
	other.size = SIZE * 2;
	assert_int_equal(attach_open(table, &other, false, false, &held, &a), -ESTALE);
	assert_int_equal(shm_nattch(302), 0);
	shmctl(302, IPC_RMID, NULL);
}

static int calls;

static int remove_act(const struct identity_pin *pin, void *ctx)
{
	calls++;
	assert_true(pin->held.nattch >= 1); /* pinned while acting */
	return segment_remove(pin->held.shmid);
}

/* IPC_RMID through attach_act(): only on the lifetime meant. */
static void test_act_on_the_lifetime_meant(void **state)
{
	struct segment_identity weak, proven;
	struct segment_info held;
	struct attach *a;

	make(303, "x", &weak);
	assert_int_equal(attach_open(table, &weak, false, false, &held, &a), 0);
	proven = *attach_identity(a);
	attach_close(table, a);
	assert_int_equal(shmctl(303, IPC_RMID, NULL), 0);
	make(303, "y", &weak);
	calls = 0;
	assert_int_equal(attach_act(table, &proven, remove_act, NULL), -ESTALE);
	assert_int_equal(calls, 0);
	assert_int_equal(shm_nattch(303), 0); /* the look-alike is still there */
	assert_int_equal(attach_act(table, &weak, remove_act, NULL), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(shm_nattch(303), -1); /* removed, and destroyed at the detach */
}

/* Small reads, once the lifetime has had a few, are replied from a
 * mapping of its file, not copied into the thread's buffer: each sees
 * the bytes the write before it left. */
static void test_small_reads_from_a_mapping(void **state)
{
	struct segment_identity weak;
	struct segment_info held;
	struct attach_src src;
	struct attach *a;
	char text[32];
	int id = make(310, "x", &weak);

	assert_int_equal(attach_open(table, &weak, true, false, &held, &a), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(text, sizeof(text), "read %d", i);
		assert_int_equal(attach_write(a, text, strlen(text) + 1, 0, ATTACH_NO_UID),
				 (ssize_t)strlen(text) + 1);
		assert_int_equal(attach_read(a, 0, 64, 0, getuid(), &src), 0);
		assert_true(src.fd < 0 && src.len == 64);
		assert_string_equal(src.ptr, text);
	}
	assert_ptr_not_equal(src.ptr, guarded_read_buffer());
	attach_close(table, a);
	shmctl(id, IPC_RMID, NULL);
	/* never made for a read that may not pay for it (another segment:
	 * the first one's kept file keeps its mapping a while) */
	id = make(311, "y", &weak);
	assert_int_equal(attach_open(table, &weak, true, false, &held, &a), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(attach_read(a, 0, 64, 0, ATTACH_NO_UID, &src), 0);
	assert_ptr_equal(src.ptr, guarded_read_buffer());
	attach_close(table, a);
	shmctl(id, IPC_RMID, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_attach_per_lifetime),
		cmocka_unit_test(test_recycled_shmid_is_another_attach),
		cmocka_unit_test(test_stale_and_gone),
		cmocka_unit_test(test_act_on_the_lifetime_meant),
		cmocka_unit_test(test_small_reads_from_a_mapping),
		cmocka_unit_test(test_kept_file_proven_by_a_look),
		cmocka_unit_test(test_kept_file_never_serves_a_look_alike),
		cmocka_unit_test(test_kept_files_let_go),
		cmocka_unit_test(test_kept_file_looks_again),
	};

	testutil_watchdog(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, setup, teardown);
}
