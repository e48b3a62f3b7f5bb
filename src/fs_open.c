/* fs_open.c - open segment files: attributes, the caller's rights,
 * attachments, the lock around each copy, and change notification. */
#include "fs_internal.h"

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

void fill_segment_attr(enum name_kind kind, const struct segment_info *seg, struct stat *st)
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

void fill_dir_attr(struct shmfs *fs, fuse_ino_t ino, struct stat *st)
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
uint64_t segment_generation(const struct segment_info *seg)
{
	return ((uint64_t)(uint32_t)seg->cpid << 32) | (uint32_t)seg->cuid;
}

void fill_entry(struct shmfs *fs, enum name_kind kind, const struct segment_info *seg,
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

int check_access(fuse_req_t req, const struct segment_info *seg, int want)
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
int check_owner(fuse_req_t req, const struct segment_info *seg)
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
int open_segment_lock(struct shmfs *fs, fuse_req_t req, struct open_segment *of,
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
int detach_safely(struct shmfs *fs, int shmid, void *addr)
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

void unpark_detachable(struct shmfs *fs)
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

/* Zero from offset to the end under the exclusive lock: what O_TRUNC and
 * truncate(n <= size) mean for a segment of fixed size. */
int zero_fill(struct shmfs *fs, fuse_req_t req, struct open_segment *of, uint64_t from)
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

/* ---- attachments shared by the open files of a segment ---------------- */

/* The open files of a segment share one attachment: a fresh attachment
 * has no page tables, so every extra one would fault each page in again
 * (two writers with a descriptor each ran at half the speed of one).  By
 * default the last close detaches it, so shmfs holds nothing alive and
 * adds nothing to nattch once its files are closed.  With -o attach_cache
 * it is kept that long after the last close, for programs that open and
 * close a large segment over and over (mapping it anew on every open is
 * what keeps their sequential throughput at half the FUSE limit); a
 * removed segment is let go at the next sweep, whatever the time left.
 * While the attachment exists the segment, and so its shmid, lives: a
 * shmid cannot name another segment meanwhile. */
struct attachment {
	struct attachment *next;
	int shmid;
	uint64_t generation;
	bool writable;
	void *addr;
	int fd;		  /* segment_open_fd() of it, or -1: the mapping is used */
	uint64_t *chunks; /* with fd: see write_through_mapping() */
	unsigned int users;
	struct timespec idle_since;
};

static int attachment_get(struct shmfs *fs, const struct segment_info *seg, bool writable,
			  void **addr, int *fd, uint64_t **chunks)
{
	uint64_t gen = segment_generation(seg);
	struct attachment *a;
	int ret;

	pthread_mutex_lock(&fs->attach_lock);
	for (a = fs->attachments; a; a = a->next) {
		if (a->shmid == seg->shmid && a->generation == gen && (a->writable || !writable)) {
			a->users++;
			*addr = a->addr;
			*fd = a->fd;
			*chunks = a->chunks;
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
	/* One descriptor per attachment: past the budget (fs->fd_limit,
	 * see shmfs_new()), or without one, the mapping is used. */
	*fd = segment_open_fd(*addr, seg->size, writable);
	if (*fd >= fs->fd_limit) {
		close(*fd);
		*fd = -1;
	} else if (*fd < 0) {
		*fd = -1;
	}
	*chunks = NULL;
	if (*fd >= 0 && writable) {
		*chunks = calloc((seg->size >> CHUNK_SHIFT) + 1, sizeof(**chunks));
		if (!*chunks) {
			close(*fd);
			*fd = -1;
		}
	}
	*a = (struct attachment){
		.shmid = seg->shmid,
		.generation = gen,
		.writable = writable,
		.addr = *addr,
		.fd = *fd,
		.chunks = *chunks,
		.users = 1,
	};
	pthread_mutex_lock(&fs->attach_lock);
	a->next = fs->attachments;
	fs->attachments = a;
	pthread_mutex_unlock(&fs->attach_lock);
	return 0;
}

static void attachment_free(struct shmfs *fs, struct attachment *a)
{
	if (a->fd >= 0)
		close(a->fd);
	free(a->chunks);
	detach_safely(fs, a->shmid, a->addr);
	free(a);
}

static void attachment_put(struct shmfs *fs, void *addr)
{
	struct attachment *gone = NULL;

	pthread_mutex_lock(&fs->attach_lock);
	for (struct attachment **link = &fs->attachments; *link; link = &(*link)->next) {
		struct attachment *a = *link;

		if (a->addr != addr)
			continue;
		if (--a->users == 0) {
			clock_gettime(CLOCK_MONOTONIC, &a->idle_since);
			if (fs->opts.attach_cache <= 0) {
				/* the default: the last close detaches */
				*link = a->next;
				gone = a;
			}
		}
		break;
	}
	pthread_mutex_unlock(&fs->attach_lock);
	if (gone)
		attachment_free(fs, gone);
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Detach idle attachments past their time, or of a segment removed or
 * marked for destruction (every idle one when all). */
void attachments_sweep(struct shmfs *fs, bool all)
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
		attachment_free(fs, a);
	}
}

int open_segment_new(struct shmfs *fs, const struct segment_info *seg, bool writable, bool creating,
		     struct open_segment **out)
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
	ret = attachment_get(fs, seg, writable, &of->addr, &of->fd, &of->chunks);
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

void open_segment_close(struct shmfs *fs, struct open_segment *of)
{
	pthread_mutex_lock(&fs->open_lock);
	LIST_REMOVE(of, open_link);
	pthread_mutex_unlock(&fs->open_lock);
	attachment_put(fs, of->addr);
	free(of);
}

void open_sidecar_free(struct shmfs *fs, struct open_sidecar *sc)
{
	pthread_mutex_lock(&fs->open_lock);
	LIST_REMOVE(sc, open_link);
	pthread_mutex_unlock(&fs->open_lock);
	free(sc);
}

/* ---- change notification ------------------------------------------- */

/* A write to shmid has been seen: answer the .next readers waiting for it
 * and tell the pollers.  The replies, which wait for the segment's lock,
 * are sent outside watch_lock; a poll notification only writes to
 * /dev/fuse and is sent under it. */
void wake_watchers(struct shmfs *fs, int shmid)
{
	struct waiter *ready = NULL, **link;

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
	for (struct open_segment *of = fs->pollers; of; of = of->next_poller) {
		if (of->shmid == shmid && of->ph) {
			fuse_lowlevel_notify_poll(of->ph);
			fuse_pollhandle_destroy(of->ph);
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
}

/* A growing list of shmids; a failed allocation only drops the rest. */
struct shmid_list {
	int *v;
	size_t n, cap;
};

static void shmid_list_add(struct shmid_list *l, int shmid)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		int *grown = realloc(l->v, cap * sizeof(*grown));

		if (!grown)
			return;
		l->v = grown;
		l->cap = cap;
	}
	l->v[l->n++] = shmid;
}

/* Called by the sweeper often while anyone waits: take posts on the
 * "written" semaphores of watched segments, and answer interrupted
 * waiters with EINTR. */
bool check_watched(struct shmfs *fs)
{
	struct shmid_list ids = { 0 };
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
		shmid_list_add(&ids, w->of->shmid);
		link = &w->next;
	}
	for (struct open_segment *of = fs->pollers; of; of = of->next_poller)
		if (of->ph)
			shmid_list_add(&ids, of->shmid);
	any = fs->waiters || fs->pollers;
	pthread_mutex_unlock(&fs->watch_lock);

	while (gone) {
		struct waiter *w = gone;

		gone = w->next;
		fuse_reply_err(w->req, EINTR);
		free(w);
	}
	for (size_t i = 0; i < ids.n; i++)
		if (lock_table_take_posts(fs->locks, ids.v[i]))
			wake_watchers(fs, ids.v[i]);
	free(ids.v);
	return any;
}

static bool moved(struct shmfs *fs, const struct open_segment *of)
{
	return lock_table_written(fs->locks, of->shmid) !=
	       __atomic_load_n(&of->seen, __ATOMIC_RELAXED);
}

/* Wake every watcher whose segment's write count has moved without a
 * wake-up: posts taken by lock_table_take_all_posts(). */
void wake_changed(struct shmfs *fs)
{
	struct shmid_list ids = { 0 };

	pthread_mutex_lock(&fs->watch_lock);
	for (struct waiter *w = fs->waiters; w; w = w->next)
		if (moved(fs, w->of))
			shmid_list_add(&ids, w->of->shmid);
	for (struct open_segment *of = fs->pollers; of; of = of->next_poller)
		if (of->ph && moved(fs, of))
			shmid_list_add(&ids, of->shmid);
	pthread_mutex_unlock(&fs->watch_lock);
	for (size_t i = 0; i < ids.n; i++)
		wake_watchers(fs, ids.v[i]); /* a repeated shmid wakes nobody twice */
	free(ids.v);
}

/* Forget an open file's poll handle and waiting reads (at release). */
void unwatch(struct shmfs *fs, struct open_segment *of)
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
void next_read(struct shmfs *fs, fuse_req_t req, struct open_segment *of, size_t size, off_t off)
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

void shmfs_ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
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

/* One buffer per thread for reads too big to splice. */
static pthread_key_t read_buffer_key;
static pthread_once_t read_buffer_once = PTHREAD_ONCE_INIT;

static void read_buffer_key_init(void)
{
	pthread_key_create(&read_buffer_key, free);
}

static void *read_buffer(void)
{
	void *buf;

	pthread_once(&read_buffer_once, read_buffer_key_init);
	buf = pthread_getspecific(read_buffer_key);
	if (!buf) {
		buf = aligned_alloc(4096, READ_BUFFER_SIZE);
		if (buf && pthread_setspecific(read_buffer_key, buf) != 0) {
			free(buf);
			buf = NULL;
		}
	}
	return buf;
}

/* The segment's pages go into the pipe by reference, and the kernel
 * copies them once, into the reader's buffer, while the lock is held. */
static void reply_spliced(fuse_req_t req, int fd, size_t size, off_t off)
{
	struct fuse_bufvec bufv = FUSE_BUFVEC_INIT(size);

	bufv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bufv.buf[0].fd = fd;
	bufv.buf[0].pos = off;
	fuse_reply_data(req, &bufv, 0);
}

/* A reply bigger than a pipe can hold: through this thread's buffer, or
 * from the mapping if there is none. */
static void reply_copied(fuse_req_t req, const struct open_segment *of, size_t size, off_t off)
{
	char *buf = size <= READ_BUFFER_SIZE ? read_buffer() : NULL;
	ssize_t n;

	if (!buf) {
		fuse_reply_buf(req, (const char *)of->addr + off, size);
		return;
	}
	n = pread(of->fd, buf, size, off);
	if (n < 0)
		fuse_reply_buf(req, (const char *)of->addr + off, size);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* Reply to a read of an open segment: the bytes at off, copied out while
 * the shared lock is held, so one request is one consistent snapshot.
 * With a descriptor for the segment's memory (segment_open_fd()) nothing
 * goes through the daemon's page tables: building them for a fresh
 * attachment cost more than the copy itself. */
void reply_segment_read(struct shmfs *fs, fuse_req_t req, struct open_segment *of, size_t size,
			off_t off)
{
	int semid, ret;

	if (off < 0 || (uint64_t)off >= of->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > of->size - off)
		size = of->size - off;
	if (of->fd < 0)
		populate(of, off, size, false);
	ret = open_segment_lock(fs, req, of, LOCK_MODE_SHARED, &semid);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	__atomic_store_n(&of->seen, lock_table_written(fs->locks, of->shmid), __ATOMIC_RELAXED);
	if (of->fd < 0)
		fuse_reply_buf(req, (const char *)of->addr + off, size);
	else if (size >= 2 * 4096 && size <= __atomic_load_n(&fs->splice_max, __ATOMIC_RELAXED))
		reply_spliced(req, of->fd, size, off);
	else
		reply_copied(req, of, size, off);
	lock_release(semid, LOCK_MODE_SHARED);
}

void reply_buffer_read(fuse_req_t req, const char *data, size_t len, size_t size, off_t off)
{
	if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, data + off, size < len - off ? size : len - off);
}

/* Whether a write of [off, off + size) with a descriptor should go
 * through the mapping.  pwrite to the segment's file copies at about
 * 8 GB/s here, with the kernel's work per page; a memcpy into mapped
 * pages at about 20, but mapping them first (MADV_POPULATE_WRITE) costs
 * about twice what the pwrite does, so it pays only from the third
 * pass over the same bytes.  The attachment remembers, per 64 KiB, what
 * was written once and twice: a big write (64 KiB or more) over bytes
 * written twice before maps their 1 MiB chunks, and from then on a write
 * to mapped chunks is a memcpy.  A program that rewrites a segment over
 * and over through one open file, or with -o attach_cache, gets the fast
 * copy; one or two passes, and small writes, never pay for the mapping. */
static bool write_through_mapping(const struct open_segment *of, off_t off, size_t size)
{
	size_t first = (size_t)off >> CHUNK_SHIFT, last = ((size_t)off + size - 1) >> CHUNK_SHIFT;
	bool mapped = true, third = false;
	uintptr_t start, end;

	if (!of->chunks)
		return false;
	for (size_t c = first; c <= last; c++) {
		/* the parts of chunk c that the write covers */
		size_t from = c == first ? ((size_t)off >> CHUNK_PART_SHIFT) & 15 : 0;
		size_t to = c == last ? (((size_t)off + size - 1) >> CHUNK_PART_SHIFT) & 15 : 15;
		uint64_t parts = (2ull << to) - (1ull << from);
		uint64_t was = __atomic_fetch_or(&of->chunks[c], parts, __ATOMIC_RELAXED);

		if (was & parts)
			__atomic_fetch_or(&of->chunks[c], parts << CHUNK_TWICE, __ATOMIC_RELAXED);
		mapped &= (was & CHUNK_MAPPED) != 0;
		third |= (was & (parts << CHUNK_TWICE)) != 0;
	}
	if (mapped)
		return true;
	if (!third || size < (1u << CHUNK_PART_SHIFT))
		return false;
	/* whole chunks, clipped to the segment */
	start = (uintptr_t)of->addr + (first << CHUNK_SHIFT);
	end = (uintptr_t)of->addr + ((last + 1) << CHUNK_SHIFT);
	if (end > (uintptr_t)of->addr + of->size)
		end = ((uintptr_t)of->addr + of->size + 4095) & ~(uintptr_t)4095;
	if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) != 0)
		return false;
	for (size_t c = first; c <= last; c++)
		__atomic_fetch_or(&of->chunks[c], CHUNK_MAPPED, __ATOMIC_RELAXED);
	return true;
}

/* Write into an open segment under the exclusive lock.  A segment has a
 * fixed size: a write is cut short at the end, nothing lands past it. */
void reply_segment_write(struct shmfs *fs, fuse_req_t req, struct open_segment *of, const char *buf,
			 size_t size, off_t off)
{
	int semid, ret, shmid;
	bool mapped;

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
	if (of->fd < 0)
		populate(of, off, size, true);
	mapped = of->fd < 0 || write_through_mapping(of, off, size);
	ret = open_segment_lock(fs, req, of, LOCK_MODE_EXCLUSIVE, &semid);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (mapped || pwrite(of->fd, buf, size, off) != (ssize_t)size)
		memcpy((char *)of->addr + off, buf, size); /* or a short pwrite */
	lock_release(semid, LOCK_MODE_EXCLUSIVE);
	/* Count the write before the writer learns it is done; after the
	 * reply, of may be released at any moment. */
	shmid = of->shmid;
	lock_table_mark_written(fs->locks, shmid);
	fuse_reply_write(req, size);
	wake_watchers(fs, shmid);
}
