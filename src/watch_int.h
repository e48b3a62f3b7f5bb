/* watch_int.h - what watch.c and watch_post.c share: the state of a
 * watched segment lifetime and of the table (watch.h), and the helpers
 * that act on them with the table's mutex held (_locked). */
#ifndef SHMFS_WATCH_INT_H
#define SHMFS_WATCH_INT_H

#include <pthread.h>

#include "lockwait.h"
#include "ownset.h"
#include "watch.h"

/* One segment lifetime's watch state, found by the object that stands
 * for the lifetime (its attach: one per lifetime while a file of it is
 * open), never by its shmid. */
struct watch_seg {
	struct watch_seg *next;
	struct watch_table *table;
	const void *owner; /* NULL once its files are gone (not findable) */
	struct segment_identity id;
	unsigned int refs;     /* open files */
	unsigned int watchers; /* watch_start() not yet stopped */
	struct own_set set;    /* the notification set; semid -1 while none */
	bool lost;	       /* the set vanished under its watchers (logged) */
	bool has_perm;	       /* perm is the segment's: the set is handed to it */
	struct segment_info perm;
	uid_t charged_to; /* whose budget the set counts in */
	uint64_t written;
	bool gone; /* the segment was found destroyed */
	/* The wait for a post, with one of the parking module's set
	 * threads, while s has waiters: parked from the first waiter's
	 * watch_wait() to the callback after which none is left.  A parked
	 * s outlives its last watch_put() (orphan) until that callback. */
	struct lockwait_req post;
	unsigned int nwaiting; /* its waiters in the table */
	bool parked;
	bool orphan;
};

struct watch_table {
	/* Guards the segments, their sets and counts, the waiters list, and
	 * each segment's wait for a post (parked, orphan); a waiter's fire
	 * runs outside it.  Its own rank (lockorder.h): taken under an open
	 * file's poll_lock and under libfuse's request lock (a .next read's
	 * interrupt callback); takes lockwait's mutex (a wait for a post
	 * parked or kicked) and the sets' budget. */
	pthread_mutex_t mutex;
	struct watch_seg *segs;
	struct watch_waiter *waiters;
	struct budget *sets;
	struct lockwait *waits; /* NULL after watch_table_unpark() */
	bool stopped;
};

/* watch.c */
void watch_fire_all(struct watch_waiter *list, int err);
void watch_take_out_locked(struct watch_waiter **link, struct watch_waiter **list);
void watch_take_waiters_locked(struct watch_table *t, struct watch_seg *s,
			       struct watch_waiter **list);
bool watch_take_posts_locked(struct watch_table *t, struct watch_seg *s);
void watch_lose_set_locked(struct watch_table *t, struct watch_seg *s);
bool watch_segment_gone(const struct watch_seg *s);

/* watch_post.c: the wait for a post on a set thread */
int watch_park_locked(struct watch_table *t, struct watch_seg *s, uid_t uid);
void watch_settle_locked(struct watch_table *t, struct watch_seg *s);

#endif
