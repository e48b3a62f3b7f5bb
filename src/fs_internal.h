/* fs_internal.h - what the files of the FUSE layer share.
 *
 * fs.c has the operations table and the handlers; fs_open.c the open
 * segment files (attributes, callers' rights, attachments, locking, the
 * copy in and out, change notification); fs_create.c the names being
 * created in by-key/.  None of this is seen outside src/fs*.c.
 */
#ifndef SHMFS_FS_INTERNAL_H
#define SHMFS_FS_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "fs.h"
#include "lock.h"
#include "names.h"
#include "segment.h"
#include "sidecar.h"

#define MAX_GROUPS	 64
#define READ_BUFFER_SIZE (1024 * 1024) /* the largest request: max_pages 256 */
#define FD_RESERVE	 128	       /* descriptors kept for everything else */
#define CHUNK_SHIFT	 20	       /* the attachment's write chunks: 1 MiB */
#define CHUNK_PART_SHIFT 16	       /* ... each of 16 parts of 64 KiB */
#define CHUNK_TWICE	 16	       /* parts written twice: these bits up */
#define CHUNK_MAPPED	 (1ull << 32)  /* a chunk's bit: its pages are mapped */

struct shmfs {
	struct shmfs_options opts;
	struct lock_table *locks;
	time_t mount_time;
	int fd_limit;	   /* segment files opened below this fd number only */
	bool splice_write; /* the kernel takes spliced replies */
	size_t splice_max; /* largest read reply spliced (atomic; 0: none) */
	uid_t uid;
	gid_t gid;

	/* Attachments kept after close because detaching them would have
	 * destroyed the segment (kernel.shm_rmid_forced=1 and no other
	 * attacher); detached once someone else attaches or it is removed. */
	pthread_mutex_t parked_lock;
	struct parked {
		int shmid;
		void *addr;
	} * parked;
	size_t nparked, parked_cap;

	/* Shared attachments, with -o attach_cache only. */
	pthread_mutex_t attach_lock;
	struct attachment *attachments;

	/* Readers of .next waiting, and open files with a poll handle. */
	pthread_mutex_t watch_lock;
	struct waiter *waiters;
	struct open_segment *pollers;

	/* by-key names being created, waiting for their size; per creator,
	 * the bytes gathered (at most max_pending each). */
	pthread_mutex_t pending_lock;
	pthread_cond_t pending_made; /* a name's creation ended */
	struct pending *pending;
	struct pending_user {
		uid_t uid;
		size_t bytes;
	} * pending_users;
	size_t npending_users, pending_users_cap;

	/* Background sweep of semaphore sets created for gone segments. */
	pthread_t sweeper;
	bool sweeper_running;
	pthread_mutex_t sweep_lock;
	pthread_cond_t sweep_cond;
	bool stopping;

	/* Every open segment file and sidecar: those still open at unmount
	 * never get a release, and are freed by shmfs_free(). */
	pthread_mutex_t open_lock;
	LIST_HEAD(, open_segment) open_segments;
	LIST_HEAD(, open_sidecar) open_sidecars;
};

/* One open segment file: its own attachment, taken at open. */
struct open_segment {
	LIST_ENTRY(open_segment) open_link;
	int shmid;
	void *addr;
	int fd; /* the attachment's segment_open_fd(), or -1 */
	/* With fd: per 1 MiB chunk of the segment, a bit per 64 KiB part
	 * written once, one per part written twice, and CHUNK_MAPPED
	 * (accessed atomically; shared by the attachment's open files). */
	uint64_t *chunks;
	size_t size;
	int semid;		  /* accessed atomically: re-resolved if the set vanishes */
	struct segment_info info; /* as it was at open */

	/* Change notification, under fs->watch_lock: the segment's write
	 * count when this file last read it (or was opened), the poll handle
	 * waiting for the next write, and for <shmid>.next whether the write
	 * it waits for has come. */
	uint64_t seen;
	struct fuse_pollhandle *ph;
	struct open_segment *next_poller;
	bool polling;
	bool is_next;
	bool fired;
	bool writable;
};

/* A read of <shmid>.next waiting for the next write; answered later by
 * whichever thread sees that write. */
struct waiter {
	fuse_req_t req;
	struct open_segment *of;
	size_t size;
	off_t off;
	struct waiter *next;
};

/* One open sidecar: rendered once at open, so every read of it is one
 * consistent snapshot (lxcfs's idiom). */
struct open_sidecar {
	LIST_ENTRY(open_sidecar) open_link;
	int shmid;
	size_t len;
	char text[SIDECAR_MAX];
};

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
	int shmid;		 /* -1 until created */
	bool making;		 /* shmget and copy under way, outside pending_lock */
	int failed;		 /* -errno of a failed write or creation: none at close */
	struct open_segment *of; /* the attachment, once created */
	char *data;
	size_t len;
	unsigned int opens;
	struct pending *next;
};

/* One open directory: the listing enumerated once at opendir. */
struct open_dir {
	struct segment_list list;
};

static inline struct shmfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* fs_open.c: attributes of segments, sidecars, links and directories */
void fill_segment_attr(enum name_kind kind, const struct segment_info *seg, struct stat *st);
void fill_dir_attr(struct shmfs *fs, fuse_ino_t ino, struct stat *st);
uint64_t segment_generation(const struct segment_info *seg);
void fill_entry(struct shmfs *fs, enum name_kind kind, const struct segment_info *seg,
		struct fuse_entry_param *e);

/* fs_open.c: the caller's rights (access.c's rule, with the request's
 * credentials); 0 or -EACCES / -EPERM */
int check_access(fuse_req_t req, const struct segment_info *seg, int want);
int check_owner(fuse_req_t req, const struct segment_info *seg);

/* fs_open.c: open segment files: attach, lock, detach (see detach_safely()
 * for kernel.shm_rmid_forced), the -o attach_cache cache */
int open_segment_lock(struct shmfs *fs, fuse_req_t req, struct open_segment *of,
		      enum lock_mode mode, int *semid_out);
int detach_safely(struct shmfs *fs, int shmid, void *addr);
void unpark_detachable(struct shmfs *fs);
int zero_fill(struct shmfs *fs, fuse_req_t req, struct open_segment *of, uint64_t from);
void attachments_sweep(struct shmfs *fs, bool all);
int open_segment_new(struct shmfs *fs, const struct segment_info *seg, bool writable, bool creating,
		     struct open_segment **out);
void open_segment_close(struct shmfs *fs, struct open_segment *of);
void open_sidecar_free(struct shmfs *fs, struct open_sidecar *sc);

/* fs_open.c: .next and poll(2) */
void wake_watchers(struct shmfs *fs, int shmid);
bool check_watched(struct shmfs *fs);
void wake_changed(struct shmfs *fs);
void unwatch(struct shmfs *fs, struct open_segment *of);
void next_read(struct shmfs *fs, fuse_req_t req, struct open_segment *of, size_t size, off_t off);
void shmfs_ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   struct fuse_pollhandle *ph);

/* fs_open.c: the copy out of and into a segment, under its lock */
void reply_segment_read(struct shmfs *fs, fuse_req_t req, struct open_segment *of, size_t size,
			off_t off);
void reply_buffer_read(fuse_req_t req, const char *data, size_t len, size_t size, off_t off);
void reply_segment_write(struct shmfs *fs, fuse_req_t req, struct open_segment *of, const char *buf,
			 size_t size, off_t off);

/* fs_create.c: names being created in by-key/ */
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

#endif
