/* bench.h - the pieces of shmfs-bench that its sections share.
 *
 * util.c: time, statistics, files, processes and mounts.
 * io.c: the measuring loops (sequential, random, per-call).
 * table.c: the one table that is printed at the end.
 */
#ifndef SHMFS_BENCH_H
#define SHMFS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KIB (1024ull)
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

/* ---- util.c ---------------------------------------------------------- */

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool bench_verbose;

double now_s(void);
/* Sorts v in place. */
double median(double *v, int n);

/* The first line of path (newline stripped) into buf; false if unreadable. */
bool read_line(const char *path, char *buf, size_t size);
/* Write a value to a /proc/sys file; false (errno set) if it failed. */
bool write_sysctl(const char *path, const char *value);
/* A "Name:   123 kB" field of /proc/meminfo or /proc/PID/status, in KiB; -1 if absent. */
long long status_kib(const char *path, const char *field);

/* Run argv (argv[0] a path or a name found on PATH) with stdout and stderr
 * to /dev/null and wait for it; returns the wall time in seconds, or a
 * negative number if it could not be run or did not exit 0. */
double run_quiet(const char *const argv[]);

/* A FUSE daemon in the foreground on a mountpoint of our private mount
 * namespace.  It gets SIGTERM if we die. */
struct daemon {
	pid_t pid;
	char dir[256];
};

/* Start argv (with the mountpoint as its last argument, dir) and wait
 * until dir is a FUSE mount.  Dies if it does not mount within 20 s. */
void daemon_start(struct daemon *d, const char *dir, const char *const argv[]);
/* SIGTERM, wait, make sure the mount is gone.  Returns the wait status. */
int daemon_stop(struct daemon *d);

/* A child that runs fn(arg) until it is killed; killed with SIGKILL by
 * child_stop(). */
pid_t child_start(void (*fn)(void *arg), void *arg);
void child_stop(pid_t pid);

/* ---- io.c ------------------------------------------------------------ */

/* A target of I/O: a file (opened per use, flags added to O_RDONLY or
 * O_WRONLY or O_RDWR) or, if mem is set, memory copied with memcpy. */
struct target {
	const char *name; /* short, for the table: "shmfs", "tmpfs" */
	const char *path;
	int extra_flags; /* O_DIRECT for tmpfs when it accepts it */
	char *mem;
	uint64_t size;
};

/* One pass over the whole target in requests of req bytes, through an
 * aligned buffer of that size, the open and close included.  Returns GB/s
 * (10^9 bytes per second). */
double seq_pass(const struct target *t, size_t req, bool write);
/* The same, but the second of two passes on one descriptor, timed alone. */
double seq_pass_again(const struct target *t, size_t req, bool write);

/* nthreads threads, each with its own descriptor, doing 4 KiB pread or
 * pwrite at random 4 KiB-aligned offsets of the first span bytes, for
 * seconds.  Returns operations per second. */
double random_ops(const struct target *t, int nthreads, bool write, double seconds, uint64_t span);

/* One thread reading req-byte requests in sequence over the first span
 * bytes, wrapping around, for seconds.  Returns requests per second. */
double sequential_reads(const struct target *t, size_t req, uint64_t span, double seconds);

/* Call fn(arg) repeatedly for about seconds (at least min_calls, at
 * most max_calls); returns microseconds per call.  fn returns false on
 * failure, which is fatal. */
double per_call_us(bool (*fn)(void *arg), void *arg, double seconds, long min_calls,
		   long max_calls);

/* ---- stall.c --------------------------------------------------------- */

/* Section 8: one user's parked waits against another user's calls, and
 * the daemon's memory under each attack that fills a budget. */
struct stall_env {
	const char *shmfs;
	const char *shmfs_opts; /* -o for every shmfs mount, or NULL */
	const char *top;	/* the bench's temporary directory */
	int runs;
	bool quick;
	double call_s; /* seconds per timed call series */
};

/* False if a daemon did not exit cleanly. */
bool section_stall(const struct stall_env *e);

/* ---- next.c ---------------------------------------------------------- */

/* Section 10 (-o n): the daemon's CPU while .next readers wait, and the
 * time from an outside post to the reader's return. */
struct next_args {
	const char *shmfs;
	const char *shmfs_opts; /* -o for the mount, or NULL */
	const char *top;
	bool quick;
	double idle_s; /* seconds of CPU measured per figure */
};

void section_next(const struct next_args *a);

/* ---- pgbench.c ------------------------------------------------------- */

struct pgbench_args {
	const char *shmfs;
	const char *nullfs; /* the loop over any FUSE server (NULL: left out) */
	const char *top;    /* where to make the mountpoints */
	int runs;
	double seconds; /* per pgbench run */
};

/* Section 9, in an IPC namespace of its own (it returns to the caller's);
 * skipped with a note where PostgreSQL is not installed. */
void section_pgbench(const struct pgbench_args *a);

/* ---- table.c --------------------------------------------------------- */

#define TABLE_MAX_BASE 3

/* Start a section of the table: a title and the unit of its figures. */
void table_section(const char *title, const char *unit);
/* A row: the shmfs figure, then nbase pairs of (const char *name, double
 * value); a value < 0 prints as not measured.  Each baseline is shown
 * with the ratio shmfs / baseline. */
void table_row(const char *label, double shmfs, int nbase, ...);
/* A row with free text instead of ratios. */
void table_text(const char *label, double shmfs, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void table_print(void);

/* The figures of issue 22, printed after the table as one summary:
 * a ratio to a baseline of the same run and the target it is held to
 * (op '>' means ratio >= target, '<' ratio <= target, 0 no target; a
 * ratio < 0 prints as not measured). */
void table_goal(const char *figure, double ratio, const char *baseline, char op, double target);
void table_goal_note(const char *figure, const char *text);

/* ---- scale.c --------------------------------------------------------- */

struct scale_args {
	const char *shmfs;
	const char *nullfs; /* the bare libfuse server, for the open loop */
	const char *top;    /* where to make mountpoints */
	int nsegments;	    /* the full namespace */
	int nopen;	    /* files held open for the memory figure */
	int runs;
	double call_s, idle_s;
};

/* Section 7, in an IPC namespace of its own (it returns to the caller's). */
void section_scale(const struct scale_args *a);

#endif
