/* attach_write.c - the copies into an open segment (attach.h): pwrite to
 * its file, or, for bytes written again and again, a copy into a
 * mapping of it; the mappings and their bookkeeping bounded in all and
 * per user.  And which bytes a read may take from that mapping without
 * changing the segment. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "attach_int.h"
#include "guarded.h"

/* A mapping of size bytes, in MiB as the per-user budget counts it. */
static size_t map_mib(uint64_t size)
{
	return (size_t)((size + (1u << 20) - 1) >> 20);
}

/* Take n from the shared total (at most max) and from uid's budget
 * (ATTACH_NO_UID: none); false, with nothing taken, past either. */
static bool charge(uint64_t *total, uint64_t max, struct budget *per_user, uid_t uid, uint64_t n,
		   size_t units)
{
	if (__atomic_add_fetch(total, n, __ATOMIC_RELAXED) > max) {
		__atomic_sub_fetch(total, n, __ATOMIC_RELAXED);
		return false;
	}
	if (uid != ATTACH_NO_UID && per_user && !budget_take_n(per_user, uid, units)) {
		__atomic_sub_fetch(total, n, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

static void uncharge(uint64_t *total, struct budget *per_user, uid_t uid, uint64_t n, size_t units)
{
	__atomic_sub_fetch(total, n, __ATOMIC_RELAXED);
	if (uid != ATTACH_NO_UID && per_user)
		budget_give_n(per_user, uid, units);
}

char *attach_file_map(struct attach *a, uid_t uid)
{
	struct attach_table *t = a->table;
	char *map = __atomic_load_n(&a->map, __ATOMIC_ACQUIRE);
	char *fresh, *none = NULL;

	if (map)
		return map;
	if (!charge(&t->mapped, MAP_BUDGET, t->mapped_by, uid, a->size, map_mib(a->size)))
		return NULL;
	fresh = mmap(NULL, a->size, PROT_READ | (a->writable ? PROT_WRITE : 0), MAP_SHARED, a->fd,
		     0);
	if (fresh == MAP_FAILED) {
		uncharge(&t->mapped, t->mapped_by, uid, a->size, map_mib(a->size));
		return NULL;
	}
	/* another user's bytes: never in a child of the daemon's (the lock
	 * helper runs as its caller) */
	madvise(fresh, a->size, MADV_DONTFORK);
	/* Two writers may race here: one mapping wins, the other goes.
	 * The winner's uid is written before its mapping is published. */
	pthread_mutex_lock(&t->mutex);
	if (a->map) {
		none = a->map;
	} else {
		a->map_uid = uid;
		__atomic_store_n(&a->map, fresh, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&t->mutex);
	if (none) {
		munmap(fresh, a->size);
		uncharge(&t->mapped, t->mapped_by, uid, a->size, map_mib(a->size));
		return none;
	}
	return fresh;
}

/* Whether a write of [off, off + size) should go through the mapping.
 * pwrite to the segment's file does the kernel's work per page; a memcpy
 * into mapped pages is about twice as fast, but mapping them first
 * (MADV_POPULATE_WRITE) costs about two pwrites, so it pays only from the
 * third pass over the same bytes.  So a big write over bytes written
 * twice before maps their chunks, and from then on writes to mapped
 * chunks are a copy into the mapping (copy_to_map()); one or two passes,
 * and small writes, never pay. */
/* The bookkeeping array *slot of n words (the rewrite map, the read
 * marks), made at its first use and charged to uid (recorded in *owner),
 * by one of two callers that may race; NULL: none (n is 0, or the
 * budget or the memory is out). */
static uint64_t *books_of(struct attach *a, uint64_t **slot, uid_t *owner, size_t n, uid_t uid)
{
	struct attach_table *t = a->table;
	uint64_t *words = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *none = NULL;
	size_t bytes = n * sizeof(*words);

	if (words || !n)
		return words;
	if (!charge(&t->books, MAP_BOOKS_BUDGET, t->books_by, uid, bytes, bytes))
		return NULL;
	words = calloc(n, sizeof(*words));
	if (!words) {
		uncharge(&t->books, t->books_by, uid, bytes, bytes);
		return NULL;
	}
	/* Two callers may race here: one array wins, the other goes. */
	pthread_mutex_lock(&t->mutex);
	if (*slot) {
		none = *slot;
	} else {
		*owner = uid;
		__atomic_store_n(slot, words, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&t->mutex);
	if (!none)
		return words;
	free(words);
	uncharge(&t->books, t->books_by, uid, bytes, bytes);
	return none;
}

/* a's rewrite map, made now if it is the first write (NULL: none),
 * charged to uid, the writer. */
static uint64_t *rewrite_map(struct attach *a, uid_t uid)
{
	return books_of(a, &a->chunks, &a->books_uid, a->nchunks, uid);
}

/* a's read bookkeeping: 4 bits per chunk, 16 chunks per word. */
#define READ_PER_WORD 16
#define READ_IN	      1ull /* every page of the chunk was in the file */
#define READ_MAPPED   2ull /* ... and mapped by MADV_POPULATE_READ */
#define READ_HOLES    4ull /* some page was not, at the last look */

static size_t read_words(const struct attach *a)
{
	size_t chunks = (size_t)((a->size + (1ull << CHUNK_SHIFT) - 1) >> CHUNK_SHIFT);

	if (chunks > MAP_CHUNKS_MAX)
		chunks = MAP_CHUNKS_MAX;
	return (chunks + READ_PER_WORD - 1) / READ_PER_WORD;
}

static uint64_t *read_books(struct attach *a, uid_t uid)
{
	return books_of(a, &a->read_chunks, &a->read_uid, read_words(a), uid);
}

/* Whether [from, to) of map (page-aligned) is in the file now: mincore()
 * of a file's mapping tells whether its pages are in the page cache,
 * whatever the mapping has touched.  A page swapped out counts as not in,
 * so it is read with pread (which brings it back, as before). */
static bool all_in(const char *map, uint64_t from, uint64_t to)
{
	unsigned char vec[(1u << CHUNK_SHIFT) / 4096];
	size_t page = attach_page_size(), n = (size_t)((to - from + page - 1) / page);

	if (n > sizeof(vec) || mincore((void *)(map + from), to - from, vec) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(vec[i] & 1))
			return false;
	return true;
}

/* Whether the part of [off, off + size) in the chunk [from, to) whose
 * bits are at shift in *w may be read from map (see below). */
static bool chunk_readable(const char *map, uint64_t *w, unsigned int shift, uint64_t from,
			   uint64_t to, uint64_t off, size_t size, bool big)
{
	uint64_t bits = __atomic_load_n(w, __ATOMIC_RELAXED) >> shift;
	uint64_t page = attach_page_size();

	if (!(bits & READ_IN) && (big || !(bits & READ_HOLES)) && all_in(map, from, to)) {
		__atomic_fetch_or(w, READ_IN << shift, __ATOMIC_RELAXED);
		__atomic_fetch_and(w, ~(READ_HOLES << shift), __ATOMIC_RELAXED);
		bits |= READ_IN;
	}
	if (!(bits & READ_IN)) {
		/* holes in the chunk: the read's own pages, looked at each time */
		__atomic_fetch_or(w, READ_HOLES << shift, __ATOMIC_RELAXED);
		return all_in(map, (off > from ? off : from) & ~(page - 1),
			      off + size < to ? off + size : to);
	}
	if (big && !(bits & READ_MAPPED) &&
	    madvise((void *)(map + from), to - from, MADV_POPULATE_READ) == 0)
		__atomic_fetch_or(w, READ_MAPPED << shift, __ATOMIC_RELAXED);
	return true;
}

/* A read fault of a MAP_SHARED mapping of shared memory allocates the
 * page (pread of a hole returns zeros and allocates nothing), so a read
 * replied from map must touch only pages the segment has: a reader
 * would otherwise fill a sparse (SHM_NORESERVE) segment, grow its rss
 * and charge its memory to the daemon.  So each 1 MiB chunk is looked at
 * (mincore) before its first read from map: all in, and it is read from
 * map from then on (for a read of two pages or more, its page tables
 * filled first, in one call: MADV_POPULATE_READ, the kernel's own walk,
 * cheaper than a fault per page); some out, and each read in it looks at
 * its own pages (a big one at the whole chunk again first).  A look
 * lasts while files stay open on the attach without a break (a kept
 * attach opened again looks again: attach_reads_forget()); a page punched
 * out (MADV_REMOVE by an attacher) after the look, while a file stays
 * open, would be brought back as zeros by such a read: the bytes it
 * reads as, in the segment's size. */
const char *attach_map_for_read(struct attach *a, const char *map, uint64_t off, size_t size,
				uid_t uid)
{
	uint64_t first = off >> CHUNK_SHIFT, last = (off + size - 1) >> CHUNK_SHIFT, *words;
	uint64_t page = attach_page_size();

	if (a->hugetlb || last >= read_words(a) * READ_PER_WORD || !(words = read_books(a, uid)))
		return NULL;
	for (uint64_t c = first; c <= last; c++) {
		uint64_t from = c << CHUNK_SHIFT, to = from + (1ull << CHUNK_SHIFT);

		if (to > a->size)
			to = (a->size + page - 1) & ~(page - 1);
		if (!chunk_readable(map, &words[c / READ_PER_WORD],
				    (unsigned int)(c % READ_PER_WORD) * 4, from, to, off, size,
				    size >= 2 * page))
			return NULL;
	}
	return map + off;
}

void attach_reads_forget(struct attach *a)
{
	uint64_t *words = __atomic_load_n(&a->read_chunks, __ATOMIC_ACQUIRE);
	uint64_t looks = 0;

	if (!words)
		return;
	for (unsigned int i = 0; i < READ_PER_WORD; i++)
		looks |= (READ_IN | READ_HOLES) << (4 * i);
	for (size_t i = 0; i < read_words(a); i++)
		__atomic_fetch_and(&words[i], ~looks, __ATOMIC_RELAXED);
}

void attach_rewrite_free(struct attach_table *t, struct attach *a)
{
	if (a->read_chunks)
		uncharge(&t->books, t->books_by, a->read_uid, read_words(a) * sizeof(uint64_t),
			 read_words(a) * sizeof(uint64_t));
	free(a->read_chunks);
	if (a->map) {
		munmap(a->map, a->size);
		uncharge(&t->mapped, t->mapped_by, a->map_uid, a->size, map_mib(a->size));
	}
	if (a->chunks)
		uncharge(&t->books, t->books_by, a->books_uid, a->nchunks * sizeof(*a->chunks),
			 a->nchunks * sizeof(*a->chunks));
	free(a->chunks);
}

static bool write_through_mapping(struct attach *a, uint64_t off, size_t size, uid_t uid)
{
	size_t first = off >> CHUNK_SHIFT, last = (off + size - 1) >> CHUNK_SHIFT;
	bool mapped = true, third = false;
	uint64_t *chunks;
	uintptr_t start, end;
	char *map;

	if (uid == ATTACH_NO_UID || last >= a->nchunks || !(chunks = rewrite_map(a, uid)))
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
	map = attach_file_map(a, uid);
	if (!map)
		return false;
	/* whole chunks, clipped to the segment's last page */
	start = (uintptr_t)map + (first << CHUNK_SHIFT);
	end = (uintptr_t)map + ((last + 1) << CHUNK_SHIFT);
	if (end > (uintptr_t)map + a->size)
		end = ((uintptr_t)map + a->size + attach_page_size() - 1) &
		      ~(uintptr_t)(attach_page_size() - 1);
	if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) != 0)
		return false;
	for (size_t c = first; c <= last; c++)
		__atomic_fetch_or(&chunks[c], CHUNK_MAPPED, __ATOMIC_RELAXED);
	return true;
}

/* Copy size bytes from buf to map + off.  The kernel's copy
 * (process_vm_writev into our own mapping: the pages pinned, copied
 * through the kernel's view of memory), not a memcpy: on a guest with
 * shadow page tables (this PVM machine) the first user access to each
 * page of a new mapping costs ~8 us even after MADV_POPULATE_WRITE, so
 * the pass that first wrote the mapped chunks ran at 0.4-0.5 GB/s (pwrite
 * 3 GB/s); the kernel's copy takes no such fault.  Bytes it did not
 * copy (it cannot fail on our own pages, but if it did) are memcpy'd. */
static void copy_to_map(char *map, uint64_t off, const char *buf, size_t size)
{
	struct iovec from = { .iov_base = (void *)buf, .iov_len = size };
	struct iovec to = { .iov_base = map + off, .iov_len = size };
	ssize_t n = process_vm_writev(getpid(), &from, 1, &to, 1, 0);

	if (n < 0)
		n = 0;
	if ((size_t)n < size)
		memcpy(map + off + n, buf + n, size - (size_t)n);
}

ssize_t attach_write(struct attach *a, const char *buf, size_t size, uint64_t off, uid_t uid)
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
	if (write_through_mapping(a, off, size, uid)) {
		copy_to_map(a->map, off, buf, size);
		return (ssize_t)size;
	}
	n = pwrite(a->fd, buf, size, (off_t)off);
	if (n == (ssize_t)size)
		return n;
	/* Short or refused (past the daemon's RLIMIT_FSIZE): the mapping
	 * knows no such limit. */
	map = attach_file_map(a, uid);
	if (!map)
		return n < 0 ? -errno : n;
	memcpy(map + off, buf, size);
	return (ssize_t)size;
}

int attach_zero(struct attach *a, uint64_t from, uid_t uid)
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
		ssize_t done = attach_write(a, zeros, n, off, uid);

		if (done <= 0)
			return done < 0 ? (int)done : -EIO;
		off += (uint64_t)done;
	}
	return 0;
}
