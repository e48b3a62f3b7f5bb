/* rawfs.c - nullfs without libfuse: the FUSE protocol spoken on /dev/fuse.
 *
 * libfuse 3.14 never offers the kernel more than 256 pages per request
 * (its buffers are sized for FUSE_MAX_MAX_PAGES), so whether a larger
 * fs.fuse.max_pages_limit helps can only be seen by a server that asks
 * for more.  This one does: one file, "data", served from a malloc'd
 * buffer with direct_io, and as many pages per request as -p says.
 *
 * usage: shmfs-bench-rawfs [-p PAGES] [-s BYTES] [-t THREADS] [-v] MOUNTPOINT
 * Mounts with mount(2) (so: root), stays in the foreground, unmounts on
 * SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define RAWFS_FILE_INO 2
#define RAWFS_FILE     "data"
#define PAGE	       4096

struct rawfs {
	int fd;
	char *data;
	uint64_t size;
	unsigned int max_pages;
	size_t bufsize;
	uint32_t largest_read, largest_write; /* reported at exit with -v */
};

static struct rawfs fs;

static void reply(const struct fuse_in_header *in, int error, const void *arg, size_t len)
{
	struct fuse_out_header out = {
		.len = sizeof(out) + (error ? 0 : len),
		.error = error,
		.unique = in->unique,
	};
	struct iovec iov[2] = {
		{ .iov_base = &out, .iov_len = sizeof(out) },
		{ .iov_base = (void *)arg, .iov_len = len },
	};

	/* ENOENT: the request was interrupted and is gone; nothing to do. */
	if (writev(fs.fd, iov, error || !len ? 1 : 2) < 0 && errno != ENOENT)
		perror("rawfs: writev");
}

static void fill_attr(uint64_t ino, struct fuse_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->ino = ino;
	attr->blksize = PAGE;
	if (ino == FUSE_ROOT_ID) {
		attr->mode = S_IFDIR | 0755;
		attr->nlink = 2;
	} else {
		attr->mode = S_IFREG | 0600;
		attr->nlink = 1;
		attr->size = fs.size;
		attr->blocks = (fs.size + 511) / 512;
	}
}

static void do_init(const struct fuse_in_header *in, const struct fuse_init_in *arg)
{
	struct fuse_init_out out = {
		.major = FUSE_KERNEL_VERSION,
		.minor = FUSE_KERNEL_MINOR_VERSION,
		.max_readahead = arg->max_readahead,
		.flags = FUSE_BIG_WRITES | FUSE_ASYNC_READ | (arg->flags & FUSE_MAX_PAGES),
		.max_background = 16,
		.congestion_threshold = 12,
		.max_write = fs.max_pages * PAGE,
		.time_gran = 1,
		.max_pages = (uint16_t)fs.max_pages,
	};

	if (arg->major != FUSE_KERNEL_VERSION) {
		reply(in, -EPROTO, NULL, 0);
		return;
	}
	if (arg->minor < out.minor)
		out.minor = arg->minor;
	reply(in, 0, &out, sizeof(out));
}

static void do_lookup(const struct fuse_in_header *in, const char *name)
{
	struct fuse_entry_out out = { .nodeid = RAWFS_FILE_INO };

	if (in->nodeid != FUSE_ROOT_ID || strcmp(name, RAWFS_FILE) != 0) {
		reply(in, -ENOENT, NULL, 0);
		return;
	}
	fill_attr(RAWFS_FILE_INO, &out.attr);
	reply(in, 0, &out, sizeof(out));
}

static void do_getattr(const struct fuse_in_header *in)
{
	struct fuse_attr_out out = { 0 };

	if (in->nodeid != FUSE_ROOT_ID && in->nodeid != RAWFS_FILE_INO) {
		reply(in, -ENOENT, NULL, 0);
		return;
	}
	fill_attr(in->nodeid, &out.attr);
	reply(in, 0, &out, sizeof(out));
}

static void do_open(const struct fuse_in_header *in)
{
	struct fuse_open_out out = { .open_flags = FOPEN_DIRECT_IO };

	if (in->nodeid != RAWFS_FILE_INO) {
		reply(in, -EISDIR, NULL, 0);
		return;
	}
	reply(in, 0, &out, sizeof(out));
}

static void note_largest(uint32_t *largest, uint32_t size)
{
	uint32_t cur = __atomic_load_n(largest, __ATOMIC_RELAXED);

	while (size > cur && !__atomic_compare_exchange_n(largest, &cur, size, false,
							  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void do_read(const struct fuse_in_header *in, const struct fuse_read_in *arg)
{
	uint64_t size = arg->size;

	note_largest(&fs.largest_read, arg->size);
	if (arg->offset >= fs.size) {
		reply(in, 0, NULL, 0);
		return;
	}
	if (size > fs.size - arg->offset)
		size = fs.size - arg->offset;
	reply(in, 0, fs.data + arg->offset, size);
}

static void do_write(const struct fuse_in_header *in, const struct fuse_write_in *arg)
{
	struct fuse_write_out out = { 0 };
	uint64_t size = arg->size;

	note_largest(&fs.largest_write, arg->size);
	if (arg->offset >= fs.size) {
		reply(in, -ENOSPC, NULL, 0);
		return;
	}
	if (size > fs.size - arg->offset)
		size = fs.size - arg->offset;
	memcpy(fs.data + arg->offset, arg + 1, size);
	out.size = (uint32_t)size;
	reply(in, 0, &out, sizeof(out));
}

static void do_statfs(const struct fuse_in_header *in)
{
	struct fuse_statfs_out out = { .st = { .bsize = PAGE, .frsize = PAGE, .namelen = 255 } };

	reply(in, 0, &out, sizeof(out));
}

static void *worker_main(void *arg)
{
	char *buf = malloc(fs.bufsize);

	if (!buf) {
		fprintf(stderr, "rawfs: out of memory\n");
		exit(1);
	}
	for (;;) {
		ssize_t n = read(fs.fd, buf, fs.bufsize);
		struct fuse_in_header *in = (struct fuse_in_header *)buf;
		void *arg = in + 1;

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			if (errno == ENODEV) /* unmounted */
				exit(0);
			perror("rawfs: read /dev/fuse");
			exit(1);
		}
		if ((size_t)n < sizeof(*in))
			continue;
		switch (in->opcode) {
		case FUSE_INIT:
			do_init(in, arg);
			break;
		case FUSE_LOOKUP:
			do_lookup(in, arg);
			break;
		case FUSE_GETATTR:
			do_getattr(in);
			break;
		case FUSE_OPEN:
			do_open(in);
			break;
		case FUSE_READ:
			do_read(in, arg);
			break;
		case FUSE_WRITE:
			do_write(in, arg);
			break;
		case FUSE_STATFS:
			do_statfs(in);
			break;
		case FUSE_FLUSH:
		case FUSE_RELEASE:
		case FUSE_RELEASEDIR:
		case FUSE_FSYNC:
			reply(in, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break; /* no reply */
		case FUSE_DESTROY:
			reply(in, 0, NULL, 0);
			exit(0);
		default:
			reply(in, -ENOSYS, NULL, 0);
			break;
		}
	}
	return NULL;
}

int main(int argc, char *argv[])
{
	unsigned long long size = 64ull << 20;
	int nthreads = 2, verbose = 0, c, sig;
	char opts[128];
	sigset_t set;

	fs.max_pages = 256;
	while ((c = getopt(argc, argv, "p:s:t:v")) != -1) {
		switch (c) {
		case 'p':
			fs.max_pages = (unsigned int)atoi(optarg);
			break;
		case 's':
			size = strtoull(optarg, NULL, 10);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-p PAGES] [-s BYTES] [-t THREADS] [-v] MOUNTPOINT\n",
				argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1 || fs.max_pages < 1 || fs.max_pages > 65535 || nthreads < 1) {
		fprintf(stderr, "usage: %s [-p PAGES] [-s BYTES] [-t THREADS] [-v] MOUNTPOINT\n",
			argv[0]);
		return 2;
	}
	fs.size = size;
	fs.bufsize = (size_t)fs.max_pages * PAGE + PAGE;
	fs.data = malloc(fs.size);
	if (!fs.data) {
		fprintf(stderr, "rawfs: cannot allocate %llu bytes\n", size);
		return 1;
	}
	memset(fs.data, 0xa5, fs.size);

	fs.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fs.fd < 0) {
		perror("rawfs: /dev/fuse");
		return 1;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fs.fd);
	if (mount("rawfs", argv[optind], "fuse.rawfs", MS_NOSUID | MS_NODEV, opts) != 0) {
		perror("rawfs: mount");
		return 1;
	}

	/* Signals go to this thread only; the workers serve. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, worker_main, NULL) != 0) {
			fprintf(stderr, "rawfs: cannot start a thread\n");
			umount2(argv[optind], MNT_DETACH);
			return 1;
		}
	}
	sigwait(&set, &sig);
	/* Before the unmount: the workers exit as soon as it is done. */
	if (verbose)
		fprintf(stderr, "rawfs: %u pages offered; largest READ %u, WRITE %u bytes\n",
			fs.max_pages, fs.largest_read, fs.largest_write);
	umount2(argv[optind], MNT_DETACH);
	return 0;
}
