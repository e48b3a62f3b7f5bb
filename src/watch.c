/* watch.c - change notification: write counts, notification sets, waiters. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "budget.h"
#include "semun.h"
#include "watch.h"

struct watch_seg {
	struct watch_seg *next;
	int shmid;
	uint64_t generation;
	unsigned int refs;     /* open files */
	unsigned int watchers; /* watch_start() not yet stopped */
	int notify_semid;      /* -1 while nobody watches */
	uid_t charged_to;      /* whose budget the set counts in */
	uint64_t written;
	bool gone; /* the segment was found destroyed */
};

struct watch_table {
	pthread_mutex_t mutex;
	struct watch_seg *segs;
	struct watch_waiter *waiters;
	struct budget *sets;
};

struct watch_table *watch_table_new(struct budget *sets)
{
	struct watch_table *t = calloc(1, sizeof(*t));

	if (t) {
		pthread_mutex_init(&t->mutex, NULL);
		t->sets = sets;
	}
	return t;
}

static void remove_notify_set(struct watch_table *t, struct watch_seg *s)
{
	if (s->notify_semid >= 0) {
		semctl(s->notify_semid, 0, IPC_RMID);
		if (t->sets)
			budget_give(t->sets, s->charged_to);
	}
	s->notify_semid = -1;
}

/* Fire a list of waiters taken out of the table (each marked firing). */
static void fire_all(struct watch_waiter *list, int err)
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
static void take_out_locked(struct watch_waiter **link, struct watch_waiter **list)
{
	struct watch_waiter *w = *link;

	*link = w->next;
	w->firing = true;
	w->next = *list;
	*list = w;
}

void watch_table_stop(struct watch_table *t)
{
	struct watch_waiter *left = NULL;

	pthread_mutex_lock(&t->mutex);
	while (t->waiters)
		take_out_locked(&t->waiters, &left);
	pthread_mutex_unlock(&t->mutex);
	fire_all(left, -ESHUTDOWN);
}

void watch_table_free(struct watch_table *t)
{
	if (!t)
		return;
	watch_table_stop(t);
	t->sets = NULL; /* the budgets may be gone: nothing to give back */
	while (t->segs) {
		struct watch_seg *s = t->segs;

		t->segs = s->next;
		remove_notify_set(t, s);
		free(s);
	}
	pthread_mutex_destroy(&t->mutex);
	free(t);
}

struct watch_seg *watch_get(struct watch_table *t, const struct segment_info *seg)
{
	uint64_t gen = segment_generation(seg);
	struct watch_seg *s;

	pthread_mutex_lock(&t->mutex);
	for (s = t->segs; s; s = s->next)
		if (s->shmid == seg->shmid && s->generation == gen)
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s) {
			s->shmid = seg->shmid;
			s->generation = gen;
			s->notify_semid = -1;
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
	pthread_mutex_lock(&t->mutex);
	if (--s->refs == 0) {
		for (struct watch_seg **link = &t->segs; *link; link = &(*link)->next) {
			if (*link == s) {
				*link = s->next;
				break;
			}
		}
		remove_notify_set(t, s);
		free(s);
	}
	pthread_mutex_unlock(&t->mutex);
}

uint64_t watch_written(struct watch_seg *s)
{
	return __atomic_load_n(&s->written, __ATOMIC_ACQUIRE);
}

/* Take s's waiters out of the table into *list; the caller holds the mutex. */
static void take_waiters_locked(struct watch_table *t, struct watch_seg *s,
				struct watch_waiter **list)
{
	for (struct watch_waiter **link = &t->waiters; *link;) {
		struct watch_waiter *w = *link;

		if (w->seg != s) {
			link = &w->next;
			continue;
		}
		take_out_locked(link, list);
	}
}

void watch_mark_written(struct watch_table *t, struct watch_seg *s)
{
	struct watch_waiter *ready = NULL;

	pthread_mutex_lock(&t->mutex);
	__atomic_add_fetch(&s->written, 1, __ATOMIC_RELEASE);
	take_waiters_locked(t, s, &ready);
	pthread_mutex_unlock(&t->mutex);
	fire_all(ready, 0);
}

/* A set made by root belongs to the segment's owner, with the segment's
 * read and write bits: those who may write the segment may post. */
static void give_to_owner(int semid, const struct segment_info *seg)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	if (semctl(semid, 0, IPC_STAT, arg) != 0)
		return;
	ds.sem_perm.uid = seg->uid;
	ds.sem_perm.gid = seg->gid;
	ds.sem_perm.mode = seg->mode & 0666;
	semctl(semid, 0, IPC_SET, arg);
}

int watch_start(struct watch_table *t, struct watch_seg *s, const struct segment_info *seg,
		uid_t uid)
{
	int ret = 0;

	pthread_mutex_lock(&t->mutex);
	if (s->notify_semid < 0) {
		int semid;

		if (t->sets && !budget_take(t->sets, uid)) {
			ret = -ENOSPC;
			goto out;
		}
		/* Made owner-only first, so nobody else can use it before it is
		 * the segment owner's. */
		semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
		if (semid < 0) {
			ret = -errno;
			if (t->sets)
				budget_give(t->sets, uid);
			goto out;
		}
		s->charged_to = uid;
		give_to_owner(semid, seg);
		s->notify_semid = semid;
	}
	s->watchers++;
out:
	pthread_mutex_unlock(&t->mutex);
	return ret;
}

void watch_stop(struct watch_table *t, struct watch_seg *s)
{
	pthread_mutex_lock(&t->mutex);
	if (s->watchers > 0 && --s->watchers == 0)
		remove_notify_set(t, s);
	pthread_mutex_unlock(&t->mutex);
}

int watch_wait(struct watch_table *t, struct watch_seg *s, uint64_t seen, struct watch_waiter *w)
{
	int ret = 0;

	pthread_mutex_lock(&t->mutex);
	if (watch_written(s) != seen) {
		ret = 1;
	} else {
		w->seg = s;
		w->seen = seen;
		w->firing = false;
		w->next = t->waiters;
		t->waiters = w;
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
static bool take_posts_locked(struct watch_seg *s)
{
	struct sembuf op = { 0, 0, IPC_NOWAIT };
	int n;

	if (s->notify_semid < 0)
		return false;
	n = semctl(s->notify_semid, 0, GETVAL);
	if (n <= 0)
		return false;
	op.sem_op = (short)(n > SHRT_MAX ? SHRT_MAX : n); /* sem_op is a short */
	op.sem_op = (short)-op.sem_op;
	if (semop(s->notify_semid, &op, 1) != 0)
		return false;
	__atomic_add_fetch(&s->written, 1, __ATOMIC_RELEASE);
	return true;
}

uint64_t watch_refresh(struct watch_table *t, struct watch_seg *s)
{
	struct watch_waiter *ready = NULL;

	pthread_mutex_lock(&t->mutex);
	if (take_posts_locked(s))
		take_waiters_locked(t, s, &ready);
	pthread_mutex_unlock(&t->mutex);
	fire_all(ready, 0);
	return watch_written(s);
}

static bool segment_gone(const struct watch_seg *s)
{
	struct segment_info seg;
	int ret = segment_stat(s->shmid, false, &seg);

	return ret == -ENOENT || (ret == 0 && segment_generation(&seg) != s->generation);
}

bool watch_check(struct watch_table *t)
{
	struct watch_waiter *written = NULL, *gone = NULL, *abandoned = NULL;
	bool busy;

	pthread_mutex_lock(&t->mutex);
	/* Posts and gone segments first, once per segment waited on. */
	for (struct watch_waiter *w = t->waiters; w; w = w->next) {
		struct watch_seg *s = w->seg;

		if (take_posts_locked(s))
			continue;
		if (!s->gone && segment_gone(s))
			s->gone = true;
	}
	for (struct watch_waiter **link = &t->waiters; *link;) {
		struct watch_waiter *w = *link, **to = NULL;

		if (w->abandoned && w->abandoned(w))
			to = &abandoned;
		else if (w->seg->gone)
			to = &gone;
		else if (watch_written(w->seg) != w->seen)
			to = &written;
		if (!to) {
			link = &w->next;
			continue;
		}
		take_out_locked(link, to);
	}
	pthread_mutex_unlock(&t->mutex);
	fire_all(abandoned, -EINTR);
	fire_all(gone, -EIDRM);
	fire_all(written, 0);
	pthread_mutex_lock(&t->mutex);
	busy = t->waiters != NULL;
	pthread_mutex_unlock(&t->mutex);
	return busy;
}

int watch_notify_semid(struct watch_table *t, const struct segment_info *seg)
{
	uint64_t gen = segment_generation(seg);
	int semid = -1;

	pthread_mutex_lock(&t->mutex);
	for (struct watch_seg *s = t->segs; s; s = s->next)
		if (s->shmid == seg->shmid && s->generation == gen)
			semid = s->notify_semid;
	pthread_mutex_unlock(&t->mutex);
	return semid;
}

void watch_set_perm(struct watch_table *t, const struct segment_info *seg)
{
	uint64_t gen = segment_generation(seg);

	pthread_mutex_lock(&t->mutex);
	for (struct watch_seg *s = t->segs; s; s = s->next)
		if (s->shmid == seg->shmid && s->generation == gen && s->notify_semid >= 0)
			give_to_owner(s->notify_semid, seg);
	pthread_mutex_unlock(&t->mutex);
}
