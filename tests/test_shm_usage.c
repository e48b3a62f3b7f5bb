/* test_shm_usage.c - src/shm_usage.c: the namespace's limits and use
 * against what the kernel shows in /proc (sysctls, /proc/sysvipc/shm), in
 * a private IPC namespace whose limits the test sets. */
#include <errno.h>
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

#include "segment.h"
#include "shm_usage.h"
#include "testutil.h"

static uint64_t read_sysctl(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llu", &v), 1);
	fclose(f);
	return v;
}

static void write_sysctl(const char *path, uint64_t value)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fprintf(f, "%llu\n", (unsigned long long)value) > 0);
	assert_int_equal(fclose(f), 0);
}

/* The limits are this namespace's sysctls, and the use is the sum over
 * /proc/sysvipc/shm of each segment's size in pages, its count, and its
 * resident and swapped bytes in pages. */
static void test_read_matches_proc(void **state)
{
	const size_t sizes[] = { 1, 4096, 3 * 4096 + 1, 1 << 20 };
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t want_pages = 0, want_rss = 0, want_swap = 0;
	struct segment_list list = { 0 };
	struct shm_usage u;
	int ids[4];
	char *p;

	(void)state;
	write_sysctl("/proc/sys/kernel/shmall", 5000);
	write_sysctl("/proc/sys/kernel/shmmni", 37);
	write_sysctl("/proc/sys/kernel/shmmax", 8 << 20);
	for (size_t i = 0; i < 4; i++) {
		ids[i] = shmget(IPC_PRIVATE, sizes[i], IPC_CREAT | 0600);
		assert_true(ids[i] >= 0);
	}
	/* Some resident pages, so shm_rss is not trivially 0. */
	p = shmat(ids[3], NULL, 0);
	assert_ptr_not_equal(p, (void *)-1);
	memset(p, 1, 5 * page);

	assert_int_equal(shm_usage_read(&u), 0);
	assert_int_equal(segment_list_read(&list), 0);
	assert_int_equal(list.n, 4);
	for (size_t i = 0; i < list.n; i++) {
		want_pages += (list.v[i].size + page - 1) / page;
		want_rss += list.v[i].rss / page;
		want_swap += list.v[i].swap / page;
	}
	assert_int_equal(u.page_size, page);
	assert_int_equal(u.pages_limit, read_sysctl("/proc/sys/kernel/shmall"));
	assert_int_equal(u.pages_limit, 5000);
	assert_int_equal(u.segments_limit, 37);
	assert_int_equal(u.size_max, 8 << 20);
	assert_int_equal(u.pages_used, want_pages);
	assert_int_equal(u.pages_used, 1 + 1 + 4 + 256);
	assert_int_equal(u.segments_used, 4);
	assert_int_equal(u.pages_resident, want_rss);
	assert_true(u.pages_resident >= 5);
	assert_int_equal(u.pages_swapped, want_swap);

	assert_int_equal(shmdt(p), 0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(shmctl(ids[i], IPC_RMID, NULL), 0);
	assert_int_equal(shm_usage_read(&u), 0);
	assert_int_equal(u.pages_used, 0);
	assert_int_equal(u.segments_used, 0);
	segment_list_free(&list);
}

static void test_statvfs_figures(void **state)
{
	struct shm_usage u = { .page_size = 4096,
			       .pages_limit = 1000,
			       .pages_used = 262,
			       .segments_limit = 37,
			       .segments_used = 4 };
	struct statvfs st;

	(void)state;
	shm_usage_statvfs(&u, &st);
	assert_int_equal(st.f_bsize, 4096);
	assert_int_equal(st.f_frsize, 4096);
	assert_int_equal(st.f_blocks, 1000);
	assert_int_equal(st.f_bfree, 738);
	assert_int_equal(st.f_bavail, 738);
	assert_int_equal(st.f_files, 37);
	assert_int_equal(st.f_ffree, 33);
	assert_int_equal(st.f_favail, 33);
	assert_int_equal(st.f_namemax, 255);

	/* Limits lowered below what is in use: nothing available, not a
	 * wrapped-around huge number. */
	u.pages_limit = 100;
	u.segments_limit = 2;
	shm_usage_statvfs(&u, &st);
	assert_int_equal(st.f_blocks, 100);
	assert_int_equal(st.f_bfree, 0);
	assert_int_equal(st.f_bavail, 0);
	assert_int_equal(st.f_files, 2);
	assert_int_equal(st.f_ffree, 0);

	/* The default kernel.shmall (ULONG_MAX - 2^24 pages): total bytes
	 * still fit in 64 bits. */
	u.pages_limit = UINT64_MAX - (1ull << 24);
	shm_usage_statvfs(&u, &st);
	assert_int_equal(st.f_blocks, UINT64_MAX / 4096);
	assert_true(st.f_blocks * 4096 / 4096 == st.f_blocks);
	assert_int_equal(st.f_bfree, UINT64_MAX / 4096 - 262);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_matches_proc),
		cmocka_unit_test(test_statvfs_figures),
	};

	alarm(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
