/* fs_text.c - the text files of a segment: <shmid>.stat (the sidecar) and
 * <shmid>.procs.  Each is rendered whole at its open, so every read of an
 * open file is one consistent snapshot (lxcfs's idiom). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "budget.h"
#include "fs_caller.h"
#include "fs_io.h"
#include "fs_kind.h"
#include "kernel_features.h"
#include "lockstate.h"
#include "orphan.h"
#include "procs.h"
#include "sidecar.h"

_Static_assert(WATCH_SET_LOST == SIDECAR_SET_REMOVED, "a lost set shows as removed");

/* One open text file. */
struct open_text {
	LIST_ENTRY(open_text) link; /* in fs->texts */
	size_t len;
	char *text;
	fuse_ino_t parallel; /* its node, if kernel_features_open()ed; else 0 */
	bool truncated;	     /* opened with O_TRUNC (the kernel's f_flags forget it) */
	uid_t uid;	     /* whose text_bytes budget it counts in: cost */
	size_t cost;
};

static struct open_text *text_of(struct fuse_file_info *fi)
{
	return (struct open_text *)(uintptr_t)fi->fh;
}

static void open_text_free(struct shmfs *fs, struct open_text *t)
{
	pthread_mutex_lock(&fs->texts_lock);
	LIST_REMOVE(t, link);
	pthread_mutex_unlock(&fs->texts_lock);
	budget_give_n(fs->text_bytes, t->uid, t->cost);
	free(t->text);
	free(t);
}

void fs_texts_free_all(struct shmfs *fs)
{
	while (!LIST_EMPTY(&fs->texts))
		open_text_free(fs, LIST_FIRST(&fs->texts));
}

/* Reply to the open with the text (taken over): a file of its own; with
 * parallel, the node's writes reach the daemon in parallel if the kernel
 * offers it (kernel_features_open()).  Held open, the text is the
 * caller's user's to pay for (text_bytes): past its share the open fails
 * with ENOMEM, and the other users' opens go on. */
static void reply_text_open(fuse_req_t req, fuse_ino_t parallel, char *text, size_t len,
			    struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	uid_t uid = fuse_req_ctx(req)->uid;
	size_t cost = len + SHMFS_TEXT_OPEN_COST;
	struct open_text *t = NULL;

	if (budget_take_n(fs->text_bytes, uid, cost)) {
		t = calloc(1, sizeof(*t));
		if (!t)
			budget_give_n(fs->text_bytes, uid, cost);
	}
	if (!t) {
		free(text);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	t->uid = uid;
	t->cost = cost;
	t->text = text;
	t->len = len;
	t->truncated = fi->flags & O_TRUNC;
	pthread_mutex_lock(&fs->texts_lock);
	LIST_INSERT_HEAD(&fs->texts, t, link);
	pthread_mutex_unlock(&fs->texts_lock);
	fi->fh = (uintptr_t)t;
	fi->direct_io = 1;
	fi->noflush = 1; /* nothing to do at close: no FLUSH round trip */
	if (parallel && kernel_features_open(req, parallel, t, -1, fi) == 0)
		t->parallel = parallel; /* fd -1: no backing file, never -ESTALE */
	/* The caller is gone (interrupted): no release will come. */
	if (fuse_reply_open(req, fi) == -ENOENT) {
		if (t->parallel)
			kernel_features_release(req, t->parallel, fi);
		open_text_free(fs, t);
	}
}

void fs_reply_text_open(fuse_req_t req, char *text, size_t len, struct fuse_file_info *fi)
{
	reply_text_open(req, 0, text, len, fi);
}

void fs_reply_text_open_parallel(fuse_req_t req, fuse_ino_t ino, char *text, size_t len,
				 struct fuse_file_info *fi)
{
	reply_text_open(req, ino, text, len, fi);
}

bool fs_text_truncated(struct fuse_file_info *fi)
{
	return text_of(fi)->truncated;
}

void fs_text_read(fuse_req_t req, const struct node *n, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	reply_buffer_read(req, text_of(fi)->text, text_of(fi)->len, size, off);
}

void fs_text_release(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	if (text_of(fi)->parallel)
		kernel_features_release(req, text_of(fi)->parallel, fi);
	open_text_free(fs_of(req), text_of(fi));
	fuse_reply_err(req, 0);
}

/* ---- the sidecar ---------------------------------------------------------- */

/* Whether the caller may see set semid's values (access_set_perm()). */
static bool set_visible(fuse_req_t req, int semid)
{
	struct semset_state set;
	struct segment_info perm;

	if (semid < 0 || lockstate_read_set(semid, &set) != 0)
		return false;
	access_set_perm(&set, &perm);
	return check_access(req, &perm, ACCESS_READ) == 0;
}

/* The sidecar of seg as the caller may see it, into buf: its length or
 * -errno.  Looking creates nothing: the sets named are those that
 * exist. */
static int render_sidecar(fuse_req_t req, struct segment_info *seg, char *buf, size_t size)
{
	struct shmfs *fs = fs_of(req);
	struct lock_state lock;
	unsigned int queued = 0;
	int semid = lock_table_current(fs->locks, seg, &lock, &queued);
	struct sidecar_locks locks = { .lock_semid = semid,
				       .notify_semid = watch_notify_semid(fs->watches, seg) };
	struct notify_state notify;
	struct orphan_verdict verdict;

	/* rss and swap: from the table's shared snapshot, not a read of the
	 * table per sidecar. */
	listing_usage(fs->listings, seg);
	if (semid == LOCK_PRIVATE) {
		/* the daemon's own lock: shown to those who may read the segment */
		locks.lock_private = true;
		if (check_access(req, seg, ACCESS_READ) == 0) {
			locks.lock = &lock;
			locks.lock_queued = queued;
		}
	} else if (set_visible(req, semid) && lockstate_read_lock(semid, &lock) == 0) {
		locks.lock = &lock;
		locks.lock_queued = (unsigned int)lockwait_count_set(fs->waits, semid);
	}
	if (set_visible(req, locks.notify_semid) &&
	    lockstate_read_notify(locks.notify_semid, &notify) == 0)
		locks.notify = &notify;
	/* Whether its creator still runs: the daemon's /proc, which tells
	 * no one more than kill(cpid, 0) would (orphan.h). */
	orphan_judge_segment(seg, &verdict);
	return sidecar_render(seg, &locks, &verdict, buf, size);
}

/* A sidecar's size is the length of its text for this caller now, so
 * that tar and rsync, which copy st_size bytes, save all of it.  Never
 * cached by the kernel: the text changes (reading the segment file sets
 * lpid, atime and dtime; rss and swap follow the table), and callers who
 * may not read a lock set see its values as -. */
/* Its size is its text's, rendered now; never kept (attr_uncached()). */
static void sidecar_getattr(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	char text[SIDECAR_MAX];
	struct segment_info seg;
	struct stat st;
	int len, ret = fs_segment_of(n, &seg);

	(void)fi;
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	attr_of_segment(n->kind, &seg, &st);
	len = render_sidecar(req, &seg, text, sizeof(text));
	st.st_size = len > 0 ? len : 0;
	fuse_reply_attr(req, &st, 0);
}

static void sidecar_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	struct segment_info seg;
	char *text = NULL;
	int ret = fs_segment_of(n, &seg);

	/* Writing is SHM_LOCK/SHM_UNLOCK: the kernel's rule and errno. */
	if (ret == 0 && (fi->flags & O_ACCMODE) != O_RDONLY)
		ret = check_owner(req, &seg);
	if (ret == 0)
		ret = (text = malloc(SIDECAR_MAX)) ? 0 : -ENOMEM;
	if (ret == 0)
		ret = render_sidecar(req, &seg, text, SIDECAR_MAX);
	if (ret < 0) {
		free(text);
		fuse_reply_err(req, -ret);
		return;
	}
	fs_reply_text_open(req, text, (size_t)ret, fi);
}

/* SHM_LOCK/SHM_UNLOCK as the caller: answered when the child that makes
 * it answers, or is killed for not answering (helper.h); never waited for
 * here. */
struct lock_command {
	struct helper_call c; /* first: the helpers hand it back */
	fuse_req_t req;
	struct shmfs *fs;
	struct identity_pin pin; /* the segment whose owner was checked, until done */
	size_t size;
};

static void lock_command_done(struct helper_call *c, int err)
{
	struct lock_command *lc = (struct lock_command *)c;

	attach_unpin(lc->fs->attaches, &lc->pin);
	if (err)
		fuse_reply_err(lc->req, err == -ESHUTDOWN ? EINTR : -err);
	else
		fuse_reply_write(lc->req, lc->size);
	free(lc);
}

/* "lock" or "unlock": SHM_LOCK or SHM_UNLOCK as the caller (its
 * RLIMIT_MEMLOCK, charged to it), by the owner, creator or root. */
static void sidecar_write(fuse_req_t req, const struct node *n, const char *buf, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct lock_command *lc = NULL;
	struct segment_info seg;
	enum sidecar_command cmd;
	int ret = sidecar_parse_command(buf, size, &cmd);

	if (ret == 0)
		ret = fs_segment_of(n, &seg);
	if (ret == 0)
		ret = (lc = calloc(1, sizeof(*lc))) ? 0 : -ENOMEM;
	/* pinned: the call reaches the node's lifetime, whose owner is checked */
	if (ret == 0)
		ret = attach_pin(fs_of(req)->attaches, &n->life, &lc->pin);
	if (ret == 0) {
		ret = check_owner(req, &lc->pin.held);
		lc->c = (struct helper_call){ .shmid = lc->pin.held.shmid,
					      .locked = cmd == SIDECAR_CMD_LOCK,
					      .caller = { ctx->uid, ctx->gid, ctx->pid },
					      .done = lock_command_done };
		lc->req = req;
		lc->fs = fs_of(req);
		lc->size = size;
		if (ret == 0)
			ret = helper_set_locked_as(fs_of(req)->helpers, &lc->c);
		if (ret == HELPER_STARTED)
			return;
		attach_unpin(fs_of(req)->attaches, &lc->pin);
	}
	free(lc);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

static void sidecar_access(fuse_req_t req, const struct node *n, int mask)
{
	struct segment_info seg;
	int ret = fs_segment_of(n, &seg);

	if (ret == 0 && (mask & X_OK))
		ret = -EACCES;
	/* Writing it is the owner's (SHM_LOCK): refused as access(2) says. */
	if (ret == 0 && (mask & W_OK))
		ret = check_owner(req, &seg) ? -EACCES : 0;
	fuse_reply_err(req, -ret);
}

const struct fs_kind_ops fs_sidecar_ops = {
	.getattr = sidecar_getattr,
	.access = sidecar_access,
	.open = sidecar_open,
	.read = fs_text_read,
	.write = sidecar_write,
	.release = fs_text_release,
};

/* ---- <shmid>.procs ------------------------------------------------------ */

/* Rendered as the caller may see it: procs.h has the rule. */
static void procs_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct procs_caller caller = { .uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid };
	struct segment_info seg;
	char *text = NULL;
	size_t len = 0;
	int ret;

	if ((fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ret = fs_segment_of(n, &seg);
	if (ret == 0)
		ret = procs_render_bounded(fs_of(req)->procs, seg.shmid, seg.nattch, &caller, &text,
					   &len);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fs_reply_text_open(req, text, len, fi);
}

static void procs_access(fuse_req_t req, const struct node *n, int mask)
{
	struct segment_info seg;
	int ret = fs_segment_of(n, &seg);

	fuse_reply_err(req, ret ? -ret : (mask & (W_OK | X_OK)) ? EACCES : 0);
}

const struct fs_kind_ops fs_procs_ops = {
	.getattr = fs_segment_getattr,
	.access = procs_access,
	.open = procs_open,
	.read = fs_text_read,
	.release = fs_text_release,
};
