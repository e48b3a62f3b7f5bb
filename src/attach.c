/* attach.c - the bytes of an open segment, and the copies in and out. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "attach_int.h"
#include "guarded.h"

_Static_assert(ATTACH_MAX_COPY <= GUARDED_READ_BUFFER, "a copy fits the read buffer");

size_t attach_page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

int attach_fd_limit(long nofile, int reserve)
{
	if (nofile <= 0 || nofile >= INT_MAX)
		return INT_MAX;
	return nofile > 2 * reserve ? (int)nofile - reserve : (int)nofile / 2;
}

struct attach_table *attach_table_new(int fd_limit, double cache_seconds)
{
	struct attach_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_mutex_init(&t->mutex, NULL);
	t->fd_limit = fd_limit;
	t->cache_seconds = cache_seconds;
	t->mapped_by = budget_new((size_t)(MAP_USER_BUDGET >> 20));
	t->books_by = budget_new((size_t)MAP_BOOKS_USER_BUDGET);
	t->kept_by = budget_new(KEPT_FILES_PER_USER);
	if (!t->mapped_by || !t->books_by || !t->kept_by) {
		attach_table_free(t);
		return NULL;
	}
	return t;
}

/* Under kernel.shm_rmid_forced=1 a detach that leaves nattch at 0
 * destroys the segment: a reader must never do that, so such an
 * attachment is parked instead (returns 1).  -ENOMEM keeps it attached
 * (and lost) rather than destroy the segment. */
static int detach_safely(struct attach_table *t, int shmid, void *addr)
{
	struct segment_info seg;

	if (segment_rmid_forced() && segment_stat(shmid, false, &seg) == 0 &&
	    !(seg.mode & SEGMENT_MODE_DEST) && seg.nattch <= 1) {
		pthread_mutex_lock(&t->mutex);
		struct parked *p = array_grow(t->parked, t->nparked, &t->parked_cap, sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&t->mutex);
			return -ENOMEM;
		}
		t->parked = p;
		t->parked[t->nparked++] = (struct parked){ shmid, addr };
		pthread_mutex_unlock(&t->mutex);
		return 1;
	}
	return segment_detach(addr);
}

/* Returns whether the attachment had to be parked. */
static bool attach_free(struct attach_table *t, struct attach *a)
{
	bool parked = false;

	attach_rewrite_free(t, a);
	if (a->fd >= 0)
		close(a->fd);
	if (a->addr)
		parked = detach_safely(t, a->id.shmid, a->addr) == 1;
	free(a);
	return parked;
}

void attach_table_free(struct attach_table *t)
{
	if (!t)
		return;
	while (t->list) {
		struct attach *a = t->list;

		t->list = a->next;
		attach_free(t, a);
	}
	if (t->nparked)
		fprintf(stderr,
			"shmfs: %zu segment(s) kept attached under kernel.shm_rmid_forced=1 "
			"are detached at exit, which destroys them\n",
			t->nparked);
	for (size_t i = 0; i < t->nparked; i++)
		segment_detach(t->parked[i].addr);
	free(t->parked);
	budget_free(t->mapped_by);
	budget_free(t->books_by);
	budget_free(t->kept_by);
	pthread_mutex_destroy(&t->mutex);
	free(t);
}

/* The attach of the lifetime pin holds, if there is one: the same strong
 * identity, or (neither having one) the same shmid with an attachment
 * kept on both sides, which pins both to one segment. */
static struct attach *find_shared_locked(struct attach_table *t, const struct identity_pin *pin,
					 bool writable)
{
	for (struct attach *a = t->list; a; a = a->next) {
		if (writable && !a->writable)
			continue;
		if (identity_strong_same(&a->id, &pin->id))
			return a;
		if (!a->id.strong && !pin->id.strong && a->addr && a->id.shmid == pin->id.shmid)
			return a;
	}
	return NULL;
}

/* One more user of a; an idle one is idle no more. */
static void unidle_locked(struct attach_table *t, struct attach *a)
{
	t->nidle--;
	if (a->kept_charged)
		budget_give(t->kept_by, a->kept_uid);
	a->kept_charged = false;
}

static void hold_locked(struct attach_table *t, struct attach *a)
{
	if (a->users++ == 0) {
		unidle_locked(t, a);
		attach_reads_forget(a);
	}
}

static struct attach *share_locked(struct attach_table *t, const struct identity_pin *pin,
				   bool writable)
{
	struct attach *a = find_shared_locked(t, pin, writable);

	if (a)
		hold_locked(t, a);
	return a;
}

static void unlink_locked(struct attach_table *t, struct attach *a)
{
	for (struct attach **link = &t->list; *link; link = &(*link)->next) {
		if (*link == a) {
			*link = a->next;
			return;
		}
	}
}

/* An attach that keeps its lifetime's file and no attachment. */
static bool keeps_file(const struct attach *a)
{
	return a->fd >= 0 && a->id.strong && !a->addr;
}

/* How long a lets its last close: the attach_cache option's, and for
 * one that keeps a file, at least KEPT_FILE_SECONDS. */
static double idle_limit(const struct attach_table *t, const struct attach *a)
{
	return keeps_file(a) && t->cache_seconds < KEPT_FILE_SECONDS ? KEPT_FILE_SECONDS
								     : t->cache_seconds;
}

/* The pin that proved a's lifetime again lets it be proven by a look
 * from now on (while nothing else of its slot is attached). */
static void reproof_from(struct attach_table *t, struct attach *a, const struct identity_pin *pin)
{
	struct identity_reproof r;

	if (identity_reproof_after(pin, &r) != 0)
		return;
	pthread_mutex_lock(&t->mutex);
	a->reproof = r;
	pthread_mutex_unlock(&t->mutex);
}

int attach_reuse(struct attach_table *t, const struct segment_identity *expected, bool writable,
		 struct segment_info *held, struct attach **out)
{
	struct identity_reproof proof;
	struct attach *a;
	bool gone = false;

	if (!expected->strong)
		return -EAGAIN;
	pthread_mutex_lock(&t->mutex);
	for (a = t->list; a; a = a->next)
		if (keeps_file(a) && a->reproof.count && (a->writable || !writable) &&
		    identity_strong_same(&a->id, expected))
			break;
	if (a) {
		hold_locked(t, a);
		proof = a->reproof;
	}
	pthread_mutex_unlock(&t->mutex);
	if (!a)
		return -EAGAIN;
	if (identity_reprove(&a->id, &proof, held) == 0) {
		*out = a;
		return 0;
	}
	/* Not proven: removed, another lifetime, or only another attacher
	 * since.  A pin decides; this attach goes if nobody uses it. */
	pthread_mutex_lock(&t->mutex);
	if (--a->users == 0) {
		unlink_locked(t, a);
		gone = true;
	}
	pthread_mutex_unlock(&t->mutex);
	if (gone)
		attach_free(t, a);
	return -EAGAIN;
}

int attach_open(struct attach_table *t, const struct segment_identity *expected, bool writable,
		bool creating, struct segment_info *held, struct attach **out)
{
	/* Read-write whenever the daemon may, so that one attach serves a
	 * lifetime's readers and writers (a read-only open still cannot
	 * write: the kernel sends no writes for it, and refuses a shared
	 * writable mmap of it). */
	unsigned int flags = PIN_KEEP_FD | (writable ? PIN_WRITABLE : PIN_TRY_WRITE) |
			     (creating ? PIN_FRESH : 0);
	struct identity_pin pin;
	struct attach *a, *shared;
	int ret;

	if (!creating && attach_reuse(t, expected, writable, held, out) == 0)
		return 0;
	ret = identity_pin(expected, flags, &pin);
	if (ret)
		return ret;
	*held = pin.held;
	pthread_mutex_lock(&t->mutex);
	a = share_locked(t, &pin, writable);
	pthread_mutex_unlock(&t->mutex);
	if (a) {
		if (pin.fd >= 0)
			close(pin.fd);
		detach_safely(t, pin.held.shmid, pin.addr);
		reproof_from(t, a, &pin);
		*out = a;
		return 0;
	}

	a = calloc(1, sizeof(*a));
	if (!a) {
		identity_unpin(&pin);
		return -ENOMEM;
	}
	if (pin.fd >= t->fd_limit) {
		close(pin.fd);
		pin.fd = -1;
	}
	*a = (struct attach){
		.table = t,
		.id = pin.id,
		.writable = pin.writable,
		.size = pin.held.size,
		.addr = pin.addr,
		.fd = pin.fd,
		.hugetlb = pin.fd_err == -ENOTSUP,
		.users = 1,
	};
	if (a->fd >= 0 && a->writable) {
		a->nchunks = (a->size >> CHUNK_SHIFT) + 1;
		if (a->nchunks > MAP_CHUNKS_MAX)
			a->nchunks = MAP_CHUNKS_MAX;
	}
	/* With the file open and the lifetime proven by it, the attachment
	 * is not needed any more; a segment the daemon just made under
	 * shm_rmid_forced would die. */
	if (a->fd >= 0 && a->id.strong && !(creating && segment_rmid_forced())) {
		detach_safely(t, a->id.shmid, a->addr);
		a->addr = NULL;
		identity_reproof_after(&pin, &a->reproof);
	}
	assert(a->id.strong || a->addr);
	pthread_mutex_lock(&t->mutex);
	/* another open of the same lifetime may have come first */
	shared = share_locked(t, &pin, writable);
	if (!shared) {
		a->next = t->list;
		t->list = a;
	}
	pthread_mutex_unlock(&t->mutex);
	if (shared) {
		a->users = 0;
		attach_free(t, a);
		reproof_from(t, shared, &pin);
		a = shared;
	}
	*out = a;
	return 0;
}

int attach_detach(struct attach_table *t, int shmid, void *addr)
{
	return detach_safely(t, shmid, addr);
}

/* Whether a, closed by uid, may be kept idle: beyond the attach_cache
 * option's (whose time is the user's choice), a kept file takes one of
 * KEPT_FILES places, and one of uid's KEPT_FILES_PER_USER: no user keeps
 * the others' files from being kept by closing files of its own. */
static bool may_idle_locked(struct attach_table *t, struct attach *a, uid_t uid)
{
	if (idle_limit(t, a) <= 0)
		return false;
	if (t->cache_seconds >= KEPT_FILE_SECONDS)
		return true;
	if (t->nidle >= KEPT_FILES || !budget_take(t->kept_by, uid))
		return false;
	a->kept_uid = uid;
	a->kept_charged = true;
	return true;
}

enum attach_left attach_close(struct attach_table *t, struct attach *a)
{
	return attach_close_as(t, a, ATTACH_NO_UID);
}

enum attach_left attach_close_as(struct attach_table *t, struct attach *a, uid_t uid)
{
	enum attach_left left = ATTACH_IN_USE;

	pthread_mutex_lock(&t->mutex);
	if (--a->users == 0) {
		clock_gettime(CLOCK_MONOTONIC, &a->idle_since);
		if (!may_idle_locked(t, a, uid)) {
			unlink_locked(t, a);
			left = ATTACH_LET_GO;
		} else {
			t->nidle++;
			left = t->sweep_armed ? ATTACH_IDLE : ATTACH_IDLE_FIRST;
			t->sweep_armed = true;
		}
	}
	pthread_mutex_unlock(&t->mutex);
	if (left == ATTACH_LET_GO && attach_free(t, a))
		left = ATTACH_PARKED;
	return left;
}

uint64_t attach_size(const struct attach *a)
{
	return a->size;
}

int attach_fd(const struct attach *a)
{
	return a->fd;
}

const struct segment_identity *attach_identity(const struct attach *a)
{
	return &a->id;
}

/* ---- copies ------------------------------------------------------------- */

/* The mapping reads are replied from: the reply is then copied once, by
 * the kernel from the segment's pages, and the pread into a buffer is
 * one system call and one copy less per read (about a sixth of the
 * daemon's CPU per 4 KiB read).  Made only once READS_BEFORE_MAP reads of
 * the lifetime were copied: an open, a read and a close would otherwise
 * pay an mmap and a munmap.  Which of its bytes a read may take from it
 * is attach_map_for_read()'s (attach_write.c).  NULL: copy. */
#define READS_BEFORE_MAP 8

static const char *read_map(struct attach *a, uint64_t off, size_t size, uid_t uid)
{
	char *map = __atomic_load_n(&a->map, __ATOMIC_ACQUIRE);

	if (uid == ATTACH_NO_UID)
		return NULL;
	if (!map && __atomic_add_fetch(&a->small_reads, 1, __ATOMIC_RELAXED) > READS_BEFORE_MAP)
		map = attach_file_map(a, uid);
	return map ? attach_map_for_read(a, map, off, size, uid) : NULL;
}

int attach_read(struct attach *a, uint64_t off, size_t size, size_t splice_max, uid_t uid,
		struct attach_src *src)
{
	const char *from;
	char *buf;
	ssize_t n;

	memset(src, 0, sizeof(*src));
	src->fd = -1;
	if (off >= a->size || size == 0)
		return 0;
	if (size > a->size - off)
		size = a->size - off;
	if (a->fd < 0 && !a->hugetlb) {
		src->ptr = (const char *)a->addr + off;
		src->len = size;
		return 0;
	}
	if (a->fd < 0) {
		/* copied under the guard: libfuse's writev of a page that
		 * cannot come would leave the request unanswered */
		buf = guarded_read_buffer();
		if (!buf)
			return -ENOMEM;
		if (guarded_copy(buf, (const char *)a->addr + off, size) != 0)
			return -EFAULT;
		src->ptr = buf;
		src->len = size;
		return 0;
	}
	if (size >= 2 * attach_page_size() && size <= splice_max) {
		src->fd = a->fd;
		src->pos = (off_t)off;
		src->len = size;
		return 0;
	}
	from = read_map(a, off, size, uid);
	if (from) {
		src->ptr = from;
		src->len = size;
		return 0;
	}
	buf = size <= ATTACH_MAX_COPY ? guarded_read_buffer() : NULL;
	if (!buf)
		return -ENOMEM;
	n = pread(a->fd, buf, size, (off_t)off);
	if (n < 0)
		return -errno;
	src->ptr = buf;
	src->len = (size_t)n;
	return 0;
}

/* ---- letting go --------------------------------------------------------- */

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* An idle cached attach goes when its time is up or its segment is gone
 * (or its shmid is another segment's now: a weak look is enough to let
 * go; a new open proves its lifetime itself). */
static bool cached_expired(const struct attach_table *t, const struct attach *a)
{
	struct segment_identity now;
	struct segment_info seg;

	if (seconds_since(&a->idle_since) >= idle_limit(t, a) ||
	    segment_stat(a->id.shmid, false, &seg) != 0 || (seg.mode & SEGMENT_MODE_DEST))
		return true;
	identity_weak(&seg, &now);
	return !identity_same(&a->id, &now);
}

bool attach_sweep(struct attach_table *t)
{
	struct attach *gone = NULL;
	bool left;

	pthread_mutex_lock(&t->mutex);
	for (struct attach **link = &t->list; *link;) {
		struct attach *a = *link;

		if (a->users == 0 && cached_expired(t, a)) {
			unidle_locked(t, a);
			*link = a->next;
			a->next = gone;
			gone = a;
			continue;
		}
		link = &a->next;
	}
	for (size_t i = 0; i < t->nparked;) {
		struct segment_info seg;
		struct parked *p = &t->parked[i];

		if (segment_stat(p->shmid, false, &seg) != 0 || (seg.mode & SEGMENT_MODE_DEST) ||
		    seg.nattch > 1) {
			segment_detach(p->addr);
			*p = t->parked[--t->nparked];
			continue;
		}
		i++;
	}
	left = t->nparked > 0;
	left = left || t->nidle > 0;
	/* the next idle attach kicks the sweeps again (attach_close()) */
	t->sweep_armed = left;
	pthread_mutex_unlock(&t->mutex);
	while (gone) {
		struct attach *a = gone;

		gone = a->next;
		attach_free(t, a);
	}
	return left;
}
