/* shm_usage.c - the IPC namespace's shared-memory limits and use.
 *
 * IPC_INFO gives the namespace's kernel.shmall/shmmni/shmmax, SHM_INFO
 * what is in use; both read the namespace the calling thread is in, so
 * with -o ipcns= they describe the namespace served.  SHM_INFO walks
 * every segment in the kernel (for rss and swap): a cost paid per
 * statfs(2), not in the background.
 */
#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "shm_usage.h"

int shm_usage_read(struct shm_usage *out)
{
	struct shminfo limits;
	struct shm_info use;
	long page = sysconf(_SC_PAGESIZE);

	memset(out, 0, sizeof(*out));
	memset(&limits, 0, sizeof(limits));
	memset(&use, 0, sizeof(use));
	if (shmctl(0, IPC_INFO, (struct shmid_ds *)(void *)&limits) < 0)
		return -errno;
	if (shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&use) < 0)
		return -errno;
	out->page_size = page > 0 ? (uint64_t)page : 4096;
	out->pages_limit = limits.shmall;
	out->pages_used = use.shm_tot;
	out->pages_resident = use.shm_rss;
	out->pages_swapped = use.shm_swp;
	out->segments_limit = limits.shmmni;
	out->segments_used = use.used_ids > 0 ? (uint64_t)use.used_ids : 0;
	out->size_max = limits.shmmax;
	return 0;
}

void shm_usage_statvfs(const struct shm_usage *usage, struct statvfs *st)
{
	uint64_t page = usage->page_size ? usage->page_size : 1;
	uint64_t blocks = usage->pages_limit;

	memset(st, 0, sizeof(*st));
	if (blocks > UINT64_MAX / page)
		blocks = UINT64_MAX / page;
	st->f_bsize = st->f_frsize = page;
	st->f_blocks = blocks;
	st->f_bfree = st->f_bavail = usage->pages_used < blocks ? blocks - usage->pages_used : 0;
	st->f_files = usage->segments_limit;
	st->f_ffree = st->f_favail = usage->segments_used < usage->segments_limit
					     ? usage->segments_limit - usage->segments_used
					     : 0;
	st->f_namemax = 255;
}
