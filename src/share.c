/* share.c - which set under a segment's key lends shmfs its lock (see
 * share.h for the rule and why the semaphores alone cannot tell).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "semset.h"
#include "semun.h"
#include "share.h"

/* IPC::Shareable's tag, written before the Storable image (_freeze). */
static const char shareable_tag[] = "IPC::Shareable";
#define SHAREABLE_TAG_LEN (sizeof(shareable_tag) - 1)

/* Storable's image starts with (major << 1 | network order): major 2 since
 * Storable 0.6, the version IPC::Shareable asks for. */
#define STORABLE_MAJOR_NATIVE 0x04
#define STORABLE_MAJOR_NET    0x05

void share_header(const void *head, struct sharelite_header *out)
{
	/* the segment's bytes need not be aligned for us */
	memcpy(out, head, sizeof(*out));
}

bool share_set_in_protocol(const struct share_set *set)
{
	if (set->nsems == SHARE_NSEMS_MARK) {
		if (set->val[SHARE_SEM_MARK_3] != SHARE_MARK_3 ||
		    set->val[SHARE_SEM_MARK_4] != SHARE_MARK_4)
			return false;
	} else if (set->nsems != SHARE_NSEMS_PERL) {
		return false;
	}
	/* Initialised, one writer at most, and never readers and a writer at
	 * once: the protocol's semops cannot get anywhere else. */
	return set->val[SHARE_SEM_INIT] == 1 && set->val[SHARE_SEM_WRITER] <= 1 &&
	       !(set->val[SHARE_SEM_READERS] > 0 && set->val[SHARE_SEM_WRITER] > 0);
}

bool share_is_sharelite_first(const void *head, size_t len, uint64_t size)
{
	struct sharelite_header h;
	uint64_t data_size;

	if (!head || len < sizeof(h) || size <= sizeof(h))
		return false;
	share_header(head, &h);
	data_size = size - sizeof(h);
	/* new_share() starts both at 1; write_share() bumps version at every
	 * store and shm_state at most once per store. */
	if (h.version < 1 || h.shm_state < 1 || h.shm_state > (uint32_t)h.version)
		return false;
	if (h.length < 0 || h.next_shmid < -1)
		return false;
	/* The last segment holds what is left: a length that does not fit
	 * would have a next segment.  With a next segment the value spills
	 * (over SHARE_CHAIN_MAX segments at most, as far as shmfs follows a
	 * chain), or a store is under way (it zeroes the length first).  A
	 * store that shortens a value sets the length before it cuts the
	 * chain: an open that looks in that instant takes the share for
	 * none, and the next open finds it again (lock.h). */
	if (h.next_shmid < 0)
		return (uint64_t)h.length <= data_size;
	return h.length == 0 || ((uint64_t)h.length > data_size &&
				 (uint64_t)h.length <= data_size * (SHARE_CHAIN_MAX + 1));
}

bool share_is_sharelite_next(const void *head, size_t len, uint64_t size, int32_t *next)
{
	struct sharelite_header h;

	if (!head || len < sizeof(h) || size <= sizeof(h))
		return false;
	share_header(head, &h);
	/* _add_segment() makes it with IPC_EXCL (so zero-filled) and sets
	 * only next_shmid and length (0) */
	if (h.length != 0 || h.shm_state != 0 || h.version != 0 || h.next_shmid < -1)
		return false;
	if (next)
		*next = h.next_shmid;
	return true;
}

bool share_is_shareable(const void *head, size_t len)
{
	const unsigned char *b = head;
	size_t order_len;

	if (!head || len < SHAREABLE_TAG_LEN + 2 || memcmp(b, shareable_tag, SHAREABLE_TAG_LEN))
		return false;
	b += SHAREABLE_TAG_LEN;
	len -= SHAREABLE_TAG_LEN;
	if (b[0] == STORABLE_MAJOR_NET)
		return true;
	if (b[0] != STORABLE_MAJOR_NATIVE)
		return false;
	/* native order: the minor version, then the byte order as the
	 * length of a string of digits ("12345678" on x86-64) */
	if (len < 3)
		return false;
	order_len = b[2];
	if (order_len != 4 && order_len != 8)
		return false;
	for (size_t i = 0; i < order_len && 3 + i < len; i++)
		if (b[3 + i] < '1' || b[3 + i] > '8')
			return false;
	return true;
}

enum share_kind share_classify(const struct share_set *set, const void *head, size_t len,
			       uint64_t size)
{
	if (!share_set_in_protocol(set))
		return SHARE_NONE;
	if (set->nsems == SHARE_NSEMS_MARK)
		return SHARE_SHMFS;
	if (share_is_sharelite_first(head, len, size))
		return SHARE_SHARELITE;
	if (share_is_shareable(head, len))
		return SHARE_SHAREABLE;
	return SHARE_NONE;
}

const char *share_kind_name(enum share_kind kind)
{
	switch (kind) {
	case SHARE_SHARELITE:
		return "IPC::ShareLite";
	case SHARE_SHAREABLE:
		return "IPC::Shareable";
	case SHARE_SHMFS:
		return "shmfs protocol";
	case SHARE_NONE:
		break;
	}
	return "none";
}

/* A set someone else planted for the key must not become the lock of
 * seg: its maker could hold it and stall every reader. */
static bool made_for(const struct semid_ds *ds, const struct segment_info *seg)
{
	const uid_t cuid = ds->sem_perm.cuid, uid = ds->sem_perm.uid;

	return (cuid == 0 || cuid == seg->uid || cuid == seg->cuid) &&
	       (uid == 0 || uid == seg->uid || uid == seg->cuid);
}

/* IPC_STAT and, for a set small enough to be one of ours, GETALL (one
 * atomic snapshot of the values).  0 or -errno. */
static int read_set(int semid, const struct segment_info *seg, struct share_set *state)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	memset(state, 0, sizeof(*state));
	if (semctl(semid, 0, IPC_STAT, arg) != 0)
		return -errno;
	if (!made_for(&ds, seg))
		return -EPERM;
	state->nsems = (unsigned int)ds.sem_nsems;
	if (state->nsems > 0 && state->nsems <= SHARE_NSEMS_MARK) {
		arg.array = state->val;
		if (semctl(semid, 0, GETALL, arg) != 0)
			return -errno;
	}
	return 0;
}

bool share_keyed(const struct segment_info *seg)
{
	return seg->key != 0 && !(seg->mode & SEGMENT_MODE_DEST);
}

int share_key_set(const struct segment_info *seg, struct share_set *state)
{
	int semid;

	if (!share_keyed(seg))
		return -ENOENT;
	/* Asking for no permission needs none, and creates nothing. */
	semid = semget(seg->key, 0, 0);
	if (semid < 0 || read_set(semid, seg, state) != 0)
		return -ENOENT;
	return semid;
}

bool share_set_lends(int semid, const struct segment_info *seg)
{
	struct share_set state;

	return semid >= 0 && read_set(semid, seg, &state) == 0 && share_set_in_protocol(&state);
}

/* Whether the next segment a ShareLite first segment's header names
 * (head) is there, none, or a segment of its size: ShareLite makes every
 * continuation with the first segment's size. */
static bool next_is_continuation(const void *head, uint64_t size)
{
	struct sharelite_header h;
	struct segment_info next;

	share_header(head, &h);
	return h.next_shmid < 0 ||
	       (segment_stat(h.next_shmid, false, &next) == 0 && next.size == size);
}

int share_lock_set(const struct segment_info *seg, const void *head, size_t len,
		   enum share_kind *kind)
{
	struct share_set state;
	enum share_kind k = SHARE_NONE;
	int semid = share_key_set(seg, &state);

	if (semid >= 0)
		k = share_classify(&state, head, len, seg->size);
	if (k == SHARE_SHARELITE && !next_is_continuation(head, seg->size))
		k = SHARE_NONE;
	if (kind)
		*kind = k;
	return k == SHARE_NONE ? -ENOENT : semid;
}

/* ---- ShareLite's continuation segments -------------------------------- */

/* shmid's first bytes, through a read-only attachment held for the copy
 * only.  0 or -errno. */
static int peek_segment(int shmid, void *buf, size_t len)
{
	void *addr;
	int ret = segment_attach(shmid, false, &addr);

	if (ret)
		return ret;
	memcpy(buf, addr, len);
	segment_detach(addr);
	return 0;
}

/* Whether the chain that starts at first (a ShareLite first segment of
 * size bytes) reaches shmid, following next_shmid as ShareLite's readers
 * do, through continuations only. */
static bool chain_reaches(int first, uint64_t size, int shmid)
{
	unsigned char head[SHARE_HEAD_BYTES];
	struct sharelite_header h;
	int32_t next;

	if (peek_segment(first, head, sizeof(head)) != 0 ||
	    !share_is_sharelite_first(head, sizeof(head), size))
		return false;
	share_header(head, &h);
	next = h.next_shmid;
	for (unsigned int hop = 0; next >= 0 && hop < SHARE_CHAIN_MAX; hop++) {
		if (next == shmid)
			return true;
		if (peek_segment(next, head, sizeof(head)) != 0 ||
		    !share_is_sharelite_next(head, sizeof(head), size, &next))
			return false;
	}
	return false;
}

/* The set of key k, if it may lock seg and k's segment is a first
 * segment of seg's size whose chain reaches seg: its semid, else -1.
 * *tried counts the first segments followed. */
static int first_of_chain(const struct segment_info *seg, int32_t k, unsigned int *tried)
{
	struct segment_info first;
	struct share_set state;
	int semid = semget((key_t)k, 0, 0), shmid;

	/* the set must be one that may lock seg, not only its first */
	if (semid < 0 || read_set(semid, seg, &state) != 0 || !share_set_in_protocol(&state))
		return -1;
	shmid = segment_find_key(k);
	if (shmid < 0 || segment_stat(shmid, false, &first) != 0 || first.size != seg->size ||
	    (first.mode & SEGMENT_MODE_DEST))
		return -1;
	(*tried)++;
	return chain_reaches(shmid, seg->size, seg->shmid) ? semid : -1;
}

/* The namespace's number of sets (SEM_INFO), or -1. */
static int sets_in_use(void)
{
	struct seminfo info;

	if (semctl(0, 0, SEM_INFO, (union semun){ .__buf = &info }) < 0)
		return -1;
	return info.semusz;
}

/* The keys of the sets in [lo, hi], gathered from one pass over the
 * namespace's sets. */
struct keys_below {
	int32_t lo, hi;
	int32_t *keys;
	size_t n, cap;
};

static int gather_key(const struct semset_info *set, void *arg)
{
	struct keys_below *b = arg;

	if (set->key < b->lo || set->key > b->hi)
		return 0;
	if (b->n == b->cap)
		return 1; /* more made meanwhile: semget each key */
	b->keys[b->n++] = set->key;
	return 0;
}

static int by_key_down(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x < y) - (x > y);
}

int share_chain_set(const struct segment_info *seg, const void *head, size_t len)
{
	/* ShareLite took the first free key above the first segment's. */
	int64_t hi = (int64_t)seg->key - 1, lo = (int64_t)seg->key - SHARE_CHAIN_KEYS;
	int32_t listed[SHARE_CHAIN_LISTED];
	struct keys_below below = { 0 };
	unsigned int tried = 0;
	int sets, semid;

	if (!share_keyed(seg) || !share_is_sharelite_next(head, len, seg->size, NULL))
		return -ENOENT;
	if (lo < 1)
		lo = 1;
	if (hi < lo)
		return -ENOENT;
	/* Each look attaches and detaches: under shm_rmid_forced a detach
	 * that leaves nobody attached destroys the segment. */
	if (segment_rmid_forced())
		return -ENOENT;
	/* A zero-filled segment with a key reads as a continuation (next
	 * shmid 0), so this runs at every open of one: the keys below are
	 * tried one semget each only when the namespace has more sets than
	 * one pass over them costs (none at all: nothing to try). */
	sets = sets_in_use();
	if (sets == 0)
		return -ENOENT;
	if (sets > 0 && sets <= SHARE_CHAIN_LISTED) {
		below = (struct keys_below){ (int32_t)lo, (int32_t)hi, listed, 0,
					     SHARE_CHAIN_LISTED };
		if (semset_each(gather_key, &below) != 0)
			below.keys = NULL; /* could not list: semget each key */
	}
	if (below.keys) {
		qsort(listed, below.n, sizeof(listed[0]), by_key_down);
		for (size_t i = 0; i < below.n && tried < SHARE_CHAIN_FIRSTS; i++) {
			if (i > 0 && listed[i] == listed[i - 1])
				continue;
			semid = first_of_chain(seg, listed[i], &tried);
			if (semid >= 0)
				return semid;
		}
		return -ENOENT;
	}
	for (int64_t k = hi; k >= lo && tried < SHARE_CHAIN_FIRSTS; k--) {
		semid = first_of_chain(seg, (int32_t)k, &tried);
		if (semid >= 0)
			return semid;
	}
	return -ENOENT;
}
