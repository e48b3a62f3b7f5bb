/* waiters.h - who waits on a semaphore set or a message queue, and what
 * the caller may see of the processes the kernel names as last users.
 *
 * The kernel counts a set's waiters (semncnt, semzcnt) but names none,
 * and keeps no count for a queue.  A thread blocked in a call shows it in
 * /proc/PID/task/TID/syscall: the call's number and its arguments, the
 * first being the semid or msqid.  Reading that file needs
 * PTRACE_MODE_ATTACH (same uid and gid as all of the target's, target
 * dumpable, or CAP_SYS_PTRACE), stricter than .procs's maps: a caller
 * sees the waiters it could trace, itself included.  The scan runs with
 * the caller's credentials (procs_run_as(): procs.h has the rule), so
 * the kernel decides, hidepid= included.  Calls recognised: semop,
 * semtimedop, msgsnd, msgrcv of the daemon's architecture (and ipc(2)
 * where it exists); a 32-bit process on a 64-bit kernel shows another
 * architecture's numbers and is not recognised.
 *
 * A pid the kernel records (sempid, lspid, lrpid) is shown with its
 * comm and the orphan.h verdict, both as the caller's /proc shows them
 * (a hidden process is "-" and "unknown").
 *
 * Knows nothing of FUSE.
 */
#ifndef SHMFS_WAITERS_H
#define SHMFS_WAITERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "orphan.h"
#include "procs.h"

/* A comm escaped by procs_escape_comm(): 16 bytes, 4 each at most. */
#define WAITERS_COMM_MAX (4 * 16 + 1)
/* Waiters listed per rendering; more are counted, not named. */
#define WAITERS_MAX 256

enum waiters_object {
	WAITERS_SEM,
	WAITERS_MSG,
};

struct waiters_process {
	pid_t pid; /* the process (thread group) */
	pid_t tid; /* the thread that waits */
	uid_t uid; /* its effective uid */
	char comm[WAITERS_COMM_MAX];
	const char *call; /* "semop", "semtimedop", "msgsnd", "msgrcv" */
	bool self;	  /* the daemon's own thread */
};

struct waiters_list {
	struct waiters_process *v;
	size_t n, cap;
	size_t more; /* found past WAITERS_MAX, not listed */
};

/* A pid recorded by the kernel, and what the caller sees under it. */
struct waiters_pid {
	pid_t pid;   /* in: 0 = none recorded */
	time_t when; /* in: the act was no later than this */
	bool seen;   /* out: comm is valid */
	char comm[WAITERS_COMM_MAX];
	enum orphan_alive alive;
};

/* Parse a /proc/.../syscall text: "nr arg1 ... arg6 sp pc".  -EBUSY for
 * "running", -EINVAL for "-1 ..." (not in a call) or junk.  Pure. */
int waiters_parse_syscall(const char *text, long *nr, unsigned long args[6]);

/* The name of the call if (nr, args) is a wait on object id, else NULL.
 * Pure. */
const char *waiters_call_on(long nr, const unsigned long args[6], enum waiters_object obj, int id);

/* With the caller's credentials (NULL: the daemon's own view): the
 * threads of the daemon's IPC namespace blocked on object id (in
 * *found, when found is not NULL; free with waiters_list_free()), and
 * pids[i].seen/comm/alive for each of the n pids.  0 or -errno as
 * procs_run_as(), -ENOMEM. */
int waiters_look(enum waiters_object obj, int id, const struct procs_caller *caller,
		 struct waiters_pid *pids, size_t n, struct waiters_list *found);

/* waiters_look() bounded by limits (procs.h: procs_run_bounded()): for a
 * caller (not NULL) the look runs on its own copies of pids and found,
 * so that one that timed out (-ETIMEDOUT) goes on alone without writing
 * into the caller's; -EAGAIN past the caller's user's looks under way.
 * limits or caller NULL: waiters_look(). */
int waiters_look_bounded(struct procs_limits *limits, enum waiters_object obj, int id,
			 const struct procs_caller *caller, struct waiters_pid *pids, size_t n,
			 struct waiters_list *found);

void waiters_list_free(struct waiters_list *l);

/* Append one line per waiter,
 *   waiter <pid> tid <tid> uid <uid> comm <comm> call <call>[ (shmfs)]
 * and "waiters_not_listed <n>" past WAITERS_MAX; nothing for NULL. */
struct textbuf;
void waiters_render(struct textbuf *t, const struct waiters_list *l);

#endif
