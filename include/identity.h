/* identity.h - what proves that a shmid names one segment lifetime.
 *
 * The kernel hands shmids out again (a user can bring one back on
 * purpose: create and remove in a loop), and it numbers a segment's
 * backing tmpfs inode with the shmid: neither number proves anything.
 *
 * Weak identity, from IPC_STAT or /proc/sysvipc/shm with no attachment:
 * (shmid, cpid, cuid, cgid, size), fields that never change within a
 * lifetime (key changes at IPC_RMID; mode, uid, gid and ctime at
 * IPC_SET).  A later lifetime with the same shmid can have all five the
 * same: the same user's program, its pid recycled, the same size.
 *
 * Strong identity, once attached: the backing file reached through
 * /proc/self/map_files gives stx_btime (ns; coarse: two segments made in
 * one clock tick share it) and the file handle of name_to_handle_at(),
 * which holds the inode's i_generation (32 random bits drawn at the
 * inode's creation) beside its number.  Two lifetimes share both only by
 * a 1 in 2^32 chance within one tick.
 *
 * Where the backing file cannot be opened (a daemon without
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE, an SHM_HUGETLB segment, whose
 * hugetlbfs file has no handle), there is no strong identity: whoever
 * holds such a segment must keep its attachment for as long as it uses
 * the segment, so that the segment cannot be destroyed and its shmid
 * cannot come back meanwhile (the id of a segment with attachments is
 * never free, even after IPC_RMID).
 *
 * Knows nothing of FUSE.
 */
#ifndef SHMFS_IDENTITY_H
#define SHMFS_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "segment.h"

/* The bytes of a file handle kept (tmpfs's is 12: generation, inode). */
#define IDENTITY_HANDLE_MAX 16

struct segment_identity {
	/* weak: never change within a lifetime */
	int shmid;
	pid_t cpid;
	uid_t cuid;
	gid_t cgid;
	uint64_t size;
	/* strong: valid when strong is true */
	bool strong;
	uint64_t btime_ns;
	int handle_type;
	unsigned int handle_len;
	unsigned char handle[IDENTITY_HANDLE_MAX];
};

/* The weak identity of seg (strong false). */
void identity_weak(const struct segment_info *seg, struct segment_identity *out);

/* Add the strong identity of the backing file fd to *id: 0, or -errno
 * (then id->strong stays false): -EOPNOTSUPP for a file system without
 * btime or handles (hugetlbfs). */
int identity_read_strong(int fd, struct segment_identity *id);

/* Whether got is the lifetime want means: the weak fields equal, and the
 * strong ones too when both are known.  When only one side is strong the
 * weak fields decide: the caller must then hold an attachment (see
 * above), or accept the weak identity's limits. */
bool identity_same(const struct segment_identity *want, const struct segment_identity *got);

/* Both strong and equal: the same lifetime beyond doubt (a 1 in 2^32
 * chance within one clock tick aside). */
bool identity_strong_same(const struct segment_identity *a, const struct segment_identity *b);

/* ---- attach first, then verify ------------------------------------------ */

/* A segment lifetime held while the daemon acts on it: an attachment
 * pins it (the shmid of a segment with an attachment is never free, even
 * after IPC_RMID), so held, IPC_STAT after the attach, is the segment
 * held, and an act on the bare shmid (IPC_RMID, IPC_SET, SHM_LOCK) while
 * pinned reaches that segment and no other. */
struct identity_pin {
	void *addr;		    /* the attachment */
	bool writable;		    /* attached read-write */
	struct segment_info held;   /* IPC_STAT after the attach */
	struct segment_identity id; /* held's, strong where the file could be read */
	int fd;			    /* the backing file (PIN_KEEP_FD), or -1 */
	int fd_err;		    /* why there is none: -ENOTSUP hugetlbfs, -EPERM... */
	uint64_t count;		    /* segment_attach_counted()'s, of the attachment */
};

enum {
	PIN_WRITABLE = 1 << 0,	/* attach read-write, or fail */
	PIN_TRY_WRITE = 1 << 1, /* read-write if the daemon may, else read-only */
	PIN_KEEP_FD = 1 << 2,	/* keep the backing file open in pin->fd */
	PIN_FRESH = 1 << 3,	/* the daemon just made it: attach even under
				 * shm_rmid_forced (the caller keeps it attached) */
};

/* Attach expected->shmid, IPC_STAT it, and compare what is held with
 * expected (identity_same(); the strong identity is read from the
 * backing file).  0 with *pin filled; -ENOENT if nothing has the shmid;
 * -ESTALE if another lifetime has it (nothing is then held); -EBUSY if
 * kernel.shm_rmid_forced=1 and nobody is attached (the detach would
 * destroy the segment: nothing was attached); other -errno of shmat. */
int identity_pin(const struct segment_identity *expected, unsigned int flags,
		 struct identity_pin *pin);
/* Let go: close the file if still kept, detach.  Under
 * kernel.shm_rmid_forced a detach may destroy the segment: the attach
 * table's detach (attach_act()) parks instead. */
void identity_unpin(struct identity_pin *pin);

/* ---- proving a lifetime again without attaching ------------------------ */

/* What lets a lifetime this process pinned be proven again by a look
 * alone (identity_reprove()), while it keeps the lifetime's file: the
 * count of its pin's attach, and who it was. */
struct identity_reproof {
	uint64_t count; /* 0: none: pin again */
	pid_t self;
};

/* After pin's attachment is gone (detached, or kept): a reproof, or
 * -EAGAIN when none is possible (no strong identity; something else of
 * the shmid's slot attached since, so the pin's attach may not be the
 * last this process made). */
int identity_reproof_after(const struct identity_pin *pin, struct identity_reproof *out);

/* Whether the shmid of id, a strong identity whose file the caller
 * keeps, still names that lifetime, by IPC_STAT alone: this process was
 * the last to attach or detach it (lpid) and has attached nothing of its
 * slot since the proof's pin (segment_stat_since()), and it is as id
 * says and not removed.  0 with *held filled; -EAGAIN: not proven
 * (another attached it, it was removed, or it is gone): pin instead. */
int identity_reprove(const struct segment_identity *id, const struct identity_reproof *proof,
		     struct segment_info *held);

/* A short text for logs: "shmid 5 (strong 1796452123.456906292/1cce10b7)". */
void identity_format(const struct segment_identity *id, char *buf, size_t size);

#endif
