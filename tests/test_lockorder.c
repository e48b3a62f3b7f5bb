/* test_lockorder.c - the mutexes' order (lockorder.h): the table, and the
 * check that aborts a thread taking one out of order. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lock.h"
#include "lockorder.h"
#include "testutil.h"

/* Run fn in a child: whether it died of SIGABRT (its report on stderr). */
static bool aborts(void (*fn)(void))
{
	int status;
	pid_t pid = testutil_fork();

	if (pid == 0) {
		fn();
		_exit(0);
	}
	status = testutil_wait_bounded(pid, 10);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static int site_a, site_b;

static void lock_as(pthread_mutex_t *m, int *site, const char *file, const char *expr)
{
	assert_int_equal(lockorder_lock(m, site, file, expr, false), 0);
}

static void test_table_names_each_mutex_once(void **state)
{
	assert_int_equal(lockorder_rank_of("../src/lock.c", "&table->mutex"), LOCKORDER_OUTER);
	assert_int_equal(lockorder_rank_of("lock.c", "&h->mutex"), LOCKORDER_LEAF);
	assert_int_equal(lockorder_rank_of("/x/src/watch.c", "&t->mutex"), LOCKORDER_WATCH);
	assert_int_equal(lockorder_rank_of("src/node.c", "&t->mutex"), LOCKORDER_LEAF);
	assert_int_equal(lockorder_rank_of("budget.c", "&b->mutex"), LOCKORDER_BUDGET);
	assert_int_equal(lockorder_rank_of("log.c", "&log_lock"), LOCKORDER_LOG);
	assert_int_equal(lockorder_rank_of("lock.c", "&other->mutex"), LOCKORDER_UNRANKED);
	assert_int_equal(lockorder_rank_of("blocks.c", "&table->mutex"), LOCKORDER_UNRANKED);
}

static void test_in_order_is_fine(void **state)
{
	int sa = 0, sb = 0;

	lock_as(&a, &sa, "lock.c", "&table->mutex");
	lock_as(&b, &sb, "lock.c", "&h->mutex");
	assert_int_equal(lockorder_held(), 2);
	/* released in any order */
	lockorder_unlock(&a);
	lockorder_unlock(&b);
	assert_int_equal(lockorder_held(), 0);
}

static void leaf_then_outer(void)
{
	lock_as(&b, &site_b, "lock.c", "&h->mutex");
	lock_as(&a, &site_a, "lock.c", "&table->mutex");
}

static void leaf_then_leaf(void)
{
	lock_as(&a, &site_a, "node.c", "&t->mutex");
	lock_as(&b, &site_b, "attach.c", "&t->mutex");
}

/* Planted: a hold's mutex, then the table's (lock.c's order reversed). */
static void test_out_of_order_aborts(void **state)
{
	assert_true(aborts(leaf_then_outer));
	assert_true(aborts(leaf_then_leaf));
}

static void trylock_against_order(void)
{
	int sa = 0, sb = 0;

	lock_as(&b, &sb, "lock.c", "&h->mutex");
	/* a trylock never waits: no deadlock, no abort */
	if (lockorder_lock(&a, &sa, "lock.c", "&table->mutex", true) != 0)
		_exit(2);
	lockorder_unlock(&a);
	lockorder_unlock(&b);
}

static void unranked_not_checked(void)
{
	int sa = 0, sb = 0;

	lock_as(&b, &sb, "lock.c", "&h->mutex");
	lock_as(&a, &sa, "elsewhere.c", "&m");
	lockorder_unlock(&a);
	lockorder_unlock(&b);
}

static void test_trylock_and_unranked_pass(void **state)
{
	int status;
	pid_t pid = testutil_fork();

	if (pid == 0) {
		trylock_against_order();
		unranked_not_checked();
		_exit(lockorder_held() == 0 ? 0 : 3);
	}
	status = testutil_wait_bounded(pid, 10);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The core's own call sites are checked (the header is included first in
 * every file of src/): lock_table_count() takes the table's mutex, an
 * outer one, which must not come under a middle one. */
static void table_under_watch(void)
{
	struct lock_table *t = lock_table_new();
	size_t held, priv;

	lock_as(&a, &site_a, "watch.c", "&t->mutex");
	lock_table_count(t, &held, &priv);
}

static void table_alone(void)
{
	struct lock_table *t = lock_table_new();
	size_t held, priv;

	lock_table_count(t, &held, &priv);
	lock_table_free(t);
}

static void test_core_call_sites_checked(void **state)
{
#ifdef NDEBUG
	skip();
#endif
	assert_false(aborts(table_alone));
	assert_true(aborts(table_under_watch));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_names_each_mutex_once),
		cmocka_unit_test(test_in_order_is_fine),
		cmocka_unit_test(test_out_of_order_aborts),
		cmocka_unit_test(test_trylock_and_unranked_pass),
		cmocka_unit_test(test_core_call_sites_checked),
	};

	testutil_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
