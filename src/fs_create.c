/* fs_create.c - names being created in by-key/: gathered until the size
 * is known, then shmget as the caller. */
#include "fs_internal.h"

/* ---- creation through by-key/ ------------------------------------------ */

static void pending_drop_data_locked(struct shmfs *fs, struct pending *p)
{
	fs->pending_bytes -= p->len;
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
		open_segment_close(fs, p->of);
	pending_drop_data_locked(fs, p);
	free(p);
}

static struct pending *pending_find_locked(struct shmfs *fs, int32_t key)
{
	for (struct pending *p = fs->pending; p; p = p->next)
		if (p->key == key)
			return p;
	return NULL;
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
	fill_segment_attr(NAME_SEGMENT, &seg, st);
	st->st_ino = names_pending_ino(p->key);
	return 0;
}

/* Make the segment: shmget as the creator, then copy in what was written. */
static int pending_create_locked(struct shmfs *fs, fuse_req_t req, struct pending *p, size_t size)
{
	struct segment_info seg;
	int semid, ret, shmid;

	shmid = segment_create(p->key, size, p->mode, p->uid, p->gid);
	if (shmid < 0)
		/* EINVAL: beyond shmmax; ENOMEM: no memory for a size that big */
		return shmid == -EINVAL || shmid == -ENOMEM ? -EFBIG : shmid;
	ret = segment_stat(shmid, false, &seg);
	if (ret == 0)
		ret = open_segment_new(fs, &seg, true, true, &p->of);
	if (ret) {
		segment_remove(shmid);
		return ret;
	}
	if (p->len) {
		ret = open_segment_lock(fs, req, p->of, LOCK_MODE_EXCLUSIVE, &semid);
		if (ret) {
			/* Someone found it by key and holds it: keep the segment,
			 * report that the bytes did not land. */
			p->shmid = shmid;
			return ret;
		}
		memcpy(p->of->addr, p->data, p->len < size ? p->len : size);
		lock_release(semid, LOCK_MODE_EXCLUSIVE);
	}
	pending_drop_data_locked(fs, p);
	p->shmid = shmid;
	return 0;
}

/* Make the segment with what was written (at least default_size). */
static int pending_create_default_locked(struct shmfs *fs, fuse_req_t req, struct pending *p)
{
	size_t size = p->len > fs->opts.default_size ? p->len : fs->opts.default_size;

	return p->shmid < 0 ? pending_create_locked(fs, req, p, size) : 0;
}

/* Someone other than its creator opening a name being created: the
 * kernel's rule, as if the segment existed with the creator as owner and
 * the mode given at creation.  The caller holds pending_lock. */
static int pending_check_access_locked(fuse_req_t req, const struct pending *p, int flags)
{
	struct segment_info seg = {
		.key = p->key,
		.shmid = -1,
		.mode = p->mode,
		.uid = p->uid,
		.gid = p->gid,
		.cuid = p->uid,
		.cgid = p->gid,
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
	if (shmget(key, 0, 0) >= 0) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	pthread_mutex_lock(&fs->pending_lock);
	p = pending_find_locked(fs, key);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		p->key = key;
		p->mode = mode & 0777; /* the kernel has applied the umask */
		p->uid = ctx->uid;
		p->gid = ctx->gid;
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
	p = pending_find_locked(fs, key);
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

	struct open_segment *of;

	/* p->of is set once, with p->shmid, and freed at the last release:
	 * the caller's open file keeps it.  So the segment's lock is waited
	 * for without pending_lock, which every creation needs. */
	pthread_mutex_lock(&fs->pending_lock);
	of = p->shmid >= 0 ? p->of : NULL;
	if (!of)
		reply_buffer_read(req, p->data, p->len, size, off);
	pthread_mutex_unlock(&fs->pending_lock);
	if (of)
		reply_segment_read(fs, req, of, size, off);
}

void pending_write(fuse_req_t req, struct pending *p, const char *buf, size_t size, off_t off)
{
	struct shmfs *fs = fs_of(req);

	pthread_mutex_lock(&fs->pending_lock);
	if (p->shmid >= 0) {
		struct open_segment *of = p->of; /* see pending_read() */

		pthread_mutex_unlock(&fs->pending_lock);
		reply_segment_write(fs, req, of, buf, size, off);
		return;
	} else if (off < 0 || (uint64_t)off + size > fs->opts.max_pending ||
		   ((size_t)off + size > p->len &&
		    fs->pending_bytes + ((size_t)off + size - p->len) > fs->opts.max_pending)) {
		/* Beyond what we gather in memory, for all names being created
		 * together (any user may create): give the size first. */
		fuse_reply_err(req, EFBIG);
	} else {
		if ((size_t)off + size > p->len) {
			char *grown = realloc(p->data, off + size);

			if (!grown) {
				pthread_mutex_unlock(&fs->pending_lock);
				fuse_reply_err(req, ENOMEM);
				return;
			}
			memset(grown + p->len, 0, off + size - p->len);
			fs->pending_bytes += off + size - p->len;
			p->data = grown;
			p->len = off + size;
		}
		memcpy(p->data + off, buf, size);
		fuse_reply_write(req, size);
	}
	pthread_mutex_unlock(&fs->pending_lock);
}

/* truncate on a name being created: the size is now known. */
int pending_setattr(struct shmfs *fs, fuse_req_t req, int32_t key, struct fuse_file_info *fi,
		    struct stat *attr, int to_set, struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct pending *p;
	int ret = 0;

	pthread_mutex_lock(&fs->pending_lock);
	/* Without an open file of the caller's, only pending_lock keeps p
	 * alive: find it under the lock.  None: already a segment, or gone. */
	p = fi && fi->fh ? (struct pending *)(uintptr_t)fi->fh : pending_find_locked(fs, key);
	if (!p) {
		ret = -ENOENT;
		goto out;
	}
	if (p->shmid < 0 &&
	    (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		if (ctx->uid != 0 && ctx->uid != p->uid) {
			ret = -EPERM;
			goto out;
		}
		if (to_set & FUSE_SET_ATTR_MODE)
			p->mode = attr->st_mode & 0777;
		if (to_set & FUSE_SET_ATTR_UID)
			p->uid = attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			p->gid = attr->st_gid;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && ctx->uid != 0 && ctx->uid != p->uid) {
		ret = pending_check_access_locked(req, p, O_RDWR);
		if (ret)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (p->shmid >= 0) {
			if ((uint64_t)attr->st_size > p->of->size)
				ret = -EFBIG;
			else
				ret = zero_fill(fs, req, p->of, attr->st_size);
		} else if (attr->st_size == 0) {
			/* dd and O_TRUNC truncate to 0 first: nothing to make yet */
			pending_drop_data_locked(fs, p);
		} else {
			ret = pending_create_locked(fs, req, p, attr->st_size);
		}
	}
	/* touch: the name exists from now on, at the default size */
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		ret = pending_create_default_locked(fs, req, p);
	if (ret == 0)
		ret = pending_attr_locked(fs, p, st);
out:
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}

/* A close after bytes were written makes the segment, so `ipcs -m` shows
 * it as soon as `echo hello > by-key/0x1234` returns.  A close before
 * any write does not: shells and dd close a duplicate of the descriptor
 * before writing through the other one. */
int pending_flush(struct shmfs *fs, fuse_req_t req, struct pending *p)
{
	int ret = 0;

	pthread_mutex_lock(&fs->pending_lock);
	if (p->len > 0)
		ret = pending_create_default_locked(fs, req, p);
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}

void pending_release(struct shmfs *fs, struct pending *p)
{
	pthread_mutex_lock(&fs->pending_lock);
	/* The last close of a name nothing was written to: default size. */
	if (p->opens == 1 && p->shmid < 0 && pending_create_default_locked(fs, NULL, p) != 0)
		fuse_log(FUSE_LOG_WARNING, "shmfs: could not create key 0x%08x\n",
			 (unsigned int)p->key);
	if (--p->opens == 0)
		pending_forget_locked(fs, p);
	pthread_mutex_unlock(&fs->pending_lock);
}

int lookup_pending(struct shmfs *fs, int32_t key, struct fuse_entry_param *e)
{
	struct pending *p;
	int ret = -ENOENT;

	memset(e, 0, sizeof(*e));
	pthread_mutex_lock(&fs->pending_lock);
	p = pending_find_locked(fs, key);
	if (p)
		ret = pending_attr_locked(fs, p, &e->attr);
	pthread_mutex_unlock(&fs->pending_lock);
	e->ino = e->attr.st_ino;
	return ret;
}

int pending_getattr(struct shmfs *fs, int32_t key, struct fuse_file_info *fi, struct stat *st)
{
	struct pending *p;
	int ret = -ENOENT;

	pthread_mutex_lock(&fs->pending_lock);
	p = fi && fi->fh ? (struct pending *)(uintptr_t)fi->fh : pending_find_locked(fs, key);
	if (p)
		ret = pending_attr_locked(fs, p, st);
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}
