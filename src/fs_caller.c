/* fs_caller.c - the caller of a request, for access.c's rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* access.c's rule is one for every kind of object: a segment_info
 * carries the ipc_perm fields it reads. */
static void perm_as_segment(const struct access_perm *perm, struct segment_info *seg)
{
	memset(seg, 0, sizeof(*seg));
	seg->uid = perm->uid;
	seg->gid = perm->gid;
	seg->cuid = perm->cuid;
	seg->cgid = perm->cgid;
	seg->mode = perm->mode & 0777;
}

int check_access_perm(fuse_req_t req, const struct access_perm *perm, int want)
{
	struct segment_info seg;

	perm_as_segment(perm, &seg);
	return check_access(req, &seg, want);
}

int check_owner_perm(fuse_req_t req, const struct access_perm *perm)
{
	struct segment_info seg;

	perm_as_segment(perm, &seg);
	return check_owner(req, &seg);
}
