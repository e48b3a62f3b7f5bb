/* test_options.c - src/options.c: mount option values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
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

static void test_defaults(void **state)
{
	struct shmfs_options o;
	const struct options_given none = { 0 };
	char msg[128] = "";

	(void)state;
	options_defaults(&o);
	assert_int_equal(o.lock_timeout_ms, SHMFS_DEFAULT_LOCK_TIMEOUT_MS);
	assert_int_equal(o.max_waits, SHMFS_DEFAULT_MAX_WAITS);
	assert_true(o.attr_timeout == 0.1 && o.entry_timeout == 0.1);
	assert_int_equal(o.default_size, (size_t)sysconf(_SC_PAGESIZE));
	assert_int_equal(o.max_pending, (size_t)256 << 20);
	assert_true(o.attach_cache == 0);

	/* No option given: the defaults stand. */
	struct shmfs_options after = o;
	assert_true(options_apply(&none, &after, msg, sizeof(msg)));
	assert_memory_equal(&after, &o, sizeof(o));
	assert_string_equal(msg, "");
}

static void test_apply(void **state)
{
	struct shmfs_options o;
	struct options_given g = {
		.lock_timeout = "2.5",
		.attr_timeout = "0",
		.default_size = "8k",
		.max_pending = "1M",
		.max_waits = "4",
		.attach_cache = "0.5",
	};
	char msg[128];

	(void)state;
	options_defaults(&o);
	assert_true(options_apply(&g, &o, msg, sizeof(msg)));
	assert_int_equal(o.lock_timeout_ms, 2500);
	assert_true(o.attr_timeout == 0 && o.entry_timeout == 0);
	assert_int_equal(o.default_size, 8192);
	assert_int_equal(o.max_pending, 1 << 20);
	assert_int_equal(o.max_waits, 4);
	assert_true(o.attach_cache == 0.5);

	/* The largest values accepted. */
	g = (struct options_given){ .lock_timeout = "86400",
				    .attr_timeout = "1",
				    .max_waits = "1000000",
				    .attach_cache = "3600" };
	assert_true(options_apply(&g, &o, msg, sizeof(msg)));
	assert_int_equal(o.lock_timeout_ms, 86400000u);
	assert_true(o.attr_timeout == 1 && o.entry_timeout == 1);
	assert_int_equal(o.max_waits, 1000000);
	assert_true(o.attach_cache == 3600);
}

/* One bad value: refused with a message naming the option, its range
 * and the value, whatever else is given. */
static void test_reject(void **state)
{
	static const struct {
		struct options_given given;
		const char *msg;
	} cases[] = {
		{ { .lock_timeout = "86401" }, "lock_timeout must be 0..86400 seconds: '86401'" },
		{ { .lock_timeout = "-1" }, "lock_timeout must be 0..86400 seconds: '-1'" },
		{ { .attr_timeout = "1.5" }, "attr_timeout must be 0..1 seconds: '1.5'" },
		{ { .default_size = "0" }, "default_size must be a size in bytes > 0: '0'" },
		{ { .max_pending = "1T" }, "max_pending must be a size in bytes > 0: '1T'" },
		{ { .max_waits = "0" }, "max_waits must be 1..1000000: '0'" },
		{ { .max_waits = "1000001" }, "max_waits must be 1..1000000: '1000001'" },
		{ { .attach_cache = "3601" }, "attach_cache must be 0..3600 seconds: '3601'" },
		{ { .lock_timeout = "1", .attach_cache = "x" },
		  "attach_cache must be 0..3600 seconds: 'x'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shmfs_options o;
		char msg[128] = "";

		options_defaults(&o);
		if (options_apply(&cases[i].given, &o, msg, sizeof(msg)))
			fail_msg("accepted case %zu", i);
		assert_string_equal(msg, cases[i].msg);
	}
}

static void test_given_free(void **state)
{
	struct options_given g = { .lock_timeout = strdup("1"), .attach_cache = strdup("2") };

	(void)state;
	options_given_free(&g);
	assert_null(g.lock_timeout);
	assert_null(g.attach_cache);
	options_given_free(&g); /* twice: nothing left to free */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seconds),	 cmocka_unit_test(test_size),
		cmocka_unit_test(test_defaults), cmocka_unit_test(test_apply),
		cmocka_unit_test(test_reject),	 cmocka_unit_test(test_given_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
