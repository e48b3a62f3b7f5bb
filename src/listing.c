/* listing.c - shared snapshots of the namespace's segment table.
 *
 * Every reference count and the per-user accounting are under the
 * cache's mutex; a read of the table is made outside it (one at a time
 * for rss and swap, under refresh_lock, taken without waiting when an
 * older snapshot will do).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "listing.h"

struct dir_user {
	uid_t uid;
	unsigned int nsnaps;
	struct {
		struct listing *l;
		unsigned long handles;
	} snaps[LISTING_DIRS_PER_USER];
};

struct listing_cache {
	double max_age;
	pthread_mutex_t lock;
	pthread_mutex_t refresh_lock;
	struct listing *shared; /* the snapshot directory handles share */
	struct listing *latest; /* the newest read, for rss and swap */
	struct dir_user *users;
	size_t nusers, users_cap;
	unsigned long reads; /* atomic */
};

static double monotonic_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint32_t hash_shmid(int shmid)
{
	return (uint32_t)shmid * 2654435761u;
}

static void listing_free(struct listing *l)
{
	segment_list_free(&l->list);
	free(l->slots);
	free(l);
}

/* Read the table into a new snapshot (one reference), with its index. */
static int listing_read(struct listing_cache *cache, struct listing **out)
{
	struct listing *l = calloc(1, sizeof(*l));
	size_t nslots = 16;
	int ret;

	if (!l)
		return -ENOMEM;
	l->taken = monotonic_now();
	ret = segment_list_read(&l->list);
	__atomic_add_fetch(&cache->reads, 1, __ATOMIC_RELAXED);
	if (ret) {
		listing_free(l);
		return ret;
	}
	while (nslots < 2 * l->list.n)
		nslots *= 2;
	l->slots = calloc(nslots, sizeof(*l->slots));
	if (!l->slots) {
		listing_free(l);
		return -ENOMEM;
	}
	l->mask = (uint32_t)nslots - 1;
	for (size_t i = 0; i < l->list.n; i++) {
		uint32_t h = hash_shmid(l->list.v[i].shmid) & l->mask;

		while (l->slots[h])
			h = (h + 1) & l->mask;
		l->slots[h] = (uint32_t)i + 1;
	}
	l->cost = monotonic_now() - l->taken;
	l->refs = 1;
	*out = l;
	return 0;
}

const struct segment_info *listing_find(const struct listing *l, int shmid)
{
	for (uint32_t h = hash_shmid(shmid) & l->mask; l->slots[h]; h = (h + 1) & l->mask) {
		const struct segment_info *seg = &l->list.v[l->slots[h] - 1];

		if (seg->shmid == shmid)
			return seg;
	}
	return NULL;
}

/* Under cache->lock. */
static struct listing *listing_get(struct listing *l)
{
	if (l)
		l->refs++;
	return l;
}

static void listing_put(struct listing *l)
{
	if (l && --l->refs == 0)
		listing_free(l);
}

struct listing_cache *listing_cache_new(double max_age)
{
	struct listing_cache *cache = calloc(1, sizeof(*cache));

	if (!cache)
		return NULL;
	cache->max_age = max_age;
	pthread_mutex_init(&cache->lock, NULL);
	pthread_mutex_init(&cache->refresh_lock, NULL);
	return cache;
}

void listing_cache_free(struct listing_cache *cache)
{
	if (!cache)
		return;
	listing_put(cache->shared);
	listing_put(cache->latest);
	/* Handles never closed (an unmount): their references go with them. */
	for (size_t i = 0; i < cache->nusers; i++)
		for (unsigned int j = 0; j < cache->users[i].nsnaps; j++)
			while (cache->users[i].snaps[j].handles--)
				listing_put(cache->users[i].snaps[j].l);
	free(cache->users);
	pthread_mutex_destroy(&cache->lock);
	pthread_mutex_destroy(&cache->refresh_lock);
	free(cache);
}

unsigned long listing_table_reads(struct listing_cache *cache)
{
	return __atomic_load_n(&cache->reads, __ATOMIC_RELAXED);
}

/* Under cache->lock: l becomes the newest snapshot. */
static void publish_latest(struct listing_cache *cache, struct listing *l)
{
	if (cache->latest && cache->latest->taken > l->taken)
		return;
	listing_put(cache->latest);
	cache->latest = listing_get(l);
}

/* ---- directories ------------------------------------------------------ */

/* Whether two snapshots list the same names with the same attributes:
 * what a directory shows of a segment (attr.c, names.c). */
static bool same_listing(const struct listing *a, const struct listing *b)
{
	if (a->list.n != b->list.n)
		return false;
	for (size_t i = 0; i < a->list.n; i++) {
		const struct segment_info *x = &a->list.v[i], *y = &b->list.v[i];

		if (x->shmid != y->shmid || x->key != y->key || x->mode != y->mode ||
		    x->size != y->size || x->uid != y->uid || x->gid != y->gid ||
		    x->cpid != y->cpid || x->cuid != y->cuid || x->atime != y->atime ||
		    x->dtime != y->dtime || x->ctime != y->ctime)
			return false;
	}
	return true;
}

static struct dir_user *find_user(struct listing_cache *cache, uid_t uid, bool add)
{
	for (size_t i = 0; i < cache->nusers; i++)
		if (cache->users[i].uid == uid)
			return &cache->users[i];
	if (!add)
		return NULL;
	if (cache->nusers == cache->users_cap) {
		size_t cap = cache->users_cap ? 2 * cache->users_cap : 8;
		struct dir_user *v = realloc(cache->users, cap * sizeof(*v));

		if (!v)
			return NULL;
		cache->users = v;
		cache->users_cap = cap;
	}
	memset(&cache->users[cache->nusers], 0, sizeof(cache->users[0]));
	cache->users[cache->nusers].uid = uid;
	return &cache->users[cache->nusers++];
}

int listing_open_dir(struct listing_cache *cache, uid_t uid, struct listing **out)
{
	struct listing *fresh, *l;
	struct dir_user *u;
	unsigned int j;
	int ret = cache ? listing_read(cache, &fresh) : -ENOMEM;

	if (ret)
		return ret;
	pthread_mutex_lock(&cache->lock);
	publish_latest(cache, fresh);
	if (cache->shared && same_listing(cache->shared, fresh)) {
		l = cache->shared;
	} else {
		listing_put(cache->shared);
		cache->shared = listing_get(fresh);
		l = fresh;
	}
	u = find_user(cache, uid, true);
	if (!u) {
		ret = -ENOMEM;
		goto out;
	}
	for (j = 0; j < u->nsnaps && u->snaps[j].l != l; j++)
		;
	if (j == u->nsnaps) {
		if (j == LISTING_DIRS_PER_USER) {
			ret = -EMFILE;
			goto out;
		}
		u->snaps[j].l = l;
		u->snaps[j].handles = 0;
		u->nsnaps++;
	}
	u->snaps[j].handles++;
	*out = listing_get(l);
out:
	listing_put(fresh);
	pthread_mutex_unlock(&cache->lock);
	return ret;
}

void listing_close_dir(struct listing_cache *cache, uid_t uid, struct listing *l)
{
	struct dir_user *u;

	if (!cache)
		return;
	pthread_mutex_lock(&cache->lock);
	u = find_user(cache, uid, false);
	for (unsigned int j = 0; u && j < u->nsnaps; j++) {
		if (u->snaps[j].l != l)
			continue;
		if (--u->snaps[j].handles == 0)
			u->snaps[j] = u->snaps[--u->nsnaps];
		if (u->nsnaps == 0)
			*u = cache->users[--cache->nusers];
		break;
	}
	listing_put(l);
	pthread_mutex_unlock(&cache->lock);
}

/* ---- rss and swap ------------------------------------------------------ */

/* Whether the snapshot's line of the segment is of the segment as it is
 * now: the same attachments and changes since. */
static bool same_state(const struct segment_info *then, const struct segment_info *now)
{
	return then->nattch == now->nattch && then->size == now->size &&
	       then->atime == now->atime && then->dtime == now->dtime &&
	       then->ctime == now->ctime && then->cpid == now->cpid && then->cuid == now->cuid;
}

static double max_d(double a, double b)
{
	return a > b ? a : b;
}

void listing_usage(struct listing_cache *cache, struct segment_info *seg)
{
	const struct segment_info *line = NULL;
	struct listing *l, *fresh;
	bool stale = true;
	double age;

	seg->have_usage = false;
	if (!cache)
		return;
	pthread_mutex_lock(&cache->lock);
	l = listing_get(cache->latest);
	pthread_mutex_unlock(&cache->lock);
	if (l) {
		line = listing_find(l, seg->shmid);
		age = monotonic_now() - l->taken;
		stale = age > max_d(cache->max_age, LISTING_COST_FACTOR * l->cost) ||
			((!line || !same_state(line, seg)) && age >= l->cost);
	}
	/* Read again if due; with an older snapshot at hand, only if no one
	 * else is reading already. */
	if (!l || stale) {
		if (l ? pthread_mutex_trylock(&cache->refresh_lock) == 0
		      : pthread_mutex_lock(&cache->refresh_lock) == 0) {
			/* Someone else's read may have ended meanwhile. */
			pthread_mutex_lock(&cache->lock);
			fresh = cache->latest && (!l || cache->latest->taken > l->taken)
					? listing_get(cache->latest)
					: NULL;
			pthread_mutex_unlock(&cache->lock);
			if (fresh || listing_read(cache, &fresh) == 0) {
				pthread_mutex_lock(&cache->lock);
				publish_latest(cache, fresh);
				listing_put(l);
				l = fresh;
				pthread_mutex_unlock(&cache->lock);
				line = listing_find(l, seg->shmid);
			}
			pthread_mutex_unlock(&cache->refresh_lock);
		}
	}
	if (line && line->cpid == seg->cpid && line->cuid == seg->cuid && line->have_usage) {
		seg->rss = line->rss;
		seg->swap = line->swap;
		seg->have_usage = true;
	}
	pthread_mutex_lock(&cache->lock);
	listing_put(l);
	pthread_mutex_unlock(&cache->lock);
}
