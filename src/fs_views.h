/* fs_views.h - what the FUSE layer's two views, sem/ and msg/, share.
 *
 * Layout (man page, THE SEM/ AND MSG/ VIEWS):
 *   sem/<semid>/          a directory per semaphore set
 *   sem/<semid>/stat      the set as text (semset_render)
 *   sem/<semid>/<num>     one semaphore: its value; write N, +N, -N
 *   sem/by-key/0xKKKKKKKK a link to ../<semid>
 *   msg/<msqid>/          a directory per message queue
 *   msg/<msqid>/stat      the queue as text (msgq_render)
 *   msg/<msqid>/<index>   the message at that index: its bytes
 *   msg/by-key/0xKKKKKKKK a link to ../<msqid>
 * rmdir of an object's directory is IPC_RMID, chmod and chown of it
 * IPC_SET, each by the owner rule (access.c).
 *
 * A node of these kinds names one object lifetime through a struct
 * segment_identity filled with what never changes while the object
 * lives (view_identity()): for a set, (semid, key, cuid, cgid, nsems);
 * for a queue, (msqid, key, cuid, cgid) (size holds key << 32 | nsems);
 * cpid holds the item's number for an item node (a semaphore, a message
 * index), 0 otherwise.  IPC_SET changes uid, gid and mode, and a set's
 * ctime also moves at SETVAL: none of those is in it.  A later object
 * with the same number, key, creator and size is not told apart: the
 * kernel gives a set or a queue nothing more that never changes.  The top directories and by-key/
 * have an all-zero one.
 */
#ifndef SHMFS_FS_VIEWS_H
#define SHMFS_FS_VIEWS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "access.h"
#include "fs_kind.h"

/* One set or queue, as the FUSE layer shows it. */
struct view_object {
	int id;
	int32_t key;
	struct access_perm perm;
	unsigned int items; /* semaphores, or messages now */
	uint64_t fixed;	    /* the rest of its identity: nsems, or 0 */
	time_t mtime;	    /* the last operation (otime, or stime/rtime), else ctime */
	time_t ctime;
};

struct view_type {
	const char *dir_name; /* NAMES_SEM_DIR, NAMES_MSG_DIR */
	enum name_kind top, bykey, object, statfile, item, keylink;
	unsigned int item_mode; /* the permission bits an item file can show */
	int (*stat)(int id, struct view_object *out);
	int (*find_key)(int32_t key);
	int (*each)(int (*fn)(const struct view_object *o, void *arg), void *arg);
	int (*remove)(int id);
	int (*set_perm)(int id, uid_t uid, gid_t gid, unsigned int mode);
	/* An item's size as ls shows it (a message's bytes), 0 if none. */
	uint64_t (*item_size)(const struct view_object *o, unsigned int item);
	/* Else every item's size, for everyone (a semaphore's file: fs_sem.c). */
	uint64_t item_fixed_size;
};

extern const struct view_type view_sem; /* fs_sem.c */
extern const struct view_type view_msg; /* fs_msg.c */

/* The view a kind belongs to; NULL for other kinds. */
const struct view_type *view_of_kind(enum name_kind kind);

/* n's object as it is now, and its view: 0; -ENOENT if nothing has the
 * id any more; -ESTALE if another lifetime has it. */
int view_object_of(const struct node *n, const struct view_type **type, struct view_object *o);

/* access.c's rules with the request's caller (its groups read when they
 * matter): 0, -EACCES, -EPERM. */
int view_check_access(fuse_req_t req, const struct view_object *o, int want);
int view_check_owner(fuse_req_t req, const struct view_object *o);

/* The root's sem/ and msg/ (fs_dir.c): their attributes, their entry
 * (a node handed to the kernel). */
void view_top_attr(struct shmfs *fs, const struct view_type *type, struct stat *st);
void view_reply_top_entry(fuse_req_t req, const struct view_type *type);
int view_fill_top_entry(struct shmfs *fs, const struct view_type *type, struct fuse_entry_param *e);

extern const struct fs_kind_ops fs_view_top_ops, fs_view_bykey_ops, fs_view_object_ops,
	fs_view_keylink_ops;
extern const struct fs_kind_ops fs_semset_stat_ops, fs_semaphore_ops; /* fs_sem.c */
extern const struct fs_kind_ops fs_msgq_stat_ops, fs_message_ops;     /* fs_msg.c */

/* getattr of any view kind. */
void view_getattr(fuse_req_t req, const struct node *n, struct fuse_file_info *fi);

#endif
