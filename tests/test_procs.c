/* test_procs.c - src/procs.c against real processes with real attaches.
 *
 * Children attach segments (as root, as uid 65534 dumpable or not, as uid
 * 65533, in another IPC namespace with the same shmid) and report the
 * addresses shmat() gave them: that is what the rendering must show.
 * Whom a caller may see is decided by the kernel itself: a process
 * running as that caller opens /proc/PID/maps of each child (the oracle),
 * and the rendering for that caller must show exactly the children it
 * could open, with /proc as it is and mounted with hidepid=invisible. */
#include <errno.h>
#include <linux/capability.h>
#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "procs.h"
#include "testutil.h"

#define SEG_SIZE (3 * 4096)

/* ---- pure parts --------------------------------------------------------- */

static bool parse(const char *line, int shmid, struct procs_attach *a)
{
	return procs_parse_maps_line(line, strlen(line), shmid, a);
}

static void test_parse_maps_line(void **state)
{
	struct procs_attach a;

	(void)state;
	assert_true(parse("7f5c2d400000-7f5c2d403000 rw-s 00000000 00:01 32768                     "
			  "/SYSV0000162e (deleted)\n",
			  32768, &a));
	assert_int_equal(a.start, 0x7f5c2d400000);
	assert_int_equal(a.end, 0x7f5c2d403000);
	assert_string_equal(a.perms, "rw-s");
	assert_true(parse("7f5c2d400000-7f5c2d403000 r--s 00000000 00:01 0 /SYSV00000000 (deleted)",
			  0, &a));
	assert_string_equal(a.perms, "r--s");
	/* another shmid, another file, or not the kernel's SYSV name */
	assert_false(parse("7f5c2d400000-7f5c2d403000 rw-s 00000000 00:01 32769 "
			   "/SYSV0000162e (deleted)",
			   32768, &a));
	assert_false(parse("7f5c2d400000-7f5c2d403000 rw-s 00000000 00:01 32768 /SYSV0000162e",
			   32768, &a));
	assert_false(parse("7f5c2d400000-7f5c2d403000 rw-s 00000000 08:01 32768 "
			   "/home/SYSV0000162e (deleted)",
			   32768, &a));
	assert_false(parse("7f5c2d400000-7f5c2d403000 rw-s 00000000 00:01 32768 "
			   "/SYSV0000162 (deleted)",
			   32768, &a));
	assert_false(parse("7f5c2d400000-7f5c2d403000 rw-s 00000000 00:01 32768 "
			   "/SYSV0000162e (deleted) x",
			   32768, &a));
	assert_false(parse("7f5c2d400000-7f5c2d403000 rw-s 00000000 00:01 327680 "
			   "/SYSV0000162e (deleted)",
			   32768, &a));
	assert_false(parse("7f5c2d403000-7f5c2d400000 rw-s 00000000 00:01 32768 "
			   "/SYSV0000162e (deleted)",
			   32768, &a));
	assert_false(parse("", 0, &a));
	assert_false(parse("7f5c2d400000", 0, &a));
	assert_false(parse("7f5c2d400000-7f5c2d403000 rw-s", 0, &a));
	assert_false(parse("7f5c2d400000-7f5c2d403000 rw-s 00000000 00:01 32768 /SYSV0000162e "
			   "(deleted)",
			   -1, &a));
}

static void test_escape_comm(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(procs_escape_comm("sleep", 5, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "sleep");
	assert_int_equal(procs_escape_comm("a b\\c\n\xff", 7, buf, sizeof(buf)), 19);
	assert_string_equal(buf, "a\\040b\\134c\\012\\377");
	assert_int_equal(procs_escape_comm("abc", 3, buf, 3), -ERANGE);
	assert_string_equal(buf, "");
	assert_int_equal(procs_escape_comm("", 0, buf, 1), 0);
}

/* ---- real processes -------------------------------------------------------- */

struct attacher {
	pid_t pid;
	int ctl;
	int shmid; /* as the child saw it */
	int n;
	uint64_t start[2];
};

struct attacher_spec {
	int shmid;
	bool readonly_too; /* a second attach, SHM_RDONLY */
	uid_t uid;	   /* 0: stays root */
	bool dumpable;
	const char *name;
	bool other_ns; /* its own IPC namespace, and its own first segment */
};

static struct attacher attacher_start(const struct attacher_spec *spec)
{
	struct attacher a = { 0 };
	int ctl[2], rep[2];

	assert_int_equal(pipe(ctl), 0);
	assert_int_equal(pipe(rep), 0);
	a.pid = fork();
	assert_true(a.pid >= 0);
	if (a.pid == 0) {
		struct attacher r = { 0 };
		int shmid = spec->shmid;
		void *p;
		char c;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int fd = 3; fd < 1024; fd++)
			if (fd != ctl[0] && fd != rep[1])
				close(fd);
		if (spec->other_ns) {
			if (unshare(CLONE_NEWIPC) != 0)
				_exit(2);
			shmid = shmget(IPC_PRIVATE, SEG_SIZE, IPC_CREAT | 0600);
		}
		r.shmid = shmid;
		p = shmat(shmid, NULL, 0);
		if (p == (void *)-1)
			_exit(3);
		r.start[r.n++] = (uintptr_t)p;
		if (spec->readonly_too) {
			p = shmat(shmid, NULL, SHM_RDONLY);
			if (p == (void *)-1)
				_exit(3);
			r.start[r.n++] = (uintptr_t)p;
		}
		if (spec->name)
			prctl(PR_SET_NAME, spec->name);
		if (spec->uid) {
			if (setgroups(0, NULL) || setresgid(spec->uid, spec->uid, spec->uid) ||
			    setresuid(spec->uid, spec->uid, spec->uid))
				_exit(4);
			if (spec->dumpable)
				prctl(PR_SET_DUMPABLE, 1);
			/* again: a change of credentials clears it */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(6);
		}
		if (write(rep[1], &r, sizeof(r)) != sizeof(r))
			_exit(5);
		while (read(ctl[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ctl[0]);
	close(rep[1]);
	{
		struct attacher r;

		assert_int_equal(read(rep[0], &r, sizeof(r)), sizeof(r));
		a.shmid = r.shmid;
		a.n = r.n;
		memcpy(a.start, r.start, sizeof(a.start));
	}
	close(rep[0]);
	a.ctl = ctl[1];
	return a;
}

static void attacher_stop(struct attacher *a)
{
	close(a->ctl);
	kill(a->pid, SIGKILL);
	waitpid(a->pid, NULL, 0);
}

enum {
	ROOT2,
	NOBODY_DUMPABLE,
	NOBODY_SECRET,
	OTHER_USER,
	OTHER_NS,
	NCHILD
};

struct world {
	int shmid, idle;
	void *mine;
	struct attacher child[NCHILD];
	pid_t pids[NCHILD + 1];
};

static struct world world;

/* The oracle: a process running as uid/gid (no groups, and so no
 * capabilities unless uid 0) tries to open /proc/PID/maps of each pid.
 * It stays alive, so that its pid can be the caller's, until *stop is
 * closed. */
struct oracle {
	pid_t pid;
	int stop;
	bool can[16];
};

static struct oracle oracle_start(uid_t uid, gid_t gid, bool no_caps, const pid_t *pids, int n)
{
	struct oracle o = { 0 };
	int stop[2], rep[2];

	assert_true(n <= 16);
	assert_int_equal(pipe(stop), 0);
	assert_int_equal(pipe(rep), 0);
	o.pid = fork();
	assert_true(o.pid >= 0);
	if (o.pid == 0) {
		bool can[16] = { 0 };
		char c;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(stop[1]);
		close(rep[0]);
		/* not an attacher itself */
		if (world.mine)
			shmdt(world.mine);
		if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
			_exit(4);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (no_caps) {
			/* uid 0 without a capability */
			struct __user_cap_header_struct head = {
				.version = _LINUX_CAPABILITY_VERSION_3
			};
			struct __user_cap_data_struct data[2] = { { 0 } };

			if (syscall(SYS_capset, &head, data) != 0)
				_exit(4);
		}
		for (int i = 0; i < n; i++) {
			char path[64];
			FILE *f;

			snprintf(path, sizeof(path), "/proc/%d/maps", (int)pids[i]);
			f = fopen(path, "r");
			can[i] = f != NULL;
			if (f)
				fclose(f);
		}
		if (write(rep[1], can, sizeof(can)) != sizeof(can))
			_exit(5);
		while (read(stop[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(stop[0]);
	close(rep[1]);
	assert_int_equal(read(rep[0], o.can, sizeof(o.can)), sizeof(o.can));
	close(rep[0]);
	o.stop = stop[1];
	return o;
}

static void oracle_stop(struct oracle *o)
{
	int status;

	close(o->stop);
	assert_int_equal(waitpid(o->pid, &status, 0), o->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The line of pid in a rendering, or NULL. */
static const char *line_of(const char *text, pid_t pid, char *line, size_t size)
{
	char head[32];
	const char *p = text;
	int n = snprintf(head, sizeof(head), "%d ", (int)pid);

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len >= (size_t)n && memcmp(p, head, (size_t)n) == 0) {
			assert_true(len < size);
			memcpy(line, p, len);
			line[len] = '\0';
			return line;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

static char *render(int shmid, uid_t uid, gid_t gid, pid_t pid)
{
	struct procs_caller caller = { .uid = uid, .gid = gid, .pid = pid };
	struct shmid_ds ds;
	char *text;
	size_t len;

	assert_int_equal(shmctl(shmid, IPC_STAT, &ds), 0);
	assert_int_equal(procs_render(shmid, ds.shm_nattch, &caller, &text, &len), 0);
	assert_int_equal(len, strlen(text));
	assert_int_equal(strncmp(text, PROCS_HEADER, strlen(PROCS_HEADER)), 0);
	return text;
}

/* What a child's line must say, address for address. */
static void assert_attacher_line(const char *text, const struct attacher *a, uid_t uid,
				 const char *comm)
{
	char line[512], want[512];
	int n;

	assert_non_null(line_of(text, a->pid, line, sizeof(line)));
	/* in address order, as maps lists them */
	int lo = a->n > 1 && a->start[1] < a->start[0];
	const char *perms[2] = { "rw-s", "r--s" };

	n = snprintf(want, sizeof(want), "%d %u %s %" PRIx64 "-%" PRIx64 ":%s", (int)a->pid,
		     (unsigned int)uid, comm, a->start[lo], a->start[lo] + SEG_SIZE, perms[lo]);
	if (a->n > 1)
		snprintf(want + n, sizeof(want) - (size_t)n, ",%" PRIx64 "-%" PRIx64 ":%s",
			 a->start[!lo], a->start[!lo] + SEG_SIZE, perms[!lo]);
	assert_string_equal(line, want);
}

static int world_setup(void **state)
{
	struct attacher_spec specs[NCHILD] = {
		[ROOT2] = { .readonly_too = true, .name = "two words\\" },
		[NOBODY_DUMPABLE] = { .uid = 65534, .dumpable = true, .name = "nobody-dump" },
		[NOBODY_SECRET] = { .uid = 65534, .dumpable = false, .name = "nobody-nodump" },
		[OTHER_USER] = { .uid = 65533, .dumpable = true, .name = "other" },
		[OTHER_NS] = { .other_ns = true, .name = "elsewhere" },
	};

	(void)state;
	world.shmid = shmget(IPC_PRIVATE, SEG_SIZE, IPC_CREAT | 0666);
	world.idle = shmget(IPC_PRIVATE, SEG_SIZE, IPC_CREAT | 0666);
	assert_true(world.shmid >= 0 && world.idle >= 0);
	for (int i = 0; i < NCHILD; i++) {
		specs[i].shmid = world.shmid;
		world.child[i] = attacher_start(&specs[i]);
		world.pids[i] = world.child[i].pid;
	}
	/* The other namespace's first segment has the same shmid as ours:
	 * only its namespace tells it apart. */
	assert_int_equal(world.child[OTHER_NS].shmid, world.shmid);
	world.mine = shmat(world.shmid, NULL, 0);
	assert_ptr_not_equal(world.mine, (void *)-1);
	world.pids[NCHILD] = getpid();
	return 0;
}

static int world_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NCHILD; i++)
		attacher_stop(&world.child[i]);
	shmdt(world.mine);
	shmctl(world.shmid, IPC_RMID, NULL);
	shmctl(world.idle, IPC_RMID, NULL);
	return 0;
}

static void test_root_sees_all(void **state)
{
	char *text = render(world.shmid, 0, 0, getpid());
	char line[512], want[512];

	(void)state;
	assert_attacher_line(text, &world.child[ROOT2], 0, "two\\040words\\134");
	assert_attacher_line(text, &world.child[NOBODY_DUMPABLE], 65534, "nobody-dump");
	assert_attacher_line(text, &world.child[NOBODY_SECRET], 65534, "nobody-nodump");
	assert_attacher_line(text, &world.child[OTHER_USER], 65533, "other");
	assert_null(line_of(text, world.child[OTHER_NS].pid, line, sizeof(line)));
	/* this process stands for the daemon: shown, and marked */
	assert_non_null(line_of(text, getpid(), line, sizeof(line)));
	snprintf(want, sizeof(want), " %" PRIx64 "-%" PRIx64 ":rw-s " PROCS_SELF_MARK,
		 (uint64_t)(uintptr_t)world.mine, (uint64_t)(uintptr_t)world.mine + SEG_SIZE);
	assert_non_null(strstr(line, want));
	assert_int_equal(count_lines(text), 1 + 5);
	free(text);

	/* an unattached segment: the header alone */
	text = render(world.idle, 0, 0, getpid());
	assert_string_equal(text, PROCS_HEADER);
	free(text);
}

/* For a caller of uid/gid: exactly the children the kernel lets it open. */
static void check_caller_as_kernel_says(uid_t uid, gid_t gid, bool no_caps, const bool *must_see)
{
	struct oracle o = oracle_start(uid, gid, no_caps, world.pids, NCHILD + 1);
	char *text = render(world.shmid, uid, gid, o.pid);
	char line[512];
	size_t shown = 1;

	for (int i = 0; i < NCHILD + 1; i++) {
		bool seen = line_of(text, world.pids[i], line, sizeof(line)) != NULL;

		if (i == OTHER_NS)
			assert_false(seen);
		else
			assert_int_equal(seen, o.can[i]);
		if (must_see)
			assert_int_equal(seen, must_see[i]);
		shown += seen;
	}
	assert_int_equal(count_lines(text), shown);
	free(text);
	oracle_stop(&o);
}

static void test_other_users_see_their_own(void **state)
{
	const bool nobody[NCHILD + 1] = { [NOBODY_DUMPABLE] = true };
	const bool other[NCHILD + 1] = { [OTHER_USER] = true };
	const bool stranger[NCHILD + 1] = { 0 };

	(void)state;
	/* uid 65534 sees its dumpable process, not the one that is not
	 * (the kernel refuses even its owner), nor anyone else's */
	check_caller_as_kernel_says(65534, 65534, false, nobody);
	check_caller_as_kernel_says(65533, 65533, false, other);
	/* the right uid with another gid is not enough */
	check_caller_as_kernel_says(65533, 65534, false, stranger);
	check_caller_as_kernel_says(12345, 12345, false, stranger);
	/* root, through the same path: everyone in this namespace */
	const bool all[NCHILD + 1] = { true, true, true, true, false, true };
	check_caller_as_kernel_says(0, 0, false, all);
	/* uid 0 without capabilities: root's processes hold capabilities it
	 * lacks, the others are not its uid: no one */
	check_caller_as_kernel_says(0, 0, true, stranger);
}

/* /proc mounted with hidepid=invisible: what a caller can open is still
 * what it is shown. */
static void test_hidepid(void **state)
{
	const bool nobody[NCHILD + 1] = { [NOBODY_DUMPABLE] = true };

	(void)state;
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") !=
	    0) {
		if (testutil_in_ci())
			fail_msg("mount proc hidepid=invisible: %s", strerror(errno));
		skip();
	}
	check_caller_as_kernel_says(65534, 65534, false, nobody);
	check_caller_as_kernel_says(65533, 65533, false, NULL);
	check_caller_as_kernel_says(0, 0, false, NULL);
	assert_int_equal(umount2("/proc", MNT_DETACH), 0);
}

/* ---- bounded scans ------------------------------------------------------ */

/* A scan that waits until the test writes to its pipe: a process whose
 * maps a reader waits for, as the test can have one. */
struct stuck {
	int fd; /* the read end */
	int released;
};

static int released; /* stuck args released by the scan thread (atomic) */

static void stuck_scan(const struct procs_view *view, void *arg)
{
	struct stuck *s = arg;
	char c;

	(void)view;
	if (read(s->fd, &c, 1) != 1)
		c = 0;
}

static void quick_scan(const struct procs_view *view, void *arg)
{
	(void)view;
	(void)arg;
}

static void stuck_release(void *arg)
{
	free(arg);
	__atomic_add_fetch(&released, 1, __ATOMIC_RELEASE);
}

/* A scan that does not end within the timeout is answered -ETIMEDOUT and
 * goes on alone, counting in its user's scans until it ends: that user's
 * next scan is refused at once (-EAGAIN, here with one scan per user)
 * while another user's runs; once the stuck one ends its thread releases
 * what it was given, and the user scans again.  The 500 ms are a bound
 * the caller waits, not a duration measured (a quick scan that outlasts
 * it at load is tried again).  Planted: procs_run_bounded()
 * joining its thread (no timeout) never returns (the alarm fails it). */
static void test_scan_bounded_per_user(void **state)
{
	const struct procs_caller nobody = { .uid = 65534, .gid = 65534 };
	const struct procs_caller other = { .uid = 65533, .gid = 65533 };
	struct procs_limits *l = procs_limits_new(1, 500);
	struct stuck *s = calloc(1, sizeof(*s));
	int p[2], looks = 0, quick = 0, ret;

	(void)state;
	assert_non_null(l);
	assert_non_null(s);
	assert_int_equal(pipe(p), 0);
	s->fd = p[0];
	assert_int_equal(procs_run_bounded(l, &nobody, stuck_scan, s, stuck_release), -ETIMEDOUT);
	/* s is the scan thread's now */
	assert_int_equal(procs_run_bounded(l, &nobody, quick_scan, &quick, NULL), -EAGAIN);
	/* at load even a quick scan may outlast the bound: it ends, and the
	 * user scans again (its own limit is one) */
	while ((ret = procs_run_bounded(l, &other, quick_scan, &quick, NULL)) != 0 &&
	       looks++ < 1000)
		usleep(10000);
	assert_int_equal(ret, 0);
	assert_int_equal(__atomic_load_n(&released, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	while (__atomic_load_n(&released, __ATOMIC_ACQUIRE) == 0 && looks++ < 1000)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&released, __ATOMIC_ACQUIRE), 1);
	/* its budget comes back as its thread ends, just after the release */
	looks = 0;
	while ((ret = procs_run_bounded(l, &nobody, quick_scan, &quick, NULL)) != 0 &&
	       looks++ < 1000)
		usleep(10000);
	assert_int_equal(ret, 0);
	procs_limits_free(l);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_maps_line),
		cmocka_unit_test(test_escape_comm),
		cmocka_unit_test(test_root_sees_all),
		cmocka_unit_test(test_other_users_see_their_own),
		cmocka_unit_test(test_hidepid),
		cmocka_unit_test(test_scan_bounded_per_user),
	};

	alarm(60);
	testutil_isolate(true);
	return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
