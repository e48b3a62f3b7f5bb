/* watch.h - change notification: write counts, notification sets, and who
 * waits for the next write.
 *
 * A write is seen in two ways: a write through the mount
 * (watch_mark_written()), or a post by an outside writer on the segment's
 * notification set (semop {0,+1,IPC_NOWAIT} after it wrote).  A
 * notification set exists only while someone watches the segment: from
 * the first watch_start() (an open .next file, a file that was polled) to
 * the matching last watch_stop().  It is a private set of 1 semaphore,
 * made by the daemon and given to the segment's owner with the segment's
 * mode, so that whoever may write the segment may post (ownset.c:
 * recorded, and proven the daemon's before every wait on it, every post
 * taken, IPC_SET and IPC_RMID).
 *
 * Nothing polls.  While anyone waits on a segment, one of the parking
 * module's set threads (lockwait.h: its per-user share, kick and linger)
 * waits in the kernel for a post, semop {0,-1} on the set, and takes the
 * rest of the posts at once: the waiters are fired the moment a post
 * comes.  An interrupted waiter (watch_abandon()) is answered at once by
 * a kick of that thread.  A set removed under the wait is seen at once
 * (the kernel ends the semop with EIDRM).  A segment removed by another
 * program is seen by watch_sweep(), which the daemon's background thread
 * calls once a second while anyone waits: the kernel tells nobody.  One
 * removed through the mount is told at once (watch_removed()).
 *
 * The owner can remove the set (so does systemd-logind's RemoveIPC at the
 * owner's last logout), and its semid can then be another user's set: a
 * set no longer provably the daemon's is let go of untouched (logged),
 * its waiters get -EIDRM, watch_notify_semid() says WATCH_SET_LOST, and
 * the next watch_refresh() makes a new one.
 *
 * The state of a segment lifetime is found by the object that stands for
 * the lifetime (the caller's: its attach), never by a shmid.
 *
 * Knows nothing of FUSE: a waiter is a callback.
 */
#ifndef SHMFS_WATCH_H
#define SHMFS_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "identity.h"
#include "segment.h"

struct watch_table;
struct watch_seg; /* one segment's state, shared by its open files */

struct watch_waiter {
	/* Called once, from whichever thread saw the write (err 0), found
	 * the segment gone (-ENOENT), its notification set lost (-EIDRM),
	 * the waiter abandoned (-EINTR), its set's thread given to another
	 * user (-ENOLCK), or at the end (-ESHUTDOWN); never with the
	 * table's mutex held. */
	void (*fire)(struct watch_waiter *w, int err);
	/* A persistent waiter outlives its fire (its owner frees it, after
	 * watch_cancel()); one that is not frees itself in fire and is
	 * never cancelled. */
	bool persistent;
	uid_t uid; /* whose share of the set threads a wait for it takes */

	/* the table's */
	bool firing;	/* taken out, fire not yet returned */
	bool queued;	/* in the table's list */
	bool abandoned; /* watch_abandon() */
	struct watch_seg *seg;
	uint64_t seen; /* the write count it waits to move */
	struct watch_waiter *next;
};

struct budget;
struct lockwait;

/* sets: each user's budget of notification sets made for their watches
 * (NULL: none).  waits: the parking module whose set threads wait for
 * posts (NULL: none; posts are then seen only by watch_refresh()). */
struct watch_table *watch_table_new(struct budget *sets, struct lockwait *waits);
/* The parking module is about to be freed: park nothing on it any more
 * (its waits end with -ESHUTDOWN; their waiters stay for
 * watch_table_stop()). */
void watch_table_unpark(struct watch_table *table);
/* Fire every waiter left with -ESHUTDOWN (while their replies can still
 * be sent: the session's end, before it is destroyed); a later
 * watch_wait() gets -ESHUTDOWN. */
void watch_table_stop(struct watch_table *table);
/* Fire every waiter left with -ESHUTDOWN, remove every set, free. */
void watch_table_free(struct watch_table *table);

/* The state of the lifetime owner stands for (id: its identity), held
 * until watch_put(); NULL on ENOMEM.  owner must outlive the hold. */
struct watch_seg *watch_get(struct watch_table *table, const void *owner,
			    const struct segment_identity *id);
void watch_put(struct watch_table *table, struct watch_seg *s);

/* The count of writes seen on the segment so far. */
uint64_t watch_written(struct watch_seg *s);
/* One more write through the mount: count it and fire its waiters. */
void watch_mark_written(struct watch_table *table, struct watch_seg *s);

/* Start or stop watching: the first start makes the notification set,
 * charged to uid (0 or -errno: -ENOSPC when the kernel's table is full or
 * uid's budget is spent), and hands it to seg's owner if seg is the
 * lifetime watched (NULL, or another: it stays the daemon's); the last
 * stop removes it. */
int watch_start(struct watch_table *table, struct watch_seg *s, const struct segment_info *seg,
		uid_t uid);
void watch_stop(struct watch_table *table, struct watch_seg *s);

/* Wait for the write after seen: 1 if it has come already (w is not
 * queued), 0 if w is queued; else w is not queued and: -EINTR (it was
 * abandoned already), -ESHUTDOWN (stopped), or why no set thread waits
 * for it (lockwait_park(): -ENOLCK past w->uid's share, -ENOMEM,
 * -EAGAIN). */
int watch_wait(struct watch_table *table, struct watch_seg *s, uint64_t seen,
	       struct watch_waiter *w);
/* w gives up waiting (an interrupt): fired with -EINTR at once by its
 * set's thread, or never queued if not yet.  Never fires w itself
 * (callable from libfuse's interrupt callback); w must be alive (its
 * owner unregisters the interrupt callback before freeing it). */
void watch_abandon(struct watch_table *table, struct watch_waiter *w);
/* Take a persistent w out of the queue: true if it was still there (it
 * will not fire); false if it fired or is firing, and then its fire has
 * returned when watch_cancel() does. */
bool watch_cancel(struct watch_table *table, struct watch_waiter *w);

/* Take the posts on s's notification set now; fire its waiters if there
 * were any.  Returns the write count. */
uint64_t watch_refresh(struct watch_table *table, struct watch_seg *s);

/* Look for gone segments among those waited on (a segment removed by
 * another program: the kernel tells nobody) and for lost sets, and fire
 * their waiters; without a parking module also for posts and abandoned
 * waiters.  Returns whether anyone still waits (then call again: the
 * daemon does once a second). */
bool watch_sweep(struct watch_table *table);

/* The lifetime id was removed through the mount (its IPC_RMID has
 * returned): if that destroyed it (nobody else attached), its waiters are
 * fired with -ENOENT before this returns, so before the caller replies to
 * the removal, not at the next sweep.  A lifetime still attached
 * elsewhere can still be written: its waiters wait on (watch_sweep()
 * sees its end). */
void watch_removed(struct watch_table *table, const struct segment_identity *id);

/* The notification set of seg, or -1 if nobody watches it, or
 * WATCH_SET_LOST if its watchers' set vanished and is not made anew yet. */
#define WATCH_SET_LOST (-2)
int watch_notify_semid(struct watch_table *table, const struct segment_info *seg);
/* The owner or mode of the lifetime id changed (IPC_SET; seg: IPC_STAT
 * after it): its set follows. */
void watch_set_perm(struct watch_table *table, const struct segment_identity *id,
		    const struct segment_info *seg);

#endif
