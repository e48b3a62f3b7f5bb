/* fs_create.h - names being created in by-key/, in the FUSE layer. */
#ifndef SHMFS_FS_CREATE_H
#define SHMFS_FS_CREATE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "daemon.h"

struct open_file;

/* A by-key name opened with O_CREAT.  shmget needs the size before the
 * segment exists, so bytes written are gathered here until a truncate
 * fixes the size or the first close creates the segment with the size
 * written (at least default_size). */
struct pending {
	int32_t key;
	unsigned int mode;
	uid_t cuid; /* the creator, who alone sees it; shmget runs as cuid:cgid */
	gid_t cgid;
	uid_t uid; /* the owner to be (chown): IPC_SET after creation */
	gid_t gid;
	int shmid;	      /* -1 until created */
	bool making;	      /* shmget and copy under way, outside pending_lock */
	int failed;	      /* -errno of a failed write or creation: none at close */
	struct open_file *of; /* the segment's bytes, once created */
	char *data;
	size_t len;
	unsigned int opens;
	struct pending *next;
};

void shmfs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi);
void pending_open(fuse_req_t req, int32_t key, struct fuse_file_info *fi);
void pending_read(fuse_req_t req, struct pending *p, size_t size, off_t off);
void pending_write(fuse_req_t req, struct pending *p, const char *buf, size_t size, off_t off);
int pending_setattr(struct shmfs *fs, fuse_req_t req, int32_t key, struct fuse_file_info *fi,
		    struct stat *attr, int to_set, struct stat *st);
int pending_flush(struct shmfs *fs, fuse_req_t req, struct pending *p);
void pending_release(struct shmfs *fs, struct pending *p);
int lookup_pending(struct shmfs *fs, int32_t key, uid_t uid, struct fuse_entry_param *e);
int pending_getattr(struct shmfs *fs, int32_t key, uid_t uid, struct fuse_file_info *fi,
		    struct stat *st);
/* Names still being created when the session ends. */
void pending_free_all(struct shmfs *fs);

#endif
