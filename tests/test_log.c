/* test_log.c - src/log.c: the rate of one kind of warning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"

#define S 1000000000ull

/* A burst, then nothing until the interval is over; the first one after
 * says how many were dropped. */
static void test_burst_then_quiet(void **state)
{
	struct log_rate r = { 0 };
	unsigned long dropped = 99;
	uint64_t t0 = 5 * S;

	for (int i = 0; i < LOG_BURST; i++) {
		assert_true(log_rate_allow(&r, t0 + i, &dropped));
		assert_int_equal(dropped, 0);
	}
	for (int i = 0; i < 1000; i++)
		assert_false(log_rate_allow(&r, t0 + S + i, &dropped));
	assert_false(log_rate_allow(&r, t0 + LOG_INTERVAL_S * S - 1, &dropped));
	assert_true(log_rate_allow(&r, t0 + LOG_INTERVAL_S * S, &dropped));
	assert_int_equal(dropped, 1001);
	assert_true(log_rate_allow(&r, t0 + LOG_INTERVAL_S * S + 1, &dropped));
	assert_int_equal(dropped, 0);
}

/* One a millisecond for a minute: a burst per interval written, and
 * every other one counted in the next line but for the last interval's. */
static void test_bounded_per_interval(void **state)
{
	const unsigned long per_interval = LOG_INTERVAL_S * 1000, intervals = 60 / LOG_INTERVAL_S;
	struct log_rate r = { 0 };
	unsigned long dropped, reported = 0, allowed = 0;

	for (uint64_t t = 0; t < 60 * S; t += S / 1000) {
		if (log_rate_allow(&r, t, &dropped)) {
			allowed++;
			reported += dropped;
		}
	}
	assert_int_equal(allowed, LOG_BURST * intervals);
	assert_int_equal(reported, (intervals - 1) * (per_interval - LOG_BURST));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_quiet),
		cmocka_unit_test(test_bounded_per_interval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
