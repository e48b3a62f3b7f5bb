/* fs.c - the FUSE low-level operations: requests in, dispatch, replies out.
 *
 * Every request on a node is decoded here once: its node id becomes a
 * struct node (node.h: the node table, or one of the two directories),
 * and the request goes to the operations of the node's kind (fs_kind.h).
 * A kind's operations are in fs_dir.c, fs_segment.c, fs_text.c and
 * fs_create.c; how the modules behind them work is their business.
 */
#include <errno.h>
#include <poll.h>
#include <sys/statvfs.h>

#include "fs.h"
#include "fs_create.h"
#include "fs_io.h"
#include "fs_kind.h"
#include "fs_views.h"
#include "kernel_features.h"
#include "log.h"
#include "shm_usage.h"

/* One table of operations per kind of name (views: add yours here). */
static const struct fs_kind_ops *const fs_kinds[NAME_KINDS] = {
	[NAME_ROOT] = &fs_root_ops,
	[NAME_BYKEY] = &fs_bykey_ops,
	[NAME_SEGMENT] = &fs_segment_ops,
	[NAME_NEXT] = &fs_next_ops,
	[NAME_SIDECAR] = &fs_sidecar_ops,
	[NAME_PROCS] = &fs_procs_ops,
	[NAME_KEYLINK] = &fs_keylink_ops,
	[NAME_NEXTLINK] = &fs_nextlink_ops,
	[NAME_PENDING] = &fs_pending_ops,
	[NAME_SEMS] = &fs_view_top_ops,
	[NAME_MSGS] = &fs_view_top_ops,
	[NAME_SEM_BYKEY] = &fs_view_bykey_ops,
	[NAME_MSG_BYKEY] = &fs_view_bykey_ops,
	[NAME_SEMSET] = &fs_view_object_ops,
	[NAME_MSGQ] = &fs_view_object_ops,
	[NAME_SEM_KEYLINK] = &fs_view_keylink_ops,
	[NAME_MSG_KEYLINK] = &fs_view_keylink_ops,
	[NAME_SEMSET_STAT] = &fs_semset_stat_ops,
	[NAME_SEMAPHORE] = &fs_semaphore_ops,
	[NAME_MSGQ_STAT] = &fs_msgq_stat_ops,
	[NAME_MESSAGE] = &fs_message_ops,
};

const struct fs_kind_ops *fs_kind(enum name_kind kind)
{
	return kind > NAME_NONE && kind < NAME_KINDS ? fs_kinds[kind] : NULL;
}

/* The node of ino and its kind's operations; NULL (with ENOENT replied)
 * for an id the table does not hold (the kernel forgot it). */
static const struct fs_kind_ops *decode(fuse_req_t req, fuse_ino_t ino, struct node *n)
{
	const struct fs_kind_ops *ops;

	if (ino == NODE_ROOT_ID || ino == NODE_BYKEY_ID)
		*n = (struct node){ .id = ino,
				    .kind = ino == NODE_ROOT_ID ? NAME_ROOT : NAME_BYKEY };
	else if (node_get(fs_of(req)->nodes, ino, n) != 0)
		n->kind = NAME_NONE;
	ops = fs_kind(n->kind);
	if (!ops)
		fuse_reply_err(req, ENOENT);
	return ops;
}

/* ---- names in a directory ----------------------------------------------- */

static void shmfs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node dir;
	const struct fs_kind_ops *ops = decode(req, parent, &dir);

	if (ops && ops->lookup)
		ops->lookup(req, &dir, name);
	else if (ops)
		fuse_reply_err(req, ENOENT);
}

static void shmfs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(fs_of(req)->nodes, ino, nlookup);
	fuse_reply_none(req);
}

static void shmfs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(fs_of(req)->nodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void shmfs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			    struct fuse_file_info *fi)
{
	struct node dir;
	const struct fs_kind_ops *ops = decode(req, parent, &dir);

	if (ops && ops->create)
		ops->create(req, &dir, name, mode, fi);
	else if (ops)
		fuse_reply_err(req, ENOENT);
}

static void shmfs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node dir;
	const struct fs_kind_ops *ops = decode(req, parent, &dir);

	if (ops && ops->unlink)
		ops->unlink(req, &dir, name);
	else if (ops)
		fuse_reply_err(req, ENOENT);
}

/* ---- attributes ------------------------------------------------------------ */

static void shmfs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops)
		ops->getattr(req, &n, fi);
}

static void shmfs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			     struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops && ops->setattr)
		ops->setattr(req, &n, attr, to_set, fi);
	else if (ops)
		fuse_reply_err(req, EPERM);
}

static void shmfs_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops && ops->readlink)
		ops->readlink(req, &n);
	else if (ops)
		fuse_reply_err(req, EINVAL);
}

static void shmfs_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops)
		ops->access(req, &n, mask);
}

/* ---- directories ---------------------------------------------------------- */

static void shmfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops && ops->opendir)
		ops->opendir(req, &n, fi);
	else if (ops)
		fuse_reply_err(req, ENOTDIR);
}

static void shmfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			     struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops)
		ops->readdir(req, &n, size, off, fi, false);
}

static void shmfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
				 struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops)
		ops->readdir(req, &n, size, off, fi, true);
}

static void shmfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops)
		ops->releasedir(req, &n, fi);
}

/* ---- files ------------------------------------------------------------------ */

static void shmfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops && ops->open)
		ops->open(req, &n, fi);
	else if (ops)
		fuse_reply_err(req, EINVAL);
}

static void shmfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops)
		ops->read(req, &n, size, off, fi);
}

static void shmfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops && ops->write)
		ops->write(req, &n, buf, size, off, fi);
	else if (ops)
		fuse_reply_err(req, EBADF);
}

static void shmfs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops && ops->flush)
		ops->flush(req, &n, fi);
	else if (ops)
		fuse_reply_err(req, 0);
}

static void shmfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops && ops->release)
		ops->release(req, &n, fi);
	else if (ops)
		fuse_reply_err(req, 0);
}

static void shmfs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	/* Shared memory has no backing store to flush to. */
	fuse_reply_err(req, 0);
}

static void shmfs_ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
			  struct fuse_pollhandle *ph)
{
	struct node n;
	const struct fs_kind_ops *ops = decode(req, ino, &n);

	if (ops && ops->poll) {
		ops->poll(req, &n, fi, ph);
		return;
	}
	if (ph)
		fuse_pollhandle_destroy(ph);
	/* sidecars and names being created are always ready */
	if (ops)
		fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
}

/* ---- what is refused -------------------------------------------------------- */

static void shmfs_ll_refuse(fuse_req_t req)
{
	/* The names are the kernel's: nothing can be made, moved or linked. */
	fuse_reply_err(req, EPERM);
}

static void shmfs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			   dev_t rdev)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node dir;
	const struct fs_kind_ops *ops = decode(req, parent, &dir);

	/* Only a set's or a queue's directory goes (IPC_RMID). */
	if (ops && ops->rmdir)
		ops->rmdir(req, &dir, name);
	else if (ops)
		shmfs_ll_refuse(req);
}

static void shmfs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			      size_t size, int flags)
{
	fuse_reply_err(req, ENOTSUP);
}

/* The namespace's shared memory: kernel.shmall and the pages in use,
 * kernel.shmmni and the segments (shm_usage.h). */
static void shmfs_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct shm_usage usage;
	struct statvfs st;
	int ret = shm_usage_read(&usage);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	shm_usage_statvfs(&usage, &st);
	fuse_reply_statfs(req, &st);
}

/* ---- lifecycle -------------------------------------------------------------- */

/* The features asked of the kernel.  Everything the session needs was
 * made before it started (main.c): nothing here can fail. */
static void shmfs_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct shmfs *fs = userdata;

	/* open(O_TRUNC) arrives as one open, zero-filled under the lock. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->max_write = ATTACH_MAX_COPY;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	kernel_features_init(conn);
	/* A link's node is one lifetime, whose target never changes: the
	 * kernel may keep it, and an `ls -l by-key` costs no readlink each. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE) {
		conn->want |= FUSE_CAP_SPLICE_WRITE;
		daemon_enable_splice(fs);
	}
}

static void shmfs_ll_destroy(void *userdata)
{
	struct shmfs *fs = userdata;

	shmfs_stop_waits(fs); /* done already when main() ran the session */
	/* Files still open at unmount: their releases never come. */
	fs_pending_free_all(fs);
	open_files_close_all(fs);
	fs_texts_free_all(fs);
	fs_dirs_free_all(fs);
}

const struct fuse_lowlevel_ops shmfs_ll_ops = {
	.init = shmfs_ll_init,
	.destroy = shmfs_ll_destroy,
	.lookup = shmfs_ll_lookup,
	.forget = shmfs_ll_forget,
	.forget_multi = shmfs_ll_forget_multi,
	.getattr = shmfs_ll_getattr,
	.setattr = shmfs_ll_setattr,
	.readlink = shmfs_ll_readlink,
	.access = shmfs_ll_access,
	.mknod = shmfs_ll_mknod,
	.mkdir = shmfs_ll_mkdir,
	.unlink = shmfs_ll_unlink,
	.rmdir = shmfs_ll_rmdir,
	.symlink = shmfs_ll_symlink,
	.rename = shmfs_ll_rename,
	.link = shmfs_ll_link,
	.create = shmfs_ll_create,
	.open = shmfs_ll_open,
	.read = shmfs_ll_read,
	.write = shmfs_ll_write,
	.flush = shmfs_ll_flush,
	.release = shmfs_ll_release,
	.fsync = shmfs_ll_fsync,
	.opendir = shmfs_ll_opendir,
	.readdir = shmfs_ll_readdir,
	.readdirplus = shmfs_ll_readdirplus,
	.releasedir = shmfs_ll_releasedir,
	.statfs = shmfs_ll_statfs,
	.poll = shmfs_ll_poll,
	.setxattr = shmfs_ll_setxattr,
};
