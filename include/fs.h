/* fs.h - the FUSE low-level operations of shmfs: the thin layer that turns
 * requests into calls of the modules and replies. */
#ifndef SHMFS_FS_H
#define SHMFS_FS_H

#include <fuse_lowlevel.h>

/* The session's userdata is the daemon's struct shmfs (daemon.h). */
extern const struct fuse_lowlevel_ops shmfs_ll_ops;

#endif
