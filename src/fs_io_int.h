/* fs_io_int.h - what fs_io.c and fs_wait.c share: an open segment file
 * (fs_io.h), and the read each serves for the other. */
#ifndef SHMFS_FS_IO_INT_H
#define SHMFS_FS_IO_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "fs_io.h"
#include "watch.h"

struct open_file {
	LIST_ENTRY(open_file) link;
	struct shmfs *fs;
	struct attach *att;
	uid_t uid;		  /* who opened it */
	struct segment_info held; /* IPC_STAT after the attach, at the open */
	struct lock_hold *hold;
	struct watch_seg *ws;
	bool watching; /* watch_start() done: a .next file, or polled (poll_lock) */

	/* The write count when this file last read (or was opened): poll
	 * says POLLIN once it moves.  Atomic. */
	uint64_t seen;
	bool is_next;
	bool fired; /* .next: the write it waited for has come (atomic) */

	/* poll(2): the handle waiting for the next write, under poll_lock.
	 * It also makes one watch_start() of two polls at once.  Outer rank
	 * (lockorder.h): nothing of ours is held when it is taken; the
	 * watch table's mutex (and a budget) under it. */
	pthread_mutex_t poll_lock;
	struct fuse_pollhandle *ph;
	struct watch_waiter poller;
	bool poller_queued;
};

/* fs_io.c: serve a read of the segment as it is now (under its lock). */
void open_file_read_now(fuse_req_t req, struct open_file *of, size_t size, off_t off);

/* fs_wait.c: a read of a .next file (its first waits for a write); a
 * polled file's waiter fired. */
void open_file_next_read(fuse_req_t req, struct open_file *of, size_t size, off_t off);
void open_file_poller_fire(struct watch_waiter *w, int err);

#endif
