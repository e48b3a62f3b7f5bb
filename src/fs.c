/* fs.c - the FUSE low-level operations: requests in, module calls, replies out.
 *
 * Every handler reads as: parse the name or inode, check the caller, do
 * the thing through segment/lock/sidecar/access, reply.  How any of those
 * work inside is their business.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "access.h"
#include "attr.h"
#include "fs.h"
#include "fs_caller.h"
#include "fs_create.h"
#include "fs_io.h"
#include "kernel_features.h"
#include "listing.h"
#include "log.h"
#include "lockstate.h"
#include "lockwait.h"
#include "names.h"
#include "orphan.h"
#include "procs.h"
#include "shm_usage.h"
#include "sidecar.h"

_Static_assert(WATCH_SET_LOST == SIDECAR_SET_REMOVED, "a lost set shows as removed");

/* The directories never change: the kernel may keep them this long. */
#define DIR_TIMEOUT_S 3600

static void fill_entry(struct shmfs *fs, enum name_kind kind, const struct segment_info *seg,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	attr_of_segment(kind, seg, &e->attr);
	e->ino = e->attr.st_ino;
	e->generation = segment_generation(seg);
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.entry_timeout;
}

static void fill_dir_entry(struct shmfs *fs, fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	attr_of_dir(&fs->dirs, ino, &e->attr);
	e->ino = ino;
	e->attr_timeout = e->entry_timeout = DIR_TIMEOUT_S;
}

/* One open sidecar: rendered once at open, so every read of it is one
 * consistent snapshot (lxcfs's idiom). */
struct open_sidecar {
	LIST_ENTRY(open_sidecar) link;
	int shmid;
	size_t len;
	char text[SIDECAR_MAX];
};

static pthread_mutex_t sidecars_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, open_sidecar) open_sidecars = LIST_HEAD_INITIALIZER(open_sidecars);

static void open_sidecar_free(struct open_sidecar *sc)
{
	pthread_mutex_lock(&sidecars_lock);
	LIST_REMOVE(sc, link);
	pthread_mutex_unlock(&sidecars_lock);
	free(sc);
}

static void open_sidecars_free_all(void)
{
	while (!LIST_EMPTY(&open_sidecars))
		open_sidecar_free(LIST_FIRST(&open_sidecars));
}

static void sidecar_size(fuse_req_t req, struct segment_info *seg, struct stat *st,
			 double *timeout);

/* One open <shmid>.procs: rendered at open, as the sidecar. */
struct open_procs {
	LIST_ENTRY(open_procs) link;
	char *text;
	size_t len;
};

static LIST_HEAD(, open_procs) open_procs_files = LIST_HEAD_INITIALIZER(open_procs_files);

static void open_procs_free(struct open_procs *op)
{
	pthread_mutex_lock(&sidecars_lock);
	LIST_REMOVE(op, link);
	pthread_mutex_unlock(&sidecars_lock);
	free(op->text);
	free(op);
}

static void open_procs_free_all(void)
{
	while (!LIST_EMPTY(&open_procs_files))
		open_procs_free(LIST_FIRST(&open_procs_files));
}

/* The table's snapshots, shared by directory handles and sidecars. */
static struct listing_cache *listings;

/* One open directory: a snapshot taken at opendir, shared with every
 * handle whose listing is the same. */
struct open_dir {
	struct listing *snap;
	uid_t uid;
};

/* ---- lookup and attributes -------------------------------------------- */

static void shmfs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct shmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct segment_info seg;
	enum name_kind kind;
	int shmid, ret;
	int32_t key;

	if (parent == NAMES_ROOT_INO && strcmp(name, NAMES_BYKEY_NAME) == 0) {
		fill_dir_entry(fs, NAMES_BYKEY_INO, &e);
		fuse_reply_entry(req, &e);
		return;
	}
	if (parent == NAMES_ROOT_INO) {
		kind = names_parse_root(name, &shmid);
		if (kind == NAME_NONE) {
			fuse_reply_err(req, ENOENT);
			return;
		}
	} else if (parent == NAMES_BYKEY_INO) {
		kind = names_parse_bykey(name, &key);
		if (kind == NAME_NONE || key == 0) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		shmid = segment_find_key(key);
		if (shmid < 0) {
			ret = kind == NAME_KEYLINK
				      ? lookup_pending(fs, key, fuse_req_ctx(req)->uid, &e)
				      : -ENOENT;
			if (ret)
				fuse_reply_err(req, -ret);
			else
				fuse_reply_entry(req, &e);
			return;
		}
	} else {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fill_entry(fs, kind, &seg, &e);
	if (kind == NAME_SIDECAR)
		sidecar_size(req, &seg, &e.attr, &e.attr_timeout);
	fuse_reply_entry(req, &e);
}

static void shmfs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* Inode numbers are computed from shmids: there is nothing to free. */
	fuse_reply_none(req);
}

static void shmfs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

static void shmfs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct segment_info seg;
	struct stat st;
	double timeout;
	enum name_kind kind;
	int shmid, ret;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		attr_of_dir(&fs->dirs, ino, &st);
		fuse_reply_attr(req, &st, DIR_TIMEOUT_S);
		return;
	}
	kind = names_ino_decode(ino, &shmid);
	if (kind == NAME_NONE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (kind == NAME_PENDING) {
		ret = pending_getattr(fs, shmid, fuse_req_ctx(req)->uid, fi, &st);
		if (ret)
			fuse_reply_err(req, -ret);
		else
			fuse_reply_attr(req, &st, 0);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	attr_of_segment(kind, &seg, &st);
	timeout = fs->opts.attr_timeout;
	if (kind == NAME_SIDECAR)
		sidecar_size(req, &seg, &st, &timeout);
	fuse_reply_attr(req, &st, timeout);
}

/* After a truncation: the attributes as they are now.  A file opened for
 * it alone (truncate(2) without an open file) is closed. */
struct truncated {
	int shmid;
	bool own_file;
};

static void reply_segment_attr(fuse_req_t req, int shmid)
{
	struct segment_info seg;
	struct stat st;
	int ret = segment_stat(shmid, false, &seg);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	attr_of_segment(NAME_SEGMENT, &seg, &st);
	fuse_reply_attr(req, &st, fs_of(req)->opts.attr_timeout);
}

static void setattr_truncated(fuse_req_t req, struct open_file *of, int err, void *ctx)
{
	struct truncated *t = ctx;

	if (t->own_file)
		open_file_close(fs_of(req), of);
	if (err)
		fuse_reply_err(req, -err);
	else
		reply_segment_attr(req, t->shmid);
	free(t);
}

struct perm_change {
	fuse_req_t req;
	struct shmfs *fs;
	const struct stat *attr;
	int to_set;
};

/* IPC_SET of the segment held, if the caller owns it (attach_act()). */
static int set_perm_act(const struct identity_pin *pin, void *ctx)
{
	const struct perm_change *c = ctx;
	const struct segment_info *seg = &pin->held;
	struct segment_info now;
	int ret = check_owner(c->req, seg);

	if (ret)
		return ret;
	/* IPC_SET keeps only the permission bits; so do we. */
	ret = segment_set_perm(seg->shmid,
			       (c->to_set & FUSE_SET_ATTR_UID) ? c->attr->st_uid : seg->uid,
			       (c->to_set & FUSE_SET_ATTR_GID) ? c->attr->st_gid : seg->gid,
			       (c->to_set & FUSE_SET_ATTR_MODE) ? c->attr->st_mode : seg->mode);
	/* The sets shmfs made for it follow at once. */
	if (ret == 0 && segment_stat(seg->shmid, false, &now) == 0)
		watch_set_perm(c->fs->watches, &pin->id, &now);
	return ret;
}

static void shmfs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			     struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct segment_info seg;
	int shmid, ret;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (names_ino_decode(ino, &shmid) == NAME_PENDING) {
		pending_setattr(req, shmid, fi, attr, to_set);
		return;
	}
	if (names_ino_decode(ino, &shmid) != NAME_SEGMENT) {
		fuse_reply_err(req, names_ino_decode(ino, &shmid) == NAME_NONE ? ENOENT : EPERM);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret)
		goto out_err;

	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		struct perm_change change = { req, fs, attr, to_set };
		struct segment_identity expected;

		identity_weak(&seg, &expected);
		ret = attach_act(fs->attaches, &expected, set_perm_act, &change);
		if (ret)
			goto out_err;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct truncated *t;
		struct open_file *of;

		if ((uint64_t)attr->st_size > seg.size) {
			ret = -EFBIG;
			goto out_err;
		}
		t = calloc(1, sizeof(*t));
		if (!t) {
			ret = -ENOMEM;
			goto out_err;
		}
		t->shmid = shmid;
		if (fi && fi->fh) {
			of = (struct open_file *)(uintptr_t)fi->fh;
		} else {
			struct open_file_access acc = { req, ACCESS_READ | ACCESS_WRITE };
			struct segment_identity expected;

			identity_weak(&seg, &expected);
			/* checked before, to attach nothing for a caller refused, and
			 * on what the attach holds, which decides */
			ret = check_access(req, &seg, acc.want);
			if (ret == 0)
				ret = open_file_new(fs, &expected, true, false, false,
						    fuse_req_ctx(req)->uid, open_file_check_access,
						    &acc, &of);
			if (ret) {
				free(t);
				goto out_err;
			}
			t->own_file = true;
		}
		/* replies when the zeroing is done (later, if the lock is busy) */
		open_file_truncate_then(req, of, attr->st_size, setattr_truncated, t);
		return;
	}
	/* Times (touch) are the kernel's to keep: accepted, not changed. */
	reply_segment_attr(req, shmid);
	return;
out_err:
	fuse_reply_err(req, -ret);
}

static void shmfs_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[32] = "../";
	int shmid;

	enum name_kind kind = names_ino_decode(ino, &shmid);

	if (kind != NAME_KEYLINK && kind != NAME_NEXTLINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	names_format_root(target + 3, sizeof(target) - 3,
			  kind == NAME_KEYLINK ? NAME_SEGMENT : NAME_NEXT, shmid);
	fuse_reply_readlink(req, target);
}

static void shmfs_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct segment_info seg;
	int shmid, ret, want = 0;
	enum name_kind kind;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		/* by-key/ takes new names (creation); the root does not */
		fuse_reply_err(req, (mask & W_OK) && ino == NAMES_ROOT_INO ? EACCES : 0);
		return;
	}
	kind = names_ino_decode(ino, &shmid);
	if (kind == NAME_NONE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (kind == NAME_PENDING) {
		/* A name being created in by-key/: shmid is its key. */
		struct stat st;

		ret = pending_getattr(fs_of(req), shmid, fuse_req_ctx(req)->uid, NULL, &st);
		fuse_reply_err(req, ret ? -ret : (mask & X_OK) ? EACCES : 0);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (mask & X_OK) {
		fuse_reply_err(req, kind == NAME_KEYLINK ? 0 : EACCES);
		return;
	}
	if (kind == NAME_PROCS) {
		fuse_reply_err(req, (mask & W_OK) ? EACCES : 0);
		return;
	}
	if (kind == NAME_SIDECAR) {
		ret = (mask & W_OK) ? check_owner(req, &seg) : 0;
		fuse_reply_err(req, ret == -EPERM ? EACCES : -ret);
		return;
	}
	if (kind == NAME_NEXT && (mask & W_OK)) {
		fuse_reply_err(req, EACCES); /* .next is for reading */
		return;
	}
	if (mask & R_OK)
		want |= ACCESS_READ;
	if (mask & W_OK)
		want |= ACCESS_READ | ACCESS_WRITE;
	fuse_reply_err(req, -check_access(req, &seg, want));
}

/* ---- directories ---------------------------------------------------- */

static void open_dir_free(struct open_dir *d)
{
	listing_close_dir(listings, d->uid, d->snap);
	free(d);
}

static void shmfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_dir *d;
	int ret;

	if (ino != NAMES_ROOT_INO && ino != NAMES_BYKEY_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* One enumeration per listing: every readdir of this handle is
	 * served from this snapshot. */
	d->uid = fuse_req_ctx(req)->uid;
	ret = listing_open_dir(listings, d->uid, &d->snap);
	if (ret) {
		free(d);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_dir_free(d);
}

/* The n-th entry of a directory listing: false past the end. */
static bool dir_entry(fuse_req_t req, struct shmfs *fs, fuse_ino_t dir, const struct listing *list,
		      off_t n, bool plus, char *name, size_t name_size, struct fuse_entry_param *e)
{
	struct segment_info seg;

	memset(e, 0, sizeof(*e));
	if (n == 0 || n == 1) {
		snprintf(name, name_size, n == 0 ? "." : "..");
		fill_dir_entry(fs, n == 0 ? dir : NAMES_ROOT_INO, e);
		e->attr_timeout = e->entry_timeout = 0;
		return true;
	}
	if (dir == NAMES_ROOT_INO) {
		if (n == 2) {
			snprintf(name, name_size, NAMES_BYKEY_NAME);
			fill_dir_entry(fs, NAMES_BYKEY_INO, e);
			return true;
		}
		size_t i = (n - 3) / 2;
		enum name_kind kind = (n - 3) % 2 ? NAME_SIDECAR : NAME_SEGMENT;

		if (i >= list->n)
			return false;
		listing_entry_info(&list->v[i], &seg);
		names_format_root(name, name_size, kind, seg.shmid);
		fill_entry(fs, kind, &seg, e);
		if (kind == NAME_SIDECAR && plus)
			sidecar_size(req, &seg, &e->attr, &e->attr_timeout);
		return true;
	}
	return false; /* by-key's segment entries: see readdir_common() */
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct shmfs *fs = fs_of(req);
	struct open_dir *d = (struct open_dir *)(uintptr_t)fi->fh;
	const struct listing *list = d->snap;
	struct segment_info seg;
	struct fuse_entry_param e;
	char name[64];
	size_t used = 0;
	char *buf;

	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t n = off;; n++) {
		size_t len;

		if (ino == NAMES_BYKEY_INO && n >= 2) {
			/* Skip segments without a key; the offset stays the
			 * index into the snapshot so it is stable. */
			size_t i = n - 2;

			while (i < list->n && list->v[i].key == 0)
				i++;
			if (i >= list->n)
				break;
			n = i + 2;
			listing_entry_info(&list->v[i], &seg);
			names_format_key(name, sizeof(name), seg.key);
			fill_entry(fs, NAME_KEYLINK, &seg, &e);
		} else if (!dir_entry(req, fs, ino, list, n, plus, name, sizeof(name), &e)) {
			break;
		}
		if (plus)
			len = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, n + 1);
		else
			len = fuse_add_direntry(req, buf + used, size - used, name, &e.attr, n + 1);
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void shmfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			     struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void shmfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
				 struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

static void shmfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	open_dir_free((struct open_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* ---- files ------------------------------------------------------------ */

/* A set's values are the kernel's to show to those who may read the set
 * (semctl GETVAL, GETPID, GETNCNT, GETZCNT). */
static bool lock_state_visible(fuse_req_t req, const struct segment_info *seg, int semid)
{
	struct segment_info perm = { 0 };
	struct semset_state set;

	if (semid < 0 || lockstate_read_set(semid, &set) != 0)
		return false;
	perm.uid = set.uid;
	perm.gid = set.gid;
	perm.cuid = set.cuid;
	perm.cgid = set.cgid;
	perm.mode = set.mode;
	return check_access(req, &perm, ACCESS_READ) == 0;
}

/* The sidecar's text as the caller may see it now (the sets named are
 * those that exist: looking creates nothing).  seg gets rss and swap from
 * the table's shared snapshot, not a read of the table per sidecar.  The
 * length, or -errno. */
static int sidecar_text(fuse_req_t req, struct segment_info *seg, char *text, size_t size)
{
	struct shmfs *fs = fs_of(req);
	struct lock_state lock;
	unsigned int queued = 0;
	int semid;

	listing_usage(listings, seg);
	semid = lock_table_current(fs->locks, seg, &lock, &queued);
	struct sidecar_locks locks = { .lock_semid = semid,
				       .notify_semid = watch_notify_semid(fs->watches, seg) };
	struct notify_state notify;

	if (semid == LOCK_PRIVATE) {
		/* the daemon's own lock: shown to those who may read the segment */
		locks.lock_private = true;
		if (check_access(req, seg, ACCESS_READ) == 0) {
			locks.lock = &lock;
			locks.lock_queued = queued;
		}
	} else if (lock_state_visible(req, seg, locks.lock_semid) &&
		   lockstate_read_lock(semid, &lock) == 0) {
		locks.lock = &lock;
		locks.lock_queued = (unsigned int)lockwait_count_set(fs->waits, semid);
	}
	if (lock_state_visible(req, seg, locks.notify_semid) &&
	    lockstate_read_notify(locks.notify_semid, &notify) == 0)
		locks.notify = &notify;
	/* Whether its creator still runs: the daemon's /proc, which tells
	 * no one more than kill(cpid, 0) would (orphan.h). */
	struct orphan_verdict verdict;

	orphan_judge_segment(seg, &verdict);
	return sidecar_render(seg, &locks, &verdict, text, size);
}

/* A sidecar's size is the length of its text for this caller now, so
 * that tar and rsync, which copy st_size bytes, save all of it.  Never
 * cached by the kernel: the text changes (reading the segment file sets
 * lpid, atime and dtime; rss and swap follow the table), and callers who
 * may not read a lock set see its values as -. */
static void sidecar_size(fuse_req_t req, struct segment_info *seg, struct stat *st, double *timeout)
{
	char text[SIDECAR_MAX];
	int len = sidecar_text(req, seg, text, sizeof(text));

	st->st_size = len > 0 ? len : 0;
	*timeout = 0;
}

static void open_sidecar(fuse_req_t req, int shmid, struct fuse_file_info *fi)
{
	struct segment_info seg;
	struct open_sidecar *sc;
	int ret;

	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* Writing is SHM_LOCK/SHM_UNLOCK: the kernel's rule and errno. */
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		ret = check_owner(req, &seg);
		if (ret) {
			fuse_reply_err(req, -ret);
			return;
		}
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	sc->shmid = shmid;
	ret = sidecar_text(req, &seg, sc->text, sizeof(sc->text));
	if (ret < 0) {
		free(sc);
		fuse_reply_err(req, -ret);
		return;
	}
	sc->len = ret;
	pthread_mutex_lock(&sidecars_lock);
	LIST_INSERT_HEAD(&open_sidecars, sc, link);
	pthread_mutex_unlock(&sidecars_lock);
	fi->fh = (uintptr_t)sc;
	fi->direct_io = 1;
	fi->noflush = 1; /* nothing to do at close: no FLUSH round trip */
	/* The caller is gone (interrupted): no release will come. */
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_sidecar_free(sc);
}

/* Rendered as the caller may see it: procs.h has the rule. */
static void open_procs(fuse_req_t req, int shmid, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct procs_caller caller = { .uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid };
	struct segment_info seg;
	struct open_procs *op;
	int ret;

	if ((fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	op = ret ? NULL : calloc(1, sizeof(*op));
	if (!ret && !op)
		ret = -ENOMEM;
	if (!ret)
		ret = procs_render(shmid, seg.nattch, &caller, &op->text, &op->len);
	if (ret) {
		free(op);
		fuse_reply_err(req, -ret);
		return;
	}
	pthread_mutex_lock(&sidecars_lock);
	LIST_INSERT_HEAD(&open_procs_files, op, link);
	pthread_mutex_unlock(&sidecars_lock);
	fi->fh = (uintptr_t)op;
	fi->direct_io = 1;
	fi->noflush = 1;
	/* The caller is gone (interrupted): no release will come. */
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_procs_free(op);
}

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

static void shmfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct segment_identity expected;
	struct open_file_access acc;
	struct open_file *of;
	struct segment_info seg;
	enum name_kind kind;
	int shmid, ret, want;
	bool writable;

	kind = names_ino_decode(ino, &shmid);
	if (kind == NAME_SIDECAR) {
		open_sidecar(req, shmid, fi);
		return;
	}
	if (kind == NAME_PROCS) {
		open_procs(req, shmid, fi);
		return;
	}
	if (kind == NAME_PENDING) {
		pending_open(req, shmid, fi);
		return;
	}
	if (kind == NAME_NEXT && (fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY) {
		fuse_reply_err(req, EACCES); /* .next is for reading */
		return;
	}
	if (kind != NAME_SEGMENT && kind != NAME_NEXT) {
		fuse_reply_err(req, kind == NAME_NONE ? EISDIR : EINVAL);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret)
		goto out_err;
	/* The kernel has no write-only attach: writing needs read too. */
	writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	want = ACCESS_READ | (writable || (fi->flags & O_TRUNC) ? ACCESS_WRITE : 0);
	ret = check_access(req, &seg, want);
	if (ret)
		goto out_err;
	/* checked before, to attach nothing for a caller refused, and on what
	 * the attach holds, which decides */
	identity_weak(&seg, &expected);
	acc = (struct open_file_access){ req, want };
	ret = open_file_new(fs, &expected, writable || (fi->flags & O_TRUNC), false,
			    kind == NAME_NEXT, fuse_req_ctx(req)->uid, open_file_check_access, &acc,
			    &of);
	if (ret)
		goto out_err;
	fi->fh = (uintptr_t)of;
	/* Another process may write the segment at any moment: no page cache. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	/* Writes are done when they return: a close needs no FLUSH round
	 * trip (only names being created in by-key/ do, fs_create.c). */
	fi->noflush = 1;
	/* mmap of the segment's own file, writers in parallel (if offered) */
	if (kind == NAME_SEGMENT) {
		ret = kernel_features_open(req, ino, open_file_owner(of), open_file_fd(of), fi);
		if (ret) {
			open_file_close(fs, of);
			goto out_err;
		}
	}
	if (fi->flags & O_TRUNC) {
		struct opening *o = malloc(sizeof(*o));

		if (!o) {
			kernel_features_release(req, ino, fi);
			open_file_close(fs, of);
			ret = -ENOMEM;
			goto out_err;
		}
		o->ino = ino;
		o->fi = *fi;
		/* replies when the zeroing is done (later, if the lock is busy) */
		open_file_truncate_then(req, of, 0, open_truncated, o);
		return;
	}
	reply_opened(req, ino, of, fi);
	return;
out_err:
	fuse_reply_err(req, -ret);
}

static void shmfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	int shmid;

	switch (names_ino_decode(ino, &shmid)) {
	case NAME_SIDECAR: {
		struct open_sidecar *sc = (struct open_sidecar *)(uintptr_t)fi->fh;

		reply_buffer_read(req, sc->text, sc->len, size, off);
		return;
	}
	case NAME_PROCS: {
		struct open_procs *op = (struct open_procs *)(uintptr_t)fi->fh;

		reply_buffer_read(req, op->text, op->len, size, off);
		return;
	}
	case NAME_PENDING:
		pending_read(req, (struct pending *)(uintptr_t)fi->fh, size, off);
		return;
	default:
		open_file_read(req, (struct open_file *)(uintptr_t)fi->fh, size, off);
	}
}

/* SHM_LOCK/SHM_UNLOCK as the caller: answered when the child that makes
 * it answers, or is killed for not answering (helper.h); never waited for
 * here.  The segment is pinned (attach_pin()) until then, so the call
 * reaches the segment whose owner was checked. */
struct lock_command {
	struct helper_call c; /* first: the helpers hand it back */
	fuse_req_t req;
	struct shmfs *fs;
	struct identity_pin pin;
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

static void write_sidecar(fuse_req_t req, struct open_sidecar *sc, const char *buf, size_t size)
{
	struct segment_info seg;
	enum sidecar_command cmd;
	int ret;

	ret = sidecar_parse_command(buf, size, &cmd);
	if (ret == 0)
		ret = segment_stat(sc->shmid, false, &seg);
	if (ret == 0) {
		const struct fuse_ctx *ctx = fuse_req_ctx(req);
		struct lock_command *lc = calloc(1, sizeof(*lc));
		struct segment_identity expected;

		if (!lc) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		identity_weak(&seg, &expected);
		ret = attach_pin(fs_of(req)->attaches, &expected, &lc->pin);
		if (ret == 0)
			ret = check_owner(req, &lc->pin.held);
		if (ret == 0) {
			lc->c = (struct helper_call){ .shmid = lc->pin.held.shmid,
						      .locked = cmd == SIDECAR_CMD_LOCK,
						      .caller = { ctx->uid, ctx->gid, ctx->pid },
						      .done = lock_command_done };
			lc->req = req;
			lc->fs = fs_of(req);
			lc->size = size;
			/* The caller's RLIMIT_MEMLOCK, charged to the caller. */
			ret = helper_set_locked_as(fs_of(req)->helpers, &lc->c);
			if (ret == HELPER_STARTED)
				return;
		}
		attach_unpin(fs_of(req)->attaches, &lc->pin);
		free(lc);
	}
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

static void shmfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	int shmid;

	switch (names_ino_decode(ino, &shmid)) {
	case NAME_SIDECAR:
		write_sidecar(req, (struct open_sidecar *)(uintptr_t)fi->fh, buf, size);
		return;
	case NAME_PENDING:
		pending_write(req, (struct pending *)(uintptr_t)fi->fh, buf, size, off);
		return;
	default:
		open_file_write(req, (struct open_file *)(uintptr_t)fi->fh, buf, size, off);
	}
}

static void shmfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	int shmid;

	switch (names_ino_decode(ino, &shmid)) {
	case NAME_SIDECAR:
		open_sidecar_free((struct open_sidecar *)(uintptr_t)fi->fh);
		break;
	case NAME_PROCS:
		open_procs_free((struct open_procs *)(uintptr_t)fi->fh);
		break;
	case NAME_PENDING:
		pending_release(fs, (struct pending *)(uintptr_t)fi->fh);
		break;
	default:
		kernel_features_release(req, ino, fi);
		open_file_close(fs, (struct open_file *)(uintptr_t)fi->fh);
	}
	fuse_reply_err(req, 0);
}

static void shmfs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int key;

	if (names_ino_decode(ino, &key) == NAME_PENDING)
		fuse_reply_err(
			req, -pending_flush(fs_of(req), req, (struct pending *)(uintptr_t)fi->fh));
	else
		fuse_reply_err(req, 0);
}

static void shmfs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	/* Shared memory has no backing store to flush to. */
	fuse_reply_err(req, 0);
}

/* ---- namespace changes -------------------------------------------------- */

/* IPC_RMID of the segment held, if the caller may (attach_act()). */
static int remove_act(const struct identity_pin *pin, void *req)
{
	int ret = (pin->held.mode & SEGMENT_MODE_DEST) ? -ENOENT : check_owner(req, &pin->held);

	return ret ? ret : segment_remove(pin->held.shmid);
}

static void shmfs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct segment_info seg;
	int shmid, ret;

	if (parent != NAMES_ROOT_INO) {
		fuse_reply_err(req, parent == NAMES_BYKEY_INO ? EPERM : ENOENT);
		return;
	}
	switch (names_parse_root(name, &shmid)) {
	case NAME_SEGMENT:
		break;
	case NAME_SIDECAR:
	case NAME_NEXT:
	case NAME_PROCS:
		/* The sidecar goes with its segment, never on its own. */
		ret = segment_stat(shmid, false, &seg);
		fuse_reply_err(req, ret ? -ret : EPERM);
		return;
	default:
		fuse_reply_err(req, strcmp(name, NAMES_BYKEY_NAME) == 0 ? EISDIR : ENOENT);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	/* Marked for destruction, it is gone from the name space (listed
	 * until its attachers leave): a second IPC_RMID would "succeed", and
	 * a tool that unlinks and retries (tar x) would loop. */
	if (ret == 0 && (seg.mode & SEGMENT_MODE_DEST))
		ret = -ENOENT;
	if (ret == 0) {
		struct segment_identity expected;

		identity_weak(&seg, &expected);
		ret = attach_act(fs_of(req)->attaches, &expected, remove_act, req);
	}
	fuse_reply_err(req, -ret);
}

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

/* ---- lifecycle -------------------------------------------------------- */

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
	/* A link's target is a function of its inode number (names.c): the
	 * kernel may keep it, and an `ls -l by-key` costs no readlink each. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	listings = listing_cache_new(fs->opts.attr_timeout);
	if (!listings)
		fuse_log(FUSE_LOG_ERR, "shmfs: out of memory\n");
	if (conn->capable & FUSE_CAP_SPLICE_WRITE) {
		conn->want |= FUSE_CAP_SPLICE_WRITE;
		daemon_enable_splice(fs);
	}
	if (pending_init(fs) != 0)
		log_warning("shmfs: out of memory: no creation in by-key/\n");
	/* The background thread starts here, after any daemonizing fork. */
	if (daemon_start(fs) != 0)
		log_warning("shmfs: cannot start the background thread\n");
}

static void shmfs_ll_destroy(void *userdata)
{
	struct shmfs *fs = userdata;

	daemon_stop(fs);
	/* Reads of .next still waiting are answered now: after this the
	 * session is gone and a reply to them would be sent nowhere. */
	watch_table_stop(fs->watches);
	/* Files still open at unmount: their releases never come. */
	pending_free_all(fs);
	open_files_close_all(fs);
	open_sidecars_free_all();
	open_procs_free_all();
	listing_cache_free(listings);
	listings = NULL;
}

static void shmfs_ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
			  struct fuse_pollhandle *ph)
{
	int shmid;
	enum name_kind kind = names_ino_decode(ino, &shmid);

	if (kind != NAME_SEGMENT && kind != NAME_NEXT) {
		/* sidecars and names being created are always ready */
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
		return;
	}
	open_file_poll(req, (struct open_file *)(uintptr_t)fi->fh, ph);
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
