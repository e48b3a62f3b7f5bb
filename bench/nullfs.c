/* nullfs.c - the smallest FUSE server that still moves bytes: the FUSE limit.
 *
 * One file, "data", in the root directory; its bytes live in a malloc'd
 * buffer.  No locks, no lookups beyond that one name, direct_io, max_write
 * 1 MiB, the multithreaded loop: whatever shmfs costs above this is
 * shmfs's own.  The splice options are there to see whether splicing
 * helps a server that serves bytes from memory.
 *
 * It asks for FOPEN_PARALLEL_DIRECT_WRITES as shmfs does, through shmfs's
 * own src/kernel_features.c (and SHMFS_MASK_KERNEL_FEATURES hides it in
 * both), so that writers in parallel compare like with like; not with
 * -o splice_read, whose requests that module cannot see.
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel_features.h"

#define NULLFS_FILE_INO 2
#define NULLFS_FILE	"data"

struct options {
	char *size;	  /* bytes, with an optional K, M or G suffix */
	char *timeout;	  /* seconds the kernel may cache the name and attributes */
	int splice_read;  /* write_buf: WRITE data copied from the pipe */
	int splice_write; /* fuse_reply_data: READ replies spliced */
	int splice_move;  /* SPLICE_F_MOVE on those */
	int show_help;
};

#define OPTION(t, p)                                                                               \
	{                                                                                          \
		t, offsetof(struct options, p), 1                                                  \
	}

static const struct fuse_opt option_spec[] = {
	OPTION("size=%s", size),
	OPTION("timeout=%s", timeout),
	OPTION("splice_read", splice_read),
	OPTION("splice_write", splice_write),
	OPTION("splice_move", splice_move),
	OPTION("-h", show_help),
	OPTION("--help", show_help),
	FUSE_OPT_END,
};

struct nullfs {
	char *data;
	size_t size;
	double timeout;
	struct options opts;
};

static struct nullfs *nullfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void nullfs_attr(struct nullfs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = fs->size;
	}
}

static void nullfs_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct nullfs *fs = userdata;

	conn->max_write = 1024 * 1024;
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	if (fs->opts.splice_read && (conn->capable & FUSE_CAP_SPLICE_READ))
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (fs->opts.splice_write && (conn->capable & FUSE_CAP_SPLICE_WRITE))
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (fs->opts.splice_move && (conn->capable & FUSE_CAP_SPLICE_MOVE))
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	kernel_features_init(conn);
}

static void nullfs_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct nullfs *fs = nullfs_of(req);
	struct fuse_entry_param e;

	if (parent != FUSE_ROOT_ID || strcmp(name, NULLFS_FILE) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = NULLFS_FILE_INO;
	e.attr_timeout = e.entry_timeout = fs->timeout;
	nullfs_attr(fs, e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void nullfs_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct nullfs *fs = nullfs_of(req);
	struct stat st;

	if (ino != FUSE_ROOT_ID && ino != NULLFS_FILE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	nullfs_attr(fs, ino, &st);
	fuse_reply_attr(req, &st, fs->timeout);
}

static void nullfs_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != NULLFS_FILE_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->direct_io = 1;
	kernel_features_open(req, ino, NULL, -1, fi); /* no backing file: no mmap */
	if (fuse_reply_open(req, fi) == -ENOENT)
		kernel_features_release(req, ino, fi);
}

static void nullfs_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct nullfs *fs = nullfs_of(req);

	if (off < 0 || (size_t)off >= fs->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > fs->size - off)
		size = fs->size - off;
	if (fs->opts.splice_write) {
		struct fuse_bufvec bufv = FUSE_BUFVEC_INIT(size);

		bufv.buf[0].mem = fs->data + off;
		fuse_reply_data(req, &bufv, fs->opts.splice_move ? FUSE_BUF_SPLICE_MOVE : 0);
		return;
	}
	fuse_reply_buf(req, fs->data + off, size);
}

static void nullfs_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	struct nullfs *fs = nullfs_of(req);

	if (off < 0 || (size_t)off >= fs->size) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (size > fs->size - off)
		size = fs->size - off;
	memcpy(fs->data + off, buf, size);
	fuse_reply_write(req, size);
}

/* With splice_read the data may still be in a pipe: copy it from there
 * straight into the buffer. */
static void nullfs_ll_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
				struct fuse_file_info *fi)
{
	struct nullfs *fs = nullfs_of(req);
	size_t size = fuse_buf_size(in);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);
	ssize_t res;

	if (off < 0 || (size_t)off >= fs->size) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (size > fs->size - off)
		out.buf[0].size = fs->size - off;
	out.buf[0].mem = fs->data + off;
	res = fuse_buf_copy(&out, in, 0);
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_write(req, (size_t)res);
}

static void nullfs_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	kernel_features_release(req, ino, fi);
	fuse_reply_err(req, 0);
}

static void nullfs_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops nullfs_ll_ops = {
	.init = nullfs_ll_init,
	.lookup = nullfs_ll_lookup,
	.getattr = nullfs_ll_getattr,
	.open = nullfs_ll_open,
	.read = nullfs_ll_read,
	.write = nullfs_ll_write,
	.flush = nullfs_ll_flush,
	.release = nullfs_ll_release,
};

/* "123", "64K", "256M", "1G"; 0 if it is none of those. */
static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G':
	case 'g':
		v <<= 10;
		/* fall through */
	case 'M':
	case 'm':
		v <<= 10;
		/* fall through */
	case 'K':
	case 'k':
		v <<= 10;
		end++;
		break;
	default:
		break;
	}
	return *end ? 0 : (size_t)v;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_lowlevel_ops ops = nullfs_ll_ops;
	struct fuse_loop_config *loop_cfg;
	struct fuse_session *se;
	struct nullfs fs = { 0 };
	int ret = 1;

	if (fuse_opt_parse(&args, &fs.opts, option_spec, NULL) == -1)
		goto err_out1;
	if (fs.opts.show_help) {
		printf("usage: %s [-o size=BYTES[KMG]] [-o timeout=SECONDS] [-o splice_read]\n"
		       "       [-o splice_write] [-o splice_move] [FUSE options] MOUNTPOINT\n\n",
		       argv[0]);
		fuse_cmdline_help();
		ret = 0;
		goto err_out1;
	}
	fs.size = parse_size(fs.opts.size ? fs.opts.size : "64M");
	fs.timeout = fs.opts.timeout ? strtod(fs.opts.timeout, NULL) : 0;
	if (fs.size == 0) {
		fprintf(stderr, "nullfs: bad size '%s'\n", fs.opts.size);
		goto err_out1;
	}
	if (fs.opts.splice_read)
		ops.write_buf = nullfs_ll_write_buf;
	/* Touch every page now so that no measurement pays for faults. */
	fs.data = malloc(fs.size);
	if (!fs.data) {
		fprintf(stderr, "nullfs: cannot allocate %zu bytes\n", fs.size);
		goto err_out1;
	}
	memset(fs.data, 0xa5, fs.size);

	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto err_out2;
	if (!cmd.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT\n", argv[0]);
		goto err_out3;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
	if (!se)
		goto err_out3;
	if (fuse_set_signal_handlers(se) != 0)
		goto err_out4;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto err_out5;
	if (!fs.opts.splice_read && kernel_features_install(se, fuse_session_fd(se)) != 0)
		fprintf(stderr, "nullfs: no parallel direct writes\n");
	fuse_daemonize(cmd.foreground);
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop_cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop_cfg, cmd.clone_fd);
		if (cmd.max_threads != UINT_MAX)
			fuse_loop_cfg_set_max_threads(loop_cfg, cmd.max_threads);
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop_cfg, cmd.max_idle_threads);
		ret = fuse_session_loop_mt(se, loop_cfg);
		fuse_loop_cfg_destroy(loop_cfg);
	}
	ret = !(ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP);
	kernel_features_finish();
	fuse_session_unmount(se);
err_out5:
	fuse_remove_signal_handlers(se);
err_out4:
	fuse_session_destroy(se);
err_out3:
	free(cmd.mountpoint);
err_out2:
	free(fs.data);
err_out1:
	free(fs.opts.size);
	free(fs.opts.timeout);
	fuse_opt_free_args(&args);
	return ret;
}
