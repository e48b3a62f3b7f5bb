/* test_invariants.c - an invariant harness: random sequences of three
 * users' operations, each step checked against the kernel (issue 18).
 *
 * A root daemon serves an allow_other mount in private IPC and mount
 * namespaces.  Three users (root, 65534, 65533), each a forked agent
 * (invariants_agent.c), take turns, one operation at a time, chosen by a
 * seeded generator: creations in by-key/, opens, reads, writes, mmap,
 * truncation, rm, chmod, chown, .next reads with a bounded wait, poll,
 * closes, and outside calls (shmget, IPC_RMID, shmat writes, semget,
 * semctl IPC_RMID).  Before a creation the driver often writes
 * kernel.shm_next_id or kernel.sem_next_id with an id freed a moment ago,
 * so ids come back at once, as a user looping on shmget can make them.
 *
 * The model keeps every segment lifetime's bytes as they must be (each
 * write of the sequence applied to the lifetime it was made on).  After
 * every step, for every user:
 *  - the listing is /proc/sysvipc/shm, and by-key/ its keys;
 *  - stat of each segment is the kernel's size, mode and owner;
 *  - an open and read of each segment is allowed exactly when a direct
 *    shmat by the same user is, and reads the bytes that shmat reads,
 *    which are the model's;
 *  - every file kept open, and every mapping, reads its own lifetime's
 *    bytes, removed or not (never another lifetime's, never EIO), and
 *    fstat of a kept file shows its own lifetime (see check_fstat());
 *  - every set a user made is still there, unchanged (a marker value in
 *    its semaphore 0), until that user removes it; and after the daemon
 *    stops, no set of the daemon's is left;
 *  - nobody operates on a set of a user's that no step asked a semop of
 *    (its sem_otime stays 0): in particular not the daemon, when a lock
 *    set is removed while a file of its segment is open and, in the same
 *    step, another user's look-alike (ShareLite's 3 semaphores, or the
 *    shmfs protocol's 5 with its mark) is made on its semid;
 *  - the sem/ and msg/ views (issue 23): sem/ lists every user's set and
 *    msg/ exactly the kernel's queues; a user reads a set's stat, its
 *    values, a queue's stat and its messages exactly when a direct
 *    IPC_STAT by the same user is allowed, and reads what semctl GETVAL
 *    and the model say; writing N, +N, -N to a semaphore does what the
 *    model says or fails as it says (EACCES, ERANGE, EAGAIN, EINVAL);
 *    rmdir is IPC_RMID by the owner rule; looking changes nothing (the
 *    object's /proc/sysvipc line and each sempid are the same after).
 *    A -N that must wait is parked in the daemon (a child of the
 *    writer's agent writes it), then ended by a post (it goes through,
 *    the value is 0), by SIGKILL of the writer (once it is gone, a post
 *    is left whole) or by IPC_RMID of the set (EIDRM; often a look-alike
 *    is made on the semid at once, which nobody may operate on).
 *    Queues and sets are made, used and removed by the three users, with
 *    kernel.msg_next_id forced as for the other ids.
 *
 * SHMFS_INVARIANTS_SEED=N replays one seed (the second run's seed is
 * random otherwise, and printed); SHMFS_INVARIANTS_STEPS and
 * SHMFS_INVARIANTS_SECONDS bound each run.  Every operation runs;
 * SHMFS_INVARIANTS_SKIP=names (separated by commas) leaves some out
 * ("rmkept": no rm or IPC_RMID of a segment a kept file or mapping still
 * reads), to narrow a failure down.  A failure prints the seed, the
 * step log and what was seen against the kernel.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "invariants.h"
#include "mountutil.h"
#include "semun.h"
#include "share.h"
#include "testutil.h"

#define WATCHDOG_S    280
#define AGENT_WAIT_MS 20000 /* an agent's call that takes longer hangs */
#define NUSERS	      3
#define KEY_BASE      0x7e1a0000
#define NKEYS	      6
#define MAX_LIVES     512 /* lifetimes the model remembers (bytes of dead ones too) */
#define MAX_SETS      256
#define MAX_LIVE_SEGS 8 /* beyond this the generator removes rather than creates */
#define PAGE	      4096
#define NEXT_WAIT_MS  150 /* a .next read waits that long for a write */
#define SEM_MARKER0   1000

static const uid_t users[NUSERS] = { 0, 65534, 65533 };

static const char *shmfs_path;
static struct test_mount mnt;

/* ---- operations ------------------------------------------------------------ */

enum op {
	OP_CREATE,    /* by-key/ creation: open O_CREAT|O_EXCL, write, ftruncate, close */
	OP_SHMGET,    /* outside shmget */
	OP_OPEN,      /* open a segment file, kept */
	OP_CLOSE,     /* close a kept file */
	OP_READ,      /* pread of a kept file */
	OP_WRITE,     /* pwrite of a kept file */
	OP_PATHWRITE, /* open O_WRONLY, pwrite, close */
	OP_MMAP,      /* mmap MAP_SHARED of a kept file */
	OP_MAPWRITE,  /* a store through a mapping */
	OP_MUNMAP,
	OP_TRUNCATE,  /* truncate(2) of a segment file */
	OP_FTRUNCATE, /* ftruncate of a kept file */
	OP_RM,	      /* unlink(2) through the mount */
	OP_RMID,      /* outside IPC_RMID */
	OP_CHMOD,
	OP_CHOWN,
	OP_SHMATWRITE, /* outside shmat and store */
	OP_SEMGET,     /* outside semget, with a marker */
	OP_SEMRM,      /* outside IPC_RMID of a set the user owns */
	OP_NEXTOPEN,   /* open a .next file, kept */
	OP_NEXTREAD,   /* read it, waiting at most NEXT_WAIT_MS */
	OP_POLL,       /* poll a kept file */
	OP_SEMWRITE,   /* write N, +N or -N to sem/ID/NUM */
	OP_SEMVIEW,    /* read sem/ID/stat and every sem/ID/NUM */
	OP_MSGGET,     /* outside msgget */
	OP_MSGSND,     /* outside msgsnd */
	OP_MSGRCV,     /* outside msgrcv (consumes) */
	OP_MSGVIEW,    /* read msg/ID/stat and every msg/ID/INDEX */
	OP_VIEWRM,     /* rmdir sem/ID or msg/ID */
	OP_SETSWAP,    /* a lock set removed under an open file, a look-alike on its semid */
	OP_SEMPARK,    /* a -N write that waits, ended by a post, SIGKILL or IPC_RMID */
	NOPS
};

static const char *const op_names[NOPS] = {
	"create", "shmget",   "open",	    "close",	"read",	     "write",	 "pathwrite",
	"mmap",	  "mapwrite", "munmap",	    "truncate", "ftruncate", "rm",	 "rmid",
	"chmod",  "chown",    "shmatwrite", "semget",	"semrm",     "nextopen", "nextread",
	"poll",	  "semwrite", "semview",    "msgget",	"msgsnd",    "msgrcv",	 "msgview",
	"viewrm", "setswap",  "sempark",
};

static const unsigned int op_weight[NOPS] = {
	[OP_CREATE] = 8,     [OP_SHMGET] = 6,  [OP_OPEN] = 10,	   [OP_CLOSE] = 7,
	[OP_READ] = 5,	     [OP_WRITE] = 6,   [OP_PATHWRITE] = 5, [OP_MMAP] = 4,
	[OP_MAPWRITE] = 4,   [OP_MUNMAP] = 2,  [OP_TRUNCATE] = 3,  [OP_FTRUNCATE] = 2,
	[OP_RM] = 6,	     [OP_RMID] = 4,    [OP_CHMOD] = 3,	   [OP_CHOWN] = 2,
	[OP_SHMATWRITE] = 4, [OP_SEMGET] = 4,  [OP_SEMRM] = 3,	   [OP_NEXTOPEN] = 3,
	[OP_NEXTREAD] = 3,   [OP_POLL] = 3,    [OP_SEMWRITE] = 4,  [OP_SEMVIEW] = 3,
	[OP_MSGGET] = 2,     [OP_MSGSND] = 3,  [OP_MSGRCV] = 2,	   [OP_MSGVIEW] = 3,
	[OP_VIEWRM] = 2,     [OP_SETSWAP] = 3, [OP_SEMPARK] = 3,
};

static bool op_enabled[NOPS];

/* Whether rm and IPC_RMID may remove a segment that a kept file or a
 * mapping still reads, which then outlives its shmid ("rmkept"; left out
 * only when SHMFS_INVARIANTS_SKIP names it). */
static bool rm_kept = true;

/* ---- the model --------------------------------------------------------------- */

/* One segment lifetime: from its shmget to its destruction. */
struct life {
	bool used;
	int seq; /* its number in the log: life #seq */
	int shmid, key;
	long size;
	pid_t cpid;
	uid_t cuid;
	bool exists;	 /* the kernel has it */
	bool removed;	 /* IPC_RMID done */
	int born, died;	 /* steps */
	int refs;	 /* kept files and mappings */
	uint64_t writes; /* writes through the mount, as .next and poll count them */
	unsigned int mode;
	uid_t uid;
	gid_t gid;
	unsigned char bytes[INV_MAX_SEG];
};

struct slot {
	bool used;
	int life; /* index into lives */
	bool writable, is_next;
	bool watched; /* read only by operations, never by the checks: poll is about it */
	bool fired;   /* .next: a read returned */
	bool polled;  /* polled once: the daemon watches its segment */
	uint64_t seen;
	int opened; /* step */
};

struct mapping {
	bool used;
	int life;
	long len;
	bool writable;
};

/* A set a user made (or that a creation in by-key/ made for its creator). */
struct uset {
	bool used;
	int semid, key, nsems;
	uid_t cuid;
	int marker; /* semaphore 0's value: a marker, or 1 for a ShareLite set */
	int born;
	bool plain; /* made by semget (not a creation's ShareLite set) */
	int val1;   /* semaphore 1's value, of a plain set of 2 */
	/* A lock's look-alike (op_setswap()): its size (3, ShareLite's; 5,
	 * the shmfs protocol's, marked), 0 for any other set. */
	int look;
	int took; /* made on the semid of a lock or notification set removed in its step */
	/* A semop was asked of it through sem/ (+N, -N): until then nobody
	 * operates on a user's set, and its sem_otime is 0. */
	bool opped;
};

/* A queue a user made, and its messages as they must be. */
#define MAX_QUEUES 12
struct uqueue {
	bool used;
	int msqid, key;
	uid_t cuid;
	int born;
	int n; /* messages */
	long type[INV_MAX_MSGS], len[INV_MAX_MSGS];
	unsigned char bytes[INV_MAX_MSGS][INV_MAX_MSG];
};

struct kmsg {
	int key, msqid;
	unsigned int mode;
	long cbytes, qnum;
	uid_t uid, cuid;
	gid_t gid, cgid;
};

struct kseg {
	int key, shmid;
	unsigned int mode;
	long size;
	pid_t cpid;
	unsigned long nattch;
	uid_t uid, cuid;
	gid_t gid, cgid;
};

struct kset {
	int key, semid, nsems;
	unsigned int mode;
	uid_t uid, cuid;
	gid_t gid, cgid;
};

struct user {
	struct agent ag;
	uid_t uid;
	struct mailbox *mb;
	struct slot slots[INV_MAX_SLOTS];
	struct mapping maps[INV_MAX_MAPS];
};

static struct run {
	uint64_t seed, rng;
	int step, steps;
	bool failed, hung;
	bool mmap_works;
	int next_seq, next_marker;
	struct user u[NUSERS];
	struct life *lives; /* MAX_LIVES */
	struct uset sets[MAX_SETS];
	struct kseg ksegs[64];
	int nksegs;
	struct kset ksets[256];
	int nksets;
	int freed_shm[16], nfreed_shm; /* most recent first */
	int freed_sem[16], nfreed_sem;
	struct uqueue queues[MAX_QUEUES];
	struct kmsg kmsgs[64];
	int nkmsgs;
	int freed_msg[16], nfreed_msg;
	/* what the step expects to appear */
	int expect_shmid; /* a shmget that succeeded */
	int expect_key;	  /* a creation in by-key/ that succeeded */
	struct user *expect_by;
	long expect_size;
	unsigned int expect_mode;
	unsigned char expect_bytes[INV_MAX_SEG];
	int expect_set_key; /* a creation's ShareLite set may appear */
	int removed_semid;  /* a set a user removed */
	/* the step log */
	char *log;
	size_t log_len, log_size;
	char line[512];
} R;

/* ---- random numbers: one generator, seeded, so a run replays ------------------- */

static uint64_t rnd(void)
{
	/* xorshift64* */
	R.rng ^= R.rng >> 12;
	R.rng ^= R.rng << 25;
	R.rng ^= R.rng >> 27;
	return R.rng * 2685821657736338717ull;
}

static long rnd_below(long n)
{
	return n <= 0 ? 0 : (long)(rnd() % (uint64_t)n);
}

static bool chance(int percent)
{
	return rnd_below(100) < percent;
}

static void rnd_bytes(unsigned char *p, long len)
{
	for (long i = 0; i < len; i++)
		p[i] = (unsigned char)rnd();
}

/* A segment size: small, page-sized and odd ones. */
static long rnd_size(void)
{
	switch (rnd_below(4)) {
	case 0:
		return 1 + rnd_below(64);
	case 1:
		return PAGE * (1 + rnd_below(3));
	default:
		return 1 + rnd_below(INV_MAX_SEG);
	}
}

static unsigned int rnd_mode(void)
{
	static const unsigned int modes[] = { 0600, 0644, 0640, 0666, 0660, 0604, 0400, 0000 };

	return modes[rnd_below(sizeof(modes) / sizeof(modes[0]))];
}

/* ---- the log, and failures ------------------------------------------------------ */

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_line(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(R.line, sizeof(R.line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (R.log_len + (size_t)n + 2 > R.log_size) {
		size_t size = R.log_size ? 2 * R.log_size : 65536;
		char *p = realloc(R.log, size);

		if (!p)
			return;
		R.log = p;
		R.log_size = size;
	}
	memcpy(R.log + R.log_len, R.line, (size_t)n);
	R.log_len += (size_t)n;
	R.log[R.log_len++] = '\n';
	R.log[R.log_len] = '\0';
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line("  VIOLATED: %s", msg);
	if (!R.failed)
		fprintf(stderr, "invariants: seed %llu, step %d: %s\n", (unsigned long long)R.seed,
			R.step, msg);
	R.failed = true;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* How much slower the daemon may be: under SHMFS_WRAPPER (valgrind) the
 * waits for its asynchronous work are ten times as long. */
static int slow(void)
{
	const char *w = getenv("SHMFS_WRAPPER");

	return w && *w ? 10 : 1;
}

/* ---- the agents ---------------------------------------------------------------- */

static const char *uname_of(const struct user *u)
{
	static char buf[4][16];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "u%u", (unsigned int)u->uid);
	return buf[i];
}

/* One call of u's agent: false if it did not answer (then the run ends). */
static bool call(struct user *u, enum agent_op op)
{
	double t0 = now();

	if (R.hung)
		return false;
	if (!agent_call(&u->ag, op, AGENT_WAIT_MS * slow())) {
		violation("%s's call %d (%s) did not return within %d ms", uname_of(u), op,
			  u->mb->path, AGENT_WAIT_MS * slow());
		R.hung = true;
		return false;
	}
	if (getenv("SHMFS_INVARIANTS_SLOW") && now() - t0 > 0.05)
		fprintf(stderr, "slow: %s op %d %s: %.3f s\n", uname_of(u), op, u->mb->path,
			now() - t0);
	return true;
}

static void start_agents(void)
{
	for (int i = 0; i < NUSERS; i++) {
		struct user *u = &R.u[i];

		memset(u, 0, sizeof(*u));
		agent_start(&u->ag, users[i]);
		u->uid = users[i];
		u->mb = u->ag.mb;
	}
}

/* Agents end with their files and mappings: the kernel closes them. */
static void stop_agents(void)
{
	for (int i = 0; i < NUSERS; i++)
		if (!agent_stop(&R.u[i].ag))
			fprintf(stderr, "invariants: agent %s had to be killed\n",
				uname_of(&R.u[i]));
}

/* ---- the kernel's view --------------------------------------------------------- */

static void scan_shm(void)
{
	FILE *f = fopen("/proc/sysvipc/shm", "re");
	char line[512];

	R.nksegs = 0;
	assert_non_null(f);
	if (!fgets(line, sizeof(line), f)) /* the header */
		line[0] = '\0';
	while (fgets(line, sizeof(line), f) && R.nksegs < 64) {
		struct kseg *k = &R.ksegs[R.nksegs];
		int lpid;

		if (sscanf(line, "%d %d %o %ld %d %d %lu %u %u %u %u", &k->key, &k->shmid, &k->mode,
			   &k->size, &k->cpid, &lpid, &k->nattch, &k->uid, &k->gid, &k->cuid,
			   &k->cgid) == 11)
			R.nksegs++;
	}
	fclose(f);
}

static void scan_sem(void)
{
	FILE *f = fopen("/proc/sysvipc/sem", "re");
	char line[512];

	R.nksets = 0;
	assert_non_null(f);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	while (fgets(line, sizeof(line), f) && R.nksets < 256) {
		struct kset *k = &R.ksets[R.nksets];

		if (sscanf(line, "%d %d %o %d %u %u %u %u", &k->key, &k->semid, &k->mode, &k->nsems,
			   &k->uid, &k->gid, &k->cuid, &k->cgid) == 8)
			R.nksets++;
	}
	fclose(f);
}

static struct kseg *kseg_of(int shmid)
{
	for (int i = 0; i < R.nksegs; i++)
		if (R.ksegs[i].shmid == shmid)
			return &R.ksegs[i];
	return NULL;
}

static struct kset *kset_of(int semid)
{
	for (int i = 0; i < R.nksets; i++)
		if (R.ksets[i].semid == semid)
			return &R.ksets[i];
	return NULL;
}

static void scan_msg(void)
{
	FILE *f = fopen("/proc/sysvipc/msg", "re");
	char line[512];

	R.nkmsgs = 0;
	assert_non_null(f);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	while (fgets(line, sizeof(line), f) && R.nkmsgs < 64) {
		struct kmsg *k = &R.kmsgs[R.nkmsgs];
		int lspid, lrpid;

		/* key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid ... */
		if (sscanf(line, "%d %d %o %ld %ld %d %d %u %u %u %u", &k->key, &k->msqid, &k->mode,
			   &k->cbytes, &k->qnum, &lspid, &lrpid, &k->uid, &k->gid, &k->cuid,
			   &k->cgid) == 11)
			R.nkmsgs++;
	}
	fclose(f);
}

static struct kmsg *kmsg_of(int msqid)
{
	for (int i = 0; i < R.nkmsgs; i++)
		if (R.kmsgs[i].msqid == msqid)
			return &R.kmsgs[i];
	return NULL;
}

static void write_sysctl(const char *name, int value)
{
	char path[128], text[32];
	int fd, n;

	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	n = snprintf(text, sizeof(text), "%d\n", value);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, (size_t)n), n);
	close(fd);
}

/* Make the next segment (set) created get an id freed a moment ago,
 * often: a shmid or semid coming back is what the harness is about. */
static void force_reuse(bool shm)
{
	int *freed = shm ? R.freed_shm : R.freed_sem;
	int n = shm ? R.nfreed_shm : R.nfreed_sem;

	if (n == 0 || !chance(70))
		return;
	for (int tries = 0; tries < 4; tries++) {
		int id = freed[rnd_below(n < 4 ? n : 4)];

		if (shm ? kseg_of(id) != NULL : kset_of(id) != NULL)
			continue; /* taken again already */
		write_sysctl(shm ? "shm_next_id" : "sem_next_id", id);
		log_line("  %s_next_id = %d", shm ? "shm" : "sem", id);
		return;
	}
}

static void freed(bool shm, int id)
{
	int *list = shm ? R.freed_shm : R.freed_sem;
	int *n = shm ? &R.nfreed_shm : &R.nfreed_sem;

	memmove(list + 1, list, sizeof(int) * 15);
	list[0] = id;
	if (*n < 16)
		(*n)++;
}

/* ---- lifetimes ------------------------------------------------------------------- */

static struct life *live_by_shmid(int shmid)
{
	for (int i = 0; i < MAX_LIVES; i++)
		if (R.lives[i].used && R.lives[i].exists && R.lives[i].shmid == shmid)
			return &R.lives[i];
	return NULL;
}

static int nlive(void)
{
	int n = 0;

	for (int i = 0; i < MAX_LIVES; i++)
		n += R.lives[i].used && R.lives[i].exists;
	return n;
}

/* A random lifetime the kernel has, or NULL. */
static struct life *rnd_live(void)
{
	int n = nlive(), pick;

	if (n == 0)
		return NULL;
	pick = (int)rnd_below(n);
	for (int i = 0; i < MAX_LIVES; i++)
		if (R.lives[i].used && R.lives[i].exists && pick-- == 0)
			return &R.lives[i];
	return NULL;
}

/* A slot for a new lifetime: a free one, else the oldest dead one
 * nothing refers to (its bytes are kept until then, to name in a
 * report whose bytes a wrong read returned). */
static struct life *new_life(void)
{
	struct life *oldest = NULL;

	for (int i = 0; i < MAX_LIVES; i++) {
		struct life *l = &R.lives[i];

		if (!l->used)
			return l;
		if (!l->exists && l->refs == 0 && (!oldest || l->died < oldest->died))
			oldest = l;
	}
	assert_non_null(oldest);
	return oldest;
}

static struct life *add_life(const struct kseg *k, const unsigned char *bytes)
{
	struct life *l = new_life();

	memset(l, 0, sizeof(*l));
	l->used = true;
	l->seq = R.next_seq++;
	l->shmid = k->shmid;
	l->key = k->key;
	l->size = k->size;
	l->cpid = k->cpid;
	l->cuid = k->cuid;
	l->exists = true;
	l->born = R.step;
	l->mode = k->mode & 0777;
	l->uid = k->uid;
	l->gid = k->gid;
	if (bytes)
		memcpy(l->bytes, bytes, (size_t)k->size);
	return l;
}

/* Which lifetime's bytes buf is, if any (for the report). */
static const char *whose_bytes(const unsigned char *buf, long len, const struct life *want)
{
	static char text[128];

	for (int i = 0; i < MAX_LIVES; i++) {
		const struct life *l = &R.lives[i];

		if (l->used && l != want && len > 0 && l->size >= len &&
		    memcmp(l->bytes, buf, (size_t)len) == 0 && memchr(buf, 0, 1) != buf + 1) {
			bool zeros = true;

			for (long j = 0; j < len && zeros; j++)
				zeros = buf[j] == 0;
			if (zeros)
				break;
			snprintf(text, sizeof(text),
				 "; they are life #%d's (shmid %d, %s at step %d)", l->seq,
				 l->shmid, l->exists ? "live" : "gone",
				 l->exists ? l->born : l->died);
			return text;
		}
	}
	return "";
}

/* buf (len bytes, err) is what a read of lifetime l must give. */
static void expect_bytes(const char *who, const char *how, const struct life *l, int err,
			 const unsigned char *buf, long len)
{
	if (err) {
		violation("%s %s of life #%d (shmid %d%s): %s, want its %ld bytes", who, how,
			  l->seq, l->shmid, l->exists ? "" : ", removed", strerror(err), l->size);
		return;
	}
	if (len != l->size) {
		violation("%s %s of life #%d (shmid %d%s): %ld bytes, want %ld", who, how, l->seq,
			  l->shmid, l->exists ? "" : ", removed", len, l->size);
		return;
	}
	for (long i = 0; i < len; i++)
		if (buf[i] != l->bytes[i]) {
			violation("%s %s of life #%d (shmid %d%s): byte %ld is 0x%02x, want "
				  "0x%02x%s",
				  who, how, l->seq, l->shmid, l->exists ? "" : ", removed", i,
				  buf[i], l->bytes[i], whose_bytes(buf, len, l));
			return;
		}
}

/* ---- the checks after every step ---------------------------------------------- */

/* Whether a listing (names one a line) has name. */
static bool listed(const char *names, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = names; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == '\n')
			return true;
	return false;
}

static void check_listing(struct user *u)
{
	struct mailbox *mb = u->mb;
	int nsegs = 0, nkeys = 0, keys = 0;

	snprintf(mb->path, sizeof(mb->path), "%s", mnt.dir);
	if (!call(u, A_READDIR))
		return;
	if (mb->err) {
		violation("%s: readdir of the mount: %s", uname_of(u), strerror(mb->err));
		return;
	}
	/* every segment of the kernel's, and no other */
	for (int i = 0; i < R.nksegs; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%d", R.ksegs[i].shmid);
		if (!listed(mb->names, name))
			violation("%s: the listing lacks %d, which the kernel has", uname_of(u),
				  R.ksegs[i].shmid);
	}
	for (const char *p = mb->names; *p;) {
		const char *nl = strchr(p, '\n');
		char *end;
		long id = strtol(p, &end, 10);

		if (end != p && *end == '\n' && isdigit((unsigned char)*p)) {
			nsegs++;
			if (!kseg_of((int)id))
				violation("%s: the listing has %ld, which the kernel does not",
					  uname_of(u), id);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	if (nsegs != R.nksegs)
		violation("%s: the listing has %d segments, the kernel %d", uname_of(u), nsegs,
			  R.nksegs);

	/* by-key/: the keys of the segments that have one */
	snprintf(mb->path, sizeof(mb->path), "%s/by-key", mnt.dir);
	if (!call(u, A_READDIR))
		return;
	for (int i = 0; i < R.nksegs; i++) {
		char name[32];

		if (R.ksegs[i].key == 0)
			continue;
		keys++;
		snprintf(name, sizeof(name), "0x%08x", (unsigned int)R.ksegs[i].key);
		if (!listed(mb->names, name))
			violation("%s: by-key/ lacks %s (shmid %d)", uname_of(u), name,
				  R.ksegs[i].shmid);
	}
	for (const char *p = mb->names; *p; p++)
		nkeys += *p == '\n';
	if (nkeys != keys)
		violation("%s: by-key/ lists %d names, the kernel has %d keys", uname_of(u), nkeys,
			  keys);
}

static const char *err_name(int err)
{
	return err ? strerror(err) : "ok";
}

/* The sidecar u read is segment l's as the kernel has it, and by-key/
 * links its key to it. */
static void check_names(struct user *u, const struct life *l, const struct kseg *k)
{
	const struct mailbox *mb = u->mb;
	char v[64], want[64];
	struct {
		const char *name;
		long value;
		const char *fmt;
	} fields[] = {
		{ "shmid", k->shmid, "%ld" },
		{ "size", k->size, "%ld" },
		{ "cpid", k->cpid, "%ld" },
		{ "cuid", (long)k->cuid, "%ld" },
		{ "uid", (long)k->uid, "%ld" },
		{ "perms", (long)(k->mode & 0777), "%04lo" },
		{ "key", (long)(unsigned int)k->key, "0x%08lx" },
	};

	if (mb->side_err) {
		violation("%s: the sidecar of %d (life #%d): %s", uname_of(u), l->shmid, l->seq,
			  strerror(mb->side_err));
	} else {
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			snprintf(want, sizeof(want), fields[i].fmt, fields[i].value);
			if (!sidecar_value(mb->names, fields[i].name, v, sizeof(v)) ||
			    strcmp(v, want) != 0) {
				violation(
					"%s: the sidecar of %d (life #%d) says %s %s; the kernel: "
					"%s",
					uname_of(u), l->shmid, l->seq, fields[i].name,
					sidecar_value(mb->names, fields[i].name, v, sizeof(v))
						? v
						: "(none)",
					want);
				break;
			}
		}
	}
	if (k->key) {
		snprintf(want, sizeof(want), "../%d", k->shmid);
		if (mb->link_err || strcmp(mb->link, want) != 0)
			violation("%s: by-key/0x%08x links to \"%s\" (%s); the kernel: %s",
				  uname_of(u), (unsigned int)k->key, mb->link,
				  err_name(mb->link_err), want);
	}
}

/* What u sees of segment l through the mount, against a direct shmat and
 * IPC_STAT by u, and against the model. */
static void check_segment(struct user *u, struct life *l)
{
	struct mailbox *mb = u->mb;
	const struct kseg *k = kseg_of(l->shmid);
	char who[64];

	if (!k)
		return;
	snprintf(who, sizeof(who), "%s", uname_of(u));
	snprintf(mb->path, sizeof(mb->path), "%s/%d", mnt.dir, l->shmid);
	mb->shmid = l->shmid;
	mb->size = k->size;
	mb->key = k->key;
	if (!call(u, A_OBSERVE))
		return;
	check_names(u, l, k);
	if (mb->stat_err) {
		violation("%s: stat of %d (life #%d): %s", who, l->shmid, l->seq,
			  strerror(mb->stat_err));
	} else if (mb->st.st_size != k->size || (mb->st.st_mode & 0777) != (k->mode & 0777) ||
		   mb->st.st_uid != k->uid || mb->st.st_gid != k->gid) {
		violation("%s: stat of %d (life #%d): size %ld mode %04o owner %u:%u; the kernel: "
			  "size %ld mode %04o owner %u:%u",
			  who, l->shmid, l->seq, (long)mb->st.st_size, mb->st.st_mode & 0777,
			  mb->st.st_uid, mb->st.st_gid, k->size, k->mode & 0777, k->uid, k->gid);
	}
	if (mb->err != mb->probe_err) {
		violation("%s: open of %d (life #%d, mode %04o owner %u cuid %u): %s; a direct "
			  "shmat: %s",
			  who, l->shmid, l->seq, k->mode & 0777, k->uid, k->cuid,
			  mb->err ? strerror(mb->err) : "allowed",
			  mb->probe_err ? strerror(mb->probe_err) : "allowed");
	} else if (!mb->err) {
		expect_bytes(who, "read through the mount", l, mb->err2, mb->out, mb->out_len);
		if (mb->err3)
			violation("%s: close of %d: %s", who, l->shmid, strerror(mb->err3));
	}
	if (!mb->probe_err)
		expect_bytes(who, "direct shmat", l, 0, mb->shm_out, mb->shm_len);
	if (!mb->ds_err && (mb->ds.shm_segsz != (size_t)k->size ||
			    (mb->ds.shm_perm.mode & 0777) != (k->mode & 0777)))
		violation("%s: IPC_STAT of %d differs from /proc/sysvipc/shm", who, l->shmid);
}

/* A kept file and a mapping read their own lifetime's bytes. */
/* fstat(2) of a kept file: its own lifetime's attributes (the kernel's
 * while it has the lifetime, removed or not; once destroyed, as the open
 * found them), never ENOENT; ESTALE only once another lifetime has the
 * shmid (fstat comes to the daemon as a stat of the name would, and
 * ESTALE is what makes a path look its name up again).  The kernel may
 * answer from its attribute cache: the link count only goes from 1 to 0. */
static void check_fstat(struct user *u, int slot)
{
	struct mailbox *mb = u->mb;
	const struct slot *s = &u->slots[slot];
	const struct life *l = &R.lives[s->life];

	mb->slot = slot;
	if (!call(u, A_FSTAT))
		return;
	if (mb->err == ESTALE && !l->exists && kseg_of(l->shmid))
		return;
	if (mb->err)
		violation("%s fstat of the file kept open since step %d (life #%d, shmid %d%s): "
			  "%s",
			  uname_of(u), s->opened, l->seq, l->shmid, l->exists ? "" : ", destroyed",
			  strerror(mb->err));
	else if (mb->st.st_size != l->size || (!l->removed && mb->st.st_nlink != 1) ||
		 (l->exists && ((mb->st.st_mode & 0777) != l->mode || mb->st.st_uid != l->uid ||
				mb->st.st_gid != l->gid)))
		violation("%s fstat of the file kept open since step %d (life #%d, shmid %d%s): "
			  "size %ld mode %04o owner %u:%u links %lu, want size %ld mode %04o "
			  "owner %u:%u%s",
			  uname_of(u), s->opened, l->seq, l->shmid, l->exists ? "" : ", destroyed",
			  (long)mb->st.st_size, mb->st.st_mode & 0777, mb->st.st_uid, mb->st.st_gid,
			  (unsigned long)mb->st.st_nlink, l->size, l->mode, l->uid, l->gid,
			  l->removed ? "" : " links 1");
}

static void check_kept(struct user *u)
{
	struct mailbox *mb = u->mb;

	for (int i = 0; i < INV_MAX_SLOTS; i++) {
		struct slot *s = &u->slots[i];
		struct life *l;
		char how[64];

		if (s->used)
			check_fstat(u, i);
		if (!s->used || s->is_next || s->watched)
			continue;
		l = &R.lives[s->life];
		mb->slot = i;
		mb->len = INV_MAX_SEG + 1;
		if (!call(u, A_PREAD))
			return;
		snprintf(how, sizeof(how), "read of the file kept open since step %d", s->opened);
		expect_bytes(uname_of(u), how, l, mb->err, mb->out, mb->out_len);
		s->seen = l->writes;
	}
	for (int i = 0; i < INV_MAX_MAPS; i++) {
		struct mapping *m = &u->maps[i];

		if (!m->used)
			continue;
		mb->map = i;
		mb->len = m->len;
		if (!call(u, A_MAPREAD))
			return;
		expect_bytes(uname_of(u), "mapping", &R.lives[m->life], 0, mb->out, mb->out_len);
	}
}

/* What semaphore i of the look-alike s holds (invariants_agent.c's
 * look_alike()). */
static int look_value(const struct uset *s, int i)
{
	if (i == SHARE_SEM_INIT)
		return s->marker;
	if (i == SHARE_SEM_MARK_3 || i == SHARE_SEM_MARK_4)
		return i == SHARE_SEM_MARK_3 ? SHARE_MARK_3 : SHARE_MARK_4;
	return 0;
}

/* Nobody operated on a set of a user's that the model asked no semop of:
 * the daemon takes, waits for and releases only a lock set it chose, and
 * posts only to its own notification sets, never to a set that got the
 * number of one (principle 3).  A creation's lock set is the daemon's to
 * operate on; sem_otime of any other is 0 until a +N or -N through sem/.
 * Reported once per set. */
static void check_untouched(struct uset *s)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	char pids[256] = "", took[96] = "";
	int n = 0;

	if (s->opped || !(s->plain || s->look) || semctl(s->semid, 0, IPC_STAT, arg) != 0 ||
	    ds.sem_otime == 0)
		return;
	for (int i = 0; i < s->nsems && n >= 0 && (size_t)n < sizeof(pids); i++) {
		int pid = semctl(s->semid, i, GETPID);

		n += snprintf(pids + n, sizeof(pids) - (size_t)n, " %d%s", pid,
			      pid == mnt.pid ? " (the daemon)" : "");
	}
	if (s->look)
		snprintf(took, sizeof(took),
			 ", a look-alike of %d semaphores on the semid of the lock set removed "
			 "then",
			 s->look);
	else if (s->took)
		snprintf(took, sizeof(took), " on the semid of a notification set removed then");
	violation("the set %d that u%u made at step %d%s was operated on, and no step asked "
		  "for a semop of it: sem_otime %ld, sempid of each semaphore:%s",
		  s->semid, (unsigned int)s->cuid, s->born, took, (long)ds.sem_otime, pids);
	s->opped = true;
}

/* Every set a user made is there, as it was. */
static void check_sets(void)
{
	for (int i = 0; i < MAX_SETS; i++) {
		struct uset *s = &R.sets[i];
		const struct kset *k;
		int v;

		if (!s->used)
			continue;
		k = kset_of(s->semid);
		if (!k || k->key != s->key || k->cuid != s->cuid || k->nsems != s->nsems) {
			violation("the set %d (key 0x%08x) that u%u made at step %d is gone%s",
				  s->semid, (unsigned int)s->key, (unsigned int)s->cuid, s->born,
				  k ? " (another set has its semid)" : "");
			s->used = false;
			continue;
		}
		v = semctl(s->semid, 0, GETVAL);
		if (v != s->marker)
			violation("the set %d that u%u made at step %d was changed: semaphore 0 is "
				  "%d, was %d",
				  s->semid, (unsigned int)s->cuid, s->born, v, s->marker);
		v = s->plain && s->nsems > 1 ? semctl(s->semid, 1, GETVAL) : s->val1;
		if (v != s->val1)
			violation("the set %d that u%u made at step %d was changed: semaphore 1 is "
				  "%d, was %d",
				  s->semid, (unsigned int)s->cuid, s->born, v, s->val1);
		for (int j = 1; j < s->look; j++)
			if ((v = semctl(s->semid, j, GETVAL)) != look_value(s, j))
				violation("the set %d that u%u made at step %d was changed: "
					  "semaphore %d is %d, was %d",
					  s->semid, (unsigned int)s->cuid, s->born, j, v,
					  look_value(s, j));
		check_untouched(s);
	}
}

static struct uset *uset_of(int semid)
{
	for (int i = 0; i < MAX_SETS; i++)
		if (R.sets[i].used && R.sets[i].semid == semid)
			return &R.sets[i];
	return NULL;
}

static void add_uset(int semid, int key, int nsems, uid_t cuid, int marker)
{
	for (int i = 0; i < MAX_SETS; i++)
		if (!R.sets[i].used) {
			R.sets[i] = (struct uset){ .used = true,
						   .semid = semid,
						   .key = key,
						   .nsems = nsems,
						   .cuid = cuid,
						   .marker = marker,
						   .born = R.step };
			return;
		}
}

/* The kernel after a step, against what the step was to do. */
static void reconcile(void)
{
	struct kset old[256];
	int nold = R.nksets;

	memcpy(old, R.ksets, sizeof(old));
	scan_shm();
	scan_sem();

	/* lifetimes that ended */
	for (int i = 0; i < MAX_LIVES; i++) {
		struct life *l = &R.lives[i];
		const struct kseg *k;

		if (!l->used || !l->exists)
			continue;
		k = kseg_of(l->shmid);
		if (k && k->cpid == l->cpid && k->cuid == l->cuid && k->size == l->size) {
			if ((k->mode & 0777) != l->mode || k->uid != l->uid || k->gid != l->gid)
				violation("life #%d (shmid %d): mode %04o owner %u:%u, want %04o "
					  "%u:%u",
					  l->seq, l->shmid, k->mode & 0777, k->uid, k->gid, l->mode,
					  l->uid, l->gid);
			l->mode = k->mode & 0777;
			l->uid = k->uid;
			l->gid = k->gid;
			continue;
		}
		if (!l->removed)
			violation("life #%d (shmid %d) is gone, and nobody removed it", l->seq,
				  l->shmid);
		l->exists = false;
		l->died = R.step;
		freed(true, l->shmid);
		log_line("  life #%d (shmid %d) ends", l->seq, l->shmid);
	}
	/* lifetimes that began */
	for (int i = 0; i < R.nksegs; i++) {
		const struct kseg *k = &R.ksegs[i];
		struct life *l;

		if (live_by_shmid(k->shmid))
			continue;
		if (k->shmid == R.expect_shmid ||
		    (R.expect_key && k->key == R.expect_key && k->cuid == R.expect_by->uid)) {
			l = add_life(k, R.expect_bytes);
			if (k->size != R.expect_size)
				violation("the new segment %d is %ld bytes, want %ld", k->shmid,
					  k->size, R.expect_size);
			if ((k->mode & 0777) != R.expect_mode || k->cuid != R.expect_by->uid)
				violation("the new segment %d: mode %04o cuid %u, want %04o %u",
					  k->shmid, k->mode & 0777, k->cuid, R.expect_mode,
					  R.expect_by->uid);
			log_line("  life #%d: shmid %d, %ld bytes, key 0x%08x", l->seq, k->shmid,
				 k->size, (unsigned int)k->key);
			R.expect_shmid = -1;
			R.expect_key = 0;
		} else {
			violation("segment %d (key 0x%08x, cuid %u) appeared; no step made it",
				  k->shmid, (unsigned int)k->key, k->cuid);
			add_life(k, NULL); /* report it once */
		}
	}
	if (R.expect_shmid >= 0 || R.expect_key)
		violation("the segment the step made (%s) is not there",
			  R.expect_key ? "a creation in by-key/" : "shmget");
	R.expect_shmid = -1;
	R.expect_key = 0;

	/* sets (their ids come back through op_semrm only: the daemon's own
	 * come and go with the timing of its releases, and a replay must
	 * make the same choices) */
	for (int i = 0; i < R.nksets; i++) {
		const struct kset *k = &R.ksets[i];
		bool was = false;

		for (int j = 0; j < nold && !was; j++)
			was = old[j].semid == k->semid && old[j].key == k->key &&
			      old[j].cuid == k->cuid;
		if (was || uset_of(k->semid))
			continue;
		if (k->key == 0)
			continue; /* one of the daemon's own, private */
		if (k->key == R.expect_set_key && R.expect_by && k->cuid == R.expect_by->uid &&
		    k->nsems == 5) {
			/* the shmfs protocol's set, marked (share.h) */
			add_uset(k->semid, k->key, 5, k->cuid, 1);
			log_line("  set %d: the lock set of 0x%08x, u%u's", k->semid,
				 (unsigned int)k->key, (unsigned int)k->cuid);
			continue;
		}
		violation("a keyed set %d (key 0x%08x, cuid %u) appeared; no step made it",
			  k->semid, (unsigned int)k->key, k->cuid);
		add_uset(k->semid, k->key, k->nsems, k->cuid, semctl(k->semid, 0, GETVAL));
	}
	R.expect_set_key = 0;
}

/* Looking changes nothing: between steps nothing is attached (the
 * harness's own shmat are undone within their step, and an open file is
 * no attacher), and every set the daemon has is the notification set of
 * a segment someone watches (a .next file, a polled file): one per
 * watched lifetime at most, private, of one semaphore. */
static void check_daemon_leaves_no_trace(void)
{
	int watched = 0, daemons = 0;

	/* A file closed in the step is released by the kernel in the
	 * background: an attach the daemon makes to serve that release (or
	 * a request still in flight) may outlast the step by a moment at
	 * load.  Looked at again, bounded (2 s), before it counts. */
	for (int look = 0; look < 200; look++) {
		bool attached = false;

		for (int i = 0; i < R.nksegs; i++)
			attached |= R.ksegs[i].nattch != 0;
		if (!attached)
			break;
		usleep(10 * 1000);
		scan_shm();
	}
	for (int i = 0; i < R.nksegs; i++)
		if (R.ksegs[i].nattch != 0)
			violation("segment %d has %lu attaches between steps; nobody should be "
				  "attached",
				  R.ksegs[i].shmid, R.ksegs[i].nattch);
	for (int i = 0; i < MAX_LIVES; i++) {
		bool w = false;

		if (!R.lives[i].used)
			continue;
		for (int u = 0; u < NUSERS && !w; u++)
			for (int j = 0; j < INV_MAX_SLOTS && !w; j++) {
				const struct slot *s = &R.u[u].slots[j];

				w = s->used && s->life == i && (s->is_next || s->polled);
			}
		watched += w;
	}
	/* a close's RELEASE, which removes a set, may still be under way */
	for (int tries = 0; tries < 100 * slow(); tries++) {
		daemons = 0;
		for (int i = 0; i < R.nksets; i++)
			daemons += !uset_of(R.ksets[i].semid);
		if (daemons <= watched)
			break;
		usleep(10000);
		scan_sem();
	}
	for (int i = 0; i < R.nksets; i++) {
		const struct kset *k = &R.ksets[i];

		if (uset_of(k->semid))
			continue;
		if (k->key != 0 || k->nsems != 1 || k->cuid != 0)
			violation("set %d (key 0x%08x, %d semaphores, cuid %u) is neither a user's "
				  "nor a notification set",
				  k->semid, (unsigned int)k->key, k->nsems, k->cuid);
	}
	if (daemons > watched)
		violation("the daemon has %d sets, and only %d lifetimes are watched", daemons,
			  watched);
}

static void check_views(void);

static void check_all(void)
{
	reconcile();
	check_sets();
	check_views();
	check_daemon_leaves_no_trace();
	for (int i = 0; i < NUSERS && !R.hung; i++) {
		struct user *u = &R.u[i];

		check_listing(u);
		for (int j = 0; j < MAX_LIVES && !R.hung; j++)
			if (R.lives[j].used && R.lives[j].exists)
				check_segment(u, &R.lives[j]);
		check_kept(u);
	}
}

/* ---- the operations --------------------------------------------------------------- */

static struct user *U; /* the user of the step */

static bool allowed_ctl(const struct user *u, const struct kseg *k)
{
	return u->uid == 0 || u->uid == k->uid || u->uid == k->cuid;
}

static int free_slot(const struct user *u)
{
	for (int i = 0; i < INV_MAX_SLOTS; i++)
		if (!u->slots[i].used)
			return i;
	return -1;
}

/* A random kept file of u that fits want (NULL: any), or -1. */
static int rnd_slot(const struct user *u, bool (*want)(const struct slot *))
{
	int n = 0, pick;

	for (int i = 0; i < INV_MAX_SLOTS; i++)
		n += u->slots[i].used && (!want || want(&u->slots[i]));
	if (n == 0)
		return -1;
	pick = (int)rnd_below(n);
	for (int i = 0; i < INV_MAX_SLOTS; i++)
		if (u->slots[i].used && (!want || want(&u->slots[i])) && pick-- == 0)
			return i;
	return -1;
}

static bool is_plain(const struct slot *s)
{
	return !s->is_next;
}

static bool is_writable(const struct slot *s)
{
	return !s->is_next && s->writable;
}

static bool is_next(const struct slot *s)
{
	return s->is_next;
}

static bool is_watched(const struct slot *s)
{
	return !s->is_next && s->watched;
}

static void seg_path(char *buf, size_t size, int shmid, const char *suffix)
{
	snprintf(buf, size, "%s/%d%s", mnt.dir, shmid, suffix);
}

static void expect_err(const char *what, int got, int want)
{
	if (got != want)
		violation("%s %s: %s, want %s", uname_of(U), what, err_name(got), err_name(want));
}

static bool key_live(int key)
{
	for (int i = 0; i < R.nksegs; i++)
		if (R.ksegs[i].key == key)
			return true;
	return false;
}

static bool set_key_exists(int key)
{
	for (int i = 0; i < R.nksets; i++)
		if (R.ksets[i].key == key)
			return true;
	return false;
}

/* Wait for a creation's segment (a close's RELEASE may be answered after
 * close(2) returns). */
static void wait_key(int key)
{
	for (int i = 0; i < 300 * slow(); i++) {
		scan_shm();
		if (key_live(key))
			return;
		usleep(10000);
	}
}

/* A look-alike (principle 3): the lifetime that ended last whose
 * creator this creation is too (cpid and cuid), its shmid free again.  A
 * creation then takes its shmid and size, so that only the strong
 * identity tells the two apart: a file the daemon keeps of the ended one
 * must never serve the new one.  NULL: none, or not this time. */
static const struct life *lookalike_of(pid_t cpid, uid_t cuid)
{
	const struct life *best = NULL;

	if (!chance(40))
		return NULL;
	for (int i = 0; i < MAX_LIVES; i++) {
		const struct life *l = &R.lives[i];

		if (l->used && !l->exists && l->cpid == cpid && l->cuid == cuid &&
		    !kseg_of(l->shmid) && l->size <= INV_MAX_SEG && (!best || l->died > best->died))
			best = l;
	}
	if (best) {
		write_sysctl("shm_next_id", best->shmid);
		log_line("  shm_next_id = %d, %ld bytes: a look-alike of life #%d", best->shmid,
			 best->size, best->seq);
	}
	return best;
}

static bool op_create(void)
{
	struct mailbox *mb = U->mb;
	static const unsigned int modes[] = { 0600, 0644, 0640, 0666, 0660, 0604 };
	int key = KEY_BASE + (int)rnd_below(NKEYS);
	bool exists = key_live(key);
	long w = chance(20) ? 0 : 1 + rnd_below(INV_MAX_SEG), size;
	const struct life *like;

	if (nlive() >= MAX_LIVE_SEGS)
		return false;
	mb->mode = (int)modes[rnd_below(6)];
	mb->len = w;
	mb->size = chance(40) ? (w > 0 ? w : 1) + rnd_below(INV_MAX_SEG - (w > 0 ? w : 1) + 1) : 0;
	snprintf(mb->path, sizeof(mb->path), "%s/by-key/0x%08x", mnt.dir, (unsigned int)key);
	force_reuse(false);
	/* the daemon creates what is made in by-key/ */
	like = exists ? NULL : lookalike_of(mnt.pid, U->uid);
	if (like) {
		mb->size = like->size;
		if (w > like->size)
			w = like->size;
		mb->len = w;
	} else {
		force_reuse(true);
	}
	rnd_bytes(mb->in, w);
	size = mb->size ? mb->size : (w > PAGE ? w : PAGE);
	R.expect_set_key = set_key_exists(key) ? 0 : key;
	R.expect_by = U;
	log_line("step %d: %s create by-key/0x%08x mode %04o, %ld bytes written%s%ld", R.step,
		 uname_of(U), (unsigned int)key, mb->mode, w, mb->size ? ", ftruncate " : "",
		 mb->size ? mb->size : 0L);
	if (!call(U, A_CREATE))
		return true;
	log_line("  -> open %s, write %s, ftruncate %s, close %s", err_name(mb->err),
		 err_name(mb->err2), err_name(mb->err3), err_name(mb->err4));
	if (exists) {
		expect_err("open O_CREAT|O_EXCL of an existing key", mb->err, EEXIST);
		return true;
	}
	expect_err("open O_CREAT|O_EXCL", mb->err, 0);
	expect_err("write to a new name", mb->err2, 0);
	expect_err("ftruncate of a new name", mb->err3, 0);
	expect_err("close of a new name", mb->err4, 0);
	if (mb->err || mb->err2 || mb->err3 || mb->err4)
		return true;
	wait_key(key);
	R.expect_key = key;
	R.expect_size = size;
	R.expect_mode = (unsigned int)mb->mode;
	memset(R.expect_bytes, 0, sizeof(R.expect_bytes));
	memcpy(R.expect_bytes, mb->in, (size_t)w);
	return true;
}

static bool op_shmget(void)
{
	struct mailbox *mb = U->mb;
	int key = chance(50) ? IPC_PRIVATE : KEY_BASE + (int)rnd_below(NKEYS);
	bool exists = key != IPC_PRIVATE && key_live(key);
	const struct life *like;

	if (nlive() >= MAX_LIVE_SEGS)
		return false;
	mb->key = key;
	mb->size = rnd_size();
	mb->mode = (int)rnd_mode();
	like = exists ? NULL : lookalike_of(U->ag.pid, U->uid);
	if (like)
		mb->size = like->size;
	else
		force_reuse(true);
	log_line("step %d: %s shmget(0x%08x, %ld, %04o)", R.step, uname_of(U), (unsigned int)key,
		 mb->size, mb->mode);
	if (!call(U, A_SHMGET))
		return true;
	log_line("  -> %ld %s", mb->ret, err_name(mb->err));
	expect_err("shmget", mb->err, exists ? EEXIST : 0);
	if (mb->err)
		return true;
	R.expect_shmid = (int)mb->ret;
	R.expect_by = U;
	R.expect_size = mb->size;
	R.expect_mode = (unsigned int)mb->mode;
	memset(R.expect_bytes, 0, sizeof(R.expect_bytes));
	return true;
}

static bool open_common(bool next)
{
	struct mailbox *mb = U->mb;
	struct life *l = rnd_live();
	int slot = free_slot(U);
	bool trunc;

	if (!l || slot < 0)
		return false;
	mb->slot = slot;
	mb->shmid = l->shmid;
	mb->flags = next || chance(40) ? O_RDONLY : O_RDWR;
	trunc = !next && mb->flags == O_RDWR && chance(10);
	if (trunc)
		mb->flags |= O_TRUNC;
	seg_path(mb->path, sizeof(mb->path), l->shmid, next ? ".next" : "");
	force_reuse(false);
	log_line("step %d: %s open %d%s (life #%d) %s%s -> slot %d", R.step, uname_of(U), l->shmid,
		 next ? ".next" : "", l->seq,
		 (mb->flags & O_ACCMODE) == O_RDWR ? "O_RDWR" : "O_RDONLY", trunc ? "|O_TRUNC" : "",
		 slot);
	if (!call(U, A_OPEN))
		return true;
	log_line("  -> %s (a direct shmat: %s)", err_name(mb->err), err_name(mb->probe_err));
	if (mb->err != mb->probe_err)
		violation("%s open of %d (life #%d): %s; a direct shmat: %s", uname_of(U), l->shmid,
			  l->seq, err_name(mb->err), err_name(mb->probe_err));
	if (mb->err)
		return true;
	U->slots[slot] = (struct slot){ .used = true,
					.life = (int)(l - R.lives),
					.writable = (mb->flags & O_ACCMODE) == O_RDWR,
					.is_next = next,
					.watched = !next && chance(30),
					.seen = l->writes,
					.opened = R.step };
	l->refs++;
	if (trunc)
		memset(l->bytes, 0, (size_t)l->size);
	return true;
}

static bool op_open(void)
{
	return open_common(false);
}

static bool op_nextopen(void)
{
	return open_common(true);
}

static bool op_close(void)
{
	struct mailbox *mb = U->mb;
	int slot = rnd_slot(U, NULL);
	struct slot *s;

	if (slot < 0)
		return false;
	s = &U->slots[slot];
	mb->slot = slot;
	log_line("step %d: %s close slot %d (life #%d)", R.step, uname_of(U), slot,
		 R.lives[s->life].seq);
	if (!call(U, A_CLOSE))
		return true;
	expect_err("close", mb->err, 0);
	R.lives[s->life].refs--;
	s->used = false;
	return true;
}

static bool op_read(void)
{
	struct mailbox *mb = U->mb;
	int slot = rnd_slot(U, is_plain);
	struct slot *s;
	struct life *l;

	if (slot < 0)
		return false;
	s = &U->slots[slot];
	l = &R.lives[s->life];
	mb->slot = slot;
	mb->len = INV_MAX_SEG + 1;
	log_line("step %d: %s read slot %d (life #%d)", R.step, uname_of(U), slot, l->seq);
	if (!call(U, A_PREAD))
		return true;
	log_line("  -> %ld bytes %s", mb->out_len, err_name(mb->err));
	expect_bytes(uname_of(U), "read of a kept file", l, mb->err, mb->out, mb->out_len);
	s->seen = l->writes;
	return true;
}

/* Where a write goes: [off, off + len), sometimes past the end. */
static void rnd_span(long size, long *off, long *len)
{
	*off = chance(10) ? size + rnd_below(3) : rnd_below(size);
	*len = 1 + rnd_below(chance(50) ? 64 : INV_MAX_SEG);
}

/* The model's side of a write through the mount of len bytes at off. */
static void wrote(struct life *l, const unsigned char *in, long off, long len, long ret, int err,
		  bool counts)
{
	long want = off >= l->size ? -1 : (len < l->size - off ? len : l->size - off);

	if (want < 0) {
		if (err != ENOSPC)
			violation("%s write at %ld of life #%d (%ld bytes): %s, want ENOSPC",
				  uname_of(U), off, l->seq, l->size, err_name(err));
		return;
	}
	if (err || ret != want) {
		violation("%s write of %ld at %ld of life #%d (%ld bytes): %ld %s, want %ld",
			  uname_of(U), len, off, l->seq, l->size, ret, err_name(err), want);
		return;
	}
	memcpy(l->bytes + off, in, (size_t)want);
	if (counts)
		l->writes++;
}

static bool op_write(void)
{
	struct mailbox *mb = U->mb;
	int slot = rnd_slot(U, is_writable);
	struct life *l;

	if (slot < 0)
		return false;
	l = &R.lives[U->slots[slot].life];
	mb->slot = slot;
	rnd_span(l->size, &mb->off, &mb->len);
	rnd_bytes(mb->in, mb->len);
	log_line("step %d: %s pwrite slot %d (life #%d) %ld at %ld", R.step, uname_of(U), slot,
		 l->seq, mb->len, mb->off);
	if (!call(U, A_PWRITE))
		return true;
	log_line("  -> %ld %s", mb->ret, err_name(mb->err));
	wrote(l, mb->in, mb->off, mb->len, mb->ret, mb->err, true);
	return true;
}

static bool op_pathwrite(void)
{
	struct mailbox *mb = U->mb;
	struct life *l = rnd_live();

	if (!l)
		return false;
	mb->shmid = l->shmid;
	seg_path(mb->path, sizeof(mb->path), l->shmid, "");
	rnd_span(l->size, &mb->off, &mb->len);
	rnd_bytes(mb->in, mb->len);
	log_line("step %d: %s open %d (life #%d) O_WRONLY, pwrite %ld at %ld, close", R.step,
		 uname_of(U), l->shmid, l->seq, mb->len, mb->off);
	if (!call(U, A_PATHWRITE))
		return true;
	log_line("  -> open %s (a direct shmat: %s), pwrite %ld %s, close %s", err_name(mb->err),
		 err_name(mb->probe_err), mb->ret, err_name(mb->err2), err_name(mb->err3));
	if (mb->err != mb->probe_err)
		violation("%s open O_WRONLY of %d (life #%d): %s; a direct shmat: %s", uname_of(U),
			  l->shmid, l->seq, err_name(mb->err), err_name(mb->probe_err));
	if (mb->err)
		return true;
	wrote(l, mb->in, mb->off, mb->len, mb->ret, mb->err2, true);
	expect_err("close after a write", mb->err3, 0);
	return true;
}

static bool op_mmap(void)
{
	struct mailbox *mb = U->mb;
	int slot = rnd_slot(U, is_plain), map = -1;
	struct slot *s;
	struct life *l;

	for (int i = 0; i < INV_MAX_MAPS && map < 0; i++)
		if (!U->maps[i].used)
			map = i;
	if (slot < 0 || map < 0)
		return false;
	s = &U->slots[slot];
	l = &R.lives[s->life];
	mb->slot = slot;
	mb->map = map;
	mb->len = l->size;
	mb->flags = s->writable && chance(70);
	log_line("step %d: %s mmap slot %d (life #%d) %ld bytes %s -> map %d", R.step, uname_of(U),
		 slot, l->seq, l->size, mb->flags ? "rw" : "r", map);
	if (!call(U, A_MMAP))
		return true;
	log_line("  -> %s", err_name(mb->err));
	expect_err("mmap MAP_SHARED", mb->err, R.mmap_works ? 0 : ENODEV);
	if (mb->err)
		return true;
	U->maps[map] = (struct mapping){ true, s->life, l->size, mb->flags != 0 };
	l->refs++;
	return true;
}

static bool op_mapwrite(void)
{
	struct mailbox *mb = U->mb;
	int map = -1, n = 0;
	struct mapping *m;

	for (int i = 0; i < INV_MAX_MAPS; i++)
		n += U->maps[i].used && U->maps[i].writable;
	if (n == 0)
		return false;
	n = (int)rnd_below(n);
	for (int i = 0; i < INV_MAX_MAPS && map < 0; i++)
		if (U->maps[i].used && U->maps[i].writable && n-- == 0)
			map = i;
	m = &U->maps[map];
	mb->map = map;
	mb->off = rnd_below(m->len);
	mb->len = 1 + rnd_below(m->len - mb->off);
	rnd_bytes(mb->in, mb->len);
	log_line("step %d: %s store %ld at %ld through map %d (life #%d)", R.step, uname_of(U),
		 mb->len, mb->off, map, R.lives[m->life].seq);
	if (!call(U, A_MAPWRITE))
		return true;
	memcpy(R.lives[m->life].bytes + mb->off, mb->in, (size_t)mb->len);
	return true;
}

static bool op_munmap(void)
{
	struct mailbox *mb = U->mb;
	int map = -1;

	for (int i = 0; i < INV_MAX_MAPS && map < 0; i++)
		if (U->maps[i].used && chance(50))
			map = i;
	if (map < 0)
		return false;
	mb->map = map;
	log_line("step %d: %s munmap map %d", R.step, uname_of(U), map);
	if (!call(U, A_MUNMAP))
		return true;
	expect_err("munmap", mb->err, 0);
	R.lives[U->maps[map].life].refs--;
	U->maps[map].used = false;
	return true;
}

static long rnd_trunc(long size)
{
	return chance(15) ? size + 1 + rnd_below(100) : rnd_below(size + 1);
}

static bool op_truncate(void)
{
	struct mailbox *mb = U->mb;
	struct life *l = rnd_live();

	if (!l)
		return false;
	mb->shmid = l->shmid;
	mb->size = rnd_trunc(l->size);
	seg_path(mb->path, sizeof(mb->path), l->shmid, "");
	log_line("step %d: %s truncate %d (life #%d, %ld bytes) to %ld", R.step, uname_of(U),
		 l->shmid, l->seq, l->size, mb->size);
	if (!call(U, A_TRUNCATE))
		return true;
	log_line("  -> %s (a direct shmat: %s)", err_name(mb->err), err_name(mb->probe_err));
	if (mb->size > l->size) {
		if (mb->err != EFBIG && !(mb->probe_err && mb->err == mb->probe_err))
			violation("%s truncate beyond the size: %s, want EFBIG", uname_of(U),
				  err_name(mb->err));
		return true;
	}
	expect_err("truncate", mb->err, mb->probe_err);
	if (!mb->err)
		memset(l->bytes + mb->size, 0, (size_t)(l->size - mb->size));
	return true;
}

static bool op_ftruncate(void)
{
	struct mailbox *mb = U->mb;
	int slot = rnd_slot(U, is_writable);
	struct life *l;

	if (slot < 0)
		return false;
	l = &R.lives[U->slots[slot].life];
	mb->slot = slot;
	mb->size = rnd_trunc(l->size);
	log_line("step %d: %s ftruncate slot %d (life #%d, %ld bytes%s) to %ld", R.step,
		 uname_of(U), slot, l->seq, l->size, l->exists ? "" : ", removed", mb->size);
	if (!call(U, A_FTRUNCATE))
		return true;
	log_line("  -> %s", err_name(mb->err));
	if (mb->size > l->size) {
		expect_err("ftruncate beyond the size", mb->err, EFBIG);
		return true;
	}
	/* A kept file acts on its own lifetime, removed and destroyed or
	 * not, its shmid another's or not: never ENOENT or ESTALE. */
	expect_err("ftruncate", mb->err, 0);
	if (!mb->err)
		memset(l->bytes + mb->size, 0, (size_t)(l->size - mb->size));
	return true;
}

static bool op_rm(bool direct)
{
	struct mailbox *mb = U->mb;
	struct life *l = rnd_live();
	const struct kseg *k;

	if (!l || !(k = kseg_of(l->shmid)) || (l->refs > 0 && !rm_kept))
		return false;
	mb->shmid = l->shmid;
	seg_path(mb->path, sizeof(mb->path), l->shmid, "");
	log_line("step %d: %s %s %d (life #%d, owner %u cuid %u)", R.step, uname_of(U),
		 direct ? "IPC_RMID" : "rm", l->shmid, l->seq, k->uid, k->cuid);
	if (!call(U, direct ? A_SHMRMID : A_UNLINK))
		return true;
	log_line("  -> %s", err_name(mb->err));
	expect_err(direct ? "IPC_RMID" : "rm", mb->err, allowed_ctl(U, k) ? 0 : EPERM);
	if (!mb->err)
		l->removed = true;
	return true;
}

static bool op_rm_mount(void)
{
	return op_rm(false);
}

static bool op_rmid(void)
{
	return op_rm(true);
}

static bool op_chmod(void)
{
	struct mailbox *mb = U->mb;
	struct life *l = rnd_live();
	const struct kseg *k;

	if (!l || !(k = kseg_of(l->shmid)))
		return false;
	mb->mode = (int)rnd_mode();
	seg_path(mb->path, sizeof(mb->path), l->shmid, "");
	log_line("step %d: %s chmod %04o %d (life #%d, owner %u cuid %u)", R.step, uname_of(U),
		 mb->mode, l->shmid, l->seq, k->uid, k->cuid);
	if (!call(U, A_CHMOD))
		return true;
	log_line("  -> %s", err_name(mb->err));
	expect_err("chmod", mb->err, allowed_ctl(U, k) ? 0 : EPERM);
	if (!mb->err)
		l->mode = (unsigned int)mb->mode;
	return true;
}

static bool op_chown(void)
{
	struct mailbox *mb = U->mb;
	struct life *l = rnd_live();
	const struct kseg *k;

	if (!l || !(k = kseg_of(l->shmid)))
		return false;
	mb->uid = users[rnd_below(NUSERS)];
	mb->gid = users[rnd_below(NUSERS)];
	seg_path(mb->path, sizeof(mb->path), l->shmid, "");
	log_line("step %d: %s chown %u:%u %d (life #%d, owner %u cuid %u)", R.step, uname_of(U),
		 mb->uid, mb->gid, l->shmid, l->seq, k->uid, k->cuid);
	if (!call(U, A_CHOWN))
		return true;
	log_line("  -> %s", err_name(mb->err));
	expect_err("chown", mb->err, allowed_ctl(U, k) ? 0 : EPERM);
	if (!mb->err) {
		l->uid = mb->uid;
		l->gid = mb->gid;
	}
	return true;
}

static bool op_shmatwrite(void)
{
	struct mailbox *mb = U->mb;
	struct life *l = rnd_live();

	if (!l)
		return false;
	mb->shmid = l->shmid;
	mb->off = rnd_below(l->size);
	mb->len = 1 + rnd_below(l->size - mb->off);
	rnd_bytes(mb->in, mb->len);
	log_line("step %d: %s shmat %d (life #%d) and store %ld at %ld", R.step, uname_of(U),
		 l->shmid, l->seq, mb->len, mb->off);
	if (!call(U, A_SHMATWRITE))
		return true;
	log_line("  -> %s", err_name(mb->err));
	if (!mb->err)
		memcpy(l->bytes + mb->off, mb->in, (size_t)mb->len);
	return true;
}

static int nusets(void)
{
	int n = 0;

	for (int i = 0; i < MAX_SETS; i++)
		n += R.sets[i].used;
	return n;
}

static bool op_semget(void)
{
	struct mailbox *mb = U->mb;
	int key = chance(60) ? IPC_PRIVATE : KEY_BASE + 0x100 + (int)rnd_below(4);
	bool exists = key != IPC_PRIVATE && set_key_exists(key);

	if (nusets() >= 48)
		return false;
	mb->key = key;
	mb->len = 1 + rnd_below(2);
	mb->mode = chance(50) ? 0600 : 0666;
	mb->marker = SEM_MARKER0 + R.next_marker++ % 20000;
	force_reuse(false);
	log_line("step %d: %s semget(0x%08x, %ld, %04o), marker %d", R.step, uname_of(U),
		 (unsigned int)key, mb->len, mb->mode, mb->marker);
	if (!call(U, A_SEMGET))
		return true;
	log_line("  -> %ld %s", mb->ret, err_name(mb->err));
	expect_err("semget", mb->err, exists ? EEXIST : 0);
	if (!mb->err) {
		expect_err("SETVAL of its own set", mb->err2, 0);
		add_uset((int)mb->ret, key, (int)mb->len, U->uid, mb->marker);
		if (uset_of((int)mb->ret))
			uset_of((int)mb->ret)->plain = true;
	}
	return true;
}

/* A user removes a set it owns: one it made, or a notification set the
 * daemon handed to it (1 semaphore, key 0, not made by it). */
static bool op_semrm(void)
{
	struct mailbox *mb = U->mb;
	int n = 0, pick = 0, semid = -1;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < R.nksets; i++) {
			const struct kset *k = &R.ksets[i];
			const struct uset *s = uset_of(k->semid);
			bool mine = s ? s->cuid == U->uid
				      : k->uid == U->uid && k->key == 0 && k->nsems == 1;

			if (!mine)
				continue;
			if (pass == 0)
				n++;
			else if (pick-- == 0)
				semid = k->semid;
		}
		if (n == 0)
			return false;
		pick = (int)rnd_below(n);
	}
	mb->shmid = semid;
	log_line("step %d: %s semctl(%d, IPC_RMID)%s", R.step, uname_of(U), semid,
		 uset_of(semid) ? "" : " (a set the daemon handed to it)");
	if (!call(U, A_SEMRM))
		return true;
	log_line("  -> %s", err_name(mb->err));
	expect_err("IPC_RMID of its own set", mb->err, 0);
	if (!mb->err)
		freed(false, semid);
	if (!mb->err && uset_of(semid))
		uset_of(semid)->used = false;
	return true;
}

/* Whether a file is open on a segment of s's key: the daemon then holds
 * s as that segment's lock, and checks it before every take. */
static bool lock_set_open(const struct uset *s)
{
	for (int u = 0; u < NUSERS; u++)
		for (int i = 0; i < INV_MAX_SLOTS; i++) {
			const struct slot *sl = &R.u[u].slots[i];

			if (sl->used && R.lives[sl->life].exists && R.lives[sl->life].key == s->key)
				return true;
		}
	return false;
}

/* A creation's lock set, preferably one a file holds, or NULL. */
static struct uset *rnd_lock_set(void)
{
	struct uset *pick = NULL;
	int n = 0, best = 0;

	for (int i = 0; i < MAX_SETS; i++) {
		struct uset *s = &R.sets[i];
		int rank;

		if (!s->used || s->plain || s->look || !kset_of(s->semid) || !key_live(s->key))
			continue;
		rank = lock_set_open(s) ? 2 : 1;
		if (rank > best) {
			best = rank;
			n = 0;
		}
		if (rank == best && rnd_below(++n) == 0)
			pick = s;
	}
	return pick;
}

static struct user *user_of(uid_t uid)
{
	for (int i = 0; i < NUSERS; i++)
		if (R.u[i].uid == uid)
			return &R.u[i];
	return &R.u[0];
}

/* A lock set's owner (or root) removes it while a file of its segment may
 * stay open, and at once, before the daemon has looked again, U makes a
 * set on its semid (kernel.sem_next_id) that looks like a lock: ShareLite's
 * 3 semaphores or the shmfs protocol's 5 with its mark, the lock free,
 * under a key no segment has, so it is nobody's lock.  The daemon must
 * see that the semid is not the set it chose (check_untouched()). */
/* A notification set's owner (the segment's owner, to whom the daemon
 * handed it; or root) removes it, and at once U makes a set of one
 * semaphore on its semid whose value looks like posts (a marker of 1000
 * and more): the daemon must take no post from it, and neither change
 * nor remove it. */
static bool swap_notify_set(void)
{
	struct mailbox *mb = U->mb;
	const struct kset *k = NULL;
	struct user *owner = &R.u[0];
	int n = 0, semid;

	for (int i = 0; i < R.nksets; i++) {
		const struct kset *c = &R.ksets[i];

		if (!uset_of(c->semid) && c->key == 0 && c->nsems == 1 && c->cuid == 0 &&
		    rnd_below(++n) == 0)
			k = c;
	}
	if (!k || nusets() >= 48)
		return false;
	semid = k->semid;
	for (int i = 0; i < NUSERS && !chance(30); i++)
		if (R.u[i].uid == k->uid)
			owner = &R.u[i];
	owner->mb->shmid = semid;
	log_line("step %d: %s semctl(%d, IPC_RMID): a notification set (owner %u)", R.step,
		 uname_of(owner), semid, k->uid);
	if (!call(owner, A_SEMRM))
		return true;
	log_line("  -> %s", err_name(owner->mb->err));
	if (owner->mb->err) {
		violation("%s IPC_RMID of the notification set %d it owns: %s, want ok",
			  uname_of(owner), semid, strerror(owner->mb->err));
		return true;
	}
	freed(false, semid);
	write_sysctl("sem_next_id", semid);
	mb->key = IPC_PRIVATE;
	mb->len = 1;
	mb->mode = chance(50) ? 0600 : 0666;
	mb->marker = SEM_MARKER0 + R.next_marker++ % 20000;
	log_line("  sem_next_id = %d; %s semget(IPC_PRIVATE, 1, %04o), marker %d", semid,
		 uname_of(U), mb->mode, mb->marker);
	if (!call(U, A_SEMGET))
		return true;
	log_line("  -> %ld %s", mb->ret, err_name(mb->err));
	expect_err("semget", mb->err, 0);
	if (mb->err)
		return true;
	expect_err("SETVAL of its own set", mb->err2, 0);
	add_uset((int)mb->ret, IPC_PRIVATE, 1, U->uid, mb->marker);
	if (uset_of((int)mb->ret)) {
		uset_of((int)mb->ret)->plain = true;
		uset_of((int)mb->ret)->took = semid;
	}
	return true;
}

static bool op_setswap(void)
{
	struct uset *s = rnd_lock_set();
	struct user *owner;
	struct mailbox *mb = U->mb;
	int semid, key = IPC_PRIVATE;

	if ((!s || chance(40)) && swap_notify_set())
		return true;
	if (!s || nusets() >= 48)
		return false;
	semid = s->semid;
	owner = chance(30) ? &R.u[0] : user_of(s->cuid);
	owner->mb->shmid = semid;
	log_line("step %d: %s semctl(%d, IPC_RMID): the lock set of 0x%08x%s", R.step,
		 uname_of(owner), semid, (unsigned int)s->key,
		 lock_set_open(s) ? ", a file of its segment open" : "");
	if (!call(owner, A_SEMRM))
		return true;
	log_line("  -> %s", err_name(owner->mb->err));
	if (owner->mb->err) {
		violation("%s IPC_RMID of the lock set %d, made for u%u: %s, want ok",
			  uname_of(owner), semid, (unsigned int)s->cuid, strerror(owner->mb->err));
		return true;
	}
	s->used = false;
	freed(false, semid);
	if (chance(30))
		key = KEY_BASE + 0x180 + (int)rnd_below(4); /* no segment's key */
	if (key != IPC_PRIVATE && set_key_exists(key))
		key = IPC_PRIVATE;
	write_sysctl("sem_next_id", semid);
	mb->key = key;
	mb->len = chance(60) ? SHARE_NSEMS_MARK : SHARE_NSEMS_PERL;
	mb->mode = chance(50) ? 0600 : 0666;
	mb->marker = 1; /* initialised, as ShareLite leaves it */
	log_line("  sem_next_id = %d; %s semget(0x%08x, %ld, %04o), a lock's look-alike", semid,
		 uname_of(U), (unsigned int)key, mb->len, mb->mode);
	if (!call(U, A_SEMLOOK))
		return true;
	log_line("  -> %ld %s, values %s", mb->ret, err_name(mb->err), err_name(mb->err2));
	expect_err("semget of a look-alike", mb->err, 0);
	if (mb->err)
		return true;
	expect_err("SETALL of its own set", mb->err2, 0);
	add_uset((int)mb->ret, key, (int)mb->len, U->uid, 1);
	if (uset_of((int)mb->ret)) {
		uset_of((int)mb->ret)->look = (int)mb->len;
		uset_of((int)mb->ret)->took = semid;
	}
	if (mb->ret != semid)
		log_line("  (the semid did not come back)");
	return true;
}

static bool op_nextread(void)
{
	struct mailbox *mb = U->mb;
	int slot = rnd_slot(U, is_next);
	struct slot *s;
	struct life *l;
	bool ready;

	if (slot < 0)
		return false;
	s = &U->slots[slot];
	l = &R.lives[s->life];
	ready = s->fired || l->writes != s->seen;
	mb->slot = slot;
	mb->len = INV_MAX_SEG + 1;
	/* bounded where nothing may come; where the write came, no timer
	 * may beat a slow daemon's answer */
	mb->off = ready ? 5000 * slow() : NEXT_WAIT_MS;
	log_line("step %d: %s read slot %d (%d.next, life #%d%s), waiting %d ms", R.step,
		 uname_of(U), slot, l->shmid, l->seq, ready ? ", written" : "", NEXT_WAIT_MS);
	if (!call(U, A_NEXTREAD))
		return true;
	log_line("  -> %ld bytes %s", mb->out_len, err_name(mb->err));
	if (!ready) {
		if (mb->err == EINTR || (mb->err == ENOENT && !l->exists))
			return true;
		violation("%s read of %d.next (life #%d), not written since its open: %s%s",
			  uname_of(U), l->shmid, l->seq,
			  mb->err ? strerror(mb->err) : "returned at once",
			  mb->err ? "" : whose_bytes(mb->out, mb->out_len, l));
		return true;
	}
	expect_bytes(uname_of(U), "read of a .next file after a write", l, mb->err, mb->out,
		     mb->out_len);
	s->fired = true;
	return true;
}

static bool op_poll(void)
{
	struct mailbox *mb = U->mb;
	/* a watched file's POLLIN comes with a write; the checks read every
	 * other file after each step, so it must have none */
	int slot = rnd_slot(U, chance(50) ? is_watched : is_plain);
	struct slot *s;
	struct life *l;
	bool want;

	if (slot < 0)
		return false;
	s = &U->slots[slot];
	l = &R.lives[s->life];
	want = l->writes != s->seen;
	mb->slot = slot;
	mb->len = 20;
	force_reuse(false);
	log_line("step %d: %s poll slot %d (life #%d%s)", R.step, uname_of(U), slot, l->seq,
		 want ? ", written since its last read" : "");
	if (!call(U, A_POLL))
		return true;
	log_line("  -> revents 0x%lx %s", mb->ret, err_name(mb->err));
	expect_err("poll", mb->err, 0);
	s->polled = true;
	if (!mb->err && ((mb->ret & POLLIN) != 0) != want)
		violation(
			"%s poll of a file of life #%d: %s, but %s written through the mount since "
			"its last read",
			uname_of(U), l->seq, mb->ret & POLLIN ? "POLLIN" : "no POLLIN",
			want ? "it was" : "it was not");
	return true;
}

/* ---- the sem/ and msg/ views ------------------------------------------------------ */

/* The kernel's ipcperms() for an agent (its gid is its uid, no
 * supplementary groups; root has CAP_IPC_OWNER). */
static bool ipc_may(uid_t who, unsigned int mode, uid_t uid, gid_t gid, uid_t cuid, gid_t cgid,
		    unsigned int want)
{
	if (who == 0)
		return true;
	if (who == uid || who == cuid)
		mode >>= 6;
	else if (who == gid || who == cgid)
		mode >>= 3;
	return (mode & want) == want;
}

static bool ipc_owner(uid_t who, uid_t uid, uid_t cuid)
{
	return who == 0 || who == uid || who == cuid;
}

static struct uqueue *uqueue_of(int msqid)
{
	for (int i = 0; i < MAX_QUEUES; i++)
		if (R.queues[i].used && R.queues[i].msqid == msqid)
			return &R.queues[i];
	return NULL;
}

static int nuqueues(void)
{
	int n = 0;

	for (int i = 0; i < MAX_QUEUES; i++)
		n += R.queues[i].used;
	return n;
}

static struct uqueue *rnd_uqueue(void)
{
	int n = nuqueues(), pick = (int)rnd_below(n);

	for (int i = 0; i < MAX_QUEUES && n > 0; i++)
		if (R.queues[i].used && pick-- == 0)
			return &R.queues[i];
	return NULL;
}

/* A random set a user made that the kernel has (plain: made by semget). */
static struct uset *rnd_uset(bool plain)
{
	int n = 0, pick;

	for (int i = 0; i < MAX_SETS; i++)
		n += R.sets[i].used && (!plain || R.sets[i].plain) && kset_of(R.sets[i].semid);
	if (n == 0)
		return NULL;
	pick = (int)rnd_below(n);
	for (int i = 0; i < MAX_SETS; i++)
		if (R.sets[i].used && (!plain || R.sets[i].plain) && kset_of(R.sets[i].semid) &&
		    pick-- == 0)
			return &R.sets[i];
	return NULL;
}

/* The object's line of /proc/sysvipc/sem or msg, and for a set each
 * semaphore's sempid: what looking must not change. */
static void trace_of(bool sem, int id, int nsems, char *buf, size_t size)
{
	FILE *f = fopen(sem ? "/proc/sysvipc/sem" : "/proc/sysvipc/msg", "re");
	char line[512];
	int n = 0;

	buf[0] = '\0';
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		int key, lid;

		if (sscanf(line, "%d %d", &key, &lid) == 2 && lid == id) {
			n = snprintf(buf, size, "%s", line);
			break;
		}
	}
	fclose(f);
	for (int i = 0; sem && i < nsems && n >= 0 && (size_t)n < size; i++)
		n += snprintf(buf + n, size - (size_t)n, " sempid[%d] %d", i,
			      semctl(id, i, GETPID));
}

static void expect_unchanged(const char *what, int id, const char *before, const char *after)
{
	if (strcmp(before, after) != 0)
		violation("%s's look at %s %d changed it: before \"%s\", after \"%s\"", uname_of(U),
			  what, id, before, after);
}

/* Whether text has line (a whole line, or its start when prefix). */
static bool has_line(const char *text, const char *line, bool prefix)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (prefix || p[n] == '\n'))
			return true;
	return false;
}

static bool op_semwrite(void)
{
	struct mailbox *mb = U->mb;
	struct uset *s = rnd_uset(true);
	const struct kset *k;
	int num, value, n, want_open, want = 0, next = -1;
	char text[32];

	if (!s || !(k = kset_of(s->semid)))
		return false;
	num = (int)rnd_below(s->nsems);
	value = num == 0 ? s->marker : s->val1;
	switch (rnd_below(10)) {
	case 0:
	case 1:
	case 2:
		n = chance(80) ? (int)rnd_below(30000) : 32760 + (int)rnd_below(16);
		snprintf(text, sizeof(text), "%d", n);
		want = n > 32767 ? ERANGE : 0;
		next = n;
		break;
	case 3:
	case 4:
	case 5:
		n = 1 + (int)rnd_below(5);
		snprintf(text, sizeof(text), "+%d", n);
		want = value + n > 32767 ? ERANGE : 0;
		next = value + n;
		break;
	case 6:
	case 7:
	case 8:
		n = chance(30) ? value + 1 + (int)rnd_below(3) : 1 + (int)rnd_below(5);
		snprintf(text, sizeof(text), "-%d", n);
		/* an amount past SEMVMX is refused before it is tried */
		want = n > 32767 ? ERANGE : value < n ? EAGAIN : 0;
		next = value - n;
		break;
	default: {
		static const char *const bad[] = {
			"+0", "-0", "x", "1 2", " ", "-40000", "+32768"
		};
		int b = (int)rnd_below(7);

		snprintf(text, sizeof(text), "%s", bad[b]);
		want = b < 5 ? EINVAL : ERANGE; /* a number out of range: ERANGE */
	}
	}
	if (chance(50))
		strcat(text, "\n");
	if (text[0] == '+' || text[0] == '-')
		s->opped = true; /* a semop asked for, done or not */
	want_open = ipc_may(U->uid, k->mode, k->uid, k->gid, k->cuid, k->cgid, 2) ? 0 : EACCES;
	snprintf(mb->path, sizeof(mb->path), "%s/sem/%d/%d", mnt.dir, s->semid, num);
	mb->len = (long)strlen(text);
	memcpy(mb->in, text, (size_t)mb->len);
	log_line("step %d: %s write \"%.*s\" to sem/%d/%d (value %d, mode %04o owner %u cuid %u)",
		 R.step, uname_of(U), (int)strcspn(text, "\n"), text, s->semid, num, value,
		 k->mode & 0777, k->uid, k->cuid);
	if (!call(U, A_SEMWRITE))
		return true;
	log_line("  -> open %s, write %s", err_name(mb->err), err_name(mb->err2));
	expect_err("open O_WRONLY of a semaphore", mb->err, want_open);
	if (mb->err)
		return true;
	expect_err("write to a semaphore", mb->err2, want);
	if (mb->err2 == 0 && want == 0) {
		if (num == 0)
			s->marker = next;
		else
			s->val1 = next;
	}
	return true;
}

/* The value of semaphore num of semid, once it has been want for 100 ms
 * (or 2 s have passed): what is left after the daemon had its chance to
 * take from it. */
static int settled_value(int semid, int num, int want)
{
	int v = semctl(semid, num, GETVAL), same = 0;

	for (int i = 0; i < 200 * slow() && same < 10; i++) {
		usleep(10000);
		v = semctl(semid, num, GETVAL);
		same = v == want ? same + 1 : 0;
	}
	return v;
}

/* A -N write that must wait (the value is short by 1 to 3) is parked in
 * the daemon, then ended one of three ways: a post of what is short lets
 * it through (the value is then 0); SIGKILL of the writer, after which a
 * post is left whole (a write that was killed never takes later); or the
 * set removed by its creator (or root), which ends it with EIDRM, often
 * with a look-alike set made on the semid at once, which the daemon must
 * never operate on (its sem_otime stays 0: checked after every step). */
static bool op_sempark(void)
{
	static const char *const how[] = { "a post", "SIGKILL of the writer", "IPC_RMID" };
	struct mailbox *mb = U->mb;
	struct uset *s = rnd_uset(true);
	const struct kset *k;
	int num, value, n, ending, ncnt = 0, semid, nsems;
	struct sembuf post;
	char text[32];

	if (!s || !(k = kset_of(s->semid)) ||
	    !ipc_may(U->uid, k->mode, k->uid, k->gid, k->cuid, k->cgid, 2))
		return false;
	semid = s->semid;
	nsems = s->nsems;
	num = (int)rnd_below(nsems);
	value = num == 0 ? s->marker : s->val1;
	n = value + 1 + (int)rnd_below(3);
	if (n > 32767)
		return false;
	ending = (int)rnd_below(3);
	s->opped = true;
	snprintf(text, sizeof(text), "-%d", n);
	snprintf(mb->path, sizeof(mb->path), "%s/sem/%d/%d", mnt.dir, semid, num);
	mb->len = (long)strlen(text);
	memcpy(mb->in, text, (size_t)mb->len);
	log_line("step %d: %s write \"%s\" to sem/%d/%d (value %d), parked; then %s", R.step,
		 uname_of(U), text, semid, num, value, how[ending]);
	if (!call(U, A_SEMPARK))
		return true;
	if (mb->err) {
		violation("%s: fork of the parked writer: %s", uname_of(U), strerror(mb->err));
		return true;
	}
	for (int i = 0; i < 500 * slow() && (ncnt = semctl(semid, num, GETNCNT)) < 1 &&
			!__atomic_load_n(&mb->park_done, __ATOMIC_SEQ_CST);
	     i++)
		usleep(10000);
	if (ncnt < 1) {
		mb->flags = 1;
		mb->len = 10000;
		if (call(U, A_SEMPARKEND))
			violation("the write \"%s\" to sem/%d/%d never waited: it returned %ld %s",
				  text, semid, num, mb->ret, err_name(mb->err));
		return true;
	}
	post = (struct sembuf){ .sem_num = (unsigned short)num, .sem_op = (short)(n - value) };
	if (ending == 2) { /* removed by its creator, or root */
		struct user *owner = chance(30) ? &R.u[0] : user_of(s->cuid);

		owner->mb->shmid = semid;
		if (!call(owner, A_SEMRM))
			return true;
		log_line("  %s semctl(%d, IPC_RMID) -> %s", uname_of(owner), semid,
			 err_name(owner->mb->err));
		expect_err("IPC_RMID of a set a write waits on", owner->mb->err, 0);
		s->used = false;
		freed(false, semid);
	} else if (ending == 0) {
		assert_int_equal(semop(semid, &post, 1), 0);
		log_line("  semop(%d, {%d, %+d})", semid, num, post.sem_op);
	}
	/* SIGKILL: the writer dies once its request is answered (a post
	 * before the daemon hears of the kill may still let the write
	 * through, as a semop the kernel completes for a sleeper a signal
	 * has not woken yet: the man page says so; so the post comes after) */
	mb->flags = ending == 1;
	mb->len = 10000 * slow();
	if (!call(U, A_SEMPARKEND))
		return true;
	log_line("  -> the write: %ld %s%s", mb->ret, err_name(mb->err),
		 mb->err2   ? " (did not end: killed)"
		 : mb->err3 ? " (killed)"
			    : "");
	if (mb->err2) {
		violation("the parked write \"%s\" to sem/%d/%d did not end after %s", text, semid,
			  num, how[ending]);
		return true;
	}
	if (ending == 0) {
		if (mb->err || mb->ret != (long)strlen(text))
			violation("the parked write \"%s\" after a post: %ld %s, want %zu", text,
				  mb->ret, err_name(mb->err), strlen(text));
		else if (num == 0)
			s->marker = 0;
		else
			s->val1 = 0;
	} else if (ending == 1) {
		int now;

		/* answered: nothing of the killed write waits any more */
		assert_int_equal(semop(semid, &post, 1), 0);
		log_line("  semop(%d, {%d, %+d})", semid, num, post.sem_op);
		now = settled_value(semid, num, n);
		if (now != n)
			violation(
				"sem/%d/%d is %d after the post that followed a killed -%d write, "
				"want %d: the killed write took it",
				semid, num, now, n, n);
		if (num == 0)
			s->marker = now;
		else
			s->val1 = now;
	} else {
		expect_err("a parked write whose set is removed", mb->err, EIDRM);
		if (chance(60) && nusets() < 48) {
			write_sysctl("sem_next_id", semid);
			mb->key = IPC_PRIVATE;
			mb->len = nsems;
			mb->mode = 0600;
			mb->marker = SEM_MARKER0 + R.next_marker++ % 20000;
			log_line("  sem_next_id = %d; %s semget(IPC_PRIVATE, %ld, 0600), marker %d",
				 semid, uname_of(U), mb->len, mb->marker);
			if (!call(U, A_SEMGET))
				return true;
			expect_err("semget of a look-alike", mb->err, 0);
			if (!mb->err) {
				add_uset((int)mb->ret, IPC_PRIVATE, (int)mb->len, U->uid,
					 mb->marker);
				if (uset_of((int)mb->ret))
					uset_of((int)mb->ret)->plain = true;
			}
		}
	}
	return true;
}

static bool op_semview(void)
{
	struct mailbox *mb = U->mb;
	struct uset *s = rnd_uset(false);
	const struct kset *k;
	char before[1024], after[1024], line[96];

	if (!s || !(k = kset_of(s->semid)) || s->nsems > INV_MAX_SEMS)
		return false;
	snprintf(mb->path, sizeof(mb->path), "%s/sem/%d", mnt.dir, s->semid);
	mb->shmid = s->semid;
	mb->len = s->nsems;
	log_line("step %d: %s reads sem/%d (mode %04o owner %u cuid %u)", R.step, uname_of(U),
		 s->semid, k->mode & 0777, k->uid, k->cuid);
	trace_of(true, s->semid, s->nsems, before, sizeof(before));
	if (!call(U, A_SEMVIEW))
		return true;
	trace_of(true, s->semid, s->nsems, after, sizeof(after));
	log_line("  -> stat %s, values %s (a direct IPC_STAT: %s)", err_name(mb->err),
		 err_name(mb->err2), err_name(mb->probe_err));
	expect_unchanged("set", s->semid, before, after);
	if (mb->err != mb->probe_err || mb->err2 != mb->probe_err) {
		violation("%s: sem/%d/stat %s, its values %s; a direct IPC_STAT: %s", uname_of(U),
			  s->semid, err_name(mb->err), err_name(mb->err2), err_name(mb->probe_err));
		return true;
	}
	if (mb->err)
		return true;
	snprintf(line, sizeof(line), "semid %d", s->semid);
	if (!has_line(mb->names, line, false))
		violation("%s: sem/%d/stat lacks \"%s\"", uname_of(U), s->semid, line);
	snprintf(line, sizeof(line), "perms %04o", k->mode & 0777);
	if (!has_line(mb->names, line, false))
		violation("%s: sem/%d/stat lacks \"%s\"", uname_of(U), s->semid, line);
	for (int i = 0; i < s->nsems; i++) {
		int model = !s->plain ? mb->direct_vals[i] : i == 0 ? s->marker : s->val1;

		if (mb->vals[i] != mb->direct_vals[i] || mb->vals[i] != model)
			violation("%s: sem/%d/%d reads %d; semctl GETVAL by the same user %d, the "
				  "model %d",
				  uname_of(U), s->semid, i, mb->vals[i], mb->direct_vals[i], model);
		snprintf(line, sizeof(line), "sem %d semval %d ", i, mb->direct_vals[i]);
		if (!has_line(mb->names, line, true))
			violation("%s: sem/%d/stat lacks \"%s...\"", uname_of(U), s->semid, line);
	}
	return true;
}

static void force_reuse_msg(void)
{
	if (R.nfreed_msg == 0 || !chance(70))
		return;
	for (int tries = 0; tries < 4; tries++) {
		int id = R.freed_msg[rnd_below(R.nfreed_msg < 4 ? R.nfreed_msg : 4)];

		if (kmsg_of(id))
			continue;
		write_sysctl("msg_next_id", id);
		log_line("  msg_next_id = %d", id);
		return;
	}
}

static bool op_msgget(void)
{
	static const unsigned int modes[] = { 0600, 0644, 0666, 0640, 0622 };
	struct mailbox *mb = U->mb;
	int key = chance(50) ? IPC_PRIVATE : KEY_BASE + 0x200 + (int)rnd_below(3), slot = -1;
	bool exists = false;

	for (int i = 0; i < MAX_QUEUES && slot < 0; i++)
		if (!R.queues[i].used)
			slot = i;
	if (slot < 0)
		return false;
	for (int i = 0; i < R.nkmsgs && key != IPC_PRIVATE; i++)
		exists |= R.kmsgs[i].key == key;
	mb->key = key;
	mb->mode = (int)modes[rnd_below(5)];
	force_reuse_msg();
	log_line("step %d: %s msgget(0x%08x, %04o)", R.step, uname_of(U), (unsigned int)key,
		 mb->mode);
	if (!call(U, A_MSGGET))
		return true;
	log_line("  -> %ld %s", mb->ret, err_name(mb->err));
	expect_err("msgget", mb->err, exists ? EEXIST : 0);
	if (!mb->err)
		R.queues[slot] = (struct uqueue){ .used = true,
						  .msqid = (int)mb->ret,
						  .key = key,
						  .cuid = U->uid,
						  .born = R.step };
	return true;
}

static bool op_msgsnd(void)
{
	struct mailbox *mb = U->mb;
	struct uqueue *q = rnd_uqueue();
	const struct kmsg *k;
	int want;

	if (!q || q->n >= INV_MAX_MSGS || !(k = kmsg_of(q->msqid)))
		return false;
	mb->shmid = q->msqid;
	mb->marker = 1 + (int)rnd_below(9);
	mb->len = rnd_below(INV_MAX_MSG + 1);
	rnd_bytes(mb->in, mb->len);
	want = ipc_may(U->uid, k->mode, k->uid, k->gid, k->cuid, k->cgid, 2) ? 0 : EACCES;
	log_line("step %d: %s msgsnd(%d, mtype %d, %ld bytes)", R.step, uname_of(U), q->msqid,
		 mb->marker, mb->len);
	if (!call(U, A_MSGSND))
		return true;
	log_line("  -> %s", err_name(mb->err));
	expect_err("msgsnd", mb->err, want);
	if (!mb->err) {
		q->type[q->n] = mb->marker;
		q->len[q->n] = mb->len;
		memcpy(q->bytes[q->n], mb->in, (size_t)mb->len);
		q->n++;
	}
	return true;
}

static bool op_msgrcv(void)
{
	struct mailbox *mb = U->mb;
	struct uqueue *q = rnd_uqueue();
	const struct kmsg *k;
	int want;

	if (!q || q->n == 0 || !(k = kmsg_of(q->msqid)))
		return false;
	mb->shmid = q->msqid;
	want = ipc_may(U->uid, k->mode, k->uid, k->gid, k->cuid, k->cgid, 4) ? 0 : EACCES;
	log_line("step %d: %s msgrcv(%d)", R.step, uname_of(U), q->msqid);
	if (!call(U, A_MSGRCV))
		return true;
	log_line("  -> mtype %ld, %ld bytes %s", mb->ret, mb->out_len, err_name(mb->err));
	expect_err("msgrcv", mb->err, want);
	if (mb->err)
		return true;
	if (mb->ret != q->type[0] || mb->out_len != q->len[0] ||
	    memcmp(mb->out, q->bytes[0], (size_t)q->len[0]) != 0)
		violation("%s msgrcv(%d): mtype %ld, %ld bytes; the model's first message: mtype "
			  "%ld, %ld bytes (a reader through the mount took or reordered one?)",
			  uname_of(U), q->msqid, mb->ret, mb->out_len, q->type[0], q->len[0]);
	q->n--;
	memmove(q->type, q->type + 1, sizeof(q->type[0]) * (size_t)q->n);
	memmove(q->len, q->len + 1, sizeof(q->len[0]) * (size_t)q->n);
	memmove(q->bytes, q->bytes + 1, sizeof(q->bytes[0]) * (size_t)q->n);
	return true;
}

static bool op_msgview(void)
{
	struct mailbox *mb = U->mb;
	struct uqueue *q = rnd_uqueue();
	const struct kmsg *k;
	char before[1024], after[1024], line[96];
	long at = 0;

	if (!q || !(k = kmsg_of(q->msqid)))
		return false;
	snprintf(mb->path, sizeof(mb->path), "%s/msg/%d", mnt.dir, q->msqid);
	mb->shmid = q->msqid;
	mb->len = q->n;
	log_line("step %d: %s reads msg/%d, %d messages (mode %04o owner %u cuid %u)", R.step,
		 uname_of(U), q->msqid, q->n, k->mode & 0777, k->uid, k->cuid);
	trace_of(false, q->msqid, 0, before, sizeof(before));
	if (!call(U, A_MSGVIEW))
		return true;
	trace_of(false, q->msqid, 0, after, sizeof(after));
	log_line("  -> stat %s, messages %s (a direct IPC_STAT: %s)", err_name(mb->err),
		 err_name(mb->err2), err_name(mb->probe_err));
	expect_unchanged("queue", q->msqid, before, after);
	if (mb->err != mb->probe_err || (q->n > 0 && mb->err2 != mb->probe_err)) {
		violation("%s: msg/%d/stat %s, its messages %s; a direct IPC_STAT: %s", uname_of(U),
			  q->msqid, err_name(mb->err), err_name(mb->err2), err_name(mb->probe_err));
		return true;
	}
	if (mb->err)
		return true;
	snprintf(line, sizeof(line), "qnum %d", q->n);
	if (!has_line(mb->names, line, false))
		violation("%s: msg/%d/stat lacks \"%s\"", uname_of(U), q->msqid, line);
	for (int i = 0; i < q->n; i++) {
		snprintf(line, sizeof(line), "message %d mtype %ld size %ld", i, q->type[i],
			 q->len[i]);
		if (!has_line(mb->names, line, false))
			violation("%s: msg/%d/stat lacks \"%s\"", uname_of(U), q->msqid, line);
		if (mb->msg_len[i] != q->len[i] ||
		    memcmp(mb->out + at, q->bytes[i], (size_t)q->len[i]) != 0) {
			violation("%s: msg/%d/%d: %ld bytes, not the model's %ld bytes",
				  uname_of(U), q->msqid, i, mb->msg_len[i], q->len[i]);
			break;
		}
		at += q->len[i];
	}
	return true;
}

static bool op_viewrm(void)
{
	struct mailbox *mb = U->mb;
	bool sem = chance(50);
	struct uset *s = sem ? rnd_uset(true) : NULL;
	struct uqueue *q = sem ? NULL : rnd_uqueue();
	const struct kset *ks = s ? kset_of(s->semid) : NULL;
	const struct kmsg *kq = q ? kmsg_of(q->msqid) : NULL;
	int id = s ? s->semid : q ? q->msqid : -1;
	bool may;

	if (!ks && !kq)
		return false;
	may = ks ? ipc_owner(U->uid, ks->uid, ks->cuid) : ipc_owner(U->uid, kq->uid, kq->cuid);
	snprintf(mb->path, sizeof(mb->path), "%s/%s/%d", mnt.dir, sem ? "sem" : "msg", id);
	log_line("step %d: %s rmdir %s/%d (owner %u cuid %u)", R.step, uname_of(U),
		 sem ? "sem" : "msg", id, ks ? ks->uid : kq->uid, ks ? ks->cuid : kq->cuid);
	if (!call(U, A_RMDIR))
		return true;
	log_line("  -> %s", err_name(mb->err));
	expect_err("rmdir", mb->err, may ? 0 : EPERM);
	if (mb->err)
		return true;
	if (s) {
		s->used = false;
		freed(false, id);
	} else {
		q->used = false;
		memmove(R.freed_msg + 1, R.freed_msg, sizeof(int) * 15);
		R.freed_msg[0] = id;
		if (R.nfreed_msg < 16)
			R.nfreed_msg++;
	}
	return true;
}

/* After every step: the queues are the model's (no other, none gone,
 * their counts), msg/ lists exactly the kernel's and sem/ every set a
 * user made, for every user. */
static void check_views(void)
{
	scan_msg();
	for (int i = 0; i < MAX_QUEUES; i++) {
		struct uqueue *q = &R.queues[i];
		const struct kmsg *k;
		long bytes = 0;

		if (!q->used)
			continue;
		for (int j = 0; j < q->n; j++)
			bytes += q->len[j];
		k = kmsg_of(q->msqid);
		if (!k || k->cuid != q->cuid || k->key != q->key) {
			violation("the queue %d that u%u made at step %d is gone", q->msqid,
				  (unsigned int)q->cuid, q->born);
			q->used = false;
		} else if (k->qnum != q->n || k->cbytes != bytes) {
			violation("the queue %d has %ld messages, %ld bytes; the model %d, %ld",
				  q->msqid, k->qnum, k->cbytes, q->n, bytes);
		}
	}
	for (int i = 0; i < R.nkmsgs; i++)
		if (!uqueue_of(R.kmsgs[i].msqid)) {
			violation("a queue %d (key 0x%08x, cuid %u) appeared; no step made it",
				  R.kmsgs[i].msqid, (unsigned int)R.kmsgs[i].key, R.kmsgs[i].cuid);
			for (int j = 0; j < MAX_QUEUES; j++)
				if (!R.queues[j].used) {
					R.queues[j] = (struct uqueue){ .used = true,
								       .msqid = R.kmsgs[i].msqid,
								       .key = R.kmsgs[i].key,
								       .cuid = R.kmsgs[i].cuid,
								       .born = R.step };
					break;
				}
		}
	for (int i = 0; i < NUSERS && !R.hung; i++) {
		struct user *u = &R.u[i];
		struct mailbox *mb = u->mb;
		char name[32];
		int n = 0;

		snprintf(mb->path, sizeof(mb->path), "%s/msg", mnt.dir);
		if (!call(u, A_READDIR))
			return;
		for (int j = 0; j < R.nkmsgs; j++) {
			snprintf(name, sizeof(name), "%d", R.kmsgs[j].msqid);
			if (!listed(mb->names, name))
				violation("%s: msg/ lacks %s, which the kernel has", uname_of(u),
					  name);
		}
		for (const char *p = mb->names; *p; p++)
			n += *p == '\n';
		if (mb->err || n != R.nkmsgs + 1) /* and by-key */
			violation("%s: msg/ lists %d names (%s), the kernel has %d queues",
				  uname_of(u), n, err_name(mb->err), R.nkmsgs);
		snprintf(mb->path, sizeof(mb->path), "%s/sem", mnt.dir);
		if (!call(u, A_READDIR))
			return;
		for (int j = 0; j < MAX_SETS; j++) {
			if (!R.sets[j].used)
				continue;
			snprintf(name, sizeof(name), "%d", R.sets[j].semid);
			if (!listed(mb->names, name))
				violation("%s: sem/ lacks %s, u%u's set", uname_of(u), name,
					  (unsigned int)R.sets[j].cuid);
		}
	}
}

static bool (*const op_fn[NOPS])(void) = {
	[OP_CREATE] = op_create,
	[OP_SHMGET] = op_shmget,
	[OP_OPEN] = op_open,
	[OP_CLOSE] = op_close,
	[OP_READ] = op_read,
	[OP_WRITE] = op_write,
	[OP_PATHWRITE] = op_pathwrite,
	[OP_MMAP] = op_mmap,
	[OP_MAPWRITE] = op_mapwrite,
	[OP_MUNMAP] = op_munmap,
	[OP_TRUNCATE] = op_truncate,
	[OP_FTRUNCATE] = op_ftruncate,
	[OP_RM] = op_rm_mount,
	[OP_RMID] = op_rmid,
	[OP_CHMOD] = op_chmod,
	[OP_CHOWN] = op_chown,
	[OP_SHMATWRITE] = op_shmatwrite,
	[OP_SEMGET] = op_semget,
	[OP_SEMRM] = op_semrm,
	[OP_NEXTOPEN] = op_nextopen,
	[OP_NEXTREAD] = op_nextread,
	[OP_POLL] = op_poll,
	[OP_SEMWRITE] = op_semwrite,
	[OP_SEMVIEW] = op_semview,
	[OP_MSGGET] = op_msgget,
	[OP_MSGSND] = op_msgsnd,
	[OP_MSGRCV] = op_msgrcv,
	[OP_MSGVIEW] = op_msgview,
	[OP_VIEWRM] = op_viewrm,
	[OP_SETSWAP] = op_setswap,
	[OP_SEMPARK] = op_sempark,
};

static void one_step(void)
{
	unsigned int total = 0;

	for (int i = 0; i < NOPS; i++)
		total += op_enabled[i] ? op_weight[i] : 0;
	for (int tries = 0; tries < 50; tries++) {
		long pick = rnd_below(total);
		int op = 0;

		for (; op < NOPS; op++) {
			if (!op_enabled[op])
				continue;
			if (pick < (long)op_weight[op])
				break;
			pick -= op_weight[op];
		}
		U = &R.u[rnd_below(NUSERS)];
		if (op < NOPS && op_fn[op]())
			return;
	}
	U = &R.u[0];
	if (!op_shmget())
		log_line("step %d: nothing to do", R.step);
}

/* ---- one run ------------------------------------------------------------------------ */

/* Whether MAP_SHARED works on this mount (else it must be ENODEV). */
static bool probe_mmap(void)
{
	int id = make_segment(IPC_PRIVATE, PAGE, 0600), fd;
	char path[128];
	void *p;
	bool works;

	seg_path(path, sizeof(path), id, "");
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		assert_int_equal(errno, ENODEV);
	works = p != MAP_FAILED;
	if (works)
		munmap(p, PAGE);
	close(fd);
	shmctl(id, IPC_RMID, NULL);
	return works;
}

static void remove_everything(void)
{
	scan_shm();
	scan_sem();
	for (int i = 0; i < R.nksegs; i++)
		shmctl(R.ksegs[i].shmid, IPC_RMID, NULL);
	for (int i = 0; i < R.nksets; i++)
		semctl(R.ksets[i].semid, 0, IPC_RMID);
	scan_msg();
	for (int i = 0; i < R.nkmsgs; i++)
		msgctl(R.kmsgs[i].msqid, IPC_RMID, NULL);
}

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 0) : dflt;
}

/* A close's RELEASE reaches the daemon after close(2) returns, and is
 * served beside the next requests: a moment for it to be done keeps a
 * replay close to the run it replays (the daemon's threads still decide
 * the order of what overlaps). */
static void settle(void)
{
	usleep(2000);
}

static void run_seed(uint64_t seed)
{
	static const char *const args[] = { "-o", "allow_other", "-o", "lock_timeout=2", NULL };
	long steps = env_long("SHMFS_INVARIANTS_STEPS", 300);
	double limit = (double)env_long("SHMFS_INVARIANTS_SECONDS", 60), t0 = now();
	struct life *lives = calloc(MAX_LIVES, sizeof(struct life));
	int status;

	assert_non_null(lives);
	free(R.log);
	memset(&R, 0, sizeof(R));
	R.lives = lives;
	R.seed = seed;
	R.rng = seed * 0x9e3779b97f4a7c15ull + 1;
	R.expect_shmid = -1;
	R.step = 0;
	printf("invariants: seed %llu, at most %ld steps or %.0f s\n", (unsigned long long)seed,
	       steps, limit);
	mount_start(&mnt, shmfs_path, args);
	R.mmap_works = probe_mmap();
	scan_shm();
	scan_sem();
	scan_msg();
	start_agents();
	for (R.step = 1; R.step <= steps && !R.failed && now() - t0 < limit; R.step++) {
		/* A forced id the step did not use stays for the next creation
		 * (the kernel takes no -1 from a writer): still an id reused. */
		one_step();
		settle();
		if (!R.hung) {
			check_all();
			settle();
		}
	}
	R.steps = R.step - 1;
	stop_agents();
	status = mount_stop(&mnt);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		violation("the daemon exited with status 0x%x", status);
	/* Nothing of the daemon's outlives it: every set left is a user's. */
	scan_sem();
	for (int i = 0; i < R.nksets; i++)
		if (!uset_of(R.ksets[i].semid))
			violation(
				"after the daemon stopped, set %d (key 0x%08x, owner %u, cuid %u, "
				"%d semaphores) is left; no user made it",
				R.ksets[i].semid, (unsigned int)R.ksets[i].key, R.ksets[i].uid,
				R.ksets[i].cuid, R.ksets[i].nsems);
	check_sets();
	printf("invariants: seed %llu: %d steps in %.1f s, %d lifetimes, mmap %s: %s\n",
	       (unsigned long long)seed, R.steps, now() - t0, R.next_seq,
	       R.mmap_works ? "works" : "ENODEV", R.failed ? "FAILED" : "all invariants held");
	if (R.failed || getenv("SHMFS_INVARIANTS_VERBOSE")) {
		fprintf(stderr, "---- the step log (seed %llu) ----\n%s---- end of the log ----\n",
			(unsigned long long)seed, R.log ? R.log : "");
		fprintf(stderr,
			"replay: SHMFS_INVARIANTS_SEED=%llu SHMFS_INVARIANTS_STEPS=%d%s %s %s\n",
			(unsigned long long)seed, R.step - 1,
			getenv("SHMFS_INVARIANTS_SKIP") ? " SHMFS_INVARIANTS_SKIP=..." : "",
			"build/tests/test_invariants", shmfs_path);
	}
	remove_everything();
	free(R.lives);
	R.lives = NULL;
	assert_false(R.failed);
}

static void test_fixed_seed(void **state)
{
	run_seed((uint64_t)env_long("SHMFS_INVARIANTS_FIXED_SEED", 1));
}

static void test_random_seed(void **state)
{
	const char *v = getenv("SHMFS_INVARIANTS_SEED");
	uint64_t seed;

	if (v && *v) {
		seed = strtoull(v, NULL, 0);
	} else {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		seed = ((uint64_t)t.tv_nsec ^ (uint64_t)getpid() << 20) % 1000000000ull;
	}
	run_seed(seed);
}

/* Whether the comma-separated list v names name. */
static bool names(const char *v, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = v; v && (p = strstr(p, name)) != NULL; p += n)
		if ((p == v || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* Which operations run: all, but those SHMFS_INVARIANTS_SKIP names
 * ("rmkept" too). */
static void choose_ops(void)
{
	const char *skip = getenv("SHMFS_INVARIANTS_SKIP");

	for (int i = 0; i < NOPS; i++)
		op_enabled[i] = !names(skip, op_names[i]);
	rm_kept = !names(skip, "rmkept");
	printf("invariants: operations:");
	for (int i = 0; i < NOPS; i++)
		if (op_enabled[i])
			printf(" %s", op_names[i]);
	printf("%s\n", rm_kept ? " rmkept" : "");
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_seed),
		cmocka_unit_test(test_random_seed),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	testutil_isolate(true);
	testutil_watchdog(WATCHDOG_S);
	if (access("/proc/sys/kernel/shm_next_id", W_OK) != 0 ||
	    access("/proc/sys/kernel/sem_next_id", W_OK) != 0 ||
	    access("/proc/sys/kernel/msg_next_id", W_OK) != 0) {
		fprintf(stderr, "no kernel.shm_next_id, sem_next_id or msg_next_id "
				"(CONFIG_CHECKPOINT_RESTORE)\n");
		return testutil_in_ci() ? 1 : TEST_SKIP;
	}
	choose_ops();
	testutil_filter();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
