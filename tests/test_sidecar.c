/* test_sidecar.c - the sidecar's text and the commands it accepts. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sidecar.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define CANARY	 0xa5
#define NOT_USED 0x5a

/* 2026-11-26T14:32:57Z and 2026-11-20T09:05:01Z */
#define T_ATTACH 1795703577
#define T_CHANGE 1795165501

/* Daylight saving time in America/New_York, 2026: begins 2026-03-08T07:00Z
 * (02:00 EST becomes 03:00 EDT), ends 2026-11-01T06:00Z. */
#define T_DST_BEGINS 1772953200
#define T_DST_ENDS   1793512800

/* The last second whose year fits in struct tm's int (year 2147485547), and
 * the first one, for a 64-bit time_t. */
#define T_CALENDAR_MAX 67768036191676799LL
#define T_CALENDAR_MIN (-67768040609740800LL)

static void set_tz(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static int setup_utc(void **state)
{
	(void)state;

	set_tz("UTC");
	return 0;
}

static struct segment_info full_segment(void)
{
	struct segment_info seg;

	memset(&seg, 0, sizeof(seg));
	seg.key = 0x162e;
	seg.shmid = 32768;
	seg.mode = 0644;
	seg.size = 65536;
	seg.cpid = 4242;
	seg.lpid = 4343;
	seg.nattch = 2;
	seg.uid = 1000;
	seg.gid = 100;
	seg.cuid = 2000;
	seg.cgid = 200;
	seg.atime = T_ATTACH;
	seg.dtime = T_ATTACH - 60;
	seg.ctime = T_CHANGE;
	seg.rss = 8192;
	seg.swap = 4096;
	seg.have_usage = true;
	return seg;
}

static const char full_text[] = "key 0x0000162e\n"
				"shmid 32768\n"
				"perms 0644\n"
				"size 65536\n"
				"cpid 4242\n"
				"lpid 4343\n"
				"nattch 2\n"
				"uid 1000\n"
				"gid 100\n"
				"cuid 2000\n"
				"cgid 200\n"
				"atime 2026-11-26T14:32:57+0000\n"
				"dtime 2026-11-26T14:31:57+0000\n"
				"ctime 2026-11-20T09:05:01+0000\n"
				"rss 8192\n"
				"swap 4096\n"
				"status -\n"
				"lock_semid 7\n"
				"lock_writer 1234\n"
				"lock_readers 0\n"
				"lock_waiting_for_writer 3\n"
				"lock_waiting_for_readers 0\n"
				"lock_queued_in_shmfs 2\n"
				"lock_last_pid 1234\n"
				"lock_last_op 2026-11-26T14:32:57+0000\n"
				"notify_semid 8\n"
				"notify_posts 2\n"
				"notify_waiting 0\n"
				"notify_last_pid 4343\n"
				"notify_last_op 2026-11-20T09:05:01+0000\n"
				"creator_alive unknown\n"
				"orphan no\n";

/* A writer in pid 1234 holds the lock since T_ATTACH, 3 wait for it. */
static const struct lock_state held_lock = { .readers = 0,
					     .writer = 1234,
					     .last_pid = 1234,
					     .last_op = T_ATTACH,
					     .waiting_for_writer = 3,
					     .waiting_for_readers = 0 };
static const struct notify_state posted = {
	.posts = 2, .last_pid = 4343, .last_op = T_CHANGE, .waiting = 0
};

/* Render with the given semids and the states above. */
static int render(const struct segment_info *seg, int lock_semid, int notify_semid, char *buf,
		  size_t size)
{
	struct sidecar_locks locks = { .lock_semid = lock_semid,
				       .lock = &held_lock,
				       .lock_queued = 2,
				       .notify_semid = notify_semid,
				       .notify = &posted };

	return sidecar_render(seg, &locks, NULL, buf, size);
}

static void test_render_full(void **state)
{
	struct segment_info seg = full_segment();
	char buf[SIDECAR_MAX];
	int n;

	(void)state;

	n = render(&seg, 7, 8, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(full_text));
	assert_string_equal(buf, full_text);
}

/* The verdict lines close the sidecar, one per verdict. */
static void test_render_verdicts(void **state)
{
	static const struct {
		struct orphan_verdict verdict;
		const char *tail;
	} cases[] = {
		{ { ORPHAN_ALIVE, false }, "creator_alive yes\norphan no\n" },
		{ { ORPHAN_GONE, true }, "creator_alive no\norphan yes\n" },
		{ { ORPHAN_GONE, false }, "creator_alive no\norphan no\n" },
		{ { ORPHAN_UNKNOWN, false }, "creator_alive unknown\norphan no\n" },
	};
	struct segment_info seg = full_segment();
	char buf[SIDECAR_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int n = sidecar_render(&seg, NULL, &cases[i].verdict, buf, sizeof(buf));
		size_t tail = strlen(cases[i].tail);

		assert_true(n > (int)tail);
		assert_string_equal(buf + n - tail, cases[i].tail);
	}
}

/* Render seg and return the value of one field, for tests about one line. */
static const char *field(const struct segment_info *seg, int lock_semid, const char *name)
{
	static char buf[SIDECAR_MAX];
	static char value[SIDECAR_MAX];
	char *line, *save = NULL;
	size_t len = strlen(name);

	assert_true(render(seg, lock_semid, -1, buf, sizeof(buf)) > 0);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, name, len) == 0 && line[len] == ' ') {
			snprintf(value, sizeof(value), "%s", line + len + 1);
			return value;
		}
	}
	fail_msg("no field %s", name);
	return NULL;
}

static void test_render_status(void **state)
{
	static const struct {
		unsigned int mode;
		const char *status;
		const char *perms;
	} cases[] = {
		{ 0600, "-", "0600" },
		{ 0600 | SEGMENT_MODE_DEST, "dest", "0600" },
		{ 0600 | SEGMENT_MODE_LOCKED, "locked", "0600" },
		{ 0600 | SEGMENT_MODE_DEST | SEGMENT_MODE_LOCKED, "dest,locked", "0600" },
		{ 0000 | SEGMENT_MODE_DEST | SEGMENT_MODE_LOCKED, "dest,locked", "0000" },
		{ 0777 | SEGMENT_MODE_LOCKED, "locked", "0777" },
		{ 0007, "-", "0007" },
	};
	struct segment_info seg = full_segment();
	size_t i;

	(void)state;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		seg.mode = cases[i].mode;
		assert_string_equal(field(&seg, 7, "status"), cases[i].status);
		assert_string_equal(field(&seg, 7, "perms"), cases[i].perms);
	}
}

static void test_render_never_set_times(void **state)
{
	struct segment_info seg = full_segment();

	(void)state;

	seg.atime = 0;
	seg.dtime = 0;
	seg.ctime = 0;
	assert_string_equal(field(&seg, 7, "atime"), "not-set");
	assert_string_equal(field(&seg, 7, "dtime"), "not-set");
	assert_string_equal(field(&seg, 7, "ctime"), "not-set");
}

static void test_render_unknowns(void **state)
{
	struct segment_info seg = full_segment();

	(void)state;

	seg.have_usage = false;
	assert_string_equal(field(&seg, -1, "rss"), "-");
	assert_string_equal(field(&seg, -1, "swap"), "-");
	assert_string_equal(field(&seg, -1, "lock_semid"), "none");
	assert_string_equal(field(&seg, INT_MIN, "lock_semid"), "none");
	assert_string_equal(field(&seg, 0, "lock_semid"), "0");

	seg.have_usage = true;
	seg.rss = 0;
	seg.swap = 0;
	assert_string_equal(field(&seg, 0, "rss"), "0");
	assert_string_equal(field(&seg, 0, "swap"), "0");
}

/* The lines of the lock and notification sets, from the text alone. */
static const char *lock_lines(const struct sidecar_locks *locks)
{
	static char buf[SIDECAR_MAX];
	struct segment_info seg = full_segment();
	char *p, *end;

	assert_true(sidecar_render(&seg, locks, NULL, buf, sizeof(buf)) > 0);
	p = strstr(buf, "lock_semid ");
	assert_non_null(p);
	/* up to the verdicts (test_render_verdicts) */
	end = strstr(p, "creator_alive ");
	assert_non_null(end);
	*end = '\0';
	return p;
}

static void test_render_lock_states(void **state)
{
	const struct lock_state readers = {
		.readers = 3, .last_pid = 77, .last_op = T_CHANGE, .waiting_for_readers = 1
	};
	const struct lock_state fresh = { 0 };
	const struct notify_state quiet = { 0 };
	struct sidecar_locks locks = { .lock_semid = 5, .lock = &readers, .notify_semid = -1 };

	(void)state;
	/* three readers hold it, a writer waits for them; no notification set */
	assert_string_equal(lock_lines(&locks), "lock_semid 5\n"
						"lock_writer none\n"
						"lock_readers 3\n"
						"lock_waiting_for_writer 0\n"
						"lock_waiting_for_readers 1\n"
						"lock_queued_in_shmfs 0\n"
						"lock_last_pid 77\n"
						"lock_last_op 2026-11-20T09:05:01+0000\n"
						"notify_semid none\n"
						"notify_posts -\n"
						"notify_waiting -\n"
						"notify_last_pid -\n"
						"notify_last_op -\n");
	/* a set nobody has used */
	locks = (struct sidecar_locks){
		.lock_semid = 0, .lock = &fresh, .notify_semid = 1, .notify = &quiet
	};
	assert_string_equal(lock_lines(&locks), "lock_semid 0\n"
						"lock_writer none\n"
						"lock_readers 0\n"
						"lock_waiting_for_writer 0\n"
						"lock_waiting_for_readers 0\n"
						"lock_queued_in_shmfs 0\n"
						"lock_last_pid none\n"
						"lock_last_op not-set\n"
						"notify_semid 1\n"
						"notify_posts 0\n"
						"notify_waiting 0\n"
						"notify_last_pid none\n"
						"notify_last_op not-set\n");
	/* sets known, states not shown (the caller may not read them) */
	locks = (struct sidecar_locks){ .lock_semid = 9, .notify_semid = 10 };
	assert_string_equal(lock_lines(&locks), "lock_semid 9\n"
						"lock_writer -\n"
						"lock_readers -\n"
						"lock_waiting_for_writer -\n"
						"lock_waiting_for_readers -\n"
						"lock_queued_in_shmfs -\n"
						"lock_last_pid -\n"
						"lock_last_op -\n"
						"notify_semid 10\n"
						"notify_posts -\n"
						"notify_waiting -\n"
						"notify_last_pid -\n"
						"notify_last_op -\n");
	/* no sets at all: a state given with no set is not shown */
	locks = (struct sidecar_locks){
		.lock_semid = -1, .lock = &readers, .notify_semid = -1, .notify = &quiet
	};
	assert_non_null(strstr(lock_lines(&locks), "lock_semid none\nlock_writer -\n"));
	assert_non_null(strstr(lock_lines(NULL), "lock_semid none\nlock_writer -\n"));
	assert_non_null(strstr(lock_lines(NULL), "notify_semid none\nnotify_posts -\n"));
}

static void test_render_key_as_ipcs(void **state)
{
	struct segment_info seg = full_segment();

	(void)state;

	seg.key = 0;
	assert_string_equal(field(&seg, 0, "key"), "0x00000000");
	seg.key = -1;
	assert_string_equal(field(&seg, 0, "key"), "0xffffffff");
	seg.key = INT32_MIN;
	assert_string_equal(field(&seg, 0, "key"), "0x80000000");
	seg.key = (int32_t)0xdeadbeefu;
	assert_string_equal(field(&seg, 0, "key"), "0xdeadbeef");
}

static struct segment_info maximal_segment(void)
{
	struct segment_info seg;

	memset(&seg, 0, sizeof(seg));
	seg.key = INT32_MIN;
	seg.shmid = INT_MIN;
	seg.mode = UINT_MAX;
	seg.size = UINT64_MAX;
	seg.cpid = INT_MIN;
	seg.lpid = INT_MIN;
	seg.nattch = UINT64_MAX;
	seg.uid = (uid_t)-1;
	seg.gid = (gid_t)-1;
	seg.cuid = (uid_t)-1;
	seg.cgid = (gid_t)-1;
	seg.atime = sizeof(time_t) >= 8 ? (time_t)INT64_MIN : (time_t)INT32_MIN;
	seg.dtime = sizeof(time_t) >= 8 ? (time_t)T_CALENDAR_MIN : (time_t)INT32_MIN + 1;
	seg.ctime = sizeof(time_t) >= 8 ? (time_t)T_CALENDAR_MAX : (time_t)INT32_MAX;
	seg.rss = UINT64_MAX;
	seg.swap = UINT64_MAX;
	seg.have_usage = true;
	return seg;
}

static void test_render_maximal_fits(void **state)
{
	static const char *const zones[] = { "UTC", "America/New_York", "Asia/Kolkata",
					     "Australia/Lord_Howe", "Pacific/Kiritimati" };
	struct segment_info seg = maximal_segment();
	const struct lock_state max_lock = { .readers = UINT_MAX,
					     .writer = INT_MIN,
					     .last_pid = INT_MIN,
					     .last_op = seg.atime,
					     .waiting_for_writer = UINT_MAX,
					     .waiting_for_readers = UINT_MAX };
	const struct notify_state max_notify = {
		.posts = UINT_MAX, .last_pid = INT_MIN, .last_op = seg.dtime, .waiting = UINT_MAX
	};
	const struct sidecar_locks max_locks = { .lock_semid = INT_MAX,
						 .lock = &max_lock,
						 .lock_queued = UINT_MAX,
						 .notify_semid = INT_MAX,
						 .notify = &max_notify };
	char buf[SIDECAR_MAX];
	size_t i;

	(void)state;

	for (i = 0; i < ARRAY_SIZE(zones); i++) {
		int n;

		set_tz(zones[i]);
		n = sidecar_render(&seg, &max_locks, NULL, buf, sizeof(buf));
		assert_true(n > 0);
		assert_true(n < SIDECAR_MAX);
		assert_int_equal(n, (int)strlen(buf));
	}
	set_tz("UTC");
	assert_string_equal(field(&seg, INT_MAX, "size"), "18446744073709551615");
	assert_string_equal(field(&seg, INT_MAX, "uid"), "4294967295");
	assert_string_equal(field(&seg, INT_MAX, "cpid"), "-2147483648");
	assert_string_equal(field(&seg, INT_MAX, "perms"), "0777");
	assert_string_equal(field(&seg, INT_MAX, "status"), "dest,locked");
	assert_string_equal(field(&seg, INT_MAX, "lock_semid"), "2147483647");
}

/* Every buffer too small by any amount is refused, and never overrun. */
static void test_render_small_buffer(void **state)
{
	struct segment_info seg = full_segment();
	size_t len = strlen(full_text);
	char buf[SIDECAR_MAX + 16];
	size_t size, i;

	(void)state;

	for (size = 0; size <= len; size++) {
		memset(buf, CANARY, sizeof(buf));
		assert_int_equal(render(&seg, 7, 8, buf, size), -ERANGE);
		if (size > 0)
			assert_int_equal(buf[0], '\0');
		for (i = size; i < sizeof(buf); i++) {
			if ((unsigned char)buf[i] != CANARY)
				fail_msg("size %zu: byte %zu overwritten", size, i);
		}
	}
	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(render(&seg, 7, 8, buf, len + 1), (int)len);
	assert_string_equal(buf, full_text);
	assert_int_equal((unsigned char)buf[len + 1], CANARY);
}

static void test_render_null_buffer_size_zero(void **state)
{
	struct segment_info seg = full_segment();

	(void)state;

	assert_int_equal(render(&seg, 7, 8, NULL, 0), -ERANGE);
}

static void test_format_time_small_buffer(void **state)
{
	char buf[64];
	size_t size, i;

	(void)state;

	for (size = 0; size <= strlen("2026-11-26T14:32:57+0000"); size++) {
		memset(buf, CANARY, sizeof(buf));
		assert_int_equal(sidecar_format_time(T_ATTACH, buf, size), -ERANGE);
		if (size > 0)
			assert_int_equal(buf[0], '\0');
		for (i = size; i < sizeof(buf); i++)
			assert_int_equal((unsigned char)buf[i], CANARY);
	}
	assert_int_equal(sidecar_format_time(0, buf, 8), 7);
	assert_string_equal(buf, "not-set");
	assert_int_equal(sidecar_format_time(0, buf, 7), -ERANGE);
}

static void test_format_time_beyond_calendar(void **state)
{
	char buf[64];

	(void)state;

	if (sizeof(time_t) < 8)
		skip();
	assert_int_equal(sidecar_format_time((time_t)INT64_MAX, buf, sizeof(buf)), 20);
	assert_string_equal(buf, "@9223372036854775807");
	assert_int_equal(sidecar_format_time((time_t)INT64_MIN, buf, sizeof(buf)), 21);
	assert_string_equal(buf, "@-9223372036854775808");
	assert_true(sidecar_format_time((time_t)T_CALENDAR_MAX, buf, sizeof(buf)) > 0);
	assert_true(buf[0] != '@');
}

static const time_t round_trip_times[] = {
	1,
	-1,
	86399,
	-86400 * 365,
	T_ATTACH,
	T_CHANGE,
	T_DST_BEGINS - 1,
	T_DST_BEGINS,
	T_DST_ENDS - 1,
	T_DST_ENDS,
	T_DST_ENDS + 3599,
	T_DST_ENDS + 3600,
	INT32_MAX,
	(time_t)INT32_MAX + 1,
	253402214400, /* 9999-12-31T00:00:00Z; strptime reads 4-digit years only */
};

/* The epoch a rendered time stands for, read back with strptime(): the
 * broken-down time is local with its offset, so UTC is it minus the offset. */
static time_t strptime_epoch(const char *text)
{
	struct tm tm;
	const char *end;
	long offset;

	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M:%S%z", &tm);
	if (!end || *end != '\0')
		fail_msg("strptime cannot read \"%s\"", text);
	offset = tm.tm_gmtoff; /* before timegm(), which resets it */
	return timegm(&tm) - offset;
}

static void test_time_round_trip_strptime(void **state)
{
	static const char *const zones[] = { "UTC", "America/New_York", "Asia/Kolkata" };
	char buf[64];
	size_t i, z;

	(void)state;

	for (z = 0; z < ARRAY_SIZE(zones); z++) {
		set_tz(zones[z]);
		for (i = 0; i < ARRAY_SIZE(round_trip_times); i++) {
			time_t t = round_trip_times[i];

			assert_true(sidecar_format_time(t, buf, sizeof(buf)) > 0);
			if (strptime_epoch(buf) != t)
				fail_msg("TZ=%s: %jd rendered as %s reads back as %jd", zones[z],
					 (intmax_t)t, buf, (intmax_t)strptime_epoch(buf));
		}
	}
}

static void test_time_local_offsets(void **state)
{
	char buf[64];

	(void)state;

	set_tz("UTC");
	sidecar_format_time(T_ATTACH, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-26T14:32:57+0000");

	set_tz("America/New_York");
	sidecar_format_time(T_ATTACH, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-26T09:32:57-0500");
	sidecar_format_time(T_DST_BEGINS - 1, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-08T01:59:59-0500");
	sidecar_format_time(T_DST_BEGINS, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-08T03:00:00-0400");
	/* The repeated hour at the end of DST is told apart by its offset. */
	sidecar_format_time(T_DST_ENDS - 1, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-01T01:59:59-0400");
	sidecar_format_time(T_DST_ENDS, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-01T01:00:00-0500");

	set_tz("Asia/Kolkata");
	sidecar_format_time(T_ATTACH, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-26T20:02:57+0530");
}

/* GNU date's reading of text as seconds since the epoch, or false if date
 * is not there or cannot read it.  Runs in the current TZ. */
static bool date_epoch(const char *text, long long *epoch)
{
	char cmd[128];
	char out[64];
	FILE *p;
	bool ok;

	snprintf(cmd, sizeof(cmd), "date -d '%s' +%%s 2>/dev/null", text);
	p = popen(cmd, "r");
	if (!p)
		return false;
	ok = fgets(out, sizeof(out), p) != NULL;
	if (pclose(p) != 0)
		ok = false;
	if (ok) {
		char *end;

		errno = 0;
		*epoch = strtoll(out, &end, 10);
		ok = errno == 0 && end != out && (*end == '\n' || *end == '\0');
	}
	return ok;
}

static void test_time_round_trip_date(void **state)
{
	static const char *const zones[] = { "UTC", "America/New_York", "Asia/Kolkata" };
	char buf[64];
	long long epoch;
	size_t i, z;

	(void)state;

	set_tz("UTC");
	if (!date_epoch("1970-01-01T00:00:01+0000", &epoch) || epoch != 1)
		skip(); /* no GNU date */

	for (z = 0; z < ARRAY_SIZE(zones); z++) {
		set_tz(zones[z]);
		for (i = 0; i < ARRAY_SIZE(round_trip_times); i++) {
			time_t t = round_trip_times[i];

			assert_true(sidecar_format_time(t, buf, sizeof(buf)) > 0);
			if (!date_epoch(buf, &epoch))
				fail_msg("TZ=%s: date -d cannot read \"%s\"", zones[z], buf);
			if (epoch != (long long)t)
				fail_msg("TZ=%s: %jd rendered as %s, date -d reads %lld", zones[z],
					 (intmax_t)t, buf, epoch);
		}
	}
	/* A rendering made in one zone reads back the same in another. */
	set_tz("America/New_York");
	sidecar_format_time(T_ATTACH, buf, sizeof(buf));
	set_tz("UTC");
	assert_true(date_epoch(buf, &epoch));
	assert_int_equal(epoch, T_ATTACH);

	/* So does the fallback beyond the calendar. */
	if (sizeof(time_t) >= 8) {
		sidecar_format_time((time_t)INT64_MAX, buf, sizeof(buf));
		if (date_epoch(buf, &epoch))
			assert_int_equal(epoch, INT64_MAX);
	}
	set_tz("UTC");
}

static void test_parse_command_valid(void **state)
{
	static const struct {
		const char *buf;
		size_t len;
		enum sidecar_command cmd;
	} cases[] = {
		{ "lock", 4, SIDECAR_CMD_LOCK },
		{ "lock\n", 5, SIDECAR_CMD_LOCK },
		{ "unlock", 6, SIDECAR_CMD_UNLOCK },
		{ "unlock\n", 7, SIDECAR_CMD_UNLOCK },
		/* only len bytes count: what follows in memory is not the write */
		{ "lockjunk", 4, SIDECAR_CMD_LOCK },
		{ "unlock\njunk", 7, SIDECAR_CMD_UNLOCK },
	};
	size_t i;

	(void)state;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		enum sidecar_command cmd = (enum sidecar_command)NOT_USED;

		assert_int_equal(sidecar_parse_command(cases[i].buf, cases[i].len, &cmd), 0);
		assert_int_equal(cmd, cases[i].cmd);
	}
}

static void test_parse_command_hostile(void **state)
{
	static const struct {
		const char *buf;
		size_t len;
	} cases[] = {
		{ "", 0 },
		{ "\n", 1 },
		{ "lock\n\n", 6 },
		{ "unlock\n\n", 8 },
		{ "LOCK", 4 },
		{ "Lock", 4 },
		{ "UNLOCK\n", 7 },
		{ "lockx", 5 },
		{ "lock x", 6 },
		{ "unlockx", 7 },
		{ "loc", 3 },
		{ "lock", 3 },
		{ "unloc", 5 },
		{ "lock\0", 5 },
		{ "lock\n\0", 6 },
		{ "lo\0ck", 5 },
		{ "\0lock", 5 },
		{ " lock", 5 },
		{ "lock ", 5 },
		{ "\nlock", 5 },
		{ "\tlock", 5 },
		{ "lock\r\n", 6 },
		{ "lock\r", 5 },
		{ "lockunlock", 10 },
		{ "lock\nunlock", 11 },
		{ "lock\nlock\n", 10 },
		{ "1", 1 },
	};
	size_t i;

	(void)state;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		enum sidecar_command cmd = (enum sidecar_command)NOT_USED;

		if (sidecar_parse_command(cases[i].buf, cases[i].len, &cmd) != -EINVAL)
			fail_msg("case %zu accepted", i);
		assert_int_equal(cmd, NOT_USED);
	}
	assert_int_equal(sidecar_parse_command(NULL, 0, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_render_full, setup_utc),
		cmocka_unit_test_setup(test_render_verdicts, setup_utc),
		cmocka_unit_test_setup(test_render_status, setup_utc),
		cmocka_unit_test_setup(test_render_never_set_times, setup_utc),
		cmocka_unit_test_setup(test_render_unknowns, setup_utc),
		cmocka_unit_test_setup(test_render_lock_states, setup_utc),
		cmocka_unit_test_setup(test_render_key_as_ipcs, setup_utc),
		cmocka_unit_test_setup(test_render_maximal_fits, setup_utc),
		cmocka_unit_test_setup(test_render_small_buffer, setup_utc),
		cmocka_unit_test_setup(test_render_null_buffer_size_zero, setup_utc),
		cmocka_unit_test_setup(test_format_time_small_buffer, setup_utc),
		cmocka_unit_test_setup(test_format_time_beyond_calendar, setup_utc),
		cmocka_unit_test_setup(test_time_round_trip_strptime, setup_utc),
		cmocka_unit_test_setup(test_time_local_offsets, setup_utc),
		cmocka_unit_test_setup(test_time_round_trip_date, setup_utc),
		cmocka_unit_test(test_parse_command_valid),
		cmocka_unit_test(test_parse_command_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
