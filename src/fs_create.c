/* fs_create.c - names being created in by-key/, in the FUSE layer.
 *
 * The bookkeeping (whose a name is, the bytes gathered, the budgets,
 * what a close makes) is src/pending.c's; here are the requests.  The
 * making of the segment itself is fs_make.c's.  pending.c answers
 * PENDING_MAKE when a segment is to be made; fs_make_asked() makes it,
 * holding nothing of pending.c's, and reports back (pending_made()).
 * Nothing here waits while holding anything shared: the lock of the new
 * segment is tried, never waited for (EBUSY).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "attr.h"
#include "fs_caller.h"
#include "fs_create.h"
#include "fs_io.h"
#include "fs_kind.h"
#include "log.h"
#include "names.h"
#include "pending.h"

/* A file pending.c handed back at a name's last reference. */
static void let_go(struct shmfs *fs, void *file)
{
	if (file)
		open_file_close(fs, file);
}

/* The release of an open file of p: at its last open, a name never made
 * is made (pending_on_release()); then p's reference goes.  0 or the
 * making's -errno. */
static int release_name(struct shmfs *fs, struct pending *p)
{
	struct pending_make mk;
	int ret = pending_on_release(fs->pending, p, fs->opts.default_size, &mk);

	ret = fs_make_asked(fs, p, ret, &mk);
	let_go(fs, pending_unhold(fs->pending, p));
	return ret;
}

int fs_pending_init(struct shmfs *fs)
{
	fs->pending = pending_table_new(fs->opts.max_pending);
	return fs->pending ? 0 : -ENOMEM;
}

void fs_pending_free_all(struct shmfs *fs)
{
	/* The files of those made go with the other open files. */
	pending_table_free(fs->pending);
	fs->pending = NULL;
}

/* ---- attributes and rights ---------------------------------------------------- */

/* The identity of a name being created (node.h): its key, its creator
 * and pending.c's serial of this creation, so that a node names one
 * creation only (a file kept of a made name never reaches the same
 * user's next creation of the key). */
static struct segment_identity creation_life(const struct pending_info *info)
{
	return (struct segment_identity){ .shmid = info->key,
					  .cuid = info->cuid,
					  .size = info->serial };
}

/* The node of the segment a name made: its file's lifetime. */
static struct node made_node(struct open_file *of)
{
	return (struct node){ .kind = NAME_SEGMENT, .life = *open_file_identity(of) };
}

/* A name's attributes: its own until made, then the segment's as its
 * file shows it, as for any open segment file (fs_segment_as_open()), under
 * the inode the kernel already knows.  with_file: the request came with
 * a file of the name (else: fstat(2), which comes without). */
static int creation_attr(struct shmfs *fs, const struct pending_info *info, bool with_file,
			 struct stat *st)
{
	struct segment_identity life = creation_life(info);
	struct segment_info seg;
	int ret;

	memset(st, 0, sizeof(*st));
	if (info->shmid >= 0) {
		struct node n = made_node(info->file);

		ret = fs_segment_as_open(fs, &n, with_file ? info->file : NULL, &seg);
		if (ret)
			return ret;
		attr_of_segment(NAME_SEGMENT, &seg, st);
	} else {
		st->st_mode = S_IFREG | (info->mode & 0777);
		st->st_nlink = 1;
		st->st_uid = info->uid;
		st->st_gid = info->gid;
		st->st_size = info->len;
		st->st_blksize = sysconf(_SC_PAGESIZE);
		st->st_atime = st->st_mtime = st->st_ctime = time(NULL);
	}
	st->st_ino = node_ino_of(NAME_PENDING, &life);
	return 0;
}

/* The creator opening its name again: the kernel's rule, as if the
 * segment existed with the mode given at creation. */
static int creation_check_access(fuse_req_t req, const struct pending_info *info, int flags)
{
	struct segment_info seg = {
		.key = info->key,
		.shmid = -1,
		.mode = info->mode,
		.uid = info->uid,
		.gid = info->gid,
		.cuid = info->cuid,
		.cgid = info->cgid,
	};
	bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);

	return check_access(req, &seg, ACCESS_READ | (writing ? ACCESS_WRITE : 0));
}

/* The entry of a name being created: its node (one per key), counted as
 * the kernel's.  0 or -errno. */
static int creation_entry(struct shmfs *fs, const struct pending_info *info,
			  struct fuse_entry_param *e)
{
	struct segment_identity life = creation_life(info);
	struct node n;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = creation_attr(fs, info, false, &e->attr);
	if (ret == 0)
		ret = node_lookup(fs->nodes, NAME_PENDING, &life, &n);
	if (ret == 0)
		e->ino = n.id;
	return ret;
}

/* ---- names in by-key/ ---------------------------------------------------------- */

void fs_reply_pending_entry(fuse_req_t req, int32_t key)
{
	struct shmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct pending_info info;
	int ret = pending_find(fs->pending, key, fuse_req_ctx(req)->uid, &info);

	if (ret == 0)
		ret = creation_entry(fs, &info, &e);
	if (ret)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_entry(req, &e) != 0)
		node_forget(fs->nodes, e.ino, 1); /* the kernel never counted it */
}

/* Reply to an open of p (info as pending_get() saw it). */
static void reply_pending_open(fuse_req_t req, struct pending *p, const struct pending_info *info,
			       struct fuse_file_info *fi, bool create)
{
	struct shmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	int ret;

	fi->fh = (uintptr_t)p;
	fi->direct_io = 1;
	if (!create) {
		if (fuse_reply_open(req, fi) == -ENOENT)
			release_name(fs, p);
		return;
	}
	ret = creation_entry(fs, info, &e);
	if (ret) {
		let_go(fs, pending_put(fs->pending, p));
		fuse_reply_err(req, -ret);
		return;
	}
	/* the caller is gone: no release will come, the lookup not counted */
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		node_forget(fs->nodes, e.ino, 1);
		release_name(fs, p);
	}
}

/* Reply to an open or create of a name, pending_get() having answered
 * ret (p, info, created): a name that was there already is opened again
 * only as the kernel's rule on it allows. */
static void reply_pending_get(fuse_req_t req, int ret, struct pending *p,
			      const struct pending_info *info, bool created,
			      struct fuse_file_info *fi, bool create)
{
	struct shmfs *fs = fs_of(req);

	if (ret == 0 && !created) {
		ret = creation_check_access(req, info, fi->flags);
		if (ret)
			let_go(fs, pending_put(fs->pending, p));
	}
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_pending_open(req, p, info, fi, create);
}

void fs_pending_create(fuse_req_t req, const struct node *dir, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct pending_info info;
	struct pending *p = NULL;
	bool created;
	int32_t key;
	int ret;

	if (names_parse_bykey(name, &key) != NAME_KEYLINK || key == 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (segment_find_key(key) >= 0) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	/* mode: the kernel has applied the umask */
	ret = pending_get(fs->pending, key, ctx->uid, ctx->gid, mode & 0777, true, &p, &created,
			  &info);
	reply_pending_get(req, ret, p, &info, created, fi, true);
}

/* ---- the kind's requests ---------------------------------------------------------- */

static struct pending *creation_of(struct fuse_file_info *fi)
{
	return (struct pending *)(uintptr_t)fi->fh;
}

static void creation_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct pending_info info;
	struct pending *p = NULL;
	int ret;

	ret = pending_reopen(fs->pending, n->life.shmid, fuse_req_ctx(req)->uid, n->life.size, &p,
			     &info);
	reply_pending_get(req, ret, p, &info, false, fi, false);
}

static void creation_read(fuse_req_t req, const struct node *n, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	void *file;
	char *buf = malloc(size ? size : 1);
	size_t got;
	int ret;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* The file pending.c hands back lives until the name's last
	 * reference, which the caller's open file holds. */
	ret = pending_copy_out(fs->pending, creation_of(fi), buf, size, off, &got, &file);
	if (ret == PENDING_MADE)
		open_file_read(req, file, size, off);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

static void creation_write(fuse_req_t req, const struct node *n, const char *buf, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	void *file;
	int ret = pending_gather(fs->pending, creation_of(fi), buf, size, off, &file);

	if (ret == PENDING_MADE)
		open_file_write(req, file, buf, size, off);
	else if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

/* A setattr of a name, answered once its truncation (if any) is done. */
struct name_setattr {
	struct pending *p;
	bool held; /* by path: pending_hold(), let go once answered */
};

static void reply_name_attr(fuse_req_t req, struct name_setattr *ns, int ret)
{
	struct shmfs *fs = fs_of(req);
	struct pending_info info;
	struct stat st;

	if (ret == 0) {
		pending_info_of(fs->pending, ns->p, &info);
		ret = creation_attr(fs, &info, !ns->held, &st);
	}
	if (ns->held)
		let_go(fs, pending_unhold(fs->pending, ns->p));
	free(ns);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, 0);
}

static void made_truncated(fuse_req_t req, struct open_file *of, int err, void *ctx)
{
	reply_name_attr(req, ctx, err);
}

/* chmod, chown or truncate of the segment a name made: as for any open
 * segment file, on its file's lifetime only (never on whatever has the
 * shmid now).  The truncation takes the segment's lock: answered now, or
 * parked until the lock frees (never waited for here). */
static void setattr_made(fuse_req_t req, struct name_setattr *ns, struct open_file *of,
			 struct stat *attr, int to_set)
{
	struct node n = made_node(of);
	int ret = 0;

	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		ret = fs_segment_change_perm(req, &n, attr, to_set);
	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		if ((uint64_t)attr->st_size > open_file_size(of)) {
			ret = -EFBIG;
		} else {
			open_file_truncate_then(req, of, attr->st_size, made_truncated, ns);
			return;
		}
	}
	reply_name_attr(req, ns, ret);
}

static void change_of(const struct stat *attr, int to_set, struct pending_change *c)
{
	*c = (struct pending_change){
		.mode = attr->st_mode,
		.uid = attr->st_uid,
		.gid = attr->st_gid,
		.size = attr->st_size < 0 ? UINT64_MAX : (uint64_t)attr->st_size,
	};
	c->what = ((to_set & FUSE_SET_ATTR_MODE) ? PENDING_SET_MODE : 0) |
		  ((to_set & FUSE_SET_ATTR_UID) ? PENDING_SET_UID : 0) |
		  ((to_set & FUSE_SET_ATTR_GID) ? PENDING_SET_GID : 0) |
		  ((to_set & FUSE_SET_ATTR_SIZE) ? PENDING_SET_SIZE : 0) |
		  ((to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			      FUSE_SET_ATTR_MTIME_NOW))
			   ? PENDING_SET_TOUCH
			   : 0);
}

/* chmod, chown, truncate or touch of a name being created: by path, the
 * caller's own name (others find none); through a descriptor, only its
 * creator or root (pending.c's rule).  Replies at once, or once a
 * truncation's lock is had. */
static void creation_setattr(fuse_req_t req, const struct node *n, struct stat *attr, int to_set,
			     struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	uid_t uid = fuse_req_ctx(req)->uid;
	struct name_setattr *ns = calloc(1, sizeof(*ns));
	struct pending_change c;
	struct pending_make mk;
	void *file;
	int ret = 0;

	if (!ns) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	change_of(attr, to_set, &c);
	if (fi && fi->fh) {
		ns->p = creation_of(fi);
	} else {
		ret = pending_hold(fs->pending, n->life.shmid, uid, n->life.size, &ns->p);
		ns->held = ret == 0;
	}
	if (ret == 0)
		ret = fs_make_asked(fs, ns->p,
				    pending_change(fs->pending, ns->p, uid, &c,
						   fs->opts.default_size, &file, &mk),
				    &mk);
	if (ret == PENDING_MADE) {
		/* the file lives while the name is held (by fi, or ns->held) */
		setattr_made(req, ns, file, attr, to_set);
		return;
	}
	reply_name_attr(req, ns, ret);
}

static void creation_flush(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct pending *p = creation_of(fi);
	struct pending_make mk;
	int ret = pending_on_flush(fs->pending, p, fs->opts.default_size, &mk);

	fuse_reply_err(req, -fs_make_asked(fs, p, ret, &mk));
}

static void creation_release(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	int ret = release_name(fs, creation_of(fi));

	if (ret)
		log_warning("shmfs: could not create key 0x%08x at its last close: %s\n",
			    (unsigned int)n->life.shmid, strerror(-ret));
	fuse_reply_err(req, 0);
}

/* What the name is: through a descriptor, the file's; by path, the
 * caller's own name (others find none). */
static int creation_stat(fuse_req_t req, const struct node *n, struct fuse_file_info *fi,
			 struct stat *st)
{
	struct shmfs *fs = fs_of(req);
	struct pending_info info;
	struct pending *p;
	int ret = 0;

	if (fi && fi->fh) {
		pending_info_of(fs->pending, creation_of(fi), &info);
		return creation_attr(fs, &info, true, st);
	} else {
		/* fstat(2) comes without its file: a made name too */
		ret = pending_hold(fs->pending, n->life.shmid, fuse_req_ctx(req)->uid, n->life.size,
				   &p);
		if (ret)
			return ret;
		pending_info_of(fs->pending, p, &info);
		ret = creation_attr(fs, &info, false, st);
		let_go(fs, pending_unhold(fs->pending, p));
	}
	return ret;
}

static void creation_getattr(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	struct stat st;
	int ret = creation_stat(req, n, fi, &st);

	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, 0);
}

static void creation_access(fuse_req_t req, const struct node *n, int mask)
{
	struct stat st;
	int ret = creation_stat(req, n, NULL, &st);

	fuse_reply_err(req, ret ? -ret : (mask & X_OK) ? EACCES : 0);
}

const struct fs_kind_ops fs_pending_ops = {
	.getattr = creation_getattr,
	.setattr = creation_setattr,
	.access = creation_access,
	.open = creation_open,
	.read = creation_read,
	.write = creation_write,
	.flush = creation_flush,
	.release = creation_release,
};
