/* watch_post.c - the wait for a post on a notification set: one of the
 * parking module's set threads waits in the kernel while a segment has
 * waiters (watch.h), and fires them when a post comes. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "watch_int.h"

static int wait_for_post(struct lockwait_req *r, int semid, const struct timespec *timeout);
static void posted(struct lockwait_req *r, int err);

/* Whose share of the set threads a wait for s's posts takes: its
 * oldest waiter's user. */
static uid_t waiter_uid_locked(struct watch_table *t, struct watch_seg *s)
{
	uid_t uid = s->charged_to;

	for (struct watch_waiter *w = t->waiters; w; w = w->next)
		if (w->seg == s)
			uid = w->uid;
	return uid;
}

/* s's wait for a post ends once s has no waiter: its thread lingers for
 * another set, or ends. */
void watch_settle_locked(struct watch_table *t, struct watch_seg *s)
{
	if (s->parked && s->nwaiting == 0 && t->waits)
		lockwait_abandon(t->waits, &s->post);
}

/* Park s's wait for a post, unless one is parked, there is no set (lost:
 * its waiters are fired by whoever sees that) or no parking module.  0
 * or -errno (nobody waits for s's posts).  The caller holds the mutex. */
int watch_park_locked(struct watch_table *t, struct watch_seg *s, uid_t uid)
{
	int ret;

	if (s->parked || !t->waits || s->set.semid < 0)
		return 0;
	s->post = (struct lockwait_req){ .uid = uid,
					 .deadline_ns = LOCKWAIT_NO_DEADLINE,
					 .granted = posted,
					 .wait = wait_for_post,
					 .semid = s->set.semid };
	ret = lockwait_park(t->waits, &s->post);
	if (ret != LOCKWAIT_PARKED)
		return ret;
	s->parked = true;
	return 0;
}

void watch_abandon(struct watch_table *t, struct watch_waiter *w)
{
	pthread_mutex_lock(&t->mutex);
	w->abandoned = true;
	/* its set's thread answers it; a waiter with none is the sweep's */
	if (w->queued && w->seg->parked && t->waits)
		lockwait_abandon(t->waits, &w->seg->post);
	pthread_mutex_unlock(&t->mutex);
}

static struct watch_seg *seg_of_post(struct lockwait_req *r)
{
	return (struct watch_seg *)((char *)r - offsetof(struct watch_seg, post));
}

/* On a set thread, without the mutex: wait in the kernel for one post on
 * s's set, if it is still s's and provably ours.  A set changed by its
 * owner during the wait is the same kernel object (a removed one ends the
 * semop): its proof fails when the post is taken. */
static int wait_for_post(struct lockwait_req *r, int semid, const struct timespec *timeout)
{
	struct watch_seg *s = seg_of_post(r);
	struct watch_table *t = s->table;
	struct sembuf take = { 0, -1, 0 };
	bool ours;

	pthread_mutex_lock(&t->mutex);
	ours = s->set.semid == semid && ownset_proven(&s->set);
	pthread_mutex_unlock(&t->mutex);
	if (!ours)
		return -ESTALE;
	return semtimedop(semid, &take, 1, timeout) == 0 ? 0 : -errno;
}

/* s's abandoned waiters into *list; the caller holds the mutex. */
static void take_abandoned_locked(struct watch_table *t, struct watch_seg *s,
				  struct watch_waiter **list)
{
	for (struct watch_waiter **link = &t->waiters; *link;) {
		if ((*link)->seg == s && (*link)->abandoned)
			watch_take_out_locked(link, list);
		else
			link = &(*link)->next;
	}
}

/* s's wait for a post ended, on its set's thread: a post (err 0: one
 * taken), a kick (-EINTR: abandoned waiters, or none left), the set gone
 * or not ours (-EIDRM, -EINVAL, -ESTALE), the thread given to another
 * user (-ENOLCK), the end (-ESHUTDOWN).  Parked again while waiters are
 * left. */
static void posted(struct lockwait_req *r, int err)
{
	struct watch_seg *s = seg_of_post(r);
	struct watch_table *t = s->table;
	struct watch_waiter *ready = NULL, *abandoned = NULL, *failed = NULL;
	int why = err;
	bool orphan;

	pthread_mutex_lock(&t->mutex);
	s->parked = false;
	take_abandoned_locked(t, s, &abandoned);
	if (err == 0) {
		/* the rest of the posts too: one write */
		if (!watch_take_posts_locked(t, s))
			__atomic_add_fetch(&s->written, 1, __ATOMIC_RELEASE);
		watch_take_waiters_locked(t, s, &ready);
	} else if (err == -EIDRM || err == -EINVAL || err == -ESTALE) {
		/* not a set we removed or replaced ourselves: lost */
		if (s->set.semid == r->semid)
			watch_lose_set_locked(t, s);
		if (s->lost && s->set.semid < 0) {
			s->gone = s->gone || watch_segment_gone(s);
			why = s->gone ? -ENOENT : -EIDRM;
			watch_take_waiters_locked(t, s, &failed);
		}
	} else if (err != -EINTR && err != -ESHUTDOWN) {
		watch_take_waiters_locked(t, s, &failed);
	}
	if (s->nwaiting > 0 && err != -ESHUTDOWN && !s->orphan) {
		why = watch_park_locked(t, s, waiter_uid_locked(t, s));
		if (why)
			watch_take_waiters_locked(t, s, &failed);
	}
	orphan = s->orphan && !s->parked;
	pthread_mutex_unlock(&t->mutex);
	watch_fire_all(abandoned, -EINTR);
	watch_fire_all(failed, why);
	watch_fire_all(ready, 0);
	if (orphan)
		free(s);
}
