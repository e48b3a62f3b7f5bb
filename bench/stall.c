/* stall.c - section 8: what one user's parked waits cost another user.
 *
 * A root allow_other mount, as a machine would have.  The attackers are
 * unprivileged: uid 65534 holds the ShareLite lock of its own segment and
 * keeps 100 reads of it waiting for that lock; it and three more uids
 * (65532, 65531, 65530: the default budget is 256 waits per user, so four
 * users are needed for 1,000) keep 250 reads of their own segments' .next
 * files waiting each.  Meanwhile uid 65533, the victim, times ls -l, stat,
 * cat and a creation through by-key/.  Each pass measures the victim with
 * no attacker, then with the attack parked, and gives the ratio; the
 * figure is the median ratio.
 *
 * Then the daemon's memory under each attack that fills a budget, each on
 * a fresh mount: lock waits, .next waiters, max_pending, open directory
 * handles.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define VICTIM	      65533
#define LOCK_ATTACKER 65534
#define LOCK_WAITS    100
#define NEXT_WAITS    1000
#define NEXT_PER_UID  250	 /* under the default budget of 256 */
#define BUDGET	      256	 /* the default -o max_waits */
#define ATTACK_KEY    0x5354a000 /* "ST" + index */
#define VICTIM_KEY    0x5354b000 /* + a counter: the victim's creations */
#define DIR_KEY	      0x5354c000 /* + index: segments for the directory handles */
#define WAITER_STACK  (64 * 1024)
#define PARK_LOOKS    2000 /* 10 ms each */
#define MAX_PASSES    15
#define PENDING_CHUNK (1 * MIB)
#define NOPS	      4

static const uid_t next_uids[] = { 65534, 65532, 65531, 65530 };

/* ---- users --------------------------------------------------------------- */

static void become(uid_t uid)
{
	if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
	    setresuid(uid, uid, uid) != 0)
		_exit(120);
}

/* A segment of key made by uid (mode 0644), with its ShareLite set if
 * sharelite (3 semaphores, semaphore 0 marked 1), as that user's program
 * would make them.  Returns the shmid. */
static int segment_as(uid_t uid, int key, size_t size, bool sharelite, int *semid)
{
	pid_t pid = fork();
	int status, id;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int s;

		become(uid);
		if (shmget(key, size, IPC_CREAT | IPC_EXCL | 0644) < 0)
			_exit(1);
		if (!sharelite)
			_exit(0);
		/* the shmfs protocol's set, marked (examples/shmlock.h) */
		s = semget(key, 5, IPC_CREAT | IPC_EXCL | 0600);
		_exit(s >= 0 && semctl(s, 0, SETALL,
				       (unsigned short[]){ 1, 0, 0, 0x5348, 0x464d }) == 0
			      ? 0
			      : 2);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("making segment 0x%x as uid %u (status 0x%x)", key, uid, status);
	id = shmget(key, 0, 0);
	if (semid)
		*semid = sharelite ? semget(key, 0, 0) : -1;
	if (id < 0 || (sharelite && *semid < 0))
		die("segment 0x%x: %s", key, strerror(errno));
	return id;
}

/* A child as uid holding the locks of n sets exclusively until killed. */
static pid_t hold_locks(uid_t uid, const int *semids, int n)
{
	struct sembuf ex[] = { { 1, 0, 0 }, { 2, 0, 0 }, { 2, 1, SEM_UNDO } };
	int ready[2];
	pid_t pid;
	char c;

	if (pipe(ready) != 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		become(uid);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* after: a new uid clears it */
		for (int i = 0; i < n; i++)
			if (semop(semids[i], ex, 3) != 0)
				_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (read(ready[0], &c, 1) != 1)
		die("the lock holder did not take the lock");
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static pid_t hold_lock(uid_t uid, int semid)
{
	return hold_locks(uid, &semid, 1);
}

/* ---- crowds of waiters ------------------------------------------------------ */

/* What each waiter of a crowd does: one call through the mount that is
 * expected to wait, then the thread ends (its process lives on). */
enum wait_kind {
	WAIT_READ,    /* pread 4 KiB */
	WAIT_WRITE,   /* pwrite 1 MiB: the most a parked write keeps */
	WAIT_OPENDIR, /* hold an open directory handle (no wait) */
	WAIT_PENDING, /* write a by-key/ name until EFBIG, hold it open */
};

struct crowd {
	enum wait_kind kind;
	const char *path;
	int index;
	char *buf;
	volatile int *failed; /* shared with the parent: calls answered with an error */
	volatile int *last_errno;
};

static void *waiter_main(void *arg)
{
	struct crowd *c = arg;
	int fd = open(c->path, c->kind == WAIT_WRITE ? O_WRONLY : O_RDONLY);
	ssize_t n;

	if (fd < 0)
		goto failed;
	if (c->kind == WAIT_WRITE)
		n = pwrite(fd, c->buf, 1 * MIB, 0);
	else
		n = pread(fd, c->buf + (size_t)c->index * 4096 % (1 * MIB), 4096, 0);
	if (n < 0)
		goto failed;
	return NULL;
failed:
	*c->last_errno = errno;
	__atomic_add_fetch(c->failed, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* A child as uid with n threads, each doing one waiting call on path (or
 * on paths[i] if paths is given); it lives until killed.  fails counts
 * the calls that got an error. */
static pid_t crowd_start(uid_t uid, enum wait_kind kind, const char *path, const char *const *paths,
			 int n, volatile int *fails)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		struct crowd *c = calloc(n, sizeof(*c));
		char *buf = malloc(1 * MIB);
		pthread_attr_t attr;
		pthread_t t;

		become(uid);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* after: a new uid clears it */
		if (!c || !buf)
			_exit(121);
		memset(buf, 'a', 1 * MIB);
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, WAITER_STACK);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		for (int i = 0; i < n; i++) {
			c[i] = (struct crowd){ .kind = kind,
					       .path = paths ? paths[i] : path,
					       .index = i,
					       .buf = buf,
					       .failed = fails,
					       .last_errno = fails + 1 };
			if (pthread_create(&t, &attr, waiter_main, &c[i]) != 0)
				_exit(122);
		}
		for (;;)
			pause();
	}
	return pid;
}

/* How many threads of pid wait in a FUSE request. */
static int waiting_in_fuse(pid_t pid)
{
	char path[320], wchan[64];
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/wchan", pid, e->d_name);
		if (read_line(path, wchan, sizeof(wchan)) &&
		    (strstr(wchan, "request_wait_answer") || strstr(wchan, "fuse")))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* Wait until want threads of the crowds wait in the mount, or some
 * failed; returns how many wait. */
static int await_parked(const pid_t *pids, int npids, int want, volatile int *fails)
{
	int n = 0;

	for (int look = 0; look < PARK_LOOKS; look++) {
		n = 0;
		for (int i = 0; i < npids; i++)
			n += waiting_in_fuse(pids[i]);
		if (n >= want || n + *fails >= want)
			break;
		usleep(10000);
	}
	return n;
}

static void crowds_stop(pid_t *pids, int npids)
{
	for (int i = 0; i < npids; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (int i = 0; i < npids; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
}

/* ---- the victim ----------------------------------------------------------------- */

struct victim {
	const char *dir;
	char seg_path[160];
	int create_n;
};

/* What ls -l does: list, then lstat every name. */
static bool op_ls(void *arg)
{
	struct victim *v = arg;
	DIR *d = opendir(v->dir);
	struct stat st;
	bool ok = d != NULL;

	for (struct dirent *e; d && (e = readdir(d));)
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT)
			ok = false;
	if (d)
		closedir(d);
	return ok;
}

static bool op_stat(void *arg)
{
	struct victim *v = arg;
	struct stat st;

	return stat(v->seg_path, &st) == 0;
}

static bool op_cat(void *arg)
{
	struct victim *v = arg;
	char buf[8192];
	int fd = open(v->seg_path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n == 0;
}

/* echo ... > by-key/KEY, then ipcrm of what it made (the segment and
 * its ShareLite set), as the victim can. */
static bool op_create(void *arg)
{
	struct victim *v = arg;
	int key = VICTIM_KEY + v->create_n++ % 4096, fd, id, semid;
	char path[200];
	bool ok;

	snprintf(path, sizeof(path), "%s/by-key/0x%08x", v->dir, key);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return false;
	ok = write(fd, "victim\n", 7) == 7;
	ok = close(fd) == 0 && ok;
	id = shmget(key, 0, 0);
	semid = semget(key, 0, 0);
	if (id < 0 || shmctl(id, IPC_RMID, NULL) != 0)
		ok = false;
	if (semid >= 0)
		semctl(semid, 0, IPC_RMID);
	return ok;
}

static const char *const op_names[NOPS] = { "ls -l", "stat", "cat", "create in by-key/" };
static bool (*const ops[NOPS])(void *) = { op_ls, op_stat, op_cat, op_create };

/* The victim's microseconds per call of each op, as uid VICTIM. */
static void victim_measure(const char *dir, int seg, double seconds, double us[NOPS])
{
	double *shared =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int status;

	if (shared == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		struct victim v = { .dir = dir };

		become(VICTIM);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* after: a new uid clears it */
		snprintf(v.seg_path, sizeof(v.seg_path), "%s/%d", dir, seg);
		for (int i = 0; i < NOPS; i++)
			shared[i] = per_call_us(ops[i], &v, seconds, 5, 1000000);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the victim's calls failed (status 0x%x)", status);
	memcpy(us, shared, NOPS * sizeof(*us));
	munmap(shared, 4096);
}

/* ---- the daemon -------------------------------------------------------------------- */

static void mount_shmfs(struct daemon *d, const struct stall_env *e, const char *dir,
			const char *opt)
{
	char opts[256];
	const char *argv[] = { e->shmfs, "-f", "-o", opts, dir, NULL };

	snprintf(opts, sizeof(opts), "allow_other,lock_timeout=3600%s%s%s", opt ? "," : "",
		 opt ? opt : "", e->shmfs_opts ? "," : "");
	if (e->shmfs_opts)
		strncat(opts, e->shmfs_opts, sizeof(opts) - strlen(opts) - 1);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("mkdir %s: %s", dir, strerror(errno));
	daemon_start(d, dir, argv);
}

static void unmount_shmfs(struct daemon *d, bool *broken)
{
	int status = daemon_stop(d);

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		note("shmfs (section 8) did not exit cleanly (wait status 0x%x)", status);
		*broken = true;
	}
	rmdir(d->dir);
}

struct mem {
	long long rss, hwm, threads;
	double cpu_ms_per_s;
};

static long long proc_field(pid_t pid, const char *field)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	return status_kib(path, field);
}

static double cpu_s(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long long utime, stime;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!read_line(path, line, sizeof(line)) || !(p = strrchr(line, ')')))
		return -1;
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
		   &stime) != 2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The daemon's memory now, and its CPU over the next second. */
static struct mem daemon_mem(pid_t pid)
{
	struct mem m;
	double before = cpu_s(pid);

	usleep(1000000);
	m.cpu_ms_per_s = (cpu_s(pid) - before) * 1000;
	m.rss = proc_field(pid, "VmRSS");
	m.hwm = proc_field(pid, "VmHWM");
	m.threads = proc_field(pid, "Threads");
	return m;
}

/* ---- 7a: the victim under the stall ------------------------------------------------- */

struct attack {
	pid_t holder;
	pid_t pids[1 + sizeof(next_uids) / sizeof(next_uids[0])];
	int npids, parked;
};

static void attack_start(struct attack *a, const char *dir, int lock_seg, int lock_semid,
			 const int *next_segs, volatile int *fails)
{
	char lock_path[160];
	static char next_paths[4][160];
	int nuids = (int)(sizeof(next_uids) / sizeof(next_uids[0]));

	a->holder = hold_lock(LOCK_ATTACKER, lock_semid);
	snprintf(lock_path, sizeof(lock_path), "%s/%d", dir, lock_seg);
	a->npids = 0;
	a->pids[a->npids++] =
		crowd_start(LOCK_ATTACKER, WAIT_READ, lock_path, NULL, LOCK_WAITS, fails);
	for (int u = 0; u < nuids; u++) {
		snprintf(next_paths[u], sizeof(next_paths[u]), "%s/%d.next", dir, next_segs[u]);
		a->pids[a->npids++] = crowd_start(next_uids[u], WAIT_READ, next_paths[u], NULL,
						  NEXT_PER_UID, fails);
	}
	a->parked = await_parked(a->pids, a->npids, LOCK_WAITS + NEXT_WAITS, fails);
}

static void attack_stop(struct attack *a)
{
	crowds_stop(a->pids, a->npids);
	crowds_stop(&a->holder, 1);
}

static void stall_victim(const struct stall_env *e, const char *top, bool *broken)
{
	int nuids = (int)(sizeof(next_uids) / sizeof(next_uids[0]));
	int passes = e->runs < MAX_PASSES ? e->runs : MAX_PASSES;
	double quiet[MAX_PASSES][NOPS], loud[MAX_PASSES][NOPS], ratio[NOPS][MAX_PASSES];
	double qmed[NOPS][MAX_PASSES], lmed[NOPS][MAX_PASSES];
	int lock_semid, lock_seg, next_segs[4], victim_seg, min_parked = 1 << 30;
	volatile int *fails =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct mem busy = { 0 };
	struct daemon d = { 0 };
	char dir[128], label[96];
	int entries = 0;

	if (fails == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	snprintf(dir, sizeof(dir), "%s/shmfs-stall", top);
	/* every stat and lookup a round trip to the daemon */
	mount_shmfs(&d, e, dir, "attr_timeout=0");
	lock_seg = segment_as(LOCK_ATTACKER, ATTACK_KEY, 4096, true, &lock_semid);
	for (int u = 0; u < nuids; u++)
		next_segs[u] = segment_as(next_uids[u], ATTACK_KEY + 1 + u, 4096, false, NULL);
	victim_seg = segment_as(VICTIM, ATTACK_KEY + 16, 4096, false, NULL);
	{
		DIR *dd = opendir(dir);

		for (struct dirent *de; dd && (de = readdir(dd));)
			entries++;
		if (dd)
			closedir(dd);
	}

	for (int p = 0; p < passes; p++) {
		struct attack a;

		victim_measure(dir, victim_seg, e->call_s, quiet[p]);
		fails[0] = 0;
		attack_start(&a, dir, lock_seg, lock_semid, next_segs, fails);
		victim_measure(dir, victim_seg, e->call_s, loud[p]);
		/* still parked after the victim's calls? */
		a.parked = await_parked(a.pids, a.npids, LOCK_WAITS + NEXT_WAITS, fails);
		if (a.parked < min_parked)
			min_parked = a.parked;
		if (p == 0)
			busy = daemon_mem(d.pid);
		attack_stop(&a);
		for (int i = 0; i < NOPS; i++) {
			ratio[i][p] = loud[p][i] / quiet[p][i];
			qmed[i][p] = quiet[p][i];
			lmed[i][p] = loud[p][i];
		}
		progress("stall pass %d: %d parked, %d failed (errno %d); ls %.0f/%.0f us", p,
			 a.parked, fails[0], fails[1], loud[p][0], quiet[p][0]);
	}
	if (fails[0])
		note("section 7: %d attacker calls failed (last errno %d)", fails[0], fails[1]);

	snprintf(label, sizeof(label),
		 "8a. uid %d beside %d lock waits + %d .next reads parked (%d seen)", VICTIM,
		 LOCK_WAITS, NEXT_WAITS, min_parked);
	table_section(label, "microseconds per call; ratio: median of the passes' ratios");
	for (int i = 0; i < NOPS; i++) {
		double r = median(ratio[i], passes), q = median(qmed[i], passes);

		if (i == 0)
			snprintf(label, sizeof(label), "%s (%d entries)", op_names[i], entries);
		else
			snprintf(label, sizeof(label), "%s", op_names[i]);
		table_text(label, median(lmed[i], passes), "quiet %.1f  ratio %.2fx", q, r);
	}
	table_text("daemon under it: threads", (double)busy.threads,
		   "VmRSS %.1f MiB, VmHWM %.1f MiB, CPU %.0f ms/s", busy.rss / 1024.0,
		   busy.hwm / 1024.0, busy.cpu_ms_per_s);

	unmount_shmfs(&d, broken);
	shmctl(lock_seg, IPC_RMID, NULL);
	semctl(lock_semid, 0, IPC_RMID);
	for (int u = 0; u < nuids; u++)
		shmctl(next_segs[u], IPC_RMID, NULL);
	shmctl(victim_seg, IPC_RMID, NULL);
	munmap((void *)fails, 4096);
}

/* ---- 7b: memory under budget-filling attacks ----------------------------------------- */

/* As uid: open by-key/ names and write them until EFBIG (max_pending
 * filled), holding every name open; then pause until killed.  The first
 * int of shared is set to how many bytes were written, the second to
 * the errno that stopped it. */
static pid_t fill_pending(const char *dir, volatile long long *shared)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char *buf = malloc(PENDING_CHUNK), path[200];

		become(LOCK_ATTACKER);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* after: a new uid clears it */
		if (!buf)
			_exit(1);
		memset(buf, 'p', PENDING_CHUNK);
		for (int k = 0; k < 64; k++) {
			int fd;

			snprintf(path, sizeof(path), "%s/by-key/0x%08x", dir,
				 ATTACK_KEY + 0x100 + k);
			fd = open(path, O_WRONLY | O_CREAT, 0600);
			if (fd < 0) {
				shared[1] = errno;
				break;
			}
			for (int i = 0; i < 16; i++) {
				ssize_t n = write(fd, buf, PENDING_CHUNK);

				if (n < 0) {
					shared[1] = errno;
					goto done;
				}
				shared[0] += n;
			}
		}
	done:
		shared[2] = 1;
		for (;;)
			pause();
	}
	return pid;
}

static void remove_keys(int first, int n)
{
	for (int k = first; k < first + n; k++) {
		int id = shmget(k, 0, 0), semid = semget(k, 0, 0);

		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
		if (semid >= 0)
			semctl(semid, 0, IPC_RMID);
	}
}

enum budget_attack {
	ATT_LOCK_READS,
	ATT_LOCK_WRITES,
	ATT_MANY_SETS,
	ATT_NEXT,
	ATT_PENDING,
	ATT_DIRS,
	ATT_N,
};

static void stall_memory(const struct stall_env *e, const char *top, bool *broken)
{
	static const char *const names[ATT_N] = {
		"lock waits: 256 reads",
		"lock waits: 256 writes of 1 MiB",
		"lock waits: 1 on each of 256 sets",
		".next reads: 256",
		"max_pending: 256 MiB in by-key/",
		"open directory handles",
	};
	int ndirs = e->quick ? 500 : 2000, nsegs = e->quick ? 1000 : 2000;
	volatile long long *shared =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static char many_paths[BUDGET + 1][160];
	static const char *many_ptrs[BUDGET + 1];
	static int many_ids[BUDGET + 1], many_semids[BUDGET + 1];
	char dir[128], path[160], label[96], extra[96];
	int semid, seg, *dsegs;

	if (shared == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	dsegs = calloc(nsegs, sizeof(*dsegs));
	if (!dsegs)
		die("out of memory");
	table_section(
		"8b. the daemon under one user's attack that fills a budget (fresh mount each)",
		"MiB: VmRSS under attack; idle: the same daemon before");
	for (int a = 0; a < ATT_N; a++) {
		struct daemon d = { 0 };
		struct mem idle, under;
		pid_t pids[1] = { 0 }, holder = 0;
		int parked = 0;

		memset((void *)shared, 0, 4096);
		snprintf(dir, sizeof(dir), "%s/shmfs-budget", top);
		mount_shmfs(&d, e, dir, NULL);
		/* 1 MiB: a write of it all is no extending write, which the
		 * kernel would let through one at a time */
		seg = segment_as(LOCK_ATTACKER, ATTACK_KEY + 0x40, 1 * MIB, true, &semid);
		if (a == ATT_DIRS)
			for (int i = 0; i < nsegs; i++)
				if ((dsegs[i] = shmget(DIR_KEY + i, 4096, IPC_CREAT | 0644)) < 0)
					die("shmget: %s", strerror(errno));
		usleep(100000);
		idle = daemon_mem(d.pid);
		extra[0] = '\0';
		switch (a) {
		case ATT_LOCK_READS:
		case ATT_LOCK_WRITES:
			holder = hold_lock(LOCK_ATTACKER, semid);
			snprintf(path, sizeof(path), "%s/%d", dir, seg);
			/* one more than the budget: it must get ENOLCK */
			pids[0] = crowd_start(LOCK_ATTACKER,
					      a == ATT_LOCK_READS ? WAIT_READ : WAIT_WRITE, path,
					      NULL, BUDGET + 1, (volatile int *)shared);
			parked = await_parked(pids, 1, BUDGET + 1, (volatile int *)shared);
			/* the one past the budget may still be on its way */
			for (int i = 0; i < 500 && !((volatile int *)shared)[0]; i++)
				usleep(10000);
			parked = waiting_in_fuse(pids[0]);
			snprintf(extra, sizeof(extra), "%d parked, %d refused (errno %d)", parked,
				 ((volatile int *)shared)[0], ((volatile int *)shared)[1]);
			break;
		case ATT_MANY_SETS:
			for (int i = 0; i <= BUDGET; i++) {
				many_ids[i] = segment_as(LOCK_ATTACKER, ATTACK_KEY + 0x200 + i,
							 4096, true, &many_semids[i]);
				snprintf(many_paths[i], sizeof(many_paths[i]), "%s/%d", dir,
					 many_ids[i]);
				many_ptrs[i] = many_paths[i];
			}
			holder = hold_locks(LOCK_ATTACKER, many_semids, BUDGET + 1);
			pids[0] = crowd_start(LOCK_ATTACKER, WAIT_READ, NULL, many_ptrs, BUDGET + 1,
					      (volatile int *)shared);
			parked = await_parked(pids, 1, BUDGET + 1, (volatile int *)shared);
			for (int i = 0; i < 500 && !((volatile int *)shared)[0]; i++)
				usleep(10000);
			parked = waiting_in_fuse(pids[0]);
			snprintf(extra, sizeof(extra), "%d parked, %d refused (errno %d)", parked,
				 ((volatile int *)shared)[0], ((volatile int *)shared)[1]);
			break;
		case ATT_NEXT:
			snprintf(path, sizeof(path), "%s/%d.next", dir, seg);
			pids[0] = crowd_start(LOCK_ATTACKER, WAIT_READ, path, NULL, BUDGET + 1,
					      (volatile int *)shared);
			parked = await_parked(pids, 1, BUDGET + 1, (volatile int *)shared);
			/* the one past the budget may still be on its way */
			for (int i = 0; i < 500 && !((volatile int *)shared)[0]; i++)
				usleep(10000);
			parked = waiting_in_fuse(pids[0]);
			snprintf(extra, sizeof(extra), "%d parked, %d refused (errno %d)", parked,
				 ((volatile int *)shared)[0], ((volatile int *)shared)[1]);
			break;
		case ATT_PENDING:
			pids[0] = fill_pending(dir, shared);
			for (int i = 0; i < 3000 && !shared[2]; i++)
				usleep(10000);
			snprintf(extra, sizeof(extra), "%.0f MiB pending, then errno %lld",
				 shared[0] / (double)MIB, shared[1]);
			break;
		case ATT_DIRS:
			pids[0] = fork();
			if (pids[0] < 0)
				die("fork: %s", strerror(errno));
			if (pids[0] == 0) {
				struct rlimit rl = { ndirs + 64, ndirs + 64 };
				int n = 0;

				setrlimit(RLIMIT_NOFILE, &rl);
				become(LOCK_ATTACKER);
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				for (int i = 0; i < ndirs; i++)
					if (open(dir, O_RDONLY | O_DIRECTORY) >= 0)
						n++;
					else
						shared[1] = errno;
				shared[0] = n;
				shared[2] = 1;
				for (;;)
					pause();
			}
			for (int i = 0; i < 3000 && !shared[2]; i++)
				usleep(10000);
			snprintf(extra, sizeof(extra), "%lld handles of %d segments", shared[0],
				 nsegs + 1);
			break;
		}
		under = daemon_mem(d.pid);
		table_row(names[a], under.rss / 1024.0, 1, "idle", idle.rss / 1024.0);
		snprintf(label, sizeof(label), "  VmHWM; threads %lld, CPU %.0f ms/s",
			 under.threads, under.cpu_ms_per_s);
		table_text(label, under.hwm / 1024.0, "%s", extra);
		progress("%s: VmRSS %lld KiB, HWM %lld KiB, %lld threads (%s)", names[a], under.rss,
			 under.hwm, under.threads, extra);
		crowds_stop(pids, 1);
		if (holder)
			crowds_stop(&holder, 1);
		unmount_shmfs(&d, broken);
		shmctl(seg, IPC_RMID, NULL);
		semctl(semid, 0, IPC_RMID);
		if (a == ATT_PENDING)
			remove_keys(ATTACK_KEY + 0x100, 64);
		if (a == ATT_MANY_SETS)
			remove_keys(ATTACK_KEY + 0x200, BUDGET + 1);
		if (a == ATT_DIRS)
			for (int i = 0; i < nsegs; i++)
				shmctl(dsegs[i], IPC_RMID, NULL);
	}
	free(dsegs);
	munmap((void *)shared, 4096);
}

/* ---- 8c: issue 19's attacks --------------------------------------------------------- */

#define I19_CALLS	20 /* per op, per phase */
#define I19_SETS	256
#define I19_TRUNCATORS	12
#define I19_KEY		0x5354d000
#define I19_HUGE	(64ull << 40)
#define I19_HUGE_WRITES 4096

enum i19_attack {
	I19_HELPER,
	I19_TRUNCATE,
	I19_SETS_1,
	I19_SETS_4,
	I19_REWRITE,
	I19_N
};

/* Attack processes are made ready first (their segments and names exist,
 * so the quiet figures list as many), then wait for this pipe's end
 * (the bench closes its write end) before they attack. */
static int i19_go[2] = { -1, -1 };

static void i19_await_go(void)
{
	char c;

	close(i19_go[1]);
	while (read(i19_go[0], &c, 1) > 0)
		;
}

/* The victim's calls of each op as uid VICTIM: median and slowest, us. */
static void victim_times(const char *dir, int seg, double med[NOPS], double max[NOPS])
{
	double *shared =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int status;

	if (shared == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		struct victim v = { .dir = dir };
		double t[I19_CALLS];

		become(VICTIM);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(v.seg_path, sizeof(v.seg_path), "%s/%d", dir, seg);
		for (int o = 0; o < NOPS; o++) {
			for (int i = 0; i < I19_CALLS; i++) {
				double t0 = now_s();

				if (!ops[o](&v))
					_exit(1);
				t[i] = (now_s() - t0) * 1e6;
			}
			for (int i = 1; i < I19_CALLS; i++)
				for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
					double x = t[j];

					t[j] = t[j - 1];
					t[j - 1] = x;
				}
			shared[o] = t[I19_CALLS / 2];
			shared[NOPS + o] = t[I19_CALLS - 1];
		}
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the victim's calls failed (status 0x%x)", status);
	memcpy(med, shared, NOPS * sizeof(*med));
	memcpy(max, shared + NOPS, NOPS * sizeof(*max));
	munmap(shared, 4096);
}

static pid_t i19_parent_of(pid_t pid)
{
	char path[64], line[512], *p, state;
	int ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!read_line(path, line, sizeof(line)) || !(p = strrchr(line, ')')) ||
	    sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return 0;
	return ppid;
}

/* The attacker's thread: stop every new child of the daemon (its own
 * SHM_LOCK helpers are the ones it may signal). */
static void *i19_stopper(void *arg)
{
	pid_t daemon = *(pid_t *)arg;

	for (;;) {
		char buf[32] = "";
		pid_t last;

		if (!read_line("/proc/sys/kernel/ns_last_pid", buf, sizeof(buf)))
			_exit(1);
		last = atoi(buf);
		for (pid_t p = last > 4 ? last - 4 : 1; p <= last + 2; p++)
			if (i19_parent_of(p) == daemon)
				kill(p, SIGSTOP);
	}
	return NULL;
}

/* uid 65534: `echo unlock > N.stat` again and again, its helpers stopped. */
static pid_t i19_helper_attack(const char *dir, pid_t daemon, int seg)
{
	static pid_t d;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char path[200];
		pthread_t t;

		d = daemon;
		become(LOCK_ATTACKER);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(path, sizeof(path), "%s/%d.stat", dir, seg);
		i19_await_go();
		pthread_create(&t, NULL, i19_stopper, &d);
		for (;;) {
			int fd = open(path, O_WRONLY);

			if (fd < 0 || write(fd, "unlock\n", 7) < 0) {
				/* ETIMEDOUT: a stopped helper killed; again */
			}
			if (fd >= 0)
				close(fd);
		}
	}
	return pid;
}

/* uid 65534: a name made in by-key/, its set's lock held, truncated. */
static pid_t i19_truncator(const char *dir, int key)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		struct sembuf ex[] = { { 1, 0, 0 }, { 2, 0, 0 }, { 2, 1, SEM_UNDO } };
		char path[200], c;
		int fd, semid, held[2];

		become(LOCK_ATTACKER);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(path, sizeof(path), "%s/by-key/0x%08x", dir, (unsigned int)key);
		fd = open(path, O_CREAT | O_RDWR, 0600);
		if (fd < 0 || ftruncate(fd, 4096) != 0 || (semid = semget(key, 0, 0)) < 0 ||
		    pipe(held) != 0)
			_exit(1);
		i19_await_go();
		if (fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (semop(semid, ex, 3) != 0 || write(held[1], "h", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		if (read(held[0], &c, 1) != 1)
			_exit(2);
		if (ftruncate(fd, 0) != 0) {
			/* ended: its lock freed, or the daemon stopped */
		}
		for (;;)
			pause();
	}
	return pid;
}

/* uid 65534: three 64 TiB SHM_NORESERVE segments written a byte at a
 * time 512 MiB apart, files kept open. */
static pid_t i19_rewrite_attack(const char *dir, volatile int *done)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fds[3];
		char path[200];

		become(LOCK_ATTACKER);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int s = 0; s < 3; s++) {
			int id = shmget(IPC_PRIVATE, I19_HUGE, IPC_CREAT | 010000 | 0600);

			if (id < 0)
				_exit(1);
			shmctl(id, IPC_RMID, NULL); /* gone with the last file */
			snprintf(path, sizeof(path), "%s/%d", dir, id);
			if ((fds[s] = open(path, O_RDWR)) < 0)
				_exit(2);
		}
		i19_await_go();
		for (int i = 0; i < I19_HUGE_WRITES; i++)
			for (int s = 0; s < 3; s++)
				if (pwrite(fds[s], "x", 1, (off_t)i * (512ll << 20)) != 1)
					_exit(3);
		*done = 1;
		for (;;)
			pause();
	}
	return pid;
}

/* Whether pid has a child stopped (state T). */
static bool i19_stopped_child(pid_t parent)
{
	char buf[32] = "";
	pid_t last;

	if (!read_line("/proc/sys/kernel/ns_last_pid", buf, sizeof(buf)))
		return false;
	last = atoi(buf);
	for (pid_t p = last > 64 ? last - 64 : 1; p <= last; p++) {
		char path[64], line[512], *q, state;
		int ppid;

		snprintf(path, sizeof(path), "/proc/%d/stat", p);
		if (read_line(path, line, sizeof(line)) && (q = strrchr(line, ')')) &&
		    sscanf(q + 1, " %c %d", &state, &ppid) == 2 && ppid == parent && state == 'T')
			return true;
	}
	return false;
}

static void stall_issue19(const struct stall_env *e, const char *top, bool *broken)
{
	static const char *const names[I19_N] = {
		"SHM_UNLOCK helpers stopped by their caller",
		"12 truncations of made names, locks held",
		"1 uid waiting on each of 256 held sets",
		"4 uids each waiting on 256 held sets",
		"3 x 64 TiB NORESERVE, 12,288 spread writes",
	};
	static int set_ids[4][I19_SETS], set_semids[4][I19_SETS];
	static char set_paths[4][I19_SETS][160];
	static const char *set_ptrs[4][I19_SETS];
	volatile int *shared =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char dir[128], label[160];

	if (shared == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	table_section("8c. issue 19: the victim (uid 65533) under each attack by other uids",
		      "ratio to the same calls quiet on the same mount: median / slowest");
	for (int a = 0; a < I19_N; a++) {
		struct daemon d = { 0 };
		double qmed[NOPS], qmax[NOPS], amed[NOPS], amax[NOPS], t0, exit_ms;
		pid_t pids[16] = { 0 }, holders[4] = { 0 };
		int npids = 0, nuids = a == I19_SETS_4 ? 4 : 1, seg, parked = 0;
		struct mem under;

		memset((void *)shared, 0, 4096);
		snprintf(dir, sizeof(dir), "%s/shmfs-i19", top);
		mount_shmfs(&d, e, dir, NULL);
		seg = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0644);
		if (seg < 0)
			die("shmget: %s", strerror(errno));
		if (pipe(i19_go) != 0)
			die("pipe: %s", strerror(errno));
		/* ready: everything the attack lists exists */
		switch (a) {
		case I19_HELPER: {
			int own = segment_as(LOCK_ATTACKER, I19_KEY, 4096, false, NULL);

			pids[npids++] = i19_helper_attack(dir, d.pid, own);
			break;
		}
		case I19_TRUNCATE:
			for (int i = 0; i < I19_TRUNCATORS; i++)
				pids[npids++] = i19_truncator(dir, I19_KEY + 0x100 + i);
			for (int i = 0;
			     i < 3000 && shmget(I19_KEY + 0x100 + I19_TRUNCATORS - 1, 0, 0) < 0;
			     i++)
				usleep(10000);
			break;
		case I19_SETS_1:
		case I19_SETS_4:
			for (int u = 0; u < nuids; u++) {
				for (int i = 0; i < I19_SETS; i++) {
					set_ids[u][i] = segment_as(next_uids[u],
								   I19_KEY + 0x1000 * (u + 1) + i,
								   4096, true, &set_semids[u][i]);
					snprintf(set_paths[u][i], sizeof(set_paths[u][i]), "%s/%d",
						 dir, set_ids[u][i]);
					set_ptrs[u][i] = set_paths[u][i];
				}
			}
			break;
		case I19_REWRITE:
			pids[npids++] = i19_rewrite_attack(dir, shared + 8);
			usleep(500000);
			break;
		}
		victim_times(dir, seg, qmed, qmax);
		/* go */
		close(i19_go[0]);
		close(i19_go[1]);
		switch (a) {
		case I19_HELPER:
			for (int i = 0; i < 3000 && !i19_stopped_child(d.pid); i++)
				usleep(10000);
			parked = i19_stopped_child(d.pid);
			break;
		case I19_TRUNCATE:
			for (int look = 0; look < 3000 && parked < I19_TRUNCATORS; look++) {
				parked = 0;
				for (int i = 0; i < npids; i++)
					parked += waiting_in_fuse(pids[i]);
				usleep(10000);
			}
			break;
		case I19_SETS_1:
		case I19_SETS_4:
			for (int u = 0; u < nuids; u++) {
				holders[u] = hold_locks(next_uids[u], set_semids[u], I19_SETS);
				pids[npids++] = crowd_start(next_uids[u], WAIT_READ, NULL,
							    set_ptrs[u], I19_SETS, shared);
			}
			parked = await_parked(pids, npids, nuids * I19_SETS, shared);
			break;
		case I19_REWRITE:
			for (int i = 0; i < 6000 && !shared[8]; i++)
				usleep(10000);
			break;
		}
		victim_times(dir, seg, amed, amax);
		under = daemon_mem(d.pid);
		for (int o = 0; o < NOPS; o++) {
			snprintf(label, sizeof(label), "  %s: %s, median", names[a], op_names[o]);
			table_row(label, amed[o], 1, "quiet", qmed[o]);
			snprintf(label, sizeof(label), "  %s: %s, slowest", names[a], op_names[o]);
			table_row(label, amax[o], 1, "quiet", qmax[o]);
		}
		snprintf(label, sizeof(label), "  %s: daemon threads", names[a]);
		table_text(label, (double)under.threads,
			   "CPU %.0f ms/s, VmRSS %.1f MiB; %d parked, %d refused (errno %d)",
			   under.cpu_ms_per_s, under.rss / 1024.0, parked, shared[0], shared[1]);
		t0 = now_s();
		kill(d.pid, SIGTERM);
		{
			int status = -1;

			for (int i = 0; i < 100000 && waitpid(d.pid, &status, WNOHANG) != d.pid;
			     i++)
				usleep(1000);
			exit_ms = (now_s() - t0) * 1000;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				note("8c: shmfs under \"%s\" did not exit cleanly (0x%x)", names[a],
				     status);
				*broken = true;
			}
			d.pid = 0;
		}
		snprintf(label, sizeof(label), "  %s: SIGTERM to exit, ms", names[a]);
		table_text(label, exit_ms, "target < 1000 ms");
		progress("8c %s: SIGTERM to exit %.0f ms, %lld threads, CPU %.0f ms/s", names[a],
			 exit_ms, under.threads, under.cpu_ms_per_s);
		umount2(d.dir, MNT_DETACH); /* gone with the daemon already, normally */
		rmdir(d.dir);
		crowds_stop(pids, npids);
		crowds_stop(holders, nuids);
		shmctl(seg, IPC_RMID, NULL);
		remove_keys(I19_KEY, 1);
		remove_keys(I19_KEY + 0x100, I19_TRUNCATORS);
		for (int u = 0; u < 4; u++)
			remove_keys(I19_KEY + 0x1000 * (u + 1), I19_SETS);
	}
	munmap((void *)shared, 4096);
}

bool section_stall(const struct stall_env *e)
{
	bool broken = false;

	note("8 stalls");
	/* the victims and attackers are other users: let them reach the mounts */
	if (chmod(e->top, 0711) != 0)
		die("chmod %s: %s", e->top, strerror(errno));
	stall_victim(e, e->top, &broken);
	stall_memory(e, e->top, &broken);
	stall_issue19(e, e->top, &broken);
	chmod(e->top, 0700);
	return !broken;
}
