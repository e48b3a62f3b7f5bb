/* fs_sem.c - the sem/ view's files: a set's stat (semset_render) and one
 * file per semaphore (its value; write N, +N or -N, a -N that cannot go
 * through now parked until it can). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "fs_io.h"
#include "fs_views.h"
#include "kernel_features.h"
#include "lockwait.h"
#include "semset.h"

/* A semaphore file's size: no write that may wait ends past it.  The
 * kernel lets a direct write into a FUSE file holding the inode's lock
 * shared (FOPEN_PARALLEL_DIRECT_WRITES) only when it ends within the
 * file's size; one that ends past it holds the lock exclusively, and a
 * -N parked under that lock would keep every other write to the file
 * out, the +N that would let it through included. */
#define SEM_FILE_SIZE 4096

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
	.item_fixed_size = SEM_FILE_SIZE,
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
/* The writes parked on the set that the reader may see (below). */
struct parked_seen {
	uid_t reader;
	unsigned int num;
	struct semset_parked *list; /* SEMSET_PARKED_MAX of them */
	size_t n, more;
};

static void look_at_parked(fuse_req_t req, int semid, const struct semset_info *info,
			   const struct semset_sem *sems, struct parked_seen *seen);

static int render_set(fuse_req_t req, int semid, char **text, size_t *len)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct procs_caller caller = { .uid = ctx->uid, .gid = ctx->gid, .pid = ctx->pid };
	struct semset_info info;
	struct semset_sem *sems = NULL;
	struct waiters_pid *last = NULL;
	struct waiters_list waiters = { 0 };
	struct semset_view v = { .info = &info };
	struct parked_seen parked = { .reader = ctx->uid };
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
		ret = waiters_look_bounded(fs_of(req)->procs, WAITERS_SEM, semid, &caller, last,
					   info.nsems, waiting ? &waiters : NULL);
	if (ret == 0 && waiting)
		look_at_parked(req, semid, &info, sems, &parked);
	if (ret == 0) {
		v.sems = sems;
		v.last = last;
		v.waiters = &waiters;
		v.parked = parked.list;
		v.nparked = parked.n;
		v.parked_more = parked.more;
		v.orphan = semset_is_orphan(&info, sems, last);
		ret = semset_render(&v, text, len);
	}
	waiters_list_free(&waiters);
	free(parked.list);
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

/* The queue of lockwait a -N on semaphore num waits in (0 is the set's
 * own, its lock waiters'). */
static int queue_of(unsigned int num)
{
	return 1 + (int)num;
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
	/* Truncating takes the file's inode lock exclusively (in the kernel,
	 * after this open): it would wait, unkillable, until the writes
	 * parked on the file end.  Refused instead (1<> opens without it). */
	if (ret == 0 && (fi->flags & O_TRUNC) &&
	    lockwait_count_queue(fs_of(req)->waits, o.id, queue_of(num)) > 0)
		ret = -EBUSY;
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
	/* The value as it was at the open: every read of it the same.
	 * Writes in parallel: a parked -N keeps no other writer out. */
	fs_reply_text_open_parallel(req, n->id, text, (size_t)len, fi);
}

/* ---- a -N that waits -------------------------------------------------------------------- */

/* A -N that cannot go through now waits like a lock wait: parked in the
 * parking module (lockwait.h) in a queue of its semaphore's own, first
 * come first served, one of the module's threads waiting in the kernel
 * (semtimedop) for the queue's first: woken by the kernel when the value
 * rises (a +N or SETVAL through the mount or by any program), at the
 * deadline (lock_timeout: ETIMEDOUT), by an interrupt (Ctrl-C: EINTR),
 * or when the set is removed (EIDRM).  No worker waits.  Each user may
 * have max_waits of them waiting, and they count in the user's share of
 * the threads.  The writer's alter permission is checked once, when the
 * write comes, as the kernel checks a semop at its call; before each
 * call the set is proven the lifetime the file names. */
struct sem_wait {
	struct lockwait_req lw; /* first: lockwait hands it back */
	fuse_req_t req;
	struct shmfs *fs;
	struct node node; /* the semaphore's: its set's lifetime and number */
	int delta;
	size_t size;	  /* the write's, to answer */
	int refs;	  /* the parking path's and the answer's (atomic) */
	bool interrupted; /* atomic: libfuse's interrupt came */
};

static void sem_wait_put(struct sem_wait *w)
{
	if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(w);
}

/* On the queue's thread, without its mutex: the semop, waiting. */
static int sem_wait_once(struct lockwait_req *r, int semid, const struct timespec *timeout)
{
	struct sem_wait *w = (struct sem_wait *)r;
	const struct view_type *t;
	struct view_object o;
	int ret = view_object_of(&w->node, &t, &o);

	if (ret == 0)
		ret = semset_op_timed(semid, (unsigned int)w->node.life.cpid, w->delta, timeout);
	/* Gone before this call (removed, or its number another set's) or
	 * during it: either way removed while the write waited. */
	return ret == -ENOENT || ret == -ESTALE || ret == -EINVAL ? -EIDRM : ret;
}

/* libfuse's interrupt callback, with the request's lock held: the wait
 * ends on its thread, which answers; never reply here. */
static void sem_wait_interrupted(fuse_req_t req, void *data)
{
	struct sem_wait *w = data;

	(void)req;
	__atomic_store_n(&w->interrupted, true, __ATOMIC_RELEASE);
	lockwait_abandon(w->fs->waits, &w->lw);
}

/* The answer: called once by lockwait (on a thread of its), or by
 * sem_wait_park() when the wait could not be parked. */
static void sem_wait_done(struct lockwait_req *r, int err)
{
	struct sem_wait *w = (struct sem_wait *)r;

	/* Once this returns, no interrupt callback runs or will run. */
	fuse_req_interrupt_func(w->req, NULL, NULL);
	budget_give(w->fs->sem_waits, w->lw.uid);
	if (err == 0)
		fuse_reply_write(w->req, w->size);
	else if (err == -ESHUTDOWN)
		fuse_reply_err(w->req, EINTR); /* the daemon stops */
	else if (err == -EAGAIN)
		fuse_reply_err(w->req, ENOLCK); /* no thread to wait with */
	else
		fuse_reply_err(w->req, -err);
	sem_wait_put(w);
}

static void sem_wait_park(fuse_req_t req, const struct node *n, int delta, size_t size)
{
	struct shmfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct sem_wait *w;
	int ret;

	if (!budget_take(fs->sem_waits, ctx->uid)) {
		fuse_reply_err(req, ENOLCK); /* this user waits enough */
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		budget_give(fs->sem_waits, ctx->uid);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*w = (struct sem_wait){ .lw = { .uid = ctx->uid,
					.pid = ctx->pid,
					.deadline_ns = lockwait_deadline(fs->opts.lock_timeout_ms),
					.granted = sem_wait_done,
					.wait = sem_wait_once,
					.tag = queue_of((unsigned int)n->life.cpid),
					.semid = n->life.shmid },
				.req = req,
				.fs = fs,
				.node = *n,
				.delta = delta,
				.size = size,
				.refs = 2 };
	/* Before it is parked: an interrupt that came already is called
	 * at once, and seen below (lockwait_park() forgets an abandon). */
	fuse_req_interrupt_func(req, sem_wait_interrupted, w);
	ret = lockwait_park(fs->waits, &w->lw);
	if (ret != LOCKWAIT_PARKED) {
		sem_wait_done(&w->lw, ret);
		sem_wait_put(w);
		return;
	}
	/* w lives until both refs are put: the answer may be on its way. */
	if (__atomic_load_n(&w->interrupted, __ATOMIC_ACQUIRE))
		lockwait_abandon(fs->waits, &w->lw);
	sem_wait_put(w);
}

/* With lockwait's mutex held: r is a sem_wait (only they wait in a
 * semaphore's queue).  A reader sees their own writes, root all of
 * them, as /proc shows a waiter in semop (PTRACE_MODE_ATTACH, roughly). */
static void see_parked(const struct lockwait_req *r, void *arg)
{
	const struct sem_wait *w = (const struct sem_wait *)r;
	struct parked_seen *seen = arg;

	if (seen->reader != 0 && seen->reader != r->uid)
		return;
	if (seen->n == SEMSET_PARKED_MAX) {
		seen->more++;
		return;
	}
	seen->list[seen->n++] = (struct semset_parked){
		.pid = r->pid, .uid = r->uid, .num = seen->num, .delta = w->delta
	};
}

/* The writes parked on semid's semaphores that the kernel counts a
 * waiter on (a queue's first waits in semtimedop): a reader of an idle
 * set costs no look at the queues.  None listed without memory. */
static void look_at_parked(fuse_req_t req, int semid, const struct semset_info *info,
			   const struct semset_sem *sems, struct parked_seen *seen)
{
	seen->list = calloc(SEMSET_PARKED_MAX, sizeof(*seen->list));
	for (unsigned int i = 0; seen->list && i < info->nsems; i++) {
		if (sems[i].ncnt == 0)
			continue;
		seen->num = i;
		lockwait_each_queued(fs_of(req)->waits, semid, queue_of(i), see_parked, seen);
	}
}

/* Whether a -N written to fi at off may wait: only where the kernel
 * holds the file's lock shared for it (see SEM_FILE_SIZE): with parallel
 * writes, not O_APPEND, not opened with O_TRUNC (an atomic O_TRUNC open
 * sets the kernel's idea of the size to 0), ending within the size; and
 * not O_NONBLOCK, and lock_timeout not 0. */
static bool may_wait(fuse_req_t req, struct fuse_file_info *fi, size_t size, off_t off)
{
	return !(fi->flags & (O_NONBLOCK | O_APPEND)) && !fs_text_truncated(fi) && off >= 0 &&
	       (uint64_t)off + size <= SEM_FILE_SIZE && fs_of(req)->opts.lock_timeout_ms > 0 &&
	       kernel_features_parallel_writes();
}

/* N: SETVAL; +N, -N: a semop without SEM_UNDO (an undo would be undone
 * when the daemon's thread, not the writer, ends).  A -N that cannot be
 * taken now waits (sem_wait_park) where it may (may_wait), else is
 * EAGAIN. */
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
	if (ret == -EAGAIN && may_wait(req, fi, size, off)) {
		sem_wait_park(req, n, w.value, size);
		return;
	}
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
