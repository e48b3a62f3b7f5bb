/* lock.c - the semaphore lock protocol shared with IPC::ShareLite, and
 * the table of the sets in use by open files.
 *
 * lock_acquire() (for tests and programs outside the daemon) cuts its wait
 * into short semtimedop() slices so that it can be abandoned; inside the
 * daemon only the parking module waits, with lock_acquire_timed(): one
 * semtimedop() with the real deadline, interrupted by a signal
 * (lockwait.c).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "lock.h"
#include "semun.h"
#include "share.h"

/* How often a wait looks at its abort callback. */
#define LOCK_SLICE_MS 10

/* The protocol's semaphores (semaphore 0, IPC::ShareLite's mark of a
 * share initialised, is lockset.c's). */
#define SEM_READERS 1
#define SEM_WRITER  2
#define LOCK_NSEMS  3

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
	struct timespec ts = clock_timespec(slice_ns);
	struct sembuf now[3];

	if (slice_ns > 0)
		return semtimedop(semid, ops, nops, &ts) == 0 ? 0 : -errno;

	for (size_t i = 0; i < nops; i++) {
		now[i] = ops[i];
		now[i].sem_flg |= IPC_NOWAIT;
	}
	return semop(semid, now, nops) == 0 ? 0 : -errno;
}

/* Set once the daemon serves requests: from then on only a thread of the
 * parking module (lockwait.c) may wait for a lock.  File-scope, not in
 * struct shmfs: a rule of the whole process, checked in lock_acquire(),
 * which tests and programs outside the daemon call with no shmfs at
 * hand; thread_may_block is each thread's own. */
static bool blocking_forbidden;
static __thread bool thread_may_block;

void lock_forbid_blocking(void)
{
	__atomic_store_n(&blocking_forbidden, true, __ATOMIC_RELAXED);
}

void lock_thread_may_block(void)
{
	thread_may_block = true;
}

bool lock_blocking_allowed(void)
{
	return thread_may_block || !__atomic_load_n(&blocking_forbidden, __ATOMIC_RELAXED);
}

int lock_acquire(int semid, enum lock_mode mode, unsigned int timeout_ms, lock_abort_fn abort,
		 void *arg)
{
	struct sembuf ops[3];
	size_t nops = lock_ops(mode, ops);
	uint64_t deadline = clock_deadline_ns(timeout_ms);

	/* No worker waits: the rule of the whole daemon, checked here. */
	assert(timeout_ms == 0 || lock_blocking_allowed());

	for (;;) {
		uint64_t now = clock_now_ns();
		uint64_t slice = deadline > now ? deadline - now : 0;
		int ret;

		if (slice > LOCK_SLICE_MS * CLOCK_NS_PER_MS)
			slice = LOCK_SLICE_MS * CLOCK_NS_PER_MS;
		ret = try_acquire(semid, ops, nops, slice);
		if (ret != -EAGAIN && ret != -EINTR)
			return ret;
		if (abort && abort(arg))
			return -EINTR;
		if (clock_now_ns() >= deadline)
			return -ETIMEDOUT;
	}
}

int lock_acquire_timed(int semid, enum lock_mode mode, struct timespec *timeout)
{
	struct sembuf ops[3];
	size_t nops = lock_ops(mode, ops);

	assert(lock_blocking_allowed());
	/* The kernel reads *timeout as the call begins (see lockwait.c). */
	if (semtimedop(semid, ops, nops, timeout) == 0)
		return 0;
	return -errno;
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

/* ---- the locks in use ---------------------------------------------------- */

/* One segment's lock, shared by every open file of that segment: the
 * ShareLite set of its key, or the private lock (privlock.h).  A
 * ShareLite set is remembered after the last close (holders 0), so that
 * after ipcrm, which clears the key, the files opened anew still find the
 * set the attached ShareLite programs go on using. */
struct lock_hold {
	struct lock_hold *next;
	int shmid;
	uint64_t generation; /* segment_generation(): a reused shmid is another segment */
	int32_t key;	     /* the key when the lock was chosen */
	/* The set chosen, as IPC_STAT showed it then: what never changes in
	 * a set's life (key, creator, size).  Checked before every semop on
	 * semid: its owner may remove it and the kernel give the number to
	 * another set at once (lockset_still()). */
	struct semid_ds chosen;
	/* A semid, LOCK_PRIVATE, or -1 once gone and not renewable.  Written
	 * under both the table's mutex and mutex; read under either, or
	 * atomically. */
	int semid;
	unsigned int holders; /* under the table's mutex */
	/* Guards priv, orphan and writes of semid.  A leaf (lockorder.h):
	 * taken alone, or under the table's mutex. */
	pthread_mutex_t mutex;
	struct privlock priv; /* under mutex; used while semid is LOCK_PRIVATE */
	/* Under mutex: its last file closed while a request still held the
	 * private lock (a reply goes out before the lock is let go, and the
	 * close may overtake it): out of the table, freed by the last give. */
	bool orphan;
};

/* ShareLite sets remembered with no file open, at most. */
#define REMEMBERED_MAX 4096

struct lock_table {
	/* Guards the list, the counts and each hold's holders; held across
	 * semget/semctl/IPC_STAT, which wait on no one.  Outer rank
	 * (lockorder.h): nothing of ours is held when it is taken; a hold's
	 * mutex is taken under it. */
	pthread_mutex_t mutex;
	struct lock_hold *holds;
	size_t count;	   /* holds with holders */
	size_t remembered; /* holds without */
};

struct lock_table *lock_table_new(void)
{
	struct lock_table *table = calloc(1, sizeof(*table));

	if (!table)
		return NULL;
	pthread_mutex_init(&table->mutex, NULL);
	return table;
}

static void free_hold(struct lock_hold *h)
{
	pthread_mutex_destroy(&h->mutex);
	free(h);
}

void lock_table_free(struct lock_table *table)
{
	if (!table)
		return;
	while (table->holds) {
		struct lock_hold *h = table->holds;

		table->holds = h->next;
		free_hold(h);
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

/* The choice of the header: the key's ShareLite set, or the private lock. */
static int choose_lock(const struct segment_info *seg, const void *head, size_t len)
{
	int semid = lock_sharelite_set(seg, head, len);

	return semid >= 0 ? semid : LOCK_PRIVATE;
}

/* Under h's mutex (or before h is shared). */
static void set_semid(struct lock_hold *h, int semid)
{
	if (semid >= 0 && !lockset_stat(semid, &h->chosen))
		h->chosen.sem_nsems = 0; /* gone already: never proven, EIDRM */
	__atomic_store_n(&h->semid, semid, __ATOMIC_RELEASE);
}

/* h's set is still the one chosen (under h's mutex: chosen is written
 * with semid). */
static bool hold_set_still(struct lock_hold *h, int semid)
{
	struct semid_ds chosen;

	pthread_mutex_lock(&h->mutex);
	chosen = h->chosen;
	pthread_mutex_unlock(&h->mutex);
	return lockset_still(semid, &chosen);
}

/* Leave the private lock for the key's ShareLite set, which a program
 * made since the choice: only while nobody holds or waits for the private
 * lock (checked under its mutex, which every take goes through), so no
 * request ever holds one while another holds the other. */
static void leave_private(struct lock_hold *h, const struct segment_info *seg, const void *head,
			  size_t len)
{
	int keyed = lock_sharelite_set(seg, head, len);

	if (keyed < 0)
		return;
	pthread_mutex_lock(&h->mutex);
	if (h->semid == LOCK_PRIVATE && privlock_idle(&h->priv))
		set_semid(h, keyed);
	pthread_mutex_unlock(&h->mutex);
}

/* A remembered set still guards seg: seg is the segment it was chosen
 * for (its key, or cleared by ipcrm), and the set still follows the
 * protocol. */
static bool remembered_applies(const struct lock_hold *h, const struct segment_info *seg)
{
	if (seg->key != h->key && !(seg->key == 0 && (seg->mode & SEGMENT_MODE_DEST)))
		return false;
	return h->semid >= 0 && share_set_lends(h->semid, seg);
}

static void unlink_locked(struct lock_table *table, struct lock_hold *gone)
{
	for (struct lock_hold **link = &table->holds; *link; link = &(*link)->next) {
		if (*link == gone) {
			*link = gone->next;
			break;
		}
	}
	table->remembered--;
}

/* Forget a hold none of whose files is open. */
static void forget_locked(struct lock_table *table, struct lock_hold *gone)
{
	unlink_locked(table, gone);
	free_hold(gone);
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

int lock_table_hold(struct lock_table *table, const struct segment_info *seg, const void *head,
		    size_t len, struct lock_hold **out)
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
		} else if (h->semid == LOCK_PRIVATE) {
			leave_private(h, seg, head, len);
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
	pthread_mutex_init(&h->mutex, NULL);
	privlock_init(&h->priv);
	set_semid(h, choose_lock(seg, head, len));
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

bool lock_hold_set_still(struct lock_hold *h)
{
	int semid = __atomic_load_n(&h->semid, __ATOMIC_ACQUIRE);

	return semid == LOCK_PRIVATE || (semid >= 0 && hold_set_still(h, semid));
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
	/* Gone: whoever removed it may make it anew for the key; else the
	 * private lock.  A segment gone too keeps the private lock for the
	 * files still open on it. */
	if (segment_stat(hold->shmid, false, &seg) != 0 ||
	    segment_generation(&seg) != hold->generation)
		seg = (struct segment_info){ .shmid = hold->shmid };
	/* Without the segment's bytes at hand only a set with the shmfs
	 * mark is taken here; a share's set made anew is found at the next
	 * open (leave_private()). */
	ret = choose_lock(&seg, NULL, 0);
	pthread_mutex_lock(&hold->mutex);
	set_semid(hold, ret);
	pthread_mutex_unlock(&hold->mutex);
out:
	pthread_mutex_unlock(&table->mutex);
	return ret;
}

void lock_table_release(struct lock_table *table, struct lock_hold *hold)
{
	pthread_mutex_lock(&table->mutex);
	if (--hold->holders == 0) {
		table->count--;
		/* A ShareLite set is remembered (see struct lock_hold); the
		 * private lock, with no file open, is nobody's. */
		if (hold->semid >= 0)
			make_room_locked(table, hold);
		table->remembered++;
		if (hold->semid < 0) {
			bool busy;

			/* Out of the table before the last give may free it. */
			pthread_mutex_lock(&hold->mutex);
			busy = !privlock_idle(&hold->priv);
			if (busy) {
				/* only holders, no waiters: files hold waiters' holds */
				assert(!hold->priv.head);
				unlink_locked(table, hold);
				hold->orphan = true;
			}
			pthread_mutex_unlock(&hold->mutex);
			if (!busy)
				forget_locked(table, hold);
		}
	}
	pthread_mutex_unlock(&table->mutex);
}

int lock_hold_take(struct lock_hold *h, enum lock_mode mode, pid_t pid, struct privlock_waiter *w,
		   struct lock_grant *g)
{
	bool exclusive = mode == LOCK_MODE_EXCLUSIVE;
	int semid, ret;

	pthread_mutex_lock(&h->mutex);
	semid = h->semid;
	/* Filled before w is queued: from then on a release in another
	 * thread may grant w, answer its request and free it, g with it. */
	*g = (struct lock_grant){ .hold = h, .semid = semid, .mode = mode };
	if (semid == LOCK_PRIVATE) {
		ret = privlock_take(&h->priv, exclusive, pid, w) ? 0 : w ? LOCK_QUEUED : -EAGAIN;
		pthread_mutex_unlock(&h->mutex);
	} else {
		pthread_mutex_unlock(&h->mutex);
		/* Tried, never waited for: the kernel says now. */
		ret = semid < 0 || !hold_set_still(h, semid)
			      ? -EIDRM
			      : lock_acquire(semid, mode, 0, NULL, NULL);
		if (ret == -ETIMEDOUT)
			ret = -EAGAIN;
	}
	return ret;
}

struct privlock_waiter *lock_hold_give(const struct lock_grant *g)
{
	struct privlock_waiter *granted;
	bool orphan_gone;

	if (g->semid != LOCK_PRIVATE) {
		/* a set gone took our SEM_UNDO +1 with it: nothing to undo */
		if (hold_set_still(g->hold, g->semid))
			lock_release(g->semid, g->mode);
		return NULL;
	}
	pthread_mutex_lock(&g->hold->mutex);
	granted = privlock_release(&g->hold->priv, g->mode == LOCK_MODE_EXCLUSIVE);
	orphan_gone = g->hold->orphan && privlock_idle(&g->hold->priv);
	pthread_mutex_unlock(&g->hold->mutex);
	if (orphan_gone)
		free_hold(g->hold);
	return granted;
}

bool lock_hold_cancel(struct lock_hold *h, struct privlock_waiter *w,
		      struct privlock_waiter **granted)
{
	bool was;

	pthread_mutex_lock(&h->mutex);
	was = privlock_cancel(&h->priv, w, granted);
	pthread_mutex_unlock(&h->mutex);
	return was;
}

int lock_table_current(struct lock_table *table, const struct segment_info *seg,
		       struct lock_state *priv, unsigned int *queued)
{
	struct lock_hold *h;
	int semid = -1;

	pthread_mutex_lock(&table->mutex);
	h = find_hold(table, seg->shmid, segment_generation(seg));
	if (h && (h->holders > 0 || remembered_applies(h, seg))) {
		pthread_mutex_lock(&h->mutex);
		semid = h->semid;
		if (semid == LOCK_PRIVATE && priv)
			privlock_state(&h->priv, priv);
		if (semid == LOCK_PRIVATE && queued)
			*queued = privlock_waiting(&h->priv);
		pthread_mutex_unlock(&h->mutex);
	}
	pthread_mutex_unlock(&table->mutex);
	if (semid == -1) {
		semid = lock_sharelite_set(seg, NULL, 0);
		if (semid < 0)
			semid = -1;
	}
	return semid;
}

void lock_table_count(struct lock_table *table, size_t *held, size_t *private_locks)
{
	size_t n = 0;

	pthread_mutex_lock(&table->mutex);
	for (struct lock_hold *h = table->holds; h; h = h->next)
		n += h->semid == LOCK_PRIVATE;
	*held = table->count;
	*private_locks = n;
	pthread_mutex_unlock(&table->mutex);
}
