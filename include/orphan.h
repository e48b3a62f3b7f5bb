/* orphan.h - whether the process a pid names now is the one that acted
 * on an IPC object, and which objects are orphans.
 *
 * A pid alone proves nothing: once its process ends the number is given
 * to the next process that needs one.  What the kernel records with a
 * pid (a segment's cpid, a semaphore's sempid, a queue's lspid and lrpid)
 * comes with a time the act cannot be later than (the object's ctime,
 * atime, dtime, otime, stime, rtime: wall-clock seconds).  The process
 * now under that pid is the one that acted only if it had started by
 * then; one started later is another process.  A process's start is
 * /proc/PID/stat's field 22 (clock ticks after boot) plus the wall-clock
 * time of the boot (/proc/stat's btime, which orphan_boot_time() gives
 * without reading /proc/stat).
 *
 * Limits, stated where the verdicts are shown (man page): a pid the
 * daemon's pid namespace does not show is 0 (unknown); a wall clock set
 * forward after the act makes a start look later than it was
 * (ORPHAN_SLACK_S absorbs the rounding only), so "gone" can be wrong
 * after a clock step of more than that; "alive" can be wrong the other
 * way round when the time known is later than the act (an IPC_SET moves
 * ctime) and the pid was reused in between.  A cleanup acting on "yes"
 * errs only in the first case.
 *
 * Knows nothing of FUSE.
 */
#ifndef SHMFS_ORPHAN_H
#define SHMFS_ORPHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "segment.h"

/* Seconds a start may follow the act's recorded time and still be the
 * actor: btime and the recorded times are both whole seconds. */
#define ORPHAN_SLACK_S 2

enum orphan_alive {
	ORPHAN_UNKNOWN = 0, /* no pid recorded, a pid not seen here, or hidden */
	ORPHAN_ALIVE,	    /* the process under the pid started in time */
	ORPHAN_GONE,	    /* no such process, or one started later */
};

/* What /proc shows of the process under one pid now. */
struct orphan_process {
	bool exists;  /* false: no process has the pid, or only a zombie */
	bool known;   /* start is valid (exists, and its stat was readable) */
	time_t start; /* wall-clock seconds */
};

/* Field 3 (state) and field 22 (starttime, ticks after boot) of a
 * /proc/PID/stat text, whose field 2 (comm, in parentheses) may hold
 * blanks and ')'.  Pure; 0 or -EINVAL. */
int orphan_parse_stat(const char *stat, size_t len, char *state, unsigned long long *ticks);

/* The "btime" line of a /proc/stat text.  Pure; 0 or -EINVAL. */
int orphan_parse_btime(const char *text, time_t *btime);

/* The wall-clock time of the boot, in whole seconds, as /proc/stat's
 * btime: the realtime clock less the boottime clock, read each time (it
 * moves when the wall clock is set), with no system call (vDSO) and
 * without /proc/stat, whose every read renders the counters of every CPU
 * and interrupt.  0 or -errno. */
int orphan_boot_time(time_t *btime);

/* The verdict for pid, which acted no later than when, given what /proc
 * shows under it (p; ignored for pid <= 0).  Pure. */
enum orphan_alive orphan_judge(pid_t pid, time_t when, const struct orphan_process *p);

/* Read what the daemon's /proc shows under pid: 0 or -errno (p is then
 * all false). */
int orphan_process_read(pid_t pid, struct orphan_process *p);

/* orphan_judge() with the daemon's /proc. */
enum orphan_alive orphan_pid_alive(pid_t pid, time_t when);

/* "yes", "no", "unknown" (header only: sidecar.c renders it and knows
 * nothing of /proc). */
static inline const char *orphan_alive_name(enum orphan_alive a)
{
	return a == ORPHAN_ALIVE ? "yes" : a == ORPHAN_GONE ? "no" : "unknown";
}

/* A segment's verdict: its creator, and whether it is an orphan: nattch
 * 0, the creator gone, not marked for destruction. */
struct orphan_verdict {
	enum orphan_alive creator;
	bool orphan;
};

/* The latest time a segment's creation can have been: the earliest of
 * its ctime, atime and dtime that is set (each is written at or after
 * the creation).  Pure. */
time_t orphan_segment_created_by(const struct segment_info *seg);

/* The segment's verdict from its creator's (creator, as judged).  Pure. */
void orphan_segment_verdict(const struct segment_info *seg, enum orphan_alive creator,
			    struct orphan_verdict *out);

/* Both, with the daemon's /proc. */
void orphan_judge_segment(const struct segment_info *seg, struct orphan_verdict *out);

/* A set or a queue: an orphan when something it was used by is known,
 * every process it was last used by is gone, and nobody waits on it.
 * Its last users (a set's sempids, a queue's lspid and lrpid; a pid of 0
 * is no user and is not added) are added one by one. */
struct orphan_users {
	size_t known;	       /* users added */
	bool all_gone;	       /* every one added was ORPHAN_GONE */
	unsigned long waiting; /* waiters counted */
};

void orphan_users_init(struct orphan_users *u);
void orphan_users_add(struct orphan_users *u, enum orphan_alive user);
void orphan_users_add_waiting(struct orphan_users *u, unsigned long n);
bool orphan_users_verdict(const struct orphan_users *u);

#endif
