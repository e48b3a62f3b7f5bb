/* attr.h - what stat(2) shows of the mount's names: pure functions of a
 * segment's metadata.  Knows nothing of FUSE or syscalls. */
#ifndef SHMFS_ATTR_H
#define SHMFS_ATTR_H

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "names.h"
#include "segment.h"

/* The directories' attributes: owned by the daemon, dated by the mount. */
struct attr_dirs {
	uid_t uid;
	gid_t gid;
	time_t mount_time;
};

/* The attributes of a segment-derived name (segment, sidecar, .next,
 * by-key links).  st_ino is the lifetime's (node_ino_of()): the same
 * for a name whenever and wherever it is shown, never the same for two
 * names that exist at once. */
void attr_of_segment(enum name_kind kind, const struct segment_info *seg, struct stat *st);
/* Whether the kernel may keep kind's attributes no time at all: the
 * sidecar's size is its text's, rendered anew at each stat.  Its entries
 * (lookup, readdirplus) then carry only attr_of_segment()'s attributes,
 * timed out at once: the kernel asks getattr at the next stat anyway, so
 * the text is rendered once per stat, not twice. */
bool attr_uncached(enum name_kind kind);
/* The attributes of the root (NAMES_ROOT_INO) or by-key/ (NAMES_BYKEY_INO). */
void attr_of_dir(const struct attr_dirs *dirs, unsigned long ino, struct stat *st);

#endif
