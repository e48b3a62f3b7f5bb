/* sidecar.h - a segment's metadata as text, and the commands a sidecar accepts.
 *
 * Knows nothing of FUSE or syscalls.
 */
#ifndef SHMFS_SIDECAR_H
#define SHMFS_SIDECAR_H

#include <stddef.h>

#include "lockstate.h"
#include "orphan.h"
#include "segment.h"

/* Largest rendering; a buffer of this size always suffices. */
#define SIDECAR_MAX 2048

/* The two semaphore sets of a segment, and what each shows. */
struct sidecar_locks {
	int lock_semid;		       /* the set a read would use now; < 0: none */
	bool lock_private;	       /* the daemon's private lock: "private" */
	const struct lock_state *lock; /* its state; NULL: not shown ("-") */
	unsigned int lock_queued;      /* requests through the mount waiting for it */
	int notify_semid;	       /* the notification set; < 0: none */
#define SIDECAR_SET_REMOVED (-2)       /* "removed": it vanished under its users */
	const struct notify_state *notify;
};

/* Render "name value\n" lines, in this order: key shmid perms size cpid
 * lpid nattch uid gid cuid cgid atime dtime ctime rss swap status, then
 *   lock_semid lock_writer lock_readers lock_waiting_for_writer
 *   lock_waiting_for_readers lock_queued_in_shmfs lock_last_pid lock_last_op
 *   notify_semid notify_posts notify_waiting notify_last_pid notify_last_op
 *   creator_alive (yes|no|unknown) orphan (yes|no)
 * A semid < 0 renders as "none", and so do lock_writer without a writer
 * and a last pid of 0; a state not shown renders as "-" (as rss and swap
 * do when unknown).  locks may be NULL (no sets); verdict may be NULL
 * (not judged: "unknown" and "no").  Returns the length written (without
 * NUL), or -ERANGE if size is too small (buf is then left as an empty
 * string; nothing is written past size). */
int sidecar_render(const struct segment_info *seg, const struct sidecar_locks *locks,
		   const struct orphan_verdict *verdict, char *buf, size_t size);

/* Format one time as the sidecar does: ISO 8601 local time with offset
 * (2026-11-26T14:32:57+0000), or "not-set" for 0, or "@<seconds>" (as GNU
 * date -d reads it) for a time whose year does not fit in struct tm.
 * Returns the length, or -ERANGE as sidecar_render(). */
int sidecar_format_time(time_t t, char *buf, size_t size);

enum sidecar_command {
	SIDECAR_CMD_LOCK,   /* SHM_LOCK */
	SIDECAR_CMD_UNLOCK, /* SHM_UNLOCK */
};

/* Parse what was written to a sidecar: "lock" or "unlock", optionally
 * followed by one newline.  -EINVAL for anything else. */
int sidecar_parse_command(const char *buf, size_t len, enum sidecar_command *cmd);

#endif
