/* bench.c - shmfs-bench: how fast shmfs is, next to what it is built on.
 *
 * Runs as root in a private IPC and mount namespace: it makes its own
 * segments, mounts shmfs, a minimal FUSE server (nullfs) and a tmpfs in a
 * temporary directory, and prints one table; each figure is a median of
 * several runs, and each shmfs figure is shown as a ratio to baselines
 * measured in the same run.  Nothing is asserted: it only reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "bench.h"

#define MAX_RUNS     15
#define BIG_KEY	     0x53484d42 /* "SHMB" */
#define SMALL_KEY    0x53480000 /* + index */
#define SMALL_SIZE   4096
#define SKIP_EXIT    77 /* meson's "skipped" */
#define NULLFS_NAME  "shmfs-bench-nullfs"
#define RAWFS_NAME   "shmfs-bench-rawfs"
#define LOCK_SPAN    (64 * MIB)
#define SIDECAR_READ 4096

struct bench {
	/* what to do */
	const char *shmfs;
	const char *shmfs_opts; /* -o for every shmfs mount */
	const char *nullfs;
	const char *rawfs;
	unsigned int max_pages_limit; /* --max-pages-limit: try rawfs with this */
	unsigned long pipe_max_size;  /* --pipe-max-size: try shmfs with this */
	uint64_t size;
	bool size_given;
	int runs;
	bool quick;
	bool explore;
	unsigned int sections; /* bit n: section n */
	double rand_s, lock_s, call_s, idle_s;
	int nsegments, nopen, nscale;
	long nops;
	int ncpu;
	bool broken;
	char shmfs_path[PATH_MAX], nullfs_path[PATH_MAX], rawfs_path[PATH_MAX];

	/* what was made */
	char top[64];
	char shmfs_dir[96], nullfs_dir[96], tmpfs_dir[96];
	char shmfs_file[128], nullfs_file[128], tmpfs_file[128];
	struct daemon shmfs_d, nullfs_d;
	int big_shmid;
	int big_semid; /* the ShareLite set of BIG_KEY, as an outside program makes it */
	char *big;
	int *small;
	int nsmall;
	struct target t_shmfs, t_tmpfs, t_nullfs, t_mem;
	struct target t_mapped;	 /* mem: the mount's mmap of the segment, or NULL */
	int map_errno;		 /* why not */
	double nullfs_req[2][3]; /* 6a's nullfs figures: [write][1, 4, 16 MiB] */
};

/* ---- setup ------------------------------------------------------------- */

static void usage(const char *prog)
{
	printf("usage: %s [options] [SHMFS]\n\n"
	       "Measures shmfs (default: ../shmfs next to this program) against tmpfs, a\n"
	       "minimal FUSE server and memcpy, and prints one table.  Needs root: it runs\n"
	       "in a private IPC and mount namespace and leaves nothing behind.\n\n"
	       "  -s, --size SIZE      the big segment (default 1G; K, M, G suffixes;\n"
	       "                       shrunk if memory is short)\n"
	       "  -r, --runs N         runs per figure, of which the median (default 5)\n"
	       "  -q, --quick          small sizes and few runs: under a minute\n"
	       "  -x, --explore        also the investigations (section 6): page faults,\n"
	       "                       bigger requests, a server without libfuse, splice,\n"
	       "                       attribute timeouts\n"
	       "  -o, --only LIST      only these sections, e.g. 1,3; n for 10 (default: all\n"
	       "                       but 6)\n"
	       "  -O, --shmfs-options OPTS\n"
	       "                       mount shmfs with -o OPTS\n"
	       "  -n, --nullfs PATH    the minimal FUSE server (default: next to this program)\n"
	       "      --max-pages-limit N\n"
	       "                       with --explore: set the global fs.fuse.max_pages_limit\n"
	       "                       to N for a moment (restored after) and try a server\n"
	       "                       without libfuse that asks for N pages per request\n"
	       "      --pipe-max-size BYTES\n"
	       "                       with --explore: set the global fs.pipe-max-size to\n"
	       "                       BYTES for a moment (restored after) and read through\n"
	       "                       a shmfs mounted meanwhile, which can then splice\n"
	       "                       bigger replies\n"
	       "      --segments N     segments for the metadata sections (default 4000)\n"
	       "      --open N         files held open for the memory section (default 1000)\n"
	       "      --ops N          operations for the memory growth (default 100000)\n"
	       "      --scale N        segments of the full namespace, section 7 (default\n"
	       "                       32000; 8000 with --quick)\n"
	       "  -v, --verbose        progress on standard error\n"
	       "  -h, --help\n",
	       prog);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'G':
	case 'g':
		v *= 1024;
		/* fall through */
	case 'M':
	case 'm':
		v *= 1024;
		/* fall through */
	case 'K':
	case 'k':
		v *= 1024;
		end++;
		break;
	default:
		break;
	}
	if (*end || v < 1)
		die("bad size '%s'", s);
	return (uint64_t)v;
}

/* path = a file next to this program; NULL if there is no telling. */
static const char *beside_self(const char *relative, char *path, size_t size)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if ((size_t)snprintf(path, size, "%s/%s", self, relative) >= size)
		return NULL;
	return path;
}

static void parse_args(struct bench *b, int argc, char *argv[])
{
	enum {
		OPT_SEGMENTS = 256,
		OPT_OPEN,
		OPT_OPS,
		OPT_MAX_PAGES,
		OPT_PIPE_MAX,
		OPT_SCALE,
	};
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "quick", no_argument, NULL, 'q' },
		{ "explore", no_argument, NULL, 'x' },
		{ "only", required_argument, NULL, 'o' },
		{ "nullfs", required_argument, NULL, 'n' },
		{ "shmfs-options", required_argument, NULL, 'O' },
		{ "max-pages-limit", required_argument, NULL, OPT_MAX_PAGES },
		{ "pipe-max-size", required_argument, NULL, OPT_PIPE_MAX },
		{ "segments", required_argument, NULL, OPT_SEGMENTS },
		{ "open", required_argument, NULL, OPT_OPEN },
		{ "ops", required_argument, NULL, OPT_OPS },
		{ "scale", required_argument, NULL, OPT_SCALE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int runs = 0, c;

	b->sections = 0;
	b->nsegments = 4000;
	b->nopen = 1000;
	b->nops = 100000;
	while ((c = getopt_long(argc, argv, "s:r:qxo:O:n:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			b->size = parse_size(optarg);
			b->size_given = true;
			break;
		case 'r':
			runs = atoi(optarg);
			if (runs < 1 || runs > MAX_RUNS)
				die("runs must be 1..%d", MAX_RUNS);
			break;
		case 'q':
			b->quick = true;
			break;
		case 'x':
			b->explore = true;
			break;
		case 'o':
			for (const char *p = optarg; *p; p++)
				if (*p >= '1' && *p <= '9')
					b->sections |= 1u << (*p - '0');
				else if (*p == 'n') /* section 10 */
					b->sections |= 1u << 10;
			break;
		case 'n':
			b->nullfs = optarg;
			break;
		case 'O':
			b->shmfs_opts = optarg;
			break;
		case OPT_SEGMENTS:
			b->nsegments = atoi(optarg);
			break;
		case OPT_OPEN:
			b->nopen = atoi(optarg);
			break;
		case OPT_OPS:
			b->nops = atol(optarg);
			break;
		case OPT_SCALE:
			b->nscale = atoi(optarg);
			if (b->nscale < 200 || b->nscale > 32700)
				die("--scale must be 200..32700");
			break;
		case OPT_MAX_PAGES:
			b->max_pages_limit = (unsigned int)atoi(optarg);
			if (b->max_pages_limit < 1 || b->max_pages_limit > 65535)
				die("--max-pages-limit must be 1..65535");
			break;
		case OPT_PIPE_MAX:
			b->pipe_max_size = strtoul(optarg, NULL, 0);
			if (b->pipe_max_size < 4096 || b->pipe_max_size > (1ul << 30))
				die("--pipe-max-size must be 4096..1073741824 bytes");
			break;
		case 'v':
			bench_verbose = true;
			break;
		case 'h':
			usage(argv[0]);
			exit(0);
		default:
			usage(argv[0]);
			exit(2);
		}
	}
	if (optind < argc)
		b->shmfs = argv[optind++];
	if (optind < argc)
		die("too many arguments");
	if (!b->shmfs)
		b->shmfs = beside_self("../shmfs", b->shmfs_path, sizeof(b->shmfs_path));
	if (!b->nullfs)
		b->nullfs = beside_self(NULLFS_NAME, b->nullfs_path, sizeof(b->nullfs_path));
	b->rawfs = beside_self(RAWFS_NAME, b->rawfs_path, sizeof(b->rawfs_path));
	if (!b->shmfs || access(b->shmfs, X_OK) != 0)
		die("no shmfs binary at %s (give its path)", b->shmfs ? b->shmfs : "?");
	if (!b->nullfs || access(b->nullfs, X_OK) != 0)
		die("no %s at %s (give it with --nullfs)", NULLFS_NAME,
		    b->nullfs ? b->nullfs : "?");
	if (!b->sections)
		b->sections = 0x7be; /* 1-5, 7, 8, 9, 10 */
	if (b->explore)
		b->sections |= 1u << 6;
	if (b->nopen > b->nsegments)
		b->nopen = b->nsegments;

	b->runs = runs ? runs : b->quick ? 3 : 5;
	if (!b->size_given)
		b->size = b->quick ? 256 * MIB : GIB;
	b->rand_s = b->quick ? 0.2 : 0.5;
	b->lock_s = b->quick ? 0.2 : 0.5;
	b->call_s = b->quick ? 0.1 : 0.25;
	b->idle_s = b->quick ? 2 : 5;
	if (!b->nscale)
		b->nscale = b->quick ? 8000 : 32000;
	b->ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (b->ncpu < 1)
		b->ncpu = 1;
}

/* Our own IPC and mount namespace: the segments, semaphore sets and
 * mounts we make vanish with us, whatever happens. */
static void enter_namespaces(struct bench *b)
{
	char value[32];
	struct rlimit rl;

	if (unshare(CLONE_NEWIPC | CLONE_NEWNS) != 0)
		die("unshare(CLONE_NEWIPC | CLONE_NEWNS): %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("making / rprivate: %s", strerror(errno));
	/* These are per IPC namespace; the new one starts at the defaults. */
	snprintf(value, sizeof(value), "%d", 32768);
	if (!write_sysctl("/proc/sys/kernel/shmmni", value))
		note("cannot raise kernel.shmmni: %s", strerror(errno));
	snprintf(value, sizeof(value), "%llu", (unsigned long long)(ULLONG_MAX - (1ull << 24)));
	write_sysctl("/proc/sys/kernel/shmmax", value);
	write_sysctl("/proc/sys/kernel/shmall", value);
	write_sysctl("/proc/sys/kernel/shm_rmid_forced", "0");

	/* Enough descriptors to hold --open files open. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)b->nopen + 256) {
		rlim_t want = (rlim_t)b->nopen + 256;

		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Fit the big segment, its tmpfs twin and nullfs's buffer in memory. */
static void fit_size(struct bench *b)
{
	long long avail = status_kib("/proc/meminfo", "MemAvailable");
	uint64_t budget, wanted = b->size;

	if (avail <= 0)
		return;
	budget = (uint64_t)avail * KIB * 7 / 10;
	while (3 * b->size + 256 * MIB > budget && b->size > 16 * MIB)
		b->size /= 2;
	b->size = b->size / (1 * MIB) * (1 * MIB);
	if (b->size < 1 * MIB)
		b->size = 1 * MIB;
	if (b->size != wanted)
		note("size lowered from %llu to %llu MiB: %lld MiB available",
		     (unsigned long long)(wanted / MIB), (unsigned long long)(b->size / MIB),
		     avail / 1024);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
}

static void fill_pattern(char *p, uint64_t size)
{
	for (uint64_t i = 0; i < size; i += 4096)
		memset(p + i, (int)(i / 4096 * 7 + 1), size - i < 4096 ? size - i : 4096);
}

static void make_tmpfs_file(struct bench *b)
{
	char *buf = malloc(1 * MIB);
	int fd;

	if (mount("bench-tmpfs", b->tmpfs_dir, "tmpfs", 0, "mode=0755") != 0)
		die("mounting a tmpfs on %s: %s", b->tmpfs_dir, strerror(errno));
	snprintf(b->tmpfs_file, sizeof(b->tmpfs_file), "%s/data", b->tmpfs_dir);
	fd = open(b->tmpfs_file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !buf)
		die("creating %s: %s", b->tmpfs_file, strerror(errno));
	memset(buf, 0x3c, 1 * MIB);
	for (uint64_t off = 0; off < b->size; off += 1 * MIB)
		if (pwrite(fd, buf, b->size - off < MIB ? b->size - off : MIB, off) < 0)
			die("writing %s: %s", b->tmpfs_file, strerror(errno));
	close(fd);
	free(buf);

	/* tmpfs takes O_DIRECT since Linux 6.6; use it where it can. */
	fd = open(b->tmpfs_file, O_RDONLY | O_DIRECT | O_CLOEXEC);
	b->t_tmpfs = (struct target){
		.name = fd >= 0 ? "tmpfs-DIO" : "tmpfs",
		.path = b->tmpfs_file,
		.extra_flags = fd >= 0 ? O_DIRECT : 0,
		.size = b->size,
	};
	if (fd >= 0)
		close(fd);
}

static void start_shmfs(struct bench *b, struct daemon *d, const char *dir, const char *opt)
{
	char opts[256];
	const char *argv[8];
	int argc = 0;

	snprintf(opts, sizeof(opts), "%s%s%s", b->shmfs_opts ? b->shmfs_opts : "",
		 b->shmfs_opts && opt ? "," : "", opt ? opt : "");
	argv[argc++] = b->shmfs;
	argv[argc++] = "-f";
	if (opts[0]) {
		argv[argc++] = "-o";
		argv[argc++] = opts;
	}
	argv[argc++] = dir;
	argv[argc] = NULL;
	daemon_start(d, dir, argv);
}

static void start_nullfs(struct bench *b, struct daemon *d, const char *dir, uint64_t size,
			 const char *opt)
{
	char sizeopt[64];
	const char *argv[10];
	int argc = 0;

	snprintf(sizeopt, sizeof(sizeopt), "size=%llu", (unsigned long long)size);
	argv[argc++] = b->nullfs;
	argv[argc++] = "-f";
	argv[argc++] = "-o";
	argv[argc++] = sizeopt;
	if (opt) {
		argv[argc++] = "-o";
		argv[argc++] = opt;
	}
	argv[argc++] = dir;
	argv[argc] = NULL;
	daemon_start(d, dir, argv);
}

static void stop_daemon(struct bench *b, struct daemon *d, const char *what)
{
	int status = daemon_stop(d);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		note("%s did not exit cleanly (wait status 0x%x)", what, status);
		b->broken = true;
	}
}

/* Reading through the mount must give the segment's bytes. */
static void check_shmfs_reads(struct bench *b)
{
	char buf[4096];
	uint64_t off = b->size / 2 / 4096 * 4096;
	int fd = open(b->shmfs_file, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || pread(fd, buf, sizeof(buf), off) != sizeof(buf))
		die("reading %s: %s", b->shmfs_file, strerror(errno));
	close(fd);
	if (memcmp(buf, b->big + off, sizeof(buf)) != 0)
		die("%s does not read back the segment's bytes", b->shmfs_file);
}

/* mmap(MAP_SHARED) of the segment through the mount: with passthrough
 * the segment's own pages, as shmat gives them (ENODEV without). */
static void map_shmfs_file(struct bench *b)
{
	int fd = open(b->shmfs_file, O_RDWR | O_CLOEXEC);
	void *p = fd < 0 ? MAP_FAILED
			 : mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	b->map_errno = p == MAP_FAILED ? errno : 0;
	if (fd >= 0)
		close(fd);
	b->t_mapped = (struct target){
		.name = "mmap",
		.mem = p == MAP_FAILED ? NULL : p,
		.size = b->size,
	};
	if (!b->t_mapped.mem)
		return;
	if (memcmp(b->t_mapped.mem + b->size / 2, b->big + b->size / 2, 4096))
		die("the mount's mapping of %s is not the segment", b->shmfs_file);
	/* Its page tables now, as fill_pattern() built shmat's. */
	for (uint64_t off = 0; off < b->size; off += 4096)
		((volatile char *)b->t_mapped.mem)[off];
}

static void setup(struct bench *b)
{
	snprintf(b->top, sizeof(b->top), "/tmp/shmfs-bench.XXXXXX");
	if (!mkdtemp(b->top))
		die("mkdtemp: %s", strerror(errno));
	snprintf(b->shmfs_dir, sizeof(b->shmfs_dir), "%s/shmfs", b->top);
	snprintf(b->nullfs_dir, sizeof(b->nullfs_dir), "%s/nullfs", b->top);
	snprintf(b->tmpfs_dir, sizeof(b->tmpfs_dir), "%s/tmpfs", b->top);
	make_dir(b->shmfs_dir);
	make_dir(b->nullfs_dir);
	make_dir(b->tmpfs_dir);

	progress("making a %llu MiB segment", (unsigned long long)(b->size / MIB));
	b->big_shmid = shmget(BIG_KEY, b->size, IPC_CREAT | IPC_EXCL | 0600);
	if (b->big_shmid < 0)
		die("shmget of %llu bytes: %s", (unsigned long long)b->size, strerror(errno));
	b->big = shmat(b->big_shmid, NULL, 0);
	if (b->big == (void *)-1)
		die("shmat: %s", strerror(errno));
	/* The lock an outside program shares with shmfs (section 4 loops on
	 * it): the set of the key, made and marked as examples/shmlock.h does
	 * (5 semaphores, 3 and 4 the shmfs mark).  Without it shmfs locks
	 * with its private lock. */
	b->big_semid = semget(BIG_KEY, 5, IPC_CREAT | IPC_EXCL | 0600);
	if (b->big_semid < 0 ||
	    semctl(b->big_semid, 0, SETALL, (unsigned short[]){ 1, 0, 0, 0x5348, 0x464d }) != 0)
		die("the ShareLite set of the big segment: %s", strerror(errno));
	fill_pattern(b->big, b->size);
	b->t_mem = (struct target){ .name = "memcpy", .mem = b->big, .size = b->size };

	progress("making a %llu MiB tmpfs file", (unsigned long long)(b->size / MIB));
	make_tmpfs_file(b);

	progress("mounting nullfs and shmfs");
	start_nullfs(b, &b->nullfs_d, b->nullfs_dir, b->size, NULL);
	snprintf(b->nullfs_file, sizeof(b->nullfs_file), "%s/data", b->nullfs_dir);
	b->t_nullfs = (struct target){
		.name = "nullfs",
		.path = b->nullfs_file,
		.size = b->size,
	};
	start_shmfs(b, &b->shmfs_d, b->shmfs_dir, NULL);
	snprintf(b->shmfs_file, sizeof(b->shmfs_file), "%s/%d", b->shmfs_dir, b->big_shmid);
	b->t_shmfs = (struct target){
		.name = "shmfs",
		.path = b->shmfs_file,
		.size = b->size,
	};
	check_shmfs_reads(b);
	map_shmfs_file(b);
}

static void make_small_segments(struct bench *b)
{
	if (b->small)
		return;
	b->small = calloc(b->nsegments, sizeof(*b->small));
	if (!b->small)
		die("out of memory");
	for (b->nsmall = 0; b->nsmall < b->nsegments; b->nsmall++) {
		int id = shmget(SMALL_KEY + b->nsmall, SMALL_SIZE, IPC_CREAT | IPC_EXCL | 0644);

		if (id < 0)
			die("shmget of segment %d: %s", b->nsmall, strerror(errno));
		b->small[b->nsmall] = id;
	}
}

/* Remove what was made; safe to call twice, and at exit after die(). */
static void teardown(struct bench *b)
{
	DIR *top;

	/* The mapping holds the mount (its backing file names the path). */
	if (b->t_mapped.mem)
		munmap(b->t_mapped.mem, b->size);
	b->t_mapped.mem = NULL;
	if (b->shmfs_d.pid > 0)
		stop_daemon(b, &b->shmfs_d, "shmfs");
	if (b->nullfs_d.pid > 0)
		stop_daemon(b, &b->nullfs_d, "nullfs");
	/* Every mountpoint under top, including those of a section that
	 * died half-way: its daemon sees the unmount and exits. */
	top = b->top[0] ? opendir(b->top) : NULL;
	for (struct dirent *e; top && (e = readdir(top));) {
		char path[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", b->top, e->d_name);
		umount2(path, MNT_DETACH);
		rmdir(path);
	}
	if (top)
		closedir(top);
	if (b->top[0] && rmdir(b->top) == 0)
		b->top[0] = '\0';
	if (b->big && b->big != (void *)-1)
		shmdt(b->big);
	b->big = NULL;
	if (b->big_shmid >= 0)
		shmctl(b->big_shmid, IPC_RMID, NULL);
	b->big_shmid = -1;
	if (b->big_semid >= 0)
		semctl(b->big_semid, 0, IPC_RMID);
	b->big_semid = -1;
	for (int i = 0; i < b->nsmall; i++)
		shmctl(b->small[i], IPC_RMID, NULL);
	free(b->small);
	b->small = NULL;
	b->nsmall = 0;
}

static struct bench *at_exit_bench;
static pid_t at_exit_pid;

static void teardown_at_exit(void)
{
	if (at_exit_bench && getpid() == at_exit_pid)
		teardown(at_exit_bench);
}

/* ---- the header ---------------------------------------------------------- */

static void cpu_model(char *buf, size_t size)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(buf, size, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon) {
			colon += 1 + strspn(colon + 1, " \t");
			colon[strcspn(colon, "\n")] = '\0';
			snprintf(buf, size, "%s", colon);
			break;
		}
	}
	fclose(f);
}

/* shmfs --version's own line and the FUSE library's, on one line. */
static void shmfs_version(const char *shmfs, char *buf, size_t size)
{
	char cmd[PATH_MAX + 32], line[256], mine[128] = "shmfs version unknown", lib[128] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' --version 2>&1", shmfs);
	p = popen(cmd, "r");
	while (p && fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "shmfs version", 13) == 0)
			snprintf(mine, sizeof(mine), "%.100s", line);
		else if (strncmp(line, "FUSE library version", 20) == 0)
			snprintf(lib, sizeof(lib), " (%.100s)", line);
	}
	if (p)
		pclose(p);
	snprintf(buf, size, "%s%s", mine, lib);
}

static void print_header(struct bench *b)
{
	char cpu[128], version[256], max_pages[32] = "absent", thp[64] = "?", pipe_max[32] = "?";
	struct utsname u;
	long long mem = status_kib("/proc/meminfo", "MemTotal");

	uname(&u);
	cpu_model(cpu, sizeof(cpu));
	shmfs_version(b->shmfs, version, sizeof(version));
	read_line("/proc/sys/fs/fuse/max_pages_limit", max_pages, sizeof(max_pages));
	read_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", thp, sizeof(thp));
	read_line("/proc/sys/fs/pipe-max-size", pipe_max, sizeof(pipe_max));
	printf("shmfs-bench: %s\n", version);
	printf("kernel %s %s; CPU %s; %d cores; %.1f GiB RAM\n", u.release, u.machine, cpu, b->ncpu,
	       mem / 1024.0 / 1024.0);
	printf("big segment %llu MiB; %d runs per figure, median; %s; fs.fuse.max_pages_limit %s;"
	       " shmem THP %s; fs.pipe-max-size %s\n",
	       (unsigned long long)(b->size / MIB), b->runs,
	       b->t_tmpfs.extra_flags ? "tmpfs opened O_DIRECT" : "tmpfs without O_DIRECT",
	       max_pages, thp, pipe_max);
	if (b->shmfs_opts)
		printf("shmfs mounted with -o %s\n", b->shmfs_opts);
	printf("ratios are shmfs / baseline (in 6b and 6e: the row's server / baseline): above 1"
	       " means\nmore GB/s or ops/s, or more time or memory\n\n");
	fflush(stdout);
}

/* ---- 1. sequential I/O ------------------------------------------------------ */

static void section_sequential(struct bench *b)
{
	static const size_t reqs[] = { 1 * MIB, 128 * KIB };
	const struct target *t[] = { &b->t_shmfs, &b->t_tmpfs, &b->t_nullfs, &b->t_mem };
	double v[2][2][4][MAX_RUNS], mapped[2][MAX_RUNS];
	char title[96];

	note("1/5 sequential I/O");
	for (int r = 0; r < b->runs; r++) {
		for (int q = 0; q < 2; q++)
			for (int w = 0; w < 2; w++)
				for (int i = 0; i < 4; i++) {
					v[q][w][i][r] = seq_pass(t[i], reqs[q], w);
					progress("%s %s %zu KiB: %.2f GB/s", t[i]->name,
						 w ? "write" : "read", (size_t)(reqs[q] / KIB),
						 v[q][w][i][r]);
				}
		/* memcpy through the mount's mapping, beside the same copy
		 * through shmat (t[3], 1 MiB at a time) in this run */
		for (int w = 0; w < 2 && b->t_mapped.mem; w++) {
			mapped[w][r] = seq_pass(&b->t_mapped, reqs[0], w);
			progress("mmap %s: %.2f GB/s", w ? "write" : "read", mapped[w][r]);
		}
	}

	snprintf(title, sizeof(title), "1. sequential I/O over a %llu MiB segment, one thread",
		 (unsigned long long)(b->size / MIB));
	table_section(title, "GB/s");
	for (int q = 0; q < 2; q++)
		for (int w = 0; w < 2; w++) {
			char label[64];
			double m[4];

			for (int i = 0; i < 4; i++)
				m[i] = median(v[q][w][i], b->runs);
			snprintf(label, sizeof(label), "%s, %s requests", w ? "write" : "read",
				 q == 0 ? "1 MiB" : "128 KiB");
			table_row(label, m[0], 3, t[1]->name, m[1], t[2]->name, m[2], t[3]->name,
				  m[3]);
			if (q == 0) {
				snprintf(label, sizeof(label), "sequential %s, 1 MiB requests",
					 w ? "write" : "read");
				table_goal(label, m[2] > 0 ? m[0] / m[2] : -1, "nullfs", '>', 0.9);
			}
		}
	for (int w = 0; w < 2; w++) {
		const char *label =
			w ? "memcpy into the mount's mmap" : "memcpy from the mount's mmap";

		if (b->t_mapped.mem)
			table_row(label, median(mapped[w], b->runs), 1, "shmat",
				  median(v[0][w][3], b->runs));
		else
			table_text(label, -1, "mmap: %s", strerror(b->map_errno));
	}
}

/* ---- 2. small random I/O ------------------------------------------------------- */

/* The span of 2c's rows: the first bytes of each file only. */
#define RANDOM_SPLIT_SPAN (64 * MIB)

/* Where the time of random 4 KiB writes with two threads goes.  The
 * big segment has a ShareLite set (section 4 loops on it), so each of
 * shmfs's writes takes and gives that set's lock: semop and the proof
 * that the semid is still the set (IPC_STAT), each way.  A segment
 * without a set is locked inside the daemon (no system call).  Both over
 * their first RANDOM_SPLIT_SPAN bytes, beside nullfs over the same span:
 * the rows show what the write path costs and what the set's lock adds. */
static void random_split(struct bench *b)
{
	uint64_t span = b->size < RANDOM_SPLIT_SPAN ? b->size : RANDOM_SPLIT_SPAN;
	int threads = b->ncpu, id = shmget(IPC_PRIVATE, span, IPC_CREAT | 0600);
	char path[160];
	struct target priv, big = b->t_shmfs;
	const struct target *t[] = { &priv, &big, &b->t_nullfs };
	double v[3][MAX_RUNS], m[3];
	char label[64], *p;

	if (id < 0 || (p = shmat(id, NULL, 0)) == (void *)-1)
		die("a segment of %llu bytes without a set: %s", (unsigned long long)span,
		    strerror(errno));
	fill_pattern(p, span);
	shmdt(p);
	snprintf(path, sizeof(path), "%s/%d", b->shmfs_dir, id);
	priv = (struct target){ .name = "shmfs-noset", .path = path, .size = span };
	big.size = span;
	for (int r = 0; r < b->runs; r++)
		for (int i = 0; i < 3; i++) {
			v[i][r] = random_ops(t[i], threads, true, b->rand_s, span) / 1000;
			progress("%s write %d threads, first %llu MiB: %.1f k ops/s", t[i]->name,
				 threads, (unsigned long long)(span / MIB), v[i][r]);
		}
	shmctl(id, IPC_RMID, NULL);
	for (int i = 0; i < 3; i++)
		m[i] = median(v[i], b->runs);
	snprintf(label, sizeof(label), "write, %d thr, first %llu MiB, no set", threads,
		 (unsigned long long)(span / MIB));
	table_row(label, m[0], 2, "nullfs", m[2], "with set", m[1]);
	snprintf(label, sizeof(label), "write, %d thr, first %llu MiB, its set", threads,
		 (unsigned long long)(span / MIB));
	table_row(label, m[1], 1, "nullfs", m[2]);
}

static void section_random(struct bench *b)
{
	const struct target *t[] = { &b->t_shmfs, &b->t_nullfs, &b->t_tmpfs };
	int threads[2] = { 1, b->ncpu };
	double v[2][2][3][MAX_RUNS];

	note("2/5 random 4 KiB I/O");
	for (int r = 0; r < b->runs; r++)
		for (int n = 0; n < 2; n++)
			for (int w = 0; w < 2; w++)
				for (int i = 0; i < 3; i++) {
					v[n][w][i][r] = random_ops(t[i], threads[n], w, b->rand_s,
								   b->size) /
							1000;
					progress("%s %s %d threads: %.1f k ops/s", t[i]->name,
						 w ? "write" : "read", threads[n], v[n][w][i][r]);
				}

	table_section("2. random 4 KiB pread/pwrite", "thousand ops/s");
	for (int n = 0; n < 2; n++)
		for (int w = 0; w < 2; w++) {
			char label[64];
			double m[3];

			for (int i = 0; i < 3; i++)
				m[i] = median(v[n][w][i], b->runs);
			snprintf(label, sizeof(label), "%s, %d thread%s", w ? "write" : "read",
				 threads[n], threads[n] > 1 ? "s (one per core)" : "");
			table_row(label, m[0], 2, t[1]->name, m[1], t[2]->name, m[2]);
			if (n == 1) {
				snprintf(label, sizeof(label), "random 4 KiB %s, %d threads",
					 w ? "write" : "read", threads[n]);
				table_goal(label, m[1] > 0 ? m[0] / m[1] : -1, "nullfs", '>', 0.9);
			}
		}
	random_split(b);
}

/* ---- 3. metadata --------------------------------------------------------------- */

static bool call_stat(void *arg)
{
	struct stat st;

	return stat(arg, &st) == 0;
}

static bool call_ipc_stat(void *arg)
{
	struct shmid_ds ds;

	return shmctl(*(int *)arg, IPC_STAT, &ds) >= 0;
}

/* What cat does: open, read until EOF (at most two reads here), close. */
static bool call_cat(void *arg)
{
	char buf[SIDECAR_READ];
	int fd = open(arg, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	if (n > 0)
		n = read(fd, buf, sizeof(buf));
	close(fd);
	return n >= 0;
}

static double median_call_us(struct bench *b, bool (*fn)(void *), void *arg, long max_calls)
{
	double v[MAX_RUNS];

	for (int r = 0; r < b->runs; r++)
		v[r] = per_call_us(fn, arg, b->call_s, 20, max_calls);
	return median(v, b->runs);
}

static double median_run_ms(struct bench *b, const char *const argv[])
{
	double v[MAX_RUNS];

	for (int r = 0; r < b->runs; r++) {
		v[r] = run_quiet(argv) * 1000;
		if (v[r] < 0)
			die("%s %s failed", argv[0], argv[1]);
	}
	return median(v, b->runs);
}

/* ls -l on dir, each run starting with nothing cached (timeouts <= 0.1 s). */
static double median_cold_ls_ms(struct bench *b, const char *dir)
{
	const char *ls[] = { "ls", "-l", "--color=never", dir, NULL };
	double v[MAX_RUNS];

	for (int r = 0; r < b->runs; r++) {
		usleep(150000);
		v[r] = run_quiet(ls) * 1000;
		if (v[r] < 0)
			die("ls -l %s failed", dir);
	}
	return median(v, b->runs);
}

/* A directory on tmpfs with as many entries as the mount shows. */
static void make_tmpfs_listing(struct bench *b, char *dir, size_t size)
{
	char path[256];

	snprintf(dir, size, "%s/listing", b->tmpfs_dir);
	make_dir(dir);
	for (int i = 0; i < 2 * b->nsmall + 2; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%d", dir, 32768 + i);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			die("creating %s: %s", path, strerror(errno));
		close(fd);
	}
}

static void section_metadata(struct bench *b)
{
	char sidecar[160], small_file[160], listing[200], label[64];
	const char *ls_tmpfs[] = { "ls", "-l", "--color=never", listing, NULL };
	const char *ipcs[] = { "ipcs", "-m", NULL };
	double side_few, side_many, cat_tmpfs, cat_nullfs, ls, ls_t, ipcs_ms;
	double st, st_tmpfs, st_nullfs, st_ipc;
	int fd, nbefore;

	note("3/5 metadata");
	snprintf(sidecar, sizeof(sidecar), "%s.stat", b->shmfs_file);
	snprintf(small_file, sizeof(small_file), "%s/small", b->tmpfs_dir);
	fd = open(small_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b->big, 600) != 600)
		die("creating %s: %s", small_file, strerror(errno));
	close(fd);

	nbefore = b->nsmall + 1;
	side_few = median_call_us(b, call_cat, sidecar, 200000);
	progress("sidecar with %d segment(s): %.1f us", nbefore, side_few);

	make_small_segments(b);
	make_tmpfs_listing(b, listing, sizeof(listing));
	ls = median_cold_ls_ms(b, b->shmfs_dir);
	ipcs_ms = median_run_ms(b, ipcs);
	ls_t = median_run_ms(b, ls_tmpfs);
	progress("ls -l %.1f ms, ipcs -m %.1f ms, ls -l tmpfs %.1f ms", ls, ipcs_ms, ls_t);

	st = median_call_us(b, call_stat, (void *)b->shmfs_file, 1000000);
	st_tmpfs = median_call_us(b, call_stat, (void *)b->tmpfs_file, 1000000);
	st_nullfs = median_call_us(b, call_stat, (void *)b->nullfs_file, 1000000);
	st_ipc = median_call_us(b, call_ipc_stat, &b->big_shmid, 1000000);

	/* The last segment's: a cost that grows with the segment's place in
	 * the table shows there, not in the first's. */
	snprintf(sidecar, sizeof(sidecar), "%s/%d.stat", b->shmfs_dir, b->small[b->nsmall - 1]);
	side_many = median_call_us(b, call_cat, sidecar, 200000);
	cat_tmpfs = median_call_us(b, call_cat, small_file, 1000000);
	cat_nullfs = median_call_us(b, call_cat, (void *)b->nullfs_file, 1000000);

	table_section("3. metadata (nullfs-t0: nullfs with entry and attribute timeouts 0)",
		      "ms for ls/ipcs, microseconds per call otherwise");
	snprintf(label, sizeof(label), "ls -l, %d segments", b->nsmall + 1);
	table_row(label, ls, 2, "ipcs -m", ipcs_ms, "ls-tmpfs", ls_t);
	table_goal(label, ipcs_ms > 0 ? ls / ipcs_ms : -1, "ipcs -m (time)", '<', 1.0);
	table_row("stat one segment", st, 3, "tmpfs", st_tmpfs, "nullfs-t0", st_nullfs, "IPC_STAT",
		  st_ipc);
	snprintf(label, sizeof(label), "cat sidecar, %d segment%s", nbefore,
		 nbefore > 1 ? "s" : "");
	table_row(label, side_few, 2, "tmpfs", cat_tmpfs, "nullfs-t0", cat_nullfs);
	snprintf(label, sizeof(label), "cat sidecar, last of %d", b->nsmall + 1);
	table_row(label, side_many, 2, "tmpfs", cat_tmpfs, "nullfs-t0", cat_nullfs);
	rmdir(listing); /* not empty: left for the tmpfs to take with it */
}

/* ---- 4. lock overhead ------------------------------------------------------------ */

struct looper {
	int semid;
	char *segment;
	volatile uint64_t *count; /* shared with the parent */
};

/* As another ShareLite user: take and drop the shared lock, for ever. */
static void loop_shared(void *arg)
{
	struct looper *l = arg;
	struct sembuf take[2] = { { 2, 0, 0 }, { 1, 1, SEM_UNDO } };
	struct sembuf drop = { 1, -1, SEM_UNDO };

	for (;;) {
		if (semop(l->semid, take, 2) != 0 || semop(l->semid, &drop, 1) != 0)
			_exit(1);
		(*l->count)++;
	}
}

/* As a writer: take the exclusive lock, write 4 KiB, drop it, for ever. */
static void loop_exclusive(void *arg)
{
	struct looper *l = arg;
	struct sembuf take[3] = { { 1, 0, 0 }, { 2, 0, 0 }, { 2, 1, SEM_UNDO } };
	struct sembuf drop = { 2, -1, SEM_UNDO };
	char page[4096];

	memset(page, 0x77, sizeof(page));
	for (;;) {
		if (semop(l->semid, take, 3) != 0)
			_exit(1);
		memcpy(l->segment, page, sizeof(page));
		if (semop(l->semid, &drop, 1) != 0)
			_exit(1);
		(*l->count)++;
	}
}

/* The control: as busy, without touching the lock. */
static void loop_busy(void *arg)
{
	struct looper *l = arg;

	for (;;)
		(*l->count)++;
}

static int sidecar_semid(struct bench *b)
{
	char path[160], text[2048], *p;
	int fd, semid = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "%s.stat", b->shmfs_file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		die("reading %s: %s", path, n < 0 ? strerror(errno) : "empty");
	text[n] = '\0';
	p = strstr(text, "\nlock_semid ");
	if (!p || sscanf(p, "\nlock_semid %d", &semid) != 1 || semid < 0)
		die("no lock_semid in %s", path);
	return semid;
}

static void section_lock(struct bench *b)
{
	static const char *const names[] = { "alone", "shared-lock looper", "exclusive-lock looper",
					     "busy loop, no lock (control)" };
	void (*loops[])(void *) = { NULL, loop_shared, loop_exclusive, loop_busy };
	static const size_t reqs[] = { 4 * KIB, 1 * MIB };
	uint64_t span = b->size < LOCK_SPAN ? b->size : LOCK_SPAN;
	double v[2][4][MAX_RUNS], nullfs4k[MAX_RUNS], rate[4][MAX_RUNS], base[2];
	struct looper l = { .semid = sidecar_semid(b), .segment = b->big };

	note("4/5 lock overhead");
	l.count = mmap(NULL, sizeof(*l.count), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (l.count == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	for (int r = 0; r < b->runs; r++) {
		nullfs4k[r] = sequential_reads(&b->t_nullfs, 4 * KIB, span, b->lock_s) / 1000;
		for (int c = 0; c < 4; c++) {
			pid_t pid = 0;
			double start;
			uint64_t before;

			if (loops[c])
				pid = child_start(loops[c], &l);
			usleep(20000);
			before = *l.count;
			start = now_s();
			for (int q = 0; q < 2; q++) {
				double per_s =
					sequential_reads(&b->t_shmfs, reqs[q], span, b->lock_s);

				v[q][c][r] = q == 0 ? per_s / 1000 : per_s * reqs[q] / 1e9;
			}
			rate[c][r] = (*l.count - before) / (now_s() - start) / 1000;
			if (pid) {
				child_stop(pid);
				if (semctl(l.semid, 0, GETPID) < 0)
					die("the lock set %d is gone", l.semid);
			}
			progress("%s: 4 KiB %.1f k/s, 1 MiB %.2f GB/s, looper %.0f k/s", names[c],
				 v[0][c][r], v[1][c][r], rate[c][r]);
		}
	}
	munmap((void *)l.count, sizeof(*l.count));

	table_section("4. lock overhead: one thread reading shmfs in sequence",
		      "4 KiB: thousand reads/s; 1 MiB: GB/s");
	for (int q = 0; q < 2; q++)
		base[q] = median(v[q][0], b->runs);
	for (int c = 0; c < 4; c++) {
		for (int q = 0; q < 2; q++) {
			char label[64];
			double m = c == 0 ? base[q] : median(v[q][c], b->runs);

			snprintf(label, sizeof(label), "%s, %s", q == 0 ? "4 KiB" : "1 MiB",
				 names[c]);
			if (c == 0 && q == 0)
				table_row(label, m, 1, "nullfs", median(nullfs4k, b->runs));
			else if (c == 0)
				table_row(label, m, 0);
			else
				table_row(label, m, 1, "alone", base[q]);
			if (c == 2) {
				snprintf(label, sizeof(label),
					 "%s reads, another program loops on the exclusive lock",
					 q == 0 ? "4 KiB" : "1 MiB");
				table_goal(label, base[q] > 0 ? m / base[q] : -1, "alone", '>',
					   0.7);
			}
		}
		if (c == 1 || c == 2)
			table_text("  (looper's own rate, thousand/s)", median(rate[c], b->runs),
				   "%s", "");
	}
}

/* ---- 5. daemon memory -------------------------------------------------------------- */

static long long daemon_kib(pid_t pid, const char *field)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	return status_kib(path, field);
}

/* Open every entry of dir, read them all, close: what ls does first. */
static void list_dir(const char *dir)
{
	DIR *d = opendir(dir);

	if (!d)
		die("opendir %s: %s", dir, strerror(errno));
	while (readdir(d))
		;
	closedir(d);
}

/* What /proc/PID/status says of a daemon's memory, in KiB. */
struct memory {
	long long hwm, rss, anon, shmem;
};

static struct memory daemon_memory(pid_t pid)
{
	struct memory m = {
		.hwm = daemon_kib(pid, "VmHWM"),
		.rss = daemon_kib(pid, "VmRSS"),
		.anon = daemon_kib(pid, "RssAnon"),
		.shmem = daemon_kib(pid, "RssShmem"),
	};

	return m;
}

/* CPU seconds the process has used, user and system. */
static double daemon_cpu_s(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long long utime, stime;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!read_line(path, line, sizeof(line)) || !(p = strrchr(line, ')')))
		return -1;
	/* After the name: state and ten more fields, then utime and stime. */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
		   &stime) != 2)
		return -1;
	return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

/* Each round: open, read, write, close and stat one of the segments,
 * now and then a sidecar and a listing.  Returns the operations done. */
static long churn(struct bench *b, const char *dir, long nops)
{
	char path[160], buf[4096];
	long ops = 0;

	for (long i = 0; ops < nops; i++) {
		int id = b->small[i % b->nopen];
		int fd;

		snprintf(path, sizeof(path), "%s/%d", dir, id);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0 || pread(fd, buf, sizeof(buf), 0) < 0 || pwrite(fd, buf, 64, 0) < 0)
			die("open/read/write %s: %s", path, strerror(errno));
		close(fd);
		if (!call_stat(path))
			die("stat %s: %s", path, strerror(errno));
		ops += 5;
		if (i % 50 == 0) {
			snprintf(path, sizeof(path), "%s/%d.stat", dir, id);
			if (!call_cat(path))
				die("cat %s: %s", path, strerror(errno));
			ops += 4;
		}
		if (i % 2000 == 0) {
			list_dir(dir);
			ops++;
		}
	}
	return ops;
}

static void section_memory(struct bench *b)
{
	char dir[128], ndir[128], path[160], label[80], buf[4096];
	const char *ls[] = { "ls", "-l", "--color=never", dir, NULL };
	struct daemon d = { 0 }, nd = { 0 };
	struct memory main_d, null_idle, idle, open_m, before, warm, after;
	long ops, warm_ops;
	double cpu;
	int *fds;

	note("5/5 daemon memory");
	make_small_segments(b);
	main_d = daemon_memory(b->shmfs_d.pid);

	snprintf(ndir, sizeof(ndir), "%s/nullfs-small", b->top);
	make_dir(ndir);
	start_nullfs(b, &nd, ndir, 64 * KIB, NULL);
	usleep(100000);
	null_idle = daemon_memory(nd.pid);
	stop_daemon(b, &nd, "nullfs");
	rmdir(ndir);

	snprintf(dir, sizeof(dir), "%s/shmfs-memory", b->top);
	make_dir(dir);
	start_shmfs(b, &d, dir, NULL);
	usleep(100000);
	idle = daemon_memory(d.pid);

	if (run_quiet(ls) < 0)
		die("ls -l %s failed", dir);
	fds = calloc(b->nopen, sizeof(*fds));
	if (!fds)
		die("out of memory");
	for (int i = 0; i < b->nopen; i++) {
		snprintf(path, sizeof(path), "%s/%d", dir, b->small[i]);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			die("open %s (file %d): %s", path, i, strerror(errno));
		if (pread(fds[i], buf, sizeof(buf), 0) < 0)
			die("read %s: %s", path, strerror(errno));
	}
	open_m = daemon_memory(d.pid);
	for (int i = 0; i < b->nopen; i++)
		close(fds[i]);
	free(fds);

	/* Doing nothing, with that many segments around. */
	cpu = daemon_cpu_s(d.pid);
	usleep((useconds_t)(b->idle_s * 1e6));
	cpu = (daemon_cpu_s(d.pid) - cpu) / b->idle_s * 1000;

	/* A first tenth warms up (thread pool, allocator arenas); growth is
	 * what the rest adds. */
	usleep(100000);
	before = daemon_memory(d.pid);
	warm_ops = churn(b, dir, b->nops / 10);
	usleep(100000);
	warm = daemon_memory(d.pid);
	ops = churn(b, dir, b->nops);
	usleep(100000);
	after = daemon_memory(d.pid);
	stop_daemon(b, &d, "shmfs");
	rmdir(dir);

	table_section("5. daemon memory (RssShmem: pages of segments mapped; RssAnon: its own)",
		      "MiB");
	table_row("VmRSS idle, just mounted", idle.rss / 1024.0, 1, "nullfs",
		  null_idle.rss / 1024.0);
	snprintf(label, sizeof(label), "VmHWM, %d listed + %d open", b->nsmall + 1, b->nopen);
	table_row(label, open_m.hwm / 1024.0, 2, "idle", idle.rss / 1024.0, "nullfs",
		  null_idle.rss / 1024.0);
	snprintf(label, sizeof(label), "VmRSS, %d listed + %d open", b->nsmall + 1, b->nopen);
	table_row(label, open_m.rss / 1024.0, 1, "idle", idle.rss / 1024.0);
	table_row("  of which RssAnon", open_m.anon / 1024.0, 1, "idle", idle.anon / 1024.0);
	table_row("  of which RssShmem", open_m.shmem / 1024.0, 0);
	snprintf(label, sizeof(label), "VmRSS after %ld + %ld operations", warm_ops, ops);
	table_row(label, after.rss / 1024.0, 2, "before", before.rss / 1024.0, "warm",
		  warm.rss / 1024.0);
	table_text("  growth over the last, KiB", (double)(after.rss - warm.rss),
		   "(RssAnon %lld -> %lld KiB; from before the first: %+lld KiB)", warm.anon,
		   after.anon, after.rss - before.rss);
	snprintf(label, sizeof(label), "idle CPU, %d segments, ms per s", b->nsmall + 1);
	table_text(label, cpu, "(over %.0f s; clock ticks of %.0f ms)", b->idle_s,
		   1000.0 / sysconf(_SC_CLK_TCK));
	table_row("VmHWM, the daemon of sections 1-4", main_d.hwm / 1024.0, 1, "idle",
		  idle.rss / 1024.0);
	table_row("  its RssAnon now", main_d.anon / 1024.0, 1, "idle", idle.anon / 1024.0);
}

/* ---- 6. investigations -------------------------------------------------------------- */

static double median_seq(struct bench *b, const struct target *t, size_t req, bool write)
{
	double v[MAX_RUNS];

	for (int r = 0; r < b->runs; r++)
		v[r] = seq_pass(t, req, write);
	return median(v, b->runs);
}

static void explore_requests(struct bench *b)
{
	static const size_t reqs[] = { 1 * MIB, 4 * MIB, 16 * MIB };
	double base[2][2];

	table_section("6a. bigger requests (max_pages as negotiated by libfuse)", "GB/s");
	for (int w = 0; w < 2; w++)
		for (int q = 0; q < 3; q++) {
			char label[64];
			double s = median_seq(b, &b->t_shmfs, reqs[q], w);
			double n = median_seq(b, &b->t_nullfs, reqs[q], w);

			b->nullfs_req[w][q] = n;
			if (q == 0) {
				base[w][0] = s;
				base[w][1] = n;
			}
			snprintf(label, sizeof(label), "%s, %zu MiB requests", w ? "write" : "read",
				 (size_t)(reqs[q] / MIB));
			table_row(label, s, 3, "nullfs", n, "shmfs-1M", base[w][0], "null-1M",
				  base[w][1]);
		}
}

static void explore_splice(struct bench *b)
{
	static const char *const opts[] = { "splice_write", "splice_write,splice_move",
					    "splice_read" };
	static const size_t reqs[] = { 1 * MIB, 128 * KIB };
	char dir[128];

	table_section("6b. splice in the minimal server (values: nullfs with the option)", "GB/s");
	snprintf(dir, sizeof(dir), "%s/nullfs-splice", b->top);
	make_dir(dir);
	for (int o = 0; o < 3; o++) {
		struct daemon d = { 0 };
		char file[160];
		struct target t;

		start_nullfs(b, &d, dir, b->size, opts[o]);
		snprintf(file, sizeof(file), "%s/data", dir);
		t = (struct target){ .name = opts[o], .path = file, .size = b->size };
		for (int q = 0; q < 2; q++)
			for (int w = 0; w < 2; w++) {
				char label[80];
				double with, without;

				/* splice_write concerns READ replies; splice_read WRITE data. */
				if ((o < 2) == w)
					continue;
				with = median_seq(b, &t, reqs[q], w);
				without = median_seq(b, &b->t_nullfs, reqs[q], w);
				snprintf(label, sizeof(label), "%s %s %s", opts[o],
					 w ? "write" : "read", q == 0 ? "1M" : "128K");
				table_row(label, with, 1, "plain", without);
			}
		stop_daemon(b, &d, "nullfs");
	}
	rmdir(dir);
}

/* With timeouts of 0 every name ls -l shows costs two LOOKUPs and a
 * GETATTR; readdirplus has already sent the attributes, so even a tiny
 * timeout lets the kernel answer from them. */
static void explore_timeouts(struct bench *b)
{
	static const char *const opts[] = { "attr_timeout=0", "attr_timeout=0.01", NULL };
	double ls[3], st[3];
	char dir[128], file[160], label[80];

	make_small_segments(b);
	snprintf(dir, sizeof(dir), "%s/shmfs-timeout", b->top);
	make_dir(dir);
	for (int i = 0; i < 3; i++) {
		struct daemon d = { 0 };

		if (!opts[i]) { /* the mount of sections 1-5, with shmfs's default */
			ls[i] = median_cold_ls_ms(b, b->shmfs_dir);
			st[i] = median_call_us(b, call_stat, (void *)b->shmfs_file, 1000000);
			continue;
		}
		start_shmfs(b, &d, dir, opts[i]);
		snprintf(file, sizeof(file), "%s/%d", dir, b->big_shmid);
		ls[i] = median_cold_ls_ms(b, dir);
		st[i] = median_call_us(b, call_stat, file, 1000000);
		stop_daemon(b, &d, "shmfs");
	}
	rmdir(dir);

	table_section("6c. entry and attribute timeouts (-o attr_timeout=T)",
		      "ms for ls, microseconds for stat");
	for (int i = 0; i < 3; i++) {
		const char *name = opts[i] ? opts[i] + 5 : "default";

		snprintf(label, sizeof(label), "%s: ls -l, %d segments", name, b->nsmall + 1);
		table_row(label, ls[i], i ? 1 : 0, "timeout=0", ls[0]);
		snprintf(label, sizeof(label), "%s: stat one segment", name);
		table_row(label, st[i], i ? 1 : 0, "timeout=0", st[0]);
	}
}

/* shmfs attaches a segment at each open.  Through the segment's file
 * (the default as root) a first pass costs no more than a second; through
 * the mapping (a daemon without CAP_SYS_ADMIN) it pays for the daemon's
 * page tables. */
static void explore_faults(struct bench *b)
{
	table_section("6d. first pass after open vs second pass on the same descriptor", "GB/s");
	for (int w = 0; w < 2; w++) {
		double v[2][2][MAX_RUNS];
		const struct target *t[] = { &b->t_shmfs, &b->t_nullfs };

		for (int r = 0; r < b->runs; r++)
			for (int i = 0; i < 2; i++) {
				v[i][0][r] = seq_pass(t[i], 1 * MIB, w);
				v[i][1][r] = seq_pass_again(t[i], 1 * MIB, w);
			}
		table_row(w ? "write 1 MiB, second pass" : "read 1 MiB, second pass",
			  median(v[0][1], b->runs), 3, "1st-pass", median(v[0][0], b->runs),
			  "nullfs-2nd", median(v[1][1], b->runs), "nullfs-1st",
			  median(v[1][0], b->runs));
	}
}

/* A global sysctl (not per namespace) raised for one investigation: put
 * back after it, and at exit if the bench dies meanwhile. */
struct raised_sysctl {
	const char *path;
	char saved[32]; /* "" when not raised */
};

static struct raised_sysctl max_pages_sysctl = { "/proc/sys/fs/fuse/max_pages_limit", "" };
static struct raised_sysctl pipe_max_sysctl = { "/proc/sys/fs/pipe-max-size", "" };

static void sysctl_restore(struct raised_sysctl *s)
{
	if (s->saved[0] && !write_sysctl(s->path, s->saved))
		note("could not restore %s to %s: %s", s->path, s->saved, strerror(errno));
	s->saved[0] = '\0';
}

static void sysctls_restore_at_exit(void)
{
	sysctl_restore(&max_pages_sysctl);
	sysctl_restore(&pipe_max_sysctl);
}

/* Set s to value, keeping what it was in was (size 32); false, with a
 * note, if that cannot be done. */
static bool sysctl_raise(struct raised_sysctl *s, const char *value, char *was)
{
	static bool registered;
	char old[32];

	if (!read_line(s->path, old, sizeof(old))) {
		note("no %s", s->path);
		return false;
	}
	if (!registered)
		registered = atexit(sysctls_restore_at_exit) == 0;
	if (!write_sysctl(s->path, value)) {
		note("cannot set %s: %s", s->path, strerror(errno));
		return false;
	}
	snprintf(s->saved, sizeof(s->saved), "%s", old);
	if (was)
		snprintf(was, 32, "%s", old);
	return true;
}

static void explore_rawfs(struct bench *b)
{
	static const size_t reqs[] = { 1 * MIB, 4 * MIB, 16 * MIB };
	unsigned int pages[2] = { 256, b->max_pages_limit };
	int npages = b->max_pages_limit && b->max_pages_limit != 256 ? 2 : 1;
	double raw256[2][3];
	char dir[128], file[160], title[128];

	if (!b->rawfs || access(b->rawfs, X_OK) != 0) {
		note("no %s next to this program: 6e skipped", RAWFS_NAME);
		return;
	}
	if (npages == 2) {
		char value[32];

		snprintf(value, sizeof(value), "%u", b->max_pages_limit);
		if (!sysctl_raise(&max_pages_sysctl, value, NULL)) {
			note("6e tries 256 pages only");
			npages = 1;
		}
	}
	snprintf(title, sizeof(title),
		 "6e. the minimal server without libfuse (rawfs), by pages per request%s",
		 npages == 2 ? " (max_pages_limit raised for it)" : "");
	table_section(title, "GB/s");
	snprintf(dir, sizeof(dir), "%s/rawfs", b->top);
	snprintf(file, sizeof(file), "%s/data", dir);
	make_dir(dir);
	for (int p = 0; p < npages; p++) {
		char pagestr[16], sizestr[32], threads[16];
		const char *argv[] = { b->rawfs, "-p",	  pagestr, "-s", sizestr,
				       "-t",	 threads, dir,	   NULL };
		struct target t = { .name = "rawfs", .path = file, .size = b->size };
		struct daemon d = { 0 };

		snprintf(pagestr, sizeof(pagestr), "%u", pages[p]);
		snprintf(sizestr, sizeof(sizestr), "%llu", (unsigned long long)b->size);
		snprintf(threads, sizeof(threads), "%d", b->ncpu);
		daemon_start(&d, dir, argv);
		for (int w = 0; w < 2; w++)
			for (int q = 0; q < 3; q++) {
				char label[80];
				double v = median_seq(b, &t, reqs[q], w);

				snprintf(label, sizeof(label), "rawfs %u pages, %s %zu MiB",
					 pages[p], w ? "write" : "read", (size_t)(reqs[q] / MIB));
				if (p == 0) {
					raw256[w][q] = v;
					table_row(label, v, 1, "nullfs", b->nullfs_req[w][q]);
				} else {
					table_row(label, v, 2, "raw-256", raw256[w][q], "nullfs",
						  b->nullfs_req[w][q]);
				}
			}
		stop_daemon(b, &d, "rawfs");
	}
	rmdir(dir);
	sysctl_restore(&max_pages_sysctl);
}

/* shmfs splices a read reply when header, data and a few spare pages fit
 * in one pipe; without CAP_SYS_RESOURCE a pipe grows to fs.pipe-max-size
 * at most (1 MiB by default), so 1 MiB replies are copied instead.  A
 * shmfs mounted while the limit is raised shows what splicing them gives. */
static void explore_pipe(struct bench *b)
{
	static const size_t reqs[] = { 1 * MIB, 128 * KIB };
	double v[2][3][MAX_RUNS];
	char value[32], was[32], dir[128], file[160], title[160];
	struct daemon d = { 0 };
	struct target t;

	if (!b->pipe_max_size)
		return;
	snprintf(value, sizeof(value), "%lu", b->pipe_max_size);
	if (!sysctl_raise(&pipe_max_sysctl, value, was)) {
		note("6f skipped");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/shmfs-pipe", b->top);
	make_dir(dir);
	start_shmfs(b, &d, dir, NULL);
	snprintf(file, sizeof(file), "%s/%d", dir, b->big_shmid);
	t = (struct target){ .name = "shmfs-pipe", .path = file, .size = b->size };
	for (int r = 0; r < b->runs; r++)
		for (int q = 0; q < 2; q++) {
			v[q][0][r] = seq_pass(&t, reqs[q], false);
			v[q][1][r] = seq_pass(&b->t_shmfs, reqs[q], false);
			v[q][2][r] = seq_pass(&b->t_nullfs, reqs[q], false);
		}
	stop_daemon(b, &d, "shmfs");
	rmdir(dir);
	/* only now: libfuse grows each thread's pipe when it first splices */
	sysctl_restore(&pipe_max_sysctl);
	snprintf(title, sizeof(title),
		 "6f. shmfs mounted while fs.pipe-max-size was %lu (else %s): bigger replies "
		 "spliced",
		 b->pipe_max_size, was);
	table_section(title, "GB/s");
	for (int q = 0; q < 2; q++)
		table_row(q == 0 ? "read, 1 MiB requests" : "read, 128 KiB requests",
			  median(v[q][0], b->runs), 2, "shmfs", median(v[q][1], b->runs), "nullfs",
			  median(v[q][2], b->runs));
}

static void section_explore(struct bench *b)
{
	note("6 investigations");
	explore_faults(b);
	explore_requests(b);
	explore_rawfs(b);
	explore_splice(b);
	explore_timeouts(b);
	explore_pipe(b);
}

int main(int argc, char *argv[])
{
	/* static: teardown_at_exit() may use it after main() returns */
	static struct bench b = { .big_shmid = -1, .big_semid = -1 };
	double start = now_s();

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(&b, argc, argv);
	if (geteuid() != 0) {
		note("needs root (it makes private IPC and mount namespaces); skipped");
		return SKIP_EXIT;
	}
	if (access("/dev/fuse", R_OK | W_OK) != 0) {
		note("no usable /dev/fuse; skipped");
		return SKIP_EXIT;
	}
	enter_namespaces(&b);
	at_exit_bench = &b;
	at_exit_pid = getpid();
	atexit(teardown_at_exit);
	fit_size(&b);
	setup(&b);
	print_header(&b);

	if (b.sections & (1u << 1))
		section_sequential(&b);
	if (b.sections & (1u << 2))
		section_random(&b);
	if (b.sections & (1u << 3))
		section_metadata(&b);
	if (b.sections & (1u << 4))
		section_lock(&b);
	if (b.sections & (1u << 5))
		section_memory(&b);
	if (b.sections & (1u << 6))
		section_explore(&b);
	if (b.sections & (1u << 7)) {
		struct scale_args sa = { .shmfs = b.shmfs,
					 .nullfs = b.nullfs,
					 .top = b.top,
					 .nsegments = b.nscale,
					 .nopen = b.nopen,
					 .runs = b.runs,
					 .call_s = b.call_s,
					 .idle_s = b.quick ? 2 : 10 };

		section_scale(&sa);
	}
	if (b.sections & (1u << 8)) {
		struct stall_env e = { .shmfs = b.shmfs,
				       .shmfs_opts = b.shmfs_opts,
				       .top = b.top,
				       .runs = b.runs,
				       .quick = b.quick,
				       .call_s = b.call_s };

		if (!section_stall(&e))
			b.broken = true;
	}

	if (b.sections & (1u << 9)) {
		struct pgbench_args pa = { .shmfs = b.shmfs,
					   .nullfs = b.nullfs,
					   .top = b.top,
					   .runs = b.runs,
					   .seconds = b.quick ? 2 : 4 };

		section_pgbench(&pa);
	}

	if (b.sections & (1u << 10)) {
		struct next_args na = { .shmfs = b.shmfs,
					.shmfs_opts = b.shmfs_opts,
					.top = b.top,
					.quick = b.quick,
					.idle_s = 5 };

		section_next(&na);
	}

	teardown(&b);
	table_print();
	printf("\n(%.0f s)\n", now_s() - start);
	return b.broken ? 1 : 0;
}
