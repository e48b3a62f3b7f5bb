/* test_observer.c - shmfs is an invisible observer: the programs it shows,
 * which it did not write, see no difference when someone looks through the
 * mount (issue 10).
 *
 * The programs are real and know nothing of shmfs: python sysv_ipc
 * (tests/apps/sysv_ipc_mutex.py), IPC::ShareLite (sharelite_writer.pl), a
 * Perl program keeping counters in its own 3-semaphore set (counters.pl)
 * and a C producer/consumer handshake (handshake.c).  The kernel is the
 * oracle: /proc/sysvipc/{shm,sem,msg}, semctl, shmctl and ipcs.
 *
 * Every test runs against a fresh root mount with allow_other, in the
 * private IPC and mount namespace of this process, and its teardown kills
 * the processes it started, unmounts, restores kernel.sem and removes
 * every IPC object of the namespace, so a failed assertion leaves nothing
 * behind for the next test.  A watchdog (alarm) ends a hung run.  Nothing
 * here asserts a duration: waits are bounded loops on a state the kernel
 * reports.
 */
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
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "semun.h"
#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S   240
#define MAX_CHILDREN 16
#define NOBODY	     65534

static const char *shmfs_path;
static const char *apps;	   /* tests/apps, the outside programs */
static const char *handshake_path; /* the built tests/apps/handshake.c */
static struct test_mount mnt;
static char out[65536];
static char tmpdir[64];
static char saved_sem_limits[128]; /* kernel.sem, when a test changed it */

#define M mnt.dir

/* Run a shell command line that must succeed; its output stays in out,
 * and is shown when it fails. */
#define run_ok(...)                                                                                \
	do {                                                                                       \
		int rc_ = run(out, sizeof(out), __VA_ARGS__);                                      \
		if (rc_ != 0)                                                                      \
			fail_msg("exit status %d, output: %.2000s", rc_, out);                     \
	} while (0)

/* ---- processes ------------------------------------------------------------ */

static pid_t children[MAX_CHILDREN];

static void remember_child(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == 0) {
			children[i] = pid;
			return;
		}
	fail_msg("too many children");
}

static void forget_child(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* Start argv (no shell) with its standard output and error on a pipe
 * whose read end is returned in *from (if from is not NULL). */
static pid_t spawn(char *const argv[], int *from)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	if (from)
		*from = p[0];
	else
		close(p[0]);
	remember_child(pid);
	return pid;
}

/* Everything on from until end of file, into buf. */
static void drain(int from, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t got;

	while (n + 1 < size && (got = read(from, buf + n, size - 1 - n)) > 0)
		n += (size_t)got;
	buf[n] = '\0';
	close(from);
}

/* The exit status of a child started by spawn (-1 for a signal). */
static int finish(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	forget_child(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Run argv to its end; its output in buf; its exit status. */
static int run_argv(char *buf, size_t size, char *const argv[])
{
	int from;
	pid_t pid = spawn(argv, &from);

	drain(from, buf, size);
	return finish(pid);
}

/* A process that opens path (with flags) and keeps it open, as
 * `sleep 600 < path` does, until it is killed.  Returns once the file is
 * open. */
static pid_t hold_open(const char *path, int flags)
{
	int ready[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, flags);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0) {
			fprintf(stderr, "hold_open: %s: %s\n", path, strerror(errno));
			_exit(1);
		}
		dup2(fd, 0);
		if (write(ready[1], "1", 1) != 1)
			_exit(1);
		execlp("sleep", "sleep", "600", (char *)NULL);
		_exit(127);
	}
	close(ready[1]);
	remember_child(pid);
	assert_int_equal(read(ready[0], &c, 1), 1); /* no byte: the open failed */
	close(ready[0]);
	return pid;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	forget_child(pid);
}

/* ---- the kernel's view ---------------------------------------------------- */

static void read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* /proc/sysvipc/sem as it is once the daemon has handled the releases of
 * files closed just before (a FUSE release is asynchronous: close(2)
 * returns before the daemon sees it).  Waits, boundedly, for it to read as
 * expected; returns what it read last, for the caller to assert on. */
static const char *sem_table_settled(const char *expected, char *buf, size_t size)
{
	for (int i = 0; i < 500; i++) {
		read_text("/proc/sysvipc/sem", buf, size);
		if (strcmp(buf, expected) == 0)
			break;
		usleep(10000);
	}
	return buf;
}

/* The /proc/sysvipc/shm line of shmid id, split: nattch. */
static long proc_nattch(int id)
{
	char text[65536], *line;

	read_text("/proc/sysvipc/shm", text, sizeof(text));
	line = strchr(text, '\n');
	while (line && *++line) {
		int key, shmid, cpid, lpid;
		unsigned perms;
		unsigned long size, nattch;

		if (sscanf(line, "%d %d %o %lu %d %d %lu", &key, &shmid, &perms, &size, &cpid,
			   &lpid, &nattch) == 7 &&
		    shmid == id)
			return (long)nattch;
		line = strchr(line, '\n');
	}
	return -1;
}

static unsigned long kernel_nattch(int id)
{
	struct shmid_ds ds;

	assert_int_equal(shmctl(id, IPC_STAT, &ds), 0);
	return (unsigned long)ds.shm_nattch;
}

/* The /proc/sysvipc/sem line of semid id (values, otime and all), or "". */
static const char *sem_line(int semid, char *buf, size_t size)
{
	char text[65536], *line;

	read_text("/proc/sysvipc/sem", text, sizeof(text));
	buf[0] = '\0';
	line = strchr(text, '\n');
	while (line && *++line) {
		char *end = strchr(line, '\n');
		int key, id;

		if (sscanf(line, "%d %d", &key, &id) == 2 && id == semid) {
			size_t len = end ? (size_t)(end - line) : strlen(line);

			snprintf(buf, size, "%.*s", (int)len, line);
			break;
		}
		line = end;
	}
	return buf;
}

/* How many sets the namespace has. */
static int sem_count(void)
{
	char text[65536];
	int lines = 0;

	read_text("/proc/sysvipc/sem", text, sizeof(text));
	for (const char *p = text; (p = strchr(p, '\n')); p++)
		lines++;
	return lines - 1;
}

static void sem_values(int semid, int nsems, unsigned short *values)
{
	union semun arg = { .array = values };

	assert_true(nsems <= 8);
	assert_int_equal(semctl(semid, 0, GETALL, arg), 0);
}

static int sem_nsems(int semid)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	if (semctl(semid, 0, IPC_STAT, arg) != 0)
		return -1;
	return (int)ds.sem_nsems;
}

/* A set that lends shmfs its lock for key, as a program that follows
 * examples/shmlock.h leaves it: 5 semaphores, semaphore 0 at 1, 3 and 4
 * the shmfs mark. */
static int sharelite_set(key_t key, int mode)
{
	unsigned short marked[] = { 1, 0, 0, 0x5348, 0x464d };
	int id = semget(key, 5, IPC_CREAT | IPC_EXCL | mode);

	assert_true(id >= 0);
	assert_int_equal(semctl(id, 0, SETALL, (union semun){ .array = marked }), 0);
	return id;
}

/* The sidecar's lock_semid for segment id: a semid, -2 for the daemon's
 * private lock, or -1 for none. */
static int sidecar_lock_semid(int id)
{
	char text[4096], v[64];

	assert_int_equal(run(text, sizeof(text), "cat %s/%d.stat", M, id), 0);
	assert_non_null(sidecar_value(text, "lock_semid", v, sizeof(v)));
	if (strcmp(v, "private") == 0)
		return -2;
	if (v[0] < '0' || v[0] > '9')
		return -1;
	return atoi(v);
}

/* ---- setup and teardown --------------------------------------------------- */

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", "-o", "lock_timeout=2", NULL };
	char text[256];

	/* The namespace is empty at the start of every test. */
	read_text("/proc/sysvipc/sem", text, sizeof(text));
	if (strchr(text, '\n') && strchr(text, '\n')[1]) {
		fprintf(stderr, "semaphore sets before the test:\n%s", text);
		return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/shmfs-observer.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	chmod(tmpdir, 0755);
	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	int status = 0, ok = 0;

	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0)
			stop_child(children[i]);
	if (mnt.pid > 0) {
		status = mount_stop(&mnt);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "shmfs exited with status %d\n", status);
			ok = -1;
		}
	}
	if (saved_sem_limits[0]) {
		FILE *f = fopen("/proc/sys/kernel/sem", "w");

		if (f) {
			fputs(saved_sem_limits, f);
			fclose(f);
		}
		saved_sem_limits[0] = '\0';
	}
	run(NULL, 0, "ipcrm -a; rm -rf %s", tmpdir);
	return ok;
}

/* ---- 1. a program of its own habits --------------------------------------- */

/* One ftok key per segment, and the program's own sets under that key:
 * python sysv_ipc's Semaphore(key, IPC_CREX) beside SharedMemory(key), and
 * a C producer/consumer whose 2-semaphore set shares its segment's key.
 * (One key cannot name a 1- and a 2-semaphore set at once, so the two use
 * two ftok ids of one path.)  Reading the segments and their sidecars
 * first must leave those keys free, disturb no handshake, and the sets
 * must outlive shmfs. */
static void test_program_with_its_own_keyed_sets(void **state)
{
	char path[128], text[4096];
	int py_shmid, hs_shmid, py_semid, hs_semid, from;
	unsigned short v[2];
	pid_t consumer;

	snprintf(path, sizeof(path), "%s/ftok-anchor", tmpdir);
	run_ok("touch %s", path);
	key_t py_key = ftok(path, 'M'), hs_key = ftok(path, 'H');

	/* The segments exist; nobody has made a set yet. */
	run_ok("/usr/bin/python3 %s/sysv_ipc_mutex.py create %s", apps, path);
	py_shmid = atoi(out);
	run_ok("%s create %s", handshake_path, path);
	hs_shmid = atoi(out);

	/* Someone looks: the segments, by shmid and by key, and the sidecars. */
	run_ok("cat %s/%d %s/%d.stat %s/by-key/0x%08x %s/%d %s/%d.stat "
	       "%s/by-key/0x%08x > /dev/null",
	       M, py_shmid, M, py_shmid, M, (unsigned)py_key, M, hs_shmid, M, hs_shmid, M,
	       (unsigned)hs_key);

	/* sysv_ipc: Semaphore(key, IPC_CREX) finds the key free. */
	run_ok("/usr/bin/python3 %s/sysv_ipc_mutex.py lock %s", apps, path);
	py_semid = atoi(out);
	assert_int_equal(sem_nsems(py_semid), 1);

	/* The handshake: semget(K, 2, IPC_CREAT) gets a set of its own. */
	run_ok("%s sems %s", handshake_path, path);
	hs_semid = atoi(out);
	assert_int_equal(sem_nsems(hs_semid), 2);

	/* The consumer waits for "full"... */
	char *consume[] = { (char *)handshake_path, "consume", path, NULL };
	consumer = spawn(consume, &from);
	for (int i = 0; i < 1000 && semctl(hs_semid, 1, GETNCNT) != 1; i++)
		usleep(10000);
	assert_int_equal(semctl(hs_semid, 1, GETNCNT), 1);

	/* ... and reads through the mount do not wake it: it still waits
	 * (a woken waiter leaves the queue in the semop that woke it). */
	for (int i = 0; i < 3; i++)
		run_ok("cat %s/%d %s/%d.stat > /dev/null", M, hs_shmid, M, hs_shmid);
	assert_int_equal(semctl(hs_semid, 1, GETNCNT), 1);
	assert_int_equal(waitpid(consumer, NULL, WNOHANG), 0);
	sem_values(hs_semid, 2, v);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 0);

	/* The producer's item is what the consumer gets. */
	run_ok("%s produce %s \"item 1\"", handshake_path, path);
	drain(from, text, sizeof(text));
	assert_int_equal(finish(consumer), 0);
	assert_string_equal(text, "got item 1\n");

	/* An item posted and not yet consumed ("full" at 1) does not stop a
	 * write through the mount. */
	run_ok("%s produce %s \"item 2\"", handshake_path, path);
	sem_values(hs_semid, 2, v);
	assert_int_equal(v[1], 1);
	run_ok("printf \"poked\\\\000\" | dd of=%s/%d conv=notrunc status=none", M, hs_shmid);
	run_ok("%s consume %s", handshake_path, path);
	assert_string_equal(out, "got poked\n");

	/* The program's sets outlive shmfs: unmount, and they are there, as
	 * the programs left them. */
	assert_int_equal(mount_stop(&mnt), 0);
	assert_int_equal(semget(hs_key, 0, 0), hs_semid);
	assert_int_equal(sem_nsems(hs_semid), 2);
	sem_values(hs_semid, 2, v);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 0);
	run_ok("/usr/bin/python3 %s/sysv_ipc_mutex.py check %s", apps, path);
	snprintf(text, sizeof(text), "%d 1\n", py_semid);
	assert_string_equal(out, text);
}

/* ---- 2. looking creates nothing ------------------------------------------- */

/* ls -lR, stat and readlink of every name, cat of every sidecar: the
 * kernel's three tables read the same, byte for byte, before and after.
 * No column needs ignoring: none of this opens a segment's file, so
 * nothing attaches (lpid, atime, dtime, nattch stay), and no semop runs
 * (otime stays). */
static void test_looking_creates_nothing(void **state)
{
	static char shm_before[65536], sem_before[65536], msg_before[65536], after[65536];
	int ids[6], n = 0;
	void *p;

	ids[n++] = make_segment(0x2001, 4096, 0600);
	ids[n++] = make_segment(IPC_PRIVATE, 100, 0644);
	ids[n++] = make_segment(0x2002, 8192, 0666);
	ids[n++] = make_segment(0x2003, 64, 0600); /* with a ShareLite set */
	sharelite_set(0x2003, 0600);
	ids[n++] = make_segment(0x2004, 64, 0600); /* with a program's 1-semaphore set */
	assert_true(semget(0x2004, 1, IPC_CREAT | 0600) >= 0);
	ids[n] = make_segment(0x2005, 64, 0600); /* attached, then marked for removal */
	p = shmat(ids[n], NULL, 0);
	assert_ptr_not_equal(p, (void *)-1);
	assert_int_equal(shmctl(ids[n], IPC_RMID, NULL), 0);
	n++;
	assert_true(msgget(0x2006, IPC_CREAT | 0600) >= 0);

	read_text("/proc/sysvipc/shm", shm_before, sizeof(shm_before));
	read_text("/proc/sysvipc/sem", sem_before, sizeof(sem_before));
	read_text("/proc/sysvipc/msg", msg_before, sizeof(msg_before));

	run_ok("ls -lR %s > /dev/null", M);
	run_ok("ls -la %s %s/by-key > /dev/null", M, M);
	run_ok("find %s -exec stat {} + > /dev/null", M);
	run_ok("find %s -exec stat -L {} + > /dev/null", M);
	run_ok("readlink %s/by-key/* > /dev/null", M);
	for (int i = 0; i < n; i++)
		run_ok("stat %s/%d.next > /dev/null", M, ids[i]);
	run_ok("cat %s/*.stat > /dev/null", M);
	run_ok("for f in %s/*.stat; do cat $f > /dev/null || exit 1; done", M);
	run_ok("ipcs -a > /dev/null; lsipc > /dev/null");

	read_text("/proc/sysvipc/shm", after, sizeof(after));
	assert_string_equal(after, shm_before);
	read_text("/proc/sysvipc/sem", after, sizeof(after));
	assert_string_equal(after, sem_before);
	read_text("/proc/sysvipc/msg", after, sizeof(after));
	assert_string_equal(after, msg_before);
	shmdt(p);
}

/* ---- 3. the semaphore table ----------------------------------------------- */

#define SEMMNI	   8
#define N_SEGMENTS 12

/* With SEMMNI lowered to 8 in this namespace, cat of 12 segments and
 * their sidecars, one after another, ends with the semaphore table as it
 * was, and other programs can still make all the sets left to them.
 * When they have taken every one, everything still works: shmfs needs no
 * set of its own to lock a segment. */
static void test_semaphore_table_bounded_by_use(void **state)
{
	static char before[65536], now[65536];
	int ids[N_SEGMENTS], sl_id, fillers[SEMMNI], nfill = 0, fd, limits[4];
	char buf[128];
	FILE *f;

	read_text("/proc/sys/kernel/sem", saved_sem_limits, sizeof(saved_sem_limits));
	assert_int_equal(sscanf(saved_sem_limits, "%d %d %d %d", &limits[0], &limits[1], &limits[2],
				&limits[3]),
			 4);
	f = fopen("/proc/sys/kernel/sem", "w");
	assert_non_null(f);
	fprintf(f, "%d %d %d %d\n", limits[0], limits[1], limits[2], SEMMNI);
	assert_int_equal(fclose(f), 0);

	for (int i = 0; i < N_SEGMENTS; i++)
		ids[i] = make_segment(i % 3 ? 0x3000 + i : IPC_PRIVATE, 4096, 0600);
	assert_true(semget(0x3200, 2, IPC_CREAT | 0600) >= 0); /* an unrelated program's */
	read_text("/proc/sysvipc/sem", before, sizeof(before));

	run_ok("for f in %s/[0-9]*; do cat $f > /dev/null || exit 1; done", M);
	assert_string_equal(sem_table_settled(before, now, sizeof(now)), before);

	/* A ShareLite share (made now: reading it semops its set, which
	 * shows in that set's otime). */
	sl_id = make_segment(0x3100, 4096, 0600);
	sharelite_set(0x3100, 0600);

	/* Every set the table has left is there for others to take. */
	while (nfill < SEMMNI && (fillers[nfill] = semget(IPC_PRIVATE, 1, 0600)) >= 0)
		nfill++;
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(nfill, SEMMNI - 2);

	/* The table is full: no open needs a set of shmfs's own (the lock
	 * of a segment without a ShareLite set is the daemon's). */
	snprintf(buf, sizeof(buf), "%s/%d", M, ids[1]);
	fd = open(buf, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	/* Everything else works: listing, sidecars, the ShareLite share. */
	run_ok("ls -l %s > /dev/null && cat %s/%d.stat > /dev/null", M, M, ids[1]);
	run_ok("cat %s/%d | wc -c", M, sl_id);
	assert_int_equal(atoi(out), 4096);
	run_ok("cat %s/%d | wc -c", M, ids[1]);
	assert_int_equal(atoi(out), 4096);
}

/* ---- 4. IPC::ShareLite writing across an ipcrm ---------------------------- */

#define SL_SIZE	      4096
#define SL_READS      600 /* with a file held; a cat loop makes 1500 */
#define SL_MIN_STORES 20

/* The value sharelite_writer.pl stored, checked whole: its header's
 * length, its letters, its sum.  Returns the value's number, or -1 for
 * a torn (or otherwise wrong) read. */
static long sharelite_value(const unsigned char *seg)
{
	char v[SL_SIZE];
	int32_t len;
	long n;
	int p, off = 0, end = 0;
	unsigned long sum = 0, want;

	memcpy(&len, seg + 4, sizeof(len));
	if (len <= 0 || len > SL_SIZE - 16)
		return -1;
	memcpy(v, seg + 16, (size_t)len);
	v[len] = '\0';
	if (sscanf(v, "seq=%ld len=%d %n", &n, &p, &off) != 2 || n < 0 || off == 0)
		return -1;
	if (p != 200 + (int)((n * 37) % 3000) || off + p > len)
		return -1;
	for (int i = 0; i < p; i++)
		if (v[off + i] != 'a' + n % 26)
			return -1;
	for (int i = 0; i < off + p; i++)
		sum += (unsigned char)v[i];
	if (sscanf(v + off + p, " sum=%lu%n", &want, &end) != 1 || off + p + end != len)
		return -1;
	return (sum & 0xffffffffUL) == want ? n : -1;
}

struct read_tally {
	long reads, torn, first, last;
	long stores; /* changes of value seen from one read to the next */
};

/* Reads of the whole segment through the mount: with the file open all
 * along (fd), and with a fresh open each time, as cat does; without fd,
 * fresh opens only.  At least min_reads of them, and on until the writer
 * has been seen to store SL_MIN_STORES times (a writer the scheduler
 * leaves aside for a while only makes the loop longer), up to 100 times
 * min_reads. */
static void read_sharelite(int fd, const char *path, long min_reads, struct read_tally *t)
{
	static unsigned char seg[SL_SIZE];

	while (t->reads < 100 * min_reads && (t->reads < min_reads || t->stores < SL_MIN_STORES)) {
		for (int fresh = fd < 0; fresh < 2; fresh++) {
			int f = fresh ? open(path, O_RDONLY) : fd;
			long n;

			assert_true(f >= 0);
			assert_int_equal(pread(f, seg, SL_SIZE, 0), SL_SIZE);
			if (fresh)
				close(f);
			n = sharelite_value(seg);
			t->reads++;
			if (n < 0) {
				t->torn++;
				continue;
			}
			if (t->first < 0)
				t->first = n;
			else if (n != t->last)
				t->stores++;
			t->last = n;
		}
	}
}

/* A ShareLite writer stores self-checking values without pause while the
 * segment is read through the mount; the segment is removed (ipcrm) while
 * both run.  With hold, the reader keeps one file of the segment open
 * across the ipcrm (and opens more beside it); without, it is a cat loop,
 * a fresh open for every read.  No read may be torn, before or after: the
 * segment keeps ShareLite's set as its lock while the writer uses it. */
static void sharelite_across_ipcrm(bool hold)
{
	struct read_tally before = { 0, 0, -1, -1, 0 }, after = { 0, 0, -1, -1, 0 };
	long min_reads = hold ? SL_READS : 5 * SL_READS / 2;
	char *writer_argv[] = { "perl", (char *)NULL, "0x7e510001", NULL };
	char script[256], path[128], line[64];
	int from, fd = -1, shmid;
	struct shmid_ds ds;
	ssize_t got;
	pid_t writer;

	snprintf(script, sizeof(script), "%s/sharelite_writer.pl", apps);
	writer_argv[1] = script;
	writer = spawn(writer_argv, &from);
	got = read(from, line, sizeof(line) - 1);
	assert_true(got > 0);
	line[got] = '\0';
	assert_int_equal(sscanf(line, "ready %d", &shmid), 1);

	snprintf(path, sizeof(path), "%s/%d", M, shmid);
	if (hold) {
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
	}
	read_sharelite(fd, path, min_reads, &before);
	run_ok("ipcrm -M 0x7e510001");
	assert_int_equal(shmctl(shmid, IPC_STAT, &ds), 0); /* the writer is attached */
	assert_true(ds.shm_perm.mode & SHM_DEST);
	read_sharelite(fd, path, min_reads, &after);
	if (hold)
		close(fd);
	assert_int_equal(waitpid(writer, NULL, WNOHANG), 0); /* it wrote all along */

	printf("sharelite (%s): before ipcrm %ld reads, %ld torn, %ld stores seen (values "
	       "%ld..%ld); after %ld reads, %ld torn, %ld stores seen (values %ld..%ld)\n",
	       hold ? "file held open" : "cat loop", before.reads, before.torn, before.stores,
	       before.first, before.last, after.reads, after.torn, after.stores, after.first,
	       after.last);
	assert_int_equal(before.torn, 0);
	assert_int_equal(after.torn, 0);
	/* the writer was storing while we read, on both sides of the ipcrm */
	assert_true(before.stores >= SL_MIN_STORES);
	assert_true(after.stores >= SL_MIN_STORES);
	assert_true(after.first >= before.last);
	close(from);
}

static void test_sharelite_across_ipcrm_file_held(void **state)
{
	sharelite_across_ipcrm(true);
}

static void test_sharelite_across_ipcrm_cat_loop(void **state)
{
	sharelite_across_ipcrm(false);
}

/* ---- 5. an open file is not an attacher ----------------------------------- */

/* A process keeps a file of a segment open (sleep 600 < seg): nattch, as
 * shmctl, /proc/sysvipc/shm, ipcs -m -i and the sidecar show it, is
 * unchanged, 0 for an unattached segment and 1 for one attached once.  A
 * segment removed while a file is open, then, goes from the kernel's
 * table at once, and its bytes stay readable and writable through that
 * file, as an unlinked file's are. */
static void test_open_file_is_not_an_attacher(void **state)
{
	int idle = make_segment(0x5001, 4096, 0600);
	int busy = make_segment(0x5002, 4096, 0600);
	char path[128], v[32], buf[16];
	void *p = shmat(busy, NULL, 0);
	int fd;

	assert_ptr_not_equal(p, (void *)-1);
	snprintf(path, sizeof(path), "%s/%d", M, idle);
	hold_open(path, O_RDONLY);
	snprintf(path, sizeof(path), "%s/%d", M, busy);
	hold_open(path, O_RDWR);
	run_ok("cat %s/%d %s/%d > /dev/null", M, idle, M, busy);

	assert_int_equal(kernel_nattch(idle), 0);
	assert_int_equal(proc_nattch(idle), 0);
	run_ok("ipcs -m -i %d", idle);
	assert_non_null(strstr(out, "nattch=0\n"));
	run_ok("cat %s/%d.stat", M, idle);
	assert_string_equal(sidecar_value(out, "nattch", v, sizeof(v)), "0");
	assert_int_equal(kernel_nattch(busy), 1);
	assert_int_equal(proc_nattch(busy), 1);
	run_ok("ipcs -m -i %d", busy);
	assert_non_null(strstr(out, "nattch=1\n"));

	/* Removed while open: with nobody attached the kernel destroys it at
	 * once; the open file still has its bytes. */
	snprintf(path, sizeof(path), "%s/%d", M, idle);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "before-rm", 9, 0), 9);
	run_ok("ipcrm -m %d", idle);
	assert_int_equal(proc_nattch(idle), -1);
	assert_int_equal(pread(fd, buf, 9, 0), 9);
	assert_memory_equal(buf, "before-rm", 9);
	assert_int_equal(pwrite(fd, "after-rm!", 9, 100), 9);
	assert_int_equal(pread(fd, buf, 9, 100), 9);
	assert_memory_equal(buf, "after-rm!", 9);
	close(fd);
	shmdt(p);
}

/* ---- 6. a 3-semaphore set that is not ShareLite's ------------------------- */

/* A program keeps counters in its own keyed set of 3 semaphores
 * (semaphore 0 at 0; semaphore 0 at 1 but semaphore 2 past 1; three
 * mutexes at 1, free).  Reads
 * and writes through the mount work, and change nothing in that set: not
 * a value, not the time or pid of its last semop. */
static void test_counters_set_is_not_a_lock(void **state)
{
	static const struct {
		int key;
		const char *values;
		bool counts; /* the program counts once before we look */
	} programs[] = { { 0x6001, "0 5 3", true },
			 { 0x6002, "1 0 4", true },
			 /* three mutexes, all free: never a ShareLite state (a
			  * reader and a writer at once) */
			 { 0x6003, "1 1 1", false } };
	char line_before[512], line_after[512], values_before[64];

	for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
		int shmid, semid;

		run_ok("perl %s/counters.pl create %d %s", apps, programs[i].key,
		       programs[i].values);
		assert_int_equal(sscanf(out, "%d %d", &shmid, &semid), 2);
		/* then its set has a last semop (otime, pid) to keep */
		if (programs[i].counts)
			run_ok("perl %s/counters.pl bump %d", apps, programs[i].key);
		run_ok("perl %s/counters.pl show %d", apps, programs[i].key);
		snprintf(values_before, sizeof(values_before), "%.60s", out);
		sem_line(semid, line_before, sizeof(line_before));

		run_ok("cat %s/%d %s/by-key/0x%08x > /dev/null", M, shmid, M, programs[i].key);
		run_ok("echo hello > %s/%d", M, shmid);
		run_ok("printf again | dd of=%s/%d bs=1 seek=100 conv=notrunc "
		       "status=none",
		       M, shmid);
		run_ok("head -c 5 %s/%d", M, shmid);
		assert_string_equal(out, "hello");
		/* its file open through the mount: the sidecar does not name it */
		char seg[128];
		snprintf(seg, sizeof(seg), "%s/%d", M, shmid);
		pid_t holder = hold_open(seg, O_RDONLY);
		assert_int_not_equal(sidecar_lock_semid(shmid), semid);
		stop_child(holder);

		assert_string_equal(sem_line(semid, line_after, sizeof(line_after)), line_before);
		run_ok("perl %s/counters.pl show %d", apps, programs[i].key);
		assert_string_equal(out, values_before);
	}
}

/* ---- 7. the hostile user -------------------------------------------------- */

static char *const as_nobody[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups" };

/* Run a Perl script as uid 65534, with arguments; its exit status. */
static int perl_as_nobody(char *buf, size_t size, const char *code, const char *arg)
{
	char *argv[] = { as_nobody[0], as_nobody[1],
			 as_nobody[2], as_nobody[3],
			 "perl",       "-MIPC::SysV=IPC_NOWAIT,IPC_CREAT,SETALL,SETVAL",
			 "-e",	       (char *)code,
			 (char *)arg,  NULL };

	return run_argv(buf, size, argv);
}

/* uid 65534 against a root allow_other mount.  Reading a root segment
 * (0644) and its sidecar makes no set; while it is open shmfs locks it
 * with its private lock, no set 65534 could try to take or hold; and a ShareLite-looking set 65534
 * plants under the segment's key is not taken for its lock, so holding it blocks no one. */
static void test_hostile_user(void **state)
{
	static char before[65536], now[65536];
	static const char plant[] = "my $id = semget(hex($ARGV[0]), 3, IPC_CREAT | 0666); "
				    "defined $id or die qq(semget: $!\\n); "
				    "semctl($id, 0, SETALL, pack(q(s!3), 1, 0, 1)) or die; "
				    "print qq($id\\n);";
	static const char give_to_root[] =
		"use IPC::Semaphore; "
		"my $s = IPC::Semaphore->new(hex($ARGV[0]), 3, 0) or die; "
		"my $st = $s->stat or die; $st->uid(0); $s->set($st); "
		"exit 0;";
	int id = make_segment(0x7001, 4096, 0644), lock, planted, fd;
	char path[128], planted_before[512], planted_after[512];
	char *const cat_argv[] = { as_nobody[0], as_nobody[1], as_nobody[2], as_nobody[3],
				   "sh",	 "-c",	       out,	     NULL };

	read_text("/proc/sysvipc/sem", before, sizeof(before));
	snprintf(out, sizeof(out), "cat %s/%d %s/%d.stat %s/by-key/0x00007001 | wc -c", M, id, M,
		 id, M);
	assert_int_equal(run_argv(now, sizeof(now), cat_argv), 0);
	assert_true(atoi(now) > 4096);
	assert_string_equal(sem_table_settled(before, now, sizeof(now)), before);

	/* While root has the segment open, its lock is the daemon's private
	 * lock: no set at all, nothing another user could try to take. */
	snprintf(path, sizeof(path), "%s/%d", M, id);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	lock = sidecar_lock_semid(id);
	assert_int_equal(lock, -2);
	assert_string_equal(sem_table_settled(before, now, sizeof(now)), before);
	assert_int_equal(pwrite(fd, "root", 4, 0), 4);
	close(fd);

	/* 65534 plants a set under the segment's key that looks like
	 * ShareLite's, holding its exclusive lock (semaphore 2 at 1); then
	 * hands it to root (IPC_SET uid 0: the creator may, and cuid stays
	 * 65534).  Neither way is it taken for the segment's lock. */
	assert_int_equal(perl_as_nobody(out, sizeof(out), plant, "0x7001"), 0);
	planted = atoi(out);
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			struct semid_ds ds;

			assert_int_equal(perl_as_nobody(out, sizeof(out), give_to_root, "0x7001"),
					 0);
			assert_int_equal(semctl(planted, 0, IPC_STAT, (union semun){ .buf = &ds }),
					 0);
			assert_int_equal(ds.sem_perm.uid, 0);
			assert_int_equal(ds.sem_perm.cuid, NOBODY);
		}
		sem_line(planted, planted_before, sizeof(planted_before));
		run_ok("head -c 4 %s/%d", M, id);
		assert_string_equal(out, round ? "agai" : "root");
		run_ok("echo again > %s/%d", M, id);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_not_equal(sidecar_lock_semid(id), planted);
		close(fd);
		assert_string_equal(sem_line(planted, planted_after, sizeof(planted_after)),
				    planted_before);
	}
}

/* uid 65534 keeps a file of a root segment open (sleep 600 < seg) before
 * root's program makes the segment's ShareLite set.  The held file does
 * not pin shmfs's private lock: root's next read through the mount locks
 * with the program's set. */
static void test_sharelite_set_made_later_is_used(void **state)
{
	int id = make_segment(0x7201, 4096, 0644), set, sets = -1, from;
	char cmd[256], line[16];
	char *const holder_argv[] = { as_nobody[0], as_nobody[1], as_nobody[2], as_nobody[3],
				      "sh",	    "-c",	  cmd,		NULL };
	struct semid_ds ds;

	snprintf(cmd, sizeof(cmd), "exec < %s/%d && echo open && exec sleep 600", M, id);
	spawn(holder_argv, &from);
	assert_true(read(from, line, sizeof(line)) > 0);
	assert_int_equal(strncmp(line, "open", 4), 0);
	assert_int_equal(sidecar_lock_semid(id), -2); /* the private lock, while held */

	set = sharelite_set(0x7201, 0600);
	run_ok("cat %s/%d > /dev/null", M, id);
	assert_int_equal(sidecar_lock_semid(id), set);
	/* shmfs locked with it: the kernel records its semop */
	assert_int_equal(semctl(set, 0, IPC_STAT, (union semun){ .buf = &ds }), 0);
	assert_true(ds.sem_otime != 0);
	for (int i = 0; i < 500 && (sets = sem_count()) != 1; i++)
		usleep(10000);
	assert_int_equal(sets, 1);
	close(from);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_program_with_its_own_keyed_sets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_looking_creates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_semaphore_table_bounded_by_use, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sharelite_across_ipcrm_file_held, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sharelite_across_ipcrm_cat_loop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_file_is_not_an_attacher, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters_set_is_not_a_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sharelite_set_made_later_is_used, setup,
						teardown),
	};

	if (argc != 4) {
		fprintf(stderr, "usage: %s PATH-TO-SHMFS APPS-DIR PATH-TO-HANDSHAKE\n", argv[0]);
		return 1;
	}
	shmfs_path = argv[1];
	apps = argv[2];
	handshake_path = argv[3];
	testutil_isolate(true);
	alarm(getenv("SHMFS_WRAPPER") ? 4 * WATCHDOG_S : WATCHDOG_S);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
