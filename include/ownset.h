/* ownset.h - semaphore sets the daemon makes: proven its own before each
 * change, and recorded so that the next daemon removes what a killed one
 * left.
 *
 * A semid comes back for a new set once the old one is removed, and a
 * set the daemon hands to a segment's owner (IPC_SET) can be removed by
 * that owner at any time.  So before any semctl that changes or removes
 * one (and before taking posts from it), the set is proven the daemon's:
 * IPC_STAT must show the creator the daemon (cuid, cgid: no other user can
 * make a set with those), key IPC_PRIVATE, the number of semaphores it
 * was made with, and exactly the owner, group, mode and sem_ctime left by
 * the daemon's own last IPC_SET (any IPC_SET or SETVAL by someone else
 * moves sem_ctime).  A look-alike needs a process with the daemon's own
 * uid (root) to make it and change it within the same second.  A set
 * that fails the proof is left alone: the caller logs it once.  Between
 * the proof and the call the kernel offers no compare-and-swap: a set
 * removed and its semid taken again within those microseconds is the
 * one window left.
 *
 * The record: one small file per set under
 * $SHMFS_STATE_DIR (default /run/shmfs)/ipc-<dev>-<ino>/ (the IPC
 * namespace's), written before the set is handed out and removed with
 * the set.  A kill -9 leaves the files; the next daemon of the namespace
 * proves each recorded set (with the same proof) and removes it
 * (ownset_reclaim()).  A record whose namespace died and whose inode
 * number came back names sets that fail the proof: only the file goes.
 * Without a writable state directory nothing is recorded (logged once)
 * and sets then do not survive a kill -9 cleanly.
 *
 * Knows nothing of FUSE.
 */
#ifndef SHMFS_OWNSET_H
#define SHMFS_OWNSET_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

struct own_set {
	int semid;
	int nsems;
	time_t ctime; /* sem_ctime after the daemon's last change */
	uid_t uid;
	gid_t gid;
	unsigned int mode;
	bool recorded;
};

/* semget(IPC_PRIVATE, nsems, 0600) as the daemon, recorded.  0 or
 * -errno (then nothing is left). */
int ownset_make(int nsems, struct own_set *out);
/* Whether the set is still the daemon's (the proof above). */
bool ownset_proven(const struct own_set *s);
/* Prove, then IPC_SET the owner, group and mode (& 0666); the record
 * follows.  -ESTALE if the set is not provably the daemon's any more
 * (left alone); other -errno. */
int ownset_hand(struct own_set *s, uid_t uid, gid_t gid, unsigned int mode);
/* Prove, then IPC_RMID; the record goes either way.  0, or -ESTALE (not
 * provably the daemon's: left alone), or -errno. */
int ownset_remove(struct own_set *s);
/* The set is not ours any more (gone, or failed the proof): forget it
 * and its record, touching nothing in the kernel. */
void ownset_forget(struct own_set *s);
/* Remove the sets recorded for this IPC namespace by an earlier daemon
 * that is gone, after proving each; forget the records.  Returns how
 * many sets were removed. */
int ownset_reclaim(void);

#endif
