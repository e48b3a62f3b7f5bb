/* fs_caller.c - the caller of a request, for access.c's rules. */
#include <errno.h>
#include <stdlib.h>

#include "access.h"
#include "fs_caller.h"

/* Room for the groups most callers have; more are read in a second go. */
#define USUAL_GROUPS 64

int check_access(fuse_req_t req, const struct segment_info *seg, int want)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct access_caller cred = { .uid = ctx->uid, .gid = ctx->gid };
	gid_t usual[USUAL_GROUPS], *all = NULL;
	int n, ret;

	if (!access_needs_groups(&cred, seg))
		return access_check(&cred, seg, want);
	cred.groups = usual;
	n = fuse_req_getgroups(req, USUAL_GROUPS, usual);
	if (n > USUAL_GROUPS) {
		int room = n;

		all = calloc((size_t)room, sizeof(*all));
		n = all ? fuse_req_getgroups(req, room, all) : -ENOMEM;
		if (n > room)
			n = -EAGAIN; /* it gained groups between the two reads */
		cred.groups = all;
	}
	/* No /proc/PID/status: the caller is in another pid namespace (its
	 * pid is 0 here) or has exited. */
	if (n < 0) {
		cred.groups = NULL;
		ret = access_check_groups_unknown(&cred, seg, want);
	} else {
		cred.ngroups = (size_t)n;
		ret = access_check(&cred, seg, want);
	}
	free(all);
	return ret;
}

int check_owner(fuse_req_t req, const struct segment_info *seg)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct access_caller cred = { .uid = ctx->uid, .gid = ctx->gid };

	return access_check_owner(&cred, seg);
}
