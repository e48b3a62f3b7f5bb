/* test_views.c - the sem/ and msg/ views and the orphan verdicts through a
 * real mount, with the kernel as the oracle (ipcs -s -i, ipcs -q -i,
 * /proc/sysvipc/msg, semctl and msgrcv by the test itself), programs
 * nobody here wrote (php, perl, python3 sysv_ipc) as the other side, and
 * uid 65534 as a hostile user of a root allow_other mount. */
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
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "semun.h"
#include "testutil.h"

#define WATCHDOG_S 120
#define NOBODY	   "setpriv --reuid=65534 --regid=65534 --clear-groups"

static const char *shmfs_path;
static const char *examples_dir;  /* the source examples/ */
static const char *double_buffer; /* examples/double-buffer.c, built */
static struct test_mount mnt;

#define M mnt.dir

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", NULL };

	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	return mount_stop_clean(&mnt);
}

static char *path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, size, "%s/", M);

	va_start(ap, fmt);
	vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	return buf;
}

/* A write of text to a file of the mount (opened with flags): 0 or the
 * errno. */
static int write_file_flags(const char *file, int flags, const char *text)
{
	int fd = open(file, flags), err = 0;

	if (fd < 0)
		return errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		err = errno;
	close(fd);
	return err;
}

static int write_file(const char *file, const char *text)
{
	return write_file_flags(file, O_WRONLY, text);
}

static int read_int(const char *file)
{
	char buf[32] = "";
	int fd = open(file, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return n > 0 ? atoi(buf) : -1000;
}

static void test_sem_view(void **state)
{
	int id = semget(0x5e0001, 3, IPC_CREAT | IPC_EXCL | 0640);
	union semun v = { .val = 4 };
	char p[256], out[8192], want[128];

	assert_true(id >= 0);
	assert_int_equal(semctl(id, 1, SETVAL, v), 0);
	/* listed, linked by key, one file per semaphore */
	assert_int_equal(run(out, sizeof(out), "ls %s/sem", M), 0);
	snprintf(want, sizeof(want), "%d\n", id);
	assert_non_null(strstr(out, want));
	assert_int_equal(run(out, sizeof(out), "readlink %s/sem/by-key/0x005e0001", M), 0);
	snprintf(want, sizeof(want), "../%d\n", id);
	assert_string_equal(out, want);
	assert_int_equal(run(out, sizeof(out), "ls %s/sem/%d", M, id), 0);
	assert_string_equal(out, "0\n1\n2\nstat\n");
	/* values: the kernel's */
	assert_int_equal(read_int(path(p, sizeof(p), "sem/%d/1", id)), 4);
	assert_int_equal(write_file(p, "+3\n"), 0);
	assert_int_equal(semctl(id, 1, GETVAL), 7);
	assert_int_equal(write_file(p, "-7"), 0);
	assert_int_equal(semctl(id, 1, GETVAL), 0);
	/* cannot go through now, and O_NONBLOCK: no wait (test_semwait.c waits) */
	assert_int_equal(write_file_flags(p, O_WRONLY | O_NONBLOCK, "-1\n"), EAGAIN);
	assert_int_equal(semctl(id, 1, GETVAL), 0);
	/* and was not left waiting: a +1 made later stays */
	assert_int_equal(semop(id, &(struct sembuf){ .sem_num = 1, .sem_op = 1 }, 1), 0);
	usleep(200000);
	assert_int_equal(semctl(id, 1, GETVAL), 1);
	assert_int_equal(semctl(id, 1, GETNCNT), 0);
	assert_int_equal(write_file(p, "-1"), 0);
	assert_int_equal(write_file(p, "32767"), 0);
	assert_int_equal(semctl(id, 1, GETVAL), 32767);
	assert_int_equal(write_file(p, "+1"), ERANGE);
	assert_int_equal(write_file(p, "32768"), ERANGE);
	assert_int_equal(write_file(p, "twelve"), EINVAL);
	assert_int_equal(write_file(p, "+0"), EINVAL);
	assert_int_equal(write_file(p, "2\n"), 0);
	assert_int_equal(run(out, sizeof(out), "echo -2 > %s", p), 0);
	assert_int_equal(semctl(id, 1, GETVAL), 0);
	assert_int_equal(semctl(id, 1, GETPID), mnt.pid); /* the daemon made the call */
	/* no such semaphore, no such set */
	assert_int_equal(access(path(p, sizeof(p), "sem/%d/3", id), F_OK), -1);
	assert_int_equal(access(path(p, sizeof(p), "sem/%d", id + 1), F_OK), -1);
	/* stat: every semaphore as ipcs -s -i shows it */
	assert_int_equal(run(out, sizeof(out), "cat %s/sem/%d/stat", M, id), 0);
	char ipcs[4096], line[160];

	assert_int_equal(run(ipcs, sizeof(ipcs), "ipcs -s -i %d", id), 0);
	for (const char *l = ipcs; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		int num, val, ncnt, zcnt, pid;

		if (sscanf(l, "%d %d %d %d %d", &num, &val, &ncnt, &zcnt, &pid) != 5)
			continue;
		snprintf(line, sizeof(line), "sem %d semval %d semncnt %d semzcnt %d sempid ", num,
			 val, ncnt, zcnt);
		assert_non_null(strstr(out, line));
	}
	assert_non_null(strstr(out, "perms 0640\n"));
	assert_non_null(strstr(out, "nsems 3\n"));
	assert_non_null(strstr(out, "key 0x005e0001\n"));
	/* chmod, chown of its directory: IPC_SET */
	assert_int_equal(
		run(out, sizeof(out), "chmod 600 %s/sem/%d && chown 65534 %s/sem/%d", M, id, M, id),
		0);
	assert_int_equal(run(out, sizeof(out), "ipcs -s -i %d | grep mode", id), 0);
	assert_non_null(strstr(out, "mode=0600"));
	struct semid_ds ds;

	v.buf = &ds;
	assert_int_equal(semctl(id, 0, IPC_STAT, v), 0);
	assert_int_equal(ds.sem_perm.uid, 65534);
	assert_int_equal(ds.sem_perm.mode & 0777, 0600);
	/* its files go with it, never alone; rmdir: IPC_RMID */
	assert_int_equal(unlink(path(p, sizeof(p), "sem/%d/0", id)), -1);
	assert_int_equal(errno, EPERM);
	assert_true(sem_exists(id));
	assert_int_equal(run(out, sizeof(out), "rmdir %s/sem/%d", M, id), 0);
	assert_false(sem_exists(id));
}

/* Processes blocked on a set, as root sees them; uid 65534 sees nothing
 * of a 0600 set of root's and not root's waiters on a 0644 one. */
static void test_sem_waiters_and_strangers(void **state)
{
	int priv = semget(IPC_PRIVATE, 1, 0600), open_set = semget(IPC_PRIVATE, 2, 0644);
	char out[8192], want[128];
	pid_t waiter;

	assert_true(priv >= 0 && open_set >= 0);
	waiter = testutil_fork();
	if (waiter == 0) {
		struct sembuf op = { 1, -1, 0 };

		semop(open_set, &op, 1);
		_exit(0);
	}
	while (semctl(open_set, 1, GETNCNT) != 1)
		usleep(1000);
	assert_int_equal(run(out, sizeof(out), "cat %s/sem/%d/stat", M, open_set), 0);
	snprintf(want, sizeof(want), "waiter %d tid %d uid 0 comm test_views call sem", waiter,
		 waiter);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "sem 1 semval 0 semncnt 1 semzcnt 0"));
	assert_non_null(strstr(out, "orphan no\n"));
	/* the stranger: the open set's values yes, root's waiter no */
	assert_int_equal(run(out, sizeof(out), NOBODY " cat %s/sem/%d/stat", M, open_set), 0);
	assert_non_null(strstr(out, "sem 1 semval 0 semncnt 1 semzcnt 0"));
	assert_null(strstr(out, "waiter"));
	/* the private set: nothing of it */
	assert_int_equal(run(out, sizeof(out), NOBODY " cat %s/sem/%d/stat", M, priv), 1);
	assert_non_null(strstr(out, "Permission denied"));
	assert_int_equal(run(out, sizeof(out), NOBODY " cat %s/sem/%d/0", M, priv), 1);
	assert_non_null(strstr(out, "Permission denied"));
	assert_int_not_equal(
		run(out, sizeof(out), NOBODY " sh -c \"echo 5 > %s/sem/%d/0\"", M, priv), 0);
	assert_int_equal(semctl(priv, 0, GETVAL), 0);
	/* a stranger may not alter the open set, chmod it, or remove it */
	assert_int_not_equal(
		run(out, sizeof(out), NOBODY " sh -c \"echo +1 > %s/sem/%d/1\"", M, open_set), 0);
	assert_int_equal(run(out, sizeof(out), NOBODY " chmod 666 %s/sem/%d", M, open_set), 1);
	assert_non_null(strstr(out, "not permitted"));
	assert_int_equal(run(out, sizeof(out), NOBODY " rmdir %s/sem/%d", M, open_set), 1);
	assert_true(sem_exists(open_set));
	/* +1 through the mount releases the waiter */
	assert_int_equal(run(out, sizeof(out), "echo +1 > %s/sem/%d/1", M, open_set), 0);
	assert_int_equal(testutil_wait_bounded(waiter, 10), 0);
	semctl(priv, 0, IPC_RMID);
	semctl(open_set, 0, IPC_RMID);
}

static void send(int id, long type, const char *text, size_t len)
{
	struct {
		long type;
		char text[256];
	} m = { .type = type };

	memcpy(m.text, text, len);
	assert_int_equal(msgsnd(id, &m, len, IPC_NOWAIT), 0);
}

static void write_sysctl(const char *name, int value)
{
	char file[128], text[32];
	int fd, n;

	snprintf(file, sizeof(file), "/proc/sys/kernel/%s", name);
	n = snprintf(text, sizeof(text), "%d\n", value);
	fd = open(file, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, (size_t)n), n);
	close(fd);
}

/* A file kept open on a set (a queue) whose number another object took
 * (kernel.sem_next_id, msg_next_id, as a user looping on semget gets it)
 * never reaches the new one: ESTALE, and the new set is untouched.  The
 * new ones have the same creator and size and another key. */
static void test_reused_number(void **state)
{
	int set = semget(0x5e0005, 1, IPC_CREAT | IPC_EXCL | 0600), again;
	int q = msgget(0x3e0005, IPC_CREAT | IPC_EXCL | 0600), qagain;
	char p[256];
	struct stat st;
	int fd, qfd;

	assert_true(set >= 0 && q >= 0);
	send(q, 1, "old", 3);
	fd = open(path(p, sizeof(p), "sem/%d/0", set), O_RDWR);
	assert_true(fd >= 0);
	qfd = open(path(p, sizeof(p), "msg/%d/stat", q), O_RDONLY);
	assert_true(qfd >= 0);
	assert_int_equal(semctl(set, 0, IPC_RMID), 0);
	assert_int_equal(msgctl(q, IPC_RMID, NULL), 0);
	/* gone, nothing has the number: ENOENT */
	assert_int_equal(write(fd, "+1", 2), -1);
	assert_int_equal(errno, ENOENT);
	write_sysctl("sem_next_id", set);
	write_sysctl("msg_next_id", q);
	again = semget(0x5e0006, 1, IPC_CREAT | IPC_EXCL | 0600);
	qagain = msgget(0x3e0006, IPC_CREAT | IPC_EXCL | 0600);
	assert_int_equal(again, set);
	assert_int_equal(qagain, q);
	send(qagain, 2, "new", 3);
	assert_int_equal(write(fd, "+1", 2), -1);
	assert_int_equal(errno, ESTALE);
	assert_int_equal(write(fd, "5", 1), -1);
	assert_int_equal(errno, ESTALE);
	assert_int_equal(semctl(again, 0, GETVAL), 0);
	assert_int_equal(fstat(fd, &st), -1);
	assert_int_equal(errno, ESTALE);
	assert_int_equal(fstat(qfd, &st), -1);
	assert_int_equal(errno, ESTALE);
	/* a new lookup by the path finds the new ones */
	assert_int_equal(write_file(path(p, sizeof(p), "sem/%d/0", set), "+1"), 0);
	assert_int_equal(semctl(again, 0, GETVAL), 1);
	close(fd);
	close(qfd);
	semctl(again, 0, IPC_RMID);
	msgctl(qagain, IPC_RMID, NULL);
}

/* What a set shows of its last users: sempid of each semaphore, otime and
 * ctime (and /proc/sysvipc/sem, which has them but sempid). */
static void set_trace(int id, int nsems, char *buf, size_t size)
{
	struct semid_ds ds;
	union semun v = { .buf = &ds };
	int n;

	assert_int_equal(semctl(id, 0, IPC_STAT, v), 0);
	n = snprintf(buf, size, "otime %lld ctime %lld pids", (long long)ds.sem_otime,
		     (long long)ds.sem_ctime);
	for (int i = 0; i < nsems; i++)
		n += snprintf(buf + n, size - (size_t)n, " %d", semctl(id, i, GETPID));
	assert_int_equal(run(buf + n, size - (size_t)n, "cat /proc/sysvipc/sem /proc/sysvipc/msg"),
			 0);
}

/* Looking changes nothing: a set's sempid, otime and ctime and a queue's
 * lrpid, rtime, qnum stay as its users left them however the mount is
 * read (listings, stat, every value, by-key links, an open for writing
 * that writes nothing), by its owner or by a stranger. */
static void test_looking_changes_nothing(void **state)
{
	int set = semget(0x5e0002, 3, IPC_CREAT | IPC_EXCL | 0644);
	int q = msgget(0x3e0002, IPC_CREAT | IPC_EXCL | 0644);
	char before[8192], after[8192], out[16384];
	int status;
	pid_t child;

	assert_true(set >= 0 && q >= 0);
	send(q, 3, "three", 5);
	send(q, 4, "four", 4);
	child = testutil_fork();
	if (child == 0) {
		struct sembuf ops[2] = { { 0, 2, 0 }, { 2, 1, 0 } };
		struct {
			long type;
			char c[8];
		} m;

		_exit(semop(set, ops, 2) == 0 && msgrcv(q, &m, sizeof(m.c), 3, IPC_NOWAIT) == 5
			      ? 0
			      : 1);
	}
	assert_int_equal(testutil_wait_bounded(child, 10), 0);
	send(q, 5, "five", 4);
	sleep(1); /* a change of otime or rtime by a reader would show */
	set_trace(set, 3, before, sizeof(before));
	for (int i = 0; i < 2; i++) {
		const char *who = i ? NOBODY " " : "";

		assert_int_equal(run(out, sizeof(out),
				     "%sls -lR %s/sem %s/msg > /dev/null && "
				     "%scat %s/sem/%d/stat %s/sem/%d/0 %s/sem/%d/1 %s/sem/%d/2 "
				     "%s/sem/by-key/0x005e0002/stat %s/msg/%d/stat > /dev/null",
				     who, M, M, who, M, set, M, set, M, set, M, set, M, M, q),
				 0);
		/* an open for reading and writing, closed unwritten */
		status = run(out, sizeof(out), "%ssh -c \": 1<> %s/sem/%d/1\"", who, M, set);
		if (i ? status == 0 || !strstr(out, "Permission denied") : status != 0)
			fail_msg("%s open O_RDWR: %d: %s", i ? "the stranger's" : "the owner's",
				 status, out);
	}
	/* the owner may read the messages (0644: the stranger may not write,
	 * and a message is read by whoever may msgrcv it: read permission) */
	assert_int_equal(run(out, sizeof(out), "cat %s/msg/%d/0 %s/msg/%d/1", M, q, M, q), 0);
	assert_string_equal(out, "fourfive");
	assert_int_equal(run(out, sizeof(out), NOBODY " cat %s/msg/%d/1", M, q), 0);
	assert_string_equal(out, "five");
	set_trace(set, 3, after, sizeof(after));
	assert_string_equal(after, before);
	semctl(set, 0, IPC_RMID);
	msgctl(q, IPC_RMID, NULL);
}

/* Reading a queue through the mount removes, reorders and changes
 * nothing: /proc/sysvipc/msg byte-identical around ls -lR and reading
 * every message; then msgrcv gets every message, in order. */
static void test_msg_view(void **state)
{
	int id = msgget(0x3e0001, IPC_CREAT | IPC_EXCL | 0640), priv = msgget(IPC_PRIVATE, 0600);
	char before[4096], after[4096], out[8192], want[256], p[256];

	assert_true(id >= 0 && priv >= 0);
	send(id, 5, "hello", 5);
	send(id, 7, "\0\1binary\377", 9);
	send(id, 5, "", 0);
	send(priv, 1, "secret", 6);
	assert_int_equal(run(before, sizeof(before), "cat /proc/sysvipc/msg"), 0);
	assert_int_equal(run(out, sizeof(out),
			     "ls -lR %s > /dev/null && cat %s/msg/%d/* %s/msg/%d/* "
			     "> /dev/null",
			     M, M, id, M, priv),
			 0);
	assert_int_equal(run(out, sizeof(out), "cat %s/msg/%d/stat", M, id), 0);
	assert_int_equal(run(after, sizeof(after), "cat /proc/sysvipc/msg"), 0);
	assert_string_equal(after, before);
	assert_non_null(strstr(out, "qnum 3\n"));
	assert_non_null(strstr(out, "cbytes 14\n"));
	assert_non_null(strstr(out, "messages copied\n"));
	assert_non_null(strstr(out, "snapshot consistent\n"));
	assert_non_null(strstr(out, "message 0 mtype 5 size 5\n"
				    "message 1 mtype 7 size 9\n"
				    "message 2 mtype 5 size 0\n"));
	/* ipcs -q -i agrees */
	unsigned long long cbytes = 0, qbytes = 0, qnum = 0;
	char ipcs[2048];

	assert_int_equal(run(ipcs, sizeof(ipcs), "ipcs -q -i %d", id), 0);
	const char *c = strstr(ipcs, "cbytes=");

	assert_non_null(c);
	assert_int_equal(sscanf(c, "cbytes=%llu qbytes=%llu qnum=%llu", &cbytes, &qbytes, &qnum),
			 3);
	snprintf(want, sizeof(want), "cbytes %llu\nqnum %llu\nqbytes %llu\n", cbytes, qnum, qbytes);
	assert_non_null(strstr(out, want));
	/* each message's bytes, and its size as ls shows it */
	assert_int_equal(run(out, sizeof(out), "od -An -c %s/msg/%d/1", M, id), 0);
	assert_non_null(strstr(out, "\\0 001   b   i   n   a   r   y 377"));
	struct stat st;

	assert_int_equal(stat(path(p, sizeof(p), "msg/%d/1", id), &st), 0);
	assert_int_equal(st.st_size, 9);
	assert_int_equal(run(out, sizeof(out), "ls %s/msg/%d", M, id), 0);
	assert_string_equal(out, "0\n1\n2\nstat\n");
	/* the stranger: another user's 0600 queue stays closed; the 0640 too */
	assert_int_equal(run(out, sizeof(out), NOBODY " cat %s/msg/%d/stat", M, priv), 1);
	assert_int_equal(run(out, sizeof(out), NOBODY " cat %s/msg/%d/0", M, priv), 1);
	assert_null(strstr(out, "secret"));
	assert_int_equal(run(out, sizeof(out), NOBODY " cat %s/msg/%d/0", M, id), 1);
	/* not even its names: the directory is entered and listed by readers */
	assert_int_not_equal(run(out, sizeof(out), NOBODY " stat -c %%s %s/msg/%d/1", M, id), 0);
	assert_int_not_equal(run(out, sizeof(out), NOBODY " ls %s/msg/%d", M, id), 0);
	assert_non_null(strstr(out, "Permission denied"));
	assert_int_equal(run(after, sizeof(after), "cat /proc/sysvipc/msg"), 0);
	assert_string_equal(after, before);
	/* the receiver gets all, in the order sent */
	static const long types[] = { 5, 7, 5 };
	static const ssize_t sizes[] = { 5, 9, 0 };

	for (int i = 0; i < 3; i++) {
		struct {
			long type;
			char text[64];
		} m;

		assert_int_equal(msgrcv(id, &m, sizeof(m.text), 0, IPC_NOWAIT), sizes[i]);
		assert_int_equal(m.type, types[i]);
	}
	/* by key, chmod, rmdir */
	assert_int_equal(run(out, sizeof(out), "readlink %s/msg/by-key/0x003e0001", M), 0);
	snprintf(want, sizeof(want), "../%d\n", id);
	assert_string_equal(out, want);
	assert_int_equal(
		run(out, sizeof(out), "chmod 604 %s/msg/%d && rmdir %s/msg/%d", M, priv, M, id), 0);
	struct msqid_ds ds;

	assert_int_equal(msgctl(priv, IPC_STAT, &ds), 0);
	assert_int_equal(ds.msg_perm.mode & 0777, 0604);
	assert_int_equal(msgctl(id, IPC_STAT, &ds), -1);
	msgctl(priv, IPC_RMID, NULL);
}

/* grep -l ^orphan yes lists a segment whose creator ended, not one whose
 * creator runs, is attached, or is marked for destruction. */
static void test_orphans(void **state)
{
	int mine = shmget(IPC_PRIVATE, 4096, 0600), theirs = -1, ready[2];
	char out[4096], want[256];
	pid_t child;

	assert_true(mine >= 0);
	assert_int_equal(pipe(ready), 0);
	child = testutil_fork();
	if (child == 0) {
		int a = shmget(IPC_PRIVATE, 4096, 0600);

		_exit(write(ready[1], &a, sizeof(a)) == sizeof(a) ? 0 : 1);
	}
	assert_int_equal(read(ready[0], &theirs, sizeof(theirs)), sizeof(theirs));
	waitpid(child, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	assert_int_equal(run(out, sizeof(out), "cd %s && grep -l \"^orphan yes\" *.stat", M), 0);
	snprintf(want, sizeof(want), "%d.stat\n", theirs);
	assert_string_equal(out, want);
	assert_int_equal(run(out, sizeof(out), "grep ^creator_alive %s/%d.stat %s/%d.stat", M, mine,
			     M, theirs),
			 0);
	assert_non_null(strstr(out, "creator_alive yes"));
	assert_non_null(strstr(out, "creator_alive no"));
	void *p = shmat(theirs, NULL, SHM_RDONLY);

	assert_true(p != (void *)-1);
	assert_int_equal(run(out, sizeof(out), "cd %s && grep -l \"^orphan yes\" *.stat", M), 1);
	shmdt(p);
	shmctl(theirs, IPC_RMID, NULL);
	shmctl(mine, IPC_RMID, NULL);
}

/* A set whose last user ended is an orphan; a queue too, unless someone
 * waits on it. */
static void test_set_and_queue_orphans(void **state)
{
	int set = semget(IPC_PRIVATE, 1, 0600), q = msgget(IPC_PRIVATE, 0600);
	char out[8192];
	pid_t child = testutil_fork();

	if (child == 0) {
		struct sembuf op = { 0, 1, 0 };
		struct {
			long type;
			char c;
		} m = { 1, 'x' };

		_exit(semop(set, &op, 1) == 0 && msgsnd(q, &m, 1, 0) == 0 ? 0 : 1);
	}
	assert_int_equal(testutil_wait_bounded(child, 10), 0);
	assert_int_equal(run(out, sizeof(out), "cat %s/sem/%d/stat %s/msg/%d/stat", M, set, M, q),
			 0);
	assert_non_null(strstr(out, "sem 0 semval 1 semncnt 0 semzcnt 0"));
	assert_non_null(strstr(out, "alive no\n"));
	assert_non_null(strstr(out, "lspid_alive no\n"));
	assert_int_equal(run(out, sizeof(out),
			     "grep -l \"^orphan yes\" %s/sem/%d/stat %s/msg/%d/stat", M, set, M, q),
			 0);
	/* a receiver waits for the next message: not an orphan */
	msgrcv(q, &(struct {
		       long t;
		       char c;
	       }){ 0 },
	       1, 0, IPC_NOWAIT);
	pid_t receiver = testutil_fork();

	if (receiver == 0) {
		struct {
			long t;
			char c[8];
		} m;

		msgrcv(q, &m, sizeof(m.c), 0, 0);
		_exit(0);
	}
	for (int i = 0; i < 1000; i++) {
		run(out, sizeof(out), "cat %s/msg/%d/stat", M, q);
		if (strstr(out, "call msgrcv"))
			break;
		usleep(10000);
	}
	assert_non_null(strstr(out, "orphan no\n"));
	testutil_kill(receiver);
	semctl(set, 0, IPC_RMID);
	msgctl(q, IPC_RMID, NULL);
}

/* Programs nobody here wrote make the objects; the mount shows what they
 * did, and their own reading agrees. */
static void test_foreign_programs(void **state)
{
	char out[8192];
	int status;

	/* python3's sysv_ipc: a set of 1 with value 3, a queue with a message */
	status = run(out, sizeof(out),
		     "/usr/bin/python3 -c \""
		     "import sysv_ipc\n"
		     "s = sysv_ipc.Semaphore(0x7e0001, sysv_ipc.IPC_CREX, 0o600, 3)\n"
		     "q = sysv_ipc.MessageQueue(0x7e0002, sysv_ipc.IPC_CREX, 0o600)\n"
		     "q.send(b\\\"from python\\\", type=9)\n"
		     "\" && cat %s/sem/by-key/0x007e0001/0 && cat %s/msg/by-key/0x007e0002/0 && "
		     "echo && grep \"^message [0-9]\" %s/msg/by-key/0x007e0002/stat",
		     M, M, M);
	if (status != 0)
		fail_msg("python: %d: %s", status, out);
	assert_string_equal(out, "3\nfrom python\nmessage 0 mtype 9 size 11\n");
	/* written through the mount, read by python */
	status = run(out, sizeof(out),
		     "echo -2 > %s/sem/by-key/0x007e0001/0 && /usr/bin/python3 -c \""
		     "import sysv_ipc\n"
		     "print(sysv_ipc.Semaphore(0x7e0001).value)\n"
		     "m = sysv_ipc.MessageQueue(0x7e0002)\n"
		     "print(m.current_messages, m.receive()[0].decode())\n"
		     "\"",
		     M);
	assert_int_equal(status, 0);
	assert_string_equal(out, "1\n1 from python\n");
	/* Perl's IPC::Semaphore and IPC::Msg */
	status = run(
		out, sizeof(out),
		"perl -MIPC::SysV=IPC_CREAT,IPC_EXCL,S_IRUSR,S_IWUSR -MIPC::Semaphore -MIPC::Msg "
		"-e \"my \\$s = IPC::Semaphore->new(0x7e0003, 2, S_IRUSR|S_IWUSR|IPC_CREAT) or "
		"die; \\$s->setall(5, 6); my \\$q = IPC::Msg->new(0x7e0004, "
		"S_IRUSR|S_IWUSR|IPC_CREAT) or die; \\$q->snd(4, q(perl)) or die;\" && "
		"cat %s/sem/by-key/0x007e0003/0 %s/sem/by-key/0x007e0003/1 "
		"%s/msg/by-key/0x007e0004/0 && echo +1 > %s/sem/by-key/0x007e0003/1 && "
		"perl -MIPC::Semaphore -e \"print IPC::Semaphore->new(0x7e0003, 0, 0)->getval(1), "
		"qq(\\n)\"",
		M, M, M, M);
	assert_int_equal(status, 0);
	assert_string_equal(out, "5\n6\nperl7\n");
	/* PHP's sysvsem and sysvmsg (not on every machine: .ci/packages) */
	if (run(NULL, 0, "php -m | grep -q sysvmsg") != 0) {
		assert_false(testutil_in_ci());
		printf("php with sysvmsg missing: its part skipped\n");
		return;
	}
	status = run(out, sizeof(out),
		     "php -r \"\\$q = msg_get_queue(0x7e0005, 0600); msg_send(\\$q, 3, "
		     "chr(80).chr(72).chr(80), false); \\$s = sem_get(0x7e0006, 1, 0600); "
		     "sem_acquire(\\$s);\" ; cat %s/msg/by-key/0x007e0005/0 && echo && "
		     "grep \"^message [0-9]\" %s/msg/by-key/0x007e0005/stat",
		     M, M);
	assert_int_equal(status, 0);
	assert_string_equal(out, "PHP\nmessage 0 mtype 3 size 3\n");
	run(NULL, 0,
	    "ipcrm -S 0x7e0001 -Q 0x7e0002 -S 0x7e0003 -Q 0x7e0004 -Q 0x7e0005 -S 0x7e0006");
}

/* examples/: the shell producer through the mount, its P a -1 that
 * waits in shmfs (always: the consumer's -w); the C consumer with semop,
 * then with -1 and +1 written to the same files (the script's +1 to a
 * file on which the consumer's -1 waits, and the other way round): every
 * buffer arrives, in order, none skipped or read twice.  Planted: the
 * script's P written with > (it did not wait: EAGAIN, the script
 * failed). */
static void test_double_buffer(void **state)
{
	char out[8192], want[8192] = "";
	int n = 0;

	for (int i = 0; i < 20; i++)
		n += snprintf(want + n, sizeof(want) - (size_t)n, "buffer %d from the shell\n", i);
	for (int through_mount = 0; through_mount < 2; through_mount++) {
		int key = through_mount ? 0x7e00dc : 0x7e00db;

		assert_int_equal(
			run(out, sizeof(out),
			    "%s -w %#x 20 %s > /tmp/double-buffer.$$ & "
			    "until [ -s /tmp/double-buffer.$$ ]; do sleep 0.01; done; "
			    "sh %s/double-buffer.sh %s %#x 20 || kill $!; wait $! && "
			    "tail -n +2 /tmp/double-buffer.$$; rm -f /tmp/double-buffer.$$",
			    double_buffer, key, through_mount ? M : "", examples_dir, M, key),
			0);
		assert_string_equal(out, want);
	}
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sem_view),
		cmocka_unit_test(test_sem_waiters_and_strangers),
		cmocka_unit_test(test_msg_view),
		cmocka_unit_test(test_looking_changes_nothing),
		cmocka_unit_test(test_reused_number),
		cmocka_unit_test(test_orphans),
		cmocka_unit_test(test_set_and_queue_orphans),
		cmocka_unit_test(test_foreign_programs),
		cmocka_unit_test(test_double_buffer),
	};

	if (argc != 4) {
		fprintf(stderr, "usage: %s SHMFS EXAMPLES-DIR DOUBLE-BUFFER\n", argv[0]);
		return 2;
	}
	shmfs_path = argv[1];
	examples_dir = argv[2];
	double_buffer = argv[3];
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
