/* fs_create.h - names being created in by-key/, in the FUSE layer. */
#ifndef SHMFS_FS_CREATE_H
#define SHMFS_FS_CREATE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "daemon.h"

struct pending;

/* The table of names being created (fs->pending), made at the session's
 * start: 0 or -ENOMEM. */
int pending_init(struct shmfs *fs);

void shmfs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi);
void pending_open(fuse_req_t req, int32_t key, struct fuse_file_info *fi);
void pending_read(fuse_req_t req, struct pending *p, size_t size, off_t off);
void pending_write(fuse_req_t req, struct pending *p, const char *buf, size_t size, off_t off);
/* Replies itself: at once, or once a truncation's lock is had. */
void pending_setattr(fuse_req_t req, int32_t key, struct fuse_file_info *fi, struct stat *attr,
		     int to_set);
int pending_flush(struct shmfs *fs, fuse_req_t req, struct pending *p);
void pending_release(struct shmfs *fs, struct pending *p);
int lookup_pending(struct shmfs *fs, int32_t key, uid_t uid, struct fuse_entry_param *e);
int pending_getattr(struct shmfs *fs, int32_t key, uid_t uid, struct fuse_file_info *fi,
		    struct stat *st);
/* Names still being created when the session ends. */
void pending_free_all(struct shmfs *fs);

#endif
