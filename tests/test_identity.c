/* test_identity.c - src/identity.c: what proves a segment lifetime, against
 * real segments whose shmid is brought back (kernel.shm_next_id) in a
 * private IPC namespace. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cmocka.h>

#include "identity.h"
#include "testutil.h"

/* A segment of size made with shmid id; its identity read through an
 * attachment, as the daemon does; the backing file left open in *fd. */
static int make(int id, size_t size, struct segment_identity *out, int *fd)
{
	struct segment_info seg;
	void *addr;
	int shmid;

	assert_true(testutil_set_next_id("shm", id));
	shmid = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	assert_int_equal(shmid, id);
	assert_int_equal(segment_attach(shmid, true, &addr), 0);
	assert_int_equal(segment_stat(shmid, false, &seg), 0);
	identity_weak(&seg, out);
	*fd = segment_open_fd(addr, seg.size, true);
	assert_true(*fd >= 0);
	assert_int_equal(identity_read_strong(*fd, out), 0);
	assert_int_equal(segment_detach(addr), 0);
	return shmid;
}

/* The same creator, size and shmid twice: the weak identity cannot tell
 * them apart, the strong one does. */
static void test_recycled_shmid_is_another_lifetime(void **state)
{
	struct segment_identity first, again, second, weak_first, weak_second;
	int fd1, fd1b, fd2;
	void *addr;

	(void)state;
	make(77, 8192, &first, &fd1);
	/* the same lifetime read again, through a new attachment */
	assert_int_equal(segment_attach(77, false, &addr), 0);
	fd1b = segment_open_fd(addr, 8192, false);
	assert_true(fd1b >= 0);
	again = first;
	again.strong = false;
	assert_int_equal(identity_read_strong(fd1b, &again), 0);
	assert_true(identity_strong_same(&first, &again));
	assert_true(identity_same(&first, &again));
	segment_detach(addr);
	close(fd1b);

	assert_int_equal(segment_remove(77), 0);
	make(77, 8192, &second, &fd2);
	assert_int_equal(second.shmid, first.shmid);
	weak_first = first;
	weak_first.strong = false;
	weak_second = second;
	weak_second.strong = false;
	assert_true(identity_same(&weak_first, &weak_second)); /* what weak cannot see */
	assert_false(identity_strong_same(&first, &second));
	assert_false(identity_same(&first, &second));
	assert_false(identity_same(&second, &first));

	/* the removed one's file still names the removed one */
	again.strong = false;
	assert_int_equal(identity_read_strong(fd1, &again), 0);
	assert_true(identity_strong_same(&first, &again));
	assert_false(identity_strong_same(&second, &again));
	close(fd1);
	close(fd2);
	segment_remove(77);
}

static void test_weak_fields_decide_without_strong(void **state)
{
	struct segment_info seg = {
		.shmid = 3, .cpid = 10, .cuid = 1000, .cgid = 1000, .size = 4096
	};
	struct segment_identity a, b;

	(void)state;
	identity_weak(&seg, &a);
	b = a;
	assert_true(identity_same(&a, &b));
	/* one side strong: the weak fields decide */
	b.strong = true;
	b.btime_ns = 1;
	assert_true(identity_same(&a, &b));
	assert_false(identity_strong_same(&a, &b));
	seg.size = 8192;
	identity_weak(&seg, &b);
	assert_false(identity_same(&a, &b));
	seg.size = 4096;
	seg.cpid = 11;
	identity_weak(&seg, &b);
	assert_false(identity_same(&a, &b));
	seg.cpid = 10;
	seg.cuid = 0;
	identity_weak(&seg, &b);
	assert_false(identity_same(&a, &b));
	seg.cuid = 1000;
	seg.cgid = 0;
	identity_weak(&seg, &b);
	assert_false(identity_same(&a, &b));
	seg.cgid = 1000;
	seg.shmid = 32771;
	identity_weak(&seg, &b);
	assert_false(identity_same(&a, &b));
	/* what IPC_SET changes is not identity */
	seg.shmid = 3;
	seg.uid = 65534;
	seg.mode = 0644;
	seg.key = 0x1234;
	identity_weak(&seg, &b);
	assert_true(identity_same(&a, &b));
}

/* A file that is not tmpfs's (here: a pipe) has no strong identity. */
static void test_no_strong_identity_elsewhere(void **state)
{
	struct segment_identity id = { 0 };
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_true(identity_read_strong(p[0], &id) < 0);
	assert_false(id.strong);
	close(p[0]);
	close(p[1]);
}

static void test_format(void **state)
{
	struct segment_identity id = { .shmid = 5 };
	char buf[96];

	(void)state;
	identity_format(&id, buf, sizeof(buf));
	assert_string_equal(buf, "shmid 5");
	id.strong = true;
	id.btime_ns = 1000000001ull;
	id.handle_len = 12;
	id.handle[0] = 0xab;
	identity_format(&id, buf, sizeof(buf));
	assert_string_equal(buf, "shmid 5 (born 1.000000001, handle ab000000)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recycled_shmid_is_another_lifetime),
		cmocka_unit_test(test_weak_fields_decide_without_strong),
		cmocka_unit_test(test_no_strong_identity_elsewhere),
		cmocka_unit_test(test_format),
	};

	testutil_watchdog(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
