/* lock.c - the semaphore lock protocol shared with IPC::ShareLite.
 *
 * The waits are cut into short semtimedop() slices so that a wait can be
 * abandoned (the FUSE request was interrupted, the daemon is stopping) and
 * is bounded as a whole; a semop() that blocks for ever cannot be asked to
 * stop by anyone but a signal.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

#include "lock.h"

/* How often a wait looks at its abort callback. */
#define LOCK_SLICE_MS 10

#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC  1000000000ull

/* The protocol's semaphores; semaphore 0 belongs to IPC::ShareLite, which
 * uses it to mark a share as initialised. */
#define SEM_READERS 1
#define SEM_WRITER  2
#define LOCK_NSEMS  3

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Fill ops with the semop of acquiring mode; returns how many. */
static size_t lock_ops(enum lock_mode mode, struct sembuf ops[3])
{
	if (mode == LOCK_MODE_SHARED) {
		ops[0] = (struct sembuf){ .sem_num = SEM_WRITER, .sem_op = 0, .sem_flg = 0 };
		ops[1] =
			(struct sembuf){ .sem_num = SEM_READERS, .sem_op = 1, .sem_flg = SEM_UNDO };
		return 2;
	}
	ops[0] = (struct sembuf){ .sem_num = SEM_READERS, .sem_op = 0, .sem_flg = 0 };
	ops[1] = (struct sembuf){ .sem_num = SEM_WRITER, .sem_op = 0, .sem_flg = 0 };
	ops[2] = (struct sembuf){ .sem_num = SEM_WRITER, .sem_op = 1, .sem_flg = SEM_UNDO };
	return 3;
}

/* One attempt that waits at most slice_ns (0: not at all).  0 or -errno;
 * -EAGAIN when the slice ran out. */
static int try_acquire(int semid, struct sembuf *ops, size_t nops, uint64_t slice_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(slice_ns / NSEC_PER_SEC),
		.tv_nsec = (long)(slice_ns % NSEC_PER_SEC),
	};
	struct sembuf now[3];

	if (slice_ns > 0)
		return semtimedop(semid, ops, nops, &ts) == 0 ? 0 : -errno;

	for (size_t i = 0; i < nops; i++) {
		now[i] = ops[i];
		now[i].sem_flg |= IPC_NOWAIT;
	}
	return semop(semid, now, nops) == 0 ? 0 : -errno;
}

int lock_acquire(int semid, enum lock_mode mode, unsigned int timeout_ms, lock_abort_fn abort,
		 void *arg)
{
	struct sembuf ops[3];
	size_t nops = lock_ops(mode, ops);
	uint64_t deadline = monotonic_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	for (;;) {
		uint64_t now = monotonic_ns();
		uint64_t slice = deadline > now ? deadline - now : 0;
		int ret;

		if (slice > LOCK_SLICE_MS * NSEC_PER_MSEC)
			slice = LOCK_SLICE_MS * NSEC_PER_MSEC;
		ret = try_acquire(semid, ops, nops, slice);
		if (ret != -EAGAIN && ret != -EINTR)
			return ret;
		if (abort && abort(arg))
			return -EINTR;
		if (monotonic_ns() >= deadline)
			return -ETIMEDOUT;
	}
}

int lock_release(int semid, enum lock_mode mode)
{
	/* IPC_NOWAIT as ShareLite: releasing a lock not held fails rather
	 * than waiting for someone else's lock to be taken. */
	struct sembuf op = {
		.sem_num = mode == LOCK_MODE_SHARED ? SEM_READERS : SEM_WRITER,
		.sem_op = -1,
		.sem_flg = SEM_UNDO | IPC_NOWAIT,
	};

	while (semop(semid, &op, 1) != 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Which set guards one segment.  key is the key the choice was made for:
 * the segment's key, or 0 once the segment is private or marked for
 * destruction.  keyed tells whether semid is that key's own set (rather
 * than a private one, also used when the key's set is too small). */
struct lock_entry {
	struct lock_entry *next;
	int shmid;
	int32_t key;
	int semid; /* -1 after lock_table_invalidate() */
	bool created;
	bool keyed;
	/* A keyed set we created and left when the segment lost its key:
	 * other programs may still be using it, so it goes with the segment.
	 * -1 if none. */
	int retired_semid;
	unsigned long born; /* the table's generation when the choice was made */
	unsigned long seen; /* the last sweep that found the segment live */
	/* The "written" set (1 semaphore, posted by outside writers) and the
	 * count of writes seen: through the mount or posted. */
	int notify_semid;
	uint64_t written;
};

struct lock_table {
	pthread_mutex_t mutex;
	struct lock_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
	unsigned long generation;
};

#define LOCK_TABLE_MIN_BUCKETS 64

static size_t bucket_of(const struct lock_table *table, int shmid)
{
	/* Fibonacci hashing: shmids are index + 32768 * sequence, so their
	 * high bits matter as much as their low ones. */
	uint32_t h = (uint32_t)shmid * 2654435769u;

	return (size_t)(h ^ (h >> 16)) & (table->nbuckets - 1);
}

static struct lock_entry *find_entry(const struct lock_table *table, int shmid)
{
	struct lock_entry *e;

	for (e = table->buckets[bucket_of(table, shmid)]; e; e = e->next)
		if (e->shmid == shmid)
			return e;
	return NULL;
}

/* Double the buckets when the table gets full; a failure only costs speed. */
static void maybe_grow(struct lock_table *table)
{
	size_t old_n = table->nbuckets;
	struct lock_entry **old = table->buckets;
	struct lock_entry **fresh;

	if (table->count < old_n)
		return;
	fresh = calloc(old_n * 2, sizeof(*fresh));
	if (!fresh)
		return;
	table->buckets = fresh;
	table->nbuckets = old_n * 2;
	for (size_t i = 0; i < old_n; i++) {
		struct lock_entry *e = old[i], *next;

		for (; e; e = next) {
			size_t b = bucket_of(table, e->shmid);

			next = e->next;
			e->next = fresh[b];
			fresh[b] = e;
		}
	}
	free(old);
}

static void remove_set(int *semid)
{
	if (*semid >= 0)
		semctl(*semid, 0, IPC_RMID);
	*semid = -1;
}

/* Remove every set the entry created. */
static void remove_entry_sets(struct lock_entry *e)
{
	if (e->created)
		remove_set(&e->semid);
	e->semid = -1;
	e->created = false;
	remove_set(&e->retired_semid);
	remove_set(&e->notify_semid);
}

/* The key a segment's set is chosen by: a segment marked for destruction
 * has lost its key already, or is about to (the kernel clears it). */
static int32_t effective_key(const struct segment_info *seg)
{
	return (seg->mode & SEGMENT_MODE_DEST) ? 0 : seg->key;
}

/* Keys never come back to a segment, so a nonzero key different from the
 * entry's means the shmid now names another segment. */
static bool entry_is_stale(const struct lock_entry *e, const struct segment_info *seg)
{
	int32_t key = effective_key(seg);

	return key != 0 && key != e->key;
}

struct lock_choice {
	int semid;
	bool created;
	bool keyed;
};

/* Find or create the set for key (0: a private one), with permission bits
 * perm when created.  0 or -errno. */
static int choose_set(int32_t key, unsigned int perm, struct lock_choice *c)
{
	int id;

	if (key != 0) {
		bool too_small = false;

		/* A few rounds, in case the key's set is removed between our
		 * two semget()s. */
		for (int round = 0; round < 8 && !too_small; round++) {
			id = semget(key, LOCK_NSEMS, IPC_CREAT | IPC_EXCL | perm);
			if (id >= 0) {
				*c = (struct lock_choice){ id, true, true };
				return 0;
			}
			if (errno != EEXIST)
				return -errno;
			/* Asking for LOCK_NSEMS fails with EINVAL if the set has
			 * fewer; asking for no permission needs none. */
			id = semget(key, LOCK_NSEMS, 0);
			if (id >= 0) {
				*c = (struct lock_choice){ id, false, true };
				return 0;
			}
			if (errno == EINVAL)
				too_small = true;
			else if (errno != ENOENT)
				return -errno;
		}
		if (!too_small)
			return -EAGAIN;
	}
	id = semget(IPC_PRIVATE, LOCK_NSEMS, IPC_CREAT | perm);
	if (id < 0)
		return -errno;
	*c = (struct lock_choice){ id, true, false };
	return 0;
}

/* A set the daemon creates belongs to the segment's owner, so that the
 * owner's own programs (IPC::ShareLite opens with semget(key, 3, 0666))
 * may use it exactly as they may use the segment. */
static void give_set_to_owner(int semid, const struct segment_info *seg)
{
	struct semid_ds ds;
	union semun {
		int val;
		struct semid_ds *buf;
	} arg = { .buf = &ds };

	if (semctl(semid, 0, IPC_STAT, arg) != 0)
		return;
	ds.sem_perm.uid = seg->uid;
	ds.sem_perm.gid = seg->gid;
	ds.sem_perm.mode = seg->mode & 0777;
	semctl(semid, 0, IPC_SET, arg);
}

struct lock_table *lock_table_new(void)
{
	struct lock_table *table = calloc(1, sizeof(*table));

	if (!table)
		return NULL;
	table->nbuckets = LOCK_TABLE_MIN_BUCKETS;
	table->buckets = calloc(table->nbuckets, sizeof(*table->buckets));
	if (!table->buckets) {
		free(table);
		return NULL;
	}
	pthread_mutex_init(&table->mutex, NULL);
	return table;
}

void lock_table_free(struct lock_table *table)
{
	if (!table)
		return;
	for (size_t i = 0; i < table->nbuckets; i++) {
		struct lock_entry *e = table->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			remove_entry_sets(e);
			free(e);
		}
	}
	pthread_mutex_destroy(&table->mutex);
	free(table->buckets);
	free(table);
}

/* Bring e's choice up to date with seg; the caller holds the mutex. */
static int update_entry(struct lock_entry *e, const struct segment_info *seg,
			unsigned long generation)
{
	int32_t key = effective_key(seg);
	struct lock_choice c = { -1, false, false };
	int ret;

	if (e->semid >= 0 && e->key == key)
		return e->semid;

	if (entry_is_stale(e, seg)) {
		remove_entry_sets(e);
		e->born = generation;
	} else if (e->key != 0 && key == 0 && e->semid >= 0) {
		/* The segment lost its key.  A private fallback set stays as it
		 * is; the key's own set is left to whoever still uses it. */
		if (!e->keyed) {
			e->key = 0;
			return e->semid;
		}
		if (e->created) {
			remove_set(&e->retired_semid);
			e->retired_semid = e->semid;
		}
		e->semid = -1;
		e->created = false;
	}

	ret = choose_set(key, seg->mode & 0777, &c);
	if (ret < 0)
		return ret;
	if (c.created)
		give_set_to_owner(c.semid, seg);
	e->key = key;
	e->semid = c.semid;
	e->created = c.created;
	e->keyed = c.keyed;
	return e->semid;
}

int lock_table_semid(struct lock_table *table, const struct segment_info *seg)
{
	struct lock_entry *e;
	int ret;

	pthread_mutex_lock(&table->mutex);
	e = find_entry(table, seg->shmid);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			ret = -ENOMEM;
			goto out;
		}
		*e = (struct lock_entry){
			.shmid = seg->shmid,
			.key = effective_key(seg),
			.semid = -1,
			.retired_semid = -1,
			.notify_semid = -1,
			.born = table->generation,
		};
		ret = update_entry(e, seg, table->generation);
		if (ret < 0) {
			free(e);
			goto out;
		}
		maybe_grow(table);
		size_t b = bucket_of(table, e->shmid);
		e->next = table->buckets[b];
		table->buckets[b] = e;
		table->count++;
	} else {
		ret = update_entry(e, seg, table->generation);
	}
out:
	pthread_mutex_unlock(&table->mutex);
	return ret;
}

void lock_table_invalidate(struct lock_table *table, int shmid, int semid)
{
	struct lock_entry *e;

	pthread_mutex_lock(&table->mutex);
	e = find_entry(table, shmid);
	if (e && e->semid == semid && semid >= 0) {
		e->semid = -1;
		e->created = false;
	}
	if (e && e->retired_semid == semid && semid >= 0)
		e->retired_semid = -1;
	pthread_mutex_unlock(&table->mutex);
}

/* Mark, then sweep: one pass over live and one over the table, rather
 * than a search of live for every entry.  live may have been read before
 * an entry was made, so an entry made since the previous sweep is kept
 * through this one whatever live says. */
void lock_table_sweep(struct lock_table *table, const struct segment_list *live)
{
	unsigned long gen;

	pthread_mutex_lock(&table->mutex);
	gen = ++table->generation;
	for (size_t i = 0; i < live->n; i++) {
		struct lock_entry *e = find_entry(table, live->v[i].shmid);

		if (e && !entry_is_stale(e, &live->v[i]))
			e->seen = gen;
	}
	for (size_t i = 0; i < table->nbuckets; i++) {
		struct lock_entry **link = &table->buckets[i];

		while (*link) {
			struct lock_entry *e = *link;

			if (e->seen == gen || e->born == gen - 1) {
				link = &e->next;
				continue;
			}
			*link = e->next;
			remove_entry_sets(e);
			free(e);
			table->count--;
		}
	}
	pthread_mutex_unlock(&table->mutex);
}

/* ---- the "written" semaphore ------------------------------------------- */

int lock_table_notify_semid(struct lock_table *table, const struct segment_info *seg)
{
	struct lock_entry *e;
	int ret = lock_table_semid(table, seg);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&table->mutex);
	e = find_entry(table, seg->shmid);
	if (!e) {
		ret = -ENOENT;
	} else if (e->notify_semid >= 0) {
		ret = e->notify_semid;
	} else {
		ret = semget(IPC_PRIVATE, 1, IPC_CREAT | (seg->mode & 0777));
		if (ret < 0) {
			ret = -errno;
		} else {
			give_set_to_owner(ret, seg);
			e->notify_semid = ret;
		}
	}
	pthread_mutex_unlock(&table->mutex);
	return ret;
}

uint64_t lock_table_written(struct lock_table *table, int shmid)
{
	struct lock_entry *e;
	uint64_t n = 0;

	pthread_mutex_lock(&table->mutex);
	e = find_entry(table, shmid);
	if (e)
		n = e->written;
	pthread_mutex_unlock(&table->mutex);
	return n;
}

void lock_table_mark_written(struct lock_table *table, int shmid)
{
	struct lock_entry *e;

	pthread_mutex_lock(&table->mutex);
	e = find_entry(table, shmid);
	if (e)
		e->written++;
	pthread_mutex_unlock(&table->mutex);
}

/* Take what was posted on e's "written" semaphore; true if anything was. */
static bool take_posts(struct lock_entry *e)
{
	struct sembuf op = { 0, 0, IPC_NOWAIT };
	int n;

	if (e->notify_semid < 0)
		return false;
	n = semctl(e->notify_semid, 0, GETVAL);
	if (n <= 0)
		return false;
	/* Only what we saw: a post racing with us stays for next time. */
	op.sem_op = (short)-n;
	if (semop(e->notify_semid, &op, 1) != 0)
		return false;
	e->written++;
	return true;
}

bool lock_table_take_posts(struct lock_table *table, int shmid)
{
	struct lock_entry *e;
	bool posted = false;

	pthread_mutex_lock(&table->mutex);
	e = find_entry(table, shmid);
	if (e)
		posted = take_posts(e);
	pthread_mutex_unlock(&table->mutex);
	return posted;
}

void lock_table_take_all_posts(struct lock_table *table)
{
	pthread_mutex_lock(&table->mutex);
	for (size_t i = 0; i < table->nbuckets; i++)
		for (struct lock_entry *e = table->buckets[i]; e; e = e->next)
			take_posts(e);
	pthread_mutex_unlock(&table->mutex);
}
