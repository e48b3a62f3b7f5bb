/* access.c - the kernel's ipcperms() rule (ipc/util.c) as a pure function.
 *
 * The caller's uid stands for the kernel's euid and its gid and groups for
 * what in_group_p() consults (fsgid and supplementary groups).  uid 0 stands
 * for CAP_IPC_OWNER (access) and CAP_SYS_ADMIN (ownership).  The kernel
 * applies the same rule to segments, semaphore sets and message queues
 * (struct kern_ipc_perm): so does this file, on struct access_perm.
 */
#include <errno.h>
#include <stdbool.h>

#include "access.h"

#define ROOT_UID 0

void access_perm_of_segment(const struct segment_info *seg, struct access_perm *out)
{
	out->uid = seg->uid;
	out->gid = seg->gid;
	out->cuid = seg->cuid;
	out->cgid = seg->cgid;
	out->mode = seg->mode;
}

static bool caller_in_group(const struct access_caller *caller, gid_t gid)
{
	size_t i;

	if (caller->gid == gid)
		return true;
	for (i = 0; caller->groups && i < caller->ngroups; i++) {
		if (caller->groups[i] == gid)
			return true;
	}
	return false;
}

static bool caller_is_owner(const struct access_caller *caller, const struct access_perm *perm)
{
	return caller->uid == perm->uid || caller->uid == perm->cuid;
}

int access_check_perm(const struct access_caller *caller, const struct access_perm *perm, int want)
{
	unsigned int granted = perm->mode;

	/* The first class that matches decides, as in the kernel: an owner
	 * whose owner bits are clear is refused even if the group or other
	 * bits would allow it. */
	if (caller_is_owner(caller, perm))
		granted >>= 6;
	else if (caller_in_group(caller, perm->cgid) || caller_in_group(caller, perm->gid))
		granted >>= 3;

	if ((unsigned int)want & ~granted & 07) {
		if (caller->uid == ROOT_UID)
			return 0;
		return -EACCES;
	}
	return 0;
}

int access_check_owner_perm(const struct access_caller *caller, const struct access_perm *perm)
{
	if (caller->uid == ROOT_UID || caller_is_owner(caller, perm))
		return 0;
	return -EPERM;
}

bool access_perm_needs_groups(const struct access_caller *caller, const struct access_perm *perm)
{
	if (caller->uid == ROOT_UID || caller_is_owner(caller, perm))
		return false;
	return caller->gid != perm->gid && caller->gid != perm->cgid;
}

int access_check_perm_groups_unknown(const struct access_caller *caller,
				     const struct access_perm *perm, int want)
{
	struct access_caller member = *caller;
	gid_t group = perm->gid;
	int ret = access_check_perm(caller, perm, want);

	if (ret)
		return ret;
	member.groups = &group;
	member.ngroups = 1;
	return access_check_perm(&member, perm, want);
}

int access_check(const struct access_caller *caller, const struct segment_info *seg, int want)
{
	struct access_perm perm;

	access_perm_of_segment(seg, &perm);
	return access_check_perm(caller, &perm, want);
}

int access_check_owner(const struct access_caller *caller, const struct segment_info *seg)
{
	struct access_perm perm;

	access_perm_of_segment(seg, &perm);
	return access_check_owner_perm(caller, &perm);
}

bool access_needs_groups(const struct access_caller *caller, const struct segment_info *seg)
{
	struct access_perm perm;

	access_perm_of_segment(seg, &perm);
	return access_perm_needs_groups(caller, &perm);
}

int access_check_groups_unknown(const struct access_caller *caller, const struct segment_info *seg,
				int want)
{
	struct access_perm perm;

	access_perm_of_segment(seg, &perm);
	return access_check_perm_groups_unknown(caller, &perm, want);
}

void access_set_perm(const struct semset_state *set, struct segment_info *perm)
{
	*perm = (struct segment_info){
		.shmid = -1,
		.uid = set->uid,
		.gid = set->gid,
		.cuid = set->cuid,
		.cgid = set->cgid,
		.mode = set->mode,
	};
}
