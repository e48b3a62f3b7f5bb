/* procs_cost.c - what <shmid>.procs costs with 1,000 processes and 4,000
 * segments (issue 14).
 *
 *   build/bench/shmfs-bench-procs [-p PROCS] [-s SEGMENTS] [-r RUNS] [build/shmfs]
 *
 * In a private IPC and mount namespace: SEGMENTS segments of one page,
 * PROCS processes, process i attached to segments 4i..4i+3 (each segment
 * has one attacher) and all of them to one more segment (PROCS
 * attachers).  Then, each the median of RUNS:
 *   - procs_render() in this process (the scan alone, no FUSE), as root,
 *     for a segment with one attacher, for the one with all of them, for
 *     an unattached one, and as uid 65534 (who may see none of them);
 *   - the floor: reading every /proc/PID/maps once, which any answer to
 *     "who has it attached" must do (the kernel keeps no reverse map);
 *   - what people use today: grep over /proc/[0-9]*\/maps, and lsof;
 *   - with a shmfs binary: cat of <shmid>.procs through the mount (one
 *     attacher; all), as root and as uid 65534, beside cat of the sidecar
 *     of the same segment.
 * Nothing is asserted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "procs.h"

static int nprocs = 1000, nsegs = 4000, runs = 7;
static int *ids, common;
static pid_t *children;

static void attacher(int i)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int k = 0; k < 4; k++)
		if (4 * i + k < nsegs && shmat(ids[4 * i + k], NULL, SHM_RDONLY) == (void *)-1)
			_exit(1);
	if (shmat(common, NULL, SHM_RDONLY) == (void *)-1)
		_exit(1);
	for (;;)
		pause();
}

static double time_render(int shmid, uid_t uid, size_t *lines)
{
	struct procs_caller caller = { .uid = uid, .gid = uid, .pid = uid ? 0 : getpid() };
	double v[64];
	struct shmid_ds ds;

	if (shmctl(shmid, IPC_STAT, &ds) != 0)
		die("IPC_STAT %d: %s", shmid, strerror(errno));
	for (int r = 0; r < runs; r++) {
		char *text;
		size_t len;
		double t0 = now_s();
		int ret = procs_render(shmid, ds.shm_nattch, &caller, &text, &len);

		v[r] = (now_s() - t0) * 1e3;
		if (ret)
			die("procs_render: %s", strerror(-ret));
		*lines = 0;
		for (size_t i = 0; i < len; i++)
			*lines += text[i] == '\n';
		free(text);
	}
	return median(v, runs);
}

/* Read every /proc/PID/maps once: the least any answer costs. */
static double time_floor(void)
{
	static char buf[1 << 16];
	double v[64];

	for (int r = 0; r < runs; r++) {
		double t0 = now_s();
		DIR *d = opendir("/proc");
		struct dirent *e;

		while ((e = readdir(d)) != NULL) {
			char path[300];
			int fd;

			if (e->d_name[0] < '0' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/maps", e->d_name);
			fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			close(fd);
		}
		closedir(d);
		v[r] = (now_s() - t0) * 1e3;
	}
	return median(v, runs);
}

static double time_command(const char *const argv[])
{
	double v[64];

	for (int r = 0; r < runs; r++) {
		v[r] = run_quiet(argv) * 1e3;
		if (v[r] < 0)
			return -1;
	}
	return median(v, runs);
}

static void row(const char *label, double ms, double base, const char *base_name)
{
	if (ms < 0) {
		printf("  %-52s %9s\n", label, "n/a");
		return;
	}
	if (base > 0)
		printf("  %-52s %9.2f ms  (%.2fx %s)\n", label, ms, ms / base, base_name);
	else
		printf("  %-52s %9.2f ms\n", label, ms);
}

int main(int argc, char **argv)
{
	const char *shmfs = NULL;
	size_t lines_one = 0, lines_all = 0, lines_none = 0, lines_nobody = 0;
	double floor_ms, one, all, none, nobody;
	char cmd[512], mnt[] = "/tmp/shmfs-procs.XXXXXX";
	int opt;

	while ((opt = getopt(argc, argv, "p:s:r:")) != -1) {
		switch (opt) {
		case 'p':
			nprocs = atoi(optarg);
			break;
		case 's':
			nsegs = atoi(optarg);
			break;
		case 'r':
			runs = atoi(optarg);
			if (runs < 1 || runs > 64)
				die("-r: 1 to 64");
			break;
		default:
			fprintf(stderr, "usage: %s [-p PROCS] [-s SEGMENTS] [-r RUNS] [SHMFS]\n",
				argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		shmfs = argv[optind];
	if (geteuid() != 0) {
		fprintf(stderr, "run as root\n");
		return 77;
	}
	if (unshare(CLONE_NEWIPC | CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die("unshare: %s", strerror(errno));
	write_sysctl("/proc/sys/kernel/shmmni", "32768");
	ids = calloc((size_t)nsegs, sizeof(*ids));
	children = calloc((size_t)nprocs, sizeof(*children));
	for (int i = 0; i < nsegs; i++) {
		ids[i] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0644);
		if (ids[i] < 0)
			die("shmget: %s", strerror(errno));
	}
	common = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0644);
	for (int i = 0; i < nprocs; i++) {
		children[i] = fork();
		if (children[i] < 0)
			die("fork: %s", strerror(errno));
		if (children[i] == 0)
			attacher(i);
	}
	for (;;) {
		struct shmid_ds ds;

		if (shmctl(common, IPC_STAT, &ds) == 0 && ds.shm_nattch == (shmatt_t)nprocs)
			break;
		usleep(10000);
	}

	printf("<shmid>.procs with %d processes attached to %d segments (4 each, and all to "
	       "one more); median of %d\n",
	       nprocs, nsegs + 1, runs);
	floor_ms = time_floor();
	one = time_render(ids[0], 0, &lines_one);
	all = time_render(common, 0, &lines_all);
	none = time_render(ids[nsegs - 1] + 0, 0, &lines_none);
	nobody = time_render(common, 65534, &lines_nobody);
	row("read every /proc/PID/maps once (the floor)", floor_ms, 0, "");
	row("procs_render, 1 attacher (root)", one, floor_ms, "floor");
	row("procs_render, all attached (root)", all, floor_ms, "floor");
	row("procs_render as uid 65534 (sees none)", nobody, floor_ms, "floor");
	{
		int idle = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0644);

		none = time_render(idle, 0, &lines_none);
		row("procs_render, unattached (nattch 0: no scan)", none, floor_ms, "floor");
		shmctl(idle, IPC_RMID, NULL);
	}
	printf("    (lines: %zu, %zu, %zu, %zu with the header)\n", lines_one, lines_all,
	       lines_nobody, lines_none);

	/* the line of an attach of ids[0], in any process whose maps we may read */
	snprintf(cmd, sizeof(cmd), "grep -ls ' %d  *\\/SYSV' /proc/[0-9]*/maps; exit 0", ids[0]);
	const char *grep_argv[] = { "sh", "-c", cmd, NULL };
	double grep_ms = time_command(grep_argv);
	row("grep over /proc/[0-9]*/maps (today's way)", grep_ms, floor_ms, "floor");
	const char *lsof_argv[] = { "lsof", "-n", "-w", NULL };
	double lsof_ms = time_command(lsof_argv);
	row("lsof -n (today's other way: everything)", lsof_ms, floor_ms, "floor");

	if (shmfs) {
		struct daemon d;
		char path[256], stat_path[256];

		if (!mkdtemp(mnt))
			die("mkdtemp: %s", strerror(errno));
		const char *dargv[] = { shmfs, "-f", "-o", "allow_other", mnt, NULL };
		daemon_start(&d, mnt, dargv);
		snprintf(path, sizeof(path), "%s/%d.procs", mnt, ids[0]);
		snprintf(stat_path, sizeof(stat_path), "%s/%d.stat", mnt, ids[0]);
		const char *cat_stat[] = { "cat", stat_path, NULL };
		double stat_ms = time_command(cat_stat);
		row("cat <shmid>.stat (for scale)", stat_ms, floor_ms, "floor");
		const char *cat_one[] = { "cat", path, NULL };
		double cat_one_ms = time_command(cat_one);
		row("cat <shmid>.procs, 1 attacher (root)", cat_one_ms, grep_ms, "grep");
		char path_all[256];
		snprintf(path_all, sizeof(path_all), "%s/%d.procs", mnt, common);
		const char *cat_all[] = { "cat", path_all, NULL };
		row("cat <shmid>.procs, all attached (root)", time_command(cat_all), grep_ms,
		    "grep");
		const char *cat_nobody[] = { "setpriv",
					     "--reuid=65534",
					     "--regid=65534",
					     "--clear-groups",
					     "cat",
					     path_all,
					     NULL };
		row("cat <shmid>.procs as uid 65534", time_command(cat_nobody), grep_ms, "grep");
		const char *ls_argv[] = { "ls", "-l", mnt, NULL };
		row("ls -l of the mount (no .procs is listed)", time_command(ls_argv), 0, "");
		daemon_stop(&d);
		rmdir(mnt);
	}
	for (int i = 0; i < nprocs; i++)
		kill(children[i], SIGKILL);
	for (int i = 0; i < nprocs; i++)
		waitpid(children[i], NULL, 0);
	return 0;
}
