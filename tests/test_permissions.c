/* test_permissions.c - who may do what through the mount, with the kernel as the oracle.
 *
 * shmfs is mounted as root with allow_other, as a system would mount it,
 * in a private IPC and mount namespace.  For segments of every who-is-who
 * (owner, creator, group, creator's group) and a wide set of modes, each
 * caller (a forked child with real unprivileged ids) asks the kernel
 * directly (shmat, shmctl) and then asks the mount (open, truncate, chmod,
 * chown, unlink, the sidecar's "lock", access(2)).  The two answers must
 * agree in every cell; there is no expected table written by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SEGMENT_SIZE	4096
#define CHILD_TIMEOUT_S 60
#define MAX_SHOWN	40 /* disagreements printed in full */

static const char *shmfs_path;
static struct test_mount mnt; /* allow_other, shared by the matrix tests */
static const char *mount_dir; /* where the matrix asks: mnt.dir unless a test says */

/* ---- identities --------------------------------------------------------- */

#define UID_A	   2001 /* owns most segments */
#define UID_B	   2002 /* creates most segments */
#define GID_A	   3001 /* UID_A's group, the segments' usual gid */
#define GID_B	   3002 /* UID_B's group, the segments' usual cgid */
#define UID_NOBODY 65534
#define GID_NOBODY 65534

/* Enough groups that GID_A, which sorts after them all, is past the 64
 * that a first read of /proc/PID/status might be cut to. */
#define MANY_GROUPS 81

struct identity {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
};

static const gid_t groups_a[] = { GID_A };
static const gid_t groups_b[] = { GID_B };
static gid_t groups_many[MANY_GROUPS];

/* The callers: each has real, distinct ids; what role it plays depends on
 * the segment (see the casts below). */
static const struct identity callers[] = {
	{ UID_A, GID_A, NULL, 0 },			/* the owner in most casts, and in gid */
	{ UID_B, GID_B, NULL, 0 },			/* the creator in most casts, and in cgid */
	{ 2003, GID_A, NULL, 0 },			/* in gid (or cgid) by its primary group */
	{ 2004, GID_B, NULL, 0 },			/* in cgid (or gid) by its primary group */
	{ 2005, 4005, groups_a, ARRAY_SIZE(groups_a) }, /* by a supplementary group only */
	{ 2006, 4006, groups_b, ARRAY_SIZE(groups_b) }, /* by a supplementary group only */
	{ 2007, 4007, groups_many, MANY_GROUPS },	/* by its 81st supplementary group */
	{ UID_NOBODY, GID_NOBODY, NULL, 0 },
	{ 0, 0, NULL, 0 },
};

#define NCALLERS ARRAY_SIZE(callers)

static const struct identity root_identity = { 0, 0, NULL, 0 };

/* A who-is-who: the creator calls shmget (so cuid and cgid are its ids),
 * then root gives the segment uid and gid by IPC_SET. */
struct cast {
	const char *what;
	const struct identity *creator;
	uid_t uid;
	gid_t gid;
};

static const struct cast casts[] = {
	{ "made by its owner", &callers[0], UID_A, GID_A },
	{ "owner, creator, gid and cgid all distinct", &callers[1], UID_A, GID_A },
	{ "made by root, given to its owner", &root_identity, UID_A, GID_A },
	{ "gid is cgid, owner is not creator", &callers[1], UID_A, GID_B },
	{ "given away by its creator", &callers[0], UID_B, GID_B },
	{ "in nobody's group", &callers[1], UID_A, GID_NOBODY },
};

#define NCASTS ARRAY_SIZE(casts)

/* Every value of each class with the others clear, then mixed modes where
 * the class that applies differs from the ones that do not. */
static const unsigned int modes[] = {
	0000, 0100, 0200, 0300, 0400, 0500, 0600, 0700, 0010, 0020, 0030, 0040,
	0050, 0060, 0070, 0001, 0002, 0003, 0004, 0005, 0006, 0007, 0444, 0222,
	0666, 0777, 0640, 0604, 0660, 0606, 0066, 0644, 0466, 0646, 0664, 0246,
	0264, 0426, 0462, 0624, 0642, 0406, 0460, 0046, 0064, 0755,
};

#define NMODES ARRAY_SIZE(modes)

/* ---- operations ----------------------------------------------------------- */

enum op {
	OP_READ,	 /* open O_RDONLY + read       | shmat SHM_RDONLY */
	OP_READ_WRITE,	 /* open O_RDWR + write        | shmat 0 */
	OP_TRUNC_OPEN,	 /* open O_WRONLY|O_TRUNC      | shmat 0 */
	OP_TRUNCATE,	 /* truncate(2)                | shmat 0 */
	OP_CHMOD,	 /* chmod to the same mode     | IPC_SET, values unchanged */
	OP_CHOWN,	 /* chown to the same ids      | IPC_SET, values unchanged */
	OP_REMOVE,	 /* unlink one copy            | IPC_RMID another copy */
	OP_LOCK,	 /* "lock", "unlock" > sidecar | SHM_LOCK, SHM_UNLOCK */
	OP_ACCESS_READ,	 /* access R_OK                | shmat SHM_RDONLY */
	OP_ACCESS_WRITE, /* access W_OK                | shmat 0 */
	OP_ACCESS_LOCK,	 /* access W_OK on the sidecar | SHM_LOCK */
	OP_COUNT,
};

static const char *const op_names[OP_COUNT] = {
	[OP_READ] = "open(O_RDONLY)",
	[OP_READ_WRITE] = "open(O_RDWR)",
	[OP_TRUNC_OPEN] = "open(O_WRONLY|O_TRUNC)",
	[OP_TRUNCATE] = "truncate",
	[OP_CHMOD] = "chmod",
	[OP_CHOWN] = "chown",
	[OP_REMOVE] = "unlink",
	[OP_LOCK] = "lock via sidecar",
	[OP_ACCESS_READ] = "access(R_OK)",
	[OP_ACCESS_WRITE] = "access(W_OK)",
	[OP_ACCESS_LOCK] = "access(sidecar, W_OK)",
};

/* How each refusal must look: the kernel's errno, and the mount's.  A
 * refused lock fails with the kernel's own EPERM, at the sidecar's open
 * for writing or at the write. */
static const int kernel_refusal[OP_COUNT] = {
	[OP_READ] = EACCES,	    [OP_READ_WRITE] = EACCES, [OP_TRUNC_OPEN] = EACCES,
	[OP_TRUNCATE] = EACCES,	    [OP_CHMOD] = EPERM,	      [OP_CHOWN] = EPERM,
	[OP_REMOVE] = EPERM,	    [OP_LOCK] = EPERM,	      [OP_ACCESS_READ] = EACCES,
	[OP_ACCESS_WRITE] = EACCES, [OP_ACCESS_LOCK] = EPERM,
};
static const int mount_refusal[OP_COUNT] = {
	[OP_READ] = EACCES,	    [OP_READ_WRITE] = EACCES,  [OP_TRUNC_OPEN] = EACCES,
	[OP_TRUNCATE] = EACCES,	    [OP_CHMOD] = EPERM,	       [OP_CHOWN] = EPERM,
	[OP_REMOVE] = EPERM,	    [OP_LOCK] = EPERM,	       [OP_ACCESS_READ] = EACCES,
	[OP_ACCESS_WRITE] = EACCES, [OP_ACCESS_LOCK] = EACCES,
};

/* Every segment of one (cast, mode): the one all callers share, and for
 * each caller a copy for the kernel's IPC_RMID and one for unlink. */
struct segment_group {
	int shmid;
	int kernel_copy[NCALLERS];
	int mount_copy[NCALLERS];
};

struct cell {
	int kernel[OP_COUNT]; /* 0 or errno */
	int mount[OP_COUNT];
	bool lock_refused_at_write;
	bool done;
};

/* Shared between the test and its children (MAP_SHARED). */
struct matrix {
	struct segment_group seg[NCASTS][NMODES];
	struct cell cell[NCASTS][NMODES][NCALLERS];
	bool prepared[NCASTS];
};

static struct matrix *matrix;

/* ---- children -------------------------------------------------------------- */

static void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_ptr_not_equal(p, MAP_FAILED);
	return p;
}

/* Take who's ids for real: groups, then gid, then uid. */
static bool take_ids(const struct identity *who)
{
	return setgroups(who->ngroups, who->groups) == 0 &&
	       setresgid(who->gid, who->gid, who->gid) == 0 &&
	       setresuid(who->uid, who->uid, who->uid) == 0;
}

/* SHM_LOCK by a non-root owner also needs RLIMIT_MEMLOCK room (the
 * daemon, as root, needs none): take all the hard limit allows, so that
 * only permission decides. */
static void raise_memlock(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
}

/* In a fresh child: become who, die with the test, and never hang it. */
static void become(const struct identity *who, pid_t parent)
{
	raise_memlock();
	if (!take_ids(who)) {
		perror("become");
		_exit(2);
	}
	/* Set after the id change, which clears it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);
	alarm(CHILD_TIMEOUT_S);
}

/* Run fn(arg) as who in a child; assert it ran to the end. */
static void as_identity(const struct identity *who, void (*fn)(void *arg), void *arg)
{
	pid_t parent = getpid();
	pid_t pid = testutil_fork();
	int status;

	if (pid == 0) {
		become(who, parent);
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "child as uid %u: status 0x%x\n", (unsigned int)who->uid, status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the kernel's answers (the oracle) ----------------------------------- */

static int kernel_attach(int shmid, int flags)
{
	void *p = shmat(shmid, NULL, flags);

	if (p == (void *)-1)
		return errno;
	shmdt(p);
	return 0;
}

static int kernel_set_unchanged(int shmid, uid_t uid, gid_t gid, unsigned int mode)
{
	struct shmid_ds ds;

	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = uid;
	ds.shm_perm.gid = gid;
	ds.shm_perm.mode = mode;
	return shmctl(shmid, IPC_SET, &ds) == 0 ? 0 : errno;
}

static int kernel_lock(int shmid)
{
	if (shmctl(shmid, SHM_LOCK, NULL) != 0)
		return errno;
	return shmctl(shmid, SHM_UNLOCK, NULL) == 0 ? 0 : errno;
}

/* ---- the mount's answers ----------------------------------------------------- */

static void path_of(char *buf, size_t size, int shmid, const char *suffix)
{
	snprintf(buf, size, "%s/%d%s", mount_dir, shmid, suffix);
}

/* open, then one read or write to prove the open gave what it said. */
static int mount_open(int shmid, int flags)
{
	char path[96], byte = 0;
	ssize_t n;
	int fd, ret = 0;

	path_of(path, sizeof(path), shmid, "");
	fd = open(path, flags);
	if (fd < 0)
		return errno;
	if ((flags & O_ACCMODE) == O_RDONLY)
		n = read(fd, &byte, 1);
	else
		n = write(fd, &byte, 1);
	if (n != 1)
		ret = n < 0 ? errno : ENODATA;
	close(fd);
	return ret;
}

static int mount_truncate(int shmid)
{
	char path[96];

	path_of(path, sizeof(path), shmid, "");
	return truncate(path, 0) == 0 ? 0 : errno;
}

static int mount_chmod(int shmid, unsigned int mode)
{
	char path[96];

	path_of(path, sizeof(path), shmid, "");
	return chmod(path, mode) == 0 ? 0 : errno;
}

static int mount_chown(int shmid, uid_t uid, gid_t gid)
{
	char path[96];

	path_of(path, sizeof(path), shmid, "");
	return chown(path, uid, gid) == 0 ? 0 : errno;
}

static int mount_unlink(int shmid)
{
	char path[96];

	path_of(path, sizeof(path), shmid, "");
	return unlink(path) == 0 ? 0 : errno;
}

static int mount_lock(int shmid, bool *refused_at_write)
{
	char path[96];
	int fd, ret = 0;

	*refused_at_write = false;
	path_of(path, sizeof(path), shmid, ".stat");
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return errno;
	if (write(fd, "lock", 4) != 4 || write(fd, "unlock", 6) != 6) {
		ret = errno;
		*refused_at_write = true;
	}
	close(fd);
	return ret;
}

static int mount_access(int shmid, const char *suffix, int mask)
{
	char path[96];

	path_of(path, sizeof(path), shmid, suffix);
	return access(path, mask) == 0 ? 0 : errno;
}

/* ---- one caller against every segment of a cast ---------------------------- */

struct caller_run {
	size_t cast;
	size_t caller;
};

static void ask_kernel(const struct segment_group *g, const struct cast *c, unsigned int mode,
		       size_t caller, struct cell *cell)
{
	int read_only = kernel_attach(g->shmid, SHM_RDONLY);
	int read_write = kernel_attach(g->shmid, 0);
	int set = kernel_set_unchanged(g->shmid, c->uid, c->gid, mode);
	int lock = kernel_lock(g->shmid);

	cell->kernel[OP_READ] = read_only;
	cell->kernel[OP_READ_WRITE] = read_write;
	cell->kernel[OP_TRUNC_OPEN] = read_write;
	cell->kernel[OP_TRUNCATE] = read_write;
	cell->kernel[OP_CHMOD] = set;
	cell->kernel[OP_CHOWN] = set;
	cell->kernel[OP_REMOVE] = shmctl(g->kernel_copy[caller], IPC_RMID, NULL) == 0 ? 0 : errno;
	cell->kernel[OP_LOCK] = lock;
	cell->kernel[OP_ACCESS_READ] = read_only;
	cell->kernel[OP_ACCESS_WRITE] = read_write;
	cell->kernel[OP_ACCESS_LOCK] = lock;
}

static void ask_mount(const struct segment_group *g, const struct cast *c, unsigned int mode,
		      size_t caller, struct cell *cell)
{
	cell->mount[OP_ACCESS_READ] = mount_access(g->shmid, "", R_OK);
	cell->mount[OP_ACCESS_WRITE] = mount_access(g->shmid, "", W_OK);
	cell->mount[OP_ACCESS_LOCK] = mount_access(g->shmid, ".stat", W_OK);
	cell->mount[OP_READ] = mount_open(g->shmid, O_RDONLY);
	cell->mount[OP_READ_WRITE] = mount_open(g->shmid, O_RDWR);
	cell->mount[OP_TRUNC_OPEN] = mount_open(g->shmid, O_WRONLY | O_TRUNC);
	cell->mount[OP_TRUNCATE] = mount_truncate(g->shmid);
	cell->mount[OP_CHMOD] = mount_chmod(g->shmid, mode);
	cell->mount[OP_CHOWN] = mount_chown(g->shmid, c->uid, c->gid);
	cell->mount[OP_REMOVE] = mount_unlink(g->mount_copy[caller]);
	cell->mount[OP_LOCK] = mount_lock(g->shmid, &cell->lock_refused_at_write);
}

static void caller_main(void *arg)
{
	const struct caller_run *run = arg;
	const struct cast *c = &casts[run->cast];

	for (size_t m = 0; m < NMODES; m++) {
		const struct segment_group *g = &matrix->seg[run->cast][m];
		struct cell *cell = &matrix->cell[run->cast][m][run->caller];

		ask_kernel(g, c, modes[m], run->caller, cell);
		ask_mount(g, c, modes[m], run->caller, cell);
		cell->done = true;
	}
}

/* ---- making and removing a cast's segments ------------------------------- */

static void creator_main(void *arg)
{
	const size_t *cast = arg;

	for (size_t m = 0; m < NMODES; m++) {
		struct segment_group *g = &matrix->seg[*cast][m];

		g->shmid = shmget(IPC_PRIVATE, SEGMENT_SIZE, IPC_CREAT | 0600);
		for (size_t i = 0; i < NCALLERS; i++) {
			g->kernel_copy[i] = shmget(IPC_PRIVATE, SEGMENT_SIZE, IPC_CREAT | 0600);
			g->mount_copy[i] = shmget(IPC_PRIVATE, SEGMENT_SIZE, IPC_CREAT | 0600);
		}
	}
}

/* Root gives a segment its final uid, gid and mode; cuid and cgid stay
 * the creator's. */
static void give(int shmid, const struct cast *c, unsigned int mode)
{
	struct shmid_ds ds;

	assert_true(shmid >= 0);
	assert_int_equal(kernel_set_unchanged(shmid, c->uid, c->gid, mode), 0);
	assert_int_equal(shmctl(shmid, IPC_STAT, &ds), 0);
	assert_int_equal(ds.shm_perm.uid, c->uid);
	assert_int_equal(ds.shm_perm.gid, c->gid);
	assert_int_equal(ds.shm_perm.cuid, c->creator->uid);
	assert_int_equal(ds.shm_perm.cgid, c->creator->gid);
	assert_int_equal(ds.shm_perm.mode & 0777, mode);
}

static void cast_prepare(size_t cast)
{
	const struct cast *c = &casts[cast];

	as_identity(c->creator, creator_main, &cast);
	matrix->prepared[cast] = true;
	for (size_t m = 0; m < NMODES; m++) {
		struct segment_group *g = &matrix->seg[cast][m];

		give(g->shmid, c, modes[m]);
		for (size_t i = 0; i < NCALLERS; i++) {
			give(g->kernel_copy[i], c, modes[m]);
			give(g->mount_copy[i], c, modes[m]);
		}
	}
}

static void cast_cleanup(size_t cast)
{
	if (!matrix->prepared[cast])
		return;
	for (size_t m = 0; m < NMODES; m++) {
		struct segment_group *g = &matrix->seg[cast][m];

		shmctl(g->shmid, IPC_RMID, NULL);
		for (size_t i = 0; i < NCALLERS; i++) {
			shmctl(g->kernel_copy[i], IPC_RMID, NULL);
			shmctl(g->mount_copy[i], IPC_RMID, NULL);
		}
	}
	matrix->prepared[cast] = false;
}

static void cast_run(size_t cast)
{
	for (size_t i = 0; i < NCALLERS; i++) {
		struct caller_run run = { cast, i };

		as_identity(&callers[i], caller_main, &run);
	}
}

/* ---- judging ---------------------------------------------------------------- */

static void describe(size_t cast, size_t m, size_t i)
{
	const struct cast *c = &casts[cast];
	const struct identity *who = &callers[i];

	fprintf(stderr,
		"  segment uid %u gid %u cuid %u cgid %u mode %04o (%s); caller uid %u gid %u",
		(unsigned int)c->uid, (unsigned int)c->gid, (unsigned int)c->creator->uid,
		(unsigned int)c->creator->gid, modes[m], c->what, (unsigned int)who->uid,
		(unsigned int)who->gid);
	if (who->ngroups)
		fprintf(stderr, ", %zu supplementary groups, the last %u", who->ngroups,
			(unsigned int)who->groups[who->ngroups - 1]);
	fputc('\n', stderr);
}

/* True if the caller's class could turn on its supplementary groups: it
 * is neither root, owner nor creator, and its primary group is neither
 * gid nor cgid.  A daemon that cannot read those groups cannot tell such
 * a caller in the group from one outside it. */
static bool groups_could_decide(size_t cast, size_t i)
{
	const struct cast *c = &casts[cast];
	const struct identity *who = &callers[i];

	return !(who->uid == 0 || who->uid == c->uid || who->uid == c->creator->uid ||
		 who->gid == c->gid || who->gid == c->creator->gid);
}

enum verdict {
	AGREE,	      /* both allow, or both refuse, each with its own errno */
	REFUSED_MORE, /* the kernel allows, the mount refuses (with its errno) */
	DISAGREE,
};

static enum verdict judge_cell(const struct cell *cell, enum op op, char *why, size_t size)
{
	int k = cell->kernel[op], f = cell->mount[op];
	int want = mount_refusal[op];

	if (k != 0 && k != kernel_refusal[op]) {
		snprintf(why, size, "kernel refused with %s, not %s", strerror(k),
			 strerror(kernel_refusal[op]));
		return DISAGREE;
	}
	if (f == 0) {
		if (k == 0)
			return AGREE;
		snprintf(why, size, "kernel %s, mount allows", strerror(k));
		return DISAGREE;
	}
	if (op == OP_LOCK && cell->lock_refused_at_write)
		want = EPERM;
	if (f != want) {
		snprintf(why, size, "mount refused with %s, not %s", strerror(f), strerror(want));
		return DISAGREE;
	}
	if (k == 0) {
		snprintf(why, size, "kernel allows, mount %s", strerror(f));
		return REFUSED_MORE;
	}
	return AGREE;
}

struct tally {
	size_t cells, disagreements, refused_more;
	size_t allowed[OP_COUNT], refused[OP_COUNT];
};

/* strict: every cell must agree.  Otherwise the mount may refuse more
 * than the kernel, but only where supplementary groups could decide. */
static void judge_cast(size_t cast, bool strict, struct tally *t)
{
	char why[160];

	for (size_t m = 0; m < NMODES; m++) {
		for (size_t i = 0; i < NCALLERS; i++) {
			const struct cell *cell = &matrix->cell[cast][m][i];

			assert_true(cell->done);
			for (int op = 0; op < OP_COUNT; op++) {
				enum verdict v = judge_cell(cell, op, why, sizeof(why));

				t->cells++;
				if (cell->kernel[op] == 0)
					t->allowed[op]++;
				else
					t->refused[op]++;
				if (v == AGREE)
					continue;
				if (v == REFUSED_MORE && !strict && groups_could_decide(cast, i)) {
					t->refused_more++;
					continue;
				}
				if (t->disagreements++ < MAX_SHOWN) {
					fprintf(stderr, "DISAGREE %s: %s\n", op_names[op], why);
					describe(cast, m, i);
				}
			}
		}
	}
}

/* The whole matrix: every cast, mode, caller and operation. */
static void test_matrix_agrees_with_kernel(void **state)
{
	struct tally t = { 0 };

	for (size_t cast = 0; cast < NCASTS; cast++) {
		cast_prepare(cast);
		cast_run(cast);
		judge_cast(cast, true, &t);
		cast_cleanup(cast);
	}
	fprintf(stderr,
		"permission matrix: %zu casts x %zu modes x %zu callers x %d operations = %zu "
		"cells, %zu disagree\n",
		NCASTS, NMODES, NCALLERS, OP_COUNT, t.cells, t.disagreements);
	/* Not a degenerate matrix: every operation is both allowed and
	 * refused somewhere. */
	for (int op = 0; op < OP_COUNT; op++) {
		assert_true(t.allowed[op] > 0);
		assert_true(t.refused[op] > 0);
	}
	assert_int_equal(t.cells, NCASTS * NMODES * NCALLERS * OP_COUNT);
	assert_int_equal(t.disagreements, 0);
}

/* test -r and test -w (coreutils, through setpriv) say what open says. */
static void test_tools_agree_with_open(void **state)
{
	const size_t cast = 1; /* all four ids distinct */
	size_t cells = 0, disagreements = 0;
	char cmd[3072], groups[1024], out[1024];

	cast_prepare(cast);
	cast_run(cast);
	for (size_t i = 0; i < NCALLERS; i++) {
		const struct identity *who = &callers[i];
		size_t len;

		if (who->ngroups == 0) {
			snprintf(groups, sizeof(groups), "--clear-groups");
		} else {
			len = snprintf(groups, sizeof(groups), "--groups=");
			for (size_t j = 0; j < who->ngroups; j++)
				len += snprintf(groups + len, sizeof(groups) - len, "%s%u",
						j ? "," : "", (unsigned int)who->groups[j]);
		}
		len = snprintf(cmd, sizeof(cmd), "for f in");
		for (size_t m = 0; m < NMODES; m++)
			len += snprintf(cmd + len, sizeof(cmd) - len, " %s/%d", mount_dir,
					matrix->seg[cast][m].shmid);
		assert_true(len < sizeof(cmd));
		assert_int_equal(run(out, sizeof(out),
				     "setpriv --reuid=%u --regid=%u %s sh -c \"%s; do "
				     "if env test -r \\$f; then printf r; else printf -; fi; "
				     "if env test -w \\$f; then printf w; else printf -; fi; "
				     "done\"",
				     (unsigned int)who->uid, (unsigned int)who->gid, groups, cmd),
				 0);
		assert_int_equal(strlen(out), 2 * NMODES);
		for (size_t m = 0; m < NMODES; m++) {
			const struct cell *cell = &matrix->cell[cast][m][i];
			bool readable = cell->mount[OP_READ] == 0;
			bool writable = cell->mount[OP_READ_WRITE] == 0;

			cells += 2;
			if ((out[2 * m] == 'r') == readable && (out[2 * m + 1] == 'w') == writable)
				continue;
			disagreements++;
			fprintf(stderr, "DISAGREE test -r/-w say %.2s, open says %c%c\n",
				out + 2 * m, readable ? 'r' : '-', writable ? 'w' : '-');
			describe(cast, m, i);
		}
	}
	cast_cleanup(cast);
	fprintf(stderr, "test -r/-w: %zu cells, %zu disagree\n", cells, disagreements);
	assert_int_equal(disagreements, 0);
}

/* ---- without allow_other ------------------------------------------------------ */

struct refusal_probe {
	char dir[64];
	int shmid;
	int stat_dir, open_dir, open_file, access_file, kernel_attach;
};

static void probe_refusals(void *arg)
{
	struct refusal_probe *p = arg;
	struct stat st;
	char path[96];
	int fd;

	p->stat_dir = stat(p->dir, &st) == 0 ? 0 : errno;
	fd = open(p->dir, O_RDONLY | O_DIRECTORY);
	p->open_dir = fd >= 0 ? 0 : errno;
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/%d", p->dir, p->shmid);
	fd = open(path, O_RDONLY);
	p->open_file = fd >= 0 ? 0 : errno;
	if (fd >= 0)
		close(fd);
	p->access_file = access(path, R_OK) == 0 ? 0 : errno;
	p->kernel_attach = kernel_attach(p->shmid, SHM_RDONLY);
}

/* FUSE's default: only the mounting user may enter, whatever the segment's
 * mode says, and even to a segment the caller owns. */
static void test_without_allow_other_others_cannot_enter(void **state)
{
	static const char *const args[] = { "-o", "lock_timeout=2", NULL };
	const struct cast mine = { "", &root_identity, UID_A, GID_A };
	struct test_mount m;
	struct refusal_probe *p = shared_alloc(sizeof(*p));
	struct stat st;
	char path[96];
	int fd;

	mount_start(&m, shmfs_path, args);
	memcpy(p->dir, m.dir, sizeof(p->dir));
	p->shmid = make_segment(IPC_PRIVATE, SEGMENT_SIZE, 0600);
	give(p->shmid, &mine, 0644);

	as_identity(&callers[0], probe_refusals, p);
	assert_int_equal(p->kernel_attach, 0); /* the kernel would let it read */
	assert_int_equal(p->stat_dir, EACCES);
	assert_int_equal(p->open_dir, EACCES);
	assert_int_equal(p->open_file, EACCES);
	assert_int_equal(p->access_file, EACCES);

	/* The mounting user (root) can. */
	assert_int_equal(stat(m.dir, &st), 0);
	snprintf(path, sizeof(path), "%s/%d", m.dir, p->shmid);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);

	shmctl(p->shmid, IPC_RMID, NULL);
	assert_int_equal(mount_stop(&m), 0);
	munmap(p, sizeof(*p));
}

/* ---- the daemon run by an unprivileged user -------------------------------- */

/* What a usual system has and this test's machine may not: /dev/fuse open
 * to all (fusermount3 opens it with the user's filesystem ids) and the
 * user in the passwd database (fusermount3 records the user's name).
 * Both are supplied by bind mounts inside the private mount namespace
 * only; the machine's own files are not touched. */
struct user_fixture {
	char dir[64];
	bool dev_fuse, passwd;
};

static void user_fixture_setup(struct user_fixture *f, uid_t uid, gid_t gid)
{
	struct stat st;
	char path[128];
	FILE *in, *out;
	char line[1024];

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/shmfs-fixture.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(mount("tmpfs", f->dir, "tmpfs", 0, "mode=0755"), 0);

	assert_int_equal(stat("/dev/fuse", &st), 0);
	if ((st.st_mode & 0006) != 0006) {
		snprintf(path, sizeof(path), "%s/fuse", f->dir);
		assert_int_equal(mknod(path, S_IFCHR | 0666, st.st_rdev), 0);
		assert_int_equal(chmod(path, 0666), 0);
		assert_int_equal(mount(path, "/dev/fuse", NULL, MS_BIND, NULL), 0);
		f->dev_fuse = true;
	}
	if (!getpwuid(uid)) {
		snprintf(path, sizeof(path), "%s/passwd", f->dir);
		in = fopen("/etc/passwd", "r");
		assert_non_null(in);
		out = fopen(path, "w");
		assert_non_null(out);
		while (fgets(line, sizeof(line), in))
			fputs(line, out);
		fprintf(out, "shmfs-test:x:%u:%u::/:/bin/false\n", (unsigned int)uid,
			(unsigned int)gid);
		fclose(in);
		assert_int_equal(fclose(out), 0);
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(mount(path, "/etc/passwd", NULL, MS_BIND, NULL), 0);
		f->passwd = true;
	}
}

static void user_fixture_teardown(struct user_fixture *f)
{
	if (f->passwd)
		umount2("/etc/passwd", MNT_DETACH);
	if (f->dev_fuse)
		umount2("/dev/fuse", MNT_DETACH);
	umount2(f->dir, MNT_DETACH);
	rmdir(f->dir);
}

/* A shmfs daemon that mount_start() cannot make: run by another user, or
 * in a pid namespace of its own. */
struct daemon {
	char dir[64];
	pid_t pid; /* the daemon, or the process that waits for it in its namespace */
};

static pid_t daemon_child;

static void forward_term(int sig)
{
	kill(daemon_child, SIGTERM);
}

static void daemon_exec(const struct identity *who, pid_t parent, const char *const *opts,
			const char *dir)
{
	const char *argv[16];
	int argc = 0;

	/* Set before the id change, which clears it if the ids differ, and
	 * after.  parent is 0 when it is outside our pid namespace, where
	 * getppid() cannot see it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (!take_ids(who))
		_exit(126);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (parent && getppid() != parent)
		_exit(126);
	argv[argc++] = shmfs_path;
	argv[argc++] = "-f";
	for (int i = 0; opts && opts[i] && argc < 14; i++)
		argv[argc++] = opts[i];
	argv[argc++] = dir;
	argv[argc] = NULL;
	execv(shmfs_path, (char *const *)argv);
	_exit(127);
}

/* In a new pid namespace the daemon is pid 1 there; this process waits
 * for it, passes SIGTERM on and exits as it did. */
static void daemon_in_pid_ns(const struct identity *who, pid_t parent, const char *const *opts,
			     const char *dir)
{
	int status;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(125);
	if (unshare(CLONE_NEWPID) != 0)
		_exit(125);
	daemon_child = fork();
	if (daemon_child < 0)
		_exit(125);
	if (daemon_child == 0)
		daemon_exec(who, 0, opts, dir);
	signal(SIGTERM, forward_term);
	while (waitpid(daemon_child, &status, 0) < 0)
		if (errno != EINTR)
			_exit(125);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static void daemon_start(struct daemon *d, const struct identity *who, bool new_pid_ns,
			 const char *const *opts)
{
	pid_t parent = getpid();
	int status = -1;

	snprintf(d->dir, sizeof(d->dir), "/tmp/shmfs-test.XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	assert_int_equal(chown(d->dir, who->uid, who->gid), 0);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		if (new_pid_ns)
			daemon_in_pid_ns(who, parent, opts, d->dir);
		daemon_exec(who, parent, opts, d->dir);
	}
	for (int i = 0; i < 1000 && !mount_is_live(d->dir); i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			break;
		}
		usleep(10000);
	}
	if (d->pid == 0 || !mount_is_live(d->dir)) {
		fprintf(stderr, "shmfs as uid %u did not mount (status 0x%x)\n",
			(unsigned int)who->uid, status);
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
		}
		rmdir(d->dir);
		fail();
	}
}

/* SIGTERM: the daemon unmounts (through fusermount3 -u if not root) and
 * exits.  Returns its wait status; the mount and directory are gone. */
static int daemon_stop(struct daemon *d)
{
	int status;

	kill(d->pid, SIGTERM);
	status = testutil_wait_bounded(d->pid, 10);
	if (mount_is_live(d->dir)) {
		fprintf(stderr, "%s still mounted after the daemon ended\n", d->dir);
		umount2(d->dir, MNT_DETACH);
		status = -1;
	}
	rmdir(d->dir);
	return status;
}

/* Semaphore sets the given user created (cuid), from /proc/sysvipc/sem. */
static int sets_created_by(uid_t uid)
{
	char line[512];
	unsigned int cuid;
	int n = 0;
	FILE *f = fopen("/proc/sysvipc/sem", "r");

	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %*d %*o %*u %*u %*u %u", &cuid) == 1 && cuid == uid)
			n++;
	fclose(f);
	return n;
}

/* Segments as the user's daemon sees them: its own, and others' it may or
 * may not read. */
struct user_view {
	char dir[64];
	size_t n;
	struct {
		int shmid;
		int kernel_read, kernel_write;
		int mount_read, mount_write, access_read, access_write;
		int stat_file, read_sidecar;
	} seg[8];
};

static void probe_user_view(void *arg)
{
	struct user_view *v = arg;
	char path[96], text[2048];
	struct stat st;

	for (size_t i = 0; i < v->n; i++) {
		int shmid = v->seg[i].shmid;
		ssize_t n;
		int fd;

		v->seg[i].kernel_read = kernel_attach(shmid, SHM_RDONLY);
		v->seg[i].kernel_write = kernel_attach(shmid, 0);
		snprintf(path, sizeof(path), "%s/%d", v->dir, shmid);
		v->seg[i].stat_file = stat(path, &st) == 0 ? 0 : errno;
		v->seg[i].access_read = access(path, R_OK) == 0 ? 0 : errno;
		v->seg[i].access_write = access(path, W_OK) == 0 ? 0 : errno;
		fd = open(path, O_RDONLY);
		v->seg[i].mount_read = fd >= 0 ? 0 : errno;
		if (fd >= 0)
			close(fd);
		fd = open(path, O_RDWR);
		v->seg[i].mount_write = fd >= 0 ? 0 : errno;
		if (fd >= 0)
			close(fd);
		snprintf(path, sizeof(path), "%s/%d.stat", v->dir, shmid);
		fd = open(path, O_RDONLY);
		v->seg[i].read_sidecar = fd >= 0 ? 0 : errno;
		if (fd >= 0) {
			n = read(fd, text, sizeof(text) - 1);
			text[n > 0 ? n : 0] = '\0';
			snprintf(path, sizeof(path), "\nshmid %d\n", shmid);
			if (!strstr(text, path))
				v->seg[i].read_sidecar = ENODATA;
			close(fd);
		}
	}
}

/* A daemon started by uid 2001 (through fusermount3, as any user would):
 * every segment is listed, the user's own and those the kernel lets it
 * attach are readable, the others are not; root cannot enter. */
static void test_unprivileged_daemon(void **state)
{
	static const struct {
		uid_t uid;
		gid_t gid;
		unsigned int mode;
	} segs[] = {
		{ UID_A, GID_A, 0600 }, { UID_A, GID_A, 0400 }, { UID_A, GID_A, 0000 },
		{ UID_B, GID_B, 0600 }, { UID_B, GID_B, 0644 }, { UID_B, GID_B, 0666 },
		{ UID_B, GID_A, 0660 }, { UID_B, GID_A, 0606 },
	};
	static const char *const opts[] = { "-o", "lock_timeout=2", NULL };
	const struct identity *user = &callers[0];
	struct user_view *v = shared_alloc(sizeof(*v));
	struct user_fixture fixture;
	struct daemon d;
	char out[4096], name[32];
	struct stat st;
	int status;

	/* A user mounts through the setuid helper; without it there is no
	 * unprivileged mount to test. */
	if (run(NULL, 0, "command -v fusermount3") != 0) {
		fprintf(stderr, "no fusermount3: an unprivileged daemon cannot mount\n");
		skip();
	}
	v->n = ARRAY_SIZE(segs);
	for (size_t i = 0; i < v->n; i++) {
		const struct cast c = { "", &root_identity, segs[i].uid, segs[i].gid };

		v->seg[i].shmid = make_segment(IPC_PRIVATE, SEGMENT_SIZE, 0600);
		give(v->seg[i].shmid, &c, segs[i].mode);
	}
	user_fixture_setup(&fixture, user->uid, user->gid);
	daemon_start(&d, user, false, opts);
	memcpy(v->dir, d.dir, sizeof(v->dir));

	/* Root is not the mounting user: FUSE keeps it out too. */
	assert_int_equal(stat(d.dir, &st), -1);
	assert_int_equal(errno, EACCES);

	/* Every segment is listed, readable or not. */
	assert_int_equal(run(out, sizeof(out),
			     "setpriv --reuid=%u --regid=%u --clear-groups ls -1 %s",
			     (unsigned int)user->uid, (unsigned int)user->gid, d.dir),
			 0);
	for (size_t i = 0; i < v->n; i++) {
		snprintf(name, sizeof(name), "%d\n", v->seg[i].shmid);
		assert_non_null(strstr(out, name));
		snprintf(name, sizeof(name), "%d.stat\n", v->seg[i].shmid);
		assert_non_null(strstr(out, name));
	}

	as_identity(user, probe_user_view, v);
	for (size_t i = 0; i < v->n; i++) {
		if (v->seg[i].mount_read != v->seg[i].kernel_read ||
		    v->seg[i].mount_write != v->seg[i].kernel_write)
			fprintf(stderr,
				"uid %u, segment %u:%u %04o: kernel r=%d w=%d, mount r=%d w=%d\n",
				(unsigned int)user->uid, (unsigned int)segs[i].uid,
				(unsigned int)segs[i].gid, segs[i].mode, v->seg[i].kernel_read,
				v->seg[i].kernel_write, v->seg[i].mount_read,
				v->seg[i].mount_write);
		assert_int_equal(v->seg[i].stat_file, 0);
		assert_int_equal(v->seg[i].read_sidecar, 0);
		assert_int_equal(v->seg[i].mount_read, v->seg[i].kernel_read);
		assert_int_equal(v->seg[i].mount_write, v->seg[i].kernel_write);
		assert_int_equal(v->seg[i].access_read, v->seg[i].kernel_read);
		assert_int_equal(v->seg[i].access_write, v->seg[i].kernel_write);
	}
	/* The user's own 0600 is readable, another's 0600 is not. */
	assert_int_equal(v->seg[0].mount_read, 0);
	assert_int_equal(v->seg[3].mount_read, EACCES);

	status = daemon_stop(&d);
	for (size_t i = 0; i < v->n; i++)
		shmctl(v->seg[i].shmid, IPC_RMID, NULL);
	user_fixture_teardown(&fixture);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The sets it made are gone with it. */
	assert_int_equal(sets_created_by(user->uid), 0);
	munmap(v, sizeof(*v));
}

/* A daemon in a pid namespace of its own (as in a container) sees callers
 * from outside it with pid 0, so it cannot read their supplementary
 * groups.  It must then never grant what the kernel refuses: group bits
 * stricter than the other bits (0604) still keep a member out.  It may
 * refuse more than the kernel, only to callers those groups could concern. */
static void test_groups_unread_never_grant_more(void **state)
{
	static const char *const opts[] = { "-o", "allow_other", "-o", "lock_timeout=2", NULL };
	const size_t cast = 1; /* all four ids distinct */
	struct tally t = { 0 };
	struct daemon d;

	daemon_start(&d, &root_identity, true, opts);
	mount_dir = d.dir;
	cast_prepare(cast);
	cast_run(cast);
	judge_cast(cast, false, &t);
	cast_cleanup(cast);
	mount_dir = mnt.dir;
	assert_int_equal(daemon_stop(&d), 0);
	fprintf(stderr,
		"groups unread: %zu cells, %zu disagree, %zu refused where the kernel allows\n",
		t.cells, t.disagreements, t.refused_more);
	assert_int_equal(t.disagreements, 0);
}

/* ---- setup ------------------------------------------------------------------- */

static int setup(void **state)
{
	static const char *const args[] = { "-o", "allow_other", "-o", "lock_timeout=2", NULL };

	mount_start(&mnt, shmfs_path, args);
	mount_dir = mnt.dir;
	return 0;
}

static int teardown(void **state)
{
	int ret = mount_stop_clean(&mnt);

	for (size_t cast = 0; cast < NCASTS; cast++)
		cast_cleanup(cast);
	if (ret != 0)
		return -1;
	/* Every test removed its segments, and the daemon its sets. */
	return ipc_left_behind("shm sem") ? -1 : 0;
}

int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix_agrees_with_kernel),
		cmocka_unit_test(test_tools_agree_with_open),
		cmocka_unit_test(test_without_allow_other_others_cannot_enter),
		cmocka_unit_test(test_unprivileged_daemon),
		cmocka_unit_test(test_groups_unread_never_grant_more),
	};

	shmfs_path = shmfs_path_arg(argc, argv);
	/* 80 groups that sort before GID_A, then GID_A. */
	for (size_t i = 0; i + 1 < MANY_GROUPS; i++)
		groups_many[i] = 1000 + i;
	groups_many[MANY_GROUPS - 1] = GID_A;
	testutil_isolate(true);
	matrix = shared_alloc(sizeof(*matrix));
	return testutil_run_group_tests(tests, setup, teardown);
}
