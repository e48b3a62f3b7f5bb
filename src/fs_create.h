/* fs_create.h - names being created in by-key/, in the FUSE layer (the
 * kind NAME_PENDING: fs_pending_ops in fs_kind.h). */
#ifndef SHMFS_FS_CREATE_H
#define SHMFS_FS_CREATE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "daemon.h"
#include "node.h"
#include "pending.h"

/* The table of names being created (fs->pending), made before the
 * session starts: 0 or -ENOMEM. */
int fs_pending_init(struct shmfs *fs);
/* Names still being created when the session ends. */
void fs_pending_free_all(struct shmfs *fs);

/* ret, an answer of pending.c's about p: for PENDING_MAKE, the segment
 * made as *mk says (fs_make.c) and the outcome reported to pending.c
 * (pending_made()): 0 or -errno; any other answer as it is. */
int fs_make_asked(struct shmfs *fs, struct pending *p, int ret, const struct pending_make *mk);

/* by-key/'s create: a name of the caller's own for the key. */
void fs_pending_create(fuse_req_t req, const struct node *dir, const char *name, mode_t mode,
		       struct fuse_file_info *fi);
/* A lookup in by-key/ of a key no segment has: the caller's own name
 * being created, or ENOENT. */
void fs_reply_pending_entry(fuse_req_t req, int32_t key);

#endif
