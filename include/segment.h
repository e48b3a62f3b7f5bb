/* segment.h - System V shared memory segments: enumerate, stat, attach, change.
 *
 * Knows nothing of FUSE.  Every function returning int returns 0 (or a
 * non-negative count) on success and a negative errno on failure.
 */
#ifndef SHMFS_SEGMENT_H
#define SHMFS_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* shm_perm.mode bits the kernel keeps beside the permission bits. */
#define SEGMENT_MODE_DEST   01000 /* SHM_DEST: marked for destruction */
#define SEGMENT_MODE_LOCKED 02000 /* SHM_LOCKED: SHM_LOCK applied */

/* Everything the kernel keeps about one segment: the columns of
 * /proc/sysvipc/shm, which are every field of struct shmid_ds plus the
 * segment's resident and swapped bytes. */
struct segment_info {
	int32_t key; /* key_t, 0 = IPC_PRIVATE (also once marked dest) */
	int shmid;
	unsigned int mode; /* permission bits | SEGMENT_MODE_DEST | _LOCKED */
	uint64_t size;	   /* shm_segsz in bytes */
	pid_t cpid;
	pid_t lpid;
	uint64_t nattch;
	uid_t uid;
	gid_t gid;
	uid_t cuid;
	gid_t cgid;
	time_t atime; /* 0 = never set */
	time_t dtime;
	time_t ctime;
	uint64_t rss;	 /* bytes; valid only if have_usage */
	uint64_t swap;	 /* bytes; valid only if have_usage */
	bool have_usage; /* rss/swap known (they come from /proc only) */
};

/* Tells whether a shmid still names the same segment: a reused shmid from
 * another creator gets another generation. */
static inline uint64_t segment_generation(const struct segment_info *seg)
{
	return ((uint64_t)(uint32_t)seg->cpid << 32) | (uint32_t)seg->cuid;
}

/* A snapshot of all segments of the IPC namespace, in kernel order. */
struct segment_list {
	struct segment_info *v;
	size_t n;
	size_t cap;
};

/* Parse one data line of /proc/sysvipc/shm (not the header).  Pure. */
int segment_parse_proc_line(const char *line, struct segment_info *out);

/* Call fn for every segment, in kernel order: /proc/sysvipc/shm first,
 * the SHM_STAT_ANY / SHM_STAT loop as fallback; without a copy of the
 * table.  Stops at the first non-zero return of fn and returns it;
 * otherwise 0 or -errno. */
int segment_each(int (*fn)(const struct segment_info *seg, void *arg), void *arg);

/* Fill *list with every segment: /proc/sysvipc/shm first, the
 * SHM_STAT_ANY / SHM_STAT loop as fallback.  The list's buffer is reused
 * across calls; free it with segment_list_free(). */
int segment_list_read(struct segment_list *list);
void segment_list_free(struct segment_list *list);
const struct segment_info *segment_list_find(const struct segment_list *list, int shmid);
const struct segment_info *segment_list_find_key(const struct segment_list *list, int32_t key);

/* The shmid of the segment with key (not IPC_PRIVATE), or -ENOENT; a pure
 * lookup that asks for no permission. */
int segment_find_key(int32_t key);

/* One segment's metadata: IPC_STAT, or SHM_STAT_ANY of its index when
 * the caller may not IPC_STAT it (both cost the same for any number of
 * segments; a scan only where neither works).  -ENOENT if no such
 * segment.  rss/swap are filled only when want_usage: that reads
 * /proc/sysvipc/shm up to the segment's line, a cost that grows with the
 * segment's place in the table (listing_usage() shares one read). */
int segment_stat(int shmid, bool want_usage, struct segment_info *out);

/* shmget(key, size, IPC_CREAT | IPC_EXCL | mode & 0777) as the given
 * user: when the caller is root, the calling thread (only) takes on uid
 * and gid for the call, so the kernel records them as owner and creator
 * and applies its own limits to them.  Returns the shmid or -errno. */
int segment_create(int32_t key, size_t size, unsigned int mode, uid_t uid, gid_t gid);

/* shmat(2) read-only or read-write; shmdt(2). */
int segment_attach(int shmid, bool writable, void **addr);

/* Every shmat(2) of this process goes through segment_attach(), which
 * counts it: per slot of shmids (several shmids share one), a count that
 * only grows, taken with the attach.  segment_attach_counted() is
 * segment_attach() that also gives the count its attach took (never 0)
 * and, if held is not NULL, segment_stat() of the segment attached (made
 * while attached, which pins the shmid to it: one IPC_STAT serves this
 * and the caller). */
int segment_attach_counted(int shmid, bool writable, void **addr, uint64_t *count,
			   struct segment_info *held);
/* Every attachment segment_attach() makes is MADV_DONTFORK before the
 * call returns.  A fork (or a clone without CLONE_VM) of the daemon's is
 * made between segment_fork_gate(true) and segment_fork_gate(false): no
 * attachment is then half made, so a child never holds a copy of one
 * (which would attach and detach another user's segment as the child). */
void segment_fork_gate(bool forking);

/* The count of shmid's slot now. */
uint64_t segment_attach_count(int shmid);
/* Whether this process attached anything of shmid's slot since the
 * attach that took count. */
bool segment_attached_since(int shmid, uint64_t count);
/* segment_stat() of shmid (no usage), if this process attached nothing
 * of its slot since the attach that took count, no attach of the slot
 * being under way meanwhile; else -EAGAIN. */
int segment_stat_since(int shmid, uint64_t count, struct segment_info *out);
int segment_detach(void *addr);

/* A descriptor for the memory behind an attachment of size bytes at addr:
 * the kernel's own tmpfs file of the segment, opened through
 * /proc/self/map_files/.  pread/pwrite on it copy without the page tables
 * a fresh attachment must otherwise build (a first pass over 1 GiB
 * through a new mapping runs at a fifth of the speed), and splice(2) can
 * take its pages.  It does not count in nattch and does not keep the
 * shmid alive; close it before detaching.  Needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE; -EPERM without, -ENOTSUP for a segment that is
 * not on tmpfs (SHM_HUGETLB), other -errno on failure. */
int segment_open_fd(void *addr, uint64_t size, bool writable);

/* shmctl IPC_RMID, IPC_SET (uid, gid, mode & 0777), SHM_LOCK/SHM_UNLOCK. */
int segment_remove(int shmid);
int segment_set_perm(int shmid, uid_t uid, gid_t gid, unsigned int mode);
int segment_set_locked(int shmid, bool locked);

/* kernel.shm_rmid_forced of this IPC namespace: when true, a detach that
 * leaves nattch at 0 destroys the segment.  When it cannot be read, the
 * last value read, or true before any (fail safe); false on kernels
 * without it. */
bool segment_rmid_forced(void);

/* ---- calls made as a caller ----------------------------------------------- */

/* Who asked, for a call made on their behalf. */
struct segment_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid; /* in the daemon's PID namespace; 0 if not seen from it */
};

/* The effective ids a thread had before segment_thread_become(). */
struct segment_ids {
	uid_t uid;
	gid_t gid;
	bool switched;
};

/* When the daemon is root, the calling thread (only) takes on uid and gid
 * as its effective (and so file system) ids, so that the kernel records
 * them as owner and creator of what it makes and checks its rules against
 * them, until segment_thread_restore(saved).  Otherwise nothing changes.
 * 0 or -errno (then nothing changed). */
int segment_thread_become(uid_t uid, gid_t gid, struct segment_ids *saved);
void segment_thread_restore(const struct segment_ids *saved);

/* IPC_SET (as segment_set_perm) with the caller's ids: the kernel's
 * owner rule decides. */
int segment_set_perm_as(int shmid, uid_t uid, gid_t gid, unsigned int mode,
			const struct segment_caller *caller);

#endif
