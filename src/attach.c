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
#include "attach.h"
#include "guarded.h"

_Static_assert(ATTACH_MAX_COPY <= GUARDED_READ_BUFFER, "a copy fits the read buffer");

/* The rewrite map: per 1 MiB chunk of the segment, a bit per 64 KiB part
 * written once, a bit per part written twice, and whether the chunk's
 * pages are mapped (see write_through_mapping()). */
#define CHUNK_SHIFT	 20
#define PART_SHIFT	 16
#define PARTS_PER_CHUNK	 (1u << (CHUNK_SHIFT - PART_SHIFT))
#define PART_MASK	 (PARTS_PER_CHUNK - 1)
#define TWICE_SHIFT	 PARTS_PER_CHUNK /* the written-twice bits sit above the once bits */
#define CHUNK_MAPPED	 (1ull << (2 * PARTS_PER_CHUNK))
#define SMALLEST_MAPPING (1u << PART_SHIFT) /* writes below this never map */
_Static_assert(2 * PARTS_PER_CHUNK + 1 <= 64, "a chunk's once, twice and mapped bits fit in 64");

/* The daemon's address space is shared by every user: the rewrite
 * mappings of all attaches together stay below this (past it, writes
 * are pwrite, only slower), so nobody can make another's open fail with
 * ENOMEM by mapping huge SHM_NORESERVE segments. */
#define MAP_BUDGET (64ull << 30)

/* The rewrite map's own bookkeeping (8 bytes per MiB of segment) is made
 * at the first write that could use it, covers at most the first
 * MAP_CHUNKS_MAX MiB of a segment, and all maps together stay below
 * MAP_BOOKS_BUDGET bytes: a user's huge SHM_NORESERVE segments cost the
 * daemon no memory for what is never written (beyond the map, or past
 * the budget, writes are pwrite: correct, only slower). */
#define MAP_CHUNKS_MAX	 16384 /* 16 GiB of segment: 128 KiB of map */
#define MAP_BOOKS_BUDGET (64ull << 20)

/* One segment lifetime's bytes, shared by all its open files: found by
 * its strong identity, never by its shmid (which a later segment may
 * have).  An attach without a strong identity keeps its attachment, so
 * that its shmid cannot name another segment while it lives. */
struct attach {
	struct attach *next;
	struct attach_table *table;
	struct segment_identity id;
	bool writable;
	uint64_t size;
	void *addr;	  /* the attachment, where it is kept; else NULL */
	int fd;		  /* the segment's file, or -1 */
	bool hugetlb;	  /* SHM_HUGETLB: its pages may fail to come (SIGBUS) */
	char *map;	  /* MAP_SHARED of fd, made at the first rewrite; or NULL */
	uint64_t *chunks; /* the rewrite map, made at the first write; or NULL (atomic) */
	size_t nchunks;	  /* with fd and writable: its length; else 0 */
	unsigned int users;
	struct timespec idle_since;
};

struct parked {
	int shmid;
	void *addr;
};

struct attach_table {
	pthread_mutex_t mutex; /* bookkeeping, no waiting syscall under it; a leaf (lockorder.h) */
	struct attach *list;
	int fd_limit;
	double cache_seconds;
	/* Attachments kept after their close because a detach would have
	 * destroyed the segment (shm_rmid_forced); let go once someone else
	 * attaches or the segment is removed. */
	struct parked *parked;
	size_t nparked, parked_cap;
	uint64_t mapped; /* bytes of rewrite mappings (atomic): at most MAP_BUDGET */
	uint64_t books;	 /* bytes of rewrite maps (atomic): at most MAP_BOOKS_BUDGET */
};

static size_t page_size(void)
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

	if (a->map) {
		munmap(a->map, a->size);
		__atomic_sub_fetch(&t->mapped, a->size, __ATOMIC_RELAXED);
	}
	if (a->fd >= 0)
		close(a->fd);
	if (a->chunks)
		__atomic_sub_fetch(&t->books, a->nchunks * sizeof(*a->chunks), __ATOMIC_RELAXED);
	free(a->chunks);
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

static struct attach *share_locked(struct attach_table *t, const struct identity_pin *pin,
				   bool writable)
{
	struct attach *a = find_shared_locked(t, pin, writable);

	if (a)
		a->users++;
	return a;
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
		a = shared;
	}
	*out = a;
	return 0;
}

int attach_detach(struct attach_table *t, int shmid, void *addr)
{
	return detach_safely(t, shmid, addr);
}

bool attach_close(struct attach_table *t, struct attach *a)
{
	bool gone = false;

	pthread_mutex_lock(&t->mutex);
	if (--a->users == 0) {
		clock_gettime(CLOCK_MONOTONIC, &a->idle_since);
		if (t->cache_seconds <= 0) {
			for (struct attach **link = &t->list; *link; link = &(*link)->next) {
				if (*link == a) {
					*link = a->next;
					break;
				}
			}
			gone = true;
		}
	}
	pthread_mutex_unlock(&t->mutex);
	return gone && attach_free(t, a);
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

/* The file mapped whole (address space only: pages come as they are
 * touched), for the rewrite path and for what pwrite cannot do. */
static char *file_map(struct attach *a)
{
	char *map = __atomic_load_n(&a->map, __ATOMIC_ACQUIRE);
	char *fresh, *none = NULL;

	if (map)
		return map;
	if (__atomic_add_fetch(&a->table->mapped, a->size, __ATOMIC_RELAXED) > MAP_BUDGET) {
		__atomic_sub_fetch(&a->table->mapped, a->size, __ATOMIC_RELAXED);
		return NULL;
	}
	fresh = mmap(NULL, a->size, PROT_READ | (a->writable ? PROT_WRITE : 0), MAP_SHARED, a->fd,
		     0);
	if (fresh == MAP_FAILED) {
		__atomic_sub_fetch(&a->table->mapped, a->size, __ATOMIC_RELAXED);
		return NULL;
	}
	/* Two writers may race here: one mapping wins, the other goes. */
	if (!__atomic_compare_exchange_n(&a->map, &none, fresh, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		munmap(fresh, a->size);
		__atomic_sub_fetch(&a->table->mapped, a->size, __ATOMIC_RELAXED);
		return none;
	}
	return fresh;
}

int attach_read(struct attach *a, uint64_t off, size_t size, size_t splice_max,
		struct attach_src *src)
{
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
	if (size >= 2 * page_size() && size <= splice_max) {
		src->fd = a->fd;
		src->pos = (off_t)off;
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

/* Whether a write of [off, off + size) should go through the mapping.
 * pwrite to the segment's file does the kernel's work per page; a memcpy
 * into mapped pages is about twice as fast, but mapping them first
 * (MADV_POPULATE_WRITE) costs about two pwrites, so it pays only from the
 * third pass over the same bytes.  So a big write over bytes written
 * twice before maps their chunks, and from then on writes to mapped
 * chunks are a memcpy; one or two passes, and small writes, never pay. */
/* a's rewrite map, made now if it is the first write (NULL: none). */
static uint64_t *rewrite_map(struct attach *a)
{
	uint64_t *chunks = __atomic_load_n(&a->chunks, __ATOMIC_ACQUIRE), *none = NULL;
	size_t bytes = a->nchunks * sizeof(*chunks);

	if (chunks || !a->nchunks)
		return chunks;
	if (__atomic_add_fetch(&a->table->books, bytes, __ATOMIC_RELAXED) > MAP_BOOKS_BUDGET)
		goto undo;
	chunks = calloc(a->nchunks, sizeof(*chunks));
	if (!chunks)
		goto undo;
	/* Two writers may race here: one map wins, the other goes. */
	if (__atomic_compare_exchange_n(&a->chunks, &none, chunks, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return chunks;
	free(chunks);
	__atomic_sub_fetch(&a->table->books, bytes, __ATOMIC_RELAXED);
	return none;
undo:
	__atomic_sub_fetch(&a->table->books, bytes, __ATOMIC_RELAXED);
	return NULL;
}

static bool write_through_mapping(struct attach *a, uint64_t off, size_t size)
{
	size_t first = off >> CHUNK_SHIFT, last = (off + size - 1) >> CHUNK_SHIFT;
	bool mapped = true, third = false;
	uint64_t *chunks;
	uintptr_t start, end;
	char *map;

	if (last >= a->nchunks || !(chunks = rewrite_map(a)))
		return false;
	for (size_t c = first; c <= last; c++) {
		/* the parts of chunk c that the write covers */
		size_t from = c == first ? (off >> PART_SHIFT) & PART_MASK : 0;
		size_t to = c == last ? ((off + size - 1) >> PART_SHIFT) & PART_MASK : PART_MASK;
		uint64_t parts = (2ull << to) - (1ull << from);
		uint64_t was = __atomic_fetch_or(&chunks[c], parts, __ATOMIC_RELAXED);

		if (was & parts)
			__atomic_fetch_or(&chunks[c], parts << TWICE_SHIFT, __ATOMIC_RELAXED);
		mapped &= (was & CHUNK_MAPPED) != 0;
		third |= (was & (parts << TWICE_SHIFT)) != 0;
	}
	if (mapped)
		return true;
	if (!third || size < SMALLEST_MAPPING)
		return false;
	map = file_map(a);
	if (!map)
		return false;
	/* whole chunks, clipped to the segment's last page */
	start = (uintptr_t)map + (first << CHUNK_SHIFT);
	end = (uintptr_t)map + ((last + 1) << CHUNK_SHIFT);
	if (end > (uintptr_t)map + a->size)
		end = ((uintptr_t)map + a->size + page_size() - 1) & ~(uintptr_t)(page_size() - 1);
	if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) != 0)
		return false;
	for (size_t c = first; c <= last; c++)
		__atomic_fetch_or(&chunks[c], CHUNK_MAPPED, __ATOMIC_RELAXED);
	return true;
}

ssize_t attach_write(struct attach *a, const char *buf, size_t size, uint64_t off)
{
	char *map;
	ssize_t n;

	if (size == 0)
		return 0;
	if (off >= a->size)
		return -ENOSPC;
	if (size > a->size - off)
		size = a->size - off;
	if (a->fd < 0) {
		if (a->hugetlb && guarded_copy((char *)a->addr + off, buf, size) != 0)
			return -EFAULT;
		if (!a->hugetlb)
			memcpy((char *)a->addr + off, buf, size);
		return (ssize_t)size;
	}
	if (write_through_mapping(a, off, size)) {
		memcpy(a->map + off, buf, size);
		return (ssize_t)size;
	}
	n = pwrite(a->fd, buf, size, (off_t)off);
	if (n == (ssize_t)size)
		return n;
	/* Short or refused (past the daemon's RLIMIT_FSIZE): the mapping
	 * knows no such limit. */
	map = file_map(a);
	if (!map)
		return n < 0 ? -errno : n;
	memcpy(map + off, buf, size);
	return (ssize_t)size;
}

int attach_zero(struct attach *a, uint64_t from)
{
	static const char zeros[64 * 1024];

	if (from >= a->size)
		return 0;
	if (a->fd < 0 && a->hugetlb)
		return guarded_zero((char *)a->addr + from, a->size - from);
	if (a->fd < 0) {
		memset((char *)a->addr + from, 0, a->size - from);
		return 0;
	}
	for (uint64_t off = from; off < a->size;) {
		size_t n = a->size - off < sizeof(zeros) ? a->size - off : sizeof(zeros);
		ssize_t done = attach_write(a, zeros, n, off);

		if (done <= 0)
			return done < 0 ? (int)done : -EIO;
		off += (uint64_t)done;
	}
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
 * (or is another one now). */
/* An idle cached attach goes when its time is up or its segment is gone
 * (or its shmid is another segment's now: a weak look is enough to let
 * go; a new open proves its lifetime itself). */
static bool cached_expired(const struct attach_table *t, const struct attach *a)
{
	struct segment_identity now;
	struct segment_info seg;

	if (seconds_since(&a->idle_since) >= t->cache_seconds ||
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
	for (struct attach *a = t->list; a && !left; a = a->next)
		left = a->users == 0;
	pthread_mutex_unlock(&t->mutex);
	while (gone) {
		struct attach *a = gone;

		gone = a->next;
		attach_free(t, a);
	}
	return left;
}
