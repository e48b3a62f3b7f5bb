/* sidecar.h - a segment's metadata as text, and the commands a sidecar accepts.
 *
 * Knows nothing of FUSE or syscalls.
 */
#ifndef SHMFS_SIDECAR_H
#define SHMFS_SIDECAR_H

#include <stddef.h>

#include "segment.h"

/* Largest rendering; a buffer of this size always suffices. */
#define SIDECAR_MAX 1024

/* Render "name value\n" lines, in this order: key shmid perms size cpid
 * lpid nattch uid gid cuid cgid atime dtime ctime rss swap status
 * lock_semid notify_semid.  A semid < 0 renders as "-".  Returns the length written
 * (without NUL), or -ERANGE if size is too small (buf is then left as an
 * empty string; nothing is written past size). */
int sidecar_render(const struct segment_info *seg, int lock_semid, int notify_semid, char *buf,
		   size_t size);

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
