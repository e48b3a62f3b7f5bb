/* fs_msg.c - the msg/ view's files: a queue's stat (msgq_render) and one
 * file per message, by index, read with MSG_COPY: never consumed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_io.h"
#include "fs_views.h"
#include "msgq.h"

static void object_of_queue(const struct msgq_info *q, struct view_object *o)
{
	memset(o, 0, sizeof(*o));
	o->id = q->msqid;
	o->key = q->key;
	msgq_perm(q, &o->perm);
	/* A listing names at most what one open of stat lists. */
	o->items = q->qnum < MSGQ_MAX_MESSAGES ? (unsigned int)q->qnum : MSGQ_MAX_MESSAGES;
	o->fixed = 0;
	o->mtime = q->stime > q->rtime ? q->stime : q->rtime;
	if (!o->mtime)
		o->mtime = q->ctime;
	o->ctime = q->ctime;
}

static int queue_stat(int id, struct view_object *o)
{
	struct msgq_info q;
	int ret = msgq_stat(id, &q);

	if (ret == 0)
		object_of_queue(&q, o);
	return ret;
}

struct each_queue {
	int (*fn)(const struct view_object *o, void *arg);
	void *arg;
};

static int each_one(const struct msgq_info *q, void *arg)
{
	struct each_queue *e = arg;
	struct view_object o;

	object_of_queue(q, &o);
	return e->fn(&o, e->arg);
}

static int queue_each(int (*fn)(const struct view_object *o, void *arg), void *arg)
{
	struct each_queue e = { fn, arg };

	return msgq_each(each_one, &e);
}

/* A message's text, copied (never received): its length, or -errno. */
static ssize_t copy_message(int msqid, unsigned int index, char **text)
{
	size_t room = MSGQ_MAX_MESSAGE;
	char *buf = malloc(sizeof(long) + room);
	long mtype;
	ssize_t n;

	*text = NULL;
	if (!buf)
		return -ENOMEM;
	n = msgq_copy(msqid, index, &mtype, buf, room);
	if (n < 0) {
		free(buf);
		return n;
	}
	memmove(buf, buf + sizeof(long), (size_t)n);
	*text = buf;
	return n;
}

static uint64_t message_size(const struct view_object *o, unsigned int item)
{
	char *text;
	ssize_t n = copy_message(o->id, item, &text);

	free(text);
	return n > 0 ? (uint64_t)n : 0;
}

const struct view_type view_msg = {
	.dir_name = NAMES_MSG_DIR,
	.top = NAME_MSGS,
	.bykey = NAME_MSG_BYKEY,
	.object = NAME_MSGQ,
	.statfile = NAME_MSGQ_STAT,
	.item = NAME_MESSAGE,
	.keylink = NAME_MSG_KEYLINK,
	.item_mode = 0444, /* read with MSG_COPY: read permission */
	.stat = queue_stat,
	.find_key = msgq_find_key,
	.each = queue_each,
	.remove = msgq_remove,
	.set_perm = msgq_set_perm,
	.item_size = message_size,
};

/* ---- stat ------------------------------------------------------------------------- */

/* The queue as the caller may see it; its orphan verdict needs to know
 * that nobody waits, which the caller may not see: that one count is
 * the daemon's (no pid, no name of it is shown). */
static int render_queue(fuse_req_t req, int msqid, char **text, size_t *len)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct procs_caller caller = { .uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid };
	struct msgq_snapshot s;
	struct waiters_pid pids[2];
	struct waiters_list waiters = { 0 }, all = { 0 };
	struct msgq_view v = { .snap = &s, .lspid = &pids[0], .lrpid = &pids[1] };
	int ret = msgq_snapshot(msqid, &s);

	if (ret)
		return ret;
	pids[0] = (struct waiters_pid){ .pid = s.info.lspid, .when = s.info.stime };
	pids[1] = (struct waiters_pid){ .pid = s.info.lrpid, .when = s.info.rtime };
	ret = waiters_look_bounded(fs_of(req)->procs, WAITERS_MSG, msqid, &caller, pids, 2,
				   &waiters);
	if (ret == 0 && msgq_is_orphan(&s.info, &pids[0], &pids[1], 0))
		ret = waiters_look(WAITERS_MSG, msqid, NULL, NULL, 0, &all);
	if (ret == 0) {
		v.waiters = &waiters;
		v.orphan = msgq_is_orphan(&s.info, &pids[0], &pids[1], all.n + all.more);
		ret = msgq_render(&v, text, len);
	}
	waiters_list_free(&waiters);
	waiters_list_free(&all);
	msgq_snapshot_free(&s);
	return ret;
}

static int open_readable(fuse_req_t req, const struct node *n, struct fuse_file_info *fi,
			 struct view_object *o)
{
	const struct view_type *t;
	int ret = view_object_of(n, &t, o);

	if (ret == 0 && (fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY)
		ret = -EACCES;
	if (ret == 0)
		ret = view_check_access(req, o, ACCESS_READ);
	return ret;
}

static void stat_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	struct view_object o;
	char *text = NULL;
	size_t len = 0;
	int ret = open_readable(req, n, fi, &o);

	if (ret == 0)
		ret = render_queue(req, o.id, &text, &len);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fs_reply_text_open(req, text, len, fi);
}

static void readable_access(fuse_req_t req, const struct node *n, int mask)
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

const struct fs_kind_ops fs_msgq_stat_ops = {
	.getattr = view_getattr,
	.access = readable_access,
	.open = stat_open,
	.read = fs_text_read,
	.release = fs_text_release,
};

/* ---- one message ---------------------------------------------------------------------- */

/* The message at the node's index when the file is opened (msgq.h: a
 * queue read message by message is not one snapshot). */
static void message_open(fuse_req_t req, const struct node *n, struct fuse_file_info *fi)
{
	struct view_object o;
	char *text = NULL;
	ssize_t len = 0;
	int ret = open_readable(req, n, fi, &o);

	if (ret == 0) {
		len = copy_message(o.id, (unsigned int)n->life.cpid, &text);
		/* No message at that index any more; no MSG_COPY here. */
		if (len == -ENOMSG)
			ret = -ENOENT;
		else if (len == -ENOSYS)
			ret = -EOPNOTSUPP;
		else if (len < 0)
			ret = (int)len;
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fs_reply_text_open(req, text, (size_t)len, fi);
}

const struct fs_kind_ops fs_message_ops = {
	.getattr = view_getattr,
	.access = readable_access,
	.open = message_open,
	.read = fs_text_read,
	.release = fs_text_release,
};
