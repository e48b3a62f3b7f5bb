/* lock.c - the semaphore lock protocol shared with IPC::ShareLite, and
 * the table of the sets in use by open files.
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
#include <sys/stat.h>
#include <time.h>

#include "budget.h"
#include "lock.h"

/* How often a wait looks at its abort callback. */
#define LOCK_SLICE_MS 10

#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC  1000000000ull

/* The protocol's semaphores; semaphore 0 belongs to IPC::ShareLite, which
 * uses it to mark a share as initialised. */
#define SEM_MARK    0
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

/* ---- which set guards a segment ---------------------------------------- */

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

/* Whether the existing set semid follows the ShareLite protocol, for seg. */
static bool follows_protocol(int semid, const struct segment_info *seg)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	int readers, writer;

	if (semctl(semid, 0, IPC_STAT, arg) != 0 || ds.sem_nsems != LOCK_NSEMS)
		return false;
	/* A set someone else planted for the key must not become the lock of
	 * this segment: its maker could hold it and stall every reader. */
	if (ds.sem_perm.cuid != 0 && ds.sem_perm.cuid != seg->uid && ds.sem_perm.cuid != seg->cuid)
		return false;
	if (ds.sem_perm.uid != 0 && ds.sem_perm.uid != seg->uid && ds.sem_perm.uid != seg->cuid)
		return false;
	if (semctl(semid, SEM_MARK, GETVAL) != 1)
		return false;
	/* One writer at most, and never readers and a writer at once: the
	 * protocol's semops cannot get there (three free mutexes, 1 1 1,
	 * can). */
	readers = semctl(semid, SEM_READERS, GETVAL);
	writer = semctl(semid, SEM_WRITER, GETVAL);
	return readers >= 0 && writer >= 0 && writer <= 1 && !(readers > 0 && writer > 0);
}

int lock_sharelite_set(const struct segment_info *seg)
{
	int semid;

	if (seg->key == 0 || (seg->mode & SEGMENT_MODE_DEST))
		return -ENOENT;
	/* Asking for no permission needs none, and creates nothing. */
	semid = semget(seg->key, 0, 0);
	if (semid < 0 || !follows_protocol(semid, seg))
		return -ENOENT;
	return semid;
}

int lock_create_sharelite(int32_t key, unsigned int mode)
{
	int semid = semget(key, LOCK_NSEMS, IPC_CREAT | IPC_EXCL | (mode & 0777));

	return semid < 0 ? -errno : semid;
}

int lock_mark_initialised(int semid)
{
	union semun arg = { .val = 1 };

	return semctl(semid, SEM_MARK, SETVAL, arg) == 0 ? 0 : -errno;
}

/* ---- the sets in use ---------------------------------------------------- */

/* One segment's set, shared by every open file of that segment.  A
 * ShareLite set is remembered after the last close (holders 0), so that
 * after ipcrm, which clears the key, the files opened anew still find the
 * set the attached ShareLite programs go on using. */
struct lock_hold {
	struct lock_hold *next;
	int shmid;
	uint64_t generation; /* segment_generation(): a reused shmid is another segment */
	int32_t key;	     /* the key when the set was chosen */
	int semid;	     /* -1 once gone and not renewable */
	bool owned;	     /* a private set: ours to remove */
	bool charged;	     /* owned and counted in charged_to's budget */
	uid_t charged_to;
	unsigned int holders;
};

/* ShareLite sets remembered with no file open, at most. */
#define REMEMBERED_MAX 4096

struct lock_table {
	pthread_mutex_t mutex;
	struct lock_hold *holds;
	size_t count;	   /* holds with holders */
	size_t remembered; /* holds without */
	struct budget *sets;
};

struct lock_table *lock_table_new(struct budget *sets)
{
	struct lock_table *table = calloc(1, sizeof(*table));

	if (!table)
		return NULL;
	table->sets = sets;
	pthread_mutex_init(&table->mutex, NULL);
	return table;
}

static void drop_set(struct lock_table *table, struct lock_hold *h)
{
	if (h->owned && h->semid >= 0)
		semctl(h->semid, 0, IPC_RMID);
	if (h->charged && table->sets)
		budget_give(table->sets, h->charged_to);
	h->semid = -1;
	h->owned = false;
	h->charged = false;
}

void lock_table_free(struct lock_table *table)
{
	if (!table)
		return;
	table->sets = NULL; /* the budgets may be gone: nothing to give back */
	while (table->holds) {
		struct lock_hold *h = table->holds;

		table->holds = h->next;
		drop_set(table, h);
		free(h);
	}
	pthread_mutex_destroy(&table->mutex);
	free(table);
}

static struct lock_hold *find_hold(struct lock_table *table, int shmid, uint64_t generation)
{
	for (struct lock_hold *h = table->holds; h; h = h->next)
		if (h->shmid == shmid && h->generation == generation)
			return h;
	return NULL;
}

/* The choice of the header for h: the key's ShareLite set, or a new
 * private set only the daemon may use, charged to uid's budget.  The
 * semid or -errno; h's owned and charged are set. */
static int choose_set(struct lock_table *table, struct lock_hold *h, const struct segment_info *seg,
		      uid_t uid)
{
	int semid = lock_sharelite_set(seg);

	h->owned = h->charged = false;
	if (semid >= 0)
		return semid;
	/* Sets are a machine-wide resource (SEMMNI): no user may take them
	 * all through us. */
	if (table->sets && !budget_take(table->sets, uid))
		return -ENOSPC;
	semid = semget(IPC_PRIVATE, LOCK_NSEMS, IPC_CREAT | S_IRUSR | S_IWUSR);
	if (semid < 0) {
		semid = -errno;
		if (table->sets)
			budget_give(table->sets, uid);
		return semid;
	}
	h->owned = true;
	h->charged = table->sets != NULL;
	h->charged_to = uid;
	return semid;
}

/* Leave our private set for the key's ShareLite set, which a program
 * made since the choice: safe only while nobody holds or waits for the
 * private set, which we make sure of by taking it ourselves (nobody else
 * can): requests that still try it then find it gone and choose again
 * (lock_hold_renew()), and get the new set. */
static void leave_private(struct lock_table *table, struct lock_hold *h,
			  const struct segment_info *seg)
{
	int keyed = lock_sharelite_set(seg);
	int old = h->semid;

	if (keyed < 0 || lock_acquire(old, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL) != 0)
		return;
	__atomic_store_n(&h->semid, keyed, __ATOMIC_RELEASE);
	h->owned = false;
	semctl(old, 0, IPC_RMID);
	if (h->charged && table->sets)
		budget_give(table->sets, h->charged_to);
	h->charged = false;
}

/* A remembered set still guards seg: seg is the segment it was chosen
 * for (its key, or cleared by ipcrm), and the set still follows the
 * protocol. */
static bool remembered_applies(const struct lock_hold *h, const struct segment_info *seg)
{
	if (seg->key != h->key && !(seg->key == 0 && (seg->mode & SEGMENT_MODE_DEST)))
		return false;
	return follows_protocol(h->semid, seg);
}

/* Forget a remembered hold (none of whose files is open). */
static void forget_locked(struct lock_table *table, struct lock_hold *gone)
{
	for (struct lock_hold **link = &table->holds; *link; link = &(*link)->next) {
		if (*link == gone) {
			*link = gone->next;
			break;
		}
	}
	table->remembered--;
	free(gone);
}

/* Remember one more (keep): past the bound, forget one whose segment is
 * gone, or else the oldest (the list's last). */
static void make_room_locked(struct lock_table *table, const struct lock_hold *keep)
{
	struct lock_hold *oldest = NULL;

	if (table->remembered < REMEMBERED_MAX)
		return;
	for (struct lock_hold *h = table->holds; h; h = h->next) {
		struct segment_info now;

		if (h->holders || h == keep)
			continue;
		if (segment_stat(h->shmid, false, &now) != 0 ||
		    segment_generation(&now) != h->generation) {
			forget_locked(table, h);
			return;
		}
		oldest = h;
	}
	if (oldest)
		forget_locked(table, oldest);
}

int lock_table_hold(struct lock_table *table, const struct segment_info *seg, uid_t uid,
		    struct lock_hold **out)
{
	uint64_t generation = segment_generation(seg);
	struct lock_hold *h;
	int ret = 0;

	pthread_mutex_lock(&table->mutex);
	h = find_hold(table, seg->shmid, generation);
	if (h && h->holders == 0 && !remembered_applies(h, seg)) {
		/* remembered, but the set went (or changed), or the shmid is
		 * another segment's now: choose anew */
		forget_locked(table, h);
		h = NULL;
	}
	if (h) {
		if (h->holders == 0) {
			table->remembered--;
			table->count++;
		} else if (h->owned) {
			leave_private(table, h, seg);
		}
		h->holders++;
		goto out;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		ret = -ENOMEM;
		goto out;
	}
	/* semget and semctl never wait on anyone: fine under the mutex. */
	h->charged_to = uid;
	h->semid = choose_set(table, h, seg, uid);
	if (h->semid < 0) {
		ret = h->semid;
		free(h);
		h = NULL;
		goto out;
	}
	h->shmid = seg->shmid;
	h->generation = generation;
	h->key = seg->key;
	h->holders = 1;
	h->next = table->holds;
	table->holds = h;
	table->count++;
out:
	pthread_mutex_unlock(&table->mutex);
	*out = h;
	return ret;
}

int lock_hold_semid(struct lock_hold *hold)
{
	return __atomic_load_n(&hold->semid, __ATOMIC_ACQUIRE);
}

int lock_hold_renew(struct lock_table *table, struct lock_hold *hold, int semid)
{
	struct segment_info seg;
	int ret;

	pthread_mutex_lock(&table->mutex);
	if (hold->semid != semid) {
		ret = hold->semid; /* another file of the segment renewed it */
		goto out;
	}
	/* Gone: whoever removed it may make it anew for the key; else a
	 * private one.  A segment gone too keeps a private set for the files
	 * still open on it. */
	if (segment_stat(hold->shmid, false, &seg) != 0 ||
	    segment_generation(&seg) != hold->generation)
		seg = (struct segment_info){ .shmid = hold->shmid };
	if (hold->charged && table->sets)
		budget_give(table->sets, hold->charged_to);
	ret = choose_set(table, hold, &seg, hold->charged_to);
	__atomic_store_n(&hold->semid, ret < 0 ? -1 : ret, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&table->mutex);
	return ret;
}

void lock_table_release(struct lock_table *table, struct lock_hold *hold)
{
	pthread_mutex_lock(&table->mutex);
	if (--hold->holders == 0) {
		table->count--;
		if (!hold->owned && hold->semid >= 0) {
			/* a ShareLite set: remembered (see struct lock_hold) */
			make_room_locked(table, hold);
			table->remembered++;
		} else {
			table->remembered++;
			drop_set(table, hold);
			forget_locked(table, hold);
		}
	}
	pthread_mutex_unlock(&table->mutex);
}

int lock_table_current(struct lock_table *table, const struct segment_info *seg)
{
	struct lock_hold *h;
	int semid = -1;

	pthread_mutex_lock(&table->mutex);
	h = find_hold(table, seg->shmid, segment_generation(seg));
	if (h && (h->holders > 0 || remembered_applies(h, seg)))
		semid = h->semid;
	pthread_mutex_unlock(&table->mutex);
	if (semid < 0) {
		semid = lock_sharelite_set(seg);
		if (semid < 0)
			semid = -1;
	}
	return semid;
}

void lock_table_count(struct lock_table *table, size_t *held, size_t *private_sets)
{
	size_t n = 0;

	pthread_mutex_lock(&table->mutex);
	for (struct lock_hold *h = table->holds; h; h = h->next)
		n += h->owned;
	*held = table->count;
	*private_sets = n;
	pthread_mutex_unlock(&table->mutex);
}
