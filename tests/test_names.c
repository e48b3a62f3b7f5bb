/* test_names.c - the name grammar. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void check_root(const char *name, enum name_kind want_kind, int want_shmid)
{
	int shmid = -12345;
	enum name_kind kind = names_parse_root(name, &shmid);

	if (kind != want_kind)
		fail_msg("names_parse_root(\"%s\") = %d, want %d", name, kind, want_kind);
	if (want_kind != NAME_NONE && shmid != want_shmid)
		fail_msg("names_parse_root(\"%s\") shmid = %d, want %d", name, shmid, want_shmid);
	if (want_kind == NAME_NONE && shmid != -12345)
		fail_msg("names_parse_root(\"%s\") wrote shmid on failure", name);
}

static void test_root_valid(void **state)
{
	(void)state;

	check_root("0", NAME_SEGMENT, 0);
	check_root("1", NAME_SEGMENT, 1);
	check_root("10", NAME_SEGMENT, 10);
	check_root("32768", NAME_SEGMENT, 32768);
	check_root("2147483647", NAME_SEGMENT, INT_MAX);
	check_root("0.stat", NAME_SIDECAR, 0);
	check_root("32768.stat", NAME_SIDECAR, 32768);
	check_root("2147483647.stat", NAME_SIDECAR, INT_MAX);
}

static void test_root_hostile(void **state)
{
	static const char *const hostile[] = {
		"",
		"abc",
		"-1",
		"+1",
		"-0",
		"0099",
		"00",
		"01",
		"00.stat",
		"01.stat",
		"2147483648",
		"2147483648.stat",
		"4294967296",
		"4294967297",
		"9223372036854775807",
		"18446744073709551617",
		"99999999999",
		"99999999999999999999999999999999",
		"12.stat.stat",
		"12.",
		"12.STAT",
		"12.Stat",
		"12.sta",
		"12.stats",
		"12stat",
		".stat",
		"stat",
		" 12",
		"12 ",
		"1 2",
		"\t12",
		"12\n",
		"0x10",
		"1e3",
		"12a",
		"\xd9\xa1\xd9\xa2", /* Arabic-Indic digits one, two */
		".",
		"..",
		NAMES_BYKEY_NAME,
		"0x0000162e",
	};
	size_t i;

	(void)state;

	for (i = 0; i < ARRAY_SIZE(hostile); i++)
		check_root(hostile[i], NAME_NONE, 0);
}

static void test_root_format_round_trip(void **state)
{
	static const int ids[] = { 0, 1, 9, 10, 32768, 65535, INT_MAX - 1, INT_MAX };
	static const enum name_kind kinds[] = { NAME_SEGMENT, NAME_SIDECAR };
	char buf[64];
	size_t i, k;

	(void)state;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		for (k = 0; k < ARRAY_SIZE(kinds); k++) {
			int n = names_format_root(buf, sizeof(buf), kinds[k], ids[i]);

			assert_int_equal(n, (int)strlen(buf));
			check_root(buf, kinds[k], ids[i]);
		}
	}
	assert_int_equal(names_format_root(buf, sizeof(buf), NAME_SEGMENT, 32768), 5);
	assert_string_equal(buf, "32768");
	assert_int_equal(names_format_root(buf, sizeof(buf), NAME_SIDECAR, 32768), 10);
	assert_string_equal(buf, "32768.stat");
}

static void test_root_format_bad_kind(void **state)
{
	char buf[16] = "garbage";

	(void)state;

	assert_int_equal(names_format_root(buf, sizeof(buf), NAME_NONE, 1), -EINVAL);
	assert_string_equal(buf, "");
	assert_int_equal(names_format_root(buf, sizeof(buf), NAME_KEYLINK, 1), -EINVAL);
}

static void test_root_format_truncates_as_snprintf(void **state)
{
	char buf[4];

	(void)state;

	assert_int_equal(names_format_root(buf, sizeof(buf), NAME_SIDECAR, 12), 7);
	assert_string_equal(buf, "12.");
}

static void check_key(const char *name, bool want_ok, int32_t want_key)
{
	int32_t key = 0x5a5a5a5a;
	bool ok = names_parse_key(name, &key);

	if (ok != want_ok)
		fail_msg("names_parse_key(\"%s\") = %d, want %d", name, ok, want_ok);
	if (want_ok && key != want_key)
		fail_msg("names_parse_key(\"%s\") key = %d, want %d", name, key, want_key);
	if (!want_ok && key != 0x5a5a5a5a)
		fail_msg("names_parse_key(\"%s\") wrote key on failure", name);
}

static void test_key_valid(void **state)
{
	(void)state;

	check_key("0x00000000", true, 0);
	check_key("0x0000162e", true, 0x162e);
	check_key("0x0000162E", true, 0x162e);
	check_key("0xDeadBeef", true, (int32_t)0xdeadbeefu);
	check_key("0x7fffffff", true, INT32_MAX);
	check_key("0x80000000", true, INT32_MIN);
	check_key("0xffffffff", true, -1);
	check_key("0xFFFFFFFF", true, -1);
}

static void test_key_hostile(void **state)
{
	static const char *const hostile[] = {
		"",
		"0x",
		"0",
		"x",
		"0x1",
		"0x1234567",
		"0x123456789",
		"0x0000000000",
		"0X12345678",
		"0x1234567g",
		"0xg2345678",
		"0x+1234567",
		"0x-1234567",
		"0x 1234567",
		" 0x12345678",
		"0x12345678 ",
		"0x12345678\n",
		"0x0x123456",
		"00x12345678",
		"12345678",
		"4660",
		"0x1234567\xff",
		"0x12345678.stat",
		".",
		"..",
	};
	size_t i;

	(void)state;

	for (i = 0; i < ARRAY_SIZE(hostile); i++)
		check_key(hostile[i], false, 0);
}

static void test_key_format(void **state)
{
	static const int32_t keys[] = {
		0, 1, 0x162e, INT32_MAX, INT32_MIN, -1, (int32_t)0xdeadbeefu
	};
	char buf[32];
	size_t i;

	(void)state;

	assert_int_equal(names_format_key(buf, sizeof(buf), 0x162e), 10);
	assert_string_equal(buf, "0x0000162e");
	names_format_key(buf, sizeof(buf), -1);
	assert_string_equal(buf, "0xffffffff");
	names_format_key(buf, sizeof(buf), INT32_MIN);
	assert_string_equal(buf, "0x80000000");
	names_format_key(buf, sizeof(buf), (int32_t)0xdeadbeefu);
	assert_string_equal(buf, "0xdeadbeef"); /* lowercase, as ipcs */

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		assert_int_equal(names_format_key(buf, sizeof(buf), keys[i]), 10);
		check_key(buf, true, keys[i]);
	}
}

static void test_next_names(void **state)
{
	int32_t key = 0;
	int shmid = -1;
	char buf[32];

	(void)state;
	assert_int_equal(names_parse_root("12.next", &shmid), NAME_NEXT);
	assert_int_equal(shmid, 12);
	assert_int_equal(names_parse_root("012.next", &shmid), NAME_NONE);
	assert_int_equal(names_parse_root("12.next.next", &shmid), NAME_NONE);
	assert_int_equal(names_parse_root("12.stat.next", &shmid), NAME_NONE);
	assert_int_equal(names_format_root(buf, sizeof(buf), NAME_NEXT, 7), 6);
	assert_string_equal(buf, "7.next");
	assert_int_equal(names_parse_bykey("0x0000162e", &key), NAME_KEYLINK);
	assert_int_equal(key, 0x162e);
	assert_int_equal(names_parse_bykey("0xffffffff.next", &key), NAME_NEXTLINK);
	assert_int_equal(key, -1);
	assert_int_equal(names_parse_bykey("0x162e.next", &key), NAME_NONE);
	assert_int_equal(names_parse_bykey("0x0000162e.nex", &key), NAME_NONE);
	assert_int_equal(names_parse_bykey("0x0000162e.stat", &key), NAME_NONE);
	assert_int_equal(names_parse_bykey("0x0000162e.next.next", &key), NAME_NONE);
	assert_int_equal(names_parse_bykey("0x0000162e..next", &key), NAME_NONE);
	assert_int_equal(names_parse_bykey(".next", &key), NAME_NONE);
}

/* <shmid>.procs: one spelling */
static void test_procs_names(void **state)
{
	int shmid = -1;
	char buf[32];

	(void)state;
	assert_int_equal(names_parse_root("12.procs", &shmid), NAME_PROCS);
	assert_int_equal(shmid, 12);
	assert_int_equal(names_parse_root("0.procs", &shmid), NAME_PROCS);
	assert_int_equal(shmid, 0);
	assert_int_equal(names_parse_root("012.procs", &shmid), NAME_NONE);
	assert_int_equal(names_parse_root("12.proc", &shmid), NAME_NONE);
	assert_int_equal(names_parse_root("12.procs.stat", &shmid), NAME_NONE);
	assert_int_equal(names_parse_root("12.stat.procs", &shmid), NAME_NONE);
	assert_int_equal(names_parse_root("12.PROCS", &shmid), NAME_NONE);
	assert_int_equal(names_parse_root(".procs", &shmid), NAME_NONE);
	assert_int_equal(names_parse_root("2147483648.procs", &shmid), NAME_NONE);
	assert_int_equal(names_format_root(buf, sizeof(buf), NAME_PROCS, 7), 7);
	assert_string_equal(buf, "7.procs");
	/* by-key/ has no .procs link */
	int32_t key;
	assert_int_equal(names_parse_bykey("0x0000162e.procs", &key), NAME_NONE);
}

/* The views' numbers (sem/<semid>, an item's index): one name each. */
static void test_numbers(void **state)
{
	static const char *const refused[] = { "",   "-1", "+1",	 "01",	" 1",
					       "1 ", "1x", "2147483648", "0x1", "1.stat" };
	int n = -1;

	(void)state;
	assert_true(names_parse_number("0", &n));
	assert_int_equal(n, 0);
	assert_true(names_parse_number("2147483647", &n));
	assert_int_equal(n, 2147483647);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (names_parse_number(refused[i], &n))
			fail_msg("\"%s\" parsed as %d", refused[i], n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_names),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_procs_names),
		cmocka_unit_test(test_root_valid),
		cmocka_unit_test(test_root_hostile),
		cmocka_unit_test(test_root_format_round_trip),
		cmocka_unit_test(test_root_format_bad_kind),
		cmocka_unit_test(test_root_format_truncates_as_snprintf),
		cmocka_unit_test(test_key_valid),
		cmocka_unit_test(test_key_hostile),
		cmocka_unit_test(test_key_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
