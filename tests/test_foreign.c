/* test_foreign.c - the false-adoption corpus of issue 20: real programs
 * that keep a semaphore set under their segment's key, run beside a
 * mount in private IPC and mount namespaces, one table row each.
 *
 * For each row the program starts, then a file of its segment is opened
 * through the mount and the sidecar says which lock shmfs took: the row
 * prints "left alone" (shmfs's private lock) or "locked with SEMID" (the
 * key's set), and it must be what the row expects:
 *   - a foreign program's set (PHP's sysvsem beside sysvshm or shmop, a C
 *     program's mutex/count/flag in the states 1 0 0, 1 0 1, 1 1 0 and
 *     1 1 1, a Perl program on IPC::SysV directly) is left alone, and
 *     cat and echo through the mount never wake its waiters, never change
 *     its values and never semop on it (sempid), and writes never wait;
 *   - every IPC::ShareLite and IPC::Shareable share, and each
 *     continuation of a ShareLite value three segments long, is locked
 *     with the share's set, and thousands of reads through the mount
 *     against the share's writer see no torn value.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

static const char *shmfs_path, *apps, *trio_path;
static struct test_mount mnt;
#define M (mnt.dir)

/* Reads through the mount of a share against its writer. */
#define TORN_READS 3000

enum row_kind {
	FOREIGN,      /* a program's own set: left alone, nothing disturbed */
	SHARE,	      /* a share: locked with its set, no torn read */
	CONTINUATION, /* a ShareLite continuation: locked with the first's set */
};

struct row {
	const char *program;
	const char *state; /* what its set reads while it idles */
	enum row_kind kind;
	int key;
	const char *command; /* sh -c; %1$s apps, %2$s trio, %3$#x key */
	const char *needs;   /* a command that must succeed, or NULL */
	int hop;	     /* CONTINUATION: which one (1, 2) */
};

#define ROW(prog, st, k, key_, cmd, ...)                                                           \
	{                                                                                          \
		.program = prog, .state = st, .kind = k, .key = key_, .command = cmd, __VA_ARGS__  \
	}

static const struct row rows[] = {
	ROW("PHP sysvsem + sysvshm", "1 1 0", FOREIGN, 0,
	    "exec php %1$s/php_worker.php sysvshm %1$s/php_worker.php",
	    .needs = "php -m | grep -q sysvshm"),
	ROW("PHP sysvsem + shmop", "1 1 0", FOREIGN, 0,
	    "exec php %1$s/php_worker.php shmop %1$s/sysv_direct.pl",
	    .needs = "php -m | grep -q shmop"),
	ROW("C mutex/count/flag", "1 0 0", FOREIGN, 0x7f030100, "exec %2$s %3$#x 1 0 0"),
	ROW("C mutex/count/flag", "1 0 1", FOREIGN, 0x7f030101, "exec %2$s %3$#x 1 0 1"),
	ROW("C mutex/count/flag", "1 1 0", FOREIGN, 0x7f030110, "exec %2$s %3$#x 1 1 0"),
	ROW("C mutex/count/flag", "1 1 1", FOREIGN, 0x7f030111, "exec %2$s %3$#x 1 1 1"),
	ROW("Perl IPC::SysV", "1 0 0", FOREIGN, 0x7f030200, "exec perl %1$s/sysv_direct.pl %3$#x"),
	ROW("IPC::ShareLite", "share", SHARE, 0x7f030300,
	    "exec perl %1$s/share_writer.pl lite %3$#x 4096"),
	ROW("IPC::ShareLite", "cont 1", CONTINUATION, 0x7f030400,
	    "exec perl %1$s/share_writer.pl chain %3$#x 4096", .hop = 1),
	ROW("IPC::ShareLite", "cont 2", CONTINUATION, 0x7f030500,
	    "exec perl %1$s/share_writer.pl chain %3$#x 4096", .hop = 2),
	ROW("IPC::Shareable", "share", SHARE, 0x7f030600,
	    "exec perl %1$s/share_writer.pl shareable %3$#x 4096"),
};

/* ---- the program of a row ---------------------------------------------- */

struct program {
	pid_t pid; /* leader of its own process group */
	int out;   /* its standard output */
	char first[128];
};

/* Start command in a process group of its own; wait (bounded) for its
 * line starting with "ready". */
static void program_start(struct program *p, const char *command)
{
	int fds[2];
	size_t len = 0;

	assert_int_equal(pipe(fds), 0);
	p->pid = testutil_fork();
	if (p->pid == 0) {
		setpgid(0, 0);
		dup2(fds[1], 1);
		close(fds[0]);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	setpgid(p->pid, p->pid);
	close(fds[1]);
	p->out = fds[0];
	while (len < sizeof(p->first) - 1) {
		struct pollfd pfd = { .fd = p->out, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 30000) != 1)
			fail_msg("%s: no \"ready\" within 30 s", command);
		n = read(p->out, p->first + len, 1);
		if (n != 1)
			fail_msg("%s: ended before \"ready\"", command);
		if (p->first[len] == '\n') {
			p->first[len] = '\0';
			break;
		}
		len++;
	}
	assert_int_equal(strncmp(p->first, "ready", 5), 0);
}

/* What the program printed since "ready" (its waiters' "woke" lines). */
static void program_said(struct program *p, char *buf, size_t size)
{
	size_t len = 0;
	struct pollfd pfd = { .fd = p->out, .events = POLLIN };

	while (len < size - 1 && poll(&pfd, 1, 0) == 1) {
		ssize_t n = read(p->out, buf + len, size - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
}

static void program_stop(struct program *p)
{
	if (p->pid > 0) {
		kill(-p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = -1;
	}
	if (p->out >= 0)
		close(p->out);
	p->out = -1;
}

/* ---- what the kernel shows of a set ------------------------------------ */

struct set_view {
	unsigned short val[3];
	int pid[3]; /* sempid: who last did a semop on each */
};

static void view_set(int semid, struct set_view *v)
{
	assert_int_equal(semctl(semid, 0, GETALL, v->val), 0);
	for (int i = 0; i < 3; i++)
		v->pid[i] = semctl(semid, i, GETPID);
}

/* The shmid of hop (0: the segment of key; n: the n-th continuation of
 * the ShareLite share whose first segment has key), from the headers. */
static int chain_shmid(int key, int hop)
{
	int shmid = shmget(key, 0, 0);

	for (int i = 0; i < hop; i++) {
		int32_t next;
		void *addr = shmat(shmid, NULL, SHM_RDONLY);

		assert_true(addr != (void *)-1);
		memcpy(&next, addr, sizeof(next));
		shmdt(addr);
		shmid = next;
	}
	assert_true(shmid >= 0);
	return shmid;
}

/* The sidecar's lock_semid while fd (a file of shmid) is open. */
static int locked_with(int shmid)
{
	return sidecar_semid(M, shmid);
}

/* A read of a share's bytes mixes two stores: two letters in it. */
static bool torn(const unsigned char *buf, size_t len, size_t skip)
{
	unsigned char seen = 0;

	for (size_t i = skip; i < len; i++) {
		if (buf[i] < 'a' || buf[i] > 'z')
			continue;
		if (seen && buf[i] != seen)
			return true;
		seen = buf[i];
	}
	return false;
}

/* ---- the rows ----------------------------------------------------------- */

/* Each check prints its row's verdict and returns whether it is the one
 * expected, so that one run shows every row. */
static bool check_foreign(const struct row *r, struct program *p, int key)
{
	int shmid = shmget(key, 0, 0), semid = semget(key, 0, 0), lock, fd, failed = 0;
	struct set_view before, after;
	char path[128], said[256], buf[4096];

	assert_true(shmid >= 0 && semid >= 0);
	view_set(semid, &before);
	snprintf(path, sizeof(path), "%s/%d", M, shmid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	lock = locked_with(shmid);
	/* what users do: cat and echo, by id and by key, and many reads; a
	 * cat or a write that waited for a lock it took for the program's
	 * fails with ETIMEDOUT after lock_timeout */
	for (int i = 0; i < 3; i++) {
		failed += run(NULL, 0, "cat %s > /dev/null && cat %s/by-key/0x%08x > /dev/null",
			      path, M, (unsigned)key) != 0;
		failed += run(buf, sizeof(buf), "printf poke | dd of=%s conv=notrunc 2>&1", path) !=
			  0;
	}
	for (int i = 0; i < 200; i++) {
		if (pread(fd, buf, sizeof(buf), 0) <= 0) {
			failed++;
			break; /* each waits lock_timeout */
		}
	}
	close(fd);
	view_set(semid, &after);
	program_said(p, said, sizeof(said));
	printf("foreign: %-24s %-6s %s", r->program, r->state,
	       lock >= 0 ? "locked with" : "left alone");
	if (lock >= 0)
		printf(" %d", lock);
	printf(" (%d failed; woken: %s; values %s; semop by shmfs %s)\n", failed,
	       said[0] ? "yes" : "no",
	       memcmp(after.val, before.val, sizeof(before.val)) ? "changed" : "kept",
	       memcmp(after.pid, before.pid, sizeof(before.pid)) ? "yes" : "no");
	return lock == SIDECAR_PRIVATE && failed == 0 && said[0] == '\0' &&
	       memcmp(after.val, before.val, sizeof(before.val)) == 0 &&
	       memcmp(after.pid, before.pid, sizeof(before.pid)) == 0;
}

static bool check_share(const struct row *r, int key)
{
	int shmid = chain_shmid(key, r->kind == CONTINUATION ? r->hop : 0);
	int semid = semget(key, 0, 0), lock, fd, torn_reads = 0;
	size_t skip = r->kind == SHARE && strstr(r->command, "shareable") ? 14 : 16;
	char path[128];
	unsigned char buf[4096];

	snprintf(path, sizeof(path), "%s/%d", M, shmid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	lock = locked_with(shmid);
	for (int i = 0; i < TORN_READS; i++) {
		ssize_t n = pread(fd, buf, sizeof(buf), 0);

		assert_int_equal(n, sizeof(buf));
		torn_reads += torn(buf, (size_t)n, skip);
	}
	close(fd);
	if (lock >= 0)
		printf("foreign: %-24s %-6s locked with %d (%d torn of %d reads)\n", r->program,
		       r->state, lock, torn_reads, TORN_READS);
	else
		printf("foreign: %-24s %-6s left alone (%d torn of %d reads)\n", r->program,
		       r->state, torn_reads, TORN_READS);
	return lock == semid && torn_reads == 0;
}

static void test_corpus(void **state)
{
	int wrong = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct program p = { .pid = -1, .out = -1 };
		char command[512];
		int key = r->key;

		if (r->needs && run(NULL, 0, "%s", r->needs) != 0) {
			if (testutil_in_ci())
				fail_msg("%s: '%s' fails (.ci/packages)", r->program, r->needs);
			printf("foreign: %-24s %-6s SKIP: %s fails\n", r->program, r->state,
			       r->needs);
			continue;
		}
		snprintf(command, sizeof(command), r->command, apps, trio_path, (unsigned)key);
		program_start(&p, command);
		if (key == 0) /* PHP: "ready 0xKEY" (ftok's) */
			key = (int)strtoul(p.first + strlen("ready "), NULL, 16);
		if (!(r->kind == FOREIGN ? check_foreign(r, &p, key) : check_share(r, key)))
			wrong++;
		program_stop(&p);
		assert_int_equal(run(NULL, 0, "ipcrm -a"), 0);
	}
	assert_int_equal(wrong, 0);
}

static int setup(void **state)
{
	static const char *const args[] = { "-o", "lock_timeout=2", NULL };

	(void)state;
	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	run(NULL, 0, "ipcrm -a");
	return mount_stop_clean(&mnt);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
	};

	if (argc != 4) {
		fprintf(stderr, "usage: %s SHMFS APPS-DIR TRIO\n", argv[0]);
		return 2;
	}
	shmfs_path = argv[1];
	apps = argv[2];
	trio_path = argv[3];
	testutil_isolate(true);
	testutil_watchdog(280);
	return testutil_run_group_tests(tests, setup, teardown);
}
