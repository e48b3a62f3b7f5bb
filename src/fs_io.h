/* fs_io.h - open segment files (and .next) in the FUSE layer: the lock
 * around each copy, the replies, waiting for writes. */
#ifndef SHMFS_FS_IO_H
#define SHMFS_FS_IO_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "identity.h"
#include "segment.h"

struct open_file;

static inline struct shmfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Checks the caller's rights on the segment held: 0 or -errno. */
typedef int (*open_file_check_fn)(const struct segment_info *held, void *ctx);

/* Open the bytes of the segment lifetime expected names for a file
 * opened by uid: its attach, its lock set, its watch state (sets made for
 * it count in uid's budget).  Attaches first, then calls check(held,
 * ctx) (NULL: none) on what is held (attach_open()).  is_next: a
 * <shmid>.next file, whose first read waits for a write.  0 or -errno
 * (-ESTALE: another lifetime has the shmid now). */
int open_file_new(struct shmfs *fs, const struct segment_identity *expected, bool writable,
		  bool creating, bool is_next, uid_t uid, open_file_check_fn check, void *ctx,
		  struct open_file **out);
/* open_file_new() through a file of the lifetime the daemon keeps
 * (attach_reuse()): nothing is attached, so the caller needs no check of
 * its rights before (check decides, on what is held).  -EAGAIN: none
 * kept, or not proven: open_file_new(). */
int open_file_kept(struct shmfs *fs, const struct segment_identity *expected, bool writable,
		   bool is_next, uid_t uid, open_file_check_fn check, void *ctx,
		   struct open_file **out);
/* The file's release: stop watching, let go of all it holds. */
void open_file_close(struct shmfs *fs, struct open_file *of);
/* Files still open when the session ends: their releases never come. */
void open_files_close_all(struct shmfs *fs);

uint64_t open_file_size(const struct open_file *of);
int open_file_shmid(const struct open_file *of);
/* The lifetime the file holds, and the object that stands for it (the
 * same for every open file of that lifetime, for as long as one is open). */
const struct segment_identity *open_file_identity(const struct open_file *of);
const void *open_file_owner(const struct open_file *of);
/* The segment as a file still open on the lifetime life (strong: proven
 * by an open) found it, IPC_STAT after its attach, with its size: what
 * such a file shows once the kernel has destroyed the lifetime.  0, or
 * -ENOENT if no file is open on it. */
int open_file_find_held(struct shmfs *fs, const struct segment_identity *life,
			struct segment_info *held);
/* The segment's own file (attach_fd()), or -1. */
int open_file_fd(const struct open_file *of);

/* Serve a read or write request and reply to it. */
void open_file_read(fuse_req_t req, struct open_file *of, size_t size, off_t off);
void open_file_write(fuse_req_t req, struct open_file *of, const char *buf, size_t size, off_t off);
void open_file_poll(fuse_req_t req, struct open_file *of, struct fuse_pollhandle *ph);

/* Zero from offset to the end under the exclusive lock (O_TRUNC,
 * truncate), then call then(req, of, 0 or -errno, ctx), at once or
 * later from another thread if the lock is busy: then replies. */
void open_file_truncate_then(fuse_req_t req, struct open_file *of, uint64_t from,
			     void (*then)(fuse_req_t req, struct open_file *of, int err, void *ctx),
			     void *ctx);
/* Copy the first bytes of a segment being created, without waiting for
 * its lock (-EBUSY if someone holds it already). */
int open_file_fill(struct shmfs *fs, struct open_file *of, const char *data, size_t len);

/* Reply with the bytes [off, off + size) of a buffer (sidecars, names
 * being created). */
void reply_buffer_read(fuse_req_t req, const char *data, size_t len, size_t size, off_t off);

#endif
