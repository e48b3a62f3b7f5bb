/* listing.h - shared snapshots of the namespace's segment table.
 *
 * Two things need the whole table: a directory listing, and a segment's
 * resident and swapped bytes (rss and swap appear only in
 * /proc/sysvipc/shm, and the segment's own file cannot be looked at
 * without attaching to it).  Reading the table costs time in proportion
 * to the number of segments, so it is read once and shared:
 *
 * - Open directory handles whose listings are the same share one
 *   snapshot (each opendir reads the table, so a listing is always
 *   current, comparing it line by line with the shared one: no copy is
 *   made while it is the same).  A
 *   user's handles may pin at most LISTING_DIRS_PER_USER different
 *   snapshots.  No snapshot is kept once its last handle is closed.
 * - rss and swap come from a compact table of the latest read (24 bytes
 *   a segment) while it is younger than max(max_age, LISTING_COST_FACTOR
 *   x the time that read took); a segment missing from it, or whose
 *   attach count, size or times changed since, has the table read
 *   again, at most once per read's duration (so that such reads take at
 *   most half the time).
 *
 * Knows nothing of FUSE.  Thread-safe.
 */
#ifndef SHMFS_LISTING_H
#define SHMFS_LISTING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "segment.h"

#define LISTING_DIRS_PER_USER 16
#define LISTING_COST_FACTOR   10

/* What a directory shows of one segment (attr.c, names.c): 64 bytes,
 * not segment_info's 104. */
struct listing_entry {
	int32_t key;
	int shmid;
	unsigned int mode;
	uid_t uid;
	gid_t gid;
	uid_t cuid;
	gid_t cgid; /* with cuid, cpid, size and shmid: the lifetime (node.h) */
	pid_t cpid;
	uint64_t size;
	int64_t atime, dtime, ctime;
};

/* One snapshot of the table: immutable once made, reference counted. */
struct listing {
	struct listing_entry *v; /* in the kernel's order */
	size_t n, cap;
	unsigned long refs;
};

struct listing_cache;

/* max_age: the seconds rss and swap may be old (the attribute timeout). */
struct listing_cache *listing_cache_new(double max_age);
void listing_cache_free(struct listing_cache *cache);

/* The entry of a snapshot with this shmid, or NULL (a linear search). */
const struct listing_entry *listing_find(const struct listing *l, int shmid);
/* An entry as segment_info (nattch, lpid, cgid and usage 0). */
void listing_entry_info(const struct listing_entry *e, struct segment_info *out);

/* One directory handle's snapshot: read now, shared with every handle
 * whose listing is the same.  0, -EMFILE if uid's handles already pin
 * LISTING_DIRS_PER_USER other snapshots, or the errno of the read. */
int listing_open_dir(struct listing_cache *cache, uid_t uid, struct listing **out);
void listing_close_dir(struct listing_cache *cache, uid_t uid, struct listing *l);

/* Fill seg->rss, seg->swap and have_usage from a snapshot as described
 * above; seg holds the segment's metadata as IPC_STAT gave it just now.
 * have_usage stays false if the table cannot be read or the segment is
 * not in it. */
void listing_usage(struct listing_cache *cache, struct segment_info *seg);

/* How many times the table was read: for the tests, which check that the
 * work of one segment does not grow with the number of segments. */
unsigned long listing_table_reads(struct listing_cache *cache);

#endif
