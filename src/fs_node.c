/* fs_node.c - what the segment-derived kinds share: a node's segment as
 * it is now, and the entries that make nodes. */
#include <errno.h>
#include <string.h>

#include "attr.h"
#include "fs_io.h"
#include "fs_kind.h"

int fs_segment_of(const struct node *n, struct segment_info *seg)
{
	struct segment_identity now;
	int ret = segment_stat(n->life.shmid, false, seg);

	if (ret == -ENOENT)
		return node_check(n, NULL);
	if (ret)
		return ret;
	identity_weak(seg, &now);
	return node_check(n, &now);
}

int fs_fill_entry(fuse_req_t req, enum name_kind kind, struct segment_info *seg,
		  struct fuse_entry_param *e)
{
	struct shmfs *fs = fs_of(req);
	struct segment_identity life;
	struct node n;
	int ret;

	identity_weak(seg, &life);
	ret = node_lookup(fs->nodes, kind, &life, &n);
	if (ret)
		return ret;
	memset(e, 0, sizeof(*e));
	attr_of_segment(kind, seg, &e->attr);
	/* Node ids are never handed out twice: no generation needed. */
	e->ino = n.id;
	e->attr_timeout = attr_uncached(kind) ? 0 : fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.entry_timeout;
	return 0;
}

void fs_reply_entry(fuse_req_t req, enum name_kind kind, struct segment_info *seg)
{
	struct shmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	int ret = fs_fill_entry(req, kind, seg, &e);

	if (ret)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_entry(req, &e) != 0)
		node_forget(fs->nodes, e.ino, 1); /* the kernel never counted it */
}

void fs_fill_dir_entry(struct shmfs *fs, fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	attr_of_dir(&fs->dirs, ino, &e->attr);
	e->ino = ino;
	e->attr_timeout = e->entry_timeout = FS_DIR_TIMEOUT_S;
}

void fs_segment_getattr(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	struct segment_info seg;
	struct stat st;
	int ret = fs_segment_of(n, &seg);

	(void)fi;
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	attr_of_segment(n->kind, &seg, &st);
	fuse_reply_attr(req, &st, fs_of(req)->opts.attr_timeout);
}
