/* pgbench.c - section 9 of shmfs-bench: a real program beside a reader.
 *
 * PostgreSQL 15 keeps its shared memory in one System V segment with
 * shared_memory_type=sysv.  Its pgbench throughput (select-only, for
 * seconds) is measured with nothing else running, while a tight loop
 * reads 4 KiB of that segment through the mount (one descriptor, pread
 * at offset 0 for ever), while the same loop reads a plain 4 KiB file,
 * and while it reads the 4 KiB file of nullfs, the smallest FUSE server
 * (what any FUSE server costs the database: the machine's FUSE limit):
 * the loop through shmfs should cost the database no more than the loop
 * over a plain file.  The four are interleaved, run by run, and each
 * ratio is the median of the runs' ratios.
 *
 * The cluster runs as the postgres user in a temporary directory, in an
 * IPC namespace of this section's own (shmfs mounted in it), killed with
 * us if we die.  Skipped, with a note, where PostgreSQL is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PG_SCALE   4 /* pgbench -i -s */
#define PG_CLIENTS "2"
#define PG_BUFFERS "64MB"

struct pg {
	const struct pgbench_args *a;
	char bindir[256];
	char dir[64]; /* the cluster's, owned by postgres */
	char data[128], sock[128], plain[128], mnt[160], null[160];
	struct passwd pw;
	char pwbuf[1024];
	pid_t postmaster;
	struct daemon shmfs, nullfs;
};

/* The newest PostgreSQL's bin directory; false if there is none. */
static bool find_bindir(struct pg *p)
{
	glob_t g;
	bool found = false;

	if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0 && g.gl_pathc) {
		/* glob sorts: the last is the newest (for one-digit-count versions) */
		snprintf(p->bindir, sizeof(p->bindir), "%s", g.gl_pathv[g.gl_pathc - 1]);
		*strrchr(p->bindir, '/') = '\0';
		found = true;
	}
	globfree(&g);
	return found;
}

/* In a child: become the postgres user, killed with signal sig if the
 * bench dies (set after the change of credentials, which clears it). */
static void become_postgres(struct pg *p, int sig)
{
	if (setgroups(0, NULL) != 0 || setresgid(p->pw.pw_gid, p->pw.pw_gid, p->pw.pw_gid) != 0 ||
	    setresuid(p->pw.pw_uid, p->pw.pw_uid, p->pw.pw_uid) != 0) {
		fprintf(stderr, "shmfs-bench: becoming postgres: %s\n", strerror(errno));
		_exit(127);
	}
	prctl(PR_SET_PDEATHSIG, sig);
}

static void quiet_output(const char *log)
{
	int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
}

/* Run a PostgreSQL program as postgres, wait; true if it exited 0. */
static bool run_pg(struct pg *p, const char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		become_postgres(p, SIGKILL);
		quiet_output(NULL);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void bin(struct pg *p, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", p->bindir, name);
}

static void start_postmaster(struct pg *p)
{
	char postgres[300], log[160];

	bin(p, "postgres", postgres, sizeof(postgres));
	snprintf(log, sizeof(log), "%s/log", p->dir);
	p->postmaster = fork();
	if (p->postmaster < 0)
		die("fork: %s", strerror(errno));
	if (p->postmaster == 0) {
		const char *argv[] = { postgres,
				       "-D",
				       p->data,
				       "-k",
				       p->sock,
				       "-c",
				       "listen_addresses=",
				       "-c",
				       "shared_memory_type=sysv",
				       "-c",
				       "shared_buffers=" PG_BUFFERS,
				       "-c",
				       "fsync=off",
				       "-c",
				       "synchronous_commit=off",
				       "-c",
				       "full_page_writes=off",
				       "-c",
				       "max_connections=20",
				       NULL };

		/* SIGQUIT: an immediate shutdown, children included */
		become_postgres(p, SIGQUIT);
		quiet_output(log);
		execv(postgres, (char *const *)argv);
		_exit(127);
	}
}

static void stop_postmaster(struct pg *p)
{
	if (p->postmaster <= 0)
		return;
	kill(p->postmaster, SIGINT); /* a fast shutdown */
	for (int i = 0; i < 3000; i++) {
		if (waitpid(p->postmaster, NULL, WNOHANG) == p->postmaster) {
			p->postmaster = 0;
			return;
		}
		usleep(10000);
	}
	kill(p->postmaster, SIGKILL);
	waitpid(p->postmaster, NULL, 0);
	p->postmaster = 0;
}

/* pgbench's tps (without the initial connection time); < 0 on failure. */
static double pgbench_tps(struct pg *p, double seconds)
{
	char pgbench[300], cmd[700], line[256];
	double tps = -1;
	FILE *f;

	bin(p, "pgbench", pgbench, sizeof(pgbench));
	snprintf(cmd, sizeof(cmd),
		 "'%s' -n -S -c " PG_CLIENTS " -j 1 -T %.0f -h '%s' -U postgres postgres 2>&1",
		 pgbench, seconds, p->sock);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "tps = ", 6) == 0)
			tps = strtod(line + 6, NULL);
	if (f)
		pclose(f);
	return tps;
}

/* The reader: 4 KiB at offset 0, for ever. */
static void read_loop(void *arg)
{
	char buf[4096];
	int fd = open(arg, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		_exit(1);
	for (;;)
		if (pread(fd, buf, sizeof(buf), 0) != sizeof(buf))
			_exit(1);
}

/* PostgreSQL's segment: the biggest in this namespace (its only one). */
static int pg_segment(void)
{
	FILE *f = fopen("/proc/sysvipc/shm", "re");
	char line[512];
	unsigned long long size, best_size = 0;
	int key, shmid, best = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %d %*o %llu", &key, &shmid, &size) == 3 && size > best_size) {
			best_size = size;
			best = shmid;
		}
	fclose(f);
	return best_size >= 4096 ? best : -1;
}

static bool setup_cluster(struct pg *p)
{
	char initdb[300], pgbench[300], psql[300], scale[16];
	struct passwd *res = NULL;

	if (getpwnam_r("postgres", &p->pw, p->pwbuf, sizeof(p->pwbuf), &res) != 0 || !res) {
		note("9: no postgres user: skipped");
		return false;
	}
	snprintf(p->dir, sizeof(p->dir), "/tmp/shmfs-bench-pg.XXXXXX");
	if (!mkdtemp(p->dir))
		die("mkdtemp: %s", strerror(errno));
	if (chown(p->dir, p->pw.pw_uid, p->pw.pw_gid) != 0)
		die("chown %s: %s", p->dir, strerror(errno));
	snprintf(p->data, sizeof(p->data), "%s/data", p->dir);
	snprintf(p->sock, sizeof(p->sock), "%s", p->dir);
	bin(p, "initdb", initdb, sizeof(initdb));
	{
		const char *argv[] = { initdb,	   "-D",	p->data,      "-A", "trust", "-U",
				       "postgres", "--no-sync", "--locale=C", "-E", "UTF8",  NULL };

		if (!run_pg(p, argv)) {
			note("9: initdb failed: skipped");
			return false;
		}
	}
	start_postmaster(p);
	bin(p, "psql", psql, sizeof(psql));
	for (int i = 0;; i++) {
		const char *argv[] = { psql, "-h",	 p->sock, "-U",	      "postgres",
				       "-d", "postgres", "-c",	  "select 1", NULL };

		if (run_pg(p, argv))
			break;
		if (i == 300) {
			note("9: PostgreSQL did not start (see %s/log): skipped", p->dir);
			return false;
		}
		usleep(100000);
	}
	bin(p, "pgbench", pgbench, sizeof(pgbench));
	snprintf(scale, sizeof(scale), "%d", PG_SCALE);
	{
		const char *argv[] = { pgbench, "-i", "-q",	  "-s",	      scale, "-h",
				       p->sock, "-U", "postgres", "postgres", NULL };

		if (!run_pg(p, argv)) {
			note("9: pgbench -i failed: skipped");
			return false;
		}
	}
	return true;
}

static void make_plain_file(struct pg *p)
{
	char page[4096];
	int fd;

	snprintf(p->plain, sizeof(p->plain), "%s/plain", p->dir);
	memset(page, 0x42, sizeof(page));
	fd = open(p->plain, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, page, sizeof(page)) != sizeof(page))
		die("creating %s: %s", p->plain, strerror(errno));
	close(fd);
}

/* The cases of a run, in the order of the table. */
enum {
	ALONE,
	SHMFS_LOOP,
	PLAIN_LOOP,
	NULLFS_LOOP,
	CASES
};

static void measure(struct pg *p)
{
	double tps[CASES][16], ratio[CASES][16];
	int runs = p->a->runs < 16 ? p->a->runs : 16;
	const char *paths[CASES] = { NULL, p->mnt, p->plain, p->null[0] ? p->null : NULL };
	int cases = paths[NULLFS_LOOP] ? CASES : NULLFS_LOOP;

	/* warm up: the first run of pgbench on a fresh cluster is slower */
	pgbench_tps(p, 1);
	for (int r = 0; r < runs; r++) {
		for (int k = 0; k < cases; k++) {
			int c = (k + r) % cases; /* rotate which goes first */
			pid_t pid = paths[c] ? child_start(read_loop, (void *)paths[c]) : 0;

			tps[c][r] = pgbench_tps(p, p->a->seconds);
			if (pid)
				child_stop(pid);
			if (tps[c][r] <= 0) {
				/* the rest of the table is still worth printing */
				note("9: pgbench failed: skipped");
				table_goal_note("pgbench tps, a loop reads 4 KiB of its segment "
						"through the mount",
						"not measured: pgbench failed");
				return;
			}
		}
		for (int c = SHMFS_LOOP; c < cases; c++)
			ratio[c][r] = tps[c][r] / tps[ALONE][r];
		progress("pgbench tps alone %.0f, shmfs loop %.0f, plain loop %.0f, nullfs loop "
			 "%.0f",
			 tps[ALONE][r], tps[SHMFS_LOOP][r], tps[PLAIN_LOOP][r],
			 cases > NULLFS_LOOP ? tps[NULLFS_LOOP][r] : -1);
	}
	table_section("9. PostgreSQL 15 pgbench -S, 2 clients, shared_memory_type=sysv",
		      "transactions/s");
	table_row("alone", median(tps[ALONE], runs), 0);
	if (cases > NULLFS_LOOP)
		table_row("a loop reads 4 KiB of its segment", median(tps[SHMFS_LOOP], runs), 3,
			  "alone", median(tps[ALONE], runs), "plain loop",
			  median(tps[PLAIN_LOOP], runs), "nullfs loop",
			  median(tps[NULLFS_LOOP], runs));
	else
		table_row("a loop reads 4 KiB of its segment", median(tps[SHMFS_LOOP], runs), 2,
			  "alone", median(tps[ALONE], runs), "plain loop",
			  median(tps[PLAIN_LOOP], runs));
	table_row("a loop reads a plain 4 KiB file", median(tps[PLAIN_LOOP], runs), 1, "alone",
		  median(tps[ALONE], runs));
	if (cases > NULLFS_LOOP)
		table_row("a loop reads 4 KiB of nullfs", median(tps[NULLFS_LOOP], runs), 1,
			  "alone", median(tps[ALONE], runs));
	table_goal("pgbench tps, a loop reads 4 KiB of its segment through the mount",
		   median(ratio[SHMFS_LOOP], runs), "no loop", '>',
		   median(ratio[PLAIN_LOOP], runs));
	table_goal("  (the same loop over a plain file: the target)",
		   median(ratio[PLAIN_LOOP], runs), "no loop", 0, 0);
	if (cases > NULLFS_LOOP)
		table_goal("  (the same loop over nullfs: any FUSE server)",
			   median(ratio[NULLFS_LOOP], runs), "no loop", 0, 0);
}

/* nullfs with one 4 KiB file, for the loop over any FUSE server; p->null
 * stays empty (the case left out) if it is not there. */
static void start_nullfs(struct pg *p)
{
	char dir[128];
	const char *argv[] = { p->a->nullfs, "-f", "-o", "size=4096", dir, NULL };

	if (!p->a->nullfs || access(p->a->nullfs, X_OK) != 0)
		return;
	snprintf(dir, sizeof(dir), "%s/nullfs-pg", p->a->top);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	daemon_start(&p->nullfs, dir, argv);
	snprintf(p->null, sizeof(p->null), "%s/data", dir);
}

static void stop_nullfs(struct pg *p)
{
	if (!p->null[0])
		return;
	daemon_stop(&p->nullfs);
	rmdir(p->nullfs.dir);
}

void section_pgbench(const struct pgbench_args *a)
{
	struct pg p = { .a = a };
	char mntdir[128];
	int saved_ns, shmid;

	note("9 PostgreSQL beside a reader");
	if (!find_bindir(&p)) {
		note("9: no PostgreSQL under /usr/lib/postgresql: skipped");
		table_goal_note("pgbench tps, a loop reads 4 KiB of its segment through the mount",
				"not measured: no PostgreSQL");
		return;
	}
	saved_ns = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	if (saved_ns < 0 || unshare(CLONE_NEWIPC) != 0)
		die("a new IPC namespace: %s", strerror(errno));
	if (setup_cluster(&p) && (shmid = pg_segment()) >= 0) {
		const char *argv[] = { a->shmfs, "-f", NULL, NULL };

		snprintf(mntdir, sizeof(mntdir), "%s/shmfs-pg", a->top);
		if (mkdir(mntdir, 0755) != 0 && errno != EEXIST)
			die("mkdir %s: %s", mntdir, strerror(errno));
		argv[2] = mntdir;
		daemon_start(&p.shmfs, mntdir, argv);
		snprintf(p.mnt, sizeof(p.mnt), "%s/%d", mntdir, shmid);
		make_plain_file(&p);
		start_nullfs(&p);
		measure(&p);
		stop_nullfs(&p);
		daemon_stop(&p.shmfs);
		rmdir(mntdir);
	} else if (p.postmaster > 0) {
		note("9: no System V segment of PostgreSQL's: skipped");
	}
	stop_postmaster(&p);
	if (p.dir[0]) {
		const char *rm[] = { "rm", "-rf", p.dir, NULL };

		run_quiet(rm);
	}
	if (setns(saved_ns, CLONE_NEWIPC) != 0)
		die("back to the bench's IPC namespace: %s", strerror(errno));
	close(saved_ns);
}
