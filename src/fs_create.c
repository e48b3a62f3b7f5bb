/* fs_create.c - names being created in by-key/.
 *
 * shmget needs the size before the segment exists, so the bytes written
 * to a new name are gathered until a truncate gives the size or the first
 * close creates the segment (man shmfs: "Creating a segment").
 *
 *  - A name being created is its creator's alone: others, root too, see
 *    nothing of it (ENOENT), as the kernel shows nothing of a segment not
 *    made yet.  Their O_CREAT open of the same name starts a name of their
 *    own; whichever is made first wins, the other gets EEXIST.
 *  - The creator makes the segment: shmget with the creator's ids.  A
 *    chown before then is applied after it by IPC_SET, with the creator's
 *    ids, so cuid and cgid stay the creator's as after a direct shmget and
 *    IPC_SET.  Only the creator (or root, on a descriptor) changes it.
 *  - Bytes gathered count against their creator's budget (max_pending);
 *    beyond it writes fail with EFBIG.  After a write or a creation
 *    failed, a close makes nothing (and says why).
 *  - pending_lock is held for the bookkeeping only, never across shmget,
 *    the copy or a lock wait: the new segment's lock is tried, not waited
 *    for.  While one thread makes a name (p->making), the others on that
 *    same name wait on pending_made.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <unistd.h>

#include "access.h"
#include "attr.h"
#include "fs_caller.h"
#include "fs_create.h"
#include "fs_io.h"
#include "log.h"
#include "names.h"

/* ---- the creators' budgets ---------------------------------------------- */

static struct pending_user *user_of_locked(struct shmfs *fs, uid_t uid)
{
	for (size_t i = 0; i < fs->npending_users; i++)
		if (fs->pending_users[i].uid == uid)
			return &fs->pending_users[i];
	return NULL;
}

/* Count n more bytes against uid's budget: 0, -EFBIG beyond it, -ENOMEM. */
static int charge_locked(struct shmfs *fs, uid_t uid, size_t n)
{
	struct pending_user *u = user_of_locked(fs, uid);

	if (n > fs->opts.max_pending || (u && u->bytes > fs->opts.max_pending - n))
		return -EFBIG;
	if (!u) {
		if (fs->npending_users == fs->pending_users_cap) {
			size_t cap = fs->pending_users_cap ? fs->pending_users_cap * 2 : 8;
			struct pending_user *v = realloc(fs->pending_users, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			fs->pending_users = v;
			fs->pending_users_cap = cap;
		}
		u = &fs->pending_users[fs->npending_users++];
		*u = (struct pending_user){ .uid = uid };
	}
	u->bytes += n;
	return 0;
}

static void uncharge_locked(struct shmfs *fs, uid_t uid, size_t n)
{
	struct pending_user *u = user_of_locked(fs, uid);

	if (!u)
		return;
	u->bytes -= n < u->bytes ? n : u->bytes;
	if (u->bytes == 0)
		*u = fs->pending_users[--fs->npending_users];
}

/* ---- bookkeeping --------------------------------------------------------- */

static void pending_drop_data_locked(struct shmfs *fs, struct pending *p)
{
	uncharge_locked(fs, p->cuid, p->len);
	free(p->data);
	p->data = NULL;
	p->len = 0;
}

/* Unlink p from the list and free it; nobody may have it open. */
static void pending_forget_locked(struct shmfs *fs, struct pending *p)
{
	for (struct pending **pp = &fs->pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	if (p->of)
		open_file_close(fs, p->of);
	pending_drop_data_locked(fs, p);
	free(p);
}

/* The name uid is creating for key, if any: nobody sees another's. */
static struct pending *pending_find_locked(struct shmfs *fs, int32_t key, uid_t uid)
{
	for (struct pending *p = fs->pending; p; p = p->next)
		if (p->key == key && p->cuid == uid)
			return p;
	return NULL;
}

/* Wait until no thread is making p: then p's data, size and owner can
 * change, and p->shmid says whether it is made. */
static void pending_wait_made_locked(struct shmfs *fs, struct pending *p)
{
	while (p->making)
		pthread_cond_wait(&fs->pending_made, &fs->pending_lock);
}

static void fill_pending_attr(struct shmfs *fs, const struct pending *p, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = names_pending_ino(p->key);
	st->st_mode = S_IFREG | (p->mode & 0777);
	st->st_nlink = 1;
	st->st_uid = p->uid;
	st->st_gid = p->gid;
	st->st_size = p->len;
	st->st_blksize = sysconf(_SC_PAGESIZE);
	st->st_atime = st->st_mtime = st->st_ctime = time(NULL);
}

/* Attributes of a pending node: its own until created, then the
 * segment's (under the inode the kernel already knows). */
static int pending_attr_locked(struct shmfs *fs, const struct pending *p, struct stat *st)
{
	struct segment_info seg;
	int ret;

	if (p->shmid < 0) {
		fill_pending_attr(fs, p, st);
		return 0;
	}
	ret = segment_stat(p->shmid, false, &seg);
	if (ret)
		return ret;
	attr_of_segment(NAME_SEGMENT, &seg, st);
	st->st_ino = names_pending_ino(p->key);
	return 0;
}

/* ---- making the segment --------------------------------------------------- */

/* shmget as the creator, and IPC_SET to the owner chosen with the
 * creator's ids (the kernel's owner rule); before it, the key's ShareLite
 * set as the creator, unless the key has one.  *semid: that fresh set, or
 * -1.  The segment's shmid or -errno; on failure nothing is left but a
 * fresh set another took the lock of. */
static int pending_shmget(const struct pending *p, size_t size, int *semid)
{
	const struct segment_caller creator = { .uid = p->cuid, .gid = p->cgid };
	struct segment_ids saved;
	int shmid, ret;

	*semid = -1;
	ret = segment_thread_become(p->cuid, p->cgid, &saved);
	if (ret)
		return ret;
	ret = lock_create_sharelite(p->key, p->mode);
	segment_thread_restore(&saved);
	if (ret >= 0) {
		*semid = ret;
		/* A fresh set: free, unless a program of the user's took it
		 * meanwhile.  Tried, never waited for. */
		ret = lock_acquire(*semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL);
		if (ret) {
			*semid = -1;
			return ret == -ETIMEDOUT || ret == -EAGAIN ? -EBUSY : ret;
		}
	} else if (ret != -EEXIST) {
		return ret;
	}
	shmid = segment_create(p->key, size, p->mode, p->cuid, p->cgid);
	if (shmid < 0) {
		/* EINVAL: beyond shmmax; ENOMEM: no memory for a size that big */
		ret = shmid == -EINVAL || shmid == -ENOMEM ? -EFBIG : shmid;
		goto fail;
	}
	if (p->uid != p->cuid || p->gid != p->cgid) {
		ret = segment_set_perm_as(shmid, p->uid, p->gid, p->mode, &creator);
		if (ret) {
			segment_remove(shmid);
			goto fail;
		}
	}
	return shmid;
fail:
	if (*semid >= 0) {
		lock_release(*semid, LOCK_MODE_EXCLUSIVE);
		semctl(*semid, 0, IPC_RMID); /* made by this call, for nothing */
		*semid = -1;
	}
	return ret;
}

/* Make the segment: the key's ShareLite set with it (when the key has
 * none), bytes copied in, open for the creator's file.  Runs without
 * pending_lock: p->making keeps everything it reads from changing.  On
 * failure nothing is left. */
static int pending_make_segment(struct shmfs *fs, const struct pending *p, size_t size,
				struct open_file **of_out)
{
	struct open_file *of = NULL;
	struct segment_info seg;
	void *addr = NULL;
	int shmid, semid, ret;

	shmid = pending_shmget(p, size, &semid);
	if (shmid < 0)
		return shmid;
	ret = 0;
	if (semid >= 0) {
		if (p->len)
			ret = segment_attach(shmid, true, &addr);
		if (ret == 0 && p->len)
			memcpy(addr, p->data, p->len < size ? p->len : size);
		if (ret == 0)
			ret = lock_mark_initialised(semid);
		lock_release(semid, LOCK_MODE_EXCLUSIVE);
	}
	if (ret == 0)
		ret = segment_stat(shmid, false, &seg);
	if (ret == 0)
		ret = open_file_new(fs, &seg, true, true, false, &of);
	if (addr)
		/* after the open file attached: under kernel.shm_rmid_forced
		 * the last detach destroys the segment */
		segment_detach(addr);
	/* Once, without waiting: someone holding the lock of the key's set
	 * found it, and no creation waits on another user. */
	if (ret == 0 && semid < 0 && p->len)
		ret = open_file_fill(fs, of, p->data, p->len < size ? p->len : size);
	if (ret) {
		if (of)
			open_file_close(fs, of);
		segment_remove(shmid);
		return ret;
	}
	*of_out = of;
	return 0;
}

/* Make p's segment of size bytes, unless made already.  Called and
 * returns with pending_lock held; drops it while making. */
static int pending_make_locked(struct shmfs *fs, struct pending *p, size_t size)
{
	struct open_file *of = NULL;
	int ret;

	pending_wait_made_locked(fs, p);
	if (p->shmid >= 0)
		return 0;
	p->making = true;
	pthread_mutex_unlock(&fs->pending_lock);
	ret = pending_make_segment(fs, p, size, &of);
	pthread_mutex_lock(&fs->pending_lock);
	p->making = false;
	pthread_cond_broadcast(&fs->pending_made);
	if (ret) {
		p->failed = ret;
		return ret;
	}
	p->of = of;
	p->shmid = open_file_shmid(of);
	pending_drop_data_locked(fs, p);
	return 0;
}

/* Make the segment with what was written (at least default_size). */
static int pending_make_default_locked(struct shmfs *fs, struct pending *p)
{
	size_t size = p->len > fs->opts.default_size ? p->len : fs->opts.default_size;

	return pending_make_locked(fs, p, size);
}

/* The creator opening its name again: the kernel's rule, as if the
 * segment existed with the mode given at creation.  Under pending_lock. */
static int pending_check_access_locked(fuse_req_t req, const struct pending *p, int flags)
{
	struct segment_info seg = {
		.key = p->key,
		.shmid = -1,
		.mode = p->mode,
		.uid = p->uid,
		.gid = p->gid,
		.cuid = p->cuid,
		.cgid = p->cgid,
	};
	bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);

	return check_access(req, &seg, ACCESS_READ | (writing ? ACCESS_WRITE : 0));
}

void shmfs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct pending *p;
	int32_t key;
	int ret = 0;

	if (parent != NAMES_BYKEY_INO) {
		/* Segments get their shmid from the kernel: create by key. */
		fuse_reply_err(req, parent == NAMES_ROOT_INO ? EPERM : ENOENT);
		return;
	}
	if (names_parse_bykey(name, &key) != NAME_KEYLINK || key == 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (segment_find_key(key) >= 0) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	pthread_mutex_lock(&fs->pending_lock);
	p = pending_find_locked(fs, key, ctx->uid);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		p->key = key;
		p->mode = mode & 0777; /* the kernel has applied the umask */
		p->cuid = p->uid = ctx->uid;
		p->cgid = p->gid = ctx->gid;
		p->shmid = -1;
		p->next = fs->pending;
		fs->pending = p;
	} else {
		ret = pending_check_access_locked(req, p, fi->flags);
		if (ret)
			goto out_unlock;
	}
	memset(&e, 0, sizeof(e));
	ret = pending_attr_locked(fs, p, &e.attr);
	if (ret) {
		if (p->opens == 0)
			pending_forget_locked(fs, p);
		goto out_unlock;
	}
	p->opens++;
	e.ino = e.attr.st_ino;
	fi->fh = (uintptr_t)p;
	fi->direct_io = 1;
out_unlock:
	pthread_mutex_unlock(&fs->pending_lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_create(req, &e, fi) == -ENOENT)
		pending_release(fs, p); /* the caller is gone: no release will come */
}

void pending_open(fuse_req_t req, int32_t key, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct pending *p;
	int ret = -ENOENT;

	pthread_mutex_lock(&fs->pending_lock);
	p = pending_find_locked(fs, key, fuse_req_ctx(req)->uid);
	if (p)
		ret = pending_check_access_locked(req, p, fi->flags);
	if (ret == 0)
		p->opens++;
	pthread_mutex_unlock(&fs->pending_lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)p;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		pending_release(fs, p);
}

void pending_read(fuse_req_t req, struct pending *p, size_t size, off_t off)
{
	struct shmfs *fs = fs_of(req);
	struct open_file *of;

	/* p->of is set once, with p->shmid, and freed at the last release:
	 * the caller's open file keeps it.  So the segment's lock is waited
	 * for without pending_lock, which every creation needs. */
	pthread_mutex_lock(&fs->pending_lock);
	pending_wait_made_locked(fs, p);
	of = p->shmid >= 0 ? p->of : NULL;
	if (!of)
		reply_buffer_read(req, p->data, p->len, size, off);
	pthread_mutex_unlock(&fs->pending_lock);
	if (of)
		open_file_read(req, of, size, off);
}

/* Gather a write: grow the buffer, charged to the creator. */
static int pending_gather_locked(struct shmfs *fs, struct pending *p, const char *buf, size_t size,
				 off_t off)
{
	size_t end;
	char *grown;
	int ret;

	if (off < 0 || (uint64_t)off > fs->opts.max_pending ||
	    size > fs->opts.max_pending - (uint64_t)off)
		return -EFBIG;
	end = (size_t)off + size;
	if (end > p->len) {
		ret = charge_locked(fs, p->cuid, end - p->len);
		if (ret)
			return ret;
		grown = realloc(p->data, end);
		if (!grown) {
			uncharge_locked(fs, p->cuid, end - p->len);
			return -ENOMEM;
		}
		memset(grown + p->len, 0, end - p->len);
		p->data = grown;
		p->len = end;
	}
	memcpy(p->data + off, buf, size);
	return 0;
}

void pending_write(fuse_req_t req, struct pending *p, const char *buf, size_t size, off_t off)
{
	struct shmfs *fs = fs_of(req);
	int ret;

	pthread_mutex_lock(&fs->pending_lock);
	pending_wait_made_locked(fs, p);
	if (p->shmid >= 0) {
		struct open_file *of = p->of; /* see pending_read() */

		pthread_mutex_unlock(&fs->pending_lock);
		open_file_write(req, of, buf, size, off);
		return;
	}
	/* Beyond what we gather for this creator (give the size first), or
	 * out of memory: what was written is incomplete, so the close that
	 * follows makes nothing. */
	ret = pending_gather_locked(fs, p, buf, size, off);
	if (ret)
		p->failed = ret;
	pthread_mutex_unlock(&fs->pending_lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

/* chmod, chown or truncate of the segment p made: as for any segment. */
static int pending_setattr_made(struct shmfs *fs, fuse_req_t req, struct pending *p,
				struct stat *attr, int to_set)
{
	struct segment_info seg;
	int ret = segment_stat(p->shmid, false, &seg);

	if (ret == 0 && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		ret = check_owner(req, &seg);
		if (ret == 0)
			ret = segment_set_perm(
				p->shmid, (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : seg.uid,
				(to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : seg.gid,
				(to_set & FUSE_SET_ATTR_MODE) ? attr->st_mode : seg.mode);
	}
	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		if ((uint64_t)attr->st_size > open_file_size(p->of))
			ret = -EFBIG;
		else
			ret = open_file_truncate(fs, req, p->of, attr->st_size);
	}
	return ret;
}

/* chmod, chown, truncate or touch of a name being created: only by its
 * creator (others cannot even find it; this is for a descriptor passed
 * on) or root.  A size makes the segment; so does touch. */
int pending_setattr(struct shmfs *fs, fuse_req_t req, int32_t key, struct fuse_file_info *fi,
		    struct stat *attr, int to_set, struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct pending *p;
	int ret = 0;

	pthread_mutex_lock(&fs->pending_lock);
	p = fi && fi->fh ? (struct pending *)(uintptr_t)fi->fh
			 : pending_find_locked(fs, key, ctx->uid);
	if (!p) {
		ret = -ENOENT;
		goto out;
	}
	if (ctx->uid != 0 && ctx->uid != p->cuid) {
		ret = -EPERM;
		goto out;
	}
	pending_wait_made_locked(fs, p);
	if (p->shmid >= 0) {
		/* open_file_truncate waits for the lock: not under pending_lock.  The
		 * reference keeps p (and p->of) until we are done. */
		p->opens++;
		pthread_mutex_unlock(&fs->pending_lock);
		ret = pending_setattr_made(fs, req, p, attr, to_set);
		pthread_mutex_lock(&fs->pending_lock);
		if (--p->opens == 0) {
			pending_forget_locked(fs, p);
			ret = ret ? ret : -ENOENT;
			goto out;
		}
	} else {
		if (to_set & FUSE_SET_ATTR_MODE)
			p->mode = attr->st_mode & 0777;
		if (to_set & FUSE_SET_ATTR_UID)
			p->uid = attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			p->gid = attr->st_gid;
		if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size == 0)
			/* dd and O_TRUNC truncate to 0 first: nothing to make yet */
			pending_drop_data_locked(fs, p);
		else if (to_set & FUSE_SET_ATTR_SIZE)
			ret = pending_make_locked(fs, p, attr->st_size);
		/* touch: the name exists from now on, at the default size */
		if (ret == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
					   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
			ret = pending_make_default_locked(fs, p);
	}
	if (ret == 0)
		ret = pending_attr_locked(fs, p, st);
out:
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}

/* A close after bytes were written makes the segment, so `ipcs -m` shows
 * it as soon as `echo hello > by-key/0x1234` returns.  A close before
 * any write does not: shells and dd close a duplicate of the descriptor
 * before writing through the other one.  After a failed write or
 * creation, nothing is made, and the close says why. */
int pending_flush(struct shmfs *fs, fuse_req_t req, struct pending *p)
{
	int ret = 0;

	pthread_mutex_lock(&fs->pending_lock);
	pending_wait_made_locked(fs, p);
	if (p->shmid < 0 && p->failed)
		ret = p->failed;
	else if (p->len > 0)
		ret = pending_make_default_locked(fs, p);
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}

void pending_release(struct shmfs *fs, struct pending *p)
{
	int ret;

	pthread_mutex_lock(&fs->pending_lock);
	pending_wait_made_locked(fs, p);
	/* The last close of a name nothing was written to: default size. */
	if (p->opens == 1 && p->shmid < 0 && !p->failed) {
		ret = pending_make_default_locked(fs, p);
		if (ret)
			log_warning("shmfs: could not create key 0x%08x at its last close: %s\n",
				    (unsigned int)p->key, strerror(-ret));
	}
	if (--p->opens == 0)
		pending_forget_locked(fs, p);
	pthread_mutex_unlock(&fs->pending_lock);
}

int lookup_pending(struct shmfs *fs, int32_t key, uid_t uid, struct fuse_entry_param *e)
{
	struct pending *p;
	int ret = -ENOENT;

	memset(e, 0, sizeof(*e));
	pthread_mutex_lock(&fs->pending_lock);
	p = pending_find_locked(fs, key, uid);
	if (p)
		ret = pending_attr_locked(fs, p, &e->attr);
	pthread_mutex_unlock(&fs->pending_lock);
	e->ino = e->attr.st_ino;
	return ret;
}

int pending_getattr(struct shmfs *fs, int32_t key, uid_t uid, struct fuse_file_info *fi,
		    struct stat *st)
{
	struct pending *p;
	int ret = -ENOENT;

	pthread_mutex_lock(&fs->pending_lock);
	p = fi && fi->fh ? (struct pending *)(uintptr_t)fi->fh : pending_find_locked(fs, key, uid);
	if (p)
		ret = pending_attr_locked(fs, p, st);
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}

void pending_free_all(struct shmfs *fs)
{
	/* Their open files, if made, go with the other open files. */
	while (fs->pending) {
		struct pending *p = fs->pending;

		fs->pending = p->next;
		free(p->data);
		free(p);
	}
}
