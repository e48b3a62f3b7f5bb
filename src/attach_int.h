/* attach_int.h - what attach.c and attach_write.c share: an open
 * segment's bytes (attach.h) and the rewrite path's bookkeeping. */
#ifndef SHMFS_ATTACH_INT_H
#define SHMFS_ATTACH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "attach.h"
#include "budget.h"

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
 * mappings of all attaches together stay below MAP_BUDGET (past it,
 * writes are pwrite, only slower), so nobody can make another's open fail
 * with ENOMEM by mapping huge SHM_NORESERVE segments; and a mapping is
 * charged to the user whose write made it, each user at most
 * MAP_USER_BUDGET (in MiB), so that no one user spends what the others'
 * writes need (it takes four). */
#define MAP_BUDGET	(64ull << 30)
#define MAP_USER_BUDGET (16ull << 30)

/* The rewrite map's own bookkeeping (8 bytes per MiB of segment) is made
 * at the first write that could use it, covers at most the first
 * MAP_CHUNKS_MAX MiB of a segment, and all maps together stay below
 * MAP_BOOKS_BUDGET bytes: a user's huge SHM_NORESERVE segments cost the
 * daemon no memory for what is never written (beyond the map, or past
 * the budget, writes are pwrite: correct, only slower). */
#define MAP_CHUNKS_MAX	 16384 /* 16 GiB of segment: 128 KiB of map */
#define MAP_BOOKS_BUDGET (64ull << 20)
/* ... and each user's writes at most a quarter of it, as for mappings. */
#define MAP_BOOKS_USER_BUDGET (16ull << 20)

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
	uid_t map_uid;	  /* whose budget map is charged to (with map) */
	uid_t books_uid;  /* whose budget chunks is charged to (with chunks) */
	/* What reads through map may touch: per chunk, READ_* bits (see
	 * attach_map_for_read()); made at the first read from map, charged
	 * to that reader (read_uid) as chunks is; or NULL (atomic). */
	uint64_t *read_chunks;
	uid_t read_uid;
	size_t nchunks; /* with fd and writable: its length; else 0 */
	unsigned int users;
	struct timespec idle_since;
	unsigned int small_reads;	 /* reads before the mapping (atomic): see read_map() */
	struct identity_reproof reproof; /* with the file kept: proof by a look (count 0: none) */
	uid_t kept_uid;			 /* idle: whose place among KEPT_FILES_PER_USER it takes */
	bool kept_charged;		 /* ... if it takes one */
};

/* An attach that keeps its lifetime's file (no attachment) outlives its
 * last close by KEPT_FILE_SECONDS (or the attach_cache option's time, if
 * longer), at most KEPT_FILES of them: an open of the same lifetime soon
 * after is proven by one IPC_STAT (identity_reprove()) instead of an
 * attach, the open of the file, the reads of its identity and a detach
 * (open + 4 KiB read + close: 22.5 system calls of the daemon's, 11 of
 * them the proof).  Holding the file attaches nothing (nattch and lpid
 * do not see it); a removed segment's memory lives on until the next
 * sweep (a second). */
#define KEPT_FILE_SECONDS   2.0
#define KEPT_FILES	    64
#define KEPT_FILES_PER_USER 16 /* a quarter, as the other budgets */

struct parked {
	int shmid;
	void *addr;
};

struct attach_table {
	pthread_mutex_t mutex; /* bookkeeping, no waiting syscall under it; a leaf (lockorder.h) */
	struct attach *list;
	int fd_limit;
	double cache_seconds;
	unsigned int nidle; /* attaches with no user, kept */
	bool sweep_armed;   /* attach_sweep() is called until none is idle */
	/* Attachments kept after their close because a detach would have
	 * destroyed the segment (shm_rmid_forced); let go once someone else
	 * attaches or the segment is removed. */
	struct parked *parked;
	size_t nparked, parked_cap;
	uint64_t mapped;	  /* bytes of rewrite mappings (atomic): at most MAP_BUDGET */
	uint64_t books;		  /* bytes of rewrite maps (atomic): at most MAP_BOOKS_BUDGET */
	struct budget *mapped_by; /* MiB of rewrite mappings per user */
	struct budget *books_by;  /* bytes of rewrite maps per user */
	struct budget *kept_by;	  /* idle kept files per user (the one that closed them) */
};

/* attach.c */
size_t attach_page_size(void);

/* attach_write.c: let go of a's mapping and rewrite map, and of their
 * place in the budgets (a is being freed). */
void attach_rewrite_free(struct attach_table *t, struct attach *a);

/* attach_write.c: forget what the read marks say of the chunks' pages
 * (attach_map_for_read()): the next read of each chunk looks again.  Called
 * when a kept attach is opened again, so that a look lives no longer than
 * the files open on it without a break, as before files were kept (a
 * page punched out meanwhile is not brought back by a read). */
void attach_reads_forget(struct attach *a);

/* attach_write.c: where a read reply of [off, off + size) may come from
 * map (a's mapping of its file) without the read allocating anything in
 * the segment: map + off, or NULL (copy it with pread).  uid: the reader,
 * charged for the bookkeeping. */
const char *attach_map_for_read(struct attach *a, const char *map, uint64_t off, size_t size,
				uid_t uid);

/* The file mapped whole (address space only: pages come as they are
 * touched), for the rewrite path, for what pwrite cannot do, and for
 * small reads of a file read often; charged to uid (in all, MAP_BUDGET;
 * per user, t->mapped_by).  The mapping, or NULL (no budget, or mmap
 * failed: copy otherwise). */
char *attach_file_map(struct attach *a, uid_t uid);

#endif
