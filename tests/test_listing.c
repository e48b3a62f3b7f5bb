/* test_listing.c - src/listing.c: the table's shared snapshots, against
 * real segments of a private IPC namespace, with the kernel's own
 * /proc/sysvipc/shm line as the oracle for rss and swap.
 *
 * What is counted is reads of the table, never time: the usage of the
 * last of thousands of segments costs no read per look, and directory
 * handles with the same listing share one snapshot. */
#include <errno.h>
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

#include "listing.h"
#include "segment.h"
#include "testutil.h"

#define NSEGS 3000
#define PAGE  4096

static int ids[NSEGS];

static int make_segments(void **state)
{
	for (int i = 0; i < NSEGS; i++) {
		ids[i] = shmget(0x5c000000 + i, 2 * PAGE, IPC_CREAT | IPC_EXCL | 0600);
		assert_true(ids[i] >= 0);
	}
	return 0;
}

/* Make pages of a segment resident: its rss grows, nattch does not change
 * afterwards. */
static void touch(int shmid, size_t bytes)
{
	char *p = shmat(shmid, NULL, 0);

	assert_true(p != (void *)-1);
	memset(p, 1, bytes);
	assert_int_equal(shmdt(p), 0);
}

/* The segment now, and its usage as the kernel's own line shows it. */
static void oracle(int shmid, struct segment_info *now, struct segment_info *line)
{
	assert_int_equal(segment_stat(shmid, false, now), 0);
	assert_int_equal(segment_stat(shmid, true, line), 0);
	assert_true(line->have_usage);
}

/* Looking at the usage of the last segment many times reads the table
 * once, and shows the kernel's figures. */
static void test_usage_of_last_reads_table_once(void **state)
{
	struct listing_cache *cache = listing_cache_new(3600);
	struct segment_info now, line;
	int last = ids[NSEGS - 1];

	assert_non_null(cache);
	touch(last, PAGE);
	oracle(last, &now, &line);
	for (int i = 0; i < 100; i++) {
		struct segment_info seg;

		assert_int_equal(segment_stat(last, false, &seg), 0);
		listing_usage(cache, &seg);
		assert_true(seg.have_usage);
		assert_int_equal(seg.rss, line.rss);
		assert_int_equal(seg.swap, line.swap);
	}
	assert_int_equal(line.rss, PAGE);
	assert_int_equal(listing_table_reads(cache), 1);
	/* and so does every segment, one look each */
	for (int i = 0; i < NSEGS; i++) {
		struct segment_info seg;

		assert_int_equal(segment_stat(ids[i], false, &seg), 0);
		listing_usage(cache, &seg);
		assert_true(seg.have_usage);
	}
	assert_int_equal(listing_table_reads(cache), 1);
	listing_cache_free(cache);
}

/* Look until the snapshot is read again (a read again waits for at least
 * the time the last read took), at most a few seconds. */
static void usage_eventually(struct listing_cache *cache, int shmid, struct segment_info *seg)
{
	unsigned long before = listing_table_reads(cache);

	for (int tries = 0; tries < 200; tries++) {
		assert_int_equal(segment_stat(shmid, false, seg), 0);
		listing_usage(cache, seg);
		if (listing_table_reads(cache) > before)
			return;
		usleep(20000);
	}
	fail_msg("the table was not read again");
}

/* A segment attached since the snapshot, or created since, has the table
 * read again: its usage is the kernel's new figure, not the old. */
static void test_usage_follows_attachments_and_creation(void **state)
{
	struct listing_cache *cache = listing_cache_new(3600);
	struct segment_info seg, now, line;
	int id = ids[NSEGS / 2], made;

	assert_non_null(cache);
	assert_int_equal(segment_stat(id, false, &seg), 0);
	listing_usage(cache, &seg);
	assert_true(seg.have_usage);
	assert_int_equal(seg.rss, 0);

	touch(id, 2 * PAGE);
	usage_eventually(cache, id, &seg);
	oracle(id, &now, &line);
	assert_true(seg.have_usage);
	assert_int_equal(seg.rss, 2 * PAGE);
	assert_int_equal(seg.rss, line.rss);

	made = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
	assert_true(made >= 0);
	usage_eventually(cache, made, &seg);
	assert_true(seg.have_usage);
	assert_int_equal(seg.rss, 0);
	/* a look that finds it unchanged reads nothing */
	unsigned long reads = listing_table_reads(cache);

	assert_int_equal(segment_stat(made, false, &seg), 0);
	listing_usage(cache, &seg);
	assert_int_equal(listing_table_reads(cache), reads);
	assert_int_equal(shmctl(made, IPC_RMID, NULL), 0);
	listing_cache_free(cache);
}

/* Handles of the same listing share one snapshot, whoever opens them; a
 * changed table is another snapshot, with every segment of it. */
static void test_dirs_share_a_snapshot(void **state)
{
	struct listing_cache *cache = listing_cache_new(0.1);
	struct listing *h[200], *other, *shorter, *changed;
	int made;

	assert_non_null(cache);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(listing_open_dir(cache, 1000 + i % 3, &h[i]), 0);
		assert_ptr_equal(h[i], h[0]);
	}
	/* every opendir reads the table: a listing is always current */
	assert_int_equal(listing_table_reads(cache), 200);
	assert_int_equal(h[0]->n, NSEGS);
	for (int i = 0; i < NSEGS; i++)
		assert_non_null(listing_find(h[0], ids[i]));

	made = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
	assert_true(made >= 0);
	assert_int_equal(listing_open_dir(cache, 1000, &other), 0);
	assert_ptr_not_equal(other, h[0]);
	assert_int_equal(other->n, NSEGS + 1);
	assert_non_null(listing_find(other, made));
	assert_null(listing_find(h[0], made));
	/* a segment gone from the end: the same first entries */
	assert_int_equal(shmctl(made, IPC_RMID, NULL), 0);
	assert_int_equal(listing_open_dir(cache, 1000, &shorter), 0);
	assert_ptr_not_equal(shorter, other);
	assert_int_equal(shorter->n, NSEGS);
	/* one in the middle attached for the first time: its times change */
	touch(ids[NSEGS / 2 + 1], 1);
	assert_int_equal(listing_open_dir(cache, 1001, &changed), 0);
	assert_ptr_not_equal(changed, shorter);
	assert_int_equal(changed->n, NSEGS);
	for (int i = 0; i < NSEGS; i++) {
		assert_int_equal(shorter->v[i].shmid, ids[i]);
		assert_int_equal(changed->v[i].shmid, ids[i]);
		assert_int_equal(h[0]->v[i].shmid, ids[i]);
		if (i != NSEGS / 2 + 1)
			assert_int_equal(changed->v[i].atime, shorter->v[i].atime);
	}
	assert_int_equal(shorter->v[NSEGS / 2 + 1].atime, 0);
	assert_true(changed->v[NSEGS / 2 + 1].atime != 0);
	/* the old handles still see their own listing */
	for (int i = 0; i < 200; i++)
		listing_close_dir(cache, 1000 + i % 3, h[i]);
	listing_close_dir(cache, 1000, other);
	listing_close_dir(cache, 1000, shorter);
	listing_close_dir(cache, 1001, changed);
	listing_cache_free(cache);
}

/* One user's handles pin at most LISTING_DIRS_PER_USER different
 * snapshots: the next gets EMFILE; another user is not affected; a
 * handle closed frees a place. */
static void test_dirs_per_user_bound(void **state)
{
	struct listing_cache *cache = listing_cache_new(0.1);
	struct listing *h[LISTING_DIRS_PER_USER + 1], *theirs, *again;
	int made[LISTING_DIRS_PER_USER + 1];

	assert_non_null(cache);
	for (int i = 0; i <= LISTING_DIRS_PER_USER; i++) {
		/* a change between two opendirs: each listing differs */
		made[i] = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
		assert_true(made[i] >= 0);
		if (i < LISTING_DIRS_PER_USER) {
			assert_int_equal(listing_open_dir(cache, 65534, &h[i]), 0);
			assert_int_equal(h[i]->n, NSEGS + i + 1);
		}
	}
	assert_int_equal(listing_open_dir(cache, 65534, &again), -EMFILE);
	assert_int_equal(listing_open_dir(cache, 1000, &theirs), 0);
	assert_int_equal(theirs->n, NSEGS + LISTING_DIRS_PER_USER + 1);
	listing_close_dir(cache, 65534, h[0]);
	assert_int_equal(listing_open_dir(cache, 65534, &again), 0);
	assert_ptr_equal(again, theirs);

	listing_close_dir(cache, 65534, again);
	listing_close_dir(cache, 1000, theirs);
	for (int i = 1; i < LISTING_DIRS_PER_USER; i++)
		listing_close_dir(cache, 65534, h[i]);
	for (int i = 0; i <= LISTING_DIRS_PER_USER; i++)
		assert_int_equal(shmctl(made[i], IPC_RMID, NULL), 0);
	listing_cache_free(cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_of_last_reads_table_once),
		cmocka_unit_test(test_usage_follows_attachments_and_creation),
		cmocka_unit_test(test_dirs_share_a_snapshot),
		cmocka_unit_test(test_dirs_per_user_bound),
	};

	testutil_isolate(false);
	return cmocka_run_group_tests(tests, make_segments, NULL);
}
