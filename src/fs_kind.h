/* fs_kind.h - the FUSE layer's dispatch: one table of operations per kind
 * of name.
 *
 * fs.c decodes every request's node id once (node.h: the node table, or
 * one of the two directories) into a struct node, and hands the request
 * to the operations of the node's kind: no handler switches on the kind.
 * An operation a kind leaves NULL gets fs.c's answer for it (lookup,
 * create, unlink: ENOENT; opendir: ENOTDIR; setattr: EPERM; readlink,
 * open: EINVAL; flush, release: 0; poll: always ready).
 *
 * Adding a kind (the views' sem/ and msg/):
 *  1. a value in enum name_kind (names.h), below NAME_KINDS;
 *  2. a `const struct fs_kind_ops fs_<yours>_ops` in your own
 *     src/fs_<yours>.c (handlers: parse, call one core function, reply),
 *     declared below, and one line in fs_kinds[] (fs.c);
 *  3. nodes of it are made by the .lookup (and .readdir with plus) of the
 *     directory it lives in, through node_lookup() with the identity of
 *     your object's lifetime: fill a struct segment_identity with what
 *     never changes while your object lives, and say why next to the
 *     code.  fs_reply_entry() does it for segment-derived kinds.
 *  4. every handler of a node checks, before it acts, that the node's
 *     lifetime is still what the kernel shows (node_check());
 *     fs_segment_of() does it for segments.
 */
#ifndef SHMFS_FS_KIND_H
#define SHMFS_FS_KIND_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "daemon.h"
#include "node.h"
#include "segment.h"

struct open_file;

struct fs_kind_ops {
	/* A directory's names. */
	void (*lookup)(fuse_req_t req, const struct node *dir, const char *name);
	void (*create)(fuse_req_t req, const struct node *dir, const char *name, mode_t mode,
		       struct fuse_file_info *fi);
	void (*unlink)(fuse_req_t req, const struct node *dir, const char *name);
	void (*rmdir)(fuse_req_t req, const struct node *dir, const char *name); /* NULL: EPERM */
	void (*opendir)(fuse_req_t req, const struct node *dir, struct fuse_file_info *fi);
	void (*readdir)(fuse_req_t req, const struct node *dir, size_t size, off_t off,
			struct fuse_file_info *fi, bool plus);
	void (*releasedir)(fuse_req_t req, const struct node *dir, struct fuse_file_info *fi);

	/* The node itself.  An entry (lookup, readdirplus) of a
	 * segment-derived kind carries attr_of_segment()'s attributes; a
	 * kind that shows more (the sidecar's size) says so in its getattr
	 * and in attr_uncached() (attr.h).  So fs_node.c needs no table. */
	void (*getattr)(fuse_req_t req, const struct node *n, struct fuse_file_info *fi);
	void (*setattr)(fuse_req_t req, const struct node *n, struct stat *attr, int to_set,
			struct fuse_file_info *fi);
	void (*access)(fuse_req_t req, const struct node *n, int mask);
	void (*readlink)(fuse_req_t req, const struct node *n);

	/* Its open files. */
	void (*open)(fuse_req_t req, const struct node *n, struct fuse_file_info *fi);
	void (*read)(fuse_req_t req, const struct node *n, size_t size, off_t off,
		     struct fuse_file_info *fi);
	void (*write)(fuse_req_t req, const struct node *n, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi);
	void (*flush)(fuse_req_t req, const struct node *n, struct fuse_file_info *fi);
	void (*release)(fuse_req_t req, const struct node *n, struct fuse_file_info *fi);
	void (*poll)(fuse_req_t req, const struct node *n, struct fuse_file_info *fi,
		     struct fuse_pollhandle *ph);
};

extern const struct fs_kind_ops fs_root_ops;	 /* fs_dir.c */
extern const struct fs_kind_ops fs_bykey_ops;	 /* fs_dir.c */
extern const struct fs_kind_ops fs_segment_ops;	 /* fs_segment.c */
extern const struct fs_kind_ops fs_next_ops;	 /* fs_segment.c */
extern const struct fs_kind_ops fs_keylink_ops;	 /* fs_segment.c */
extern const struct fs_kind_ops fs_nextlink_ops; /* fs_segment.c */
extern const struct fs_kind_ops fs_sidecar_ops;	 /* fs_text.c */
extern const struct fs_kind_ops fs_procs_ops;	 /* fs_text.c */
extern const struct fs_kind_ops fs_pending_ops;	 /* fs_create.c */

/* ---- helpers of the segment-derived kinds (fs_node.c) -------------------- */

/* The directories never change: the kernel may keep them this long. */
#define FS_DIR_TIMEOUT_S 3600

/* The segment of n's lifetime as it is now: 0; -ENOENT if nothing has
 * its shmid any more; -ESTALE if another lifetime has it. */
int fs_segment_of(const struct node *n, struct segment_info *seg);

/* The operations of a kind (fs.c). */
const struct fs_kind_ops *fs_kind(enum name_kind kind);

/* Reply to a lookup of a name of this kind of seg (just stat'ed): its
 * node, made or found, counted as the kernel's.  A reply that cannot be
 * sent gives the lookup back. */
void fs_reply_entry(fuse_req_t req, enum name_kind kind, struct segment_info *seg);
/* The same for an entry of a directory listing with plus: 0 with *e
 * filled, or -errno.  Give the lookup back with node_forget() when the
 * entry is not sent. */
int fs_fill_entry(fuse_req_t req, enum name_kind kind, struct segment_info *seg,
		  struct fuse_entry_param *e);
/* A directory's entry (never in the table: its id is fixed). */
void fs_fill_dir_entry(struct shmfs *fs, fuse_ino_t ino, struct fuse_entry_param *e);

/* The segment of n's lifetime as a file open on it shows it.  A file acts
 * on its own lifetime for as long as it is open, as an unlinked file
 * does: while the kernel has the lifetime (removed or not: a removed one
 * has link count 0), the segment as it is now; once destroyed, the
 * segment as the open found it (its IPC_STAT after the attach), with
 * link count 0 (SEGMENT_MODE_DEST, no attachment).  of: the file the
 * request came with (ftruncate(2), GETATTR_FH), whose own lifetime
 * answers whoever has the shmid now; or NULL: stat(2), and fstat(2),
 * which the kernel sends without the file.  Then a file still open on
 * the node's lifetime answers while nobody has the shmid, and once
 * another segment has it, -ESTALE: what makes a path look its name up
 * again (the same request may be a stat of a name the kernel keeps).
 * 0 or -errno (fs_segment.c). */
int fs_segment_as_open(struct shmfs *fs, const struct node *n, struct open_file *of,
		       struct segment_info *seg);
/* chmod, chown of n's segment by the caller: on the node's lifetime,
 * pinned while it is changed (the kernel sends no file handle with them,
 * not even for fchmod(2)); -ENOENT once nothing has the shmid, -ESTALE
 * once another lifetime has it.  0 or -errno (fs_segment.c). */
int fs_segment_change_perm(fuse_req_t req, const struct node *n, const struct stat *attr,
			   int to_set);

/* The getattr of every segment-derived kind: from its segment as it is
 * now (ESTALE or ENOENT once its lifetime is over). */
void fs_segment_getattr(fuse_req_t req, const struct node *n, struct fuse_file_info *fi);

/* A text file rendered at its open (fs_text.c): reply to the open with
 * text (malloc'ed, taken over), serve reads from it, free it at release
 * (or at the session's end). */
void fs_reply_text_open(fuse_req_t req, char *text, size_t len, struct fuse_file_info *fi);
/* The same for node ino, whose writes may reach the daemon in parallel
 * (FOPEN_PARALLEL_DIRECT_WRITES when offered: kernel_features.h), and
 * whether an open text file was opened with O_TRUNC. */
void fs_reply_text_open_parallel(fuse_req_t req, fuse_ino_t ino, char *text, size_t len,
				 struct fuse_file_info *fi);
bool fs_text_truncated(struct fuse_file_info *fi);
void fs_text_read(fuse_req_t req, const struct node *n, size_t size, off_t off,
		  struct fuse_file_info *fi);
void fs_text_release(fuse_req_t req, const struct node *n, struct fuse_file_info *fi);

/* Text files still open when the session ends (fs_text.c). */
void fs_texts_free_all(struct shmfs *fs);
/* The same for directories still open (their releasedir may be on its
 * way when the session ends: the kernel sends it in the background). */
void fs_dirs_free_all(struct shmfs *fs);

#endif
