/* lockset.h - which System V set guards a segment, and what proves a
 * semid is still the set meant: the kernel gives a removed set's number
 * to the next set made, so a semid alone is never trusted.
 *
 * A set's key, creator and number of semaphores never change while it
 * lives: lockset_still() compares them by IPC_STAT right before the
 * daemon operates on the set.  The kernel gives no way to make that
 * check and the semop that follows one step: a set removed and its
 * number given again in between is not seen.
 */
#ifndef SHMFS_LOCKSET_H
#define SHMFS_LOCKSET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/sem.h>
#include <sys/types.h>
#include <time.h>

#include "segment.h"

/* IPC_STAT of semid into *ds: false if it is gone (or not readable). */
bool lockset_stat(int semid, struct semid_ds *ds);
/* Whether semid is still the set IPC_STAT showed as *chosen (its key,
 * creator and size; a chosen with sem_nsems 0 proves nothing). */
bool lockset_still(int semid, const struct semid_ds *chosen);

/* The set of seg's key if it lends its lock (share.h): seg is an
 * IPC::ShareLite or IPC::Shareable share (from its first len bytes at
 * head), or the set carries the shmfs protocol's mark; or, for a
 * ShareLite continuation, the set of the share's first segment.  head
 * NULL: the bytes are unknown, only the mark counts.  The set must be
 * made by root or seg's owner or creator, and in a state the protocol
 * reaches.  Returns the semid, or -ENOENT (no key, marked for
 * destruction, no set, or a set of the program's own: left alone, never
 * locked).  Creates and changes nothing. */
int lock_sharelite_set(const struct segment_info *seg, const void *head, size_t len);

/* A set lock_create_sharelite() made, and what proves a semid still that
 * set: its key, its creator (the calling thread's ids), 5 semaphores and
 * the sem_ctime left by the last change made here.  The set is the
 * creator's, who may remove it at any time, and its semid comes back for
 * a new set; any IPC_SET or SETVAL by someone else moves sem_ctime, and a
 * look-alike needs the creator's own uid making a set under the key
 * within the same second (then it is the creator's set anyway). */
struct lock_made {
	int semid;
	int32_t key;
	uid_t cuid;
	gid_t cgid;
	time_t ctime; /* -1: nothing proves it any more */
};

/* For a segment shmfs creates itself (by-key/): the set of key in the
 * shmfs protocol (5 semaphores, share.h), made with the calling thread's
 * credentials (so it is the creator's), all free and not yet marked; its
 * proof in *made.  semid or -errno (-EEXIST if the key has a set already,
 * -EBUSY if it was removed at once). */
int lock_create_sharelite(int32_t key, unsigned int mode, struct lock_made *made);
/* Mark it: semaphores 3 and 4 to the shmfs mark, then semaphore 0 to 1
 * (initialised, ShareLite's flag). */
int lock_mark_initialised(int semid);
/* lock_mark_initialised() of the set made, once proven; made's proof
 * follows.  0, -ESTALE (not provably the set made: left alone) or -errno. */
int lock_mark_made(struct lock_made *made);
/* IPC_RMID of the set made, once proven.  0, -ESTALE (not provably the
 * set made: left alone) or -errno. */
int lock_remove_made(const struct lock_made *made);

#endif
