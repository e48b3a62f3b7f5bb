/* access.h - the kernel's ipcperms() rule as a pure function.
 *
 * Knows nothing of FUSE or syscalls: the caller's credentials and the
 * object's ipc_perm come in, a decision comes out.  One rule for every
 * kind of object: a segment's functions are those of its ipc_perm.
 */
#ifndef SHMFS_ACCESS_H
#define SHMFS_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lockstate.h"
#include "segment.h"

#define ACCESS_READ  04
#define ACCESS_WRITE 02

struct access_caller {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t ngroups;
};

/* The part of an ipc_perm the rules read (a segment's, a set's, a
 * queue's: struct kern_ipc_perm). */
struct access_perm {
	uid_t uid;
	gid_t gid;
	uid_t cuid;
	gid_t cgid;
	unsigned int mode; /* permission bits; others are ignored */
};

void access_perm_of_segment(const struct segment_info *seg, struct access_perm *out);

/* The rules below on any object's ipc_perm. */
int access_check_perm(const struct access_caller *caller, const struct access_perm *perm, int want);
bool access_perm_needs_groups(const struct access_caller *caller, const struct access_perm *perm);
int access_check_perm_groups_unknown(const struct access_caller *caller,
				     const struct access_perm *perm, int want);
int access_check_owner_perm(const struct access_caller *caller, const struct access_perm *perm);

/* ipcperms(): 0 if the caller may have every bit of want (ACCESS_READ |
 * ACCESS_WRITE) on the segment, else -EACCES.  Owner bits apply if the
 * caller's uid is the segment's uid or cuid; else group bits if the caller
 * is in gid or cgid (primary or supplementary); else other bits.  uid 0
 * always passes (CAP_IPC_OWNER). */
int access_check(const struct access_caller *caller, const struct segment_info *seg, int want);

/* Whether the caller's supplementary groups can change access_check()'s
 * answer (reading them costs a read of /proc): not for uid 0, the owner
 * or creator, or a caller whose own gid is the segment's group or the
 * creator's. */
bool access_needs_groups(const struct access_caller *caller, const struct segment_info *seg);

/* access_check() for a caller whose supplementary groups could not be
 * read (another pid namespace, an exited caller): it gets only what it
 * would have both outside and inside the segment's group, so group bits
 * stricter than the other bits still keep a member out. */
int access_check_groups_unknown(const struct access_caller *caller, const struct segment_info *seg,
				int want);

/* IPC_RMID, IPC_SET, SHM_LOCK/UNLOCK: 0 if the caller is the owner, the
 * creator or uid 0, else -EPERM. */
int access_check_owner(const struct access_caller *caller, const struct segment_info *seg);

/* The kernel's rule for a semaphore set's values (semctl GETVAL, GETPID,
 * GETNCNT, GETZCNT): read permission on the set.  *perm receives the
 * set's ipc_perm, to check ACCESS_READ against with access_check(). */
void access_set_perm(const struct semset_state *set, struct segment_info *perm);

#endif
