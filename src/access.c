/* access.c - the kernel's ipcperms() rule (ipc/util.c) as a pure function.
 *
 * The caller's uid stands for the kernel's euid and its gid and groups for
 * what in_group_p() consults (fsgid and supplementary groups).  uid 0 stands
 * for CAP_IPC_OWNER (access) and CAP_SYS_ADMIN (ownership).
 */
#include <errno.h>
#include <stdbool.h>

#include "access.h"

#define ROOT_UID 0

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

static bool caller_is_owner(const struct access_caller *caller, const struct segment_info *seg)
{
	return caller->uid == seg->uid || caller->uid == seg->cuid;
}

int access_check(const struct access_caller *caller, const struct segment_info *seg, int want)
{
	unsigned int granted = seg->mode;

	/* The first class that matches decides, as in the kernel: an owner
	 * whose owner bits are clear is refused even if the group or other
	 * bits would allow it. */
	if (caller_is_owner(caller, seg))
		granted >>= 6;
	else if (caller_in_group(caller, seg->cgid) || caller_in_group(caller, seg->gid))
		granted >>= 3;

	if ((unsigned int)want & ~granted & 07) {
		if (caller->uid == ROOT_UID)
			return 0;
		return -EACCES;
	}
	return 0;
}

int access_check_owner(const struct access_caller *caller, const struct segment_info *seg)
{
	if (caller->uid == ROOT_UID || caller_is_owner(caller, seg))
		return 0;
	return -EPERM;
}

bool access_needs_groups(const struct access_caller *caller, const struct segment_info *seg)
{
	if (caller->uid == ROOT_UID || caller_is_owner(caller, seg))
		return false;
	return caller->gid != seg->gid && caller->gid != seg->cgid;
}

int access_check_groups_unknown(const struct access_caller *caller, const struct segment_info *seg,
				int want)
{
	struct access_caller member = *caller;
	gid_t group = seg->gid;
	int ret = access_check(caller, seg, want);

	if (ret)
		return ret;
	member.groups = &group;
	member.ngroups = 1;
	return access_check(&member, seg, want);
}
