/* test_stress.c - many processes on the same segments, many segments, many opens.
 *
 * Writers through the mount, writers outside it that follow the lock
 * protocol (a C client on lock.h, and Perl IPC::ShareLite), readers on
 * both sides.  Every writer writes a whole segment of one repeated byte,
 * so every read, through the mount or outside it, must see one byte value
 * throughout: anything else is a torn read.
 *
 * One FUSE request is one atomic unit, so a reader through the mount uses
 * one pread() of the whole segment into a page-aligned buffer: the kernel
 * sends a direct-I/O read of up to max_pages (256 pages, 1 MiB) user pages
 * as one request, and a buffer that does not start on a page boundary
 * spans one page more and is split.
 *
 * Runs in a private IPC and mount namespace; every child dies with the
 * test (PR_SET_PDEATHSIG) and every wait is bounded.
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lock.h"
#include "mountutil.h"
#include "testutil.h"

/* The whole file must end well within meson's timeout. */
#define WATCHDOG_S 85

#define MIB (1024 * 1024)

static const char *shmfs_path;
static struct test_mount mnt;
static char out[65536];

#define M mnt.dir

/* What every child reports, in memory shared with the parent. */
struct tally {
	long ops;    /* completed reads and writes */
	long torn;   /* reads that saw more than one byte value */
	long errors; /* failed or short reads and writes */
	int first_errno;
};

static struct tally *tallies; /* one per child, MAP_SHARED */
#define MAX_CHILDREN 16

static int setup(void **state)
{
	mount_start(&mnt, shmfs_path, NULL);
	return 0;
}

static int teardown(void **state)
{
	return mount_stop_clean(&mnt);
}

static void *aligned_buffer(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static bool uniform(const unsigned char *p, size_t size)
{
	return size < 2 || (p[0] == p[size - 1] && memcmp(p, p + 1, size - 1) == 0);
}

static void note_error(struct tally *t, int err)
{
	if (t->errors++ == 0)
		t->first_errno = err;
}

/* The lock_semid of a segment's sidecar, as a client would find it
 * (one that can use it: the daemon's private sets are root's, as the test). */
static int lock_semid_of(int id)
{
	int semid = sidecar_semid(M, id);

	assert_true(semid >= 0);
	return semid;
}

/* How many semaphore sets the namespace holds. */
static int count_sets(void)
{
	int n = testutil_sysvipc_count("sem");

	assert_true(n >= 0);
	return n;
}

/* Lock together with shmfs as an outside program must: a keyed segment
 * gets the ShareLite set of its key (3 semaphores, semaphore 0 marked),
 * made before anything is open.  A private segment is guarded by the
 * daemon's private lock, which no outside program can take: -1. */
static int outside_lock_set(int id, int32_t key)
{
	int semid;

	if (!key)
		return -1;
	semid = make_sharelite_set(key);
	assert_int_equal(lock_semid_of(id), semid);
	return semid;
}

/* ---- the workers: each a child process, reporting through its tally --- */

enum worker_kind {
	MOUNT_WRITER,
	MOUNT_READER,
	OUTSIDE_WRITER,
	OUTSIDE_READER,
};

struct worker {
	enum worker_kind kind;
	int shmid;
	int semid;
	size_t size;
	long ops;
	unsigned char seed;
	size_t skip; /* bytes at the start the check leaves out (a header) */
};

static void mount_worker(const struct worker *w, struct tally *t)
{
	char path[128];
	unsigned char *buf = aligned_buffer(w->size);
	bool writer = w->kind == MOUNT_WRITER;
	int fd;

	snprintf(path, sizeof(path), "%s/%d", M, w->shmid);
	fd = open(path, writer ? O_RDWR : O_RDONLY);
	if (fd < 0 || !buf) {
		note_error(t, errno);
		return;
	}
	for (long i = 0; i < w->ops; i++) {
		ssize_t n;

		if (writer) {
			memset(buf, (unsigned char)(w->seed + i), w->size);
			n = pwrite(fd, buf, w->size, 0);
		} else {
			n = pread(fd, buf, w->size, 0);
			if (n == (ssize_t)w->size && !uniform(buf + w->skip, w->size - w->skip))
				t->torn++;
		}
		if (n != (ssize_t)w->size)
			note_error(t, n < 0 ? errno : 0);
		t->ops++;
	}
	close(fd);
}

static void outside_worker(const struct worker *w, struct tally *t)
{
	bool writer = w->kind == OUTSIDE_WRITER;
	enum lock_mode mode = writer ? LOCK_MODE_EXCLUSIVE : LOCK_MODE_SHARED;
	unsigned char *p = shmat(w->shmid, NULL, writer ? 0 : SHM_RDONLY);

	if (p == (void *)-1) {
		note_error(t, errno);
		return;
	}
	for (long i = 0; i < w->ops; i++) {
		int ret = lock_acquire(w->semid, mode, 30000, NULL, NULL);

		if (ret) {
			note_error(t, -ret);
			continue;
		}
		if (writer)
			memset(p, (unsigned char)(w->seed + i), w->size);
		else if (!uniform(p + w->skip, w->size - w->skip))
			t->torn++;
		lock_release(w->semid, mode);
		t->ops++;
	}
	shmdt(p);
}

static pid_t start_worker(const struct worker *w, struct tally *t)
{
	pid_t pid = testutil_fork();

	if (pid == 0) {
		if (w->kind == MOUNT_WRITER || w->kind == MOUNT_READER)
			mount_worker(w, t);
		else
			outside_worker(w, t);
		_exit(0);
	}
	return pid;
}

/* Perl IPC::ShareLite as a writer: it creates its own share (segment and
 * semaphore set under key), then writes raw bytes over the whole segment
 * after its 16-byte header with shmwrite under $share->lock(LOCK_EX), so
 * all readers see whole fills.  The header stays ShareLite's: it is what
 * tells shmfs that the key's set is the share's lock. */
static const char sharelite_writer[] =
	"use strict; use IPC::ShareLite qw(:lock);"
	"my ($key, $size, $n) = @ARGV; $| = 1;"
	"my $s = IPC::ShareLite->new(-key => $key, -create => 1, -exclusive => 1,"
	"    -destroy => 0, -size => $size) or die qq(sharelite: $!\\n);"
	"my $id = shmget($key, 0, 0); defined $id or die qq(shmget: $!\\n);"
	"$s->lock(LOCK_EX); shmwrite($id, qq(\\0) x ($size - 16), 16, $size - 16) or die; "
	"$s->unlock;"
	"print qq($id\\n); my $go = <STDIN>;"
	"for my $i (1 .. $n) {"
	"    $s->lock(LOCK_EX) or die qq(lock: $!\\n);"
	"    shmwrite($id, chr(1 + $i % 251) x ($size - 16), 16, $size - 16) or die qq(shmwrite: "
	"$!\\n);"
	"    $s->unlock or die qq(unlock: $!\\n);"
	"}"
	"print qq(done $n\\n);";

struct perl_writer {
	pid_t pid;
	FILE *from;
	int to;
	int shmid;
};

static void perl_start(struct perl_writer *pw, int key, size_t size, long ops)
{
	int down[2], up[2];
	char k[32], s[32], n[32], line[64];

	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	snprintf(k, sizeof(k), "%d", key);
	snprintf(s, sizeof(s), "%zu", size);
	snprintf(n, sizeof(n), "%ld", ops);
	pw->pid = testutil_fork();
	if (pw->pid == 0) {
		dup2(down[0], 0);
		dup2(up[1], 1);
		close(down[1]);
		close(up[0]);
		execlp("perl", "perl", "-e", sharelite_writer, k, s, n, (char *)NULL);
		_exit(127);
	}
	close(down[0]);
	close(up[1]);
	pw->to = down[1];
	pw->from = fdopen(up[0], "r");
	assert_non_null(pw->from);
	assert_non_null(fgets(line, sizeof(line), pw->from));
	pw->shmid = atoi(line);
}

static void perl_go(struct perl_writer *pw)
{
	assert_int_equal(write(pw->to, "go\n", 3), 3);
}

static long perl_finish(struct perl_writer *pw)
{
	char line[64] = "";
	int status;

	if (!fgets(line, sizeof(line), pw->from))
		line[0] = '\0';
	assert_int_equal(waitpid(pw->pid, &status, 0), pw->pid);
	fclose(pw->from);
	close(pw->to);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(strncmp(line, "done ", 5), 0);
	return atol(line + 5);
}

/* ---- the torn-read stress ------------------------------------------------ */

struct size_case {
	size_t size;
	int32_t key;	  /* 0: a private segment (the daemon's private lock) */
	long mount_ops;	  /* per worker through the mount */
	long outside_ops; /* per worker outside it */
};

static void wait_all(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

/* Sum the tallies of n children into *sum, reporting each. */
static void collect(const char *what, size_t size, int n, struct tally *sum)
{
	static const char *const names[] = { "mount-writer", "mount-reader", "outside-writer",
					     "outside-reader" };

	for (int i = 0; i < n; i++) {
		struct tally *t = &tallies[i];

		if (t->errors)
			fprintf(stderr, "%s size %zu: child %d (%s): %ld errors, first: %s\n", what,
				size, i, i < 4 ? names[i] : "reader", t->errors,
				strerror(t->first_errno));
		sum->ops += t->ops;
		sum->torn += t->torn;
		sum->errors += t->errors;
	}
}

/* One segment of each size (a read of less than two pages is copied via a
 * buffer, a bigger one is spliced from the segment's file if it fits in a
 * pipe, else copied); on each, concurrently: one writer and two
 * readers through the mount, one writer and one reader outside it. */
static void test_no_torn_reads(void **state)
{
	static const struct size_case cases[] = {
		{ 1, 0x7e570001, 6000, 12000 },
		{ 4095, 0, 6000, 12000 },
		{ 4096, 0x7e570002, 6000, 12000 },
		{ 65536 + 3, 0, 4000, 8000 },
		/* the largest reply spliced with a 1 MiB pipe, and one too big
		 * for it (without CAP_SYS_RESOURCE a pipe grows no further) */
		{ MIB - 16384, 0, 200, 400 },
		{ MIB, 0x7e570003, 200, 400 },
	};
	struct tally sum = { 0 };
	pid_t pids[MAX_CHILDREN];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct size_case *sc = &cases[c];
		int id = make_segment(sc->key ? sc->key : IPC_PRIVATE, sc->size, 0600);
		int semid = outside_lock_set(id, sc->key);
		struct worker w = { .shmid = id, .semid = semid, .size = sc->size };
		int n = 0;

		memset(tallies, 0, MAX_CHILDREN * sizeof(*tallies));
		w.kind = MOUNT_WRITER, w.ops = sc->mount_ops, w.seed = 1;
		pids[n] = start_worker(&w, &tallies[n]), n++;
		w.kind = MOUNT_READER;
		pids[n] = start_worker(&w, &tallies[n]), n++;
		/* outside workers lock with the ShareLite set; a private
		 * segment's lock is the daemon's: a second writer through the
		 * mount instead */
		w.kind = semid >= 0 ? OUTSIDE_WRITER : MOUNT_WRITER, w.seed = 128;
		w.ops = semid >= 0 ? sc->outside_ops : sc->mount_ops;
		pids[n] = start_worker(&w, &tallies[n]), n++;
		if (semid >= 0) {
			w.kind = OUTSIDE_READER;
			pids[n] = start_worker(&w, &tallies[n]), n++;
		}
		w.kind = MOUNT_READER, w.ops = sc->mount_ops;
		pids[n] = start_worker(&w, &tallies[n]), n++;
		wait_all(pids, n);
		collect("stress", sc->size, n, &sum);
		assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
		if (semid >= 0)
			assert_int_equal(semctl(semid, 0, IPC_RMID), 0);
	}

	/* Perl IPC::ShareLite writing, C readers on both sides. */
	struct perl_writer pw;
	const size_t sl_size = 65536 + 3;
	const long sl_ops = 3000;
	struct worker w = { .size = sl_size, .ops = sl_ops, .skip = 16 };
	char line[32];
	int n = 0;

	perl_start(&pw, 0x7e5700ff, sl_size, sl_ops);
	w.shmid = pw.shmid;
	/* a share's set is known from its bytes, which an open reads */
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat 3< %s/%d", M, pw.shmid, M, pw.shmid),
			 0);
	assert_non_null(sidecar_value(out, "lock_semid", line, sizeof(line)));
	w.semid = atoi(line);
	assert_int_equal(semget(0x7e5700ff, 3, 0), w.semid);
	memset(tallies, 0, MAX_CHILDREN * sizeof(*tallies));
	w.kind = MOUNT_READER;
	pids[n] = start_worker(&w, &tallies[n]), n++;
	pids[n] = start_worker(&w, &tallies[n]), n++;
	w.kind = OUTSIDE_READER;
	pids[n] = start_worker(&w, &tallies[n]), n++;
	perl_go(&pw);
	wait_all(pids, n);
	collect("sharelite", sl_size, n, &sum);
	sum.ops += perl_finish(&pw);
	assert_int_equal(shmctl(pw.shmid, IPC_RMID, NULL), 0);
	assert_int_equal(semctl(w.semid, 0, IPC_RMID), 0);

	printf("stress: %ld operations, %ld torn reads, %ld errors\n", sum.ops, sum.torn,
	       sum.errors);
	assert_true(sum.ops >= 100000);
	assert_int_equal(sum.torn, 0);
	assert_int_equal(sum.errors, 0);
	/* the daemon still answers */
	assert_int_equal(run(out, sizeof(out), "ls %s > /dev/null", M), 0);
}

/* ---- many at once ------------------------------------------------------------ */

static int *make_segments(int n, size_t size)
{
	int *ids = calloc(n, sizeof(*ids));

	assert_non_null(ids);
	for (int i = 0; i < n; i++)
		ids[i] = make_segment(IPC_PRIVATE, size, 0600);
	return ids;
}

static void remove_segments(int *ids, int n)
{
	for (int i = 0; i < n; i++)
		shmctl(ids[i], IPC_RMID, NULL);
	free(ids);
}

/* 1000 files open at once through the mount, each its own attachment. */
static void test_thousand_open_files(void **state)
{
	enum {
		NFILES = 1000
	};
	struct rlimit rl = { 4096, 4096 };
	int *ids = make_segments(NFILES, 64);
	int *fds = calloc(NFILES, sizeof(*fds));
	int sets_before = count_sets();
	char path[128];

	assert_non_null(fds);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%d", M, ids[i]);
		fds[i] = open(path, O_RDWR);
		assert_true(fds[i] >= 0);
		assert_int_equal(pwrite(fds[i], &i, sizeof(i), 0), sizeof(i));
	}
	for (int i = 0; i < NFILES; i++) {
		struct shmid_ds ds;
		int v = -1;

		assert_int_equal(pread(fds[i], &v, sizeof(v), 0), sizeof(v));
		assert_int_equal(v, i);
		assert_int_equal(shmctl(ids[i], IPC_STAT, &ds), 0);
		/* an open file is no attacher */
		assert_int_equal(ds.shm_nattch, 0);
	}
	/* their locks are the daemon's private locks: no set at all */
	assert_int_equal(count_sets(), sets_before);
	for (int i = 0; i < NFILES; i++)
		assert_int_equal(close(fds[i]), 0);
	assert_int_equal(count_sets(), sets_before);
	printf("open-files: %d files open at once\n", NFILES);
	free(fds);
	remove_segments(ids, NFILES);
}

/* Mount with the daemon run under prlimit(1) with these limits, in front
 * of any SHMFS_WRAPPER. */
static void mount_limited(struct test_mount *m, const char *limits)
{
	const char *old = getenv("SHMFS_WRAPPER");
	char wrapper[512];

	snprintf(wrapper, sizeof(wrapper), "prlimit %s %s", limits, old ? old : "");
	setenv("SHMFS_WRAPPER", wrapper, 1);
	mount_start(m, shmfs_path, NULL);
	if (old)
		setenv("SHMFS_WRAPPER", old, 1);
	else
		unsetenv("SHMFS_WRAPPER");
}

/* A daemon whose hard limit on descriptors is low, with more segments
 * open than the limit: those past its budget (the limit less 128, or half
 * a limit under 256) are
 * read and written through their mappings, and what needs descriptors of
 * its own still works (without the budget, the sidecar lost its rss: the
 * daemon could not open /proc/sysvipc/shm).  prlimit(1) sets the daemon's
 * limits, in front of any SHMFS_WRAPPER. */
static void budget_case(int limit, int nfiles)
{
	char wrapper[64], path[128], rss[32];
	rlim_t want = (rlim_t)nfiles + 64;
	struct rlimit rl;
	struct test_mount m;
	int *ids = make_segments(nfiles, 3 * 4096);
	int *fds = calloc(nfiles, sizeof(*fds));

	assert_non_null(fds);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	snprintf(wrapper, sizeof(wrapper), "--nofile=%d:%d", limit, limit);
	mount_limited(&m, wrapper);

	for (int i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%d", m.dir, ids[i]);
		fds[i] = open(path, O_RDWR);
		assert_true(fds[i] >= 0);
		assert_int_equal(pwrite(fds[i], &i, sizeof(i), 4096 + 1), sizeof(i));
	}
	/* a total line, by-key, sem, msg, and a file and a sidecar per segment */
	assert_int_equal(run(out, sizeof(out), "ls -l %s | wc -l", m.dir), 0);
	assert_int_equal(atoi(out), 2 * nfiles + 4);
	/* rss comes from /proc/sysvipc/shm: the daemon could open it (one
	 * page written) */
	assert_int_equal(run(out, sizeof(out), "cat %s/%d.stat", m.dir, ids[0]), 0);
	assert_non_null(sidecar_value(out, "rss", rss, sizeof(rss)));
	assert_string_equal(rss, "4096");
	for (int i = 0; i < nfiles; i++) {
		static char big[3 * 4096];
		int v = -1;

		/* a small read, and one big enough to be spliced */
		assert_int_equal(pread(fds[i], &v, sizeof(v), 4096 + 1), sizeof(v));
		assert_int_equal(v, i);
		assert_int_equal(pread(fds[i], big, sizeof(big), 0), sizeof(big));
		assert_memory_equal(big + 4096 + 1, &i, sizeof(i));
		assert_int_equal(close(fds[i]), 0);
	}
	printf("budget: %d segments open under a limit of %d descriptors\n", nfiles, limit);
	assert_int_equal(mount_stop(&m), 0);
	free(fds);
	remove_segments(ids, nfiles);
}

static void test_descriptor_budget(void **state)
{
	budget_case(320, 400);
	/* a limit under twice the reserve: half of it for the segments */
	budget_case(100, 120);
}

/* pwrite to a segment's file is subject to RLIMIT_FSIZE, a memcpy into its
 * mapping is not: a daemon started under ulimit -f must neither die of
 * SIGXFSZ nor fail the write. */
static void test_file_size_limit(void **state)
{
	int id = make_segment(IPC_PRIVATE, 4 * MIB, 0600);
	const unsigned char *seg = shmat(id, NULL, SHM_RDONLY);
	char path[128];
	char *buf = aligned_buffer(MIB);
	struct test_mount m;
	int fd;

	assert_non_null(buf);
	assert_ptr_not_equal(seg, (void *)-1);
	mount_limited(&m, "--fsize=1048576");
	snprintf(path, sizeof(path), "%s/%d", m.dir, id);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	for (int pass = 0; pass < 4; pass++) {
		memset(buf, 'a' + pass, MIB);
		assert_int_equal(pwrite(fd, buf, MIB, 2 * MIB), MIB);
		assert_int_equal(pwrite(fd, buf, 10, 3 * MIB + 5), 10);
		assert_true(uniform(seg + 2 * MIB, MIB));
		assert_int_equal(seg[2 * MIB], 'a' + pass);
	}
	assert_int_equal(close(fd), 0);
	assert_int_equal(mount_stop(&m), 0);
	shmdt(seg);
	shmctl(id, IPC_RMID, NULL);
	munmap(buf, MIB);
}

/* Every line of ls's standard error must be about a vanished entry. */
static bool only_vanished(const char *err)
{
	for (const char *line = err; *line;) {
		const char *end = strchr(line, '\n');

		if (!strstr(line, "No such file or directory") ||
		    (end && strstr(line, "No such file or directory") > end)) {
			fprintf(stderr, "unexpected ls error: %.*s\n",
				(int)(end ? end - line : (long)strlen(line)), line);
			return false;
		}
		line = end ? end + 1 : line + strlen(line);
	}
	return true;
}

/* Thousands of segments; several ls -l at once while segments are made
 * and removed: ENOENT for a vanished one is the only error. */
static void test_many_segments_and_listings(void **state)
{
	enum {
		NSEG = 3000,
		LISTERS = 3,
		LISTINGS = 6,
		CHURN = 1500
	};
	pid_t pids[LISTERS + 1];
	int *ids;

	assert_int_equal(run(out, sizeof(out), "echo 8192 > /proc/sys/kernel/shmmni"), 0);
	ids = make_segments(NSEG, 1);
	memset(tallies, 0, MAX_CHILDREN * sizeof(*tallies));
	for (int l = 0; l < LISTERS; l++) {
		pids[l] = testutil_fork();
		if (pids[l] == 0) {
			static char err[1 << 20];

			for (int i = 0; i < LISTINGS; i++) {
				int ret = run(err, sizeof(err), "ls -l %s%s 2>&1 >/dev/null", M,
					      l == 0 ? "/by-key" : "");

				/* ls exits 1 for a vanished entry, 2 for trouble */
				if (ret != 0 && (ret != 1 || !only_vanished(err)))
					note_error(&tallies[l], ret < 0 ? ETIME : EIO);
				tallies[l].ops++;
			}
			_exit(0);
		}
	}
	/* The churn: keyed and private segments made, listed, removed. */
	pids[LISTERS] = testutil_fork();
	if (pids[LISTERS] == 0) {
		struct tally *t = &tallies[LISTERS];

		for (int i = 0; i < CHURN; i++) {
			int id = shmget(i % 2 ? 0x7e580000 + i : IPC_PRIVATE, 4096,
					IPC_CREAT | IPC_EXCL | 0600);

			if (id < 0 || shmctl(id, IPC_RMID, NULL) != 0)
				note_error(t, errno);
			t->ops++;
		}
		_exit(0);
	}
	wait_all(pids, LISTERS + 1);
	for (int i = 0; i <= LISTERS; i++) {
		if (tallies[i].errors)
			fprintf(stderr, "child %d: %ld errors (%s)\n", i, tallies[i].errors,
				strerror(tallies[i].first_errno));
		assert_int_equal(tallies[i].errors, 0);
	}
	/* Every segment is still listed and the daemon still answers. */
	assert_int_equal(run(out, sizeof(out), "ls %s | grep -c -v stat", M), 0);
	assert_int_equal(atoi(out), NSEG + 3); /* and by-key, sem, msg */
	assert_int_equal(run(out, sizeof(out), "stat -c %%s %s/%d", M, ids[NSEG - 1]), 0);
	assert_string_equal(out, "1\n");
	printf("many: %d segments, %d ls -l, %d segments made and removed meanwhile\n", NSEG,
	       LISTERS * LISTINGS, CHURN);
	remove_segments(ids, NSEG);
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_torn_reads),
		cmocka_unit_test(test_thousand_open_files),
		cmocka_unit_test(test_descriptor_budget),
		cmocka_unit_test(test_file_size_limit),
		cmocka_unit_test(test_many_segments_and_listings),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	tallies = mmap(NULL, MAX_CHILDREN * sizeof(*tallies), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tallies == MAP_FAILED)
		return 1;
	testutil_watchdog(WATCHDOG_S);
	return testutil_run_group_tests(tests, setup, teardown);
}
