/* fs.c - the FUSE low-level operations: requests in, module calls, replies out.
 *
 * Every handler reads as: parse the name or inode, check the caller, do
 * the thing through segment/lock/sidecar/access, reply.  How any of those
 * work inside is their business.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "fs.h"
#include "lock.h"
#include "names.h"
#include "segment.h"
#include "sidecar.h"

#define MAX_GROUPS 64

struct shmfs {
	struct shmfs_options opts;
	struct lock_table *locks;
	time_t mount_time;
	uid_t uid;
	gid_t gid;

	/* Attachments kept after close because detaching them would have
	 * destroyed the segment (kernel.shm_rmid_forced=1 and no other
	 * attacher); detached once someone else attaches or it is removed. */
	pthread_mutex_t parked_lock;
	struct parked {
		int shmid;
		void *addr;
	} * parked;
	size_t nparked, parked_cap;

	/* Shared attachments, with -o attach_cache only. */
	pthread_mutex_t attach_lock;
	struct attachment *attachments;

	/* Readers of .next waiting, and open files with a poll handle. */
	pthread_mutex_t watch_lock;
	struct waiter *waiters;
	struct open_segment *pollers;

	/* by-key names being created, waiting for their size. */
	pthread_mutex_t pending_lock;
	struct pending *pending;
	size_t pending_bytes; /* gathered by all of them: at most max_pending */

	/* Background sweep of semaphore sets created for gone segments. */
	pthread_t sweeper;
	bool sweeper_running;
	pthread_mutex_t sweep_lock;
	pthread_cond_t sweep_cond;
	bool stopping;

	/* Every open segment file and sidecar: those still open at unmount
	 * never get a release, and are freed by shmfs_free(). */
	pthread_mutex_t open_lock;
	LIST_HEAD(, open_segment) open_segments;
	LIST_HEAD(, open_sidecar) open_sidecars;
};

/* One open segment file: its own attachment, taken at open. */
struct open_segment {
	LIST_ENTRY(open_segment) open_link;
	int shmid;
	void *addr;
	size_t size;
	int semid;		  /* accessed atomically: re-resolved if the set vanishes */
	struct segment_info info; /* as it was at open */

	/* Change notification, under fs->watch_lock: the segment's write
	 * count when this file last read it (or was opened), the poll handle
	 * waiting for the next write, and for <shmid>.next whether the write
	 * it waits for has come. */
	uint64_t seen;
	struct fuse_pollhandle *ph;
	struct open_segment *next_poller;
	bool polling;
	bool is_next;
	bool fired;
	bool writable;
};

/* A read of <shmid>.next waiting for the next write; answered later by
 * whichever thread sees that write. */
struct waiter {
	fuse_req_t req;
	struct open_segment *of;
	size_t size;
	off_t off;
	struct waiter *next;
};

/* One open sidecar: rendered once at open, so every read of it is one
 * consistent snapshot (lxcfs's idiom). */
struct open_sidecar {
	LIST_ENTRY(open_sidecar) open_link;
	int shmid;
	size_t len;
	char text[SIDECAR_MAX];
};

/* A by-key name opened with O_CREAT.  shmget needs the size before the
 * segment exists, so bytes written are gathered here until a truncate
 * fixes the size or the first close creates the segment with the size
 * written (at least default_size). */
struct pending {
	int32_t key;
	unsigned int mode;
	uid_t uid;
	gid_t gid;
	int shmid;		 /* -1 until created */
	struct open_segment *of; /* the attachment, once created */
	char *data;
	size_t len;
	unsigned int opens;
	struct pending *next;
};

/* One open directory: the listing enumerated once at opendir. */
struct open_dir {
	struct segment_list list;
};

static struct shmfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ---- attributes ---------------------------------------------------- */

/* mtime: the latest of the three times the kernel keeps (last attach,
 * last detach, last change).  A segment's bytes change while attached
 * and the kernel records no write time, so the last attach or detach is
 * the best evidence of a recent writer there is. */
static time_t segment_mtime(const struct segment_info *seg)
{
	time_t t = seg->ctime;

	if (seg->atime > t)
		t = seg->atime;
	if (seg->dtime > t)
		t = seg->dtime;
	return t;
}

static void fill_segment_attr(enum name_kind kind, const struct segment_info *seg, struct stat *st)
{
	char target[32];

	memset(st, 0, sizeof(*st));
	st->st_ino = names_ino(kind, seg->shmid);
	st->st_uid = seg->uid;
	st->st_gid = seg->gid;
	st->st_nlink = (seg->mode & SEGMENT_MODE_DEST) ? 0 : 1;
	st->st_atime = seg->atime;
	st->st_mtime = segment_mtime(seg);
	st->st_ctime = seg->ctime;
	st->st_blksize = sysconf(_SC_PAGESIZE);
	switch (kind) {
	case NAME_SEGMENT:
	case NAME_NEXT:
		st->st_mode = S_IFREG | (seg->mode & 0777);
		st->st_size = seg->size;
		/* From the size, the same in a listing and in stat: the
		 * sidecar has rss and swap. */
		st->st_blocks = (seg->size + 511) / 512;
		break;
	case NAME_SIDECAR:
		/* Readable by all, as /proc/sysvipc/shm; writable (lock,
		 * unlock) by the owner. Size 0 as a /proc file: read to EOF. */
		st->st_mode = S_IFREG | 0644;
		st->st_atime = st->st_mtime = st->st_ctime;
		break;
	case NAME_KEYLINK:
	case NAME_NEXTLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = names_format_root(target, sizeof(target),
						kind == NAME_KEYLINK ? NAME_SEGMENT : NAME_NEXT,
						seg->shmid) +
			      3;
		st->st_nlink = 1;
		break;
	default:
		break;
	}
}

static void fill_dir_attr(struct shmfs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = ino == NAMES_ROOT_INO ? 3 : 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_atime = st->st_mtime = st->st_ctime = fs->mount_time;
}

/* The generation tells the kernel whether an inode number still means the
 * same segment: a reused shmid from another creator gets another one. */
static uint64_t segment_generation(const struct segment_info *seg)
{
	return ((uint64_t)(uint32_t)seg->cpid << 32) | (uint32_t)seg->cuid;
}

static void fill_entry(struct shmfs *fs, enum name_kind kind, const struct segment_info *seg,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	fill_segment_attr(kind, seg, &e->attr);
	e->ino = e->attr.st_ino;
	e->generation = segment_generation(seg);
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.entry_timeout;
}

/* ---- callers ------------------------------------------------------- */

struct caller {
	struct access_caller cred;
	bool groups_unread; /* the caller's groups could not be read */
	gid_t groups[MAX_GROUPS];
	gid_t *more_groups; /* all of them, when there are more than MAX_GROUPS */
};

/* Supplementary groups cost a read of /proc/PID/status, so they are
 * fetched only when they could change the answer: first with room for
 * MAX_GROUPS, then with room for all (a user may have up to NGROUPS_MAX).
 * Free with caller_put(). */
static void caller_get(fuse_req_t req, const struct segment_info *seg, struct caller *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int n;

	c->cred.uid = ctx->uid;
	c->cred.gid = ctx->gid;
	c->cred.groups = c->groups;
	c->cred.ngroups = 0;
	c->groups_unread = false;
	c->more_groups = NULL;
	if (ctx->uid == 0 || ctx->uid == seg->uid || ctx->uid == seg->cuid)
		return;
	if (ctx->gid == seg->gid || ctx->gid == seg->cgid)
		return;
	n = fuse_req_getgroups(req, MAX_GROUPS, c->groups);
	if (n > MAX_GROUPS) {
		int room = n;

		c->more_groups = calloc(room, sizeof(*c->more_groups));
		n = c->more_groups ? fuse_req_getgroups(req, room, c->more_groups) : -ENOMEM;
		if (n > room)
			n = -EAGAIN; /* it gained groups between the two reads */
		c->cred.groups = c->more_groups;
	}
	/* No /proc/PID/status: the caller is in another pid namespace (its
	 * pid is 0 here) or has exited. */
	if (n < 0)
		c->groups_unread = true;
	else
		c->cred.ngroups = n;
}

static void caller_put(struct caller *c)
{
	free(c->more_groups);
}

static int check_access(fuse_req_t req, const struct segment_info *seg, int want)
{
	struct caller c;
	int ret;

	caller_get(req, seg, &c);
	ret = access_check(&c.cred, seg, want);
	if (ret == 0 && c.groups_unread) {
		/* Grant only what the caller would have were it in the
		 * segment's group too: group bits stricter than the other
		 * bits must still keep a member out. */
		gid_t member = seg->gid;

		c.cred.groups = &member;
		c.cred.ngroups = 1;
		ret = access_check(&c.cred, seg, want);
	}
	caller_put(&c);
	return ret;
}

/* Ownership is the uid's alone: no groups to read. */
static int check_owner(fuse_req_t req, const struct segment_info *seg)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct access_caller cred = { .uid = ctx->uid, .gid = ctx->gid };

	return access_check_owner(&cred, seg);
}

/* ---- locking ------------------------------------------------------- */

static bool req_interrupted(void *req)
{
	return req && fuse_req_interrupted(req);
}

/* Take the segment's lock for one request.  If its set was removed under
 * us, find (or make) the set again once. */
static int open_segment_lock(struct shmfs *fs, fuse_req_t req, struct open_segment *of,
			     enum lock_mode mode, int *semid_out)
{
	for (int attempt = 0;; attempt++) {
		int semid = __atomic_load_n(&of->semid, __ATOMIC_ACQUIRE);
		int ret = lock_acquire(semid, mode, fs->opts.lock_timeout_ms, req_interrupted, req);

		if (ret == 0) {
			*semid_out = semid;
			return 0;
		}
		if ((ret != -EIDRM && ret != -EINVAL) || attempt > 0)
			return ret;
		lock_table_invalidate(fs->locks, of->shmid, semid);
		struct segment_info seg;
		if (segment_stat(of->shmid, false, &seg) != 0)
			seg = of->info;
		semid = lock_table_semid(fs->locks, &seg);
		if (semid < 0)
			return semid;
		__atomic_store_n(&of->semid, semid, __ATOMIC_RELEASE);
	}
}

/* ---- attachments ---------------------------------------------------- */

/* Under kernel.shm_rmid_forced=1, a detach that leaves nattch at 0
 * destroys the segment: a reader must never do that.  So an open of a
 * segment nobody else has attached is refused (EBUSY), and a close that
 * would be the last detach keeps the attachment parked instead. */
static int detach_safely(struct shmfs *fs, int shmid, void *addr)
{
	struct segment_info seg;

	if (segment_rmid_forced() && segment_stat(shmid, false, &seg) == 0 &&
	    !(seg.mode & SEGMENT_MODE_DEST) && seg.nattch <= 1) {
		pthread_mutex_lock(&fs->parked_lock);
		if (fs->nparked == fs->parked_cap) {
			size_t cap = fs->parked_cap ? fs->parked_cap * 2 : 8;
			struct parked *p = realloc(fs->parked, cap * sizeof(*p));

			if (!p) {
				pthread_mutex_unlock(&fs->parked_lock);
				return -ENOMEM; /* keep it attached rather than destroy it */
			}
			fs->parked = p;
			fs->parked_cap = cap;
		}
		fs->parked[fs->nparked++] = (struct parked){ shmid, addr };
		pthread_mutex_unlock(&fs->parked_lock);
		fuse_log(FUSE_LOG_WARNING,
			 "shmfs: segment %d kept attached: detaching it would destroy it "
			 "(kernel.shm_rmid_forced=1)\n",
			 shmid);
		return 0;
	}
	return segment_detach(addr);
}

static void unpark_detachable(struct shmfs *fs)
{
	pthread_mutex_lock(&fs->parked_lock);
	for (size_t i = 0; i < fs->nparked;) {
		struct segment_info seg;
		struct parked *p = &fs->parked[i];

		if (segment_stat(p->shmid, false, &seg) != 0 || (seg.mode & SEGMENT_MODE_DEST) ||
		    seg.nattch > 1) {
			segment_detach(p->addr);
			*p = fs->parked[--fs->nparked];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&fs->parked_lock);
}

static void reply_segment_read(struct shmfs *fs, fuse_req_t req, struct open_segment *of,
			       size_t size, off_t off);

/* Zero from offset to the end under the exclusive lock: what O_TRUNC and
 * truncate(n <= size) mean for a segment of fixed size. */
static int zero_fill(struct shmfs *fs, fuse_req_t req, struct open_segment *of, uint64_t from)
{
	int semid, ret;

	if (from >= of->size)
		return 0;
	ret = open_segment_lock(fs, req, of, LOCK_MODE_EXCLUSIVE, &semid);
	if (ret)
		return ret;
	memset((char *)of->addr + from, 0, of->size - from);
	lock_release(semid, LOCK_MODE_EXCLUSIVE);
	/* Not counted as a write for .next and poll: `echo hi > seg`
	 * truncates first, and its readers want the text, not the NULs. */
	return 0;
}

/* ---- the attachment cache (-o attach_cache=SECONDS) ------------------ */

/* By default every open attaches and every close detaches, so shmfs holds
 * nothing alive and adds nothing to nattch once files are closed.  With
 * attach_cache, open files of a segment share one attachment, kept for
 * that long after the last close: a fresh attachment has no page tables,
 * and mapping a large segment anew on every open is what kept sequential
 * throughput at half the FUSE limit.  Removed segments are let go at the
 * next sweep, whatever the time left. */
struct attachment {
	struct attachment *next;
	int shmid;
	uint64_t generation;
	bool writable;
	void *addr;
	unsigned int users;
	struct timespec idle_since;
};

static int attachment_get(struct shmfs *fs, const struct segment_info *seg, bool writable,
			  void **addr)
{
	uint64_t gen = segment_generation(seg);
	struct attachment *a;
	int ret;

	pthread_mutex_lock(&fs->attach_lock);
	for (a = fs->attachments; a; a = a->next) {
		if (a->shmid == seg->shmid && a->generation == gen && (a->writable || !writable)) {
			a->users++;
			*addr = a->addr;
			pthread_mutex_unlock(&fs->attach_lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&fs->attach_lock);
	ret = segment_attach(seg->shmid, writable, addr);
	if (ret)
		return ret;
	a = calloc(1, sizeof(*a));
	if (!a) {
		segment_detach(*addr);
		return -ENOMEM;
	}
	*a = (struct attachment){
		.shmid = seg->shmid,
		.generation = gen,
		.writable = writable,
		.addr = *addr,
		.users = 1,
	};
	pthread_mutex_lock(&fs->attach_lock);
	a->next = fs->attachments;
	fs->attachments = a;
	pthread_mutex_unlock(&fs->attach_lock);
	return 0;
}

static void attachment_put(struct shmfs *fs, void *addr)
{
	pthread_mutex_lock(&fs->attach_lock);
	for (struct attachment *a = fs->attachments; a; a = a->next) {
		if (a->addr == addr) {
			if (--a->users == 0)
				clock_gettime(CLOCK_MONOTONIC, &a->idle_since);
			break;
		}
	}
	pthread_mutex_unlock(&fs->attach_lock);
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Detach idle attachments past their time, or of a segment removed or
 * marked for destruction (every idle one when all). */
static void attachments_sweep(struct shmfs *fs, bool all)
{
	struct attachment *gone = NULL, **link;

	pthread_mutex_lock(&fs->attach_lock);
	for (link = &fs->attachments; *link;) {
		struct attachment *a = *link;
		struct segment_info seg;

		if (a->users == 0 &&
		    (all || seconds_since(&a->idle_since) >= fs->opts.attach_cache ||
		     segment_stat(a->shmid, false, &seg) != 0 || (seg.mode & SEGMENT_MODE_DEST) ||
		     segment_generation(&seg) != a->generation)) {
			*link = a->next;
			a->next = gone;
			gone = a;
			continue;
		}
		link = &a->next;
	}
	pthread_mutex_unlock(&fs->attach_lock);
	while (gone) {
		struct attachment *a = gone;

		gone = a->next;
		detach_safely(fs, a->shmid, a->addr);
		free(a);
	}
}

static int open_segment_new(struct shmfs *fs, const struct segment_info *seg, bool writable,
			    bool creating, struct open_segment **out)
{
	struct open_segment *of;
	int semid, ret;

	/* A segment shmfs itself just made is kept by parking at close. */
	if (!creating && segment_rmid_forced() && seg->nattch == 0 &&
	    !(seg->mode & SEGMENT_MODE_DEST))
		return -EBUSY;
	of = calloc(1, sizeof(*of));
	if (!of)
		return -ENOMEM;
	semid = lock_table_semid(fs->locks, seg);
	if (semid < 0) {
		free(of);
		return semid;
	}
	if (fs->opts.attach_cache > 0)
		ret = attachment_get(fs, seg, writable, &of->addr);
	else
		ret = segment_attach(seg->shmid, writable, &of->addr);
	if (ret) {
		free(of);
		return ret;
	}
	of->shmid = seg->shmid;
	of->size = seg->size;
	of->semid = semid;
	of->info = *seg;
	of->seen = lock_table_written(fs->locks, seg->shmid);
	pthread_mutex_lock(&fs->open_lock);
	LIST_INSERT_HEAD(&fs->open_segments, of, open_link);
	pthread_mutex_unlock(&fs->open_lock);
	*out = of;
	return 0;
}

static void open_segment_close(struct shmfs *fs, struct open_segment *of)
{
	pthread_mutex_lock(&fs->open_lock);
	LIST_REMOVE(of, open_link);
	pthread_mutex_unlock(&fs->open_lock);
	if (fs->opts.attach_cache > 0)
		attachment_put(fs, of->addr);
	else
		detach_safely(fs, of->shmid, of->addr);
	free(of);
}

static void open_sidecar_free(struct shmfs *fs, struct open_sidecar *sc)
{
	pthread_mutex_lock(&fs->open_lock);
	LIST_REMOVE(sc, open_link);
	pthread_mutex_unlock(&fs->open_lock);
	free(sc);
}

/* ---- change notification ------------------------------------------- */

/* A write to shmid has been seen: answer the .next readers waiting for it
 * and tell the pollers.  The replies are sent outside watch_lock. */
static void wake_watchers(struct shmfs *fs, int shmid)
{
	struct waiter *ready = NULL, **link;
	struct fuse_pollhandle *handles[64];
	size_t nhandles = 0;

	pthread_mutex_lock(&fs->watch_lock);
	for (link = &fs->waiters; *link;) {
		struct waiter *w = *link;

		if (w->of->shmid != shmid) {
			link = &w->next;
			continue;
		}
		*link = w->next;
		w->of->fired = true;
		w->next = ready;
		ready = w;
	}
	for (struct open_segment *of = fs->pollers; of && nhandles < 64; of = of->next_poller) {
		if (of->shmid == shmid && of->ph) {
			handles[nhandles++] = of->ph;
			of->ph = NULL;
		}
	}
	pthread_mutex_unlock(&fs->watch_lock);

	while (ready) {
		struct waiter *w = ready;

		ready = w->next;
		__atomic_store_n(&w->of->seen, lock_table_written(fs->locks, shmid),
				 __ATOMIC_RELAXED);
		reply_segment_read(fs, w->req, w->of, w->size, w->off);
		free(w);
	}
	for (size_t i = 0; i < nhandles; i++) {
		fuse_lowlevel_notify_poll(handles[i]);
		fuse_pollhandle_destroy(handles[i]);
	}
}

/* Called by the sweeper often while anyone waits: take posts on the
 * "written" semaphores of watched segments, and answer interrupted
 * waiters with EINTR. */
static bool check_watched(struct shmfs *fs)
{
	int shmids[64];
	size_t n = 0;
	struct waiter *gone = NULL;
	bool any;

	pthread_mutex_lock(&fs->watch_lock);
	for (struct waiter **link = &fs->waiters; *link;) {
		struct waiter *w = *link;

		if (fuse_req_interrupted(w->req)) {
			*link = w->next;
			w->next = gone;
			gone = w;
			continue;
		}
		if (n < 64)
			shmids[n++] = w->of->shmid;
		link = &w->next;
	}
	for (struct open_segment *of = fs->pollers; of; of = of->next_poller)
		if (of->ph && n < 64)
			shmids[n++] = of->shmid;
	any = fs->waiters || fs->pollers;
	pthread_mutex_unlock(&fs->watch_lock);

	while (gone) {
		struct waiter *w = gone;

		gone = w->next;
		fuse_reply_err(w->req, EINTR);
		free(w);
	}
	for (size_t i = 0; i < n; i++)
		if (lock_table_take_posts(fs->locks, shmids[i]))
			wake_watchers(fs, shmids[i]);
	return any;
}

/* Wake every watcher whose segment's write count has moved without a
 * wake-up: posts taken by lock_table_take_all_posts(), or segments past
 * the first 64 that check_watched() looks at. */
static void wake_changed(struct shmfs *fs)
{
	int *ids = NULL, *grown;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&fs->watch_lock);
	for (struct waiter *w = fs->waiters; w; w = w->next) {
		if (lock_table_written(fs->locks, w->of->shmid) ==
		    __atomic_load_n(&w->of->seen, __ATOMIC_RELAXED))
			continue;
		if (n == cap) {
			grown = realloc(ids, (cap ? cap * 2 : 16) * sizeof(*ids));
			if (!grown)
				break;
			ids = grown;
			cap = cap ? cap * 2 : 16;
		}
		ids[n++] = w->of->shmid;
	}
	for (struct open_segment *of = fs->pollers; of; of = of->next_poller) {
		if (!of->ph || lock_table_written(fs->locks, of->shmid) ==
				       __atomic_load_n(&of->seen, __ATOMIC_RELAXED))
			continue;
		if (n == cap) {
			grown = realloc(ids, (cap ? cap * 2 : 16) * sizeof(*ids));
			if (!grown)
				break;
			ids = grown;
			cap = cap ? cap * 2 : 16;
		}
		ids[n++] = of->shmid;
	}
	pthread_mutex_unlock(&fs->watch_lock);
	for (size_t i = 0; i < n; i++)
		wake_watchers(fs, ids[i]); /* a repeated shmid wakes nobody twice */
	free(ids);
}

/* Forget an open file's poll handle and waiting reads (at release). */
static void unwatch(struct shmfs *fs, struct open_segment *of)
{
	pthread_mutex_lock(&fs->watch_lock);
	if (of->polling) {
		for (struct open_segment **link = &fs->pollers; *link;
		     link = &(*link)->next_poller) {
			if (*link == of) {
				*link = of->next_poller;
				break;
			}
		}
		of->polling = false;
	}
	if (of->ph)
		fuse_pollhandle_destroy(of->ph);
	of->ph = NULL;
	pthread_mutex_unlock(&fs->watch_lock);
}

/* read of <shmid>.next: the first read waits for the next write after
 * open, then every read serves the segment as it is. */
static void next_read(struct shmfs *fs, fuse_req_t req, struct open_segment *of, size_t size,
		      off_t off)
{
	struct waiter *w;

	pthread_mutex_lock(&fs->watch_lock);
	if (!of->fired && lock_table_written(fs->locks, of->shmid) !=
				  __atomic_load_n(&of->seen, __ATOMIC_RELAXED))
		of->fired = true;
	if (of->fired) {
		pthread_mutex_unlock(&fs->watch_lock);
		reply_segment_read(fs, req, of, size, off);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		pthread_mutex_unlock(&fs->watch_lock);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	w->req = req;
	w->of = of;
	w->size = size;
	w->off = off;
	w->next = fs->waiters;
	fs->waiters = w;
	pthread_mutex_unlock(&fs->watch_lock);
	/* the sweeper now checks for posts and interrupts every few ms */
	pthread_mutex_lock(&fs->sweep_lock);
	pthread_cond_signal(&fs->sweep_cond);
	pthread_mutex_unlock(&fs->sweep_lock);
}

static void shmfs_ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
			  struct fuse_pollhandle *ph)
{
	struct shmfs *fs = fs_of(req);
	struct open_segment *of = (struct open_segment *)(uintptr_t)fi->fh;
	unsigned int revents = 0;
	int shmid;
	enum name_kind kind = names_ino_decode(ino, &shmid);

	if (kind != NAME_SEGMENT && kind != NAME_NEXT) {
		/* sidecars and names being created are always ready */
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
		return;
	}
	if (lock_table_take_posts(fs->locks, of->shmid))
		wake_watchers(fs, of->shmid); /* before watch_lock: it takes it */
	pthread_mutex_lock(&fs->watch_lock);
	if (lock_table_written(fs->locks, of->shmid) !=
		    __atomic_load_n(&of->seen, __ATOMIC_RELAXED) ||
	    (of->is_next && of->fired))
		revents |= POLLIN | POLLRDNORM;
	if (of->writable) /* libfuse passes no flags to poll */
		revents |= POLLOUT | POLLWRNORM;
	if (ph) {
		if (of->ph)
			fuse_pollhandle_destroy(of->ph);
		of->ph = NULL;
		if (revents & POLLIN) {
			fuse_pollhandle_destroy(ph);
		} else {
			of->ph = ph;
			if (!of->polling) {
				of->next_poller = fs->pollers;
				fs->pollers = of;
				of->polling = true;
			}
		}
	}
	pthread_mutex_unlock(&fs->watch_lock);
	if (ph && !(revents & POLLIN)) {
		pthread_mutex_lock(&fs->sweep_lock);
		pthread_cond_signal(&fs->sweep_cond);
		pthread_mutex_unlock(&fs->sweep_lock);
	}
	fuse_reply_poll(req, revents);
}

/* ---- data path ---------------------------------------------------- */

/* Fault the daemon's mapping of [off, off + size) in with one call, before
 * the lock is taken: a fresh attachment has no page tables, and taking
 * faults page by page inside the lock made the first pass over a segment
 * 1.2 (read) to 1.6 (write) times slower.  Only worth it past a few pages;
 * an old kernel's EINVAL costs nothing. */
static void populate(const struct open_segment *of, off_t off, size_t size, bool write)
{
	static const size_t page = 4096;
	uintptr_t start, end;

	if (size < 16 * page)
		return;
	start = ((uintptr_t)of->addr + off) & ~(uintptr_t)(page - 1);
	end = ((uintptr_t)of->addr + off + size + page - 1) & ~(uintptr_t)(page - 1);
	madvise((void *)start, end - start, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

/* Reply to a read of an open segment: the bytes at off, copied out of
 * the mapping while the shared lock is held, so one request is one
 * consistent snapshot. */
static void reply_segment_read(struct shmfs *fs, fuse_req_t req, struct open_segment *of,
			       size_t size, off_t off)
{
	int semid, ret;

	if (off < 0 || (uint64_t)off >= of->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > of->size - off)
		size = of->size - off;
	populate(of, off, size, false);
	ret = open_segment_lock(fs, req, of, LOCK_MODE_SHARED, &semid);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	__atomic_store_n(&of->seen, lock_table_written(fs->locks, of->shmid), __ATOMIC_RELAXED);
	fuse_reply_buf(req, (const char *)of->addr + off, size);
	lock_release(semid, LOCK_MODE_SHARED);
}

static void reply_buffer_read(fuse_req_t req, const char *data, size_t len, size_t size, off_t off)
{
	if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, data + off, size < len - off ? size : len - off);
}

/* Write into an open segment under the exclusive lock.  A segment has a
 * fixed size: a write is cut short at the end, nothing lands past it. */
static void reply_segment_write(struct shmfs *fs, fuse_req_t req, struct open_segment *of,
				const char *buf, size_t size, off_t off)
{
	int semid, ret, shmid;

	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	if (off < 0 || (uint64_t)off >= of->size) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (size > of->size - off)
		size = of->size - off;
	populate(of, off, size, true);
	ret = open_segment_lock(fs, req, of, LOCK_MODE_EXCLUSIVE, &semid);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	memcpy((char *)of->addr + off, buf, size);
	lock_release(semid, LOCK_MODE_EXCLUSIVE);
	/* Count the write before the writer learns it is done; after the
	 * reply, of may be released at any moment. */
	shmid = of->shmid;
	lock_table_mark_written(fs->locks, shmid);
	fuse_reply_write(req, size);
	wake_watchers(fs, shmid);
}

/* ---- creation through by-key/ ------------------------------------------ */

static void pending_drop_data_locked(struct shmfs *fs, struct pending *p)
{
	fs->pending_bytes -= p->len;
	free(p->data);
	p->data = NULL;
	p->len = 0;
}

static void pending_release(struct shmfs *fs, struct pending *p);

/* Unlink p from the list and free it; nobody may have it open. */
static void pending_forget_locked(struct shmfs *fs, struct pending *p)
{
	for (struct pending **pp = &fs->pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	if (p->of)
		open_segment_close(fs, p->of);
	pending_drop_data_locked(fs, p);
	free(p);
}

static struct pending *pending_find_locked(struct shmfs *fs, int32_t key)
{
	for (struct pending *p = fs->pending; p; p = p->next)
		if (p->key == key)
			return p;
	return NULL;
}

static void fill_pending_attr(struct shmfs *fs, const struct pending *p, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = names_pending_ino(p->key);
	st->st_mode = S_IFREG | (p->mode & 0777);
	st->st_nlink = 1;
	st->st_uid = p->uid;
	st->st_gid = p->gid;
	st->st_size = p->len;
	st->st_blksize = sysconf(_SC_PAGESIZE);
	st->st_atime = st->st_mtime = st->st_ctime = time(NULL);
}

/* Attributes of a pending node: its own until created, then the
 * segment's (under the inode the kernel already knows). */
static int pending_attr_locked(struct shmfs *fs, const struct pending *p, struct stat *st)
{
	struct segment_info seg;
	int ret;

	if (p->shmid < 0) {
		fill_pending_attr(fs, p, st);
		return 0;
	}
	ret = segment_stat(p->shmid, false, &seg);
	if (ret)
		return ret;
	fill_segment_attr(NAME_SEGMENT, &seg, st);
	st->st_ino = names_pending_ino(p->key);
	return 0;
}

/* Make the segment: shmget as the creator, then copy in what was written. */
static int pending_create_locked(struct shmfs *fs, fuse_req_t req, struct pending *p, size_t size)
{
	struct segment_info seg;
	int semid, ret, shmid;

	shmid = segment_create(p->key, size, p->mode, p->uid, p->gid);
	if (shmid < 0)
		/* EINVAL: beyond shmmax; ENOMEM: no memory for a size that big */
		return shmid == -EINVAL || shmid == -ENOMEM ? -EFBIG : shmid;
	ret = segment_stat(shmid, false, &seg);
	if (ret == 0)
		ret = open_segment_new(fs, &seg, true, true, &p->of);
	if (ret) {
		segment_remove(shmid);
		return ret;
	}
	if (p->len) {
		ret = open_segment_lock(fs, req, p->of, LOCK_MODE_EXCLUSIVE, &semid);
		if (ret) {
			/* Someone found it by key and holds it: keep the segment,
			 * report that the bytes did not land. */
			p->shmid = shmid;
			return ret;
		}
		memcpy(p->of->addr, p->data, p->len < size ? p->len : size);
		lock_release(semid, LOCK_MODE_EXCLUSIVE);
	}
	pending_drop_data_locked(fs, p);
	p->shmid = shmid;
	return 0;
}

/* Make the segment with what was written (at least default_size). */
static int pending_create_default_locked(struct shmfs *fs, fuse_req_t req, struct pending *p)
{
	size_t size = p->len > fs->opts.default_size ? p->len : fs->opts.default_size;

	return p->shmid < 0 ? pending_create_locked(fs, req, p, size) : 0;
}

/* Someone other than its creator opening a name being created: the
 * kernel's rule, as if the segment existed with the creator as owner and
 * the mode given at creation.  The caller holds pending_lock. */
static int pending_check_access_locked(fuse_req_t req, const struct pending *p, int flags)
{
	struct segment_info seg = {
		.key = p->key,
		.shmid = -1,
		.mode = p->mode,
		.uid = p->uid,
		.gid = p->gid,
		.cuid = p->uid,
		.cgid = p->gid,
	};
	bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);

	return check_access(req, &seg, ACCESS_READ | (writing ? ACCESS_WRITE : 0));
}

static void shmfs_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			    struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	struct pending *p;
	int32_t key;
	int ret = 0;

	if (parent != NAMES_BYKEY_INO) {
		/* Segments get their shmid from the kernel: create by key. */
		fuse_reply_err(req, parent == NAMES_ROOT_INO ? EPERM : ENOENT);
		return;
	}
	if (names_parse_bykey(name, &key) != NAME_KEYLINK || key == 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (shmget(key, 0, 0) >= 0) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	pthread_mutex_lock(&fs->pending_lock);
	p = pending_find_locked(fs, key);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		p->key = key;
		p->mode = mode & 0777; /* the kernel has applied the umask */
		p->uid = ctx->uid;
		p->gid = ctx->gid;
		p->shmid = -1;
		p->next = fs->pending;
		fs->pending = p;
	} else {
		ret = pending_check_access_locked(req, p, fi->flags);
		if (ret)
			goto out_unlock;
	}
	memset(&e, 0, sizeof(e));
	ret = pending_attr_locked(fs, p, &e.attr);
	if (ret) {
		if (p->opens == 0)
			pending_forget_locked(fs, p);
		goto out_unlock;
	}
	p->opens++;
	e.ino = e.attr.st_ino;
	fi->fh = (uintptr_t)p;
	fi->direct_io = 1;
out_unlock:
	pthread_mutex_unlock(&fs->pending_lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_create(req, &e, fi) == -ENOENT)
		pending_release(fs, p); /* the caller is gone: no release will come */
}

static void pending_open(fuse_req_t req, int32_t key, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct pending *p;

	int ret = -ENOENT;

	pthread_mutex_lock(&fs->pending_lock);
	p = pending_find_locked(fs, key);
	if (p)
		ret = pending_check_access_locked(req, p, fi->flags);
	if (ret == 0)
		p->opens++;
	pthread_mutex_unlock(&fs->pending_lock);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)p;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		pending_release(fs, p);
}

static void pending_read(fuse_req_t req, struct pending *p, size_t size, off_t off)
{
	struct shmfs *fs = fs_of(req);

	struct open_segment *of;

	/* p->of is set once, with p->shmid, and freed at the last release:
	 * the caller's open file keeps it.  So the segment's lock is waited
	 * for without pending_lock, which every creation needs. */
	pthread_mutex_lock(&fs->pending_lock);
	of = p->shmid >= 0 ? p->of : NULL;
	if (!of)
		reply_buffer_read(req, p->data, p->len, size, off);
	pthread_mutex_unlock(&fs->pending_lock);
	if (of)
		reply_segment_read(fs, req, of, size, off);
}

static void pending_write(fuse_req_t req, struct pending *p, const char *buf, size_t size,
			  off_t off)
{
	struct shmfs *fs = fs_of(req);

	pthread_mutex_lock(&fs->pending_lock);
	if (p->shmid >= 0) {
		struct open_segment *of = p->of; /* see pending_read() */

		pthread_mutex_unlock(&fs->pending_lock);
		reply_segment_write(fs, req, of, buf, size, off);
		return;
	} else if (off < 0 || (uint64_t)off + size > fs->opts.max_pending ||
		   ((size_t)off + size > p->len &&
		    fs->pending_bytes + ((size_t)off + size - p->len) > fs->opts.max_pending)) {
		/* Beyond what we gather in memory, for all names being created
		 * together (any user may create): give the size first. */
		fuse_reply_err(req, EFBIG);
	} else {
		if ((size_t)off + size > p->len) {
			char *grown = realloc(p->data, off + size);

			if (!grown) {
				pthread_mutex_unlock(&fs->pending_lock);
				fuse_reply_err(req, ENOMEM);
				return;
			}
			memset(grown + p->len, 0, off + size - p->len);
			fs->pending_bytes += off + size - p->len;
			p->data = grown;
			p->len = off + size;
		}
		memcpy(p->data + off, buf, size);
		fuse_reply_write(req, size);
	}
	pthread_mutex_unlock(&fs->pending_lock);
}

/* truncate on a name being created: the size is now known. */
static int pending_setattr(struct shmfs *fs, fuse_req_t req, int32_t key, struct fuse_file_info *fi,
			   struct stat *attr, int to_set, struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct pending *p;
	int ret = 0;

	pthread_mutex_lock(&fs->pending_lock);
	/* Without an open file of the caller's, only pending_lock keeps p
	 * alive: find it under the lock.  None: already a segment, or gone. */
	p = fi && fi->fh ? (struct pending *)(uintptr_t)fi->fh : pending_find_locked(fs, key);
	if (!p) {
		ret = -ENOENT;
		goto out;
	}
	if (p->shmid < 0 &&
	    (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		if (ctx->uid != 0 && ctx->uid != p->uid) {
			ret = -EPERM;
			goto out;
		}
		if (to_set & FUSE_SET_ATTR_MODE)
			p->mode = attr->st_mode & 0777;
		if (to_set & FUSE_SET_ATTR_UID)
			p->uid = attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			p->gid = attr->st_gid;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && ctx->uid != 0 && ctx->uid != p->uid) {
		ret = pending_check_access_locked(req, p, O_RDWR);
		if (ret)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (p->shmid >= 0) {
			if ((uint64_t)attr->st_size > p->of->size)
				ret = -EFBIG;
			else
				ret = zero_fill(fs, req, p->of, attr->st_size);
		} else if (attr->st_size == 0) {
			/* dd and O_TRUNC truncate to 0 first: nothing to make yet */
			pending_drop_data_locked(fs, p);
		} else {
			ret = pending_create_locked(fs, req, p, attr->st_size);
		}
	}
	/* touch: the name exists from now on, at the default size */
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		ret = pending_create_default_locked(fs, req, p);
	if (ret == 0)
		ret = pending_attr_locked(fs, p, st);
out:
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}

/* A close after bytes were written makes the segment, so `ipcs -m` shows
 * it as soon as `echo hello > by-key/0x1234` returns.  A close before
 * any write does not: shells and dd close a duplicate of the descriptor
 * before writing through the other one. */
static int pending_flush(struct shmfs *fs, fuse_req_t req, struct pending *p)
{
	int ret = 0;

	pthread_mutex_lock(&fs->pending_lock);
	if (p->len > 0)
		ret = pending_create_default_locked(fs, req, p);
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}

static void pending_release(struct shmfs *fs, struct pending *p)
{
	pthread_mutex_lock(&fs->pending_lock);
	/* The last close of a name nothing was written to: default size. */
	if (p->opens == 1 && p->shmid < 0 && pending_create_default_locked(fs, NULL, p) != 0)
		fuse_log(FUSE_LOG_WARNING, "shmfs: could not create key 0x%08x\n",
			 (unsigned int)p->key);
	if (--p->opens == 0)
		pending_forget_locked(fs, p);
	pthread_mutex_unlock(&fs->pending_lock);
}

/* ---- lookup and attributes -------------------------------------------- */

static int lookup_pending(struct shmfs *fs, int32_t key, struct fuse_entry_param *e)
{
	struct pending *p;
	int ret = -ENOENT;

	memset(e, 0, sizeof(*e));
	pthread_mutex_lock(&fs->pending_lock);
	p = pending_find_locked(fs, key);
	if (p)
		ret = pending_attr_locked(fs, p, &e->attr);
	pthread_mutex_unlock(&fs->pending_lock);
	e->ino = e->attr.st_ino;
	return ret;
}

static void shmfs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct shmfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct segment_info seg;
	enum name_kind kind;
	int shmid, ret;
	int32_t key;

	if (parent == NAMES_ROOT_INO && strcmp(name, NAMES_BYKEY_NAME) == 0) {
		memset(&e, 0, sizeof(e));
		fill_dir_attr(fs, NAMES_BYKEY_INO, &e.attr);
		e.ino = NAMES_BYKEY_INO;
		e.attr_timeout = e.entry_timeout = 3600;
		fuse_reply_entry(req, &e);
		return;
	}
	if (parent == NAMES_ROOT_INO) {
		kind = names_parse_root(name, &shmid);
		if (kind == NAME_NONE) {
			fuse_reply_err(req, ENOENT);
			return;
		}
	} else if (parent == NAMES_BYKEY_INO) {
		kind = names_parse_bykey(name, &key);
		if (kind == NAME_NONE || key == 0) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		/* shmget with no flags asks for no permission: a pure lookup. */
		shmid = shmget(key, 0, 0);
		if (shmid < 0) {
			ret = kind == NAME_KEYLINK ? lookup_pending(fs, key, &e) : -ENOENT;
			if (ret)
				fuse_reply_err(req, -ret);
			else
				fuse_reply_entry(req, &e);
			return;
		}
	} else {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fill_entry(fs, kind, &seg, &e);
	fuse_reply_entry(req, &e);
}

static void shmfs_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* Inode numbers are computed from shmids: there is nothing to free. */
	fuse_reply_none(req);
}

static void shmfs_ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

static int pending_getattr(struct shmfs *fs, int32_t key, struct fuse_file_info *fi,
			   struct stat *st)
{
	struct pending *p;
	int ret = -ENOENT;

	pthread_mutex_lock(&fs->pending_lock);
	p = fi && fi->fh ? (struct pending *)(uintptr_t)fi->fh : pending_find_locked(fs, key);
	if (p)
		ret = pending_attr_locked(fs, p, st);
	pthread_mutex_unlock(&fs->pending_lock);
	return ret;
}

static void shmfs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct segment_info seg;
	struct stat st;
	enum name_kind kind;
	int shmid, ret;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		fill_dir_attr(fs, ino, &st);
		fuse_reply_attr(req, &st, 3600);
		return;
	}
	kind = names_ino_decode(ino, &shmid);
	if (kind == NAME_NONE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (kind == NAME_PENDING) {
		ret = pending_getattr(fs, shmid, fi, &st);
		if (ret)
			fuse_reply_err(req, -ret);
		else
			fuse_reply_attr(req, &st, 0);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fill_segment_attr(kind, &seg, &st);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

static void shmfs_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			     struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct segment_info seg;
	struct stat st;
	int shmid, ret;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (names_ino_decode(ino, &shmid) == NAME_PENDING) {
		ret = pending_setattr(fs, req, shmid, fi, attr, to_set, &st);
		if (ret)
			goto out_err;
		fuse_reply_attr(req, &st, 0);
		return;
	}
	if (names_ino_decode(ino, &shmid) != NAME_SEGMENT) {
		fuse_reply_err(req, names_ino_decode(ino, &shmid) == NAME_NONE ? ENOENT : EPERM);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret)
		goto out_err;

	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		ret = check_owner(req, &seg);
		if (ret)
			goto out_err;
		/* IPC_SET keeps only the permission bits; so do we. */
		ret = segment_set_perm(shmid, (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : seg.uid,
				       (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : seg.gid,
				       (to_set & FUSE_SET_ATTR_MODE) ? attr->st_mode : seg.mode);
		if (ret)
			goto out_err;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if ((uint64_t)attr->st_size > seg.size) {
			ret = -EFBIG;
			goto out_err;
		}
		if (fi && fi->fh) {
			ret = zero_fill(fs, req, (struct open_segment *)(uintptr_t)fi->fh,
					attr->st_size);
		} else {
			struct open_segment *of;

			ret = check_access(req, &seg, ACCESS_READ | ACCESS_WRITE);
			if (ret == 0)
				ret = open_segment_new(fs, &seg, true, false, &of);
			if (ret == 0) {
				ret = zero_fill(fs, req, of, attr->st_size);
				open_segment_close(fs, of);
			}
		}
		if (ret)
			goto out_err;
	}
	/* Times (touch) are the kernel's to keep: accepted, not changed. */
	ret = segment_stat(shmid, false, &seg);
	if (ret)
		goto out_err;
	fill_segment_attr(NAME_SEGMENT, &seg, &st);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
	return;
out_err:
	fuse_reply_err(req, -ret);
}

static void shmfs_ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char target[32] = "../";
	int shmid;

	enum name_kind kind = names_ino_decode(ino, &shmid);

	if (kind != NAME_KEYLINK && kind != NAME_NEXTLINK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	names_format_root(target + 3, sizeof(target) - 3,
			  kind == NAME_KEYLINK ? NAME_SEGMENT : NAME_NEXT, shmid);
	fuse_reply_readlink(req, target);
}

static void shmfs_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct segment_info seg;
	int shmid, ret, want = 0;
	enum name_kind kind;

	if (ino == NAMES_ROOT_INO || ino == NAMES_BYKEY_INO) {
		/* by-key/ takes new names (creation); the root does not */
		fuse_reply_err(req, (mask & W_OK) && ino == NAMES_ROOT_INO ? EACCES : 0);
		return;
	}
	kind = names_ino_decode(ino, &shmid);
	if (kind == NAME_NONE) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (kind == NAME_PENDING) {
		/* A name being created in by-key/: shmid is its key. */
		struct stat st;

		ret = pending_getattr(fs_of(req), shmid, NULL, &st);
		fuse_reply_err(req, ret ? -ret : (mask & X_OK) ? EACCES : 0);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (mask & X_OK) {
		fuse_reply_err(req, kind == NAME_KEYLINK ? 0 : EACCES);
		return;
	}
	if (kind == NAME_SIDECAR) {
		ret = (mask & W_OK) ? check_owner(req, &seg) : 0;
		fuse_reply_err(req, ret == -EPERM ? EACCES : -ret);
		return;
	}
	if (kind == NAME_NEXT && (mask & W_OK)) {
		fuse_reply_err(req, EACCES); /* .next is for reading */
		return;
	}
	if (mask & R_OK)
		want |= ACCESS_READ;
	if (mask & W_OK)
		want |= ACCESS_READ | ACCESS_WRITE;
	fuse_reply_err(req, -check_access(req, &seg, want));
}

/* ---- directories ---------------------------------------------------- */

static void shmfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_dir *d;
	int ret;

	if (ino != NAMES_ROOT_INO && ino != NAMES_BYKEY_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* One enumeration per listing: every readdir of this handle is
	 * served from this snapshot. */
	ret = segment_list_read(&d->list);
	if (ret) {
		segment_list_free(&d->list);
		free(d);
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		segment_list_free(&d->list);
		free(d);
	}
}

/* The n-th entry of a directory listing: false past the end. */
static bool dir_entry(struct shmfs *fs, fuse_ino_t dir, const struct segment_list *list, off_t n,
		      char *name, size_t name_size, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	if (n == 0 || n == 1) {
		snprintf(name, name_size, n == 0 ? "." : "..");
		fill_dir_attr(fs, n == 0 ? dir : NAMES_ROOT_INO, &e->attr);
		e->ino = e->attr.st_ino;
		return true;
	}
	if (dir == NAMES_ROOT_INO) {
		if (n == 2) {
			snprintf(name, name_size, NAMES_BYKEY_NAME);
			fill_dir_attr(fs, NAMES_BYKEY_INO, &e->attr);
			e->ino = NAMES_BYKEY_INO;
			e->attr_timeout = e->entry_timeout = 3600;
			return true;
		}
		size_t i = (n - 3) / 2;
		enum name_kind kind = (n - 3) % 2 ? NAME_SIDECAR : NAME_SEGMENT;

		if (i >= list->n)
			return false;
		names_format_root(name, name_size, kind, list->v[i].shmid);
		fill_entry(fs, kind, &list->v[i], e);
		return true;
	}
	return false; /* by-key's segment entries: see readdir_common() */
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, bool plus)
{
	struct shmfs *fs = fs_of(req);
	struct open_dir *d = (struct open_dir *)(uintptr_t)fi->fh;
	struct fuse_entry_param e;
	char name[64];
	size_t used = 0;
	char *buf;

	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t n = off;; n++) {
		size_t len;

		if (ino == NAMES_BYKEY_INO && n >= 2) {
			/* Skip segments without a key; the offset stays the
			 * index into the snapshot so it is stable. */
			size_t i = n - 2;

			while (i < d->list.n && d->list.v[i].key == 0)
				i++;
			if (i >= d->list.n)
				break;
			n = i + 2;
			names_format_key(name, sizeof(name), d->list.v[i].key);
			fill_entry(fs, NAME_KEYLINK, &d->list.v[i], &e);
		} else if (!dir_entry(fs, ino, &d->list, n, name, sizeof(name), &e)) {
			break;
		}
		if (plus)
			len = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, n + 1);
		else
			len = fuse_add_direntry(req, buf + used, size - used, name, &e.attr, n + 1);
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void shmfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			     struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void shmfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
				 struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

static void shmfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_dir *d = (struct open_dir *)(uintptr_t)fi->fh;

	/* No sweep here: the snapshot may be older than sets made since,
	 * and only the sweeper thread sweeps (see lock_table_sweep()). */
	segment_list_free(&d->list);
	free(d);
	fuse_reply_err(req, 0);
}

/* ---- files ------------------------------------------------------------ */

static void open_sidecar(fuse_req_t req, int shmid, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct segment_info seg;
	struct open_sidecar *sc;
	int ret, semid;

	ret = segment_stat(shmid, true, &seg);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* Writing is SHM_LOCK/SHM_UNLOCK: the kernel's rule and errno. */
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		ret = check_owner(req, &seg);
		if (ret) {
			fuse_reply_err(req, -ret);
			return;
		}
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	sc->shmid = shmid;
	semid = lock_table_semid(fs->locks, &seg);
	ret = sidecar_render(&seg, semid, lock_table_notify_semid(fs->locks, &seg), sc->text,
			     sizeof(sc->text));
	if (ret < 0) {
		free(sc);
		fuse_reply_err(req, -ret);
		return;
	}
	sc->len = ret;
	pthread_mutex_lock(&fs->open_lock);
	LIST_INSERT_HEAD(&fs->open_sidecars, sc, open_link);
	pthread_mutex_unlock(&fs->open_lock);
	fi->fh = (uintptr_t)sc;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_sidecar_free(fs, sc);
}

static void shmfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	struct open_segment *of;
	struct segment_info seg;
	enum name_kind kind;
	int shmid, ret, want;
	bool writable;

	kind = names_ino_decode(ino, &shmid);
	if (kind == NAME_SIDECAR) {
		open_sidecar(req, shmid, fi);
		return;
	}
	if (kind == NAME_PENDING) {
		pending_open(req, shmid, fi);
		return;
	}
	if (kind == NAME_NEXT && (fi->flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY) {
		fuse_reply_err(req, EACCES); /* .next is for reading */
		return;
	}
	if (kind != NAME_SEGMENT && kind != NAME_NEXT) {
		fuse_reply_err(req, kind == NAME_NONE ? EISDIR : EINVAL);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret)
		goto out_err;
	/* The kernel has no write-only attach: writing needs read too. */
	writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	want = ACCESS_READ | (writable || (fi->flags & O_TRUNC) ? ACCESS_WRITE : 0);
	ret = check_access(req, &seg, want);
	if (ret)
		goto out_err;
	ret = open_segment_new(fs, &seg, writable || (fi->flags & O_TRUNC), false, &of);
	if (ret)
		goto out_err;
	of->is_next = kind == NAME_NEXT;
	of->writable = writable;
	if (fi->flags & O_TRUNC) {
		ret = zero_fill(fs, req, of, 0);
		if (ret) {
			open_segment_close(fs, of);
			goto out_err;
		}
	}
	fi->fh = (uintptr_t)of;
	/* Another process may write the segment at any moment: no page cache. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_segment_close(fs, of);
	return;
out_err:
	fuse_reply_err(req, -ret);
}

static void shmfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	int shmid;

	switch (names_ino_decode(ino, &shmid)) {
	case NAME_SIDECAR: {
		struct open_sidecar *sc = (struct open_sidecar *)(uintptr_t)fi->fh;

		reply_buffer_read(req, sc->text, sc->len, size, off);
		return;
	}
	case NAME_PENDING:
		pending_read(req, (struct pending *)(uintptr_t)fi->fh, size, off);
		return;
	case NAME_NEXT:
		next_read(fs, req, (struct open_segment *)(uintptr_t)fi->fh, size, off);
		return;
	default:
		reply_segment_read(fs, req, (struct open_segment *)(uintptr_t)fi->fh, size, off);
	}
}

static void write_sidecar(fuse_req_t req, struct open_sidecar *sc, const char *buf, size_t size)
{
	struct segment_info seg;
	enum sidecar_command cmd;
	int ret;

	ret = sidecar_parse_command(buf, size, &cmd);
	if (ret == 0)
		ret = segment_stat(sc->shmid, false, &seg);
	if (ret == 0)
		ret = check_owner(req, &seg);
	if (ret == 0)
		ret = segment_set_locked(sc->shmid, cmd == SIDECAR_CMD_LOCK);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, size);
}

static void shmfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	int shmid;

	switch (names_ino_decode(ino, &shmid)) {
	case NAME_SIDECAR:
		write_sidecar(req, (struct open_sidecar *)(uintptr_t)fi->fh, buf, size);
		return;
	case NAME_PENDING:
		pending_write(req, (struct pending *)(uintptr_t)fi->fh, buf, size, off);
		return;
	default:
		reply_segment_write(fs, req, (struct open_segment *)(uintptr_t)fi->fh, buf, size,
				    off);
	}
}

static void shmfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct shmfs *fs = fs_of(req);
	int shmid;

	switch (names_ino_decode(ino, &shmid)) {
	case NAME_SIDECAR:
		open_sidecar_free(fs, (struct open_sidecar *)(uintptr_t)fi->fh);
		break;
	case NAME_PENDING:
		pending_release(fs, (struct pending *)(uintptr_t)fi->fh);
		break;
	default:
		unwatch(fs, (struct open_segment *)(uintptr_t)fi->fh);
		open_segment_close(fs, (struct open_segment *)(uintptr_t)fi->fh);
	}
	fuse_reply_err(req, 0);
}

static void shmfs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int key;

	if (names_ino_decode(ino, &key) == NAME_PENDING)
		fuse_reply_err(
			req, -pending_flush(fs_of(req), req, (struct pending *)(uintptr_t)fi->fh));
	else
		fuse_reply_err(req, 0);
}

static void shmfs_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	/* Shared memory has no backing store to flush to. */
	fuse_reply_err(req, 0);
}

/* ---- namespace changes -------------------------------------------------- */

static void shmfs_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct segment_info seg;
	int shmid, ret;

	if (parent != NAMES_ROOT_INO) {
		fuse_reply_err(req, parent == NAMES_BYKEY_INO ? EPERM : ENOENT);
		return;
	}
	switch (names_parse_root(name, &shmid)) {
	case NAME_SEGMENT:
		break;
	case NAME_SIDECAR:
	case NAME_NEXT:
		/* The sidecar goes with its segment, never on its own. */
		ret = segment_stat(shmid, false, &seg);
		fuse_reply_err(req, ret ? -ret : EPERM);
		return;
	default:
		fuse_reply_err(req, strcmp(name, NAMES_BYKEY_NAME) == 0 ? EISDIR : ENOENT);
		return;
	}
	ret = segment_stat(shmid, false, &seg);
	if (ret == 0)
		ret = check_owner(req, &seg);
	if (ret == 0)
		ret = segment_remove(shmid);
	fuse_reply_err(req, -ret);
}

static void shmfs_ll_refuse(fuse_req_t req)
{
	/* The names are the kernel's: nothing can be made, moved or linked. */
	fuse_reply_err(req, EPERM);
}

static void shmfs_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			   dev_t rdev)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	shmfs_ll_refuse(req);
}

static void shmfs_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			      size_t size, int flags)
{
	fuse_reply_err(req, ENOTSUP);
}

static void shmfs_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	struct segment_list list = { 0 };
	uint64_t used = 0;
	long page = sysconf(_SC_PAGESIZE);

	memset(&st, 0, sizeof(st));
	if (segment_list_read(&list) == 0)
		for (size_t i = 0; i < list.n; i++)
			used += (list.v[i].size + page - 1) / page;
	st.f_bsize = st.f_frsize = page;
	st.f_blocks = used;
	st.f_files = list.n;
	st.f_namemax = 255;
	segment_list_free(&list);
	fuse_reply_statfs(req, &st);
}

/* ---- lifecycle -------------------------------------------------------- */

#define WATCH_TICK_MS 10

static void deadline_in(struct timespec *t, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static bool reached(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Background work: every sweep_interval_ms, remove the semaphore sets of
 * gone segments, take stray posts and detach parked attachments; every
 * WATCH_TICK_MS while anyone waits for a write, look for posts and
 * interrupts. */
static void *sweeper_main(void *arg)
{
	struct shmfs *fs = arg;
	struct segment_list list = { 0 };
	struct timespec next_sweep, until;
	bool watching = false;

	deadline_in(&next_sweep, fs->opts.sweep_interval_ms);
	pthread_mutex_lock(&fs->sweep_lock);
	while (!fs->stopping) {
		if (watching)
			deadline_in(&until, WATCH_TICK_MS);
		else
			until = next_sweep;
		pthread_cond_timedwait(&fs->sweep_cond, &fs->sweep_lock, &until);
		if (fs->stopping)
			break;
		pthread_mutex_unlock(&fs->sweep_lock);
		watching = check_watched(fs);
		if (reached(&next_sweep)) {
			if (segment_list_read(&list) == 0)
				lock_table_sweep(fs->locks, &list);
			lock_table_take_all_posts(fs->locks);
			wake_changed(fs);
			unpark_detachable(fs);
			attachments_sweep(fs, false);
			deadline_in(&next_sweep, fs->opts.sweep_interval_ms);
		}
		pthread_mutex_lock(&fs->sweep_lock);
	}
	pthread_mutex_unlock(&fs->sweep_lock);
	segment_list_free(&list);
	return NULL;
}

static void shmfs_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct shmfs *fs = userdata;
	pthread_condattr_t attr;

	/* open(O_TRUNC) arrives as one open, zero-filled under the lock. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Let a segment copy out straight from the mapping, and let the
	 * kernel send big requests. */
	conn->max_write = 1024 * 1024;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;

	/* The sweeper starts here, after any daemonizing fork. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->sweep_cond, &attr);
	pthread_condattr_destroy(&attr);
	fs->sweeper_running = pthread_create(&fs->sweeper, NULL, sweeper_main, fs) == 0;
	if (!fs->sweeper_running)
		fuse_log(FUSE_LOG_WARNING, "shmfs: cannot start the sweeper thread\n");
}

static void shmfs_ll_destroy(void *userdata)
{
	struct shmfs *fs = userdata;

	if (fs->sweeper_running) {
		pthread_mutex_lock(&fs->sweep_lock);
		fs->stopping = true;
		pthread_cond_signal(&fs->sweep_cond);
		pthread_mutex_unlock(&fs->sweep_lock);
		pthread_join(fs->sweeper, NULL);
		fs->sweeper_running = false;
	}
	/* Readers still waiting for a write: the session is ending. */
	pthread_mutex_lock(&fs->watch_lock);
	while (fs->waiters) {
		struct waiter *w = fs->waiters;

		fs->waiters = w->next;
		fuse_reply_err(w->req, EINTR);
		free(w);
	}
	pthread_mutex_unlock(&fs->watch_lock);
}

struct shmfs *shmfs_new(const struct shmfs_options *opts)
{
	struct shmfs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->opts = *opts;
	fs->locks = lock_table_new();
	if (!fs->locks) {
		free(fs);
		return NULL;
	}
	fs->mount_time = time(NULL);
	fs->uid = getuid();
	fs->gid = getgid();
	pthread_mutex_init(&fs->parked_lock, NULL);
	pthread_mutex_init(&fs->pending_lock, NULL);
	pthread_mutex_init(&fs->watch_lock, NULL);
	pthread_mutex_init(&fs->attach_lock, NULL);
	pthread_mutex_init(&fs->sweep_lock, NULL);
	pthread_mutex_init(&fs->open_lock, NULL);
	LIST_INIT(&fs->open_segments);
	LIST_INIT(&fs->open_sidecars);
	return fs;
}

void shmfs_free(struct shmfs *fs)
{
	if (!fs)
		return;
	/* Files still open at unmount: their releases never come.  Names
	 * being created go with them (their attachments are in the list). */
	while (fs->pending) {
		struct pending *p = fs->pending;

		fs->pending = p->next;
		free(p->data);
		free(p);
	}
	while (!LIST_EMPTY(&fs->open_segments)) {
		struct open_segment *of = LIST_FIRST(&fs->open_segments);

		unwatch(fs, of);
		open_segment_close(fs, of);
	}
	while (!LIST_EMPTY(&fs->open_sidecars))
		open_sidecar_free(fs, LIST_FIRST(&fs->open_sidecars));
	attachments_sweep(fs, true);
	if (fs->nparked)
		fuse_log(FUSE_LOG_WARNING,
			 "shmfs: %zu segment(s) kept attached under kernel.shm_rmid_forced=1 "
			 "are detached at exit, which destroys them\n",
			 fs->nparked);
	for (size_t i = 0; i < fs->nparked; i++)
		segment_detach(fs->parked[i].addr);
	free(fs->parked);
	lock_table_free(fs->locks);
	pthread_mutex_destroy(&fs->parked_lock);
	pthread_mutex_destroy(&fs->pending_lock);
	pthread_mutex_destroy(&fs->watch_lock);
	pthread_mutex_destroy(&fs->attach_lock);
	pthread_mutex_destroy(&fs->sweep_lock);
	pthread_mutex_destroy(&fs->open_lock);
	free(fs);
}

const struct fuse_lowlevel_ops shmfs_ll_ops = {
	.init = shmfs_ll_init,
	.destroy = shmfs_ll_destroy,
	.lookup = shmfs_ll_lookup,
	.forget = shmfs_ll_forget,
	.forget_multi = shmfs_ll_forget_multi,
	.getattr = shmfs_ll_getattr,
	.setattr = shmfs_ll_setattr,
	.readlink = shmfs_ll_readlink,
	.access = shmfs_ll_access,
	.mknod = shmfs_ll_mknod,
	.mkdir = shmfs_ll_mkdir,
	.unlink = shmfs_ll_unlink,
	.rmdir = shmfs_ll_rmdir,
	.symlink = shmfs_ll_symlink,
	.rename = shmfs_ll_rename,
	.link = shmfs_ll_link,
	.create = shmfs_ll_create,
	.open = shmfs_ll_open,
	.read = shmfs_ll_read,
	.write = shmfs_ll_write,
	.flush = shmfs_ll_flush,
	.release = shmfs_ll_release,
	.fsync = shmfs_ll_fsync,
	.opendir = shmfs_ll_opendir,
	.readdir = shmfs_ll_readdir,
	.readdirplus = shmfs_ll_readdirplus,
	.releasedir = shmfs_ll_releasedir,
	.statfs = shmfs_ll_statfs,
	.poll = shmfs_ll_poll,
	.setxattr = shmfs_ll_setxattr,
};
