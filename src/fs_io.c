/* fs_io.c - open segment files in the FUSE layer: each request takes the
 * segment's lock, asks attach.c where the bytes are, and replies while
 * the lock is held, so one request is one consistent snapshot. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "fs_io_int.h"
#include "log.h"
#include "lockop.h"
#include "lockwait.h"
#include "share.h"

/* No notification set for uid's watch: say whether its budget
 * (-o max_sets) or the kernel's table (kernel.sem) ran out. */
static void log_no_set(struct shmfs *fs, int shmid, uid_t uid)
{
	if (budget_held(fs->sets, uid) >= fs->opts.max_sets)
		log_warning("shmfs: no semaphore set for segment %d: uid %u has max_sets=%u "
			    "sets already; its open fails with ENOSPC\n",
			    shmid, (unsigned int)uid, fs->opts.max_sets);
	else
		log_warning("shmfs: no semaphore set for segment %d: the kernel's table is full "
			    "(kernel.sem, SEMMNI); its open fails with ENOSPC\n",
			    shmid);
}

/* Hold seg's lock for of: the segment's first bytes tell whether the set
 * of its key is a share's (share.h), so they are read (without a lock: a
 * hint to choose one) from the attachment just made; not when seg can
 * have no set of its key (IPC_PRIVATE): they would choose nothing. */
static int open_file_hold(struct shmfs *fs, const struct segment_info *seg, struct open_file *of)
{
	unsigned char head[SHARE_HEAD_BYTES];
	struct attach_src src;
	size_t len = 0;

	if (share_keyed(seg) &&
	    attach_read(of->att, 0, sizeof(head), 0, ATTACH_NO_UID, &src) == 0 && src.ptr) {
		len = src.len;
		memcpy(head, src.ptr, len);
	}
	return lock_table_hold(fs->locks, seg, len ? head : NULL, len, &of->hold);
}

/* of's attach closed: what is left of it is let go of later by the
 * background thread's sweeps (kicked when they had stopped: not at every
 * close). */
static void open_file_let_go(struct shmfs *fs, struct open_file *of)
{
	enum attach_left left = attach_close_as(fs->attaches, of->att, of->uid);

	if (left == ATTACH_PARKED)
		log_warning("shmfs: segment %d kept attached: detaching it would destroy it "
			    "(kernel.shm_rmid_forced=1)\n",
			    of->held.shmid);
	if (left == ATTACH_PARKED || left == ATTACH_IDLE_FIRST)
		daemon_kick(fs);
}

/* How open_file_make() reaches the bytes. */
enum open_how {
	OPEN_ANY,      /* a kept file (attach_reuse()), else attach */
	OPEN_CREATED,  /* just made by the daemon: attach */
	OPEN_KEPT_ONLY /* a kept file, or -EAGAIN */
};

static int open_file_make(struct shmfs *fs, const struct segment_identity *expected, bool writable,
			  enum open_how how, bool is_next, uid_t uid, open_file_check_fn check,
			  void *ctx, struct open_file **out)
{
	struct open_file *of = calloc(1, sizeof(*of));
	struct segment_info *seg;
	int ret;

	if (!of)
		return -ENOMEM;
	seg = &of->held;
	of->fs = fs;
	of->uid = uid;
	of->is_next = is_next;
	pthread_mutex_init(&of->poll_lock, NULL);
	of->poller.fire = open_file_poller_fire;
	of->poller.persistent = true;
	/* Attached (or proven) first: the rights are checked on what is held. */
	if (how == OPEN_KEPT_ONLY)
		ret = attach_reuse(fs->attaches, expected, writable, seg, &of->att);
	else
		ret = attach_open(fs->attaches, expected, writable, how == OPEN_CREATED, seg,
				  &of->att);
	if (ret)
		goto err_free;
	ret = check ? check(seg, ctx) : 0;
	if (ret)
		goto err_attach;
	ret = open_file_hold(fs, seg, of);
	if (ret)
		goto err_attach;
	of->ws = watch_get(fs->watches, of->att, attach_identity(of->att));
	if (!of->ws) {
		ret = -ENOMEM;
		goto err_hold;
	}
	/* A .next file is watched from its open: an outside writer finds
	 * the notification set in the sidecar as soon as a reader waits. */
	if (is_next) {
		ret = watch_start(fs->watches, of->ws, seg, uid);
		if (ret == -ENOSPC)
			log_no_set(fs, seg->shmid, uid);
		if (ret)
			goto err_watch;
		of->watching = true;
	}
	of->seen = watch_written(of->ws);
	pthread_mutex_lock(&fs->open_files_lock);
	LIST_INSERT_HEAD(&fs->open_files, of, link);
	pthread_mutex_unlock(&fs->open_files_lock);
	*out = of;
	return 0;

err_watch:
	watch_put(fs->watches, of->ws);
err_hold:
	lock_table_release(fs->locks, of->hold);
err_attach:
	open_file_let_go(fs, of);
err_free:
	pthread_mutex_destroy(&of->poll_lock);
	free(of);
	return ret;
}

int open_file_new(struct shmfs *fs, const struct segment_identity *expected, bool writable,
		  bool creating, bool is_next, uid_t uid, open_file_check_fn check, void *ctx,
		  struct open_file **out)
{
	return open_file_make(fs, expected, writable, creating ? OPEN_CREATED : OPEN_ANY, is_next,
			      uid, check, ctx, out);
}

int open_file_kept(struct shmfs *fs, const struct segment_identity *expected, bool writable,
		   bool is_next, uid_t uid, open_file_check_fn check, void *ctx,
		   struct open_file **out)
{
	return open_file_make(fs, expected, writable, OPEN_KEPT_ONLY, is_next, uid, check, ctx,
			      out);
}

void open_file_close(struct shmfs *fs, struct open_file *of)
{
	pthread_mutex_lock(&fs->open_files_lock);
	LIST_REMOVE(of, link);
	pthread_mutex_unlock(&fs->open_files_lock);
	watch_cancel(fs->watches, &of->poller);
	if (of->ph)
		fuse_pollhandle_destroy(of->ph);
	if (of->watching)
		watch_stop(fs->watches, of->ws);
	watch_put(fs->watches, of->ws);
	lock_table_release(fs->locks, of->hold);
	open_file_let_go(fs, of);
	pthread_mutex_destroy(&of->poll_lock);
	free(of);
}

void open_files_close_all(struct shmfs *fs)
{
	for (;;) {
		struct open_file *of;

		pthread_mutex_lock(&fs->open_files_lock);
		of = LIST_FIRST(&fs->open_files);
		pthread_mutex_unlock(&fs->open_files_lock);
		if (!of)
			break;
		open_file_close(fs, of);
	}
}

uint64_t open_file_size(const struct open_file *of)
{
	return attach_size(of->att);
}

int open_file_find_held(struct shmfs *fs, const struct segment_identity *life,
			struct segment_info *held)
{
	struct open_file *of;

	pthread_mutex_lock(&fs->open_files_lock);
	for (of = LIST_FIRST(&fs->open_files); of; of = LIST_NEXT(of, link))
		if (identity_strong_same(attach_identity(of->att), life))
			break;
	if (of)
		*held = of->held; /* its size is the lifetime's: fixed */
	pthread_mutex_unlock(&fs->open_files_lock);
	return of ? 0 : -ENOENT;
}

int open_file_fd(const struct open_file *of)
{
	return attach_fd(of->att);
}

int open_file_shmid(const struct open_file *of)
{
	return of->held.shmid;
}

const struct segment_identity *open_file_identity(const struct open_file *of)
{
	return attach_identity(of->att);
}

const void *open_file_owner(const struct open_file *of)
{
	return of->att;
}

/* ---- the lock ----------------------------------------------------------- */

/* One request that needs the segment's lock (lockop.h: it runs now, or
 * later from another thread; it replies exactly once). */
struct locked_op {
	struct lockop op; /* first: lockop copies the whole when it parks */
	struct shmfs *fs; /* of may be released once the reply is sent */
	struct open_file *of;
	fuse_req_t req;
	/* With the lock held: do it, let go, reply. */
	void (*run)(struct locked_op *lo);
	/* The lock could not be had: reply err (positive errno). */
	void (*fail)(struct locked_op *lo, int err);
	size_t size;
	off_t off;
	/* truncation: what to do after */
	void (*then)(fuse_req_t req, struct open_file *of, int err, void *ctx);
	void *ctx;
};

static void hook_run(struct lockop *op)
{
	struct locked_op *lo = (struct locked_op *)op;

	lo->run(lo);
}

static void hook_fail(struct lockop *op, int err)
{
	struct locked_op *lo = (struct locked_op *)op;

	lo->fail(lo, err);
}

/* libfuse's interrupt callback, with the request's lock held: wake the
 * wait, never reply here. */
static void on_interrupt(fuse_req_t req, void *data)
{
	lockop_interrupted(data);
}

/* Unregistering takes the request's lock: a callback running has
 * returned when it does, and none comes after. */
static void hook_interrupts(struct lockop *op, bool on)
{
	struct locked_op *lo = (struct locked_op *)op;

	fuse_req_interrupt_func(lo->req, on ? on_interrupt : NULL, on ? op : NULL);
}

static const struct lockop_hooks locked_op_hooks = {
	.run = hook_run,
	.fail = hook_fail,
	.interrupts = hook_interrupts,
};

static void op_unlock(struct locked_op *lo)
{
	lockop_unlock(&lo->op);
}

/* Run lo now if its lock is free, else park a copy of it (lo may be on
 * the caller's stack). */
static void op_submit(struct locked_op *lo, enum lock_mode mode, const char *data)
{
	struct shmfs *fs = lo->fs;
	const struct fuse_ctx *ctx = fuse_req_ctx(lo->req);

	lo->op = (struct lockop){
		.lw = { .hold = lo->of->hold, .mode = mode, .uid = ctx->uid, .pid = ctx->pid },
		.hooks = &locked_op_hooks,
		.waits = fs->waits,
		.locks = fs->locks,
		.parked_bytes = fs->parked_bytes,
		.timeout_ms = fs->opts.lock_timeout_ms,
		.size = sizeof(*lo),
		.data = data,
		.data_len = data ? lo->size : 0
	};
	lockop_submit(&lo->op);
}

static void fail_reply(struct locked_op *op, int err)
{
	fuse_reply_err(op->req, err);
}

/* ---- reads -------------------------------------------------------------- */

/* The segment's pages go into the pipe by reference, and the kernel
 * copies them once, into the reader's buffer, while the lock is held. */
static void reply_spliced(fuse_req_t req, const struct attach_src *src)
{
	struct fuse_bufvec bufv = FUSE_BUFVEC_INIT(src->len);

	bufv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bufv.buf[0].fd = src->fd;
	bufv.buf[0].pos = src->pos;
	fuse_reply_data(req, &bufv, 0);
}

static void run_read(struct locked_op *op)
{
	struct open_file *of = op->of;
	struct attach_src src;
	int ret;

	__atomic_store_n(&of->seen, watch_written(of->ws), __ATOMIC_RELAXED);
	ret = attach_read(of->att, (uint64_t)op->off, op->size, daemon_splice_max(of->fs),
			  op->op.lw.uid, &src);
	if (ret)
		fuse_reply_err(op->req, -ret);
	else if (src.fd >= 0)
		reply_spliced(op->req, &src);
	else
		fuse_reply_buf(op->req, src.ptr, src.len);
	op_unlock(op);
}

void open_file_read_now(fuse_req_t req, struct open_file *of, size_t size, off_t off)
{
	struct locked_op op = { .fs = of->fs,
				.of = of,
				.req = req,
				.run = run_read,
				.fail = fail_reply,
				.size = size,
				.off = off };

	if (off < 0 || (uint64_t)off >= attach_size(of->att) || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	op_submit(&op, LOCK_MODE_SHARED, NULL);
}

void open_file_read(fuse_req_t req, struct open_file *of, size_t size, off_t off)
{
	if (of->is_next)
		open_file_next_read(req, of, size, off);
	else
		open_file_read_now(req, of, size, off);
}

void reply_buffer_read(fuse_req_t req, const char *data, size_t len, size_t size, off_t off)
{
	if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, data + off, size < len - off ? size : len - off);
}

/* ---- writes ------------------------------------------------------------- */

static void run_write(struct locked_op *op)
{
	struct open_file *of = op->of;
	ssize_t n = attach_write(of->att, op->op.data, op->size, (uint64_t)op->off, op->op.lw.uid);

	op_unlock(op);
	if (n < 0) {
		fuse_reply_err(op->req, (int)-n);
		return;
	}
	/* Counted before the writer learns it is done: after the reply, of
	 * may be released at any moment. */
	watch_mark_written(of->fs->watches, of->ws);
	fuse_reply_write(op->req, (size_t)n);
}

/* A segment has a fixed size: a write is cut short at the end, and one at
 * or past the end gets ENOSPC. */
void open_file_write(fuse_req_t req, struct open_file *of, const char *buf, size_t size, off_t off)
{
	struct locked_op op = { .fs = of->fs,
				.of = of,
				.req = req,
				.run = run_write,
				.fail = fail_reply,
				.size = size,
				.off = off };

	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	if (off < 0 || (uint64_t)off >= attach_size(of->att)) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	op_submit(&op, LOCK_MODE_EXCLUSIVE, buf);
}

static void run_truncate(struct locked_op *op)
{
	int ret = attach_zero(op->of->att, (uint64_t)op->off, op->op.lw.uid);

	op_unlock(op);
	/* Not counted as a write for .next and poll: `echo hi > seg`
	 * truncates first, and its readers want the text, not the NULs. */
	op->then(op->req, op->of, ret, op->ctx);
}

static void fail_truncate(struct locked_op *op, int err)
{
	op->then(op->req, op->of, -err, op->ctx);
}

void open_file_truncate_then(fuse_req_t req, struct open_file *of, uint64_t from,
			     void (*then)(fuse_req_t req, struct open_file *of, int err, void *ctx),
			     void *ctx)
{
	struct locked_op op = { .fs = of->fs,
				.of = of,
				.req = req,
				.run = run_truncate,
				.fail = fail_truncate,
				.off = (off_t)from,
				.then = then,
				.ctx = ctx };

	if (from >= attach_size(of->att)) {
		then(req, of, 0, ctx);
		return;
	}
	op_submit(&op, LOCK_MODE_EXCLUSIVE, NULL);
}

int open_file_fill(struct shmfs *fs, struct open_file *of, const char *data, size_t len)
{
	struct lockwait_req r = { .hold = of->hold, .mode = LOCK_MODE_EXCLUSIVE };
	ssize_t n;
	int ret;

	if (len == 0)
		return 0;
	/* Tried once, never waited for: no creation waits on another user. */
	ret = lockwait_take(fs->waits, &r, false);
	if ((ret == -EIDRM || ret == -EINVAL || ret == -EFBIG) &&
	    lock_hold_renew(fs->locks, of->hold, r.grant.semid) != -1)
		ret = lockwait_take(fs->waits, &r, false);
	if (ret)
		return ret == -EAGAIN ? -EBUSY : ret;
	/* a creation's first bytes, one pass: no rewrite to pay for */
	n = attach_write(of->att, data, len, 0, ATTACH_NO_UID);
	lockwait_give(fs->waits, &r.grant);
	return n < 0 ? (int)n : 0;
}
