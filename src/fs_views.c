/* fs_views.c - the directories and links of the sem/ and msg/ views
 * (fs_views.h has the layout and what a node's identity holds); the
 * stat and item files are fs_sem.c's and fs_msg.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "budget.h"
#include "fs_caller.h"
#include "fs_io.h"
#include "fs_views.h"

/* ---- kinds, identities, the object now ---------------------------------- */

const struct view_type *view_of_kind(enum name_kind kind)
{
	if (kind >= NAME_SEMS && kind <= NAME_SEM_KEYLINK)
		return &view_sem;
	if (kind >= NAME_MSGS && kind <= NAME_MSG_KEYLINK)
		return &view_msg;
	return NULL;
}

static bool is_dir_of_view(const struct view_type *t, enum name_kind kind)
{
	return kind == t->top || kind == t->bykey;
}

/* What never changes while the object lives (fs_views.h); item: the
 * semaphore's number or the message's index in an item's node.  The key
 * too: unlike a segment's it never changes (IPC_RMID destroys at once). */
static void view_identity(const struct view_type *t, enum name_kind kind,
			  const struct view_object *o, unsigned int item,
			  struct segment_identity *life)
{
	memset(life, 0, sizeof(*life));
	if (is_dir_of_view(t, kind))
		return;
	life->shmid = o->id;
	life->cpid = kind == t->item ? (pid_t)item : 0;
	life->cuid = o->perm.cuid;
	life->cgid = o->perm.cgid;
	life->size = (uint64_t)(uint32_t)o->key << 32 | (uint32_t)o->fixed;
}

int view_object_of(const struct node *n, const struct view_type **type, struct view_object *o)
{
	const struct view_type *t = view_of_kind(n->kind);
	struct segment_identity now;
	int ret;

	*type = t;
	memset(o, 0, sizeof(*o));
	if (!t)
		return -ENOENT;
	if (is_dir_of_view(t, n->kind))
		return 0;
	ret = t->stat(n->life.shmid, o);
	if (ret == -ENOENT)
		return node_check(n, NULL);
	if (ret)
		return ret;
	view_identity(t, n->kind, o, (unsigned int)n->life.cpid, &now);
	return node_check(n, &now);
}

/* access.c's rules with the request's caller (fs_caller.c). */
int view_check_access(fuse_req_t req, const struct view_object *o, int want)
{
	return check_access_perm(req, &o->perm, want);
}

int view_check_owner(fuse_req_t req, const struct view_object *o)
{
	return check_owner_perm(req, &o->perm);
}

/* ---- attributes ------------------------------------------------------------ */

/* A directory may be entered by those who may read its object: x is
 * shown wherever r is (a chmod sets r and w only: IPC_SET keeps what it
 * is given). */
static mode_t dir_bits(unsigned int mode)
{
	mode &= 0666;
	return (mode_t)(mode | (mode & 0444) >> 2);
}

/* req: the caller, for what only a reader may see (a message's size);
 * NULL for the directories. */
static void view_attr(struct shmfs *fs, fuse_req_t req, const struct view_type *t,
		      enum name_kind kind, const struct view_object *o, unsigned int item,
		      struct stat *st)
{
	struct segment_identity life;

	memset(st, 0, sizeof(*st));
	view_identity(t, kind, o, item, &life);
	st->st_ino = node_ino_of(kind, &life);
	st->st_nlink = 1;
	st->st_uid = o->perm.uid;
	st->st_gid = o->perm.gid;
	st->st_mtime = o->mtime;
	st->st_atime = o->mtime;
	st->st_ctime = o->ctime;
	if (is_dir_of_view(t, kind)) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_uid = fs->dirs.uid;
		st->st_gid = fs->dirs.gid;
		st->st_atime = st->st_mtime = st->st_ctime = fs->dirs.mount_time;
	} else if (kind == t->object) {
		st->st_mode = S_IFDIR | dir_bits(o->perm.mode);
		st->st_nlink = 2;
	} else if (kind == t->statfile) {
		st->st_mode = S_IFREG | (o->perm.mode & 0444);
	} else if (kind == t->item) {
		st->st_mode = S_IFREG | (o->perm.mode & t->item_mode);
		/* A message's size is its reader's to know (cbytes, the sum,
		 * is everyone's); a semaphore's file is of a fixed size. */
		st->st_size = (off_t)t->item_fixed_size;
		if (t->item_size && req && view_check_access(req, o, ACCESS_READ) == 0)
			st->st_size = (off_t)t->item_size(o, item);
	} else {
		char target[32];

		st->st_mode = S_IFLNK | 0777;
		st->st_size = snprintf(target, sizeof(target), "../%d", o->id);
	}
	st->st_blksize = 4096;
}

void view_getattr(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	const struct view_type *t;
	struct view_object o;
	struct stat st;
	int ret = view_object_of(n, &t, &o);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	view_attr(fs_of(req), req, t, n->kind, &o, (unsigned int)n->life.cpid, &st);
	fuse_reply_attr(req, &st,
			is_dir_of_view(t, n->kind) ? FS_DIR_TIMEOUT_S
						   : fs_of(req)->opts.attr_timeout);
}

/* ---- entries: the nodes the kernel is handed ----------------------------------- */

static int fill_entry(struct shmfs *fs, fuse_req_t req, const struct view_type *t,
		      enum name_kind kind, const struct view_object *o, unsigned int item,
		      struct fuse_entry_param *e)
{
	struct segment_identity life;
	struct node n;
	int ret;

	view_identity(t, kind, o, item, &life);
	ret = node_lookup(fs->nodes, kind, &life, &n);
	if (ret)
		return ret;
	memset(e, 0, sizeof(*e));
	view_attr(fs, req, t, kind, o, item, &e->attr);
	e->ino = n.id;
	if (is_dir_of_view(t, kind)) {
		e->attr_timeout = e->entry_timeout = FS_DIR_TIMEOUT_S;
	} else {
		e->attr_timeout = fs->opts.attr_timeout;
		e->entry_timeout = fs->opts.entry_timeout;
	}
	return 0;
}

static void reply_entry(fuse_req_t req, const struct view_type *t, enum name_kind kind,
			const struct view_object *o, unsigned int item)
{
	struct shmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	int ret = fill_entry(fs, req, t, kind, o, item, &e);

	if (ret)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_entry(req, &e) != 0)
		node_forget(fs->nodes, e.ino, 1); /* the kernel never counted it */
}

void view_top_attr(struct shmfs *fs, const struct view_type *type, struct stat *st)
{
	const struct view_object none = { 0 };

	view_attr(fs, NULL, type, type->top, &none, 0, st);
}

int view_fill_top_entry(struct shmfs *fs, const struct view_type *type, struct fuse_entry_param *e)
{
	const struct view_object none = { 0 };

	return fill_entry(fs, NULL, type, type->top, &none, 0, e);
}

void view_reply_top_entry(fuse_req_t req, const struct view_type *type)
{
	const struct view_object none = { 0 };

	reply_entry(req, type, type->top, &none, 0);
}

/* ---- names ---------------------------------------------------------------------- */

static void top_lookup(fuse_req_t req, const struct node *dir, const char *name)
{
	const struct view_type *t = view_of_kind(dir->kind);
	const struct view_object none = { 0 };
	struct view_object o;
	int id, ret;

	if (strcmp(name, NAMES_BYKEY_NAME) == 0) {
		reply_entry(req, t, t->bykey, &none, 0);
		return;
	}
	ret = names_parse_number(name, &id) ? t->stat(id, &o) : -ENOENT;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, t, t->object, &o, 0);
}

static void bykey_lookup(fuse_req_t req, const struct node *dir, const char *name)
{
	const struct view_type *t = view_of_kind(dir->kind);
	struct view_object o;
	int32_t key;
	int id, ret = -ENOENT;

	if (names_parse_key(name, &key) && key != 0 && (id = t->find_key(key)) >= 0)
		ret = t->stat(id, &o);
	/* The id found may have gone to another object since: the key
	 * proves the one stat'ed is the one the name means. */
	if (ret == 0 && o.key != key)
		ret = -ENOENT;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, t, t->keylink, &o, 0);
}

static void object_lookup(fuse_req_t req, const struct node *dir, const char *name)
{
	const struct view_type *t;
	struct view_object o;
	int item = 0, ret = view_object_of(dir, &t, &o);

	/* Entering it is reading it (its mode shows x where r is). */
	if (ret == 0)
		ret = view_check_access(req, &o, ACCESS_READ);
	if (ret == 0 && strcmp(name, NAMES_VIEW_STAT) == 0) {
		reply_entry(req, t, t->statfile, &o, 0);
		return;
	}
	if (ret == 0 && (!names_parse_number(name, &item) || (unsigned int)item >= o.items))
		ret = -ENOENT;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, t, t->item, &o, (unsigned int)item);
}

/* rmdir <id>: IPC_RMID, by the owner, creator or root. */
static void top_rmdir(fuse_req_t req, const struct node *dir, const char *name)
{
	const struct view_type *t = view_of_kind(dir->kind);
	struct view_object o;
	int id, ret;

	if (strcmp(name, NAMES_BYKEY_NAME) == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = names_parse_number(name, &id) ? t->stat(id, &o) : -ENOENT;
	if (ret == 0)
		ret = view_check_owner(req, &o);
	if (ret == 0)
		ret = t->remove(id);
	fuse_reply_err(req, -ret);
}

/* Its stat and items go with the object, never alone (rmdir it). */
static void object_unlink(fuse_req_t req, const struct node *dir, const char *name)
{
	const struct view_type *t;
	struct view_object o;
	int ret = view_object_of(dir, &t, &o);

	fuse_reply_err(req, ret ? -ret : EPERM);
}

/* ---- the object's directory: chmod, chown ------------------------------------------ */

static void object_setattr(fuse_req_t req, const struct node *n, struct stat *attr, int to_set,
			   struct fuse_file_info *fi)
{
	const struct view_type *t;
	struct view_object o;
	struct stat st;
	int ret = view_object_of(n, &t, &o);

	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		ret = -EISDIR;
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		ret = view_check_owner(req, &o);
		/* IPC_SET keeps the permission bits: r and w are what the
		 * kernel reads (its x bits mean nothing to it). */
		if (ret == 0)
			ret = t->set_perm(
				o.id, (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : o.perm.uid,
				(to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : o.perm.gid,
				(to_set & FUSE_SET_ATTR_MODE) ? attr->st_mode & 0666 : o.perm.mode);
		if (ret == 0)
			ret = view_object_of(n, &t, &o);
	}
	/* Times are the kernel's to keep: accepted, not changed. */
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	view_attr(fs_of(req), req, t, n->kind, &o, 0, &st);
	fuse_reply_attr(req, &st, fs_of(req)->opts.attr_timeout);
}

static void dir_access(fuse_req_t req, const struct node *n, int mask)
{
	const struct view_type *t;
	struct view_object o;
	int ret = view_object_of(n, &t, &o);

	/* The names in them are the kernel's: nothing is made there.  An
	 * object's is entered and listed by its readers. */
	if (ret == 0 && (mask & W_OK))
		ret = -EACCES;
	if (ret == 0 && n->kind == t->object && (mask & (R_OK | X_OK)))
		ret = view_check_access(req, &o, ACCESS_READ);
	fuse_reply_err(req, -ret);
}

static void dir_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EISDIR);
}

/* ---- listings -------------------------------------------------------------------- */

/* One open directory: the objects (top, by-key/) or the one object,
 * read at opendir; every readdir of the handle is served from it. */
struct view_dir {
	struct view_object *v;
	size_t n, cap;
	uid_t uid;
};

static int collect(const struct view_object *o, void *arg)
{
	struct view_dir *d = arg;
	struct view_object *v = array_grow(d->v, d->n, &d->cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	d->v = v;
	v[d->n++] = *o;
	return 0;
}

static void view_dir_free(struct shmfs *fs, struct view_dir *d)
{
	budget_give(fs->view_dirs, d->uid);
	free(d->v);
	free(d);
}

static void dir_opendir(fuse_req_t req, const struct node *dir, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	const struct view_type *t;
	struct view_object o;
	struct view_dir *d;
	int ret = view_object_of(dir, &t, &o);

	if (ret == 0 && dir->kind == t->object)
		ret = view_check_access(req, &o, ACCESS_READ);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* A listing holds a copy of the table: a user holds few at once. */
	d->uid = fuse_req_ctx(req)->uid;
	if (!budget_take(fs->view_dirs, d->uid)) {
		free(d);
		fuse_reply_err(req, EMFILE);
		return;
	}
	ret = dir->kind == t->object ? collect(&o, d) : t->each(collect, d);
	if (ret) {
		view_dir_free(fs, d);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		view_dir_free(fs, d);
}

static void dir_releasedir(fuse_req_t req, const struct node *dir, struct fuse_file_info *fi)
{
	view_dir_free(fs_of(req), (struct view_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Entry n of a listing (n is its offset): false past the end.  Top:
 * ".", "..", "by-key", the objects.  by-key/: ".", "..", the objects
 * with a key.  An object's: ".", "..", "stat", its items. */
static bool dir_entry(const struct view_type *t, const struct node *dir, const struct view_dir *d,
		      off_t *n, char *name, size_t size, enum name_kind *kind,
		      const struct view_object **o, unsigned int *item)
{
	size_t i;

	*item = 0;
	*o = NULL;
	if (*n < 2) {
		snprintf(name, size, *n == 0 ? "." : "..");
		*kind = NAME_NONE;
		return true;
	}
	if (dir->kind == t->object) {
		if (d->n != 1)
			return false;
		*o = &d->v[0];
		if (*n == 2) {
			snprintf(name, size, NAMES_VIEW_STAT);
			*kind = t->statfile;
			return true;
		}
		if ((uint64_t)(*n - 3) >= d->v[0].items)
			return false;
		*item = (unsigned int)(*n - 3);
		snprintf(name, size, "%u", *item);
		*kind = t->item;
		return true;
	}
	if (dir->kind == t->top) {
		if (*n == 2) {
			snprintf(name, size, NAMES_BYKEY_NAME);
			*kind = t->bykey;
			return true;
		}
		i = (size_t)(*n - 3);
		if (i >= d->n)
			return false;
		*o = &d->v[i];
		*kind = t->object;
		snprintf(name, size, "%d", d->v[i].id);
		return true;
	}
	for (i = (size_t)(*n - 2); i < d->n && d->v[i].key == 0; i++)
		;
	if (i >= d->n)
		return false;
	*n = (off_t)i + 2;
	*o = &d->v[i];
	*kind = t->keylink;
	names_format_key(name, size, d->v[i].key);
	return true;
}

static void dir_readdir(fuse_req_t req, const struct node *dir, size_t size, off_t off,
			struct fuse_file_info *fi, bool plus)
{
	struct shmfs *fs = fs_of(req);
	const struct view_dir *d = (struct view_dir *)(uintptr_t)fi->fh;
	const struct view_type *t = view_of_kind(dir->kind);
	const struct view_object none = { 0 }, *o;
	uint64_t *handed = NULL;
	size_t nhanded = 0, cap = 0, used = 0;
	char name[64], *buf = malloc(size);
	enum name_kind kind;
	unsigned int item;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t n = off; dir_entry(t, dir, d, &n, name, sizeof(name), &kind, &o, &item); n++) {
		struct fuse_entry_param e;
		size_t len;

		memset(&e, 0, sizeof(e));
		if (kind == NAME_NONE) {
			/* "." and "..": attributes only, no node handed */
			e.attr.st_mode = S_IFDIR;
			e.attr.st_ino = n == 0 ? dir->id : 1;
			len = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
							    n + 1)
				   : fuse_add_direntry(req, buf + used, size - used, name, &e.attr,
						       n + 1);
		} else if (!plus) {
			view_attr(fs, req, t, kind, o ? o : &none, item, &e.attr);
			len = fuse_add_direntry(req, buf + used, size - used, name, &e.attr, n + 1);
		} else {
			uint64_t *grown = array_grow(handed, nhanded, &cap, sizeof(*handed));

			if (!grown || fill_entry(fs, req, t, kind, o ? o : &none, item, &e) != 0) {
				if (grown)
					handed = grown;
				break;
			}
			handed = grown;
			len = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, n + 1);
			if (len > size - used) {
				node_forget(fs->nodes, e.ino, 1);
				break;
			}
			handed[nhanded++] = e.ino;
		}
		if (len > size - used)
			break;
		used += len;
	}
	if (fuse_reply_buf(req, buf, used) != 0)
		for (size_t i = 0; i < nhanded; i++)
			node_forget(fs->nodes, handed[i], 1);
	free(handed);
	free(buf);
}

/* ---- links ------------------------------------------------------------------------ */

static void keylink_readlink(fuse_req_t req, const struct node *n)
{
	const struct view_type *t;
	struct view_object o;
	char target[32];
	int ret = view_object_of(n, &t, &o);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	snprintf(target, sizeof(target), "../%d", o.id);
	fuse_reply_readlink(req, target);
}

const struct fs_kind_ops fs_view_top_ops = {
	.lookup = top_lookup,
	.rmdir = top_rmdir,
	.opendir = dir_opendir,
	.readdir = dir_readdir,
	.releasedir = dir_releasedir,
	.getattr = view_getattr,
	.access = dir_access,
	.open = dir_open,
};

const struct fs_kind_ops fs_view_bykey_ops = {
	.lookup = bykey_lookup,
	.opendir = dir_opendir,
	.readdir = dir_readdir,
	.releasedir = dir_releasedir,
	.getattr = view_getattr,
	.access = dir_access,
	.open = dir_open,
};

const struct fs_kind_ops fs_view_object_ops = {
	.lookup = object_lookup,
	.unlink = object_unlink,
	.opendir = dir_opendir,
	.readdir = dir_readdir,
	.releasedir = dir_releasedir,
	.getattr = view_getattr,
	.setattr = object_setattr,
	.access = dir_access,
	.open = dir_open,
};

const struct fs_kind_ops fs_view_keylink_ops = {
	.getattr = view_getattr,
	.access = dir_access,
	.readlink = keylink_readlink,
};
