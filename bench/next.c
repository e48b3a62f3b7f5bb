/* next.c - section 10: what waiting for a write costs.
 *
 * Readers of <shmid>.next wait for the next write; an outside writer
 * tells shmfs by posting the segment's notification set (notify_semid in
 * the sidecar).  Measured on one mount (root, its own segments): the
 * daemon's CPU (utime + stime from /proc/PID/stat, in clock ticks) over
 * idle_s seconds with no reader, one reader, and 64 readers each waiting
 * on a segment of its own; then the time from an outside post to the
 * reader's return from read(2), the median of a series.  Nothing changes
 * while the readers wait: a daemon that polls for posts spends CPU there,
 * one woken by the kernel none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define READERS	 64
#define NEXT_KEY 0x4e580000 /* "NX" + index */

static long long cpu_ticks(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long long utime, stime;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!read_line(path, line, sizeof(line)) || !(p = strrchr(line, ')')))
		return -1;
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
		   &stime) != 2)
		return -1;
	return (long long)(utime + stime);
}

/* The daemon's CPU ticks over seconds. */
static double cpu_over(pid_t pid, double seconds)
{
	long long before = cpu_ticks(pid);

	usleep((useconds_t)(seconds * 1e6));
	return (double)(cpu_ticks(pid) - before);
}

static bool in_fuse(pid_t pid)
{
	char path[64], wchan[64];

	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	return read_line(path, wchan, sizeof(wchan)) &&
	       (strstr(wchan, "request_wait_answer") || strstr(wchan, "fuse"));
}

/* A child reading path once; it writes the CLOCK_MONOTONIC time of its
 * return to *done (seconds), or -errno. */
static pid_t reader_start(const char *path, volatile double *done)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char buf[64];
		int fd = open(path, O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || pread(fd, buf, sizeof(buf), 0) < 0) {
			*done = -errno;
			_exit(1);
		}
		*done = now_s();
		_exit(0);
	}
	return pid;
}

/* Whether pid is in its pread(2) (past its open). */
static bool in_pread(pid_t pid)
{
	char path[64], line[256];

	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	return read_line(path, line, sizeof(line)) && atol(line) == SYS_pread64;
}

/* Until every reader waits in its read, past its open (bounded); then a
 * moment for the daemon to settle. */
static void await_readers(const pid_t *pids, int n)
{
	for (int look = 0; look < 2000; look++) {
		int waiting = 0;

		for (int i = 0; i < n; i++)
			waiting += in_fuse(pids[i]) && in_pread(pids[i]);
		if (waiting == n) {
			usleep(200000);
			return;
		}
		usleep(10000);
	}
	die("the .next readers never all waited");
}

static void readers_stop(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
}

static int notify_semid(const char *dir, int id)
{
	char path[320], text[4096];
	const char *v;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%d.stat", dir, id);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	v = strstr(text, "notify_semid ");
	if (!v)
		return -1;
	v += strlen("notify_semid ");
	return *v >= '0' && *v <= '9' ? atoi(v) : -1; /* not "none" */
}

/* The median time, in microseconds, from a post to the reader's return. */
static double post_latency_us(const char *dir, int id, int n)
{
	volatile double *done =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	double *us = calloc(n, sizeof(*us));
	char path[300];
	int got = 0;
	double lat;

	if (done == MAP_FAILED || !us)
		die("out of memory");
	snprintf(path, sizeof(path), "%s/%d.next", dir, id);
	for (int i = 0; i < n; i++) {
		struct sembuf post = { 0, 1, IPC_NOWAIT };
		pid_t pid;
		int semid;
		double t0;

		*done = 0;
		pid = reader_start(path, done);
		await_readers(&pid, 1);
		semid = notify_semid(dir, id);
		t0 = now_s();
		if (semid < 0 || semop(semid, &post, 1) != 0)
			die("no post on the notification set of %d: %s", id, strerror(errno));
		waitpid(pid, NULL, 0);
		if (*done > 0)
			us[got++] = (*done - t0) * 1e6;
	}
	munmap((void *)done, 4096);
	lat = got ? median(us, got) : -1;
	free(us);
	return lat;
}

void section_next(const struct next_args *a)
{
	volatile double *done =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const char *argv[6];
	static pid_t pids[READERS];
	int ids[READERS];
	char dir[256], path[300], label[128];
	double idle, one, many, lat;
	long long threads_idle, threads_many;
	struct daemon d = { 0 };
	int n = 0;

	if (done == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	note("10 waits for a write");
	snprintf(dir, sizeof(dir), "%s/shmfs-next", a->top);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	argv[n++] = a->shmfs;
	argv[n++] = "-f";
	if (a->shmfs_opts) {
		argv[n++] = "-o";
		argv[n++] = a->shmfs_opts;
	}
	argv[n++] = dir;
	argv[n] = NULL;
	for (int i = 0; i < READERS; i++)
		if ((ids[i] = shmget(NEXT_KEY + i, 4096, IPC_CREAT | 0600)) < 0)
			die("shmget: %s", strerror(errno));
	daemon_start(&d, dir, argv);
	usleep(200000);

	snprintf(path, sizeof(path), "/proc/%d/status", d.pid);
	threads_idle = status_kib(path, "Threads");
	idle = cpu_over(d.pid, a->idle_s);
	snprintf(path, sizeof(path), "%s/%d.next", dir, ids[0]);
	pids[0] = reader_start(path, done);
	await_readers(pids, 1);
	one = cpu_over(d.pid, a->idle_s);
	for (int i = 1; i < READERS; i++) {
		snprintf(path, sizeof(path), "%s/%d.next", dir, ids[i]);
		pids[i] = reader_start(path, done);
	}
	await_readers(pids, READERS);
	many = cpu_over(d.pid, a->idle_s);
	snprintf(path, sizeof(path), "/proc/%d/status", d.pid);
	threads_many = status_kib(path, "Threads");
	readers_stop(pids, READERS);
	lat = post_latency_us(dir, ids[0], a->quick ? 20 : 30);

	snprintf(label, sizeof(label), "10. waits for a write (.next): daemon CPU over %.0f s",
		 a->idle_s);
	table_section(label, "clock ticks; us");
	table_row("CPU, 1 reader waiting", one, 1, "idle", idle);
	table_row("CPU, 64 readers waiting, one segment each", many, 1, "idle", idle);
	table_row("  daemon threads, 64 readers waiting", (double)threads_many, 1, "idle",
		  (double)threads_idle);
	table_text("post to the reader's return (median), us", lat, "outside semop {0,+1}");
	progress(".next: CPU idle %.0f, 1 reader %.0f, 64 readers %.0f ticks; post to return %.0f "
		 "us",
		 idle, one, many, lat);
	daemon_stop(&d);
	rmdir(dir);
	for (int i = 0; i < READERS; i++)
		shmctl(ids[i], IPC_RMID, NULL);
	munmap((void *)done, 4096);
}
