/* helper.h - SHM_LOCK and SHM_UNLOCK as the caller, by a child process the
 * daemon never waits for in a worker.
 *
 * The kernel charges locked memory to the real user of the process that
 * locks, against that process's RLIMIT_MEMLOCK: so the call is made by a
 * child of the daemon that becomes the caller entirely (real, effective
 * and saved uid and gid, no supplementary groups, no capabilities) with
 * the caller's limit read from /proc/PID/limits, exactly as a direct
 * shmctl() by the caller would be.  Being the caller's, the child is the
 * caller's to signal: it may be stopped (SIGSTOP), traced or killed.  So
 * nobody waits for it but one thread of ours, on its pidfd, until a
 * deadline; a child that has not answered by then is killed (SIGKILL
 * works on a stopped process too) and the call fails with ETIMEDOUT.
 * Children are not threads of ours: a stopped child holds nothing of the
 * daemon (a copy of its memory, not its memory).
 *
 * Each user may have a few calls under way at once, all users together a
 * few more: past either, -EAGAIN.
 *
 * Knows nothing of FUSE: a call is answered through a callback.
 */
#ifndef SHMFS_HELPER_H
#define SHMFS_HELPER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "segment.h"

/* How long a child may take to answer: HELPER_TIMEOUT_MS, renewed while
 * it is running or in the kernel (a loaded machine), never past
 * HELPER_LIMIT_MS; one stopped or traced (by its caller: it runs as
 * them) or asleep is killed at once at its deadline. */
#define HELPER_TIMEOUT_MS 2000
#define HELPER_LIMIT_MS	  30000

struct helpers;

struct helper_call {
	int shmid;
	bool locked; /* SHM_LOCK, else SHM_UNLOCK */
	struct segment_caller caller;
	/* Called once, from the helpers' thread: 0, or -errno as the
	 * kernel's shmctl() answered the child (-ENOENT for a segment gone),
	 * -ETIMEDOUT if the child did not answer in time (it is killed; the
	 * call may or may not have taken effect: the segment's status says),
	 * -EAGAIN if it died without an answer, -ESHUTDOWN if the daemon
	 * stops first. */
	void (*done)(struct helper_call *c, int err);

	/* the helpers' */
	pid_t pid;
	int pidfd, answer;
	uint64_t deadline_ns, limit_ns;
	bool killed;
	struct helper_call *next;
};

/* per_user: calls one user may have under way; max: all users together. */
struct helpers *helpers_new(unsigned int per_user, unsigned int max);
/* Kill every child still running, answer its call with -ESHUTDOWN, end
 * the thread. */
void helpers_free(struct helpers *h);

#define HELPER_STARTED 1

/* SHM_LOCK or SHM_UNLOCK of c->shmid as c->caller.  HELPER_STARTED: a
 * child runs it, c->done() will be called exactly once.  Otherwise done
 * now (c->done() is not called): 0 or -errno; a daemon that is not root,
 * or a root caller, makes the call itself (it never waits); -EPERM if the
 * caller's limit cannot be read (a caller gone, its pid not the caller's
 * any more; a caller not seen from the daemon's PID namespace, pid 0,
 * gets the daemon's own limit); -EAGAIN if no child could be run or too
 * many calls are under way. */
int helper_set_locked_as(struct helpers *h, struct helper_call *c);

/* The "Max locked memory" line of a /proc/PID/limits text: soft and hard
 * limit in bytes, RLIM_INFINITY for "unlimited".  Pure; -EINVAL if there
 * is no such line or it does not parse. */
struct rlimit;
int segment_parse_memlock_limit(const char *limits, struct rlimit *out);

/* How many children are under way. */
unsigned int helpers_running(struct helpers *h);

#endif
