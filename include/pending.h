/* pending.h - names being created in by-key/: the bytes gathered before
 * their segment exists, whose they are, and who may see them.
 *
 * shmget needs the size before the segment exists, so what is written to
 * a new name is gathered here until a truncate gives the size or a close
 * makes the segment.  The rules:
 *  - a name is its creator's alone: every lookup is by (key, uid), so
 *    another user (root too) finds nothing, as the kernel shows nothing of
 *    a segment not made yet; their own creation of the same key is a
 *    name of their own, and the one made second fails with EEXIST;
 *  - only the creator or root changes a name (EPERM);
 *  - bytes gathered count against their creator's budget (EFBIG beyond
 *    it); after a write or a creation failed, a close makes nothing and
 *    reports that errno;
 *  - the table's mutex is held for the bookkeeping only.  The segment is
 *    made by the caller, never from here: a call that decides it is to
 *    be made now answers PENDING_MAKE with what to make, the caller makes
 *    it (shmget, the copy) without any lock of the table's and reports
 *    the outcome with pending_made(); meanwhile the name is marked as
 *    being made and other calls on that same name wait for the outcome;
 *  - the file the caller made is kept as an opaque handle, handed out
 *    for the requests that go to the segment (PENDING_MADE), and handed
 *    back to the caller to let go of by the call that lets go of the
 *    name's last reference (pending_put(), pending_unhold()).
 *
 * Knows nothing of FUSE and calls nothing of the caller's: returns
 * errnos and handles, never replies.
 */
#ifndef SHMFS_PENDING_H
#define SHMFS_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pending_table;
struct pending; /* one name being created by one user */

/* What a name is now, for attributes and permission checks. */
struct pending_info {
	int32_t key;
	unsigned int mode; /* permission bits it will be made with */
	uid_t cuid;	   /* the creator, who makes it */
	gid_t cgid;
	uid_t uid; /* the owner it will get (chown) */
	gid_t gid;
	size_t len;	 /* bytes gathered */
	int shmid;	 /* once made; -1 before */
	void *file;	 /* once made, the caller's handle of it; NULL before */
	uint64_t serial; /* this creation's, never another's (from 1) */
};

/* PENDING_MAKE: the segment is to be made now, by the caller: the segment
 * of info.key with size bytes and the first len bytes of data in it, as
 * info.cuid:cgid, owned by info.uid:gid with info.mode.  data stays valid
 * and unchanged until pending_made(), which the caller must call once,
 * whatever the outcome (other calls on the name wait for it). */
#define PENDING_MAKE 2
struct pending_make {
	struct pending_info info;
	const char *data;
	size_t len;
	size_t size;
};

/* The outcome of a PENDING_MAKE: err 0 with the caller's handle of the
 * segment made (file, kept until the name's last reference, then handed
 * back) and its shmid; or -errno, nothing made, which spoils the name.
 * Returns err. */
int pending_made(struct pending_table *t, struct pending *p, int err, void *file, int shmid);

/* A table with budget bytes per creator.  NULL if out of memory; a NULL
 * table has no names, and pending_get() with create fails with -ENOMEM. */
struct pending_table *pending_table_new(size_t budget);
/* Free every name; the files made are the caller's to close (at the end
 * of a session, with its other open files).  NULL: nothing. */
void pending_table_free(struct pending_table *t);

/* The name uid is creating for key, with a reference: with create, made
 * if uid has none (*created says so); without, -ENOENT if uid has none.
 * A name once made is no name being created: it is never found here
 * again (a creation of its key is a new name), only by its files and
 * pending_hold().  info receives what it is.  0 or -errno. */
int pending_get(struct pending_table *t, int32_t key, uid_t uid, gid_t gid, unsigned int mode,
		bool create, struct pending **out, bool *created, struct pending_info *info);
/* Let go of the reference of a pending_get() without making anything
 * (an open refused).  At the name's last reference, the file made for it
 * (the caller's to let go of), else NULL. */
void *pending_put(struct pending_table *t, struct pending *p);
/* An open of the creation serial (a node's) of uid's name for key, as
 * pending_get() without create: -ENOENT if it is made or gone, or is not
 * uid's. */
int pending_reopen(struct pending_table *t, int32_t key, uid_t uid, uint64_t serial,
		   struct pending **out, struct pending_info *info);
/* A reference to uid's name for key that is not an open file (a change
 * by path, or one the kernel sends without the file: fstat, fchmod): the
 * creation serial, being created or made while a file of it is open;
 * serial 0: the name being created, else the one made last while a file
 * of it is open.  -ENOENT if none.  pending_unhold() lets go of it (or of the
 * reference pending_on_release() leaves), handing back the file made at
 * the name's last reference (the caller's to let go of), else NULL. */
int pending_hold(struct pending_table *t, int32_t key, uid_t uid, uint64_t serial,
		 struct pending **out);
void *pending_unhold(struct pending_table *t, struct pending *p);
/* What the name uid is creating for key is (never a made one), or
 * -ENOENT. */
int pending_find(struct pending_table *t, int32_t key, uid_t uid, struct pending_info *info);
void pending_info_of(struct pending_table *t, struct pending *p, struct pending_info *info);

/* PENDING_MADE: the segment exists; *file is where the request goes. */
#define PENDING_MADE 1

/* Gather size bytes at off: 0, PENDING_MADE, or -EFBIG (beyond the
 * creator's budget) / -ENOMEM, which spoil the name. */
int pending_gather(struct pending_table *t, struct pending *p, const char *buf, size_t size,
		   off_t off, void **file);
/* Copy out up to size bytes at off into buf: 0 with *n, or PENDING_MADE. */
int pending_copy_out(struct pending_table *t, struct pending *p, char *buf, size_t size, off_t off,
		     size_t *n, void **file);

/* A change asked by caller: chmod, chown, truncate, touch. */
#define PENDING_SET_MODE  1
#define PENDING_SET_UID	  2
#define PENDING_SET_GID	  4
#define PENDING_SET_SIZE  8
#define PENDING_SET_TOUCH 16
struct pending_change {
	int what; /* PENDING_SET_* */
	unsigned int mode;
	uid_t uid;
	gid_t gid;
	uint64_t size;
};

/* Apply c: -EPERM unless caller is the creator or root; PENDING_MADE if
 * the segment exists already (the change is then the segment's: *file);
 * otherwise recorded, and a size (other than 0) or a touch makes the
 * segment (a touch at the default size): PENDING_MAKE with *mk.  0 or
 * -errno. */
int pending_change(struct pending_table *t, struct pending *p, uid_t caller,
		   const struct pending_change *c, size_t default_size, void **file,
		   struct pending_make *mk);

/* A close of a file of p: after bytes were written, make the segment
 * (max(len, default_size)): PENDING_MAKE with *mk; after a failure, that
 * failure.  0 or -errno. */
int pending_on_flush(struct pending_table *t, struct pending *p, size_t default_size,
		     struct pending_make *mk);
/* The release of a file of p (a pending_get()): at the last open file, a
 * name never made and not spoilt is to be made (as pending_on_flush,
 * even with nothing written): PENDING_MAKE with *mk; else 0.  The
 * reference stays: pending_unhold() lets go of it (after pending_made()). */
int pending_on_release(struct pending_table *t, struct pending *p, size_t default_size,
		       struct pending_make *mk);

#endif
