/* watch.c - change notification: write counts, notification sets, waiters. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "budget.h"
#include "watch_int.h"

struct watch_table *watch_table_new(struct budget *sets, struct lockwait *waits)
{
	struct watch_table *t = calloc(1, sizeof(*t));

	if (t) {
		pthread_mutex_init(&t->mutex, NULL);
		t->sets = sets;
		t->waits = waits;
	}
	return t;
}

void watch_table_unpark(struct watch_table *t)
{
	pthread_mutex_lock(&t->mutex);
	t->waits = NULL;
	pthread_mutex_unlock(&t->mutex);
}

static void log_lost(const struct watch_seg *s, int semid)
{
	char id[96];

	identity_format(&s->id, id, sizeof(id));
	fprintf(stderr,
		"shmfs: notification set %d of segment %s was removed or changed by someone "
		"else: left alone, made anew when needed\n",
		semid, id);
}

/* The set is gone, or no longer provably ours: let go of it without
 * touching it.  The caller holds the mutex; s's waiters are fired with
 * -EIDRM by whoever sees s->lost next (the set thread, watch_refresh(),
 * watch_sweep()). */
void watch_lose_set_locked(struct watch_table *t, struct watch_seg *s)
{
	if (s->set.semid < 0)
		return;
	log_lost(s, s->set.semid);
	if (t->sets)
		budget_give(t->sets, s->charged_to);
	ownset_forget(&s->set);
	s->lost = true;
}

static void remove_notify_set(struct watch_table *t, struct watch_seg *s)
{
	int semid = s->set.semid;

	if (semid < 0)
		return;
	if (ownset_remove(&s->set) == -ESTALE)
		log_lost(s, semid);
	if (t->sets)
		budget_give(t->sets, s->charged_to);
	s->set.semid = -1;
}

/* Fire a list of waiters taken out of the table (each marked firing). */
void watch_fire_all(struct watch_waiter *list, int err)
{
	while (list) {
		struct watch_waiter *w = list;
		bool persistent = w->persistent;

		list = w->next;
		w->next = NULL;
		w->fire(w, err);
		if (persistent)
			__atomic_store_n(&w->firing, false, __ATOMIC_RELEASE);
	}
}

/* Move w from wherever *link is to the front of *list; the caller holds
 * the mutex. */
void watch_take_out_locked(struct watch_waiter **link, struct watch_waiter **list)
{
	struct watch_waiter *w = *link;

	*link = w->next;
	w->firing = true;
	w->queued = false;
	w->seg->nwaiting--;
	w->next = *list;
	*list = w;
}

void watch_table_stop(struct watch_table *t)
{
	struct watch_waiter *left = NULL;

	pthread_mutex_lock(&t->mutex);
	t->stopped = true;
	while (t->waiters)
		watch_take_out_locked(&t->waiters, &left);
	pthread_mutex_unlock(&t->mutex);
	watch_fire_all(left, -ESHUTDOWN);
}

void watch_table_free(struct watch_table *t)
{
	if (!t)
		return;
	watch_table_stop(t);
	t->sets = NULL; /* the budgets may be gone: nothing to give back */
	/* The parking module is freed first: nothing is parked any more,
	 * and its orphans are freed. */
	while (t->segs) {
		struct watch_seg *s = t->segs;

		t->segs = s->next;
		remove_notify_set(t, s);
		free(s);
	}
	pthread_mutex_destroy(&t->mutex);
	free(t);
}

struct watch_seg *watch_get(struct watch_table *t, const void *owner,
			    const struct segment_identity *id)
{
	struct watch_seg *s;

	pthread_mutex_lock(&t->mutex);
	for (s = t->segs; s; s = s->next)
		if (s->owner == owner)
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s) {
			s->table = t;
			s->owner = owner;
			s->id = *id;
			s->set.semid = -1;
			s->next = t->segs;
			t->segs = s;
		}
	}
	if (s)
		s->refs++;
	pthread_mutex_unlock(&t->mutex);
	return s;
}

void watch_put(struct watch_table *t, struct watch_seg *s)
{
	bool orphan = false, last;

	pthread_mutex_lock(&t->mutex);
	last = --s->refs == 0;
	if (last) {
		for (struct watch_seg **link = &t->segs; *link; link = &(*link)->next) {
			if (*link == s) {
				*link = s->next;
				break;
			}
		}
		/* its owner may be freed and its address reused: never found
		 * again.  The removal ends a wait parked on the set. */
		s->owner = NULL;
		remove_notify_set(t, s);
		orphan = s->parked;
		s->orphan = orphan;
		if (orphan && t->waits)
			lockwait_abandon(t->waits, &s->post);
	}
	pthread_mutex_unlock(&t->mutex);
	if (last && !orphan)
		free(s);
}

uint64_t watch_written(struct watch_seg *s)
{
	return __atomic_load_n(&s->written, __ATOMIC_ACQUIRE);
}

/* Take s's waiters out of the table into *list; the caller holds the mutex. */
void watch_take_waiters_locked(struct watch_table *t, struct watch_seg *s,
			       struct watch_waiter **list)
{
	for (struct watch_waiter **link = &t->waiters; *link;) {
		struct watch_waiter *w = *link;

		if (w->seg != s) {
			link = &w->next;
			continue;
		}
		watch_take_out_locked(link, list);
	}
}

void watch_mark_written(struct watch_table *t, struct watch_seg *s)
{
	struct watch_waiter *ready = NULL;

	pthread_mutex_lock(&t->mutex);
	__atomic_add_fetch(&s->written, 1, __ATOMIC_RELEASE);
	watch_take_waiters_locked(t, s, &ready);
	watch_settle_locked(t, s);
	pthread_mutex_unlock(&t->mutex);
	watch_fire_all(ready, 0);
}

/* The set is handed to the segment's owner with the segment's read and
 * write bits: those who may write the segment may post.  Without the
 * segment's permissions (it is gone) it stays the daemon's. */
static void hand_to_owner_locked(struct watch_table *t, struct watch_seg *s)
{
	if (s->set.semid >= 0 && s->has_perm &&
	    ownset_hand(&s->set, s->perm.uid, s->perm.gid, s->perm.mode) == -ESTALE)
		watch_lose_set_locked(t, s); /* not ours: never touched again */
}

/* Make s's set (charged to s->charged_to): 0 or -errno. */
static int make_set_locked(struct watch_table *t, struct watch_seg *s)
{
	int ret;

	if (t->sets && !budget_take(t->sets, s->charged_to))
		return -ENOSPC;
	/* made owner-only first, so nobody else can use it before it is
	 * the segment owner's */
	ret = ownset_make(1, &s->set);
	if (ret) {
		if (t->sets)
			budget_give(t->sets, s->charged_to);
		s->set.semid = -1;
		return ret;
	}
	s->lost = false;
	hand_to_owner_locked(t, s);
	return 0;
}

int watch_start(struct watch_table *t, struct watch_seg *s, const struct segment_info *seg,
		uid_t uid)
{
	int ret = 0;

	struct segment_identity id;

	if (seg)
		identity_weak(seg, &id);
	pthread_mutex_lock(&t->mutex);
	/* the owner and mode to hand the set to, if seg is s's lifetime */
	if (seg && identity_same(&s->id, &id)) {
		s->perm = *seg;
		s->has_perm = true;
	}
	if (s->set.semid < 0) {
		s->charged_to = uid;
		ret = make_set_locked(t, s);
		if (ret)
			goto out;
	}
	s->watchers++;
out:
	pthread_mutex_unlock(&t->mutex);
	return ret;
}

void watch_stop(struct watch_table *t, struct watch_seg *s)
{
	pthread_mutex_lock(&t->mutex);
	if (s->watchers > 0 && --s->watchers == 0) {
		remove_notify_set(t, s);
		s->lost = false;
	}
	pthread_mutex_unlock(&t->mutex);
}

int watch_wait(struct watch_table *t, struct watch_seg *s, uint64_t seen, struct watch_waiter *w)
{
	int ret = 0;

	pthread_mutex_lock(&t->mutex);
	if (w->abandoned) {
		ret = -EINTR;
	} else if (t->stopped) {
		ret = -ESHUTDOWN;
	} else if (watch_written(s) != seen) {
		ret = 1;
	} else {
		w->seg = s;
		w->seen = seen;
		w->firing = false;
		w->queued = true;
		w->next = t->waiters;
		t->waiters = w;
		s->nwaiting++;
		ret = watch_park_locked(t, s, w->uid);
		if (ret) {
			t->waiters = w->next;
			w->queued = false;
			s->nwaiting--;
		}
	}
	pthread_mutex_unlock(&t->mutex);
	return ret;
}

bool watch_cancel(struct watch_table *t, struct watch_waiter *w)
{
	bool found = false;

	pthread_mutex_lock(&t->mutex);
	for (struct watch_waiter **link = &t->waiters; *link; link = &(*link)->next) {
		if (*link == w) {
			*link = w->next;
			found = true;
			w->queued = false;
			w->seg->nwaiting--;
			watch_settle_locked(t, w->seg);
			break;
		}
	}
	pthread_mutex_unlock(&t->mutex);
	/* Its fire is short (a poll notification): wait it out. */
	while (!found && __atomic_load_n(&w->firing, __ATOMIC_ACQUIRE))
		sched_yield();
	return found;
}

/* Take what was posted on s's set, counting it as one write: true if
 * anything was.  Only what was seen: a post racing with us stays. */
bool watch_take_posts_locked(struct watch_table *t, struct watch_seg *s)
{
	struct sembuf op = { 0, 0, IPC_NOWAIT };
	int n;

	if (s->set.semid < 0)
		return false;
	/* a set that is not ours any more is not even read: its posts
	 * are someone else's */
	if (!ownset_proven(&s->set)) {
		watch_lose_set_locked(t, s);
		return false;
	}
	n = semctl(s->set.semid, 0, GETVAL);
	if (n <= 0)
		return false;
	op.sem_op = (short)(n > SHRT_MAX ? SHRT_MAX : n); /* sem_op is a short */
	op.sem_op = (short)-op.sem_op;
	if (semop(s->set.semid, &op, 1) != 0)
		return false;
	__atomic_add_fetch(&s->written, 1, __ATOMIC_RELEASE);
	return true;
}

uint64_t watch_refresh(struct watch_table *t, struct watch_seg *s)
{
	struct watch_waiter *ready = NULL, *lost = NULL;

	pthread_mutex_lock(&t->mutex);
	if (watch_take_posts_locked(t, s))
		watch_take_waiters_locked(t, s, &ready);
	else if (s->lost && s->set.semid < 0 && !s->gone)
		watch_take_waiters_locked(t, s, &lost);
	/* A set that vanished under its watchers is made anew on demand:
	 * the waiters it had are told (EIDRM), and whoever asks now (a read
	 * or poll that came after the loss, even one that finds it) waits
	 * on the new one.  A destroyed segment's waiters get ENOENT
	 * (watch_sweep()), set or not. */
	if (s->watchers > 0 && s->set.semid < 0 && !s->gone)
		make_set_locked(t, s);
	watch_settle_locked(t, s);
	pthread_mutex_unlock(&t->mutex);
	watch_fire_all(lost, -EIDRM);
	watch_fire_all(ready, 0);
	return watch_written(s);
}

bool watch_segment_gone(const struct watch_seg *s)
{
	struct segment_identity now;
	struct segment_info seg;
	int ret = segment_stat(s->id.shmid, false, &seg);

	if (ret == -ENOENT)
		return true;
	identity_weak(&seg, &now);
	return ret == 0 && !identity_same(&s->id, &now);
}

bool watch_sweep(struct watch_table *t)
{
	struct watch_waiter *written = NULL, *gone = NULL, *abandoned = NULL, *lost = NULL;
	bool busy, polling;

	pthread_mutex_lock(&t->mutex);
	/* without set threads, posts are looked for here */
	polling = !t->waits;
	for (struct watch_seg *s = t->segs; s; s = s->next) {
		/* once per segment waited on, not per waiter */
		if (s->nwaiting == 0 || (polling && watch_take_posts_locked(t, s)))
			continue;
		if (!s->gone && watch_segment_gone(s))
			s->gone = true;
	}
	for (struct watch_waiter **link = &t->waiters; *link;) {
		struct watch_waiter *w = *link, **to = NULL;

		if (w->abandoned && !w->seg->parked)
			to = &abandoned;
		else if (w->seg->gone)
			to = &gone; /* nothing can write it: its set does not matter */
		else if (w->seg->lost && w->seg->set.semid < 0)
			to = &lost;
		else if (polling && watch_written(w->seg) != w->seen)
			to = &written;
		if (!to) {
			link = &w->next;
			continue;
		}
		watch_take_out_locked(link, to);
	}
	for (struct watch_seg *s = t->segs; s; s = s->next)
		watch_settle_locked(t, s);
	busy = t->waiters != NULL;
	pthread_mutex_unlock(&t->mutex);
	watch_fire_all(abandoned, -EINTR);
	watch_fire_all(lost, -EIDRM);
	watch_fire_all(gone, -ENOENT);
	watch_fire_all(written, 0);
	return busy;
}

/* Whether s is the lifetime id names: strong when both are known. */
static bool seg_is(const struct watch_seg *s, const struct segment_identity *id)
{
	return identity_same(&s->id, id);
}

void watch_removed(struct watch_table *t, const struct segment_identity *id)
{
	struct watch_waiter *gone = NULL, *abandoned = NULL;

	pthread_mutex_lock(&t->mutex);
	for (struct watch_seg *s = t->segs; s; s = s->next) {
		if (s->nwaiting == 0 || s->gone || !seg_is(s, id))
			continue;
		/* still attached elsewhere, it can be written and posted:
		 * its waiters wait on, for the write or the sweep */
		if (!watch_segment_gone(s))
			continue;
		s->gone = true;
		for (struct watch_waiter **link = &t->waiters; *link;) {
			struct watch_waiter *w = *link;

			if (w->seg != s)
				link = &w->next;
			else if (w->abandoned && !s->parked)
				watch_take_out_locked(link, &abandoned);
			else
				watch_take_out_locked(link, &gone);
		}
		watch_settle_locked(t, s);
	}
	pthread_mutex_unlock(&t->mutex);
	watch_fire_all(abandoned, -EINTR);
	watch_fire_all(gone, -ENOENT);
}

int watch_notify_semid(struct watch_table *t, const struct segment_info *seg)
{
	struct segment_identity id;
	int semid = -1;

	identity_weak(seg, &id);
	pthread_mutex_lock(&t->mutex);
	for (struct watch_seg *s = t->segs; s; s = s->next) {
		if (!seg_is(s, &id) || s->gone)
			continue;
		/* never shown for outside writers to post unless still ours */
		if (s->set.semid >= 0 && !ownset_proven(&s->set))
			watch_lose_set_locked(t, s);
		if (s->set.semid >= 0)
			semid = s->set.semid;
		else if (s->lost && s->watchers > 0 && semid < 0)
			semid = WATCH_SET_LOST;
	}
	pthread_mutex_unlock(&t->mutex);
	return semid;
}

void watch_set_perm(struct watch_table *t, const struct segment_identity *id,
		    const struct segment_info *seg)
{
	pthread_mutex_lock(&t->mutex);
	for (struct watch_seg *s = t->segs; s; s = s->next) {
		if (!seg_is(s, id))
			continue;
		s->perm = *seg;
		s->has_perm = true;
		hand_to_owner_locked(t, s);
	}
	pthread_mutex_unlock(&t->mutex);
}
