/* test_privlock.c - the private lock's rules, as pure data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "privlock.h"

static void test_shared_together_exclusive_alone(void **state)
{
	struct privlock l;

	privlock_init(&l);
	assert_true(privlock_idle(&l));
	assert_true(privlock_take(&l, false, 1, NULL));
	assert_true(privlock_take(&l, false, 2, NULL));
	assert_false(privlock_take(&l, true, 3, NULL));
	assert_null(privlock_release(&l, false));
	assert_null(privlock_release(&l, false));
	assert_true(privlock_take(&l, true, 3, NULL));
	assert_false(privlock_take(&l, false, 4, NULL));
	assert_false(privlock_take(&l, true, 4, NULL));
	assert_null(privlock_release(&l, true));
	assert_true(privlock_idle(&l));
}

/* First come first served: a reader arriving behind a waiting writer
 * waits, though readers hold the lock; a release admits the head. */
static void test_fifo_no_writer_starvation(void **state)
{
	struct privlock l;
	struct privlock_waiter w, r1, r2, *g;
	struct lock_state st;

	privlock_init(&l);
	assert_true(privlock_take(&l, false, 1, NULL));
	assert_false(privlock_take(&l, true, 2, &w));
	assert_false(privlock_take(&l, false, 3, &r1));
	assert_false(privlock_take(&l, false, 4, &r2));
	assert_int_equal(privlock_waiting(&l), 3);
	privlock_state(&l, &st);
	assert_int_equal(st.readers, 1);
	assert_int_equal(st.writer, 0);
	assert_int_equal(st.waiting_for_readers, 1);
	assert_int_equal(st.waiting_for_writer, 2);
	g = privlock_release(&l, false);
	assert_ptr_equal(g, &w);
	assert_null(g->next);
	privlock_state(&l, &st);
	assert_int_equal(st.writer, 2);
	assert_int_equal(st.last_pid, 2);
	g = privlock_release(&l, true);
	assert_ptr_equal(g, &r1);
	assert_ptr_equal(g->next, &r2);
	assert_null(privlock_release(&l, false));
	assert_null(privlock_release(&l, false));
	assert_true(privlock_idle(&l));
}

/* A waiter that gives up lets those behind it in if the lock admits them. */
static void test_cancel(void **state)
{
	struct privlock l;
	struct privlock_waiter w, r, other, *g;

	privlock_init(&l);
	assert_true(privlock_take(&l, false, 1, NULL));
	assert_false(privlock_take(&l, true, 2, &w));
	assert_false(privlock_take(&l, false, 3, &r));
	assert_false(privlock_cancel(&l, &other, &g));
	assert_null(g);
	assert_true(privlock_cancel(&l, &w, &g));
	assert_ptr_equal(g, &r);
	assert_false(privlock_cancel(&l, &w, &g));
	assert_null(privlock_release(&l, false));
	assert_null(privlock_release(&l, false));
	assert_true(privlock_idle(&l));
	/* the tail is right after a cancel of the last */
	assert_true(privlock_take(&l, true, 1, NULL));
	assert_false(privlock_take(&l, true, 2, &w));
	assert_true(privlock_cancel(&l, &w, &g));
	assert_false(privlock_take(&l, true, 3, &r));
	assert_ptr_equal(privlock_release(&l, true), &r);
	assert_null(privlock_release(&l, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_together_exclusive_alone),
		cmocka_unit_test(test_fifo_no_writer_starvation),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
