/* test_lockstate.c - src/lockstate.c against real semaphore sets held and
 * waited on by real processes: forked children doing the protocol's
 * semops, and a Perl IPC::ShareLite program.  What each child did is the
 * truth; the kernel's own semctl counts tell when a waiter is queued. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockstate.h"
#include "testutil.h"

/* A child that takes and releases the lock on command: 's'/'S' take and
 * release shared, 'x'/'X' exclusive, 'p' posts semaphore 0; it answers
 * each command with one byte once the operation is done. */
struct locker {
	pid_t pid;
	int cmd; /* write end */
	int ack; /* read end */
};

static int do_op(int semid, char c)
{
	struct sembuf sh[] = { { 2, 0, 0 }, { 1, 1, SEM_UNDO } };
	struct sembuf sh_rel[] = { { 1, -1, SEM_UNDO } };
	struct sembuf ex[] = { { 1, 0, 0 }, { 2, 0, 0 }, { 2, 1, SEM_UNDO } };
	struct sembuf ex_rel[] = { { 2, -1, SEM_UNDO } };
	struct sembuf post[] = { { 0, 1, 0 } };

	switch (c) {
	case 's':
		return semop(semid, sh, 2);
	case 'S':
		return semop(semid, sh_rel, 1);
	case 'x':
		return semop(semid, ex, 3);
	case 'X':
		return semop(semid, ex_rel, 1);
	case 'p':
		return semop(semid, post, 1);
	}
	return -1;
}

static struct locker locker_start(int semid)
{
	struct locker l;
	int cmd[2], ack[2];

	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(ack), 0);
	l.pid = fork();
	assert_true(l.pid >= 0);
	if (l.pid == 0) {
		char c;

		/* Its siblings hold this pipe's write end too: end with the
		 * test, not with the pipe. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* ... and must not hold other children's pipes open. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != cmd[0] && fd != ack[1])
				close(fd);
		while (read(cmd[0], &c, 1) == 1) {
			char r = do_op(semid, c) == 0 ? 'k' : 'e';

			if (write(ack[1], &r, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(cmd[0]);
	close(ack[1]);
	l.cmd = cmd[1];
	l.ack = ack[0];
	return l;
}

static void locker_send(struct locker *l, char c)
{
	assert_int_equal(write(l->cmd, &c, 1), 1);
}

static void locker_done(struct locker *l)
{
	char r;

	assert_int_equal(read(l->ack, &r, 1), 1);
	assert_int_equal(r, 'k');
}

static void locker_do(struct locker *l, char c)
{
	locker_send(l, c);
	locker_done(l);
}

/* Ends the child; SEM_UNDO gives back whatever it still holds. */
static void locker_stop(struct locker *l)
{
	int status;

	close(l->cmd);
	close(l->ack);
	kill(l->pid, SIGKILL);
	assert_int_equal(waitpid(l->pid, &status, 0), l->pid);
}

/* Until the kernel counts n waiters for zero on semaphore num. */
static void wait_zcnt(int semid, int num, int n)
{
	for (int i = 0; i < 5000 && semctl(semid, num, GETZCNT) != n; i++)
		usleep(1000);
	assert_int_equal(semctl(semid, num, GETZCNT), n);
}

static int new_lock_set(void)
{
	int semid = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);

	assert_true(semid >= 0);
	return semid;
}

static void test_free_set(void **state)
{
	int semid = new_lock_set();
	struct lock_state ls;
	struct semset_state set;

	(void)state;
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.readers, 0);
	assert_int_equal(ls.writer, 0);
	assert_int_equal(ls.last_pid, 0);
	assert_int_equal(ls.last_op, 0);
	assert_int_equal(ls.waiting_for_writer, 0);
	assert_int_equal(ls.waiting_for_readers, 0);
	assert_int_equal(lockstate_read_set(semid, &set), 0);
	assert_int_equal(set.nsems, 3);
	assert_int_equal(set.mode, 0600);
	assert_int_equal(set.uid, getuid());
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	assert_int_equal(lockstate_read_lock(semid, &ls), -EINVAL);
}

/* Two readers hold it, a writer waits for them; they go, the writer takes
 * it, and a reader and a second writer wait for it. */
static void test_readers_then_writer(void **state)
{
	int semid = new_lock_set();
	struct locker r1 = locker_start(semid), r2 = locker_start(semid);
	struct locker w1 = locker_start(semid), w2 = locker_start(semid);
	struct locker r3 = locker_start(semid);
	struct lock_state ls;
	time_t before = time(NULL);

	(void)state;
	locker_do(&r1, 's');
	locker_do(&r2, 's');
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.readers, 2);
	assert_int_equal(ls.writer, 0);
	assert_int_equal(ls.last_pid, r2.pid);
	assert_true(ls.last_op >= before && ls.last_op <= time(NULL));
	assert_int_equal(ls.waiting_for_readers, 0);

	locker_send(&w1, 'x'); /* blocks on {1, 0}: the readers */
	wait_zcnt(semid, 1, 1);
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.readers, 2);
	assert_int_equal(ls.writer, 0);
	assert_int_equal(ls.waiting_for_readers, 1);
	assert_int_equal(ls.waiting_for_writer, 0);
	assert_int_equal(ls.last_pid, r2.pid); /* a blocked op is no operation */

	locker_do(&r2, 'S');
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.readers, 1);
	assert_int_equal(ls.last_pid, r2.pid);
	locker_do(&r1, 'S');
	locker_done(&w1); /* the writer got it */
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.readers, 0);
	assert_int_equal(ls.writer, w1.pid);
	assert_int_equal(ls.last_pid, w1.pid);
	assert_int_equal(ls.waiting_for_readers, 0);

	locker_send(&r3, 's'); /* blocks on {2, 0}: the writer */
	wait_zcnt(semid, 2, 1);
	locker_send(&w2, 'x'); /* also blocks on {2, 0} */
	wait_zcnt(semid, 2, 2);
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.writer, w1.pid);
	assert_int_equal(ls.readers, 0);
	assert_int_equal(ls.waiting_for_writer, 2);
	assert_int_equal(ls.waiting_for_readers, 0);
	assert_int_equal(ls.last_pid, w1.pid);

	/* The writer dies holding it: the kernel's undo releases, and one of
	 * the waiters gets it. */
	locker_stop(&w1);
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(lockstate_read_lock(semid, &ls), 0);
		if (ls.waiting_for_writer + ls.waiting_for_readers < 2)
			break;
		usleep(1000);
	}
	assert_true(ls.writer == w2.pid || ls.readers == 1);
	assert_true(ls.writer != w1.pid);

	locker_stop(&r1);
	locker_stop(&r2);
	locker_stop(&w2);
	locker_stop(&r3);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
}

static void test_notify_set(void **state)
{
	int semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	struct locker poster = locker_start(semid);
	struct notify_state ns;
	struct lock_state ls;

	(void)state;
	assert_true(semid >= 0);
	assert_int_equal(lockstate_read_notify(semid, &ns), 0);
	assert_int_equal(ns.posts, 0);
	assert_int_equal(ns.last_pid, 0);
	assert_int_equal(ns.last_op, 0);
	locker_do(&poster, 'p');
	locker_do(&poster, 'p');
	assert_int_equal(lockstate_read_notify(semid, &ns), 0);
	assert_int_equal(ns.posts, 2);
	assert_int_equal(ns.last_pid, poster.pid);
	assert_true(ns.last_op > 0);
	assert_int_equal(ns.waiting, 0);
	/* one semaphore is not a lock set */
	assert_int_equal(lockstate_read_lock(semid, &ls), -EINVAL);
	locker_stop(&poster);
	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
}

/* Start perl with IPC::ShareLite holding key's lock (mode LOCK_SH or
 * LOCK_EX); returns once it holds it, with its stdin to end it. */
static pid_t sharelite_hold(int key, const char *mode, int *stdin_fd)
{
	char script[512];
	int in[2], out[2];
	pid_t pid;
	char c;

	snprintf(script, sizeof(script),
		 "use IPC::ShareLite qw(:lock); "
		 "my $s = IPC::ShareLite->new(-key => %d, -create => 'yes', -destroy => 'no') "
		 "or die $!; $s->lock(%s) or die $!; $| = 1; print 'L'; <STDIN>;",
		 key, mode);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execlp("perl", "perl", "-e", script, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (read(out[0], &c, 1) != 1) {
		close(out[0]);
		close(in[1]);
		waitpid(pid, NULL, 0);
		if (testutil_in_ci())
			fail_msg("perl IPC::ShareLite did not take the lock");
		skip();
	}
	close(out[0]);
	*stdin_fd = in[1];
	return pid;
}

/* IPC::ShareLite's own lock(), read back: its holder, shared or
 * exclusive, and one of our lockers waiting for it. */
static void test_sharelite_holder(void **state)
{
	const int key = 0x5a5a0001;
	struct lock_state ls;
	int fd, semid, status;
	struct locker waiter;
	pid_t perl;

	(void)state;
	perl = sharelite_hold(key, "LOCK_EX", &fd);
	semid = semget(key, 3, 0);
	assert_true(semid >= 0);
	waiter = locker_start(semid);
	locker_send(&waiter, 's');
	wait_zcnt(semid, 2, 1);
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.writer, perl);
	assert_int_equal(ls.readers, 0);
	assert_int_equal(ls.last_pid, perl);
	assert_int_equal(ls.waiting_for_writer, 1);
	/* perl releases, and detaching takes the lock once more: whichever
	 * of the two comes first, the waiter ends up a reader */
	close(fd);
	locker_done(&waiter);
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.writer, 0);
	assert_int_equal(ls.readers, 1);
	assert_int_equal(ls.last_pid, waiter.pid);
	locker_do(&waiter, 'S');
	assert_int_equal(waitpid(perl, &status, 0), perl);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	perl = sharelite_hold(key, "LOCK_SH", &fd);
	locker_send(&waiter, 'x');
	wait_zcnt(semid, 1, 1);
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.writer, 0);
	assert_int_equal(ls.readers, 1);
	assert_int_equal(ls.last_pid, perl);
	assert_int_equal(ls.waiting_for_readers, 1);
	close(fd);
	locker_done(&waiter);
	assert_int_equal(lockstate_read_lock(semid, &ls), 0);
	assert_int_equal(ls.writer, waiter.pid);
	assert_int_equal(ls.readers, 0);
	locker_do(&waiter, 'X');
	assert_int_equal(waitpid(perl, &status, 0), perl);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	locker_stop(&waiter);
	semctl(semid, 0, IPC_RMID);
	shmctl(shmget(key, 0, 0), IPC_RMID, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_set),
		cmocka_unit_test(test_readers_then_writer),
		cmocka_unit_test(test_notify_set),
		cmocka_unit_test(test_sharelite_holder),
	};

	alarm(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
