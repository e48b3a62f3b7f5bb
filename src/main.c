/* main.c - options, help, version, mount, session loop, signals. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "fs.h"
#include "fs_create.h"
#include "kernel_features.h"
#include "log.h"
#include "options.h"

struct options {
	struct options_given given; /* checked by options_apply() */
	char *ipcns;
	int show_help;
	int show_version;
	/* mount.fuse3 passes "source mountpoint": the first is noise. */
	char *nonopts[2];
	int nnonopts;
};

#define OPTION(t, p)                                                                               \
	{                                                                                          \
		t, offsetof(struct options, p), 1                                                  \
	}

enum {
	KEY_HELP,
	KEY_VERSION,
};

static const struct fuse_opt option_spec[] = {
	OPTION("lock_timeout=%s", given.lock_timeout),
	OPTION("attr_timeout=%s", given.attr_timeout),
	OPTION("default_size=%s", given.default_size),
	OPTION("max_pending=%s", given.max_pending),
	OPTION("max_waits=%s", given.max_waits),
	OPTION("max_sets=%s", given.max_sets),
	OPTION("max_lock_threads=%s", given.max_lock_threads),
	OPTION("ipcns=%s", ipcns),
	OPTION("attach_cache=%s", given.attach_cache),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	/* fstab and mount(8) noise that means nothing to shmfs */
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END,
};

static int option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	switch (key) {
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (o->nnonopts == 2) {
			fprintf(stderr, "shmfs: too many arguments: '%s'\n", arg);
			return -1;
		}
		o->nonopts[o->nnonopts] = strdup(arg);
		if (!o->nonopts[o->nnonopts])
			return -1;
		o->nnonopts++;
		return 0;
	default:
		return 1;
	}
}

static void usage(const char *progname)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "       %s SOURCE MOUNTPOINT [-o options]   (as run by mount -t fuse.shmfs)\n\n"
	       "Shows the System V shared memory segments of this IPC namespace as files.\n\n"
	       "shmfs options:\n"
	       "    -o lock_timeout=SECONDS  longest wait for a segment's lock (default %u);\n"
	       "                             then the read or write fails with ETIMEDOUT\n"
	       "    -o attr_timeout=SECONDS  how long the kernel may cache names and\n"
	       "                             attributes (default %g; 0 = always ask; at most %d)\n"
	       "    -o default_size=BYTES    size of a segment created in by-key/ without a\n"
	       "                             size (default one page; K, M, G suffixes)\n"
	       "    -o max_pending=BYTES     most bytes one user may have gathered in names\n"
	       "                             being created in by-key/ (default %zuM); then\n"
	       "                             writes fail with EFBIG\n"
	       "    -o max_waits=N           most requests one user may have waiting for a\n"
	       "                             segment's lock, and most .next reads waiting for\n"
	       "                             a write (default %d each); then ENOLCK\n"
	       "    -o max_sets=N            most semaphore sets shmfs keeps for one user's\n"
	       "                             opens (the notification sets of the segments\n"
	       "                             they watch, default %d); then ENOSPC\n"
	       "    -o max_lock_threads=N    most threads waiting on semaphore sets, all\n"
	       "                             users together, each user an equal share\n"
	       "                             (default %d); past a user's share, ENOLCK\n"
	       "    -o ipcns=PATH            show the IPC namespace of PATH instead of our\n"
	       "                             own, e.g. /proc/PID/ns/ipc of a container\n"
	       "    -o attach_cache=SECONDS  keep a segment attached that long after its\n"
	       "                             last close, shared by its open files (default\n"
	       "                             0: attach at open, detach at close)\n\n",
	       progname, progname, SHMFS_DEFAULT_LOCK_TIMEOUT_MS / 1000,
	       OPTIONS_DEFAULT_ATTR_TIMEOUT_S, OPTIONS_ATTR_TIMEOUT_MAX_S,
	       OPTIONS_DEFAULT_MAX_PENDING >> 20, SHMFS_DEFAULT_MAX_WAITS, SHMFS_DEFAULT_MAX_SETS,
	       SHMFS_DEFAULT_MAX_LOCK_THREADS);
}

/* Serve another IPC namespace (a container's): join it before any thread
 * exists, so every segment, semaphore and /proc/sysvipc read is its. */
static int join_ipc_namespace(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "shmfs: cannot open IPC namespace '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	if (setns(fd, CLONE_NEWIPC) != 0) {
		fprintf(stderr, "shmfs: cannot join IPC namespace '%s': %s%s\n", path,
			strerror(errno),
			errno == EPERM	  ? " (joining needs CAP_SYS_ADMIN over that namespace)"
			: errno == EINVAL ? " (not an IPC namespace file)"
					  : "");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static void log_to_syslog(enum fuse_log_level level, const char *fmt, va_list ap)
{
	vsyslog(level, fmt, ap);
}

/* Every open segment holds a descriptor for its memory (and falls back to
 * its mapping past the budget): take as many as the hard limit allows. */
static void raise_nofile(void)
{
	struct rlimit nofile;

	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
}

/* Settings of the process, made before any thread exists. */
static void prepare_process(void)
{
	/* One malloc arena: with one per worker thread, each new thread of
	 * libfuse's pool keeps its own freed requests and the daemon grows
	 * with the pool.  The per-thread cache still serves small
	 * allocations unlocked. */
	mallopt(M_ARENA_MAX, 1);
	raise_nofile();
	/* Writes go to the segment's file with pwrite: past RLIMIT_FSIZE
	 * (ulimit -f, LimitFSIZE=) the kernel would kill the daemon with
	 * SIGXFSZ.  Ignored, the pwrite fails and the copy goes through the
	 * mapping, which has no such limit. */
	signal(SIGXFSZ, SIG_IGN);
}

static void print_help(const char *progname)
{
	usage(progname);
	printf("FUSE options:\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static void print_version(void)
{
	printf("shmfs version %s\n", PACKAGE_VERSION);
	printf("FUSE library version %s\n", fuse_pkgversion());
	fuse_lowlevel_version();
}

/* Serves requests until unmounted or signalled.  Returns the process's
 * exit status: the loop returns the signal that ended it, and SIGTERM,
 * SIGINT or SIGHUP are a normal way to stop, like fusermount3 -u. */
static int serve(struct fuse_session *se, const struct fuse_cmdline_opts *cmd)
{
	struct fuse_loop_config *loop_cfg;
	int ret;

	if (cmd->singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop_cfg = fuse_loop_cfg_create();
		if (!loop_cfg) {
			fuse_log(FUSE_LOG_ERR, "shmfs: out of memory\n");
			return 1;
		}
		fuse_loop_cfg_set_clone_fd(loop_cfg, cmd->clone_fd);
		/* UINT_MAX means "not given": keep libfuse's defaults. */
		if (cmd->max_threads != UINT_MAX)
			fuse_loop_cfg_set_max_threads(loop_cfg, cmd->max_threads);
		if (cmd->max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop_cfg, cmd->max_idle_threads);
		ret = fuse_session_loop_mt(se, loop_cfg);
		fuse_loop_cfg_destroy(loop_cfg);
	}
	return !(ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options o = { 0 };
	struct fuse_cmdline_opts cmd = { 0 };
	struct shmfs_options fs_opts;
	struct fuse_session *se;
	struct shmfs *fs;
	char msg[256];
	int ret = 1;

	prepare_process();
	if (fuse_opt_parse(&args, &o, option_spec, option_proc) == -1)
		goto err_out1;
	if (o.show_help || o.show_version) {
		if (o.show_help)
			print_help(argv[0]);
		else
			print_version();
		ret = 0;
		goto err_out1;
	}
	options_defaults(&fs_opts);
	if (!options_apply(&o.given, &fs_opts, msg, sizeof(msg))) {
		fprintf(stderr, "shmfs: %s\n", msg);
		goto err_out1;
	}
	if (o.ipcns && join_ipc_namespace(o.ipcns) != 0)
		goto err_out1;
	if (o.nnonopts > 0)
		fuse_opt_add_arg(&args, o.nonopts[o.nnonopts - 1]);
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto err_out1;
	if (!cmd.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT\n", argv[0]);
		fprintf(stderr, "       %s --help\n", argv[0]);
		goto err_out2;
	}

	fs = shmfs_new(&fs_opts);
	if (!fs || fs_pending_init(fs) != 0) {
		fprintf(stderr, "shmfs: out of memory\n");
		goto err_out3;
	}
	se = fuse_session_new(&args, &shmfs_ll_ops, sizeof(shmfs_ll_ops), fs);
	if (!se)
		goto err_out3;
	if (fuse_set_signal_handlers(se) != 0)
		goto err_out4;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto err_out5;
	if (kernel_features_install(se, fuse_session_fd(se)) != 0)
		log_warning("shmfs: mmap of segment files is off\n");
	if (!cmd.foreground) {
		openlog("shmfs", LOG_PID, LOG_DAEMON);
		fuse_set_log_func(log_to_syslog);
	}
	fuse_daemonize(cmd.foreground);
	/* The background thread starts after the daemonizing fork, before
	 * the first request. */
	if (daemon_start(fs) != 0) {
		fuse_log(FUSE_LOG_ERR, "shmfs: cannot start the background thread\n");
		goto err_out6;
	}

	ret = serve(se, &cmd);
	/* Requests still parked are answered while the session can reply:
	 * the unmount closes /dev/fuse, and a reply written after that
	 * could go to another file given the same descriptor number. */
	shmfs_stop_waits(fs);

err_out6:
	kernel_features_finish();
	fuse_session_unmount(se);
err_out5:
	fuse_remove_signal_handlers(se);
err_out4:
	fuse_session_destroy(se);
err_out3:
	shmfs_free(fs);
err_out2:
	free(cmd.mountpoint);
err_out1:
	for (int i = 0; i < o.nnonopts; i++)
		free(o.nonopts[i]);
	options_given_free(&o.given);
	free(o.ipcns);
	fuse_opt_free_args(&args);
	return ret;
}
