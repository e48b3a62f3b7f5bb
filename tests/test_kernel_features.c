/* test_kernel_features.c - src/kernel_features.c on libfuse 3.14, against a
 * fake /dev/fuse.
 *
 * A libfuse session whose device is one end of a SOCK_SEQPACKET socket
 * pair (one message per request and per reply, as /dev/fuse): the test
 * writes the kernel's INIT and OPEN requests into the other end, lets
 * libfuse answer them through the module, and reads the replies as the
 * kernel would.  What the kernel here does with them is tests/test_mmap.c's
 * part; this covers the kernels that are not here: one without
 * passthrough, one before protocol 7.38, and the mask.
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/fuse.h>

#include <cmocka.h>

#include "kernel_features.h"

/* 7.40's names, as src/kernel_features.c has them */
#define PASSTHROUGH_FLAG2 (1u << 5) /* FUSE_PASSTHROUGH >> 32 */
#define FOPEN_PASSTHROUGH (1u << 7)

static void test_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->fh = 0x5e60000 + ino;
	fi->direct_io = 1;
	/* -1: no backing file (a socket pair has no backing ids anyway) */
	kernel_features_open(req, ino, NULL, -1, fi);
	if (fuse_reply_open(req, fi) == -ENOENT)
		kernel_features_release(req, ino, fi);
}

static void test_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	kernel_features_release(req, ino, fi);
	fuse_reply_err(req, 0);
}

static void test_init(void *userdata, struct fuse_conn_info *conn)
{
	kernel_features_init(conn);
}

static const struct fuse_lowlevel_ops ops = {
	.init = test_init,
	.open = test_open,
	.release = test_release,
};

struct fake {
	struct fuse_session *se;
	int kernel; /* the kernel's end */
	uint64_t unique;
};

static void fake_start(struct fake *f)
{
	char *argv[] = { "test_kernel_features", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	f->se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	assert_non_null(f->se);
	assert_int_equal(kernel_features_install(f->se, sv[0]), 0);
	f->kernel = sv[1];
	f->unique = 0;
	fuse_opt_free_args(&args);
}

static void fake_stop(struct fake *f)
{
	assert_int_equal(kernel_features_finish(), 0);
	fuse_session_destroy(f->se); /* closes the daemon's end */
	close(f->kernel);
}

/* Send a request as the kernel, let libfuse serve it, read the reply. */
static size_t serve(struct fake *f, uint32_t opcode, uint64_t nodeid, const void *arg,
		    size_t arg_len, void *reply, size_t reply_size)
{
	char msg[512];
	struct fuse_in_header in = {
		.len = (uint32_t)(sizeof(in) + arg_len),
		.opcode = opcode,
		.unique = ++f->unique,
		.nodeid = nodeid,
	};
	struct fuse_buf buf = { 0 };
	ssize_t n;

	memcpy(msg, &in, sizeof(in));
	memcpy(msg + sizeof(in), arg, arg_len);
	assert_int_equal(write(f->kernel, msg, in.len), in.len);
	assert_true(fuse_session_receive_buf(f->se, &buf) > 0);
	fuse_session_process_buf(f->se, &buf);
	free(buf.mem);
	n = read(f->kernel, reply, reply_size);
	assert_true(n >= (ssize_t)sizeof(struct fuse_out_header));
	assert_int_equal(((struct fuse_out_header *)reply)->unique, in.unique);
	return (size_t)n;
}

/* The kernel's INIT: protocol 7.minor, passthrough offered or not. */
static struct fuse_init_out init(struct fake *f, uint32_t minor, bool passthrough)
{
	struct fuse_init_in in = {
		.major = 7,
		.minor = minor,
		.max_readahead = 128 * 1024,
		.flags = FUSE_INIT_EXT | FUSE_MAX_PAGES | FUSE_BIG_WRITES,
		.flags2 = passthrough ? PASSTHROUGH_FLAG2 : 0,
	};
	struct {
		struct fuse_out_header h;
		struct fuse_init_out o;
	} reply;

	assert_int_equal(serve(f, FUSE_INIT, 0, &in, sizeof(in), &reply, sizeof(reply)),
			 sizeof(reply));
	assert_int_equal(reply.h.error, 0);
	return reply.o;
}

static struct fuse_open_out open_file(struct fake *f, uint64_t ino)
{
	struct fuse_open_in in = { .flags = O_RDWR };
	struct {
		struct fuse_out_header h;
		struct fuse_open_out o;
	} reply;

	assert_int_equal(serve(f, FUSE_OPEN, ino, &in, sizeof(in), &reply, sizeof(reply)),
			 sizeof(reply));
	assert_int_equal(reply.h.error, 0);
	assert_int_equal(reply.o.fh, 0x5e60000 + ino);
	return reply.o;
}

static void release_file(struct fake *f, uint64_t ino)
{
	struct fuse_release_in in = { .fh = 0x5e60000 + ino, .flags = O_RDWR };
	struct fuse_out_header reply;

	assert_int_equal(serve(f, FUSE_RELEASE, ino, &in, sizeof(in), &reply, sizeof(reply)),
			 sizeof(reply));
	assert_int_equal(reply.error, 0);
}

/* A kernel that offers passthrough gets FUSE_PASSTHROUGH and a stack
 * depth of 1 in the INIT reply; opens get parallel direct writes, and no
 * FOPEN_PASSTHROUGH without a backing file. */
static void test_offered(void **state)
{
	struct fake f;
	struct fuse_init_out o;
	struct fuse_open_out open;

	fake_start(&f);
	o = init(&f, 40, true);
	assert_true(o.flags & FUSE_INIT_EXT);
	assert_true(o.flags2 & PASSTHROUGH_FLAG2);
	assert_int_equal(o.unused[0], 1); /* 7.40's max_stack_depth */
	open = open_file(&f, 5);
	assert_int_equal(open.open_flags & (FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES),
			 FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES);
	assert_false(open.open_flags & FOPEN_PASSTHROUGH);
	assert_int_equal(open.padding, 0); /* backing_id */
	release_file(&f, 5);
	fake_stop(&f);
}

/* Not offered (before Linux 6.9): the INIT reply is libfuse's own. */
static void test_passthrough_not_offered(void **state)
{
	struct fake f;
	struct fuse_init_out o;

	fake_start(&f);
	o = init(&f, 39, false);
	assert_false(o.flags2 & PASSTHROUGH_FLAG2);
	assert_int_equal(o.unused[0], 0);
	assert_true(open_file(&f, 6).open_flags & FOPEN_PARALLEL_DIRECT_WRITES);
	release_file(&f, 6);
	fake_stop(&f);
}

/* Before protocol 7.38 no open flag is added. */
static void test_old_protocol(void **state)
{
	struct fake f;

	fake_start(&f);
	init(&f, 37, false);
	assert_int_equal(open_file(&f, 7).open_flags, FOPEN_DIRECT_IO);
	release_file(&f, 7);
	fake_stop(&f);
}

/* SHMFS_MASK_KERNEL_FEATURES hides what the kernel offers. */
static void test_masked(void **state)
{
	struct fake f;
	struct fuse_init_out o;

	setenv("SHMFS_MASK_KERNEL_FEATURES", "passthrough", 1);
	fake_start(&f);
	o = init(&f, 40, true);
	assert_false(o.flags2 & PASSTHROUGH_FLAG2);
	assert_true(open_file(&f, 8).open_flags & FOPEN_PARALLEL_DIRECT_WRITES);
	release_file(&f, 8);
	fake_stop(&f);

	setenv("SHMFS_MASK_KERNEL_FEATURES", "parallel_direct_writes,passthrough", 1);
	fake_start(&f);
	o = init(&f, 40, true);
	assert_false(o.flags2 & PASSTHROUGH_FLAG2);
	assert_int_equal(open_file(&f, 9).open_flags, FOPEN_DIRECT_IO);
	release_file(&f, 9);
	fake_stop(&f);

	setenv("SHMFS_MASK_KERNEL_FEATURES", "all", 1);
	fake_start(&f);
	o = init(&f, 40, true);
	assert_false(o.flags2 & PASSTHROUGH_FLAG2);
	assert_int_equal(open_file(&f, 10).open_flags, FOPEN_DIRECT_IO);
	release_file(&f, 10);
	fake_stop(&f);
	unsetenv("SHMFS_MASK_KERNEL_FEATURES");
}

/* Many opens in flight, answered in another order than asked: each
 * reply gets its own file's flags; an open answered with an error and
 * other replies pass untouched. */
static void test_replies_matched_by_unique(void **state)
{
	struct fake f;
	struct fuse_open_in in = { .flags = O_RDONLY };
	struct {
		struct fuse_out_header h;
		struct fuse_open_out o;
	} reply;
	char err[64];

	fake_start(&f);
	init(&f, 40, true);
	for (uint64_t ino = 20; ino < 60; ino++)
		assert_true(open_file(&f, ino).open_flags & FOPEN_PARALLEL_DIRECT_WRITES);
	/* the root is not a file here: libfuse answers with an error */
	serve(&f, FUSE_GETATTR, 1, &in, sizeof(in), err, sizeof(err));
	assert_true(((struct fuse_out_header *)err)->error < 0);
	for (uint64_t ino = 59; ino >= 20; ino--)
		release_file(&f, ino);
	/* a reopen after the release is a fresh file */
	assert_int_equal(serve(&f, FUSE_OPEN, 20, &in, sizeof(in), &reply, sizeof(reply)),
			 sizeof(reply));
	assert_true(reply.o.open_flags & FOPEN_PARALLEL_DIRECT_WRITES);
	release_file(&f, 20);
	fake_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offered),
		cmocka_unit_test(test_passthrough_not_offered),
		cmocka_unit_test(test_old_protocol),
		cmocka_unit_test(test_masked),
		cmocka_unit_test(test_replies_matched_by_unique),
	};

	unsetenv("SHMFS_MASK_KERNEL_FEATURES");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
