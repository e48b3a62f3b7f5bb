/* fs.c - the FUSE low-level operations: requests in, module calls, replies out.
 *
 * Every handler reads as: parse the name or inode, check the caller, do
 * the thing through segment/lock/sidecar/access, reply.  How any of those
 * work inside is their business.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "fs.h"
#include "lock.h"
#include "names.h"
#include "segment.h"
#include "sidecar.h"

#define MAX_GROUPS 64

struct shmfs {
	struct shmfs_options opts;
	struct lock_table *locks;
	time_t mount_time;
	uid_t uid;
	gid_t gid;

	/* Attachments kept after close because detaching them would have
	 * destroyed the segment (kernel.shm_rmid_forced=1 and no other
	 * attacher); detached once someone else attaches or it is removed. */
	pthread_mutex_t parked_lock;
	struct parked {
		int shmid;
		void *addr;
	} * parked;
	size_t nparked, parked_cap;

	/* Background sweep of semaphore sets created for gone segments. */
	pthread_t sweeper;
	bool sweeper_running;
	pthread_mutex_t sweep_lock;
	pthread_cond_t sweep_cond;
	bool stopping;
};

/* One open segment file: its own attachment, taken at open. */
struct open_segment {
	int shmid;
	void *addr;
	size_t size;
	int semid;		  /* accessed atomically: re-resolved if the set vanishes */
	struct segment_info info; /* as it was at open */
};

/* One open sidecar: rendered once at open, so every read of it is one
 * consistent snapshot (lxcfs's idiom). */
struct open_sidecar {
	int shmid;
	size_t len;
	char text[SIDECAR_MAX];
};

/* One open directory: the listing enumerated once at opendir. */
struct open_dir {
	struct segment_list list;
};

static struct shmfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ---- attributes ---------------------------------------------------- */

/* mtime: the latest of the three times the kernel keeps (last attach,
 * last detach, last change).  A segment's bytes change while attached
 * and the kernel records no write time, so the last attach or detach is
 * the best evidence of a recent writer there is. */
static time_t segment_mtime(const struct segment_info *seg)
{
	time_t t = seg->ctime;

	if (seg->atime > t)
		t = seg->atime;
	if (seg->dtime > t)
		t = seg->dtime;
	return t;
}

static void fill_segment_attr(enum name_kind kind, const struct segment_info *seg, struct stat *st)
{
	char target[32];

	memset(st, 0, sizeof(*st));
	st->st_ino = names_ino(kind, seg->shmid);
	st->st_uid = seg->uid;
	st->st_gid = seg->gid;
	st->st_nlink = (seg->mode & SEGMENT_MODE_DEST) ? 0 : 1;
	st->st_atime = seg->atime;
	st->st_mtime = segment_mtime(seg);
	st->st_ctime = seg->ctime;
	st->st_blksize = sysconf(_SC_PAGESIZE);
	switch (kind) {
	case NAME_SEGMENT:
		st->st_mode = S_IFREG | (seg->mode & 0777);
		st->st_size = seg->size;
		st->st_blocks =
		    seg->have_usage ? (seg->rss + seg->swap) / 512 : (seg->size + 511) / 512;
		break;
	case NAME_SIDECAR:
		/* Readable by all, as /proc/sysvipc/shm; writable (lock,
		 * unlock) by the owner. Size 0 as a /proc file: read to EOF. */
		st->st_mode = S_IFREG | 0644;
		st->st_atime = st->st_mtime = st->st_ctime;
		break;
	case NAME_KEYLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size =
		    names_format_root(target, sizeof(target), NAME_SEGMENT, seg->shmid) + 3;
		st->st_nlink = 1;
		break;
	default:
		break;
	}
}

static void fill_dir_attr(struct shmfs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = ino == NAMES_ROOT_INO ? 3 : 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_atime = st->st_mtime = st->st_ctime = fs->mount_time;
}

/* The generation tells the kernel whether an inode number still means the
 * same segment: a reused shmid from another creator gets another one. */
static uint64_t segment_generation(const struct segment_info *seg)
{
	return ((uint64_t)(uint32_t)seg->cpid << 32) | (uint32_t)seg->cuid;
}

static void fill_entry(struct shmfs *fs, enum name_kind kind, const struct segment_info *seg,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	fill_segment_attr(kind, seg, &e->attr);
	e->ino = e->attr.st_ino;
	e->generation = segment_generation(seg);
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.entry_timeout;
}

/* ---- callers ------------------------------------------------------- */

struct caller {
	struct access_caller cred;
	gid_t groups[MAX_GROUPS];
};

/* Supplementary groups cost a read of /proc/PID/status, so they are
 * fetched only when they could change the answer. */
static void caller_get(fuse_req_t req, const struct segment_info *seg, struct caller *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int n;

	c->cred.uid = ctx->uid;
	c->cred.gid = ctx->gid;
	c->cred.groups = c->groups;
	c->cred.ngroups = 0;
	if (ctx->uid == 0 || ctx->uid == seg->uid || ctx->uid == seg->cuid)
		return;
	if (ctx->gid == seg->gid || ctx->gid == seg->cgid)
		return;
	n = fuse_req_getgroups(req, MAX_GROUPS, c->groups);
	if (n > 0)
		c->cred.ngroups = n > MAX_GROUPS ? MAX_GROUPS : (size_t)n;
}

static int check_access(fuse_req_t req, const struct segment_info *seg, int want)
{
	struct caller c;

	caller_get(req, seg, &c);
	return access_check(&c.cred, seg, want);
}

static int check_owner(fuse_req_t req, const struct segment_info *seg)
{
	struct caller c;

	caller_get(req, seg, &c);
	return access_check_owner(&c.cred, seg);
}

/* ---- locking ------------------------------------------------------- */

static bool req_interrupted(void *req)
{
	return fuse_req_interrupted(req);
}

/* Take the segment's lock for one request.  If its set was removed under
 * us, find (or make) the set again once. */
static int open_segment_lock(struct shmfs *fs, fuse_req_t req, struct open_segment *of,
			     enum lock_mode mode, int *semid_out)
{
	for (int attempt = 0;; attempt++) {
		int semid = __atomic_load_n(&of->semid, __ATOMIC_ACQUIRE);
		int ret = lock_acquire(semid, mode, fs->opts.lock_timeout_ms, req_interrupted, req);

		if (ret == 0) {
			*semid_out = semid;
			return 0;
		}
		if ((ret != -EIDRM && ret != -EINVAL) || attempt > 0)
			return ret;
		lock_table_invalidate(fs->locks, of->shmid, semid);
		struct segment_info seg;
		if (segment_stat(of->shmid, false, &seg) != 0)
			seg = of->info;
		semid = lock_table_semid(fs->locks, &seg);
		if (semid < 0)
			return semid;
		__atomic_store_n(&of->semid, semid, __ATOMIC_RELEASE);
	}
}

/* ---- attachments ---------------------------------------------------- */

/* Under kernel.shm_rmid_forced=1, a detach that leaves nattch at 0
 * destroys the segment: a reader must never do that.  So an open of a
 * segment nobody else has attached is refused (EBUSY), and a close that
 * would be the last detach keeps the attachment parked instead. */
static int detach_safely(struct shmfs *fs, int shmid, void *addr)
{
	struct segment_info seg;

	if (segment_rmid_forced() && segment_stat(shmid, false, &seg) == 0 &&
	    !(seg.mode & SEGMENT_MODE_DEST) && seg.nattch <= 1) {
		pthread_mutex_lock(&fs->parked_lock);
		if (fs->nparked == fs->parked_cap) {
			size_t cap = fs->parked_cap ? fs->parked_cap * 2 : 8;
			struct parked *p = realloc(fs->parked, cap * sizeof(*p));

			if (!p) {
				pthread_mutex_unlock(&fs->parked_lock);
				return -ENOMEM; /* keep it attached rather than destroy it */
			}
			fs->parked = p;
			fs->parked_cap = cap;
		}
		fs->parked[fs->nparked++] = (struct parked){shmid, addr};
		pthread_mutex_unlock(&fs->parked_lock);
		fuse_log(FUSE_LOG_WARNING,
			 "shmfs: segment %d kept attached: detaching it would destroy it "
			 "(kernel.shm_rmid_forced=1)\n",
			 shmid);
		return 0;
	}
	return segment_detach(addr);
}

static void unpark_detachable(struct shmfs *fs)
{
	pthread_mutex_lock(&fs->parked_lock);
	for (size_t i = 0; i < fs->nparked;) {
		struct segment_info seg;
		struct parked *p = &fs->parked[i];

		if (segment_stat(p->shmid, false, &seg) != 0 || (seg.mode & SEGMENT_MODE_DEST) ||
		    seg.nattch > 1) {
			segment_detach(p->addr);
			*p = fs->parked[--fs->nparked];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&fs->parked_lock);
}

/* Zero from offset to the end under the exclusive lock: what O_TRUNC and
 * truncate(n <= size) mean for a segment of fixed size. */
static int zero_fill(struct shmfs *fs, fuse_req_t req, struct open_segment *of, uint64_t from)
{
	int semid, ret;

	if (from >= of->size)
		return 0;
	ret = open_segment_lock(fs, req, of, LOCK_MODE_EXCLUSIVE, &semid);
	if (ret)
		return ret;
	memset((char *)of->addr + from, 0, of->size - from);
	lock_release(semid, LOCK_MODE_EXCLUSIVE);
	return 0;
}

static int open_segment_new(struct shmfs *fs, const struct segment_info *seg, bool writable,
			    struct open_segment **out)
{
	struct open_segment *of;
	int semid, ret;

	if (segment_rmid_forced() && seg->nattch == 0 && !(seg->mode & SEGMENT_MODE_DEST))
		return -EBUSY;
	of = calloc(1, sizeof(*of));
	if (!of)
		return -ENOMEM;
	semid = lock_table_semid(fs->locks, seg);
	if (semid < 0) {
		free(of);
		return semid;
	}
	ret = segment_attach(seg->shmid, writable, &of->addr);
	if (ret) {
		free(of);
		return ret;
	}
	of->shmid = seg->shmid;
	of->size = seg->size;
	of->semid = semid;
	of->info = *seg;
	*out = of;
	return 0;
}

static void open_segment_close(struct shmfs *fs, struct open_segment *of)
{
	detach_safely(fs, of->shmid, of->addr);
	free(of);
}

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
		memset(&e, 0, sizeof(e));
		fill_dir_attr(fs, NAMES_BYKEY_INO, &e.attr);
		e.ino = NAMES_BYKEY_INO;
		e.attr_timeout = e.entry_timeout = 3600;
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
		if (!names_parse_key(name, &key) || key == 0) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		/* shmget with no flags asks for no permission: a pure lookup. */
		shmid = shmget(key, 0, 0);
		if (shmid < 0) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		kind = NAME_KEYLINK;
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
	enum name_kind kind;
	int shmid, ret;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		fill_dir_attr(fs, ino, &st);
		fuse_reply_attr(req, &st, 3600);
		return;
	}
	kind = names_ino_decode(ino, &shmid);
	if (kind == NAME_NONE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fill_segment_attr(kind, &seg, &st);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

static void shmfs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			     struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct segment_info seg;
	struct stat st;
	int shmid, ret;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		fuse_reply_err(req, EPERM);
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
		ret = check_owner(req, &seg);
		if (ret)
			goto out_err;
		/* IPC_SET keeps only the permission bits; so do we. */
		ret = segment_set_perm(shmid, (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : seg.uid,
				       (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : seg.gid,
				       (to_set & FUSE_SET_ATTR_MODE) ? attr->st_mode : seg.mode);
		if (ret)
			goto out_err;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if ((uint64_t)attr->st_size > seg.size) {
			ret = -EFBIG;
			goto out_err;
		}
		if (fi && fi->fh) {
			ret = zero_fill(fs, req, (struct open_segment *)(uintptr_t)fi->fh,
					attr->st_size);
		} else {
			struct open_segment *of;

			ret = check_access(req, &seg, ACCESS_READ | ACCESS_WRITE);
			if (ret == 0)
				ret = open_segment_new(fs, &seg, true, &of);
			if (ret == 0) {
				ret = zero_fill(fs, req, of, attr->st_size);
				open_segment_close(fs, of);
			}
		}
		if (ret)
			goto out_err;
	}
	/* Times (touch) are the kernel's to keep: accepted, not changed. */
	ret = segment_stat(shmid, false, &seg);
	if (ret)
		goto out_err;
	fill_segment_attr(NAME_SEGMENT, &seg, &st);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
	return;
out_err:
	fuse_reply_err(req, -ret);
}

static void shmfs_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[32] = "../";
	int shmid;

	if (names_ino_decode(ino, &shmid) != NAME_KEYLINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	names_format_root(target + 3, sizeof(target) - 3, NAME_SEGMENT, shmid);
	fuse_reply_readlink(req, target);
}

static void shmfs_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct segment_info seg;
	int shmid, ret, want = 0;
	enum name_kind kind;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		fuse_reply_err(req, (mask & W_OK) ? EACCES : 0);
		return;
	}
	kind = names_ino_decode(ino, &shmid);
	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (mask & X_OK) {
		fuse_reply_err(req, kind == NAME_KEYLINK ? 0 : EACCES);
		return;
	}
	if (kind == NAME_SIDECAR) {
		ret = (mask & W_OK) ? check_owner(req, &seg) : 0;
		fuse_reply_err(req, ret == -EPERM ? EACCES : -ret);
		return;
	}
	if (mask & R_OK)
		want |= ACCESS_READ;
	if (mask & W_OK)
		want |= ACCESS_READ | ACCESS_WRITE;
	fuse_reply_err(req, -check_access(req, &seg, want));
}

/* ---- directories ---------------------------------------------------- */

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
	ret = segment_list_read(&d->list);
	if (ret) {
		segment_list_free(&d->list);
		free(d);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		segment_list_free(&d->list);
		free(d);
	}
}

/* The n-th entry of a directory listing: false past the end. */
static bool dir_entry(struct shmfs *fs, fuse_ino_t dir, const struct segment_list *list, off_t n,
		      char *name, size_t name_size, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	if (n == 0 || n == 1) {
		snprintf(name, name_size, n == 0 ? "." : "..");
		fill_dir_attr(fs, n == 0 ? dir : NAMES_ROOT_INO, &e->attr);
		e->ino = e->attr.st_ino;
		return true;
	}
	if (dir == NAMES_ROOT_INO) {
		if (n == 2) {
			snprintf(name, name_size, NAMES_BYKEY_NAME);
			fill_dir_attr(fs, NAMES_BYKEY_INO, &e->attr);
			e->ino = NAMES_BYKEY_INO;
			e->attr_timeout = e->entry_timeout = 3600;
			return true;
		}
		size_t i = (n - 3) / 2;
		enum name_kind kind = (n - 3) % 2 ? NAME_SIDECAR : NAME_SEGMENT;

		if (i >= list->n)
			return false;
		names_format_root(name, name_size, kind, list->v[i].shmid);
		fill_entry(fs, kind, &list->v[i], e);
		return true;
	}
	return false; /* by-key's segment entries: see readdir_common() */
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct shmfs *fs = fs_of(req);
	struct open_dir *d = (struct open_dir *)(uintptr_t)fi->fh;
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

			while (i < d->list.n && d->list.v[i].key == 0)
				i++;
			if (i >= d->list.n)
				break;
			n = i + 2;
			names_format_key(name, sizeof(name), d->list.v[i].key);
			fill_entry(fs, NAME_KEYLINK, &d->list.v[i], &e);
		} else if (!dir_entry(fs, ino, &d->list, n, name, sizeof(name), &e)) {
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
	struct shmfs *fs = fs_of(req);
	struct open_dir *d = (struct open_dir *)(uintptr_t)fi->fh;

	if (ino == NAMES_ROOT_INO)
		lock_table_sweep(fs->locks, &d->list);
	segment_list_free(&d->list);
	free(d);
	fuse_reply_err(req, 0);
}

/* ---- files ------------------------------------------------------------ */

static void open_sidecar(fuse_req_t req, int shmid, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct segment_info seg;
	struct open_sidecar *sc;
	int ret, semid;

	ret = segment_stat(shmid, true, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		ret = check_owner(req, &seg);
		if (ret) {
			fuse_reply_err(req, EACCES);
			return;
		}
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	sc->shmid = shmid;
	semid = lock_table_semid(fs->locks, &seg);
	ret = sidecar_render(&seg, semid, sc->text, sizeof(sc->text));
	if (ret < 0) {
		free(sc);
		fuse_reply_err(req, -ret);
		return;
	}
	sc->len = ret;
	fi->fh = (uintptr_t)sc;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		free(sc);
}

static void shmfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct open_segment *of;
	struct segment_info seg;
	enum name_kind kind;
	int shmid, ret, want;
	bool writable;

	kind = names_ino_decode(ino, &shmid);
	if (kind == NAME_SIDECAR) {
		open_sidecar(req, shmid, fi);
		return;
	}
	if (kind != NAME_SEGMENT) {
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
	ret = open_segment_new(fs, &seg, writable || (fi->flags & O_TRUNC), &of);
	if (ret)
		goto out_err;
	if (fi->flags & O_TRUNC) {
		ret = zero_fill(fs, req, of, 0);
		if (ret) {
			open_segment_close(fs, of);
			goto out_err;
		}
	}
	fi->fh = (uintptr_t)of;
	/* Another process may write the segment at any moment: no page cache. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_segment_close(fs, of);
	return;
out_err:
	fuse_reply_err(req, -ret);
}

static void shmfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	int shmid, semid, ret;

	if (names_ino_decode(ino, &shmid) == NAME_SIDECAR) {
		struct open_sidecar *sc = (struct open_sidecar *)(uintptr_t)fi->fh;

		if (off < 0 || (size_t)off >= sc->len)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_buf(req, sc->text + off,
				       size < sc->len - off ? size : sc->len - off);
		return;
	}

	struct open_segment *of = (struct open_segment *)(uintptr_t)fi->fh;

	if (off < 0 || (uint64_t)off >= of->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > of->size - off)
		size = of->size - off;
	ret = open_segment_lock(fs, req, of, LOCK_MODE_SHARED, &semid);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* The reply copies out of the segment while the lock is held: one
	 * request is one consistent snapshot. */
	fuse_reply_buf(req, (const char *)of->addr + off, size);
	lock_release(semid, LOCK_MODE_SHARED);
}

static void write_sidecar(fuse_req_t req, struct open_sidecar *sc, const char *buf, size_t size)
{
	struct segment_info seg;
	enum sidecar_command cmd;
	int ret;

	ret = sidecar_parse_command(buf, size, &cmd);
	if (ret == 0)
		ret = segment_stat(sc->shmid, false, &seg);
	if (ret == 0)
		ret = check_owner(req, &seg);
	if (ret == 0)
		ret = segment_set_locked(sc->shmid, cmd == SIDECAR_CMD_LOCK);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

static void shmfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	int shmid, semid, ret;

	if (names_ino_decode(ino, &shmid) == NAME_SIDECAR) {
		write_sidecar(req, (struct open_sidecar *)(uintptr_t)fi->fh, buf, size);
		return;
	}

	struct open_segment *of = (struct open_segment *)(uintptr_t)fi->fh;

	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	/* A segment has a fixed size: cut short at the end, nothing past it. */
	if (off < 0 || (uint64_t)off >= of->size) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (size > of->size - off)
		size = of->size - off;
	ret = open_segment_lock(fs, req, of, LOCK_MODE_EXCLUSIVE, &semid);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	memcpy((char *)of->addr + off, buf, size);
	lock_release(semid, LOCK_MODE_EXCLUSIVE);
	fuse_reply_write(req, size);
}

static void shmfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	int shmid;

	if (names_ino_decode(ino, &shmid) == NAME_SIDECAR)
		free((struct open_sidecar *)(uintptr_t)fi->fh);
	else
		open_segment_close(fs, (struct open_segment *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void shmfs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void shmfs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	/* Shared memory has no backing store to flush to. */
	fuse_reply_err(req, 0);
}

/* ---- namespace changes -------------------------------------------------- */

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
		/* The sidecar goes with its segment, never on its own. */
		ret = segment_stat(shmid, false, &seg);
		fuse_reply_err(req, ret ? -ret : EPERM);
		return;
	default:
		fuse_reply_err(req, strcmp(name, NAMES_BYKEY_NAME) == 0 ? EISDIR : ENOENT);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret == 0)
		ret = check_owner(req, &seg);
	if (ret == 0)
		ret = segment_remove(shmid);
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

static void shmfs_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	struct segment_list list = {0};
	uint64_t used = 0;
	long page = sysconf(_SC_PAGESIZE);

	memset(&st, 0, sizeof(st));
	if (segment_list_read(&list) == 0)
		for (size_t i = 0; i < list.n; i++)
			used += (list.v[i].size + page - 1) / page;
	st.f_bsize = st.f_frsize = page;
	st.f_blocks = used;
	st.f_files = list.n;
	st.f_namemax = 255;
	segment_list_free(&list);
	fuse_reply_statfs(req, &st);
}

/* ---- lifecycle -------------------------------------------------------- */

static void *sweeper_main(void *arg)
{
	struct shmfs *fs = arg;
	struct segment_list list = {0};

	pthread_mutex_lock(&fs->sweep_lock);
	while (!fs->stopping) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += fs->opts.sweep_interval_ms / 1000;
		until.tv_nsec += (fs->opts.sweep_interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&fs->sweep_cond, &fs->sweep_lock, &until);
		if (fs->stopping)
			break;
		pthread_mutex_unlock(&fs->sweep_lock);
		if (segment_list_read(&list) == 0)
			lock_table_sweep(fs->locks, &list);
		unpark_detachable(fs);
		pthread_mutex_lock(&fs->sweep_lock);
	}
	pthread_mutex_unlock(&fs->sweep_lock);
	segment_list_free(&list);
	return NULL;
}

static void shmfs_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct shmfs *fs = userdata;
	pthread_condattr_t attr;

	/* open(O_TRUNC) arrives as one open, zero-filled under the lock. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Let a segment copy out straight from the mapping, and let the
	 * kernel send big requests. */
	conn->max_write = 1024 * 1024;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;

	/* The sweeper starts here, after any daemonizing fork. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->sweep_cond, &attr);
	pthread_condattr_destroy(&attr);
	fs->sweeper_running = pthread_create(&fs->sweeper, NULL, sweeper_main, fs) == 0;
	if (!fs->sweeper_running)
		fuse_log(FUSE_LOG_WARNING, "shmfs: cannot start the sweeper thread\n");
}

static void shmfs_ll_destroy(void *userdata)
{
	struct shmfs *fs = userdata;

	if (fs->sweeper_running) {
		pthread_mutex_lock(&fs->sweep_lock);
		fs->stopping = true;
		pthread_cond_signal(&fs->sweep_cond);
		pthread_mutex_unlock(&fs->sweep_lock);
		pthread_join(fs->sweeper, NULL);
		fs->sweeper_running = false;
	}
}

struct shmfs *shmfs_new(const struct shmfs_options *opts)
{
	struct shmfs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->opts = *opts;
	fs->locks = lock_table_new();
	if (!fs->locks) {
		free(fs);
		return NULL;
	}
	fs->mount_time = time(NULL);
	fs->uid = getuid();
	fs->gid = getgid();
	pthread_mutex_init(&fs->parked_lock, NULL);
	pthread_mutex_init(&fs->sweep_lock, NULL);
	return fs;
}

void shmfs_free(struct shmfs *fs)
{
	if (!fs)
		return;
	if (fs->nparked)
		fuse_log(FUSE_LOG_WARNING,
			 "shmfs: %zu segment(s) kept attached under kernel.shm_rmid_forced=1 "
			 "are detached at exit, which destroys them\n",
			 fs->nparked);
	for (size_t i = 0; i < fs->nparked; i++)
		segment_detach(fs->parked[i].addr);
	free(fs->parked);
	lock_table_free(fs->locks);
	pthread_mutex_destroy(&fs->parked_lock);
	pthread_mutex_destroy(&fs->sweep_lock);
	free(fs);
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
    .setxattr = shmfs_ll_setxattr,
};
