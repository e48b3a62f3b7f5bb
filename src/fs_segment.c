/* fs_segment.c - a segment's bytes (<shmid>), the same waiting for the
 * next write (<shmid>.next), and the links to them in by-key/.
 *
 * Every request acts on the node's lifetime only: fs_segment_of() finds
 * the segment as it is now and refuses (ESTALE, ENOENT) once the shmid
 * is another's; an open file keeps the bytes it opened (fs_io.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "attr.h"
#include "fs_caller.h"
#include "fs_io.h"
#include "fs_kind.h"
#include "kernel_features.h"

static struct open_file *file_of(struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}

/* A check for open_file_new(): the caller's rights on the segment held. */
struct open_file_access {
	fuse_req_t req;
	int want;
};

static int open_file_check_access(const struct segment_info *held, void *ctx)
{
	const struct open_file_access *want = ctx;

	return check_access(want->req, held, want->want);
}

/* ---- attributes ------------------------------------------------------------ */

int fs_segment_as_open(struct shmfs *fs, const struct node *n, struct open_file *of,
		       struct segment_info *seg)
{
	int ret = fs_segment_of(n, seg);
	bool destroyed = ret == -ENOENT || (of && ret == -ESTALE);

	if (destroyed)
		destroyed =
			open_file_find_held(fs, of ? open_file_identity(of) : &n->life, seg) == 0;
	if (ret && !destroyed)
		return ret;
	if (destroyed) { /* as an unlinked file */
		seg->mode |= SEGMENT_MODE_DEST;
		seg->nattch = 0;
	}
	return 0;
}

/* The attributes of a segment or .next file (fs_segment_as_open()). */
static void reply_attr(fuse_req_t req, const struct node *n, struct open_file *of)
{
	struct segment_info seg;
	struct stat st;
	int ret = fs_segment_as_open(fs_of(req), n, of, &seg);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	attr_of_segment(n->kind, &seg, &st);
	fuse_reply_attr(req, &st, fs_of(req)->opts.attr_timeout);
}

static void segment_getattr(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	reply_attr(req, n, fi && fi->fh ? file_of(fi) : NULL);
}

/* After a truncation: the attributes as they are now.  A file opened for
 * it alone (truncate(2) without an open file) is closed. */
struct truncated {
	struct node n;
	bool own_file;
};

static void setattr_truncated(fuse_req_t req, struct open_file *of, int err, void *ctx)
{
	struct truncated *t = ctx;
	struct shmfs *fs = fs_of(req);

	if (err)
		fuse_reply_err(req, -err);
	else
		reply_attr(req, &t->n, of);
	if (t->own_file)
		open_file_close(fs, of);
	free(t);
}

struct perm_change {
	fuse_req_t req;
	const struct stat *attr;
	int to_set;
};

/* IPC_SET of the segment held (attach_act()), if the caller owns it; it
 * keeps only the permission bits, and so do we.  The sets shmfs made
 * for the segment follow at once. */
static int set_perm_act(const struct identity_pin *pin, void *ctx)
{
	const struct perm_change *c = ctx;
	const struct segment_info *seg = &pin->held;
	struct segment_info now;
	int ret = check_owner(c->req, seg);

	if (ret == 0)
		ret = segment_set_perm(
			seg->shmid, (c->to_set & FUSE_SET_ATTR_UID) ? c->attr->st_uid : seg->uid,
			(c->to_set & FUSE_SET_ATTR_GID) ? c->attr->st_gid : seg->gid,
			(c->to_set & FUSE_SET_ATTR_MODE) ? c->attr->st_mode : seg->mode);
	if (ret == 0 && segment_stat(seg->shmid, false, &now) == 0)
		watch_set_perm(fs_of(c->req)->watches, &pin->id, &now);
	return ret;
}

int fs_segment_change_perm(fuse_req_t req, const struct node *n, const struct stat *attr,
			   int to_set)
{
	struct perm_change change = { req, attr, to_set };
	struct segment_info seg;
	int ret = fs_segment_of(n, &seg);

	return ret ? ret : attach_act(fs_of(req)->attaches, &n->life, set_perm_act, &change);
}

/* truncate: zero from the size given to the end (a segment's size is
 * fixed), through the open file (ftruncate(2): that file's lifetime and
 * size, removed or not) or one opened for it (truncate(2): the node's
 * segment as it is now); replies when done. */
static int truncate_segment(fuse_req_t req, const struct node *n, off_t size,
			    struct fuse_file_info *fi)
{
	struct segment_info seg;
	struct truncated *t;
	struct open_file *of = NULL;
	int ret = 0;

	if (fi && fi->fh) {
		of = file_of(fi);
		if ((uint64_t)size > open_file_size(of))
			return -EFBIG;
	} else {
		ret = fs_segment_of(n, &seg);
		if (ret == 0 && (uint64_t)size > seg.size)
			ret = -EFBIG;
		if (ret)
			return ret;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->n = *n;
	if (!of) {
		struct open_file_access acc = { req, ACCESS_READ | ACCESS_WRITE };

		/* checked before, to attach nothing for a caller refused, and
		 * on what the attach holds, which decides */
		ret = check_access(req, &seg, acc.want);
		if (ret == 0)
			ret = open_file_new(fs_of(req), &n->life, true, false, false,
					    fuse_req_ctx(req)->uid, open_file_check_access, &acc,
					    &of);
		if (ret) {
			free(t);
			return ret;
		}
		t->own_file = true;
	}
	open_file_truncate_then(req, of, size, setattr_truncated, t);
	return 0;
}

static void segment_setattr(fuse_req_t req, const struct node *n, struct stat *attr, int to_set,
			    struct fuse_file_info *fi)
{
	int ret = 0;

	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		ret = fs_segment_change_perm(req, n, attr, to_set);
	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		ret = truncate_segment(req, n, attr->st_size, fi);
		if (ret == 0)
			return; /* replied when the zeroing is done */
	}
	if (ret)
		fuse_reply_err(req, -ret);
	else
		segment_getattr(req, n, fi); /* times are the kernel's: not changed */
}

/* access(2): the kernel's rule on the segment; nothing is executable. */
static void segment_access(fuse_req_t req, const struct node *n, int mask)
{
	struct segment_info seg;
	int want = ((mask & R_OK) ? ACCESS_READ : 0) |
		   ((mask & W_OK) ? ACCESS_READ | ACCESS_WRITE : 0);
	int ret = fs_segment_of(n, &seg);

	if (ret == 0)
		ret = (mask & X_OK) ? -EACCES : check_access(req, &seg, want);
	fuse_reply_err(req, -ret);
}

/* .next is for reading. */
static void next_access(fuse_req_t req, const struct node *n, int mask)
{
	struct segment_info seg;
	int ret = fs_segment_of(n, &seg);

	if (ret == 0)
		ret = (mask & (W_OK | X_OK))
			      ? -EACCES
			      : check_access(req, &seg, (mask & R_OK) ? ACCESS_READ : 0);
	fuse_reply_err(req, -ret);
}

/* ---- open files ----------------------------------------------------------- */

/* An open being answered, after its O_TRUNC if it has one. */
struct opening {
	fuse_ino_t ino;
	struct fuse_file_info fi;
};

static void reply_opened(fuse_req_t req, fuse_ino_t ino, struct open_file *of,
			 struct fuse_file_info *fi)
{
	/* The caller is gone (interrupted): no release will come. */
	if (fuse_reply_open(req, fi) == -ENOENT) {
		kernel_features_release(req, ino, fi);
		open_file_close(fs_of(req), of);
	}
}

static void open_truncated(fuse_req_t req, struct open_file *of, int err, void *ctx)
{
	struct opening *o = ctx;

	if (err) {
		kernel_features_release(req, o->ino, &o->fi);
		open_file_close(fs_of(req), of);
		fuse_reply_err(req, -err);
	} else {
		reply_opened(req, o->ino, of, &o->fi);
	}
	free(o);
}

/* Open the node's segment: the caller's rights on it as it is now (so
 * nothing is attached for a caller refused), then its bytes: attach.c
 * attaches the node's lifetime, verifies what it holds, and the rights
 * are checked again on that, which decides.  What the open holds then
 * proves the node's lifetime (recorded at the first proof) or refutes
 * it (ESTALE): a look-alike never gets a proven node's files. */
static int open_bytes(fuse_req_t req, const struct node *n, struct fuse_file_info *fi, bool is_next,
		      struct open_file **of)
{
	struct shmfs *fs = fs_of(req);
	struct segment_info seg;
	/* The kernel has no write-only attach: writing needs read too. */
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	struct open_file_access acc = { req, ACCESS_READ | (writing ? ACCESS_WRITE : 0) };
	uid_t uid = fuse_req_ctx(req)->uid;
	/* A file of the lifetime the daemon keeps: one look, nothing attached. */
	int ret = open_file_kept(fs, &n->life, writing, is_next, uid, open_file_check_access, &acc,
				 of);

	if (ret != -EAGAIN)
		return ret; /* proven (0), or refused on what is held */
	ret = fs_segment_of(n, &seg);
	if (ret == 0)
		ret = check_access(req, &seg, acc.want);
	if (ret == 0)
		ret = open_file_new(fs, &n->life, writing, false, is_next, uid,
				    open_file_check_access, &acc, of);
	if (ret == 0) {
		ret = node_prove(fs->nodes, n->id, open_file_identity(*of));
		if (ret)
			open_file_close(fs, *of);
	}
	/* a look-alike has the shmid: the kernel's retry of the lookup
	 * (ESTALE) gets a node of its own */
	if (ret == -ESTALE)
		node_retire(fs->nodes, n->id);
	return ret;
}

static void open_common(fuse_req_t req, const struct node *n, struct fuse_file_info *fi,
			bool is_next)
{
	struct open_file *of;
	struct opening *o;
	int ret = open_bytes(req, n, fi, is_next, &of);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)of;
	/* Another process may write the segment at any moment: no page cache. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	/* Writes are done when they return: a close needs no FLUSH round
	 * trip (only names being created in by-key/ do, fs_create.c). */
	fi->noflush = 1;
	/* mmap of the segment's own file, writers in parallel (if offered);
	 * the node id is the lifetime's, so is a backing file shared by it */
	if (!is_next)
		ret = kernel_features_open(req, n->id, open_file_owner(of), open_file_fd(of), fi);
	if (ret) {
		open_file_close(fs_of(req), of); /* another lifetime's backing file: ESTALE */
		fuse_reply_err(req, -ret);
		return;
	}
	if (!(fi->flags & O_TRUNC)) {
		reply_opened(req, n->id, of, fi);
		return;
	}
	o = malloc(sizeof(*o));
	if (!o) {
		kernel_features_release(req, n->id, fi);
		open_file_close(fs_of(req), of);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*o = (struct opening){ .ino = n->id, .fi = *fi };
	/* replies when the zeroing is done (later, if the lock is busy) */
	open_file_truncate_then(req, of, 0, open_truncated, o);
}

static void segment_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	open_common(req, n, fi, false);
}

static void next_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	if ((fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY)
		fuse_reply_err(req, EACCES); /* .next is for reading */
	else
		open_common(req, n, fi, true);
}

static void segment_read(fuse_req_t req, const struct node *n, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	open_file_read(req, file_of(fi), size, off);
}

static void segment_write(fuse_req_t req, const struct node *n, const char *buf, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	open_file_write(req, file_of(fi), buf, size, off);
}

static void segment_poll(fuse_req_t req, const struct node *n, struct fuse_file_info *fi,
			 struct fuse_pollhandle *ph)
{
	open_file_poll(req, file_of(fi), ph);
}

static void segment_release(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	kernel_features_release(req, n->id, fi);
	open_file_close(fs_of(req), file_of(fi));
	fuse_reply_err(req, 0);
}

const struct fs_kind_ops fs_segment_ops = {
	.getattr = segment_getattr,
	.setattr = segment_setattr,
	.access = segment_access,
	.open = segment_open,
	.read = segment_read,
	.write = segment_write,
	.release = segment_release,
	.poll = segment_poll,
};

const struct fs_kind_ops fs_next_ops = {
	.getattr = segment_getattr,
	.access = next_access,
	.open = next_open,
	.read = segment_read,
	.write = segment_write,
	.release = segment_release,
	.poll = segment_poll,
};

/* ---- by-key/ links ---------------------------------------------------------- */

/* ../<shmid> or ../<shmid>.next: of the node's lifetime, while it lives. */
static void reply_link(fuse_req_t req, const struct node *n, enum name_kind to)
{
	char target[32] = "../";
	struct segment_info seg;
	int ret = fs_segment_of(n, &seg);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	names_format_root(target + 3, sizeof(target) - 3, to, seg.shmid);
	fuse_reply_readlink(req, target);
}

static void keylink_readlink(fuse_req_t req, const struct node *n)
{
	reply_link(req, n, NAME_SEGMENT);
}

static void nextlink_readlink(fuse_req_t req, const struct node *n)
{
	reply_link(req, n, NAME_NEXT);
}

/* A link is lrwxrwxrwx: anyone may follow it; for the rest, the rule of
 * the segment it leads to. */
static void link_access(fuse_req_t req, const struct node *n, int mask)
{
	if (mask & X_OK) {
		struct segment_info seg;

		fuse_reply_err(req, -fs_segment_of(n, &seg));
		return;
	}
	segment_access(req, n, mask);
}

const struct fs_kind_ops fs_keylink_ops = {
	.getattr = fs_segment_getattr,
	.access = link_access,
	.readlink = keylink_readlink,
};

const struct fs_kind_ops fs_nextlink_ops = {
	.getattr = fs_segment_getattr,
	.access = link_access,
	.readlink = nextlink_readlink,
};
