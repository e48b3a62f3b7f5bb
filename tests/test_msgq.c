/* test_msgq.c - src/msgq.c against real queues in a private IPC
 * namespace: msgrcv (by the test itself, afterwards), msgctl IPC_STAT,
 * /proc/sysvipc/msg and ipcs -q -i are the oracles.  Above all: reading
 * a queue removes nothing, reorders nothing and changes no statistic --
 * /proc/sysvipc/msg is byte-identical before and after. */
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
#include <sys/msg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "msgq.h"
#include "testutil.h"

static void test_parse_proc_line(void **state)
{
	struct msgq_info q;

	(void)state;
	assert_int_equal(msgq_parse_proc_line("       153      32768   600          13          2  "
					      "3768     12  1000  1001  1002  1003 1796452023 "
					      "1796452024 1796452020\n",
					      &q),
			 0);
	assert_int_equal(q.key, 153);
	assert_int_equal(q.msqid, 32768);
	assert_int_equal(q.mode, 0600);
	assert_int_equal(q.cbytes, 13);
	assert_int_equal(q.qnum, 2);
	assert_int_equal(q.lspid, 3768);
	assert_int_equal(q.lrpid, 12);
	assert_int_equal(q.uid, 1000);
	assert_int_equal(q.gid, 1001);
	assert_int_equal(q.cuid, 1002);
	assert_int_equal(q.cgid, 1003);
	assert_int_equal(q.stime, 1796452023);
	assert_int_equal(q.rtime, 1796452024);
	assert_int_equal(q.ctime, 1796452020);
	assert_false(q.have_qbytes);
	assert_int_equal(msgq_parse_proc_line("1 2 600 0 0 0 0 0 0 0 0 0 0", &q), -EINVAL);
	assert_int_equal(msgq_parse_proc_line("1 2 600 0 0 0 0 0 0 0 0 0 0 0 0", &q), -EINVAL);
	assert_int_equal(msgq_parse_proc_line("1 -2 600 0 0 0 0 0 0 0 0 0 0 0", &q), -EINVAL);
	assert_int_equal(msgq_parse_proc_line("key msqid", &q), -EINVAL);
	assert_int_equal(msgq_parse_proc_line("", &q), -EINVAL);
}

static void send(int id, long type, const char *text, size_t len)
{
	struct {
		long type;
		char text[8192];
	} m = { .type = type };

	memcpy(m.text, text, len);
	assert_int_equal(msgsnd(id, &m, len, IPC_NOWAIT), 0);
}

/* The whole of /proc/sysvipc/msg, as bytes. */
static char *proc_msg(void)
{
	static char buf[2][65536];
	static int which;
	int fd = open("/proc/sysvipc/msg", O_RDONLY);
	ssize_t n;
	char *b = buf[which ^= 1];

	assert_true(fd >= 0);
	n = read(fd, b, sizeof(buf[0]) - 1);
	assert_true(n > 0);
	b[n] = '\0';
	close(fd);
	return b;
}

static void test_snapshot_changes_nothing(void **state)
{
	int id = msgget(0x3a9, IPC_CREAT | IPC_EXCL | 0640);
	struct msgq_snapshot s;
	char before[65536];
	struct msqid_ds ds;

	(void)state;
	assert_true(id >= 0);
	send(id, 5, "hello", 6);
	send(id, 7, "world!", 7);
	send(id, 5, "", 0);
	send(id, 1, "\0\1\2\3", 4);
	strcpy(before, proc_msg());
	assert_int_equal(msgq_snapshot(id, &s), 0);
	assert_string_equal(proc_msg(), before);
	assert_true(s.copied);
	assert_true(s.consistent);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.not_listed, 0);
	assert_int_equal(s.info.qnum, 4);
	assert_int_equal(s.info.cbytes, 17);
	assert_true(s.info.have_qbytes);
	assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
	assert_int_equal(s.info.qbytes, ds.msg_qbytes);
	assert_int_equal(s.info.lrpid, 0);
	assert_int_equal(s.info.rtime, 0);
	static const long types[] = { 5, 7, 5, 1 };
	static const size_t sizes[] = { 6, 7, 0, 4 };

	for (int i = 0; i < 4; i++) {
		assert_int_equal(s.v[i].mtype, types[i]);
		assert_int_equal(s.v[i].size, sizes[i]);
		assert_false(s.v[i].too_big);
	}
	msgq_snapshot_free(&s);

	/* one message copied: its bytes, and still nothing changed */
	struct {
		long type;
		char text[64];
	} m;
	long type;
	ssize_t n = msgq_copy(id, 3, &type, &m, sizeof(m.text));

	assert_int_equal(n, 4);
	assert_int_equal(type, 1);
	assert_memory_equal(m.text, "\0\1\2\3", 4);
	assert_int_equal(msgq_copy(id, 4, &type, &m, sizeof(m.text)), -ENOMSG);
	assert_int_equal(msgq_copy(id, 1, &type, &m, 3), -E2BIG);
	assert_string_equal(proc_msg(), before);

	/* the receiver gets every message, in the order sent */
	for (int i = 0; i < 4; i++) {
		n = msgrcv(id, &m, sizeof(m.text), 0, IPC_NOWAIT);
		assert_int_equal(n, sizes[i]);
		assert_int_equal(m.type, types[i]);
	}
	assert_int_equal(msgq_snapshot(id, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.info.lrpid, getpid());
	msgq_snapshot_free(&s);
	msgctl(id, IPC_RMID, NULL);
	assert_int_equal(msgq_snapshot(id, &s), -ENOENT);
}

/* More messages than one open lists: counted, not listed. */
static void test_snapshot_bounded(void **state)
{
	int id = msgget(IPC_PRIVATE, 0600);
	struct msqid_ds ds;
	struct msgq_snapshot s;

	(void)state;
	assert_true(id >= 0);
	assert_int_equal(msgctl(id, IPC_STAT, &ds), 0);
	ds.msg_qbytes = 2 * MSGQ_MAX_MESSAGES;
	assert_int_equal(msgctl(id, IPC_SET, &ds), 0);
	for (int i = 0; i < MSGQ_MAX_MESSAGES + 10; i++)
		send(id, i + 1, "", 0);
	assert_int_equal(msgq_snapshot(id, &s), 0);
	assert_int_equal(s.n, MSGQ_MAX_MESSAGES);
	assert_int_equal(s.not_listed, 10);
	assert_int_equal(s.v[MSGQ_MAX_MESSAGES - 1].mtype, MSGQ_MAX_MESSAGES);
	msgq_snapshot_free(&s);
	msgctl(id, IPC_RMID, NULL);
}

struct listed {
	struct msgq_info v[16];
	int n;
};

static int collect(const struct msgq_info *q, void *arg)
{
	struct listed *l = arg;

	if (l->n < 16)
		l->v[l->n++] = *q;
	return 0;
}

/* Listing, stat, by key, change; the MSG_STAT_ANY loop lists the same
 * (with qbytes, which /proc does not show). */
static void test_each_stat_change(void **state)
{
	int a = msgget(0x3aa, IPC_CREAT | IPC_EXCL | 0600), b = msgget(IPC_PRIVATE, 0644);
	struct listed proc = { .n = 0 }, loop = { .n = 0 };
	struct msgq_info one;

	(void)state;
	send(b, 3, "abc", 3);
	assert_int_equal(msgq_each(collect, &proc), 0);
	assert_int_equal(proc.n, 2);
	assert_int_equal(proc.v[0].msqid, a);
	assert_int_equal(proc.v[1].msqid, b);
	assert_int_equal(proc.v[1].qnum, 1);
	assert_int_equal(proc.v[1].lspid, getpid());
	assert_int_equal(msgq_stat(b, &one), 0);
	assert_true(one.have_qbytes);
	one.have_qbytes = false;
	one.qbytes = 0;
	assert_memory_equal(&one, &proc.v[1], sizeof(one));
	assert_int_equal(msgq_find_key(0x3aa), a);
	assert_int_equal(msgq_find_key(0x3ab), -ENOENT);

	pid_t child = testutil_fork();

	if (child == 0) {
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tmpfs", "/proc/sysvipc", "tmpfs", 0, NULL) != 0)
			_exit(2);
		if (msgq_each(collect, &loop) != 0 || loop.n != proc.n)
			_exit(3);
		for (int i = 0; i < proc.n; i++) {
			if (!loop.v[i].have_qbytes)
				_exit(4);
			loop.v[i].have_qbytes = false;
			loop.v[i].qbytes = 0;
			if (memcmp(&loop.v[i], &proc.v[i], sizeof(loop.v[i])) != 0)
				_exit(5);
		}
		_exit(0);
	}
	int status = testutil_wait_bounded(child, 10);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	struct msqid_ds ds;

	assert_int_equal(msgctl(b, IPC_STAT, &ds), 0);
	assert_int_equal(msgq_set_perm(b, 65534, 65534, 0604), 0);
	assert_int_equal(msgq_stat(b, &one), 0);
	assert_int_equal(one.uid, 65534);
	assert_int_equal(one.mode, 0604);
	assert_int_equal(one.qbytes, ds.msg_qbytes); /* kept */
	assert_int_equal(msgq_remove(a), 0);
	assert_int_equal(msgq_remove(a), -ENOENT);
	assert_int_equal(msgq_remove(b), 0);
	assert_int_equal(msgq_set_perm(b, 0, 0, 0600), -ENOENT);
}

static void test_render(void **state)
{
	struct msgq_message msgs[2] = { { 5, 6, false }, { 0, 0, true } };
	struct msgq_snapshot s = { .info = { .key = 0x99,
					     .msqid = 3,
					     .mode = 0600,
					     .cbytes = 13,
					     .qnum = 4,
					     .qbytes = 16384,
					     .have_qbytes = true,
					     .lspid = 10,
					     .lrpid = 0,
					     .stime = 1796452022 },
				   .v = msgs,
				   .n = 2,
				   .copied = true,
				   .consistent = false,
				   .not_listed = 2 };
	struct waiters_pid lspid = {
		.pid = 10, .seen = true, .comm = "sender", .alive = ORPHAN_GONE
	};
	struct msgq_view v = { .snap = &s, .lspid = &lspid, .orphan = true };
	char *text;
	size_t len;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	assert_int_equal(msgq_render(&v, &text, &len), 0);
	assert_string_equal(text, "key 0x00000099\n"
				  "msqid 3\n"
				  "perms 0600\n"
				  "cbytes 13\n"
				  "qnum 4\n"
				  "qbytes 16384\n"
				  "lspid 10\n"
				  "lspid_comm sender\n"
				  "lspid_alive no\n"
				  "lrpid none\n"
				  "lrpid_comm -\n"
				  "lrpid_alive -\n"
				  "uid 0\n"
				  "gid 0\n"
				  "cuid 0\n"
				  "cgid 0\n"
				  "stime 2026-12-05T06:27:02+0000\n"
				  "rtime not-set\n"
				  "ctime not-set\n"
				  "orphan yes\n"
				  "messages copied\n"
				  "snapshot changed\n"
				  "message 0 mtype 5 size 6\n"
				  "message 1 mtype - size -\n"
				  "messages_not_listed 2\n");
	free(text);
	s.copied = false;
	s.n = 0;
	s.not_listed = 0;
	s.info.have_qbytes = false;
	assert_int_equal(msgq_render(&v, &text, &len), 0);
	assert_non_null(strstr(text, "qbytes -\n"));
	assert_non_null(strstr(text, "messages not-copied\n"));
	assert_null(strstr(text, "message "));
	free(text);
}

static void test_orphan_rule(void **state)
{
	struct msgq_info q = { .lspid = 10, .lrpid = 0 };
	struct waiters_pid gone = { .pid = 10, .alive = ORPHAN_GONE };
	struct waiters_pid alive = { .pid = 11, .alive = ORPHAN_ALIVE };

	(void)state;
	assert_true(msgq_is_orphan(&q, &gone, NULL, 0));
	assert_false(msgq_is_orphan(&q, &gone, NULL, 1)); /* a receiver waits */
	q.lrpid = 11;
	assert_false(msgq_is_orphan(&q, &gone, &alive, 0));
	q.lspid = q.lrpid = 0;
	assert_false(msgq_is_orphan(&q, NULL, NULL, 0)); /* never used */
}

/* ipcs -q -i as the oracle of the numbers rendered. */
static void test_render_against_ipcs(void **state)
{
	int id = msgget(0x3ac, IPC_CREAT | IPC_EXCL | 0640);
	struct msgq_snapshot s;
	struct msgq_view v = { .snap = &s };
	char cmd[64], line[256], *text, want[64];
	size_t len;
	unsigned long long bytes = 0, num = 0, qbytes = 0;
	FILE *ipcs;

	(void)state;
	send(id, 2, "twelve bytes", 12);
	send(id, 2, "x", 1);
	assert_int_equal(msgq_snapshot(id, &s), 0);
	assert_int_equal(msgq_render(&v, &text, &len), 0);
	snprintf(cmd, sizeof(cmd), "ipcs -q -i %d", id);
	ipcs = popen(cmd, "r");
	assert_non_null(ipcs);
	while (fgets(line, sizeof(line), ipcs)) {
		sscanf(line, "cbytes=%llu qbytes=%llu qnum=%llu", &bytes, &qbytes, &num);
	}
	pclose(ipcs);
	snprintf(want, sizeof(want), "cbytes %llu\nqnum %llu\nqbytes %llu\n", bytes, num, qbytes);
	assert_non_null(strstr(text, want));
	assert_int_equal(num, 2);
	free(text);
	msgq_snapshot_free(&s);
	msgctl(id, IPC_RMID, NULL);
}

/* A queue the caller may not IPC_STAT (another user's, 0600) is still
 * stat-able, as /proc/sysvipc/msg shows it to everyone: by its index, the
 * owner's fields; a removed one is ENOENT. */
static void test_stat_without_permission(void **state)
{
	int id = msgget(0x5e9a13, IPC_CREAT | IPC_EXCL | 0600);
	int gone = msgget(IPC_PRIVATE, IPC_CREAT | 0600), status;
	struct msgq_info mine;
	pid_t pid;

	(void)state;
	assert_true(id >= 0 && gone >= 0);
	assert_int_equal(msgctl(gone, IPC_RMID, NULL), 0);
	assert_int_equal(msgq_stat(id, &mine), 0);
	pid = testutil_fork();
	if (pid == 0) {
		struct msqid_ds ds;
		struct msgq_info seen;

		testutil_become(65534);
		if (msgctl(id, IPC_STAT, &ds) == 0 || errno != EACCES)
			_exit(3); /* the case to test: IPC_STAT refused */
		if (msgq_stat(id, &seen) != 0)
			_exit(4);
		/* what /proc and MSG_STAT_ANY show: all but qbytes */
		if (seen.msqid != mine.msqid || seen.key != mine.key || seen.mode != mine.mode ||
		    seen.uid != mine.uid || seen.cuid != mine.cuid || seen.ctime != mine.ctime)
			_exit(5);
		_exit(msgq_stat(gone, &seen) == -ENOENT ? 0 : 6);
	}
	status = testutil_wait_bounded(pid, 10);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	msgctl(id, IPC_RMID, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_proc_line),
		cmocka_unit_test(test_snapshot_changes_nothing),
		cmocka_unit_test(test_snapshot_bounded),
		cmocka_unit_test(test_each_stat_change),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_orphan_rule),
		cmocka_unit_test(test_render_against_ipcs),
		cmocka_unit_test(test_stat_without_permission),
	};

	testutil_watchdog(60);
	testutil_isolate(false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
