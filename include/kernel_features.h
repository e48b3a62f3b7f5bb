/* kernel_features.h - FUSE kernel features the FUSE library may not name.
 *
 * mmap(MAP_SHARED) of an open file mapping its backing file (FUSE
 * passthrough: the segment's own tmpfs file), and direct writes to one
 * file running in parallel (FOPEN_PARALLEL_DIRECT_WRITES).  Each is used
 * only when the kernel offered it; read() and write() still come to the
 * daemon either way.
 *
 * The environment variable SHMFS_MASK_KERNEL_FEATURES, a comma-separated
 * list of "passthrough", "parallel_direct_writes" or "all", hides those
 * features as if the kernel had not offered them (for tests, and to get
 * the old behaviour back).
 */
#ifndef SHMFS_KERNEL_FEATURES_H
#define SHMFS_KERNEL_FEATURES_H

#include <stdbool.h>

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

/* In main(), after fuse_session_mount(), with fd its fuse_session_fd():
 * sit between libfuse and /dev/fuse when libfuse cannot ask for the
 * features itself.  0 or -errno (then the features are simply off). */
int kernel_features_install(struct fuse_session *se, int fd);

/* In the init op: ask for what the kernel offered. */
void kernel_features_init(struct fuse_conn_info *conn);

/* In the open op, after fi->fh is set and just before fuse_reply_open():
 * the open file ino, of the segment lifetime owner stands for (the same
 * pointer for every open of that lifetime while one is open), with fd its
 * backing file (the segment's own file, or -1), gets the features.  A
 * backing file is shared only by opens of ino with the same owner: 0, or
 * -ESTALE if ino's open files hold another lifetime's (the open must then
 * fail; nothing to release).  Every call that returned 0 is matched by
 * one kernel_features_release() with the same ino and fi->fh: at
 * release, or when the open reply could not be sent. */
int kernel_features_open(fuse_req_t req, fuse_ino_t ino, const void *owner, int fd,
			 struct fuse_file_info *fi);
void kernel_features_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* Whether the kernel offered parallel direct writes (and they are not
 * masked): then an open given the features has them. */
bool kernel_features_parallel_writes(void);

/* At unmount: drop what open files still hold (their releases will
 * never come); returns how many open files still held a backing id. */
unsigned int kernel_features_finish(void);

#endif
