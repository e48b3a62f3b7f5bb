/* shm_usage.h - the IPC namespace's shared-memory limits and use, as the
 * kernel counts them (shmctl IPC_INFO and SHM_INFO), and the statfs(2)
 * figures the mount reports from them.
 *
 * Knows nothing of FUSE.
 */
#ifndef SHMFS_SHM_USAGE_H
#define SHMFS_SHM_USAGE_H

#include <stdint.h>
#include <sys/statvfs.h>

struct shm_usage {
	uint64_t page_size;	 /* bytes */
	uint64_t pages_limit;	 /* kernel.shmall: most pages all segments may have */
	uint64_t pages_used;	 /* shm_tot: the pages of every segment's size */
	uint64_t pages_resident; /* shm_rss */
	uint64_t pages_swapped;	 /* shm_swp */
	uint64_t segments_limit; /* kernel.shmmni (as IPC_INFO caps it) */
	uint64_t segments_used;	 /* used_ids */
	uint64_t size_max;	 /* kernel.shmmax: largest one segment */
};

/* shmctl(IPC_INFO) and shmctl(SHM_INFO) of the calling thread's IPC
 * namespace.  0 or -errno. */
int shm_usage_read(struct shm_usage *out);

/* What df shows: blocks of page_size, the total kernel.shmall, used the
 * pages of all segments (so available is how many more pages of segments
 * the kernel allows; 0, never negative, if the limit was lowered below
 * the use), files kernel.shmmni and free the segments that may still be
 * created.  A total whose bytes would not fit in 64 bits (the default
 * kernel.shmall is about 2^64 pages) is cut to the largest that does, so
 * df's byte arithmetic never overflows.  Pure. */
void shm_usage_statvfs(const struct shm_usage *usage, struct statvfs *st);

#endif
