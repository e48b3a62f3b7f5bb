/* lock.h - the semaphore lock protocol shared with IPC::ShareLite.
 *
 * A segment is guarded by a System V semaphore set of 3 semaphores:
 *   - the set with the segment's own key, if the key is not IPC_PRIVATE
 *     (found, or created with the segment's permission bits), provided it
 *     has at least 3 semaphores;
 *   - otherwise a private set that shmfs creates for that segment.
 * Shared lock:     semop {2,0,0},{1,+1,SEM_UNDO}   release {1,-1,SEM_UNDO}
 * Exclusive lock:  semop {1,0,0},{2,0,0},{2,+1,SEM_UNDO}  release {2,-1,SEM_UNDO}
 * Semaphore 0 is never touched (ShareLite sets it to 1 once it has
 * initialised its share).  All zero means free, so a fresh set needs no
 * initialisation.
 *
 * Knows nothing of FUSE nor of a segment's bytes.
 */
#ifndef SHMFS_LOCK_H
#define SHMFS_LOCK_H

#include <stdbool.h>

#include "segment.h"

enum lock_mode {
	LOCK_MODE_SHARED,
	LOCK_MODE_EXCLUSIVE,
};

/* Asked while waiting; returning true abandons the wait with -EINTR. */
typedef bool (*lock_abort_fn)(void *arg);

/* Acquire on a known set.  Waits at most timeout_ms (then -ETIMEDOUT;
 * 0 means try once without waiting), asking abort(arg) every few
 * milliseconds (then -EINTR); abort may be NULL.  -EIDRM or -EINVAL if
 * the set is gone, -EACCES if the daemon may not alter it.  SEM_UNDO makes
 * the kernel release the lock if the process dies holding it. */
int lock_acquire(int semid, enum lock_mode mode, unsigned int timeout_ms, lock_abort_fn abort,
		 void *arg);
/* 0, or -errno: -EAGAIN if no such lock was held (never waits), -EIDRM or
 * -EINVAL if the set is gone. */
int lock_release(int semid, enum lock_mode mode);

/* The daemon's table of which set guards which segment, and which of
 * those sets it created (and so must remove). Thread-safe. */
struct lock_table;

struct lock_table *lock_table_new(void);

/* Remove every set the table created, then free it. */
void lock_table_free(struct lock_table *table);

/* The semid guarding seg: found, or created as described above (owned by
 * the daemon, with the segment's permission bits).  Returns semid >= 0 or
 * -errno.  A segment marked for destruction (SEGMENT_MODE_DEST; the kernel
 * also clears its key) gets a private set; a keyed set created for it
 * before is kept until the segment is swept, as others may still use it. */
int lock_table_semid(struct lock_table *table, const struct segment_info *seg);

/* Forget the cached set of shmid if it is semid (after EIDRM/EINVAL), so
 * the next lock_table_semid() resolves afresh. */
void lock_table_invalidate(struct lock_table *table, int shmid, int semid);

/* Remove the sets the table created for segments not in live, and forget
 * every entry for them.  An entry whose shmid now names another segment
 * (live shows a nonzero key other than the entry's) counts as not in live.
 * live may predate entries made since the previous sweep, so those are
 * kept through this sweep whatever live says: read live before calling,
 * from one thread, and a set goes at the latest at the second sweep that
 * misses its segment. */
void lock_table_sweep(struct lock_table *table, const struct segment_list *live);

/* The "written" semaphore of a segment: a private set of 1 semaphore
 * that outside writers post (semop {0,+1,IPC_NOWAIT}) after writing, so
 * that readers of <shmid>.next and poll(2) wake up.  Created on first
 * use, with the segment's owner and mode, removed with the lock sets.
 * Returns the semid or -errno. */
int lock_table_notify_semid(struct lock_table *table, const struct segment_info *seg);

/* How many writes have been seen on shmid (through the mount, or posted
 * and taken); 0 for a segment the table does not know. */
uint64_t lock_table_written(struct lock_table *table, int shmid);
void lock_table_mark_written(struct lock_table *table, int shmid);

/* Take the posts on shmid's "written" semaphore, counting them as one
 * write; true if there were any.  _all does that for every segment. */
bool lock_table_take_posts(struct lock_table *table, int shmid);
void lock_table_take_all_posts(struct lock_table *table);

#endif
