/* fs_caller.h - the caller of a request, for access.c's rules. */
#ifndef SHMFS_FS_CALLER_H
#define SHMFS_FS_CALLER_H

#include <fuse_lowlevel.h>

#include "access.h"
#include "segment.h"

/* access_check() with the request's credentials, its supplementary
 * groups read only when they can change the answer.  0 or -EACCES. */
int check_access(fuse_req_t req, const struct segment_info *seg, int want);
/* access_check_owner() with the request's uid.  0 or -EPERM. */
int check_owner(fuse_req_t req, const struct segment_info *seg);

/* The same on any object's ipc_perm (a set's, a queue's). */
int check_access_perm(fuse_req_t req, const struct access_perm *perm, int want);
int check_owner_perm(fuse_req_t req, const struct access_perm *perm);

#endif
