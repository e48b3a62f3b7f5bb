/* fs.h - the FUSE low-level operations of shmfs. */
#ifndef SHMFS_FS_H
#define SHMFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <stdbool.h>

struct shmfs_options {
	unsigned int lock_timeout_ms;	/* bound on a wait for the segment lock */
	double attr_timeout;		/* seconds the kernel may cache attributes */
	double entry_timeout;		/* seconds the kernel may cache names */
	unsigned int sweep_interval_ms; /* how often sets of gone segments are removed */
	size_t default_size;		/* size of a segment created without a size */
	size_t max_pending;		/* most bytes gathered per user for names being created */
	double attach_cache;		/* seconds an attachment outlives its last close; 0: none */
};

#define SHMFS_DEFAULT_LOCK_TIMEOUT_MS 10000

struct shmfs;

struct shmfs *shmfs_new(const struct shmfs_options *opts);
void shmfs_free(struct shmfs *fs);

extern const struct fuse_lowlevel_ops shmfs_ll_ops;

#endif
