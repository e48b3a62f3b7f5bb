/* node.c - the node table: node ids handed to the kernel, one per (kind,
 * lifetime), never reused.
 *
 * Two chained hash tables over the same entries: by node id (every
 * request) and by (kind, object id) (lookups).  Both grow by doubling
 * when they hold more entries than buckets; they never shrink (a
 * directory listing of many segments makes that many nodes once).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

#define INITIAL_BUCKETS 64

/* The st_ino layout (node_st_ino()): kind in the low bits, the object id
 * plus one above it, a tag of the lifetime's weak identity in the rest. */
#define INO_KIND_BITS 5
#define INO_ID_BITS   33 /* a key (or id) as unsigned, plus one */
#define INO_TAG_SHIFT (INO_KIND_BITS + INO_ID_BITS)
_Static_assert(NAME_KINDS <= (1 << INO_KIND_BITS), "kinds fit in st_ino's kind bits");

struct entry {
	struct entry *next_by_id;
	struct entry *next_by_obj;
	struct node node;
	uint64_t nlookup;
	bool retired; /* a look-alike holds its shmid: lookups pass it by */
	/* (kind, weak identity) as made, hashed: checked at every use, so a
	 * node can never be re-pointed to another lifetime unnoticed. */
	uint64_t made_as;
};

struct node_table {
	/* Guards everything below; no syscall under it.  A leaf
	 * (lockorder.h): taken alone. */
	pthread_mutex_t mutex;
	struct entry **by_id;
	struct entry **by_obj;
	size_t nbuckets; /* a power of two, for both */
	size_t count;
	uint64_t next_id; /* only grows: an id is never handed out twice */
};

/* splitmix64's finaliser: every input bit reaches every output bit. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* A hash of a kind and a lifetime's weak part. */
static uint64_t weak_hash(enum name_kind kind, const struct segment_identity *life)
{
	uint64_t h = mix((uint64_t)kind << 32 | (uint32_t)life->shmid);

	h = mix(h ^ ((uint64_t)(uint32_t)life->cpid << 32 | (uint32_t)life->cuid));
	h = mix(h ^ (uint32_t)life->cgid);
	return mix(h ^ life->size);
}

static size_t obj_bucket(const struct node_table *t, enum name_kind kind, int id)
{
	return mix((uint64_t)kind << 32 | (uint32_t)id) & (t->nbuckets - 1);
}

static size_t id_bucket(const struct node_table *t, uint64_t id)
{
	return mix(id) & (t->nbuckets - 1);
}

static void assert_unchanged(const struct entry *e)
{
	assert(e->made_as == weak_hash(e->node.kind, &e->node.life));
	(void)e;
}

struct node_table *node_table_new(void)
{
	struct node_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nbuckets = INITIAL_BUCKETS;
	t->by_id = calloc(t->nbuckets, sizeof(*t->by_id));
	t->by_obj = calloc(t->nbuckets, sizeof(*t->by_obj));
	if (!t->by_id || !t->by_obj) {
		free(t->by_id);
		free(t->by_obj);
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->mutex, NULL);
	t->next_id = NODE_FIRST_ID;
	return t;
}

void node_table_free(struct node_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		while (t->by_id[i]) {
			struct entry *e = t->by_id[i];

			t->by_id[i] = e->next_by_id;
			free(e);
		}
	}
	free(t->by_id);
	free(t->by_obj);
	pthread_mutex_destroy(&t->mutex);
	free(t);
}

static void link_entry(struct node_table *t, struct entry *e)
{
	size_t b = id_bucket(t, e->node.id);
	size_t o = obj_bucket(t, e->node.kind, e->node.life.shmid);

	e->next_by_id = t->by_id[b];
	t->by_id[b] = e;
	e->next_by_obj = t->by_obj[o];
	t->by_obj[o] = e;
}

/* Twice the buckets; on failure the table stays as it was (only slower). */
static void grow_locked(struct node_table *t)
{
	size_t old = t->nbuckets;
	struct entry **by_id = t->by_id, **by_obj, **fresh_id;

	if (old > SIZE_MAX / 2 / sizeof(*by_id))
		return;
	fresh_id = calloc(old * 2, sizeof(*fresh_id));
	by_obj = calloc(old * 2, sizeof(*by_obj));
	if (!fresh_id || !by_obj) {
		free(fresh_id);
		free(by_obj);
		return;
	}
	free(t->by_obj);
	t->by_id = fresh_id;
	t->by_obj = by_obj;
	t->nbuckets = old * 2;
	for (size_t i = 0; i < old; i++) {
		while (by_id[i]) {
			struct entry *e = by_id[i];

			by_id[i] = e->next_by_id;
			link_entry(t, e);
		}
	}
	free(by_id);
}

static struct entry *find_id_locked(struct node_table *t, uint64_t id)
{
	for (struct entry *e = t->by_id[id_bucket(t, id)]; e; e = e->next_by_id)
		if (e->node.id == id)
			return e;
	return NULL;
}

int node_lookup(struct node_table *t, enum name_kind kind, const struct segment_identity *life,
		struct node *out)
{
	struct entry *e;

	pthread_mutex_lock(&t->mutex);
	for (e = t->by_obj[obj_bucket(t, kind, life->shmid)]; e; e = e->next_by_obj)
		if (e->node.kind == kind && !e->retired && identity_same(&e->node.life, life))
			break;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&t->mutex);
			return -ENOMEM;
		}
		e->node = (struct node){ .id = t->next_id++, .kind = kind, .life = *life };
		e->made_as = weak_hash(kind, life);
		if (t->count >= t->nbuckets)
			grow_locked(t);
		link_entry(t, e);
		t->count++;
	}
	assert_unchanged(e);
	e->nlookup++;
	*out = e->node;
	pthread_mutex_unlock(&t->mutex);
	return 0;
}

int node_get(struct node_table *t, uint64_t id, struct node *out)
{
	struct entry *e;

	pthread_mutex_lock(&t->mutex);
	e = find_id_locked(t, id);
	if (e) {
		assert_unchanged(e);
		*out = e->node;
	}
	pthread_mutex_unlock(&t->mutex);
	return e ? 0 : -ENOENT;
}

static void unlink_locked(struct node_table *t, struct entry *e)
{
	struct entry **p;

	for (p = &t->by_id[id_bucket(t, e->node.id)]; *p != e; p = &(*p)->next_by_id)
		;
	*p = e->next_by_id;
	for (p = &t->by_obj[obj_bucket(t, e->node.kind, e->node.life.shmid)]; *p != e;
	     p = &(*p)->next_by_obj)
		;
	*p = e->next_by_obj;
	t->count--;
}

void node_forget(struct node_table *t, uint64_t id, uint64_t nlookup)
{
	struct entry *e;

	pthread_mutex_lock(&t->mutex);
	e = find_id_locked(t, id);
	/* The kernel forgets only what it was given. */
	assert(!e || nlookup <= e->nlookup);
	if (e) {
		assert_unchanged(e);
		e->nlookup -= nlookup < e->nlookup ? nlookup : e->nlookup;
		if (e->nlookup == 0)
			unlink_locked(t, e);
		else
			e = NULL;
	}
	pthread_mutex_unlock(&t->mutex);
	free(e);
}

int node_check(const struct node *n, const struct segment_identity *now)
{
	if (!now)
		return -ENOENT;
	assert(now->shmid == n->life.shmid);
	return identity_same(&n->life, now) ? 0 : -ESTALE;
}

int node_prove(struct node_table *t, uint64_t id, const struct segment_identity *held)
{
	struct entry *e;
	int ret = 0;

	pthread_mutex_lock(&t->mutex);
	e = find_id_locked(t, id);
	if (!e) {
		ret = -ENOENT;
	} else if (!identity_same(&e->node.life, held)) {
		ret = -ESTALE;
	} else if (held->strong && !e->node.life.strong) {
		/* the only change after making, once: the weak part stays */
		e->node.life = *held;
		assert_unchanged(e);
	}
	pthread_mutex_unlock(&t->mutex);
	return ret;
}

void node_retire(struct node_table *t, uint64_t id)
{
	struct entry *e;

	pthread_mutex_lock(&t->mutex);
	e = find_id_locked(t, id);
	if (e)
		e->retired = true;
	pthread_mutex_unlock(&t->mutex);
}

uint64_t node_ino_of(enum name_kind kind, const struct segment_identity *life)
{
	uint64_t id = (uint64_t)(uint32_t)life->shmid + 1;
	uint64_t tag = 0;

	/* A name being created has no lifetime yet: its key alone. */
	if (kind != NAME_PENDING)
		tag = weak_hash(NAME_NONE, life) >> INO_TAG_SHIFT;
	return tag << INO_TAG_SHIFT | id << INO_KIND_BITS | (uint64_t)kind;
}

uint64_t node_st_ino(const struct node *n)
{
	return node_ino_of(n->kind, &n->life);
}

size_t node_count(struct node_table *t)
{
	size_t n;

	pthread_mutex_lock(&t->mutex);
	n = t->count;
	pthread_mutex_unlock(&t->mutex);
	return n;
}
