/* fs_sem.c - the sem/ view's files: a set's stat (semset_render) and one
 * file per semaphore (its value; write N, +N or -N). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_io.h"
#include "fs_views.h"
#include "semset.h"

static void object_of_set(const struct semset_info *s, struct view_object *o)
{
	memset(o, 0, sizeof(*o));
	o->id = s->semid;
	o->key = s->key;
	semset_perm(s, &o->perm);
	o->items = s->nsems;
	o->fixed = s->nsems;
	o->mtime = s->otime ? s->otime : s->ctime;
	o->ctime = s->ctime;
}

static int set_stat(int id, struct view_object *o)
{
	struct semset_info s;
	int ret = semset_stat(id, &s);

	if (ret == 0)
		object_of_set(&s, o);
	return ret;
}

struct each_set {
	int (*fn)(const struct view_object *o, void *arg);
	void *arg;
};

static int each_one(const struct semset_info *s, void *arg)
{
	struct each_set *e = arg;
	struct view_object o;

	object_of_set(s, &o);
	return e->fn(&o, e->arg);
}

static int set_each(int (*fn)(const struct view_object *o, void *arg), void *arg)
{
	struct each_set e = { fn, arg };

	return semset_each(each_one, &e);
}

const struct view_type view_sem = {
	.dir_name = NAMES_SEM_DIR,
	.top = NAME_SEMS,
	.bykey = NAME_SEM_BYKEY,
	.object = NAME_SEMSET,
	.statfile = NAME_SEMSET_STAT,
	.item = NAME_SEMAPHORE,
	.keylink = NAME_SEM_KEYLINK,
	.item_mode = 0666, /* reading: read; SETVAL and semop: alter */
	.stat = set_stat,
	.find_key = semset_find_key,
	.each = set_each,
	.remove = semset_remove,
	.set_perm = semset_set_perm,
};

/* ---- stat ------------------------------------------------------------------------- */

/* The set as the caller may see it: its values (read permission, as
 * semctl asks), the processes named (their comm and verdict as the
 * caller's /proc shows them) and the waiters the caller could trace. */
static int render_set(fuse_req_t req, int semid, char **text, size_t *len)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct procs_caller caller = { .uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid };
	struct semset_info info;
	struct semset_sem *sems = NULL;
	struct waiters_pid *last = NULL;
	struct waiters_list waiters = { 0 };
	struct semset_view v = { .info = &info };
	unsigned long waiting = 0;
	int ret = semset_stat(semid, &info);

	if (ret == 0 && info.nsems) {
		sems = calloc(info.nsems, sizeof(*sems));
		last = calloc(info.nsems, sizeof(*last));
		ret = sems && last ? semset_read_sems(semid, info.nsems, sems) : -ENOMEM;
	}
	for (unsigned int i = 0; ret == 0 && i < info.nsems; i++) {
		/* The act was no later than the last semop or semctl. */
		last[i].pid = sems[i].pid;
		last[i].when = info.otime > info.ctime ? info.otime : info.ctime;
		waiting += (unsigned long)sems[i].ncnt + sems[i].zcnt;
	}
	/* The /proc scan for waiters (every thread's syscall file) only when
	 * the kernel counts some: a reader of many idle sets costs a look at
	 * their recorded pids, not a scan of every process per set. */
	if (ret == 0)
		ret = waiters_look(WAITERS_SEM, semid, &caller, last, info.nsems,
				   waiting ? &waiters : NULL);
	if (ret == 0) {
		v.sems = sems;
		v.last = last;
		v.waiters = &waiters;
		v.orphan = semset_is_orphan(&info, sems, last);
		ret = semset_render(&v, text, len);
	}
	waiters_list_free(&waiters);
	free(sems);
	free(last);
	return ret;
}

static void stat_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	const struct view_type *t;
	struct view_object o;
	char *text = NULL;
	size_t len = 0;
	int ret = view_object_of(n, &t, &o);

	if (ret == 0 && (fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY)
		ret = -EACCES;
	if (ret == 0)
		ret = view_check_access(req, &o, ACCESS_READ);
	if (ret == 0)
		ret = render_set(req, o.id, &text, &len);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fs_reply_text_open(req, text, len, fi);
}

static void stat_access(fuse_req_t req, const struct node *n, int mask)
{
	const struct view_type *t;
	struct view_object o;
	int ret = view_object_of(n, &t, &o);

	if (ret == 0 && (mask & (W_OK | X_OK)))
		ret = -EACCES;
	if (ret == 0 && (mask & R_OK))
		ret = view_check_access(req, &o, ACCESS_READ);
	fuse_reply_err(req, -ret);
}

const struct fs_kind_ops fs_semset_stat_ops = {
	.getattr = view_getattr,
	.access = stat_access,
	.open = stat_open,
	.read = fs_text_read,
	.release = fs_text_release,
};

/* ---- one semaphore ------------------------------------------------------------------- */

static int want_of(int flags)
{
	int acc = flags & O_ACCMODE;

	/* SETVAL and semop need alter (write) only; reading needs read. */
	return (acc != O_WRONLY ? ACCESS_READ : 0) |
	       (acc != O_RDONLY || (flags & O_TRUNC) ? ACCESS_WRITE : 0);
}

static void sem_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	const struct view_type *t;
	struct view_object o;
	unsigned int num = (unsigned int)n->life.cpid;
	int want = want_of(fi->flags);
	char *text = NULL;
	int ret = view_object_of(n, &t, &o), len = 0;

	if (ret == 0)
		ret = view_check_access(req, &o, want);
	if (ret == 0)
		ret = (text = malloc(16)) ? 0 : -ENOMEM;
	if (ret == 0 && (want & ACCESS_READ)) {
		int value = semset_getval(o.id, num);

		if (value < 0)
			ret = value;
		else
			len = snprintf(text, 16, "%d\n", value);
	}
	if (ret) {
		free(text);
		fuse_reply_err(req, -ret);
		return;
	}
	/* The value as it was at the open: every read of it the same. */
	fs_reply_text_open(req, text, (size_t)len, fi);
}

/* N: SETVAL; +N, -N: a semop without SEM_UNDO (an undo would be undone
 * when the daemon's thread, not the writer, ends), never waiting: a -N
 * that cannot be taken now is EAGAIN. */
static void sem_write(fuse_req_t req, const struct node *n, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	const struct view_type *t;
	struct view_object o;
	struct semset_write w;
	unsigned int num = (unsigned int)n->life.cpid;
	int ret = semset_parse_write(buf, size, &w);

	if (ret == 0)
		ret = view_object_of(n, &t, &o);
	/* The kernel checks at each call: so is the writer, as it is now. */
	if (ret == 0)
		ret = view_check_access(req, &o, ACCESS_WRITE);
	if (ret == 0)
		ret = w.relative ? semset_op_nowait(o.id, num, w.value)
				 : semset_setval(o.id, num, w.value);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

/* An open with O_TRUNC by a kernel without atomic O_TRUNC: a truncation
 * of a value means nothing and is accepted; chmod goes to the set. */
static void sem_setattr(fuse_req_t req, const struct node *n, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	view_getattr(req, n, fi);
}

static void sem_access(fuse_req_t req, const struct node *n, int mask)
{
	const struct view_type *t;
	struct view_object o;
	int ret = view_object_of(n, &t, &o);

	if (ret == 0 && (mask & X_OK))
		ret = -EACCES;
	if (ret == 0)
		ret = view_check_access(req, &o,
					((mask & R_OK) ? ACCESS_READ : 0) |
						((mask & W_OK) ? ACCESS_WRITE : 0));
	fuse_reply_err(req, -ret);
}

const struct fs_kind_ops fs_semaphore_ops = {
	.getattr = view_getattr,
	.setattr = sem_setattr,
	.access = sem_access,
	.open = sem_open,
	.read = fs_text_read,
	.write = sem_write,
	.release = fs_text_release,
};
