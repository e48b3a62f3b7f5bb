/* fs_dir.c - the two directories: the root (segments and their sidecars)
 * and by-key/ (links by key, names being created). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "attr.h"
#include "fs_caller.h"
#include "fs_create.h"
#include "fs_io.h"
#include "fs_kind.h"
#include "fs_views.h"
#include "listing.h"
#include "watch.h"

/* ---- names ------------------------------------------------------------ */

static void root_lookup(fuse_req_t req, const struct node *dir, const char *name)
{
	struct fuse_entry_param e;
	struct segment_info seg;
	enum name_kind kind;
	int shmid, ret;

	if (strcmp(name, NAMES_BYKEY_NAME) == 0) {
		fs_fill_dir_entry(fs_of(req), NODE_BYKEY_ID, &e);
		fuse_reply_entry(req, &e);
		return;
	}
	if (strcmp(name, NAMES_SEM_DIR) == 0 || strcmp(name, NAMES_MSG_DIR) == 0) {
		view_reply_top_entry(req, name[0] == 's' ? &view_sem : &view_msg);
		return;
	}
	kind = names_parse_root(name, &shmid);
	ret = kind == NAME_NONE ? -ENOENT : segment_stat(shmid, false, &seg);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fs_reply_entry(req, kind, &seg);
}

static void bykey_lookup(fuse_req_t req, const struct node *dir, const char *name)
{
	struct segment_info seg;
	enum name_kind kind;
	int32_t key;
	int shmid, ret;

	kind = names_parse_bykey(name, &key);
	if (kind == NAME_NONE || key == 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	shmid = segment_find_key(key);
	if (shmid < 0) {
		if (kind == NAME_KEYLINK)
			fs_reply_pending_entry(req, key);
		else
			fuse_reply_err(req, ENOENT);
		return;
	}
	/* The shmid found may have gone to another segment since: the key
	 * proves the one stat'ed is the one the name means. */
	ret = segment_stat(shmid, false, &seg);
	if (ret == 0 && seg.key != key)
		ret = -ENOENT;
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fs_reply_entry(req, kind, &seg);
}

/* IPC_RMID of the segment held (attach_act()), by the owner, creator or
 * root. */
static int remove_act(const struct identity_pin *pin, void *req)
{
	int ret = check_owner(req, &pin->held);

	return ret ? ret : segment_remove(pin->held.shmid);
}

/* rm <shmid>: of the segment stat'ed, pinned while it is removed. */
static void root_unlink(fuse_req_t req, const struct node *dir, const char *name)
{
	struct segment_info seg;
	enum name_kind kind;
	int shmid, ret;

	kind = names_parse_root(name, &shmid);
	if (kind == NAME_NONE) {
		fuse_reply_err(req, strcmp(name, NAMES_BYKEY_NAME) == 0 ? EISDIR : ENOENT);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	/* A sidecar, .next or .procs goes with its segment, never alone. */
	if (ret == 0 && kind != NAME_SEGMENT)
		ret = -EPERM;
	/* Marked for destruction, it is gone from the name space (listed
	 * until its attachers leave): a second IPC_RMID would "succeed", and
	 * a tool that unlinks and retries (tar x) would loop. */
	if (ret == 0 && (seg.mode & SEGMENT_MODE_DEST))
		ret = -ENOENT;
	if (ret == 0) {
		struct segment_identity expected;

		identity_weak(&seg, &expected);
		ret = attach_act(fs_of(req)->attaches, &expected, remove_act, req);
		/* its .next readers hear of it before rm returns */
		if (ret == 0)
			watch_removed(fs_of(req)->watches, &expected);
	}
	fuse_reply_err(req, -ret);
}

static void refuse(fuse_req_t req, const struct node *dir, const char *name)
{
	/* Links in by-key/ go with their segment (rm its shmid). */
	fuse_reply_err(req, EPERM);
}

static void root_create(fuse_req_t req, const struct node *dir, const char *name, mode_t mode,
			struct fuse_file_info *fi)
{
	/* Segments get their shmid from the kernel: create by key. */
	fuse_reply_err(req, EPERM);
}

/* ---- attributes -------------------------------------------------------- */

static void dir_getattr(fuse_req_t req, const struct node *dir, struct fuse_file_info *fi)
{
	struct stat st;

	attr_of_dir(&fs_of(req)->dirs, dir->id, &st);
	fuse_reply_attr(req, &st, FS_DIR_TIMEOUT_S);
}

static void root_access(fuse_req_t req, const struct node *dir, int mask)
{
	/* The root takes no new names; by-key/ does (creation). */
	fuse_reply_err(req, (mask & W_OK) ? EACCES : 0);
}

static void bykey_access(fuse_req_t req, const struct node *dir, int mask)
{
	fuse_reply_err(req, 0);
}

static void dir_open(fuse_req_t req, const struct node *dir, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EISDIR);
}

/* ---- listings ----------------------------------------------------------- */

/* One open directory: a snapshot taken at opendir, shared with every
 * handle whose listing is the same. */
struct open_dir {
	LIST_ENTRY(open_dir) link; /* in fs->open_dirs */
	struct listing *snap;
	uid_t uid;
};

static void open_dir_free(struct shmfs *fs, struct open_dir *d)
{
	pthread_mutex_lock(&fs->open_dirs_lock);
	LIST_REMOVE(d, link);
	pthread_mutex_unlock(&fs->open_dirs_lock);
	listing_close_dir(fs->listings, d->uid, d->snap);
	free(d);
}

void fs_dirs_free_all(struct shmfs *fs)
{
	while (!LIST_EMPTY(&fs->open_dirs))
		open_dir_free(fs, LIST_FIRST(&fs->open_dirs));
}

static void dir_opendir(fuse_req_t req, const struct node *dir, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct open_dir *d = calloc(1, sizeof(*d));
	int ret;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* One enumeration per listing: every readdir of this handle is
	 * served from this snapshot. */
	d->uid = fuse_req_ctx(req)->uid;
	ret = listing_open_dir(fs->listings, d->uid, &d->snap);
	if (ret) {
		free(d);
		fuse_reply_err(req, -ret);
		return;
	}
	pthread_mutex_lock(&fs->open_dirs_lock);
	LIST_INSERT_HEAD(&fs->open_dirs, d, link);
	pthread_mutex_unlock(&fs->open_dirs_lock);
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_dir_free(fs, d);
}

static void dir_releasedir(fuse_req_t req, const struct node *dir, struct fuse_file_info *fi)
{
	open_dir_free(fs_of(req), (struct open_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* The root's directories after "." and "..": by-key, sem, msg. */
#define ROOT_DIRS 4

/* Entry n of a listing (n is also its offset, so offsets stay stable):
 * false past the end.  Root: ".", "..", "by-key", "sem", "msg", then
 * each segment and its sidecar.  by-key/: ".", "..", then each segment with a key. */
static bool dir_entry(const struct node *dir, const struct listing *list, off_t *n, char *name,
		      size_t name_size, enum name_kind *kind, struct segment_info *seg)
{
	size_t i;

	static const char *const first[] = { ".", "..", NAMES_BYKEY_NAME, NAMES_SEM_DIR,
					     NAMES_MSG_DIR };
	static const enum name_kind first_kind[] = { NAME_NONE, NAME_ROOT, NAME_BYKEY, NAME_SEMS,
						     NAME_MSGS };

	if (*n == 0 || *n == 1 || (dir->kind == NAME_ROOT && *n <= ROOT_DIRS)) {
		snprintf(name, name_size, "%s", first[*n]);
		*kind = *n == 0 ? dir->kind : first_kind[*n];
		return true;
	}
	if (dir->kind == NAME_ROOT) {
		i = (*n - ROOT_DIRS - 1) / 2;
		if (i >= list->n)
			return false;
		*kind = (*n - ROOT_DIRS - 1) % 2 ? NAME_SIDECAR : NAME_SEGMENT;
		listing_entry_info(&list->v[i], seg);
		names_format_root(name, name_size, *kind, seg->shmid);
		return true;
	}
	/* Segments without a key are skipped: the offset is the index. */
	for (i = *n - 2; i < list->n && list->v[i].key == 0; i++)
		;
	if (i >= list->n)
		return false;
	*n = i + 2;
	*kind = NAME_KEYLINK;
	listing_entry_info(&list->v[i], seg);
	names_format_key(name, name_size, seg->key);
	return true;
}

/* The nodes a readdirplus reply hands the kernel, given back if it
 * cannot be sent. */
struct handed {
	uint64_t *ids;
	size_t n, cap;
};

static int hand(struct handed *h, uint64_t id)
{
	uint64_t *grown = array_grow(h->ids, h->n, &h->cap, sizeof(*h->ids));

	if (!grown)
		return -ENOMEM;
	h->ids = grown;
	h->ids[h->n++] = id;
	return 0;
}

/* One entry into buf (at most room bytes): its length, or 0 if it did
 * not fit or could not be made (then nothing of it is kept). */
static size_t add_entry(fuse_req_t req, char *buf, size_t room, const char *name,
			enum name_kind kind, struct segment_info *seg, off_t next, bool plus,
			struct handed *h)
{
	struct shmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	size_t len;

	if (kind == NAME_ROOT || kind == NAME_BYKEY)
		fs_fill_dir_entry(fs, kind == NAME_ROOT ? NODE_ROOT_ID : NODE_BYKEY_ID, &e);
	else if ((kind == NAME_SEMS || kind == NAME_MSGS) && !plus)
		view_top_attr(fs, kind == NAME_SEMS ? &view_sem : &view_msg, &e.attr);
	else if (kind == NAME_SEMS || kind == NAME_MSGS) {
		if (view_fill_top_entry(fs, kind == NAME_SEMS ? &view_sem : &view_msg, &e) != 0)
			return 0;
	} else if (!plus)
		attr_of_segment(kind, seg, &e.attr);
	else if (fs_fill_entry(req, kind, seg, &e) != 0)
		return 0;
	if (!plus)
		return fuse_add_direntry(req, buf, room, name, &e.attr, next);
	len = fuse_add_direntry_plus(req, buf, room, name, &e, next);
	if (kind == NAME_ROOT || kind == NAME_BYKEY)
		return len;
	if (len > room || hand(h, e.ino) != 0) {
		node_forget(fs->nodes, e.ino, 1);
		return 0;
	}
	return len;
}

static void dir_readdir(fuse_req_t req, const struct node *dir, size_t size, off_t off,
			struct fuse_file_info *fi, bool plus)
{
	struct shmfs *fs = fs_of(req);
	const struct listing *list = ((struct open_dir *)(uintptr_t)fi->fh)->snap;
	struct handed h = { 0 };
	struct segment_info seg;
	enum name_kind kind;
	char name[64];
	size_t used = 0, len;
	char *buf = malloc(size);

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t n = off; dir_entry(dir, list, &n, name, sizeof(name), &kind, &seg); n++) {
		len = add_entry(req, buf + used, size - used, name, kind, &seg, n + 1, plus, &h);
		if (len == 0 || len > size - used)
			break;
		used += len;
	}
	if (fuse_reply_buf(req, buf, used) != 0)
		for (size_t i = 0; i < h.n; i++)
			node_forget(fs->nodes, h.ids[i], 1);
	free(h.ids);
	free(buf);
}

const struct fs_kind_ops fs_root_ops = {
	.lookup = root_lookup,
	.create = root_create,
	.unlink = root_unlink,
	.opendir = dir_opendir,
	.readdir = dir_readdir,
	.releasedir = dir_releasedir,
	.getattr = dir_getattr,
	.access = root_access,
	.open = dir_open,
};

const struct fs_kind_ops fs_bykey_ops = {
	.lookup = bykey_lookup,
	.create = fs_pending_create,
	.unlink = refuse,
	.opendir = dir_opendir,
	.readdir = dir_readdir,
	.releasedir = dir_releasedir,
	.getattr = dir_getattr,
	.access = bykey_access,
	.open = dir_open,
};
