/* fs_wait.c - open segment files waiting for writes in the FUSE layer: the
 * first read of a .next file, and poll(2).  The waits are watch.c's
 * (woken by a write through the mount, by the kernel on an outside post,
 * by an interrupt's kick); no worker waits. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "fs_io_int.h"

/* ---- .next -------------------------------------------------------------- */

/* A read of <shmid>.next waiting for the next write. */
struct next_wait {
	struct watch_waiter w;
	uid_t uid; /* whose budget it counts against */
	fuse_req_t req;
	struct open_file *of;
	size_t size;
	off_t off;
};

/* libfuse's interrupt callback, with the request's lock held: the wait
 * ends at once on its set's thread; never fire or reply here. */
static void next_interrupted(fuse_req_t req, void *data)
{
	struct next_wait *nw = data;

	(void)req;
	watch_abandon(nw->of->fs->watches, &nw->w);
}

/* Unregistered first: a callback running has returned, and none comes
 * after (the reply frees the request, the read may park it anew). */
static void next_fire(struct watch_waiter *w, int err)
{
	struct next_wait *nw = (struct next_wait *)w;

	fuse_req_interrupt_func(nw->req, NULL, NULL);
	budget_give(nw->of->fs->next_waits, nw->uid);
	if (err == -ENOENT || err == -EIDRM || err == -ENOLCK)
		/* the segment is gone; its notification set was removed; its
		 * set's thread went to another user */
		fuse_reply_err(nw->req, -err);
	else if (err)
		fuse_reply_err(nw->req, EINTR);
	else {
		__atomic_store_n(&nw->of->fired, true, __ATOMIC_RELEASE);
		open_file_read_now(nw->req, nw->of, nw->size, nw->off);
	}
	free(nw);
}

/* Why a read of .next could not wait (watch_wait()): the errno it gets. */
static int next_wait_errno(int err)
{
	if (err == -EAGAIN)
		return ENOLCK; /* no thread to wait on the set */
	return err == -ENOLCK || err == -ENOMEM ? -err : EINTR;
}

/* The first read of a .next file waits for the next write after open;
 * then every read serves the segment as it is. */
void open_file_next_read(fuse_req_t req, struct open_file *of, size_t size, off_t off)
{
	struct shmfs *fs = of->fs;
	struct next_wait *nw;
	int ret;

	if (!__atomic_load_n(&of->fired, __ATOMIC_ACQUIRE)) {
		uid_t uid = fuse_req_ctx(req)->uid;

		if (!budget_take(fs->next_waits, uid)) {
			fuse_reply_err(req, ENOLCK); /* this user waits enough */
			return;
		}
		nw = calloc(1, sizeof(*nw));
		if (!nw) {
			budget_give(fs->next_waits, uid);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		*nw = (struct next_wait){ .w.fire = next_fire,
					  .w.uid = uid,
					  .uid = uid,
					  .req = req,
					  .of = of,
					  .size = size,
					  .off = off };
		/* Before it waits: an interrupt that came already abandons it
		 * (called at once) and watch_wait() then refuses it. */
		fuse_req_interrupt_func(req, next_interrupted, nw);
		watch_refresh(fs->watches, of->ws);
		ret = watch_wait(fs->watches, of->ws, __atomic_load_n(&of->seen, __ATOMIC_RELAXED),
				 &nw->w);
		if (ret == 0) {
			daemon_kick(fs); /* removed segments are looked for */
			return;
		}
		fuse_req_interrupt_func(req, NULL, NULL);
		budget_give(fs->next_waits, uid);
		free(nw);
		if (ret < 0) {
			fuse_reply_err(req, next_wait_errno(ret));
			return;
		}
		__atomic_store_n(&of->fired, true, __ATOMIC_RELEASE);
	}
	open_file_read_now(req, of, size, off);
}

/* ---- poll(2) ------------------------------------------------------------ */

void open_file_poller_fire(struct watch_waiter *w, int err)
{
	struct open_file *of = (struct open_file *)((char *)w - offsetof(struct open_file, poller));

	pthread_mutex_lock(&of->poll_lock);
	of->poller_queued = false;
	if (of->ph) {
		fuse_lowlevel_notify_poll(of->ph);
		fuse_pollhandle_destroy(of->ph);
		of->ph = NULL;
	}
	pthread_mutex_unlock(&of->poll_lock);
}

/* A poll's first look: the file's segment watched for writes, once.
 * Two polls of one file may come at once: one start, under the lock, or
 * a start would go unmatched by the close's stop and leave a set nobody
 * watches.  watch_start() never waits on anyone, nor fires a waiter.
 * The set goes to seg's owner only if seg is this file's lifetime
 * (watch_start() compares). */
static void poll_watch(fuse_req_t req, struct open_file *of)
{
	struct segment_info seg;

	pthread_mutex_lock(&of->poll_lock);
	if (!of->watching &&
	    watch_start(of->fs->watches, of->ws,
			segment_stat(of->held.shmid, false, &seg) == 0 ? &seg : NULL,
			fuse_req_ctx(req)->uid) == 0)
		of->watching = true;
	pthread_mutex_unlock(&of->poll_lock);
}

/* Keep ph for the next write's notification unless readable now (then
 * it goes): the one kept replaces any older.  Whether the file's poller
 * is to be queued (it is not yet). */
static bool poll_keep(struct open_file *of, struct fuse_pollhandle *ph, unsigned int revents)
{
	bool queue = false;

	pthread_mutex_lock(&of->poll_lock);
	if (of->ph)
		fuse_pollhandle_destroy(of->ph);
	of->ph = NULL;
	if (revents & POLLIN) {
		fuse_pollhandle_destroy(ph);
	} else {
		of->ph = ph;
		queue = !of->poller_queued;
		of->poller_queued = true;
	}
	pthread_mutex_unlock(&of->poll_lock);
	return queue;
}

/* The file's poller queued for the first write after seen: POLLERR if no
 * thread can wait for it, else 0. */
static unsigned int poll_queue(fuse_req_t req, struct open_file *of, uint64_t seen)
{
	struct shmfs *fs = of->fs;
	int ret;

	of->poller.uid = fuse_req_ctx(req)->uid;
	ret = watch_wait(fs->watches, of->ws, seen, &of->poller);
	if (ret == 1) {
		open_file_poller_fire(&of->poller, 0); /* a write came meanwhile */
	} else if (ret < 0) {
		/* no thread to wait for posts (the user's share of
		 * max_lock_threads): an error, not a wait that never ends */
		open_file_poller_fire(&of->poller, ret);
		return POLLERR;
	} else {
		daemon_kick(fs);
	}
	return 0;
}

void open_file_poll(fuse_req_t req, struct open_file *of, struct fuse_pollhandle *ph)
{
	unsigned int revents = POLLOUT | POLLWRNORM; /* libfuse passes no flags to poll */
	uint64_t seen = __atomic_load_n(&of->seen, __ATOMIC_RELAXED);

	if (ph)
		poll_watch(req, of);
	if (watch_refresh(of->fs->watches, of->ws) != seen ||
	    (of->is_next && __atomic_load_n(&of->fired, __ATOMIC_ACQUIRE)))
		revents |= POLLIN | POLLRDNORM;
	if (ph && poll_keep(of, ph, revents))
		revents |= poll_queue(req, of, seen);
	fuse_reply_poll(req, revents);
}
