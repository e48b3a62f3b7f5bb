/* lock.h - the semaphore lock protocol shared with IPC::ShareLite, and
 * which set guards a segment.
 *
 * The protocol: a set of 3 semaphores.
 *   shared lock:     semop {2,0,0},{1,+1,SEM_UNDO}       release {1,-1,SEM_UNDO}
 *   exclusive lock:  semop {1,0,0},{2,0,0},{2,+1,SEM_UNDO} release {2,-1,SEM_UNDO}
 * Semaphore 0 is the mark IPC::ShareLite and IPC::Shareable set to 1 once
 * their share is initialised; the lock never touches it.
 *
 * Which set guards a segment (shmfs only looks, so it never takes a key
 * that is not its own):
 *   - the set of the segment's key, if there is one that follows the
 *     ShareLite protocol (lock_sharelite_set());
 *   - otherwise a private set of shmfs's own (IPC_PRIVATE, mode 0600, the
 *     daemon's: nobody else can take it), made at the first open of a file
 *     of the segment and removed at the last close.
 * The choice made at the first open holds while any file of the segment
 * is open: the lock never moves under someone who may hold it.  Two
 * refinements keep shmfs on the set the segment's programs use:
 *   - a ShareLite set is remembered after the last close, so that after
 *     ipcrm (which clears the key) files opened anew still use it;
 *   - a private set gives way to a ShareLite set made for the key later,
 *     at an open that finds the private set free (shmfs takes it to make
 *     sure: nobody else can).
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

/* The set of seg's key if it follows the ShareLite protocol: exactly 3
 * semaphores, semaphore 0 at 1 (initialised), semaphore 2 at most 1 (one
 * writer), and made by (uid or cuid) the segment's owner or creator or
 * root, so that no one can plant a lock on someone else's segment.
 * Returns the semid, or -ENOENT (no key, marked for destruction, no set,
 * or a set of the program's own).  Creates and changes nothing. */
int lock_sharelite_set(const struct segment_info *seg);

/* For a segment shmfs creates itself (by-key/): the ShareLite set of key,
 * made with the calling thread's credentials (so it is the creator's),
 * all free and not yet marked initialised.  semid or -errno (-EEXIST if
 * the key has a set already). */
int lock_create_sharelite(int32_t key, unsigned int mode);
/* Set semaphore 0 to 1: the share is initialised (ShareLite's mark). */
int lock_mark_initialised(int semid);

/* The sets in use by open files: one per segment, chosen at its first
 * open, kept until its last close.  Thread-safe. */
struct lock_table;
struct lock_hold; /* one open file's hold on its segment's set */

struct budget;

/* sets: each user's budget of private sets made for their opens (NULL:
 * none). */
struct lock_table *lock_table_new(struct budget *sets);
/* Remove every private set still held, then free the table. */
void lock_table_free(struct lock_table *table);

/* Hold seg's set for an open by uid: the one already in use for it, or
 * the choice above (which may create a private set, charged to uid:
 * -ENOSPC when the kernel's table is full or uid's budget is spent).
 * 0 or -errno. */
int lock_table_hold(struct lock_table *table, const struct segment_info *seg, uid_t uid,
		    struct lock_hold **out);
/* The semid of a hold; -1 once its set is gone for good. */
int lock_hold_semid(struct lock_hold *hold);
/* The set of a hold vanished under it (EIDRM/EINVAL from a semop on
 * semid): choose again for every file of the segment (a keyed set made
 * anew, or a private set).  Returns the new semid or -errno. */
int lock_hold_renew(struct lock_table *table, struct lock_hold *hold, int semid);
/* Let go; the last hold on a private set removes it. */
void lock_table_release(struct lock_table *table, struct lock_hold *hold);

/* The set a read of seg would use now: the one held for it, or its
 * ShareLite set, or -1 (none yet: an open would make a private one).
 * Creates nothing. */
int lock_table_current(struct lock_table *table, const struct segment_info *seg);

/* How many sets the table holds, and how many of them are private. */
void lock_table_count(struct lock_table *table, size_t *held, size_t *private_sets);

#endif
