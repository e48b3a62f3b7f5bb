/* attach.h - the bytes of an open segment: how the daemon reaches them,
 * and the copies in and out.
 *
 * At open the daemon attaches the segment, opens the segment's own tmpfs
 * file through /proc/self/map_files (segment_open_fd()) and detaches at
 * once: an open file is then no attacher (nattch, lpid and the kernel's
 * "still in use" checks do not see it), and a segment removed while open
 * stays readable and writable through it, as an unlinked file does.
 * Copies go through that descriptor: reads are spliced from it or
 * pread, writes are pwrite, and bytes rewritten over and over are mapped
 * from it (MAP_SHARED of the descriptor, never a new attach).
 *
 * The attachment is kept for as long as the file is open only where it
 * must be: without a descriptor (a daemon without CAP_SYS_ADMIN, an
 * SHM_HUGETLB segment, the descriptor budget spent), and for a segment
 * the daemon creates itself under kernel.shm_rmid_forced=1 (its detach
 * would destroy it).  Under shm_rmid_forced an open of a segment nobody
 * has attached is refused with EBUSY: the detach would destroy it.
 *
 * Open files of one segment share one attach (and so one descriptor and
 * one chunk map).  Knows nothing of FUSE.
 */
#ifndef SHMFS_ATTACH_H
#define SHMFS_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "identity.h"
#include "segment.h"

/* The largest copy in one call: FUSE's largest request (max_pages 256). */
#define ATTACH_MAX_COPY (1024 * 1024)

struct attach_table;
struct attach;

/* fd_limit: segment descriptors are kept below this number only (the
 * rest is for listings, sidecars, pipes).  cache_seconds: how long an
 * attach outlives its last close (0: not at all). */
struct attach_table *attach_table_new(int fd_limit, double cache_seconds);
/* Close everything; attachments kept under shm_rmid_forced are detached
 * (which destroys those segments: logged). */
void attach_table_free(struct attach_table *table);

/* The rule for a descriptor budget: keep reserve descriptors of a limit
 * for everything else, or half of a small one. */
int attach_fd_limit(long nofile, int reserve);

/* Open the bytes of the segment lifetime expected names, read-only or
 * read-write; creating: the daemon just made it.  Attaches first, then
 * IPC_STATs (the attachment pins the shmid) and compares
 * (identity_pin()): *held is the segment actually held, on which the
 * caller checks the caller's rights (and attach_close()s if refused).
 * 0 or -errno: -ESTALE another lifetime has the shmid now; -ENOENT gone;
 * -EBUSY shm_rmid_forced with nobody attached; -EACCES; -ENOMEM. */
int attach_open(struct attach_table *table, const struct segment_identity *expected, bool writable,
		bool creating, struct segment_info *held, struct attach **out);
/* attach_open() of a lifetime whose file the daemon keeps (open, or idle
 * after its last close: see attach_close()), proven by one IPC_STAT
 * (identity_reprove()) instead of an attach: 0 with *held and *out as
 * attach_open() gives them; -EAGAIN: none kept, or not proven: open it
 * (attach_open(), which tries this first). */
int attach_reuse(struct attach_table *table, const struct segment_identity *expected, bool writable,
		 struct segment_info *held, struct attach **out);

/* What a close leaves. */
enum attach_left {
	ATTACH_IN_USE,	   /* other open files use it */
	ATTACH_LET_GO,	   /* closed */
	ATTACH_PARKED,	   /* the daemon stays attached, because the detach would
			    * destroy the segment (shm_rmid_forced): worth a
			    * warning; attach_sweep() lets go of it later */
	ATTACH_IDLE,	   /* kept for a while (attach_sweep() lets go) */
	ATTACH_IDLE_FIRST, /* the same, and attach_sweep() must be called again:
			    * it had nothing left to sweep */
};
/* The close of an open file of uid's (an idle kept file takes one of
 * that user's places); attach_close(): of nobody's (ATTACH_NO_UID). */
enum attach_left attach_close_as(struct attach_table *table, struct attach *a, uid_t uid);
enum attach_left attach_close(struct attach_table *table, struct attach *a);

uint64_t attach_size(const struct attach *a);
/* The segment's file, or -1 where the attachment is used instead. */
int attach_fd(const struct attach *a);
/* The lifetime it holds (strong where the file could be read). */
const struct segment_identity *attach_identity(const struct attach *a);

/* An act on a bare shmid (IPC_RMID, IPC_SET, SHM_LOCK) on the lifetime
 * expected names: pinned (identity_pin()), act(pin, ctx) is called with
 * the segment held (pin->held: check the caller's rights on it), then the
 * pin goes (under shm_rmid_forced a detach that would destroy the
 * segment is parked).  act's return, or the pin's -ENOENT/-ESTALE.
 * Under shm_rmid_forced=1 with nobody attached nothing can pin (its
 * detach would destroy the segment): act is then called after a look
 * only (IPC_STAT, compare), which leaves a window: a segment removed and
 * its shmid taken again in between is acted on.  The kernel has no
 * compare-and-swap for these calls. */
int attach_act(struct attach_table *table, const struct segment_identity *expected,
	       int (*act)(const struct identity_pin *pin, void *ctx), void *ctx);
/* attach_act() in two halves, for an act answered later (SHM_LOCK made
 * by a helper): 0 with *pin held (pin->addr NULL where only a look was
 * possible), or -errno with nothing held; attach_unpin() once the act is
 * done. */
int attach_pin(struct attach_table *table, const struct segment_identity *expected,
	       struct identity_pin *pin);
void attach_unpin(struct attach_table *table, struct identity_pin *pin);
/* Let go of an attachment of shmid at addr: shmdt, or, where that would
 * destroy the segment (shm_rmid_forced, the last attacher), kept and let
 * go of later (attach_sweep()).  0, 1 if kept, or -errno. */
int attach_detach(struct attach_table *table, int shmid, void *addr);

/* Where the bytes of a read are: a descriptor and an offset to splice
 * from (fd >= 0), or a pointer (fd < 0); len bytes. */
struct attach_src {
	int fd;
	off_t pos;
	const char *ptr;
	size_t len;
};

/* The bytes [off, off + size) for a read reply, clipped to the segment
 * (len 0 at or past the end).  The descriptor when splice_max allows
 * (size at least two pages and at most splice_max), else a pointer: the
 * attachment, a mapping of the segment's file (once the lifetime has had
 * a few reads, for pages the segment has: a read never allocates a page
 * of it; charged to uid, the reader, as attach_write() charges a writer;
 * ATTACH_NO_UID: never for this read), or a copy in this thread's buffer
 * (valid until its next call).
 * Call with the segment's lock held, and reply before releasing it.  0 or
 * -errno. */
int attach_read(struct attach *a, uint64_t off, size_t size, size_t splice_max, uid_t uid,
		struct attach_src *src);

/* Copy size bytes at off into the segment, cut short at its end, for
 * uid (the writer: a mapping made for its rewrites counts in uid's
 * budget; ATTACH_NO_UID: none is made for it but where pwrite cannot
 * write).  Call with the exclusive lock held.  Bytes written, or -ENOSPC
 * at or past the end, or -errno (-EFAULT: the pages could not be
 * provided). */
#define ATTACH_NO_UID ((uid_t)-1)
ssize_t attach_write(struct attach *a, const char *buf, size_t size, uint64_t off, uid_t uid);

/* Zero from offset to the end, under the exclusive lock, for uid (as
 * attach_write()): what O_TRUNC and truncate mean for a segment of fixed
 * size.  0 or -errno. */
int attach_zero(struct attach *a, uint64_t from, uid_t uid);

/* Let go of cached and parked attachments whose time has come.  Returns
 * whether any remain (then call again in a second or so). */
bool attach_sweep(struct attach_table *table);

#endif
