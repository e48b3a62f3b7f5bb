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

#include "clock.h"
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
	bool valid; /* a table was read */
};

struct listing_cache {
	double max_age;
	/* Guards the shared snapshot's and every listing's references, the
	 * users and the usage table: bookkeeping only.  A leaf (lockorder.h),
	 * taken alone or under refresh_lock. */
	pthread_mutex_t lock;
	/* One read of the table for rss and swap at a time, held across it
	 * (a /proc/sysvipc/shm read); taken without waiting when an older
	 * table will do.  Outer rank: nothing of ours is held when it is
	 * taken. */
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
	return (double)clock_now_ns() / 1e9;
}

static void map_free(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}

/* Grow a mapped array of elem-byte items to hold need; false if out of
 * memory. */
static bool map_grow(void **v, size_t *cap, size_t elem, size_t need)
{
	size_t want = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return true;
	while (want < need)
		want *= 2;
	p = *v ? mremap(*v, *cap * elem, want * elem, MREMAP_MAYMOVE)
	       : mmap(NULL, want * elem, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (p == MAP_FAILED)
		return false;
	*v = p;
	*cap = want;
	return true;
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

static void usage_free(struct usage_table *t, size_t cap)
{
	map_free(t->v, cap * sizeof(*t->v));
	memset(t, 0, sizeof(*t));
}

/* Under cache->lock: t (mapped for cap entries) becomes the usage table
 * if it is newer; the other one is freed. */
static void usage_publish(struct listing_cache *cache, struct usage_table *t, size_t cap)
{
	if (cache->usage.valid && cache->usage.taken > t->taken) {
		usage_free(t, cap);
		return;
	}
	usage_free(&cache->usage, cache->usage_cap);
	cache->usage = *t;
	cache->usage.valid = true;
	cache->usage_cap = cap;
}

static const struct usage_entry *usage_find(const struct usage_table *t, int shmid)
{
	struct usage_entry key = { .shmid = shmid };

	return t->v ? bsearch(&key, t->v, t->n, sizeof(*t->v), by_shmid) : NULL;
}

/* ---- snapshots ---------------------------------------------------------- */

static struct listing_entry entry_of(const struct segment_info *seg)
{
	return (struct listing_entry){ .key = seg->key,
				       .shmid = seg->shmid,
				       .mode = seg->mode,
				       .uid = seg->uid,
				       .gid = seg->gid,
				       .cuid = seg->cuid,
				       .cgid = seg->cgid,
				       .cpid = seg->cpid,
				       .size = seg->size,
				       .atime = seg->atime,
				       .dtime = seg->dtime,
				       .ctime = seg->ctime };
}

void listing_entry_info(const struct listing_entry *e, struct segment_info *out)
{
	memset(out, 0, sizeof(*out));
	out->key = e->key;
	out->shmid = e->shmid;
	out->mode = e->mode;
	out->uid = e->uid;
	out->gid = e->gid;
	out->cuid = e->cuid;
	out->cgid = e->cgid;
	out->cpid = e->cpid;
	out->size = e->size;
	out->atime = (time_t)e->atime;
	out->dtime = (time_t)e->dtime;
	out->ctime = (time_t)e->ctime;
}

static bool same_entry(const struct listing_entry *x, const struct listing_entry *y)
{
	return x->shmid == y->shmid && x->key == y->key && x->mode == y->mode &&
	       x->size == y->size && x->uid == y->uid && x->gid == y->gid && x->cpid == y->cpid &&
	       x->cuid == y->cuid && x->cgid == y->cgid && x->atime == y->atime &&
	       x->dtime == y->dtime && x->ctime == y->ctime;
}

static void listing_free(struct listing *l)
{
	map_free(l->v, l->cap * sizeof(*l->v));
	free(l);
}

const struct listing_entry *listing_find(const struct listing *l, int shmid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].shmid == shmid)
			return &l->v[i];
	return NULL;
}

/* One read of the table, line by line: its usage always; its listing if
 * wanted, compared with like's while they are the same, so that a table
 * like the shared one costs no copy. */
struct reading {
	bool want_listing;
	const struct listing *like; /* NULL: none to compare with */
	size_t matched;		    /* like's first entries that were the same */
	struct listing *own;	    /* once different (or no like) */
	struct usage_table usage;
	size_t usage_cap;
};

static int read_one(const struct segment_info *seg, void *arg)
{
	struct reading *r = arg;
	struct listing_entry e;

	if (seg->have_usage) {
		if (!map_grow((void **)&r->usage.v, &r->usage_cap, sizeof(*r->usage.v),
			      r->usage.n + 1))
			return -ENOMEM;
		r->usage.v[r->usage.n++] = (struct usage_entry){ .shmid = seg->shmid,
								 .state = state_digest(seg),
								 .rss = seg->rss,
								 .swap = seg->swap };
	}
	if (!r->want_listing)
		return 0;
	e = entry_of(seg);
	if (!r->own && r->like && r->matched < r->like->n &&
	    same_entry(&r->like->v[r->matched], &e)) {
		r->matched++;
		return 0;
	}
	if (!r->own) {
		/* different from here on: a copy of the same part first */
		r->own = calloc(1, sizeof(*r->own));
		if (!r->own ||
		    !map_grow((void **)&r->own->v, &r->own->cap, sizeof(e), r->matched + 1))
			return -ENOMEM;
		if (r->matched)
			memcpy(r->own->v, r->like->v, r->matched * sizeof(e));
		r->own->n = r->matched;
	}
	if (!map_grow((void **)&r->own->v, &r->own->cap, sizeof(e), r->own->n + 1))
		return -ENOMEM;
	r->own->v[r->own->n++] = e;
	return 0;
}

/* Read the table; publish its usage.  With want_listing, *out is like
 * (when the same, no new reference taken) or a new snapshot (one
 * reference). */
static int table_read(struct listing_cache *cache, bool want_listing, const struct listing *like,
		      const struct listing **out)
{
	struct reading r = { .want_listing = want_listing, .like = like };
	double cost;
	int ret;

	r.usage.taken = monotonic_now();
	ret = segment_each(read_one, &r);
	__atomic_add_fetch(&cache->reads, 1, __ATOMIC_RELAXED);
	/* the same as like so far, but shorter: a copy of that part */
	if (!ret && want_listing && !r.own && !(like && r.matched == like->n)) {
		r.own = calloc(1, sizeof(*r.own));
		if (!r.own || !map_grow((void **)&r.own->v, &r.own->cap, sizeof(*r.own->v),
					r.matched ? r.matched : 1))
			ret = -ENOMEM;
		else if (r.matched)
			memcpy(r.own->v, like->v, r.matched * sizeof(*r.own->v));
		if (r.own)
			r.own->n = r.matched;
	}
	if (ret) {
		if (r.own)
			listing_free(r.own);
		usage_free(&r.usage, r.usage_cap);
		return ret;
	}
	if (r.usage.n)
		qsort(r.usage.v, r.usage.n, sizeof(*r.usage.v), by_shmid);
	cost = monotonic_now() - r.usage.taken;
	r.usage.cost = cost;
	pthread_mutex_lock(&cache->lock);
	usage_publish(cache, &r.usage, r.usage_cap);
	pthread_mutex_unlock(&cache->lock);
	if (r.own)
		r.own->refs = 1;
	if (want_listing)
		*out = r.own ? r.own : like;
	return 0;
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
	const struct listing *got;
	struct listing *like, *l;
	struct dir_user *u;
	unsigned int j;
	int ret;

	if (!cache)
		return -ENOMEM;
	/* The shared snapshot stays while it is compared with. */
	pthread_mutex_lock(&cache->lock);
	like = cache->shared;
	if (like)
		like->refs++;
	pthread_mutex_unlock(&cache->lock);
	ret = table_read(cache, true, like, &got);
	pthread_mutex_lock(&cache->lock);
	if (ret) {
		listing_put(cache, like);
		goto out;
	}
	if (got == like) {
		l = like; /* the reference taken above is the handle's */
	} else {
		listing_put(cache, like);
		l = (struct listing *)got;
		cache->shared = l;
	}
	u = find_user(cache, uid, true);
	for (j = 0; u && j < u->nsnaps && u->snaps[j].l != l; j++)
		;
	if (!u || (j == u->nsnaps && j == LISTING_DIRS_PER_USER)) {
		ret = u ? -EMFILE : -ENOMEM;
		listing_put(cache, l);
		goto out;
	}
	if (j == u->nsnaps) {
		u->snaps[j].l = l;
		u->snaps[j].handles = 0;
		u->nsnaps++;
	}
	u->snaps[j].handles++;
	*out = l;
out:
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
	if (!t->valid)
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
	had_table = cache->usage.valid;
	pthread_mutex_unlock(&cache->lock);
	/* With an older table at hand, read only if no one else is. */
	if (due && (had_table ? pthread_mutex_trylock(&cache->refresh_lock) == 0
			      : pthread_mutex_lock(&cache->refresh_lock) == 0)) {
		/* Someone else's read may have ended meanwhile. */
		pthread_mutex_lock(&cache->lock);
		due = usage_lookup(cache, seg, &e, &have);
		pthread_mutex_unlock(&cache->lock);
		if (due && table_read(cache, false, NULL, NULL) == 0) {
			pthread_mutex_lock(&cache->lock);
			usage_lookup(cache, seg, &e, &have);
			pthread_mutex_unlock(&cache->lock);
		}
		pthread_mutex_unlock(&cache->refresh_lock);
	}
	if (have) {
		seg->rss = e.rss;
		seg->swap = e.swap;
		seg->have_usage = true;
	}
}
