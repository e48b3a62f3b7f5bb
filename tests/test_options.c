/* test_options.c - src/options.c: mount option values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "options.h"

static void test_seconds(void **state)
{
	double v = -1;

	(void)state;
	assert_true(options_parse_seconds("10", 86400, &v));
	assert_true(v == 10.0);
	assert_true(options_parse_seconds("0.1", 1, &v));
	assert_true(v > 0.0999 && v < 0.1001);
	assert_true(options_parse_seconds("0", 1, &v));
	assert_true(v == 0.0);
	assert_true(options_parse_seconds("1.000", 1, &v));
	assert_true(options_parse_seconds("0.12345", 1, &v)); /* beyond ms: ignored */
	assert_true(v > 0.1229 && v < 0.1231);
	const char *bad[] = { "",    "-1", "+1", " 1",	"1 ", "1e3", "0x10", "nan",
			      "inf", ".5", "1.", "1.5", "2",  "1,5", "1s",   "99999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -1;
		if (options_parse_seconds(bad[i], 1, &v))
			fail_msg("accepted seconds '%s'", bad[i]);
		assert_true(v == -1);
	}
}

static void test_size(void **state)
{
	size_t v = 0;

	(void)state;
	assert_true(options_parse_size("4096", &v));
	assert_int_equal(v, 4096);
	assert_true(options_parse_size("1k", &v));
	assert_int_equal(v, 1024);
	assert_true(options_parse_size("2M", &v));
	assert_int_equal(v, 2 << 20);
	assert_true(options_parse_size("1G", &v));
	assert_int_equal(v, 1 << 30);
	const char *bad[] = { "",
			      "0",
			      "0K",
			      "-1",
			      "+1",
			      " 1",
			      "1 ",
			      "1T",
			      "1KB",
			      "0x1",
			      "1.5M",
			      "k",
			      "18446744073709551616",
			      "17179869184G" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		if (options_parse_size(bad[i], &v))
			fail_msg("accepted size '%s'", bad[i]);
		assert_int_equal(v, 7);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
