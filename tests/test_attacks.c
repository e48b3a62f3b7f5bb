/* test_attacks.c - issue 19's attacks on a root allow_other mount, each
 * made by uid 65534 (the attacker) while another user (the victim) is
 * served.
 *
 * The assertions are on what users see and on the order of events (the
 * victim's answers come while every attacker request is still pending),
 * never on a duration: timings are bench/stall.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "procs.h"
#include "semun.h"
#include "testutil.h"

#define WATCHDOG_S 300
#define ATTACKER   65534
#define VICTIM	   65533

static const char *shmfs_path;
static struct test_mount mnt;

#define M mnt.dir

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", "-o", "lock_timeout=3600", NULL };

	mount_start(&mnt, shmfs_path, args);
	return 0;
}

static int teardown(void **state)
{
	return mnt.pid > 0 ? mount_stop_clean(&mnt) : 0;
}

static int sets_now(void)
{
	int n = testutil_sysvipc_count("sem");

	assert_true(n >= 0);
	return n;
}

/* ---- users and their waits ------------------------------------------------- */

/* uid's own segment (0644) and the lock set of its key, both made by uid
 * (segments_as()). */
static int segment_as(uid_t uid, int32_t key, int *semid)
{
	int id;

	segments_as(uid, key, 1, 4096, &id, semid);
	return id;
}

/* A child as uid reading segment id through the mount at dir (its exit
 * status: start_waiter()'s). */
static pid_t start_reader(const char *dir, uid_t uid, int id)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%d", dir, id);
	return start_waiter(uid, path, false);
}

/* ---- threads: bounded, a fair share each -------------------------------------- */

#define THREADS	   8 /* -o max_lock_threads */
#define OTHER_USER 65532

/* The attacker waits on THREADS of its own held sets: every thread is
 * its.  Another user then waits on 2 of theirs: their waits park (each
 * takes a thread back from the attacker, whose waits on those sets end
 * with ENOLCK), and the attacker's wait on one set more gets ENOLCK at
 * once: past the bound the user over their share is refused, never the
 * other. */
static void test_threads_fair_share(void **state)
{
	static const char *const args[] = { "-o", "allow_other",	"-o", "lock_timeout=3600",
					    "-o", "max_lock_threads=8", NULL };
	int ids[THREADS + 1], semids[THREADS + 1], other_ids[2], other_semids[2];
	pid_t holder, other_holder, readers[THREADS], other_readers[2], late;
	struct test_mount small;
	int refused = 0;

	for (int i = 0; i <= THREADS; i++)
		ids[i] = segment_as(ATTACKER, 0x5a770000 + i, &semids[i]);
	for (int i = 0; i < 2; i++)
		other_ids[i] = segment_as(OTHER_USER, 0x5a771000 + i, &other_semids[i]);
	mount_start(&small, shmfs_path, args);
	holder = hold_locks_as(ATTACKER, semids, THREADS + 1, false);
	other_holder = hold_locks_as(OTHER_USER, other_semids, 2, false);
	for (int i = 0; i < THREADS; i++) {
		readers[i] = start_reader(small.dir, ATTACKER, ids[i]);
		assert_true(await_parked(small.dir, ids[i], 1));
	}
	for (int i = 0; i < 2; i++) {
		other_readers[i] = start_reader(small.dir, OTHER_USER, other_ids[i]);
		assert_true(await_parked(small.dir, other_ids[i], 1));
	}
	/* two of the attacker's waits gave their threads up */
	for (int look = 0; look < 3000 && refused < 2; look++) {
		refused = 0;
		for (int i = 0; i < THREADS; i++)
			refused += !testutil_still_running(readers[i]);
		usleep(10000);
	}
	assert_int_equal(refused, 2);
	/* the attacker is over its share (4 of 8): refused at once */
	late = start_reader(small.dir, ATTACKER, ids[THREADS]);
	assert_int_equal(waiter_result(late), ENOLCK);
	/* and the other user's waits are all still parked */
	for (int i = 0; i < 2; i++) {
		assert_true(testutil_still_running(other_readers[i]));
		assert_int_equal(parked_on(small.dir, other_ids[i]), 1);
	}
	testutil_kill(other_holder);
	for (int i = 0; i < 2; i++)
		assert_int_equal(waiter_result(other_readers[i]), 0);
	testutil_kill(holder);
	refused = 0;
	for (int i = 0; i < THREADS; i++) {
		int err = waiter_result(readers[i]);

		if (err == ENOLCK)
			refused++;
		else
			assert_int_equal(err, 0);
	}
	assert_int_equal(refused, 2);
	assert_int_equal(mount_stop(&small), 0);
	for (int i = 0; i <= THREADS; i++) {
		shmctl(ids[i], IPC_RMID, NULL);
		semctl(semids[i], 0, IPC_RMID);
	}
	for (int i = 0; i < 2; i++) {
		shmctl(other_ids[i], IPC_RMID, NULL);
		semctl(other_semids[i], 0, IPC_RMID);
	}
}

/* ---- SHM_LOCK's helper, stopped by its caller -------------------------------- */

/* A stopped child of pid (state T), or 0. */
static pid_t stopped_child_of(pid_t parent)
{
	char path[64], text[512];
	pid_t found = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		int pid = atoi(e->d_name), ppid;
		char state;
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(text, sizeof(text), f)) {
			char *end = strrchr(text, ')');

			if (end && sscanf(end + 1, " %c %d", &state, &ppid) == 2 &&
			    ppid == parent && state == 'T')
				found = pid;
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], text[512], *end, state;
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(text, sizeof(text), f) && (end = strrchr(text, ')')) &&
	    sscanf(end + 1, " %c %d", &state, &ppid) != 2)
		ppid = 0;
	fclose(f);
	return ppid;
}

/* Stop every new child of the daemon, over and over: the newest pids,
 * looked at again and again (only the daemon's children: never another
 * program of this uid). */
static void *stop_helpers(void *arg)
{
	pid_t daemon = *(pid_t *)arg;

	for (;;) {
		char buf[32] = "";
		int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
		pid_t last;

		if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
			_exit(1);
		close(fd);
		last = atoi(buf);
		for (pid_t p = last > 4 ? last - 4 : 1; p <= last + 2; p++)
			if (parent_of(p) == daemon)
				kill(p, SIGSTOP);
	}
	return NULL;
}

/* The attacker, uid 65534: a thread stopping every new child of the
 * daemon it may signal (its own helpers), over and over, and
 * `echo unlock > N.stat` on its own segment again and again.  Reports 'S' before each write, then 0
 * or its errno. */
static pid_t start_unlock_attack(int id, int report)
{
	pid_t pid = testutil_fork();

	if (pid == 0) {
		char path[128];
		pthread_t stopper;

		testutil_become(ATTACKER);
		snprintf(path, sizeof(path), "%s/%d.stat", M, id);
		pthread_create(&stopper, NULL, stop_helpers, &mnt.pid);
		for (;;) {
			int fd = open(path, O_WRONLY);
			unsigned char r;

			if (fd < 0)
				_exit(errno);
			if (write(report, "S", 1) != 1)
				_exit(1);
			r = write(fd, "unlock\n", 7) == 7 ? 0 : (unsigned char)errno;
			close(fd);
			if (write(report, &r, 1) != 1)
				_exit(1);
		}
	}
	return pid;
}

/* The attacker's SHM_UNLOCK whose helper it stops: the victim's ls -l,
 * stat and cat are answered while that request is still pending; the
 * request then ends with ETIMEDOUT (the helper is killed at its deadline)
 * however long the attacker goes on stopping. */
static void test_stopped_lock_helper(void **state)
{
	int semid, id = segment_as(ATTACKER, 0x5a772000, &semid);
	int victim_seg = make_segment(IPC_PRIVATE, 4096, 0644), report[2];
	pid_t attacker, helper = 0;
	char out[4096], c;
	int pending = 0, look;

	assert_int_equal(pipe(report), 0);
	attacker = start_unlock_attack(id, report[1]);
	close(report[1]);
	for (look = 0; look < 30000 && !(helper = stopped_child_of(mnt.pid)); look++)
		usleep(1000);
	assert_true(helper > 0);
	/* the victim, served meanwhile */
	assert_int_equal(
		run(out, sizeof(out),
		    "setpriv --reuid=%d --regid=%d --clear-groups sh -c "
		    "\"ls -l %s > /dev/null && stat %s/%d > /dev/null && cat %s/%d | wc -c\"",
		    VICTIM, VICTIM, M, M, victim_seg, M, victim_seg),
		0);
	assert_string_equal(out, "4096\n");
	/* the attacker's write was still pending: every report so far is
	 * an 'S' answered, but the last */
	assert_int_equal(fcntl(report[0], F_SETFL, O_NONBLOCK), 0);
	while (read(report[0], &c, 1) == 1)
		pending = c == 'S' ? 1 : (c == 0 ? 0 : pending);
	assert_int_equal(pending, 1);
	/* then it ends: a helper stopped before it answered is killed at
	 * its deadline (ETIMEDOUT), one stopped after is answered for */
	assert_int_equal(fcntl(report[0], F_SETFL, 0), 0);
	assert_int_equal(read(report[0], &c, 1), 1);
	assert_true(c == ETIMEDOUT || c == 0);
	printf("helper: stopped by its caller; the request ended with %s\n",
	       c ? strerror(c) : "success");
	testutil_kill(attacker);
	close(report[0]);
	shmctl(id, IPC_RMID, NULL);
	semctl(semid, 0, IPC_RMID);
	shmctl(victim_seg, IPC_RMID, NULL);
}

/* ---- truncation of a name made in by-key/ --------------------------------------- */

#define TRUNCATORS 12 /* more than libfuse's 10 workers */

/* The attacker makes a segment through by-key/ (its first ftruncate gives
 * the size and makes it, with the key's ShareLite set, the attacker's),
 * has another process of its own hold that set's lock until release is
 * closed, then truncates through the same descriptor again: that
 * truncation waits for the lock.  Reports 'R' when about to truncate;
 * exits with 0 or the truncation's errno. */
static pid_t start_truncator(int32_t key, int report, const int release_pipe[2])
{
	int release = release_pipe[0];

	pid_t pid = testutil_fork();

	if (pid == 0) {
		struct sembuf ex[] = { { 1, 0, 0 }, { 2, 0, 0 }, { 2, 1, SEM_UNDO } };
		char path[128], c;
		int fd, semid, held[2];

		testutil_become(ATTACKER);
		close(release_pipe[1]); /* the test's alone: its close is the release */
		snprintf(path, sizeof(path), "%s/by-key/0x%08x", M, (unsigned int)key);
		fd = open(path, O_CREAT | O_RDWR, 0600);
		if (fd < 0 || ftruncate(fd, 4096) != 0)
			_exit(1);
		semid = semget(key, 0, 0);
		if (semid < 0 || pipe(held) != 0)
			_exit(2);
		if (fork() == 0) {
			/* holds the lock until the test closes release */
			if (semop(semid, ex, 3) != 0 || write(held[1], "h", 1) != 1)
				_exit(1);
			if (read(release, &c, 1) < 0)
				_exit(1);
			_exit(0);
		}
		close(release);
		if (read(held[0], &c, 1) != 1 || write(report, "R", 1) != 1)
			_exit(3);
		_exit(ftruncate(fd, 0) == 0 ? 0 : errno);
	}
	return pid;
}

/* More truncations of made names waiting for their locks than libfuse
 * has workers: the victim's stat and ls -l are answered while every one
 * of them is still pending (parked, as each segment's sidecar says), and
 * they end once their locks free. */
static void test_truncation_after_creation(void **state)
{
	pid_t pids[TRUNCATORS];
	int report[2], release[2], ids[TRUNCATORS];
	char out[4096], c;

	assert_int_equal(pipe(report), 0);
	assert_int_equal(pipe(release), 0);
	for (int i = 0; i < TRUNCATORS; i++)
		pids[i] = start_truncator(0x5a773000 + i, report[1], release);
	close(report[1]);
	close(release[0]);
	for (int i = 0; i < TRUNCATORS; i++)
		assert_int_equal(read(report[0], &c, 1), 1);
	for (int i = 0; i < TRUNCATORS; i++) {
		ids[i] = shmget(0x5a773000 + i, 0, 0);
		assert_true(ids[i] >= 0);
		assert_true(await_parked(M, ids[i], 1));
	}
	assert_int_equal(run(out, sizeof(out),
			     "setpriv --reuid=%d --regid=%d --clear-groups sh -c "
			     "\"stat %s/%d > /dev/null && ls -l %s | wc -l\"",
			     VICTIM, VICTIM, M, ids[0], M),
			 0);
	assert_true(atoi(out) >= 2 * TRUNCATORS);
	for (int i = 0; i < TRUNCATORS; i++) {
		assert_true(testutil_still_running(pids[i]));
		assert_int_equal(parked_on(M, ids[i]), 1);
	}
	/* the holders let go: every truncation ends */
	close(release[1]);
	for (int i = 0; i < TRUNCATORS; i++)
		assert_int_equal(waiter_result(pids[i]), 0);
	close(report[0]);
	for (int i = 0; i < TRUNCATORS; i++) {
		int semid = semget(0x5a773000 + i, 0, 0);

		shmctl(ids[i], IPC_RMID, NULL);
		if (semid >= 0)
			semctl(semid, 0, IPC_RMID);
	}
}

/* ---- the rewrite map's bookkeeping ------------------------------------------------ */

#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif
#define HUGE_SEGS    3
#define HUGE_SIZE    (64ull << 40)  /* 64 TiB, SHM_NORESERVE: no memory until written */
#define HUGE_WRITES  4096	    /* per segment, one byte each */
#define HUGE_SPACING (512ull << 20) /* a new page of an 8-bytes-per-MiB map each */

static long daemon_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* The attacker's huge SHM_NORESERVE segments, each written a byte at a
 * time far apart through the mount: the daemon's memory for its rewrite
 * bookkeeping stays small (it was 8 bytes per MiB of segment per
 * writable open, made whole at open: 512 MiB of map per segment, touched
 * a page per write). */
static void test_rewrite_map_bounded(void **state)
{
	long before = daemon_rss_kib(mnt.pid), after;
	int done[2];
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe(done), 0);
	pid = testutil_fork();
	if (pid == 0) {
		int ids[HUGE_SEGS], fds[HUGE_SEGS];
		char path[128];

		testutil_become(ATTACKER);
		for (int s = 0; s < HUGE_SEGS; s++) {
			ids[s] = shmget(IPC_PRIVATE, HUGE_SIZE, IPC_CREAT | SHM_NORESERVE | 0600);
			if (ids[s] < 0)
				_exit(1);
			snprintf(path, sizeof(path), "%s/%d", M, ids[s]);
			fds[s] = open(path, O_RDWR);
			if (fds[s] < 0)
				_exit(2);
		}
		for (int i = 0; i < HUGE_WRITES; i++)
			for (int s = 0; s < HUGE_SEGS; s++)
				if (pwrite(fds[s], "x", 1, (off_t)(i * HUGE_SPACING)) != 1)
					_exit(3);
		/* measured while every file is still open */
		if (write(done[1], "w", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(done[1]);
	assert_int_equal(read(done[0], &c, 1), 1);
	after = daemon_rss_kib(mnt.pid);
	printf("rewrite map: daemon VmRSS %ld KiB before, %ld KiB after %d writes to %d "
	       "segments of 64 TiB\n",
	       before, after, HUGE_WRITES * HUGE_SEGS, HUGE_SEGS);
	/* Under ASan the daemon's RSS is its shadow memory and quarantine,
	 * not its bookkeeping: the bound is checked in the plain build. */
	if (!UNDER_ASAN)
		assert_true(after - before < 16 * 1024);
	testutil_kill(pid);
	close(done[0]);
	/* the attacker's segments (no key): found by their owner and size */
	{
		struct shmid_ds ds;
		int max = shmctl(0, SHM_INFO, &ds);

		for (int i = 0; i <= max; i++) {
			int id = shmctl(i, SHM_STAT, &ds);

			if (id >= 0 && ds.shm_perm.uid == ATTACKER && ds.shm_segsz == HUGE_SIZE)
				shmctl(id, IPC_RMID, NULL);
		}
	}
}

/* ---- the rewrite mappings, per user ------------------------------------------ */

#define REWRITE_SEGS 4
#define REWRITE_SIZE (16ull << 30) /* SHM_NORESERVE: address space, no memory */
#define REWRITE_PASS (64 * 1024)   /* a write big enough to map its chunk */

/* As uid: n segments of size, each opened through the mount and written
 * three times over its first REWRITE_PASS bytes (the third pass maps the
 * segment in the daemon, attach_write.c); their shmids to ids, then a
 * byte on done, then it waits with every file open until killed. */
static pid_t rewriter_as(uid_t uid, int n, uint64_t size, int *ids, int done)
{
	int out[2];
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	pid = testutil_fork();
	if (pid == 0) {
		static char buf[REWRITE_PASS];
		char path[128];

		testutil_become(uid);
		for (int s = 0; s < n; s++) {
			int id = shmget(IPC_PRIVATE, size, IPC_CREAT | SHM_NORESERVE | 0600), fd;

			if (id < 0 || write(out[1], &id, sizeof(id)) != sizeof(id))
				_exit(1);
			snprintf(path, sizeof(path), "%s/%d", M, id);
			fd = open(path, O_RDWR);
			if (fd < 0)
				_exit(2);
			for (int pass = 0; pass < 3; pass++) {
				memset(buf, 'a' + pass, sizeof(buf));
				if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
					_exit(3);
			}
		}
		if (write(done, "w", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(out[1]);
	for (int s = 0; s < n; s++)
		assert_int_equal(read(out[0], &ids[s], sizeof(ids[s])), sizeof(ids[s]));
	close(out[0]);
	return pid;
}

/* Whether the daemon has shmid's file mapped (/proc/PID/maps, as .procs
 * reads it). */
static bool daemon_maps(int shmid)
{
	char path[64], line[512];
	struct procs_attach a;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", mnt.pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = procs_parse_maps_line(line, strcspn(line, "\n"), shmid, &a);
	fclose(f);
	return found;
}

/* The daemon's address space for rewrite mappings (64 GiB in all) is
 * every user's: the attacker's rewrites of four 16 GiB SHM_NORESERVE
 * segments took all of it, and the victim's rewrites of its own segment
 * then went without (pwrite only, slower).  Each user has a quarter now:
 * one of the attacker's segments is mapped, and the victim's is too.
 * Planted (no per-user charge in attach_write.c's charge()): the
 * victim's segment is not mapped. */
static void test_rewrite_mappings_per_user(void **state)
{
	int done[2], attacker[REWRITE_SEGS], victim, mapped = 0;
	pid_t a, v;
	char c;

	assert_int_equal(pipe(done), 0);
	a = rewriter_as(ATTACKER, REWRITE_SEGS, REWRITE_SIZE, attacker, done[1]);
	assert_int_equal(read(done[0], &c, 1), 1);
	v = rewriter_as(VICTIM, 1, 1 << 20, &victim, done[1]);
	assert_int_equal(read(done[0], &c, 1), 1);
	for (int s = 0; s < REWRITE_SEGS; s++)
		mapped += daemon_maps(attacker[s]);
	printf("rewrite mappings: %d of the attacker's %d segments of 16 GiB mapped; the "
	       "victim's: %s\n",
	       mapped, REWRITE_SEGS, daemon_maps(victim) ? "mapped" : "not mapped");
	assert_true(daemon_maps(victim));
	assert_int_equal(mapped, 1); /* its quarter: one of 16 GiB */
	testutil_kill(a);
	testutil_kill(v);
	close(done[0]);
	close(done[1]);
	for (int s = 0; s < REWRITE_SEGS; s++)
		shmctl(attacker[s], IPC_RMID, NULL);
	shmctl(victim, IPC_RMID, NULL);
}

/* ---- rendered texts held open, per user ---------------------------------------- */

#define TEXT_MSG   ((1 << 20) - 1024) /* with the per-open cost: 1 MiB each */
#define TEXT_OPENS 100

static void set_sysctl(const char *name, long value)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%ld\n", value);
	assert_int_equal(fclose(f), 0);
}

struct text_result {
	int q;	 /* its queue */
	int n;	 /* opens that succeeded */
	int err; /* the errno of the first that failed, or 0 */
};

/* As uid: a queue of its own with one message of TEXT_MSG bytes, whose
 * msg/ID/0 it opens up to TEXT_OPENS times, keeping each open; *r says
 * how that went, then it waits with every file open until killed. */
static pid_t text_holder_as(uid_t uid, struct text_result *r)
{
	int out[2];
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	pid = testutil_fork();
	if (pid == 0) {
		static struct {
			long mtype;
			char text[TEXT_MSG];
		} m = { .mtype = 1 };
		struct text_result mine = { 0 };
		char path[128];

		testutil_become(uid);
		mine.q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
		if (mine.q < 0 || msgsnd(mine.q, &m, sizeof(m.text), IPC_NOWAIT) != 0)
			_exit(1);
		snprintf(path, sizeof(path), "%s/msg/%d/0", M, mine.q);
		while (mine.n < TEXT_OPENS && !mine.err) {
			if (open(path, O_RDONLY) >= 0)
				mine.n++;
			else
				mine.err = errno;
		}
		if (write(out[1], &mine, sizeof(mine)) != sizeof(mine))
			_exit(2);
		pause();
		_exit(0);
	}
	close(out[1]);
	assert_int_equal(read(out[0], r, sizeof(*r)), sizeof(*r));
	close(out[0]);
	return pid;
}

/* Every rendered text file (a sidecar, .procs, a sem/ or msg/ view) is
 * held by the daemon while it is open: the attacker opening its 1 MiB
 * message again and again would make the daemon hold as much as its
 * processes may have files open.  Each user holds 64 MiB at most (1 KiB
 * counted per open besides the text): the attacker's 65th open fails
 * with ENOMEM, and then, with the attacker's 64 still open, the victim
 * opens its own as many times.  Planted (no text_bytes budget in
 * fs_text.c): all 100 of the attacker's opens succeed. */
static void test_texts_held_per_user(void **state)
{
	struct text_result r[2];
	pid_t pid[2];

	set_sysctl("msgmax", 1 << 20);
	set_sysctl("msgmnb", 1 << 20);
	pid[0] = text_holder_as(ATTACKER, &r[0]);
	pid[1] = text_holder_as(VICTIM, &r[1]);
	printf("texts held open: the attacker %d opens of a 1 MiB message, then %s; the victim "
	       "%d, then %s\n",
	       r[0].n, r[0].err ? strerror(r[0].err) : "none refused", r[1].n,
	       r[1].err ? strerror(r[1].err) : "none refused");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].n, 64);
		assert_int_equal(r[i].err, ENOMEM);
	}
	testutil_kill(pid[0]);
	testutil_kill(pid[1]);
	msgctl(r[0].q, IPC_RMID, NULL);
	msgctl(r[1].q, IPC_RMID, NULL);
}

/* ---- the poll race ---------------------------------------------------------- */

#define POLL_TRIES 300

static void *poller(void *arg)
{
	struct pollfd p = { .fd = *(int *)arg, .events = POLLIN };

	/* a wait (not 0): the kernel asks the daemon to notify it */
	poll(&p, 1, 20);
	return NULL;
}

/* Two threads poll one freshly opened file at once, hundreds of times,
 * while another file of the segment stays open (so the segment's watch
 * state lives on): each file's close stops every watch its polls started,
 * so no notification set is left that nobody watches. */
static void test_two_pollers_leave_no_set(void **state)
{
	int id = make_segment(IPC_PRIVATE, 4096, 0644), before = sets_now(), status;
	pid_t pid = testutil_fork();

	if (pid == 0) {
		char path[128];
		int keep, now = -1;

		testutil_become(ATTACKER);
		snprintf(path, sizeof(path), "%s/%d", M, id);
		keep = open(path, O_RDONLY);
		if (keep < 0)
			_exit(1);
		for (int i = 0; i < POLL_TRIES; i++) {
			pthread_t a, b;
			int fd = open(path, O_RDONLY);

			if (fd < 0)
				_exit(1);
			pthread_create(&a, NULL, poller, &fd);
			pthread_create(&b, NULL, poller, &fd);
			pthread_join(a, NULL);
			pthread_join(b, NULL);
			close(fd);
		}
		/* a release is sent after close(2) returns: wait for the last */
		for (int i = 0; i < 300 && (now = testutil_sysvipc_count("sem")) != before; i++)
			usleep(10000);
		printf("pollers: %d sets left nobody watches after %d tries\n", now - before,
		       POLL_TRIES);
		_exit(now == before ? 0 : 3);
	}
	status = testutil_wait_bounded(pid, 120);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(sets_now(), before);
	shmctl(id, IPC_RMID, NULL);
}

/* ---- a lock set's number given to another user's set ------------------- */

/* The attacker's set: 5 semaphores laid out as the shmfs protocol's (the
 * mark and the initialised flag), under no key, made as uid; its semid on
 * the child's exit status pipe. */
static int set_as(uid_t uid)
{
	int out[2], id = -1;
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	pid = testutil_fork();
	if (pid == 0) {
		unsigned short v[5] = { 1, 0, 0, 0x5348, 0x464d };
		union semun arg = { .array = v };
		int semid;

		testutil_become(uid);
		semid = semget(IPC_PRIVATE, 5, IPC_CREAT | 0600);
		if (semid < 0 || semctl(semid, 0, SETALL, arg) != 0 ||
		    write(out[1], &semid, sizeof(semid)) != sizeof(semid))
			_exit(1);
		_exit(0);
	}
	close(out[1]);
	assert_int_equal(read(out[0], &id, sizeof(id)), sizeof(id));
	close(out[0]);
	assert_int_equal(testutil_wait_bounded(pid, 30), 0);
	return id;
}

/* The victim's lock set removed while a file of its segment stays open,
 * and its semid given at once to the attacker's look-alike set
 * (kernel.sem_next_id; a loop of semget/IPC_RMID gets there too): the
 * next write through the kept file must not lock, wait on or let go of
 * the attacker's set (it did, SEM_UNDO on its semaphores 1 and 2, before
 * each semop was preceded by a proof of the set chosen). */
static void test_lock_set_number_reused(void **state)
{
	int semid, id = segment_as(VICTIM, 0x7a770100, &semid), fd, other;
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	char path[128], text[4096], v[32];

	snprintf(path, sizeof(path), "%s/%d", M, id);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "a", 1, 0), 1);
	assert_int_equal(run(text, sizeof(text), "cat %s.stat", path), 0);
	assert_non_null(sidecar_value(text, "lock_semid", v, sizeof(v)));
	assert_int_equal(atoi(v), semid); /* the victim's own set, in use */

	assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	assert_true(testutil_set_next_id("sem", semid));
	other = set_as(ATTACKER);
	assert_int_equal(other, semid);

	assert_int_equal(pwrite(fd, "b", 1, 0), 1);
	assert_int_equal(semctl(other, 0, IPC_STAT, arg), 0);
	assert_int_equal(ds.sem_otime, 0); /* nobody operated on it */
	assert_int_equal(semctl(other, 1, GETVAL), 0);
	assert_int_equal(semctl(other, 2, GETVAL), 0);
	assert_int_equal(run(text, sizeof(text), "cat %s.stat", path), 0);
	assert_non_null(sidecar_value(text, "lock_semid", v, sizeof(v)));
	/* never shown as its lock either */
	assert_true(strcmp(v, "private") == 0 || atoi(v) != other);
	close(fd);
	semctl(other, 0, IPC_RMID);
	shmctl(id, IPC_RMID, NULL);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_pollers_leave_no_set),
		cmocka_unit_test(test_threads_fair_share),
		cmocka_unit_test(test_stopped_lock_helper),
		cmocka_unit_test(test_truncation_after_creation),
		cmocka_unit_test(test_rewrite_map_bounded),
		cmocka_unit_test(test_rewrite_mappings_per_user),
		cmocka_unit_test(test_texts_held_per_user),
		cmocka_unit_test(test_lock_set_number_reused),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
