/* scale.c - section 7 of shmfs-bench: a full namespace.
 *
 * In an IPC namespace of its own (kernel.shmmni raised there only), with
 * 100 segments and then N (default 32,000), every figure is set beside
 * its anchor measured in the same run: a sidecar of the last segment
 * beside the first's and beside one with 100 segments present; all
 * sidecars one after the other (on a mount with attr_timeout=0, so each
 * is a lookup, an open, a read and a release) beside N times one with 100
 * present, and cat MNT/ *.stat beside cat /proc/sysvipc/shm and a loop of
 * ipcs -m -i (timed over IPCS_LOOP runs); ls -l
 * beside ipcs -m; by-key/ beside the root; the daemon's RSS at N listed
 * beside its RSS at 4,000; its CPU ticks while idle.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

#include "bench.h"

#define SCALE_KEY   0x5c410000 /* + index */
#define VIEWS_KEY   0x5c420000 /* + index: the sets and queues of the views' rows */
#define FEW	    100
#define MID_RSS_AT  4000
#define IPCS_LOOP   300 /* ipcs -m -i runs timed, of the N a loop would take */
#define SIDECAR_BUF 4096

struct scale {
	const struct scale_args *a;
	int *ids;
	int n;
	char dir[160], dir_t0[160];
	struct daemon d, d_t0;
	/* issue 22's figures, medians of the runs */
	double open_us, open_null_us, held_us, held_null_us, open_ratio, held_ratio;
	double fresh_root_ms, fresh_bykey_ms, fresh_ratio;
};

static void make_upto(struct scale *s, int n)
{
	for (; s->n < n; s->n++) {
		int id = shmget(SCALE_KEY + s->n, 4096, IPC_CREAT | IPC_EXCL | 0644);

		if (id < 0)
			die("shmget of segment %d of %d: %s (kernel.shmmni?)", s->n + 1, n,
			    strerror(errno));
		s->ids[s->n] = id;
	}
}

static void mount_one(struct scale *s, struct daemon *d, char *dir, size_t size, const char *name,
		      const char *opt)
{
	const char *argv[8];
	int argc = 0;

	snprintf(dir, size, "%s/%s", s->a->top, name);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	argv[argc++] = s->a->shmfs;
	argv[argc++] = "-f";
	if (opt) {
		argv[argc++] = "-o";
		argv[argc++] = opt;
	}
	argv[argc++] = dir;
	argv[argc] = NULL;
	daemon_start(d, dir, argv);
}

static void unmount_one(struct daemon *d, const char *dir)
{
	int status = daemon_stop(d);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		note("shmfs (%s) did not exit cleanly (wait status 0x%x)", dir, status);
	rmdir(dir);
}

/* ---- what is timed ---------------------------------------------------- */

static bool cat_file(void *arg)
{
	char buf[SIDECAR_BUF];
	int fd = open(arg, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n == 0;
}

static bool stat_file(void *arg)
{
	struct stat st;

	return stat(arg, &st) == 0;
}

static bool open_close(void *arg)
{
	int fd = open(arg, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* The common case: open, read 4 KiB, close. */
static bool open_read_close(void *arg)
{
	char buf[4096];
	int fd = open(arg, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	return n == sizeof(buf);
}

static double median_us(struct scale *s, bool (*fn)(void *), void *arg)
{
	double v[16];
	int runs = s->a->runs < 16 ? s->a->runs : 16;

	for (int r = 0; r < runs; r++)
		v[r] = per_call_us(fn, arg, s->a->call_s, 20, 100000);
	return median(v, runs);
}

/* A command line's wall time in ms, median of the runs; the first run's
 * in *first (with nothing of it cached yet) if first is not NULL. */
static double median_cmd_ms(struct scale *s, const char *cmdline, double *first)
{
	const char *argv[] = { "sh", "-c", cmdline, NULL };
	double v[16];
	int runs = s->a->runs < 16 ? s->a->runs : 16;

	for (int r = 0; r < runs; r++) {
		/* past the attribute and entry timeouts (0.1 s) */
		usleep(150000);
		v[r] = run_quiet(argv) * 1000;
		if (v[r] < 0)
			die("%s failed", cmdline);
		if (r == 0 && first)
			*first = v[0];
	}
	return median(v, runs);
}

static void path_of(struct scale *s, const char *dir, int i, const char *suffix, char *buf,
		    size_t size)
{
	snprintf(buf, size, "%s/%d%s", dir, s->ids[i], suffix);
}

/* ---- the daemon ------------------------------------------------------- */

static long long status_of(pid_t pid, const char *field)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	return status_kib(path, field);
}

/* Clock ticks the process (all its threads) has used, user and system. */
static long long ticks_of(pid_t pid)
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

static void list_dir(const char *dir)
{
	DIR *d = opendir(dir);

	if (!d)
		die("opendir %s: %s", dir, strerror(errno));
	while (readdir(d))
		;
	closedir(d);
}

/* ---- the common case and a first listing -------------------------------- */

/* open + 4 KiB pread + close of the last segment, against the same loop
 * on nullfs (its file as big, the same timeouts as shmfs's default),
 * interleaved run by run; then the same while a second descriptor of
 * each stays open.  Ratios are of rates: nullfs's time / shmfs's. */
static void open_loop(struct scale *s)
{
	char dir[160], nfile[200], last[200];
	const char *argv[] = {
		s->a->nullfs, "-f", "-o", "size=4096", "-o", "timeout=0.1", dir, NULL
	};
	double v[4][16], ratio[2][16];
	int runs = s->a->runs < 16 ? s->a->runs : 16;
	struct daemon d = { 0 };

	snprintf(dir, sizeof(dir), "%s/scale-nullfs", s->a->top);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	daemon_start(&d, dir, argv);
	snprintf(nfile, sizeof(nfile), "%s/data", dir);
	path_of(s, s->dir, s->n - 1, "", last, sizeof(last));
	for (int r = 0; r < runs; r++) {
		for (int held = 0; held < 2; held++) {
			int fd[2] = { -1, -1 };

			if (held) {
				fd[0] = open(last, O_RDONLY | O_CLOEXEC);
				fd[1] = open(nfile, O_RDONLY | O_CLOEXEC);
				if (fd[0] < 0 || fd[1] < 0)
					die("open %s, %s: %s", last, nfile, strerror(errno));
			}
			v[2 * held][r] =
				per_call_us(open_read_close, last, s->a->call_s, 20, 100000);
			v[2 * held + 1][r] =
				per_call_us(open_read_close, nfile, s->a->call_s, 20, 100000);
			ratio[held][r] = v[2 * held + 1][r] / v[2 * held][r];
			for (int i = 0; i < 2; i++)
				if (fd[i] >= 0)
					close(fd[i]);
		}
		progress("open+read+close %.1f us (nullfs %.1f); second fd open %.1f (%.1f)",
			 v[0][r], v[1][r], v[2][r], v[3][r]);
	}
	unmount_one(&d, dir);
	s->open_us = median(v[0], runs);
	s->open_null_us = median(v[1], runs);
	s->held_us = median(v[2], runs);
	s->held_null_us = median(v[3], runs);
	s->open_ratio = median(ratio[0], runs);
	s->held_ratio = median(ratio[1], runs);
}

/* The first ls -l of by-key/ after mounting (no link read yet) against
 * the first ls -l of the root after mounting: a fresh mount for each,
 * interleaved run by run.  The ratio is of times. */
static void first_listings(struct scale *s)
{
	char dir[160], cmd[256];
	const char *argv[] = { "sh", "-c", cmd, NULL };
	double v[2][16], ratio[16];
	int runs = s->a->runs < 16 ? s->a->runs : 16;

	for (int r = 0; r < runs; r++) {
		for (int k = 0; k < 2; k++) {
			struct daemon d = { 0 };

			mount_one(s, &d, dir, sizeof(dir), "scale-fresh", NULL);
			snprintf(cmd, sizeof(cmd), "ls -l --color=never %s%s", dir,
				 k ? "/by-key" : "");
			v[k][r] = run_quiet(argv) * 1000;
			if (v[k][r] < 0)
				die("%s failed", cmd);
			unmount_one(&d, dir);
		}
		ratio[r] = v[1][r] / v[0][r];
		progress("first ls -l: root %.1f ms, by-key %.1f ms", v[0][r], v[1][r]);
	}
	s->fresh_root_ms = median(v[0], runs);
	s->fresh_bykey_ms = median(v[1], runs);
	s->fresh_ratio = median(ratio, runs);
}

/* ---- the section ------------------------------------------------------ */

/* The views (sem/, msg/) listed beside ipcs -s and ipcs -q, as ls -l of
 * the segments is beside ipcs -m: n sets of one semaphore and n empty
 * queues, in this section's namespace (kernel.sem's SEMMNI and
 * kernel.msgmni raised there only), removed before it ends. */
struct views_figures {
	double ls_sem, ipcs_s, ls_msg, ipcs_q;
};

static void views_listings(struct scale *s, int n, struct views_figures *f)
{
	int *sets = calloc(n, sizeof(*sets)), *queues = calloc(n, sizeof(*queues));
	char cmd[256];
	int most = n + 16 > 32768 ? 32768 : n + 16;

	if (!sets || !queues)
		die("out of memory");
	snprintf(cmd, sizeof(cmd), "32000 1024000000 500 %d", most);
	if (!write_sysctl("/proc/sys/kernel/sem", cmd))
		die("cannot raise kernel.sem in the namespace: %s", strerror(errno));
	snprintf(cmd, sizeof(cmd), "%d", most);
	if (!write_sysctl("/proc/sys/kernel/msgmni", cmd))
		die("cannot raise kernel.msgmni in the namespace: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		sets[i] = semget(VIEWS_KEY + i, 1, IPC_CREAT | IPC_EXCL | 0644);
		queues[i] = msgget(VIEWS_KEY + i, IPC_CREAT | IPC_EXCL | 0644);
		if (sets[i] < 0 || queues[i] < 0)
			die("set or queue %d of %d: %s", i + 1, n, strerror(errno));
	}
	snprintf(cmd, sizeof(cmd), "ls -l --color=never %s/sem", s->dir);
	f->ls_sem = median_cmd_ms(s, cmd, NULL);
	f->ipcs_s = median_cmd_ms(s, "ipcs -s", NULL);
	snprintf(cmd, sizeof(cmd), "ls -l --color=never %s/msg", s->dir);
	f->ls_msg = median_cmd_ms(s, cmd, NULL);
	f->ipcs_q = median_cmd_ms(s, "ipcs -q", NULL);
	progress("ls -l sem/ %.1f ms (ipcs -s %.1f), msg/ %.1f ms (ipcs -q %.1f)", f->ls_sem,
		 f->ipcs_s, f->ls_msg, f->ipcs_q);
	for (int i = 0; i < n; i++) {
		semctl(sets[i], 0, IPC_RMID);
		msgctl(queues[i], IPC_RMID, NULL);
	}
	free(sets);
	free(queues);
}

void section_scale(const struct scale_args *a)
{
	struct scale s = { .a = a };
	char first[200], mid[200], last[200], cmd[512], label[96];
	double side_few, side_first, side_mid, side_last, side_few_t0, all_t0;
	double st_first, st_last, op_first, op_last, proc_last, ipcs_last;
	double all_side, proc_shm, ipcs_loop, ls_ms, ls_first, ipcs_ms, bykey, bykey_first;
	double find_ms, du_ms, grep_ms;
	struct views_figures views;
	long long rss_mid, rss_full, hwm_full, ticks;
	int saved_ns, shmmni, n = a->nsegments, nopen = a->nopen;
	int *fds;

	note("7 a full namespace: %d segments", n);
	s.ids = calloc(n > MID_RSS_AT ? n : MID_RSS_AT, sizeof(*s.ids));
	fds = calloc(nopen, sizeof(*fds));
	if (!s.ids || !fds)
		die("out of memory");

	/* An IPC namespace of our own for this section: the segments go
	 * with it when its last process (the daemons and us) leaves. */
	saved_ns = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	if (saved_ns < 0 || unshare(CLONE_NEWIPC) != 0)
		die("a new IPC namespace: %s", strerror(errno));
	/* MID_RSS_AT are made whatever n is (the RSS anchor) */
	shmmni = (n > MID_RSS_AT ? n : MID_RSS_AT) + 16;
	snprintf(cmd, sizeof(cmd), "%d", shmmni > 32768 ? 32768 : shmmni);
	if (!write_sysctl("/proc/sys/kernel/shmmni", cmd))
		die("cannot raise kernel.shmmni in the namespace: %s", strerror(errno));

	make_upto(&s, FEW);
	mount_one(&s, &s.d, s.dir, sizeof(s.dir), "scale", NULL);
	mount_one(&s, &s.d_t0, s.dir_t0, sizeof(s.dir_t0), "scale-t0", "attr_timeout=0");
	path_of(&s, s.dir, FEW - 1, ".stat", last, sizeof(last));
	side_few = median_us(&s, cat_file, last);
	path_of(&s, s.dir_t0, FEW - 1, ".stat", last, sizeof(last));
	side_few_t0 = median_us(&s, cat_file, last);
	progress("sidecar with %d segments: %.1f us (%.1f us with lookups)", FEW, side_few,
		 side_few_t0);

	make_upto(&s, MID_RSS_AT);
	list_dir(s.dir);
	snprintf(cmd, sizeof(cmd), "ls -l --color=never %s", s.dir);
	median_cmd_ms(&s, cmd, NULL);
	rss_mid = status_of(s.d.pid, "VmRSS");
	progress("VmRSS at %d listed: %lld KiB", MID_RSS_AT, rss_mid);

	make_upto(&s, n);
	path_of(&s, s.dir, 0, ".stat", first, sizeof(first));
	path_of(&s, s.dir, n / 2, ".stat", mid, sizeof(mid));
	path_of(&s, s.dir, n - 1, ".stat", last, sizeof(last));
	side_first = median_us(&s, cat_file, first);
	side_mid = median_us(&s, cat_file, mid);
	side_last = median_us(&s, cat_file, last);
	progress("sidecars %.1f / %.1f / %.1f us", side_first, side_mid, side_last);

	path_of(&s, s.dir_t0, 0, "", first, sizeof(first));
	path_of(&s, s.dir_t0, n - 1, "", last, sizeof(last));
	st_first = median_us(&s, stat_file, first);
	st_last = median_us(&s, stat_file, last);
	op_first = median_us(&s, open_close, first);
	op_last = median_us(&s, open_close, last);

	if (a->nullfs)
		open_loop(&s);
	first_listings(&s);

	snprintf(cmd, sizeof(cmd), "cat %s/%d.stat", s.dir, s.ids[n - 1]);
	proc_last = median_cmd_ms(&s, cmd, NULL);
	snprintf(cmd, sizeof(cmd), "ipcs -m -i %d", s.ids[n - 1]);
	ipcs_last = median_cmd_ms(&s, cmd, NULL);

	all_t0 = now_s();
	for (int i = 0; i < n; i++) {
		char path[200];

		path_of(&s, s.dir_t0, i, ".stat", path, sizeof(path));
		if (!cat_file(path))
			die("reading %s: %s", path, strerror(errno));
	}
	all_t0 = now_s() - all_t0;
	snprintf(cmd, sizeof(cmd), "cat %s/*.stat", s.dir);
	all_side = median_cmd_ms(&s, cmd, NULL) / 1000;
	proc_shm = median_cmd_ms(&s, "cat /proc/sysvipc/shm", NULL) / 1000;
	snprintf(cmd, sizeof(cmd), "for i in $(seq %d); do ipcs -m -i %d; done", IPCS_LOOP,
		 s.ids[n - 1]);
	ipcs_loop = median_cmd_ms(&s, cmd, NULL) / 1000 * n / IPCS_LOOP;
	progress("all sidecars %.2f s, /proc %.3f s, ipcs loop %.1f s", all_side, proc_shm,
		 ipcs_loop);

	snprintf(cmd, sizeof(cmd), "ls -l --color=never %s", s.dir);
	ls_ms = median_cmd_ms(&s, cmd, &ls_first);
	ipcs_ms = median_cmd_ms(&s, "ipcs -m", NULL);
	snprintf(cmd, sizeof(cmd), "ls -l --color=never %s/by-key", s.dir);
	bykey = median_cmd_ms(&s, cmd, &bykey_first);
	snprintf(cmd, sizeof(cmd), "find %s", s.dir);
	find_ms = median_cmd_ms(&s, cmd, NULL);
	snprintf(cmd, sizeof(cmd), "du -s %s", s.dir);
	du_ms = median_cmd_ms(&s, cmd, NULL);
	snprintf(cmd, sizeof(cmd), "grep -c . %s/*.stat", s.dir);
	grep_ms = median_cmd_ms(&s, cmd, NULL);
	views_listings(&s, n, &views);

	/* Idle: listed, nothing open, nobody waiting. */
	usleep(500000);
	ticks = ticks_of(s.d.pid);
	usleep((useconds_t)(a->idle_s * 1e6));
	ticks = ticks_of(s.d.pid) - ticks;

	/* n listed, nopen files held open. */
	list_dir(s.dir);
	for (int i = 0; i < nopen; i++) {
		char path[200];
		char byte;

		path_of(&s, s.dir, i * (n / nopen), "", path, sizeof(path));
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0 || pread(fds[i], &byte, 1, 0) != 1)
			die("open %s (file %d): %s", path, i, strerror(errno));
	}
	rss_full = status_of(s.d.pid, "VmRSS");
	hwm_full = status_of(s.d.pid, "VmHWM");
	for (int i = 0; i < nopen; i++)
		close(fds[i]);

	unmount_one(&s.d_t0, s.dir_t0);
	unmount_one(&s.d, s.dir);
	for (int i = 0; i < s.n; i++)
		shmctl(s.ids[i], IPC_RMID, NULL);
	if (setns(saved_ns, CLONE_NEWIPC) != 0)
		die("back to the bench's IPC namespace: %s", strerror(errno));
	close(saved_ns);
	free(s.ids);
	free(fds);

	snprintf(label, sizeof(label), "7. a full namespace: %d segments of 4 KiB", n);
	table_section(label, "microseconds per call; ms for a process; s for all; KiB");
	table_row("cat sidecar, first", side_first, 1, "100 segs", side_few);
	table_row("cat sidecar, middle", side_mid, 1, "first", side_first);
	table_row("cat sidecar, last", side_last, 2, "first", side_first, "100 segs", side_few);
	table_row("stat, last (attr_timeout=0)", st_last, 1, "first", st_first);
	table_row("open+close, last (attr_timeout=0)", op_last, 1, "first", op_first);
	table_row("cat N.stat process, last [ms]", proc_last, 1, "ipcs -m -i", ipcs_last);
	snprintf(label, sizeof(label), "all %d sidecars, in turn (t0) [s]", n);
	table_row(label, all_t0, 1, "N x 100segs", n * side_few_t0 / 1e6);
	table_row("  cat MNT/*.stat (a shell's glob) [s]", all_side, 3, "N x 100segs",
		  n * side_few / 1e6, "/proc/sysvipc", proc_shm, "ipcs loop", ipcs_loop);
	table_row("ls -l MNT [ms]", ls_ms, 1, "ipcs -m", ipcs_ms);
	table_row("  its first run [ms]", ls_first, 1, "ipcs -m", ipcs_ms);
	table_row("ls -l MNT/by-key [ms]", bykey, 1, "ls -l MNT", ls_ms);
	table_row("  its first run [ms]", bykey_first, 1, "ls -l MNT", ls_first);
	table_row("first ls -l MNT/by-key, fresh mount [ms]", s.fresh_bykey_ms, 1, "fresh root",
		  s.fresh_root_ms);
	table_row("open+4K pread+close, last segment [us]", s.open_us, 1, "nullfs", s.open_null_us);
	table_row("  the same, a 2nd descriptor open [us]", s.held_us, 2, "nullfs", s.held_null_us,
		  "not held", s.open_us);
	snprintf(label, sizeof(label), "ls -l MNT/sem, %d sets [ms]", n);
	table_row(label, views.ls_sem, 2, "ipcs -s", views.ipcs_s, "ls -l MNT", ls_ms);
	snprintf(label, sizeof(label), "ls -l MNT/msg, %d queues [ms]", n);
	table_row(label, views.ls_msg, 2, "ipcs -q", views.ipcs_q, "ls -l MNT", ls_ms);
	table_row("find MNT [ms]", find_ms, 1, "ls -l MNT", ls_ms);
	table_row("du -s MNT [ms]", du_ms, 1, "ls -l MNT", ls_ms);
	table_row("grep -c . MNT/*.stat [ms]", grep_ms, 1, "ls -l MNT", ls_ms);
	table_text("idle CPU ticks, listed, nothing open", (double)ticks, "(over %.0f s; anchor 0)",
		   a->idle_s);
	snprintf(label, sizeof(label), "VmRSS, %d listed + %d open", n, nopen);
	snprintf(cmd, sizeof(cmd), "%d listed", MID_RSS_AT);
	table_row(label, (double)rss_full, 1, cmd, (double)rss_mid);
	table_row("  VmHWM", (double)hwm_full, 1, cmd, (double)rss_mid);

	snprintf(label, sizeof(label), "open + 4 KiB pread + close, the last of %d segments", n);
	table_goal(label, a->nullfs ? s.open_ratio : -1, "nullfs (rate)", '>', 0.9);
	table_goal("  the same while a second descriptor stays open", a->nullfs ? s.held_ratio : -1,
		   "nullfs (rate)", 0, 0);
	snprintf(label, sizeof(label), "first ls -l by-key/ after mounting, %d segments", n);
	table_goal(label, s.fresh_ratio, "first ls -l root (time)", '<', 1.2);
}
