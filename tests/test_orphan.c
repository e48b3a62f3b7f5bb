/* test_orphan.c - src/orphan.c: the /proc parsers, the verdict rule, and
 * segments whose creator runs, has ended, or whose pid a later process
 * holds (made so in a pid namespace of the test's own, with ns_last_pid):
 * what the test did to each creator is the truth. */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "orphan.h"
#include "testutil.h"

static void test_parse_stat(void **state)
{
	/* a comm with blanks and parentheses, as a program may name itself */
	const char stat[] = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 "
			    "0 123456 1000 100 18446744073709551615\n";
	unsigned long long ticks;
	char st;

	(void)state;
	assert_int_equal(orphan_parse_stat(stat, strlen(stat), &st, &ticks), 0);
	assert_int_equal(st, 'S');
	assert_int_equal(ticks, 123456);
	assert_int_equal(orphan_parse_stat("1 (x) S 1", 9, &st, &ticks), -EINVAL);
	assert_int_equal(orphan_parse_stat("garbage", 7, &st, &ticks), -EINVAL);
	assert_int_equal(orphan_parse_stat("", 0, &st, &ticks), -EINVAL);
	/* field 22 not a number */
	const char bad[] = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12x 1 1\n";

	assert_int_equal(orphan_parse_stat(bad, strlen(bad), &st, &ticks), -EINVAL);
}

static void test_parse_btime(void **state)
{
	time_t b;

	(void)state;
	assert_int_equal(
		orphan_parse_btime("cpu 1 2 3\nintr 5\nbtime 1796450000\nprocesses 9\n", &b), 0);
	assert_int_equal(b, 1796450000);
	assert_int_equal(orphan_parse_btime("cpu 1\n", &b), -EINVAL);
	assert_int_equal(orphan_parse_btime("btime x\n", &b), -EINVAL);
	assert_int_equal(orphan_parse_btime("xbtime 5\n", &b), -EINVAL);
}

/* The boot time from the clocks is /proc/stat's btime (a second either
 * way: the two are rounded at different moments). */
static void test_boot_time(void **state)
{
	char text[65536];
	time_t b, from_proc;
	ssize_t n;
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(n > 0);
	text[n] = '\0';
	assert_int_equal(orphan_parse_btime(text, &from_proc), 0);
	assert_int_equal(orphan_boot_time(&b), 0);
	assert_true(b >= from_proc - 1 && b <= from_proc + 1);
}

static void test_judge(void **state)
{
	const struct orphan_process none = { .exists = false };
	const struct orphan_process hidden = { .exists = true, .known = false };
	const struct orphan_process early = { .exists = true, .known = true, .start = 1000 };
	const struct orphan_process late = { .exists = true, .known = true, .start = 1003 };
	const struct orphan_process just = { .exists = true,
					     .known = true,
					     .start = 1000 + ORPHAN_SLACK_S };

	(void)state;
	assert_int_equal(orphan_judge(0, 1000, &early), ORPHAN_UNKNOWN);
	assert_int_equal(orphan_judge(7, 1000, &none), ORPHAN_GONE);
	assert_int_equal(orphan_judge(7, 1000, &hidden), ORPHAN_UNKNOWN);
	assert_int_equal(orphan_judge(7, 1000, &early), ORPHAN_ALIVE);
	assert_int_equal(orphan_judge(7, 1000, &just), ORPHAN_ALIVE);
	assert_int_equal(orphan_judge(7, 1000, &late), ORPHAN_GONE);
	assert_int_equal(orphan_judge(7, 0, &early), ORPHAN_UNKNOWN);
	assert_string_equal(orphan_alive_name(ORPHAN_ALIVE), "yes");
	assert_string_equal(orphan_alive_name(ORPHAN_GONE), "no");
	assert_string_equal(orphan_alive_name(ORPHAN_UNKNOWN), "unknown");
}

static void test_segment_rule(void **state)
{
	struct segment_info seg = { .nattch = 0, .ctime = 500, .atime = 400, .dtime = 0 };
	struct orphan_verdict v;

	(void)state;
	/* the earliest time set that follows the creation */
	assert_int_equal(orphan_segment_created_by(&seg), 400);
	seg.atime = 0;
	assert_int_equal(orphan_segment_created_by(&seg), 500);
	orphan_segment_verdict(&seg, ORPHAN_GONE, &v);
	assert_true(v.orphan);
	orphan_segment_verdict(&seg, ORPHAN_UNKNOWN, &v);
	assert_false(v.orphan);
	orphan_segment_verdict(&seg, ORPHAN_ALIVE, &v);
	assert_false(v.orphan);
	seg.nattch = 1;
	orphan_segment_verdict(&seg, ORPHAN_GONE, &v);
	assert_false(v.orphan);
	seg.nattch = 0;
	seg.mode = 0600 | SEGMENT_MODE_DEST;
	orphan_segment_verdict(&seg, ORPHAN_GONE, &v);
	assert_false(v.orphan);
}

static void test_users_rule(void **state)
{
	struct orphan_users u;

	(void)state;
	orphan_users_init(&u);
	assert_false(orphan_users_verdict(&u)); /* nobody known */
	orphan_users_add(&u, ORPHAN_GONE);
	assert_true(orphan_users_verdict(&u));
	orphan_users_add_waiting(&u, 1);
	assert_false(orphan_users_verdict(&u));
	orphan_users_init(&u);
	orphan_users_add(&u, ORPHAN_GONE);
	orphan_users_add(&u, ORPHAN_UNKNOWN);
	assert_false(orphan_users_verdict(&u));
	orphan_users_init(&u);
	orphan_users_add(&u, ORPHAN_ALIVE);
	orphan_users_add(&u, ORPHAN_GONE);
	assert_false(orphan_users_verdict(&u));
}

static struct segment_info stat_of(int shmid)
{
	struct segment_info seg;

	assert_int_equal(segment_stat(shmid, false, &seg), 0);
	return seg;
}

/* This process and a child it made: started by now, and alive. */
static void test_real_processes(void **state)
{
	struct orphan_process p;
	time_t now = time(NULL);
	pid_t child = testutil_fork();

	(void)state;
	if (child == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(orphan_process_read(getpid(), &p), 0);
	assert_true(p.exists && p.known);
	assert_true(p.start <= now + 1);
	assert_int_equal(orphan_process_read(child, &p), 0);
	assert_true(p.exists && p.known);
	assert_true(p.start >= now - 1 - ORPHAN_SLACK_S && p.start <= time(NULL) + 1);
	assert_int_equal(orphan_pid_alive(child, time(NULL)), ORPHAN_ALIVE);
	/* a zombie has ended its program */
	kill(child, SIGKILL);
	while (testutil_still_running(child))
		usleep(1000);
	assert_int_equal(orphan_pid_alive(child, time(NULL)), ORPHAN_GONE);
	waitpid(child, NULL, 0);
	assert_int_equal(orphan_pid_alive(child, time(NULL)), ORPHAN_GONE);
}

/* Segments made by this process, by a child that ended, attached or
 * marked for destruction: the verdict against what was done. */
static void test_segments(void **state)
{
	struct orphan_verdict v;
	int mine = shmget(IPC_PRIVATE, 4096, 0600), theirs, dying;
	int ready[2];
	pid_t child;
	void *p;

	(void)state;
	assert_true(mine >= 0);
	orphan_judge_segment(&(struct segment_info){ 0 }, &v);
	assert_int_equal(v.creator, ORPHAN_UNKNOWN);
	assert_false(v.orphan);
	struct segment_info seg = stat_of(mine);

	orphan_judge_segment(&seg, &v);
	assert_int_equal(v.creator, ORPHAN_ALIVE);
	assert_false(v.orphan);

	assert_int_equal(pipe(ready), 0);
	child = testutil_fork();
	if (child == 0) {
		int a = shmget(IPC_PRIVATE, 4096, 0600), b = shmget(IPC_PRIVATE, 4096, 0600);

		if (write(ready[1], &a, sizeof(a)) != sizeof(a) ||
		    write(ready[1], &b, sizeof(b)) != sizeof(b))
			_exit(1);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &theirs, sizeof(theirs)), sizeof(theirs));
	assert_int_equal(read(ready[0], &dying, sizeof(dying)), sizeof(dying));
	assert_int_equal(waitpid(child, NULL, 0), child);
	seg = stat_of(theirs);
	assert_int_equal(seg.cpid, child);
	orphan_judge_segment(&seg, &v);
	assert_int_equal(v.creator, ORPHAN_GONE);
	assert_true(v.orphan);
	/* attached: not an orphan, though its creator is gone */
	p = shmat(theirs, NULL, SHM_RDONLY);
	assert_true(p != (void *)-1);
	seg = stat_of(theirs);
	orphan_judge_segment(&seg, &v);
	assert_int_equal(v.creator, ORPHAN_GONE);
	assert_false(v.orphan);
	/* marked for destruction while attached: going away already */
	assert_int_equal(shmctl(theirs, IPC_RMID, NULL), 0);
	seg = stat_of(theirs);
	orphan_judge_segment(&seg, &v);
	assert_false(v.orphan);
	shmdt(p);
	shmctl(dying, IPC_RMID, NULL);
	shmctl(mine, IPC_RMID, NULL);
	close(ready[0]);
	close(ready[1]);
}

/* In a pid namespace of its own, with its own /proc: a child makes a
 * segment, is judged running, and ends; ns_last_pid brings its pid back,
 * and a later process holds it: the creator is gone though its pid runs
 * (what was remembered of the creator is not the later process's). */
static int recycled_in_pid_namespace(void)
{
	int ready[2], shmid = -1;
	pid_t creator, later;
	struct orphan_verdict v;
	struct segment_info seg;
	char buf[32];
	int fd;

	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("proc", "/proc", "proc", 0, NULL) != 0)
		return 10;
	if (pipe(ready) != 0)
		return 11;
	creator = fork();
	if (creator == 0) {
		int id = shmget(IPC_PRIVATE, 4096, 0600);

		close(ready[0]);
		if (write(ready[1], &id, sizeof(id)) != sizeof(id))
			_exit(1);
		pause(); /* until the test is done with it running */
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &shmid, sizeof(shmid)) != sizeof(shmid) || shmid < 0)
		return 12;
	if (segment_stat(shmid, false, &seg) != 0 || seg.cpid != creator)
		return 13;
	/* Judged running: its process is remembered (orphan.c's pidfd
	 * cache), and must not answer for the pid's next process. */
	orphan_judge_segment(&seg, &v);
	if (v.creator != ORPHAN_ALIVE || v.orphan)
		return 14;
	kill(creator, SIGKILL);
	waitpid(creator, NULL, 0);
	/* A process started later than the slack after the creation gets
	 * the creator's pid. */
	sleep(ORPHAN_SLACK_S + 2);
	fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
	snprintf(buf, sizeof(buf), "%d", (int)creator - 1);
	if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
		return 15;
	close(fd);
	later = fork();
	if (later == 0) {
		pause();
		_exit(0);
	}
	if (later != creator)
		return 16;
	orphan_judge_segment(&seg, &v);
	kill(later, SIGKILL);
	waitpid(later, NULL, 0);
	shmctl(shmid, IPC_RMID, NULL);
	if (v.creator != ORPHAN_GONE || !v.orphan)
		return 17;
	return 0;
}

static void test_recycled_pid(void **state)
{
	pid_t child;
	int status;

	(void)state;
	/* The pid namespace is unshared in a child, never by the test
	 * itself: LeakSanitizer's exit check cannot follow a process whose
	 * children are born in another pid namespace. */
	child = testutil_fork();
	if (child == 0) {
		pid_t inner;

		if (unshare(CLONE_NEWPID) != 0)
			_exit(9);
		inner = testutil_fork();
		if (inner == 0)
			_exit(recycled_in_pid_namespace());
		status = testutil_wait_bounded(inner, 30);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 8);
	}
	status = testutil_wait_bounded(child, 40);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("recycled pid: status %#x (exit %d)", status, WEXITSTATUS(status));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat),     cmocka_unit_test(test_parse_btime),
		cmocka_unit_test(test_boot_time),      cmocka_unit_test(test_judge),
		cmocka_unit_test(test_segment_rule),   cmocka_unit_test(test_users_rule),
		cmocka_unit_test(test_real_processes), cmocka_unit_test(test_segments),
		cmocka_unit_test(test_recycled_pid),
	};

	testutil_watchdog(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
