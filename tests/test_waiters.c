/* test_waiters.c - src/waiters.c against real processes blocked in semop,
 * semtimedop and msgrcv: which child waits on what is the truth; who may
 * see it is the kernel's (a caller of uid 65534 sees its own waiters, not
 * root's). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "semun.h"
#include "waiters.h"
#include "testutil.h"

#define NOBODY 65534

static void test_parse_syscall(void **state)
{
	unsigned long a[6];
	long nr;

	(void)state;
	assert_int_equal(waiters_parse_syscall("220 0x5 0x7ffe95ff6e90 0x1 0x0 0x0 0x7f7615645740 "
					       "0x7ffe95ff6e58 0x7f76157535da\n",
					       &nr, a),
			 0);
	assert_int_equal(nr, 220);
	assert_int_equal(a[0], 5);
	assert_int_equal(a[2], 1);
	assert_int_equal(waiters_parse_syscall("running\n", &nr, a), -EBUSY);
	assert_int_equal(waiters_parse_syscall("-1 0x7ffe95ff6e58 0x7f76157535da\n", &nr, a),
			 -EINVAL);
	assert_int_equal(waiters_parse_syscall("", &nr, a), -EINVAL);
	assert_int_equal(waiters_parse_syscall("65 0x1 0x2\n", &nr, a), -EINVAL);
}

static void test_call_on(void **state)
{
	unsigned long a[6] = { 7, 0, 1, 0, 0, 0 };
	/* the upper half of the register is not the kernel's int */
	unsigned long wide[6] = { 0xffffffff00000007ul, 0, 1, 0, 0, 0 };

	(void)state;
#ifdef SYS_semtimedop
	assert_string_equal(waiters_call_on(SYS_semtimedop, a, WAITERS_SEM, 7), "semtimedop");
	assert_string_equal(waiters_call_on(SYS_semtimedop, wide, WAITERS_SEM, 7), "semtimedop");
	assert_null(waiters_call_on(SYS_semtimedop, a, WAITERS_SEM, 8));
	assert_null(waiters_call_on(SYS_semtimedop, a, WAITERS_MSG, 7));
#endif
#ifdef SYS_semop
	assert_string_equal(waiters_call_on(SYS_semop, a, WAITERS_SEM, 7), "semop");
#endif
#ifdef SYS_msgrcv
	assert_string_equal(waiters_call_on(SYS_msgrcv, a, WAITERS_MSG, 7), "msgrcv");
	assert_null(waiters_call_on(SYS_msgrcv, a, WAITERS_SEM, 7));
#endif
#ifdef SYS_msgsnd
	assert_string_equal(waiters_call_on(SYS_msgsnd, a, WAITERS_MSG, 7), "msgsnd");
#endif
	assert_null(waiters_call_on(SYS_read, a, WAITERS_SEM, 7));
	assert_null(waiters_call_on(SYS_read, a, WAITERS_SEM, -1));
}

/* A child, as uid (0 or NOBODY), blocked in semop on semaphore 0 of the
 * set, or in msgrcv on the queue: its pid once the kernel counts it. */
static pid_t block_in_semop(int semid, uid_t uid)
{
	int before = semctl(semid, 0, GETNCNT);
	pid_t pid = testutil_fork();

	if (pid == 0) {
		struct sembuf op = { 0, -1, 0 };

		prctl(PR_SET_NAME, "sem waiter");
		if (uid && (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0))
			_exit(1);
		prctl(PR_SET_DUMPABLE, 1);
		semop(semid, &op, 1);
		_exit(0);
	}
	/* one more than before: a second waiter on the set is counted too */
	while (semctl(semid, 0, GETNCNT) <= before)
		usleep(1000);
	return pid;
}

static const struct waiters_process *find(const struct waiters_list *l, pid_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].pid == pid)
			return &l->v[i];
	return NULL;
}

static void test_sem_waiters(void **state)
{
	int semid = semget(IPC_PRIVATE, 2, 0666), other = semget(IPC_PRIVATE, 1, 0666);
	const struct procs_caller root = { 0, 0, getpid() }, nobody = { NOBODY, NOBODY, 0 };
	struct waiters_list l = { 0 };
	pid_t mine, theirs, elsewhere;

	(void)state;
	assert_true(semid >= 0 && other >= 0);
	mine = block_in_semop(semid, 0);
	theirs = block_in_semop(semid, NOBODY);
	elsewhere = block_in_semop(other, 0);
	/* root sees both, with their call and comm; not the other set's */
	assert_int_equal(waiters_look(WAITERS_SEM, semid, &root, NULL, 0, &l), 0);
	assert_int_equal(l.n, 2);
	const struct waiters_process *w = find(&l, mine);

	assert_non_null(w);
	assert_int_equal(w->tid, mine);
	assert_int_equal(w->uid, 0);
	assert_string_equal(w->comm, "sem\\040waiter");
	assert_true(strcmp(w->call, "semop") == 0 || strcmp(w->call, "semtimedop") == 0);
	assert_false(w->self);
	w = find(&l, theirs);
	assert_non_null(w);
	assert_int_equal(w->uid, NOBODY);
	/* the daemon's own view is root's */
	assert_int_equal(waiters_look(WAITERS_SEM, semid, NULL, NULL, 0, &l), 0);
	assert_int_equal(l.n, 2);
	/* uid 65534 sees its own waiter only */
	assert_int_equal(waiters_look(WAITERS_SEM, semid, &nobody, NULL, 0, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].pid, theirs);
	assert_int_equal(waiters_look(WAITERS_SEM, other, &nobody, NULL, 0, &l), 0);
	assert_int_equal(l.n, 0);
	/* bounded (procs_run_bounded()): the same, on copies of its own */
	{
		struct procs_limits *lim = procs_limits_new(1, 30000);

		assert_non_null(lim);
		assert_int_equal(waiters_look_bounded(lim, WAITERS_SEM, semid, &root, NULL, 0, &l),
				 0);
		assert_int_equal(l.n, 2);
		assert_non_null(find(&l, theirs));
		assert_int_equal(
			waiters_look_bounded(lim, WAITERS_SEM, semid, &nobody, NULL, 0, &l), 0);
		assert_int_equal(l.n, 1);
		assert_int_equal(l.v[0].pid, theirs);
		procs_limits_free(lim);
	}
	assert_int_equal(waiters_look(WAITERS_MSG, semid, &root, NULL, 0, &l), 0);
	assert_int_equal(l.n, 0);
	testutil_kill(mine);
	testutil_kill(theirs);
	testutil_kill(elsewhere);
	assert_int_equal(waiters_look(WAITERS_SEM, semid, &root, NULL, 0, &l), 0);
	assert_int_equal(l.n, 0);
	waiters_list_free(&l);
	semctl(semid, 0, IPC_RMID);
	semctl(other, 0, IPC_RMID);
}

static void test_msg_waiters(void **state)
{
	int msqid = msgget(IPC_PRIVATE, 0600);
	const struct procs_caller root = { 0, 0, getpid() };
	struct waiters_list l = { 0 };
	pid_t reader;

	(void)state;
	assert_true(msqid >= 0);
	reader = testutil_fork();
	if (reader == 0) {
		struct {
			long type;
			char text[16];
		} m;

		msgrcv(msqid, &m, sizeof(m.text), 0, 0);
		_exit(0);
	}
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(waiters_look(WAITERS_MSG, msqid, &root, NULL, 0, &l), 0);
		if (l.n)
			break;
		usleep(1000);
	}
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].pid, reader);
	assert_string_equal(l.v[0].call, "msgrcv");
	testutil_kill(reader);
	waiters_list_free(&l);
	msgctl(msqid, IPC_RMID, NULL);
}

/* Recorded pids: this process, a child that ended, none. */
static void test_pids(void **state)
{
	const struct procs_caller nobody = { NOBODY, NOBODY, 0 };
	pid_t ended = testutil_fork();
	struct waiters_pid pids[4];

	(void)state;
	if (ended == 0)
		_exit(0);
	waitpid(ended, NULL, 0);
	memset(pids, 0, sizeof(pids));
	pids[0] = (struct waiters_pid){ .pid = getpid(), .when = time(NULL) };
	pids[1] = (struct waiters_pid){ .pid = ended, .when = time(NULL) };
	pids[2] = (struct waiters_pid){ .pid = 0 };
	pids[3] = pids[0];
	assert_int_equal(waiters_look(WAITERS_SEM, 0, NULL, pids, 4, NULL), 0);
	assert_true(pids[0].seen);
	assert_string_equal(pids[0].comm, "test_waiters");
	assert_int_equal(pids[0].alive, ORPHAN_ALIVE);
	assert_false(pids[1].seen);
	assert_int_equal(pids[1].alive, ORPHAN_GONE);
	assert_false(pids[2].seen);
	assert_int_equal(pids[2].alive, ORPHAN_UNKNOWN);
	assert_true(pids[3].seen);
	assert_int_equal(pids[3].alive, ORPHAN_ALIVE);
	/* uid 65534 may read a root process's comm and stat (no hidepid) */
	pids[0].seen = false;
	assert_int_equal(waiters_look(WAITERS_SEM, 0, &nobody, pids, 1, NULL), 0);
	assert_true(pids[0].seen);
	assert_int_equal(pids[0].alive, ORPHAN_ALIVE);
	/* bounded: what it saw comes back into the caller's pids */
	{
		struct procs_limits *lim = procs_limits_new(1, 30000);

		assert_non_null(lim);
		pids[0].seen = false;
		pids[1].alive = ORPHAN_UNKNOWN;
		assert_int_equal(waiters_look_bounded(lim, WAITERS_SEM, 0, &nobody, pids, 2, NULL),
				 0);
		assert_true(pids[0].seen);
		assert_string_equal(pids[0].comm, "test_waiters");
		assert_int_equal(pids[1].alive, ORPHAN_GONE);
		procs_limits_free(lim);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_syscall), cmocka_unit_test(test_call_on),
		cmocka_unit_test(test_sem_waiters),   cmocka_unit_test(test_msg_waiters),
		cmocka_unit_test(test_pids),
	};

	testutil_watchdog(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
