/* listing.c - shared snapshots of the namespace's segment table.
 *
 * Every reference count, the per-user accounting and the usage table are
 * under the cache's mutex; a read of the table is made outside it (one
 * at a time for rss and swap, under refresh_lock, taken without waiting
 * when an older table will do).  Big buffers are mapped, not malloc'd,
 * so that their memory goes back to the system when freed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* What rss and swap need of one segment: 24 bytes, not segment_info's
 * 104, so that the table kept between sidecars stays small. */
struct usage_entry {
	int shmid;
	uint32_t state; /* a digest of the fields same_state() compares */
	uint64_t rss, swap;
};

/* The latest read's usage, sorted by shmid. */
struct usage_table {
	struct usage_entry *v;
	size_t n;
	double taken, cost;
};

struct listing_cache {
	double max_age;
	pthread_mutex_t lock;
	pthread_mutex_t refresh_lock;
	/* The snapshot open directory handles share: no reference of its
	 * own, so that nothing is kept once the last handle is closed. */
	struct listing *shared;
	struct usage_table usage;
	size_t usage_cap; /* the segments usage.v was mapped for */
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

static void *map_alloc(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void map_free(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}

static uint32_t hash_shmid(int shmid)
{
	return (uint32_t)shmid * 2654435761u;
}

/* Read the table; the time it took in *cost. */
static int table_read(struct listing_cache *cache, struct segment_list *list, double *taken,
		      double *cost)
{
	int ret;

	*taken = monotonic_now();
	ret = segment_list_read(list);
	*cost = monotonic_now() - *taken;
	__atomic_add_fetch(&cache->reads, 1, __ATOMIC_RELAXED);
	return ret;
}

/* ---- usage ------------------------------------------------------------- */

/* The fields that change when a segment is attached, detached or
 * changed (its rss may have changed then), and those of its identity. */
static uint32_t state_digest(const struct segment_info *seg)
{
	const uint64_t v[] = { seg->nattch,	     seg->size,
			       (uint64_t)seg->atime, (uint64_t)seg->dtime,
			       (uint64_t)seg->ctime, segment_generation(seg) };
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		h = (h ^ v[i]) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32));
}

static int by_shmid(const void *a, const void *b)
{
	const struct usage_entry *x = a, *y = b;

	return (x->shmid > y->shmid) - (x->shmid < y->shmid);
}

/* The usage of list as a new table (old one left alone); false if out of
 * memory. */
static bool usage_build(const struct segment_list *list, double taken, double cost,
			struct usage_table *out)
{
	out->v = map_alloc(list->n * sizeof(*out->v));
	if (!out->v)
		return false;
	out->n = 0;
	for (size_t i = 0; i < list->n; i++) {
		const struct segment_info *seg = &list->v[i];

		if (!seg->have_usage)
			continue;
		out->v[out->n++] = (struct usage_entry){ .shmid = seg->shmid,
							 .state = state_digest(seg),
							 .rss = seg->rss,
							 .swap = seg->swap };
	}
	qsort(out->v, out->n, sizeof(*out->v), by_shmid);
	out->taken = taken;
	out->cost = cost;
	return true;
}

static void usage_free(struct usage_table *t, size_t cap)
{
	map_free(t->v, cap * sizeof(*t->v));
	memset(t, 0, sizeof(*t));
}

/* Under cache->lock: t (built from a list of cap segments) becomes the
 * usage table if it is newer; the other one is freed. */
static void usage_publish(struct listing_cache *cache, struct usage_table *t, size_t cap)
{
	if (cache->usage.v && cache->usage.taken > t->taken) {
		usage_free(t, cap);
		return;
	}
	usage_free(&cache->usage, cache->usage_cap);
	cache->usage = *t;
	cache->usage_cap = cap;
}

static const struct usage_entry *usage_find(const struct usage_table *t, int shmid)
{
	struct usage_entry key = { .shmid = shmid };

	return t->v ? bsearch(&key, t->v, t->n, sizeof(*t->v), by_shmid) : NULL;
}

/* ---- snapshots ---------------------------------------------------------- */

static void listing_free(struct listing *l)
{
	segment_list_free(&l->list);
	map_free(l->slots, ((size_t)l->mask + 1) * sizeof(*l->slots));
	free(l);
}

/* Read the table into a new snapshot (one reference), with its index;
 * its usage is published too. */
static int listing_read(struct listing_cache *cache, struct listing **out)
{
	struct listing *l = calloc(1, sizeof(*l));
	struct usage_table usage;
	size_t nslots = 16;
	int ret;

	if (!l)
		return -ENOMEM;
	ret = table_read(cache, &l->list, &l->taken, &l->cost);
	if (ret) {
		listing_free(l);
		return ret;
	}
	while (nslots < 2 * l->list.n)
		nslots *= 2;
	l->mask = (uint32_t)nslots - 1;
	l->slots = map_alloc(nslots * sizeof(*l->slots));
	if (!l->slots) {
		l->mask = 0;
		listing_free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->list.n; i++) {
		uint32_t h = hash_shmid(l->list.v[i].shmid) & l->mask;

		while (l->slots[h])
			h = (h + 1) & l->mask;
		l->slots[h] = (uint32_t)i + 1;
	}
	l->refs = 1;
	if (usage_build(&l->list, l->taken, l->cost, &usage)) {
		pthread_mutex_lock(&cache->lock);
		usage_publish(cache, &usage, l->list.n);
		pthread_mutex_unlock(&cache->lock);
	}
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
static void listing_put(struct listing_cache *cache, struct listing *l)
{
	if (!l || --l->refs)
		return;
	if (cache->shared == l)
		cache->shared = NULL;
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
	/* Handles never closed (an unmount): their references go with them. */
	for (size_t i = 0; i < cache->nusers; i++)
		for (unsigned int j = 0; j < cache->users[i].nsnaps; j++)
			while (cache->users[i].snaps[j].handles--)
				listing_put(cache, cache->users[i].snaps[j].l);
	usage_free(&cache->usage, cache->usage_cap);
	free(cache->users);
	pthread_mutex_destroy(&cache->lock);
	pthread_mutex_destroy(&cache->refresh_lock);
	free(cache);
}

unsigned long listing_table_reads(struct listing_cache *cache)
{
	return __atomic_load_n(&cache->reads, __ATOMIC_RELAXED);
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
	if (cache->shared && same_listing(cache->shared, fresh)) {
		l = cache->shared;
	} else {
		cache->shared = fresh;
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
	l->refs++;
	*out = l;
out:
	listing_put(cache, fresh);
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
	listing_put(cache, l);
	pthread_mutex_unlock(&cache->lock);
}

/* ---- rss and swap ------------------------------------------------------ */

static double max_d(double a, double b)
{
	return a > b ? a : b;
}

/* Under cache->lock: the segment's entry, if the table has one of the
 * segment as it is now; whether the table is due to be read again. */
static bool usage_lookup(struct listing_cache *cache, const struct segment_info *seg,
			 struct usage_entry *found, bool *have)
{
	const struct usage_table *t = &cache->usage;
	const struct usage_entry *e = usage_find(t, seg->shmid);
	double age;

	*have = e != NULL;
	if (e)
		*found = *e;
	if (!t->v)
		return true;
	age = monotonic_now() - t->taken;
	if (age > max_d(cache->max_age, LISTING_COST_FACTOR * t->cost))
		return true;
	/* attached, detached or changed since (or new): read again, but
	 * at most once per read's duration */
	return (!e || e->state != state_digest(seg)) && age >= t->cost;
}

void listing_usage(struct listing_cache *cache, struct segment_info *seg)
{
	struct usage_entry e;
	bool have, due, had_table;

	seg->have_usage = false;
	if (!cache)
		return;
	pthread_mutex_lock(&cache->lock);
	due = usage_lookup(cache, seg, &e, &have);
	had_table = cache->usage.v != NULL;
	pthread_mutex_unlock(&cache->lock);
	/* With an older table at hand, read only if no one else is. */
	if (due && (had_table ? pthread_mutex_trylock(&cache->refresh_lock) == 0
			      : pthread_mutex_lock(&cache->refresh_lock) == 0)) {
		struct segment_list list = { 0 };
		struct usage_table t;
		double taken, cost;

		/* Someone else's read may have ended meanwhile. */
		pthread_mutex_lock(&cache->lock);
		due = usage_lookup(cache, seg, &e, &have);
		pthread_mutex_unlock(&cache->lock);
		if (due && table_read(cache, &list, &taken, &cost) == 0 &&
		    usage_build(&list, taken, cost, &t)) {
			pthread_mutex_lock(&cache->lock);
			usage_publish(cache, &t, list.n);
			usage_lookup(cache, seg, &e, &have);
			pthread_mutex_unlock(&cache->lock);
		}
		segment_list_free(&list);
		pthread_mutex_unlock(&cache->refresh_lock);
	}
	if (have) {
		seg->rss = e.rss;
		seg->swap = e.swap;
		seg->have_usage = true;
	}
}
