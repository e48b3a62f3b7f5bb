/* test_semset.c - src/semset.c against real sets in a private IPC
 * namespace: the kernel's own semctl, /proc/sysvipc/sem and ipcs -s -i are
 * the oracles; the SEM_STAT_ANY fallback is read with /proc/sysvipc
 * covered, and must list the same. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "semset.h"
#include "semun.h"
#include "testutil.h"

static void test_parse_proc_line(void **state)
{
	struct semset_info s;

	(void)state;
	assert_int_equal(semset_parse_proc_line("      4660      32769   640          3  1000  "
						"1001  1002  1003 1796452022 1796452029\n",
						&s),
			 0);
	assert_int_equal(s.key, 0x1234);
	assert_int_equal(s.semid, 32769);
	assert_int_equal(s.mode, 0640);
	assert_int_equal(s.nsems, 3);
	assert_int_equal(s.uid, 1000);
	assert_int_equal(s.gid, 1001);
	assert_int_equal(s.cuid, 1002);
	assert_int_equal(s.cgid, 1003);
	assert_int_equal(s.otime, 1796452022);
	assert_int_equal(s.ctime, 1796452029);
	assert_int_equal(semset_parse_proc_line("-1 0 600 1 0 0 0 0 0 0", &s), 0);
	assert_int_equal(s.key, -1);
	/* the header, too few or too many columns, junk, ids out of range */
	assert_int_equal(semset_parse_proc_line("       key      semid perms      nsems", &s),
			 -EINVAL);
	assert_int_equal(semset_parse_proc_line("1 2 600 1 0 0 0 0 0", &s), -EINVAL);
	assert_int_equal(semset_parse_proc_line("1 2 600 1 0 0 0 0 0 0 7", &s), -EINVAL);
	assert_int_equal(semset_parse_proc_line("1 -2 600 1 0 0 0 0 0 0", &s), -EINVAL);
	assert_int_equal(semset_parse_proc_line("1 2 600 1 -5 0 0 0 0 0", &s), -EINVAL);
	assert_int_equal(semset_parse_proc_line("4294967296 2 600 1 0 0 0 0 0 0", &s), -EINVAL);
	assert_int_equal(semset_parse_proc_line("", &s), -EINVAL);
}

static void test_parse_write(void **state)
{
	static const struct {
		const char *in;
		int ret;
		bool relative;
		int value;
	} cases[] = {
		{ "0", 0, false, 0 },	      { "5\n", 0, false, 5 },
		{ "32767", 0, false, 32767 }, { "+1", 0, true, 1 },
		{ "-1\n", 0, true, -1 },      { "-32767", 0, true, -32767 },
		{ "+32767", 0, true, 32767 }, { "32768", -ERANGE, 0, 0 },
		{ "-32768", -ERANGE, 0, 0 },  { "99999999999999999999", -ERANGE, 0, 0 },
		{ "+0", -EINVAL, 0, 0 },      { "-0", -EINVAL, 0, 0 },
		{ "", -EINVAL, 0, 0 },	      { "\n", -EINVAL, 0, 0 },
		{ "+", -EINVAL, 0, 0 },	      { "1 ", -EINVAL, 0, 0 },
		{ " 1", -EINVAL, 0, 0 },      { "1\n\n", -EINVAL, 0, 0 },
		{ "0x10", -EINVAL, 0, 0 },    { "--1", -EINVAL, 0, 0 },
		{ "+-1", -EINVAL, 0, 0 },     { "1e3", -EINVAL, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct semset_write w = { .relative = !cases[i].relative, .value = 12345 };
		int ret = semset_parse_write(cases[i].in, strlen(cases[i].in), &w);

		if (ret != cases[i].ret)
			fail_msg("\"%s\": %d, want %d", cases[i].in, ret, cases[i].ret);
		if (ret == 0 && (w.relative != cases[i].relative || w.value != cases[i].value))
			fail_msg("\"%s\": %d %d", cases[i].in, w.relative, w.value);
	}
	/* no NUL needed, and one inside is junk */
	struct semset_write w;

	assert_int_equal(semset_parse_write("12", 1, &w), 0);
	assert_int_equal(w.value, 1);
	assert_int_equal(semset_parse_write("1\0", 2, &w), -EINVAL);
}

struct listed {
	struct semset_info v[64];
	int n;
};

static int collect(const struct semset_info *s, void *arg)
{
	struct listed *l = arg;

	if (l->n < 64)
		l->v[l->n++] = *s;
	return 0;
}

static int make_set(int32_t key, int nsems, int mode)
{
	int id = semget(key, nsems, IPC_CREAT | IPC_EXCL | mode);

	assert_true(id >= 0);
	return id;
}

/* The listing against semctl IPC_STAT of each; the fallback's the same. */
static void test_each_and_stat(void **state)
{
	int ids[3] = { make_set(0x5e1, 1, 0600), make_set(IPC_PRIVATE, 5, 0640),
		       make_set(0x5e3, 250, 0444) };
	struct listed proc = { .n = 0 }, loop = { .n = 0 };
	struct sembuf op = { 0, 1, 0 };

	(void)state;
	assert_int_equal(semop(ids[1], &op, 1), 0);
	assert_int_equal(semset_each(collect, &proc), 0);
	assert_int_equal(proc.n, 3);
	for (int i = 0; i < 3; i++) {
		struct semid_ds ds;
		union semun arg = { .buf = &ds };
		struct semset_info one;

		assert_int_equal(semctl(ids[i], 0, IPC_STAT, arg), 0);
		assert_int_equal(proc.v[i].semid, ids[i]);
		assert_int_equal(proc.v[i].key, ds.sem_perm.__key);
		assert_int_equal(proc.v[i].mode, ds.sem_perm.mode & 0777);
		assert_int_equal(proc.v[i].nsems, ds.sem_nsems);
		assert_int_equal(proc.v[i].otime, ds.sem_otime);
		assert_int_equal(proc.v[i].ctime, ds.sem_ctime);
		assert_int_equal(semset_stat(ids[i], &one), 0);
		assert_memory_equal(&one, &proc.v[i], sizeof(one));
	}
	assert_true(proc.v[1].otime != 0);
	assert_int_equal(semset_find_key(0x5e1), ids[0]);
	assert_int_equal(semset_find_key(0x5e2), -ENOENT);
	assert_int_equal(semset_find_key(0), -ENOENT);
	assert_int_equal(semset_stat(ids[2] + 32768, &proc.v[63]), -ENOENT);
	assert_int_equal(semset_stat(-1, &proc.v[63]), -ENOENT);

	/* without /proc/sysvipc: the SEM_STAT_ANY loop lists the same */
	pid_t child = testutil_fork();

	if (child == 0) {
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tmpfs", "/proc/sysvipc", "tmpfs", 0, NULL) != 0)
			_exit(2);
		if (semset_each(collect, &loop) != 0 || loop.n != proc.n)
			_exit(3);
		for (int i = 0; i < proc.n; i++)
			if (memcmp(&loop.v[i], &proc.v[i], sizeof(loop.v[i])) != 0)
				_exit(4);
		_exit(0);
	}
	int status = testutil_wait_bounded(child, 10);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (int i = 0; i < 3; i++)
		semctl(ids[i], 0, IPC_RMID);
}

/* Values, pids and waiter counts against GETVAL/GETPID/GETNCNT/GETZCNT;
 * a waiter for an increase and one for zero, as children. */
static void test_read_sems(void **state)
{
	int id = make_set(IPC_PRIVATE, 3, 0600);
	union semun v = { .val = 7 };
	struct semset_sem sems[3];
	pid_t dec, zero;

	(void)state;
	assert_int_equal(semctl(id, 2, SETVAL, v), 0);
	dec = testutil_fork();
	if (dec == 0) {
		struct sembuf op = { 0, -1, 0 };

		_exit(semop(id, &op, 1) == 0 ? 0 : 1);
	}
	zero = testutil_fork();
	if (zero == 0) {
		struct sembuf op = { 2, 0, 0 };

		_exit(semop(id, &op, 1) == 0 ? 0 : 1);
	}
	while (semctl(id, 0, GETNCNT) != 1 || semctl(id, 2, GETZCNT) != 1)
		usleep(1000);
	assert_int_equal(semset_read_sems(id, 3, sems), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sems[i].value, semctl(id, i, GETVAL));
		assert_int_equal(sems[i].pid, semctl(id, i, GETPID));
		assert_int_equal(sems[i].ncnt, semctl(id, i, GETNCNT));
		assert_int_equal(sems[i].zcnt, semctl(id, i, GETZCNT));
	}
	assert_int_equal(sems[2].value, 7);
	assert_int_equal(sems[2].pid, getpid());
	assert_int_equal(sems[0].ncnt, 1);
	assert_int_equal(sems[2].zcnt, 1);

	/* a set bigger than said: refused, nothing written past the array */
	struct semset_sem two[2];

	assert_int_equal(semset_read_sems(id, 2, two), -ESTALE);
	assert_int_equal(semset_read_sems(id, 4, (struct semset_sem[4]){ 0 }), -ESTALE);

	/* +1 and SETVAL 0 through the module release both waiters */
	assert_int_equal(semset_op_nowait(id, 0, 1), 0);
	assert_int_equal(semset_setval(id, 2, 0), 0);
	assert_int_equal(testutil_wait_bounded(dec, 10), 0);
	assert_int_equal(testutil_wait_bounded(zero, 10), 0);
	semctl(id, 0, IPC_RMID);
	assert_int_equal(semset_read_sems(id, 3, sems), -ENOENT);
}

/* The module's changes, and their errors, as the kernel gives them. */
static void test_changes(void **state)
{
	int id = make_set(IPC_PRIVATE, 2, 0600);

	(void)state;
	assert_int_equal(semset_op_nowait(id, 1, -1), -EAGAIN);
	assert_int_equal(semset_op_nowait(id, 1, 3), 0);
	assert_int_equal(semset_op_nowait(id, 1, -2), 0);
	assert_int_equal(semctl(id, 1, GETVAL), 1);
	assert_int_equal(semctl(id, 1, GETPID), getpid());
	assert_int_equal(semset_op_nowait(id, 1, SEMSET_VALUE_MAX), -ERANGE);
	assert_int_equal(semset_op_nowait(id, 2, 1), -EFBIG);
	assert_int_equal(semset_op_nowait(id, 1, 0), -EINVAL);
	assert_int_equal(semset_setval(id, 0, SEMSET_VALUE_MAX), 0);
	assert_int_equal(semctl(id, 0, GETVAL), SEMSET_VALUE_MAX);
	assert_int_equal(semset_setval(id, 0, SEMSET_VALUE_MAX + 1), -ERANGE);
	/* no undo was recorded: a child's op stays after it ends */
	pid_t child = testutil_fork();

	if (child == 0)
		_exit(semset_op_nowait(id, 1, -1) == 0 ? 0 : 1);
	assert_int_equal(testutil_wait_bounded(child, 10), 0);
	assert_int_equal(semctl(id, 1, GETVAL), 0);

	assert_int_equal(semset_set_perm(id, 65534, 65534, 0640), 0);
	struct semset_info s;

	assert_int_equal(semset_stat(id, &s), 0);
	assert_int_equal(s.uid, 65534);
	assert_int_equal(s.gid, 65534);
	assert_int_equal(s.mode, 0640);
	assert_int_equal(s.cuid, 0);
	assert_int_equal(semset_remove(id), 0);
	assert_int_equal(semset_remove(id), -ENOENT);
	assert_int_equal(semset_setval(id, 0, 1), -ENOENT);
	assert_int_equal(semset_op_nowait(id, 0, 1), -ENOENT);
	assert_int_equal(semset_set_perm(id, 0, 0, 0600), -ENOENT);
}

static void test_render(void **state)
{
	const struct semset_info info = { .key = 0x1234,
					  .semid = 32769,
					  .mode = 0640,
					  .nsems = 3,
					  .uid = 1000,
					  .gid = 100,
					  .cuid = 1001,
					  .cgid = 101,
					  .otime = 0,
					  .ctime = 1796452022 };
	const struct semset_sem sems[3] = { { 1, 4242, 0, 0 }, { 0, 0, 2, 0 }, { 0, 77, 0, 1 } };
	struct waiters_pid last[3] = {
		{ .pid = 4242, .seen = true, .comm = "sh", .alive = ORPHAN_ALIVE },
		{ .pid = 0 },
		{ .pid = 77, .seen = false, .alive = ORPHAN_GONE }
	};
	struct waiters_process w[2] = {
		{ .pid = 50, .tid = 51, .uid = 1000, .comm = "prog", .call = "semop" },
		{ .pid = 9,
		  .tid = 9,
		  .uid = 0,
		  .comm = "shmfs",
		  .call = "semtimedop",
		  .self = true },
	};
	struct waiters_list list = { .v = w, .n = 2, .more = 3 };
	struct semset_parked parked[] = { { .pid = 60, .uid = 65534, .num = 1, .delta = -2 } };
	struct semset_view v = { .info = &info,
				 .sems = sems,
				 .last = last,
				 .waiters = &list,
				 .parked = parked,
				 .nparked = 1,
				 .parked_more = 4 };
	char *text;
	size_t len;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	assert_int_equal(semset_render(&v, &text, &len), 0);
	assert_string_equal(text,
			    "key 0x00001234\n"
			    "semid 32769\n"
			    "perms 0640\n"
			    "nsems 3\n"
			    "uid 1000\n"
			    "gid 100\n"
			    "cuid 1001\n"
			    "cgid 101\n"
			    "otime not-set\n"
			    "ctime 2026-12-05T06:27:02+0000\n"
			    "orphan no\n"
			    "sem 0 semval 1 semncnt 0 semzcnt 0 sempid 4242 comm sh alive yes\n"
			    "sem 1 semval 0 semncnt 2 semzcnt 0 sempid none comm - alive -\n"
			    "sem 2 semval 0 semncnt 0 semzcnt 1 sempid 77 comm - alive no\n"
			    "waiter 50 tid 51 uid 1000 comm prog call semop\n"
			    "waiter 9 tid 9 uid 0 comm shmfs call semtimedop (shmfs)\n"
			    "waiters_not_listed 3\n"
			    "parked 60 uid 65534 sem 1 op -2\n"
			    "parked_not_listed 4\n");
	assert_int_equal(len, strlen(text));
	free(text);
	/* nothing looked at: no waiter lines, pids unknown */
	v.last = NULL;
	v.waiters = NULL;
	v.nparked = v.parked_more = 0;
	v.orphan = true;
	assert_int_equal(semset_render(&v, &text, &len), 0);
	assert_non_null(strstr(text, "orphan yes\n"));
	assert_non_null(strstr(text, "sempid 4242 comm - alive unknown\n"));
	assert_null(strstr(text, "waiter"));
	assert_null(strstr(text, "parked"));
	free(text);

	char value[16];

	assert_int_equal(semset_render_value(&sems[0], value, sizeof(value)), 2);
	assert_string_equal(value, "1\n");
	assert_int_equal(semset_render_value(&sems[0], value, 2), -ERANGE);
}

static void test_orphan_rule(void **state)
{
	const struct semset_info info = { .nsems = 2 };
	struct semset_sem sems[2] = { { 0, 10, 0, 0 }, { 0, 0, 0, 0 } };
	struct waiters_pid last[2] = { { .pid = 10, .alive = ORPHAN_GONE }, { .pid = 0 } };

	(void)state;
	assert_true(semset_is_orphan(&info, sems, last));
	assert_false(semset_is_orphan(&info, sems, NULL));
	sems[1].zcnt = 1; /* someone waits */
	assert_false(semset_is_orphan(&info, sems, last));
	sems[1].zcnt = 0;
	last[0].alive = ORPHAN_ALIVE;
	assert_false(semset_is_orphan(&info, sems, last));
	sems[0].pid = 0; /* never used by anyone */
	assert_false(semset_is_orphan(&info, sems, last));
}

/* ipcs -s -i as the oracle for what a rendering of a real set says. */
static void test_render_against_ipcs(void **state)
{
	int id = make_set(0x5e7, 2, 0640);
	struct semset_info info;
	struct semset_sem sems[2];
	struct semset_view v = { .info = &info, .sems = sems };
	char cmd[64], line[256], *text;
	size_t len;
	FILE *ipcs;
	int matched = 0;

	(void)state;
	assert_int_equal(semset_op_nowait(id, 1, 5), 0);
	assert_int_equal(semset_stat(id, &info), 0);
	assert_int_equal(semset_read_sems(id, 2, sems), 0);
	assert_int_equal(semset_render(&v, &text, &len), 0);
	snprintf(cmd, sizeof(cmd), "ipcs -s -i %d", id);
	ipcs = popen(cmd, "r");
	assert_non_null(ipcs);
	while (fgets(line, sizeof(line), ipcs)) {
		int num, val, ncnt, zcnt, pid;
		char want[160];

		/* semnum value ncount zcount pid */
		if (sscanf(line, "%d %d %d %d %d", &num, &val, &ncnt, &zcnt, &pid) != 5)
			continue;
		snprintf(want, sizeof(want), "sem %d semval %d semncnt %d semzcnt %d sempid ", num,
			 val, ncnt, zcnt);
		assert_non_null(strstr(text, want));
		matched++;
	}
	pclose(ipcs);
	assert_int_equal(matched, 2);
	assert_non_null(strstr(text, "nsems 2\n"));
	assert_non_null(strstr(text, "perms 0640\n"));
	free(text);
	semctl(id, 0, IPC_RMID);
}

/* A set the caller may not IPC_STAT (another user's, 0600) is still
 * stat-able, as /proc/sysvipc/sem shows it to everyone: by its index, the
 * owner's fields; a removed one is ENOENT. */
static void test_stat_without_permission(void **state)
{
	int id = make_set(0x5e9a12, 2, 0600), gone = make_set(IPC_PRIVATE, 1, 0600), status;
	struct semset_info mine;
	pid_t pid;

	(void)state;
	assert_int_equal(semctl(gone, 0, IPC_RMID), 0);
	assert_int_equal(semset_stat(id, &mine), 0);
	pid = testutil_fork();
	if (pid == 0) {
		struct semid_ds ds;
		union semun arg = { .buf = &ds };
		struct semset_info seen;

		testutil_become(65534);
		if (semctl(id, 0, IPC_STAT, arg) == 0 || errno != EACCES)
			_exit(3); /* the case to test: IPC_STAT refused */
		if (semset_stat(id, &seen) != 0)
			_exit(4);
		if (memcmp(&seen, &mine, sizeof(seen)) != 0)
			_exit(5);
		_exit(semset_stat(gone, &seen) == -ENOENT ? 0 : 6);
	}
	status = testutil_wait_bounded(pid, 10);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	semctl(id, 0, IPC_RMID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_proc_line),
		cmocka_unit_test(test_parse_write),
		cmocka_unit_test(test_each_and_stat),
		cmocka_unit_test(test_read_sems),
		cmocka_unit_test(test_changes),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_orphan_rule),
		cmocka_unit_test(test_render_against_ipcs),
		cmocka_unit_test(test_stat_without_permission),
	};

	testutil_watchdog(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
