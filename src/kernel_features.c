/* kernel_features.c - FUSE kernel features the FUSE library may not name.
 *
 * Two features of the FUSE protocol make a segment file behave like the
 * shared memory it is:
 *  - passthrough (kernel 6.9): an open file names a backing file, here
 *    the segment's own tmpfs file, and mmap() of the FUSE file maps the
 *    backing file: the live segment.  The open stays FOPEN_DIRECT_IO,
 *    which the kernel puts before passthrough for read() and write():
 *    those still come to the daemon, through its lock and checks.
 *  - FOPEN_PARALLEL_DIRECT_WRITES (protocol 7.38): the kernel no longer
 *    holds the inode lock across a direct write within the file's size,
 *    so writers of one file reach the daemon at once.
 *
 * libfuse 3.17 has both as API, and is then used.  libfuse 3.14 (Debian
 * 12) has neither: this module then sits between libfuse and /dev/fuse
 * (fuse_session_custom_io(), libfuse 3.13), reads the kernel's INIT
 * request to learn what it offers, adds FUSE_PASSTHROUGH to the INIT
 * reply when offered, and adds the open flags and the backing id to the
 * OPEN replies of the files the FUSE layer handed to
 * kernel_features_open().  Nothing else in shmfs knows the protocol.
 *
 * The kernel lets all passthrough opens of one inode share one backing
 * file (another one is EBUSY), so a backing id belongs to an inode: taken
 * at its first open with a descriptor, closed when its last such open is
 * released (the kernel has by then dropped the inode's use of it).  It is
 * shared only between opens of the same segment lifetime (the owner the
 * FUSE layer passes: the object that holds the lifetime's file), never
 * found by inode number alone: an inode whose backing file is another
 * lifetime's gets none, and its open fails with ESTALE (mapping it would
 * map a removed segment's memory, maybe another user's).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/fuse.h>

#include "array.h"
#include "config.h"
#include "kernel_features.h"

/* The protocol beyond Debian 12's <linux/fuse.h> (7.38), as the kernel's
 * include/uapi/linux/fuse.h has it since 7.40. */
#ifndef FUSE_PASSTHROUGH
#define FUSE_PASSTHROUGH (1ULL << 37)
#endif
#ifndef FOPEN_PASSTHROUGH
#define FOPEN_PASSTHROUGH (1 << 7)
#endif
#ifndef FUSE_DEV_IOC_BACKING_OPEN
struct fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define FUSE_DEV_IOC_BACKING_OPEN  _IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
#endif

/* fuse_init_out and fuse_open_out as of 7.40: the same sizes as 7.38's,
 * with max_stack_depth and backing_id where 7.38 had unused bytes. */
struct init_out_7_40 {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;
	uint32_t max_stack_depth;
	uint32_t unused[6];
};
_Static_assert(sizeof(struct init_out_7_40) == sizeof(struct fuse_init_out), "init_out");

struct open_out_7_40 {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};
_Static_assert(sizeof(struct open_out_7_40) == sizeof(struct fuse_open_out), "open_out");

/* FOPEN_PARALLEL_DIRECT_WRITES is in protocol 7.38; older kernels ignore
 * the bit, but a feature is used only when offered. */
#define PARALLEL_WRITES_MINOR 38
/* The backing file (tmpfs) stacks nothing: the FUSE mount is one level. */
#define STACK_DEPTH 1

enum feature {
	FEATURE_PASSTHROUGH = 1 << 0,
	FEATURE_PARALLEL_WRITES = 1 << 1,
};

/* An open file that was given a feature, until its release. */
struct open_file {
	uint64_t fh;
	fuse_ino_t ino;
	const void *owner;   /* the segment lifetime's object */
	uint32_t open_flags; /* FOPEN_ flags added to its OPEN reply */
	int32_t backing_id;  /* > 0: its inode's backing file */
};

/* File-scope, not in struct shmfs: libfuse 3.14's custom I/O callbacks
 * (kf_read, kf_writev) get only the session's userdata, which is the
 * filesystem's own (struct shmfs here, another struct in bench/nullfs.c),
 * not this module's; one session per process. */
static struct {
	/* Guards everything below but pending (atomic), across the backing
	 * ioctls (which wait on no one).  A leaf (lockorder.h): taken alone,
	 * by workers and by the thread that reads or replies. */
	pthread_mutex_t lock;
	bool passthrough;     /* offered, asked for, and not refused */
	bool parallel_writes; /* offered */
	int devfd;	      /* /dev/fuse, libfuse 3.14 only */

	/* libfuse 3.14: the requests whose replies get patched, by
	 * unique; pending counts them, so other replies pass untouched
	 * without the lock while none is in flight. */
	uint64_t init_unique; /* 0: none (INIT is never unique 0) */
	uint64_t *opens;
	size_t nopens, opens_cap;
	size_t pending;

	struct open_file *files;
	size_t nfiles, files_cap;
} kf = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.devfd = -1,
};

/* SHMFS_MASK_KERNEL_FEATURES: the features to treat as not offered. */
static unsigned int masked_features(void)
{
	const char *env = getenv("SHMFS_MASK_KERNEL_FEATURES");
	unsigned int mask = 0;

	while (env && *env) {
		size_t len = strcspn(env, ",");

		if (len == 3 && strncmp(env, "all", len) == 0)
			mask |= FEATURE_PASSTHROUGH | FEATURE_PARALLEL_WRITES;
		else if (len == 11 && strncmp(env, "passthrough", len) == 0)
			mask |= FEATURE_PASSTHROUGH;
		else if (len == 22 && strncmp(env, "parallel_direct_writes", len) == 0)
			mask |= FEATURE_PARALLEL_WRITES;
		else if (len)
			fuse_log(FUSE_LOG_WARNING,
				 "shmfs: SHMFS_MASK_KERNEL_FEATURES: unknown feature '%.*s'\n",
				 (int)len, env);
		env += len + (env[len] == ',');
	}
	return mask;
}

/* The kernel's offer, from its INIT request (flags2 with FUSE_INIT_EXT). */
static void note_offer(uint64_t flags, uint32_t major, uint32_t minor, bool can_open_backing)
{
	unsigned int mask = masked_features();

	kf.passthrough =
		(flags & FUSE_PASSTHROUGH) && can_open_backing && !(mask & FEATURE_PASSTHROUGH);
	kf.parallel_writes = major == FUSE_KERNEL_VERSION && minor >= PARALLEL_WRITES_MINOR &&
			     !(mask & FEATURE_PARALLEL_WRITES);
}

/* ---- backing ids (under kf.lock) ------------------------------------- */

static int backing_open(fuse_req_t req, int fd)
{
#ifdef HAVE_FUSE_PASSTHROUGH_API
	/* 0 on failure, errno the ioctl's (libfuse logs it) */
	int id = fuse_passthrough_open(req, fd);

	return id > 0 ? id : -1;
#else
	struct fuse_backing_map map = { .fd = fd };

	(void)req;
	return ioctl(kf.devfd, FUSE_DEV_IOC_BACKING_OPEN, &map);
#endif
}

static void backing_close(fuse_req_t req, int32_t id)
{
#ifdef HAVE_FUSE_PASSTHROUGH_API
	int ret = req && fuse_passthrough_close(req, id) < 0 ? -errno : 0;
#else
	uint32_t arg = (uint32_t)id;
	int ret = ioctl(kf.devfd, FUSE_DEV_IOC_BACKING_CLOSE, &arg) < 0 ? -errno : 0;

	(void)req;
#endif
	if (ret < 0)
		fuse_log(FUSE_LOG_DEBUG, "shmfs: closing backing id %d: %s\n", id, strerror(-ret));
}

static struct open_file *find_file(uint64_t fh, fuse_ino_t ino)
{
	for (size_t i = 0; i < kf.nfiles; i++)
		if (kf.files[i].fh == fh && (!ino || kf.files[i].ino == ino))
			return &kf.files[i];
	return NULL;
}

/* The inode's backing id: the one its open files of owner's lifetime
 * share, or a new one for fd; 0 if it has none; -ESTALE if the inode has
 * another lifetime's backing file. */
static int32_t backing_for(fuse_req_t req, fuse_ino_t ino, const void *owner, int fd)
{
	int id;

	for (size_t i = 0; i < kf.nfiles; i++) {
		if (kf.files[i].ino != ino || kf.files[i].backing_id <= 0)
			continue;
		if (kf.files[i].owner != owner)
			return -ESTALE;
		return kf.files[i].backing_id;
	}
	if (fd < 0)
		return 0;
	id = backing_open(req, fd);
	if (id > 0)
		return id;
	if (errno == EPERM) {
		/* Backing files need CAP_SYS_ADMIN: mmap stays ENODEV. */
		kf.passthrough = false;
		fuse_log(FUSE_LOG_WARNING,
			 "shmfs: mmap of segment files is off: FUSE_DEV_IOC_BACKING_OPEN: %s "
			 "(it needs CAP_SYS_ADMIN)\n",
			 strerror(errno));
	} else {
		fuse_log(FUSE_LOG_DEBUG, "shmfs: no backing file for inode %llu: %s\n",
			 (unsigned long long)ino, strerror(errno));
	}
	return 0;
}

static bool backing_in_use(int32_t id)
{
	for (size_t i = 0; i < kf.nfiles; i++)
		if (kf.files[i].backing_id == id)
			return true;
	return false;
}

/* ---- the hooks of the FUSE layer ------------------------------------- */

void kernel_features_init(struct fuse_conn_info *conn)
{
#ifdef HAVE_FUSE_PASSTHROUGH_API
	/* The 32-bit want, as the FUSE layer sets its own: libfuse refuses
	 * a mix of want and want_ext. */
	bool offered = conn->capable & FUSE_CAP_PASSTHROUGH;

	pthread_mutex_lock(&kf.lock);
	note_offer(offered ? FUSE_PASSTHROUGH : 0, conn->proto_major, conn->proto_minor, true);
	if (kf.passthrough) {
		conn->want |= FUSE_CAP_PASSTHROUGH;
		conn->max_backing_stack_depth = STACK_DEPTH;
	}
	pthread_mutex_unlock(&kf.lock);
#else
	/* The offer was read with the INIT request; the reply is patched. */
	(void)conn;
#endif
}

int kernel_features_open(fuse_req_t req, fuse_ino_t ino, const void *owner, int fd,
			 struct fuse_file_info *fi)
{
	struct open_file f = { .fh = fi->fh, .ino = ino, .owner = owner }, *files;
	int ret = 0;

	pthread_mutex_lock(&kf.lock);
	if (!kf.passthrough && !kf.parallel_writes)
		goto out;
	files = array_grow(kf.files, kf.nfiles, &kf.files_cap, sizeof(*kf.files));
	if (!files)
		goto out; /* no memory: no features, as an old kernel */
	kf.files = files;
	if (kf.parallel_writes)
		f.open_flags |= FOPEN_PARALLEL_DIRECT_WRITES;
	if (kf.passthrough)
		f.backing_id = backing_for(req, ino, owner, fd);
	if (f.backing_id < 0) {
		ret = f.backing_id;
		goto out;
	}
	if (f.backing_id > 0)
		f.open_flags |= FOPEN_PASSTHROUGH;
#ifdef HAVE_FUSE_PASSTHROUGH_API
	fi->parallel_direct_writes = kf.parallel_writes;
	if (f.backing_id > 0)
		fi->backing_id = f.backing_id;
#endif
	kf.files[kf.nfiles++] = f;
out:
	pthread_mutex_unlock(&kf.lock);
	return ret;
}

bool kernel_features_parallel_writes(void)
{
	bool on;

	pthread_mutex_lock(&kf.lock);
	on = kf.parallel_writes;
	pthread_mutex_unlock(&kf.lock);
	return on;
}

void kernel_features_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_file *f;
	int32_t id;

	pthread_mutex_lock(&kf.lock);
	f = find_file(fi->fh, ino);
	if (f) {
		id = f->backing_id;
		*f = kf.files[--kf.nfiles];
		if (id > 0 && !backing_in_use(id))
			backing_close(req, id);
	}
	pthread_mutex_unlock(&kf.lock);
}

unsigned int kernel_features_finish(void)
{
	unsigned int held = 0;

	pthread_mutex_lock(&kf.lock);
	while (kf.nfiles) {
		int32_t id = kf.files[--kf.nfiles].backing_id;

		if (id > 0) {
			held++;
			if (!backing_in_use(id))
				backing_close(NULL, id);
		}
	}
	free(kf.files);
	free(kf.opens);
	kf.files = NULL;
	kf.opens = NULL;
	kf.files_cap = kf.opens_cap = kf.nopens = 0;
	pthread_mutex_unlock(&kf.lock);
	if (held)
		fuse_log(FUSE_LOG_WARNING,
			 "shmfs: %u file(s) still open at unmount held a backing file "
			 "(their releases never came)\n",
			 held);
	return held;
}

/* ---- libfuse 3.14: between libfuse and /dev/fuse ---------------------- */

#ifdef HAVE_FUSE_PASSTHROUGH_API

int kernel_features_install(struct fuse_session *se, int fd)
{
	(void)se;
	(void)fd;
	return 0;
}

#else

static void note_request(const char *buf, size_t len)
{
	struct fuse_in_header in;
	struct fuse_init_in init = { 0 };
	uint64_t flags;

	memcpy(&in, buf, sizeof(in));
	if (in.opcode == FUSE_OPEN) {
		uint64_t *opens;

		pthread_mutex_lock(&kf.lock);
		opens = array_grow(kf.opens, kf.nopens, &kf.opens_cap, sizeof(*kf.opens));
		if (opens) {
			kf.opens = opens;
			kf.opens[kf.nopens++] = in.unique;
			__atomic_add_fetch(&kf.pending, 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&kf.lock);
	} else if (in.opcode == FUSE_INIT) {
		len -= sizeof(in);
		memcpy(&init, buf + sizeof(in), len < sizeof(init) ? len : sizeof(init));
		flags = init.flags;
		if (len >= offsetof(struct fuse_init_in, flags2) + sizeof(init.flags2) &&
		    (flags & FUSE_INIT_EXT))
			flags |= (uint64_t)init.flags2 << 32;
		pthread_mutex_lock(&kf.lock);
		note_offer(flags, init.major, init.minor, kf.devfd >= 0);
		if (!kf.init_unique)
			__atomic_add_fetch(&kf.pending, 1, __ATOMIC_RELEASE);
		kf.init_unique = in.unique;
		pthread_mutex_unlock(&kf.lock);
	}
}

static ssize_t kf_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n >= (ssize_t)sizeof(struct fuse_in_header))
		note_request(buf, (size_t)n);
	return n;
}

static bool take_open_unique(uint64_t unique)
{
	for (size_t i = 0; i < kf.nopens; i++) {
		if (kf.opens[i] == unique) {
			kf.opens[i] = kf.opens[--kf.nopens];
			__atomic_sub_fetch(&kf.pending, 1, __ATOMIC_RELEASE);
			return true;
		}
	}
	return false;
}

union reply_arg {
	struct init_out_7_40 init;
	struct open_out_7_40 open;
};

/* The reply as the kernel must see it, in patched[] and *arg; false to
 * send it as libfuse wrote it.  libfuse writes a reply as the out header,
 * then the argument. */
static bool patch_reply(const struct iovec *iov, int count, struct iovec *patched,
			union reply_arg *arg)
{
	struct fuse_out_header out;
	bool patch = false;

	memcpy(&out, iov[0].iov_base, sizeof(out));
	if (!out.unique)
		return false; /* a notification */
	pthread_mutex_lock(&kf.lock);
	if (out.unique == kf.init_unique) {
		kf.init_unique = 0;
		__atomic_sub_fetch(&kf.pending, 1, __ATOMIC_RELEASE);
		if (out.error || count != 2 || iov[1].iov_len != sizeof(arg->init)) {
			kf.passthrough = false; /* an old kernel's short INIT */
		} else if (kf.passthrough) {
			memcpy(&arg->init, iov[1].iov_base, sizeof(arg->init));
			arg->init.flags |= FUSE_INIT_EXT;
			arg->init.flags2 |= (uint32_t)(FUSE_PASSTHROUGH >> 32);
			arg->init.max_stack_depth = STACK_DEPTH;
			patch = true;
		}
	} else if (take_open_unique(out.unique) && !out.error && count == 2 &&
		   iov[1].iov_len == sizeof(arg->open)) {
		struct open_file *f;

		memcpy(&arg->open, iov[1].iov_base, sizeof(arg->open));
		f = find_file(arg->open.fh, 0);
		if (f && f->open_flags) {
			arg->open.open_flags |= f->open_flags;
			arg->open.backing_id = f->backing_id;
			patch = true;
		}
	}
	pthread_mutex_unlock(&kf.lock);
	if (patch) {
		patched[0] = iov[0];
		patched[1].iov_base = arg;
		patched[1].iov_len = iov[1].iov_len;
	}
	return patch;
}

static ssize_t kf_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct iovec patched[2];
	union reply_arg arg;

	(void)userdata;
	if (__atomic_load_n(&kf.pending, __ATOMIC_ACQUIRE) && count >= 1 &&
	    iov[0].iov_len == sizeof(struct fuse_out_header) &&
	    patch_reply(iov, count, patched, &arg))
		return writev(fd, patched, count);
	return writev(fd, iov, count);
}

/* READ replies spliced from the segment's file: never patched. */
static ssize_t kf_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			      unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int kernel_features_install(struct fuse_session *se, int fd)
{
	/* No splice_receive: requests must be read, to be seen. */
	static const struct fuse_custom_io io = {
		.read = kf_read,
		.writev = kf_writev,
		.splice_send = kf_splice_send,
	};
	int ret = fuse_session_custom_io(se, &io, fd);

	if (ret == 0)
		kf.devfd = fd;
	return ret;
}

#endif
