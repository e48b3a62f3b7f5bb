/* procs.c - which processes have a segment attached, as the caller may
 * see them (see procs.h for the rule and why the kernel applies it).
 *
 * Everything is read at once, in the scan thread: /proc's directory, and
 * for each process its maps; only a process whose maps name the segment
 * costs the three more reads (its IPC namespace, comm and status).  A
 * process that ends during the scan, or hides, is simply not shown.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "budget.h"
#include "clock.h"
#include "procs.h"
#include "textbuf.h"

/* 32-bit x86 and ARM: the plain calls take 16-bit ids. */
#ifdef SYS_setfsuid32
#define SYS_SETFSUID  SYS_setfsuid32
#define SYS_SETFSGID  SYS_setfsgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETFSUID  SYS_setfsuid
#define SYS_SETFSGID  SYS_setfsgid
#define SYS_SETGROUPS SYS_setgroups
#endif

/* ---- the scan ------------------------------------------------------------ */

struct scan {
	/* in */
	int shmid;
	const struct procs_view *view;
	/* out */
	struct textbuf out;
	int ret;
	/* the scan's own */
	char *file;
	size_t file_cap;
};

/* Read a whole small /proc file into scan->file, NUL-terminated; its
 * length, or -1. */
static ssize_t read_whole(struct scan *s, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t n;

		if (s->file_cap - len < 4096) {
			size_t cap = s->file_cap ? s->file_cap * 2 : 65536;
			char *f = realloc(s->file, cap);

			if (!f) {
				close(fd);
				return -1;
			}
			s->file = f;
			s->file_cap = cap;
		}
		n = read(fd, s->file + len, s->file_cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	s->file[len] = '\0';
	return (ssize_t)len;
}

/* The attaches of shmid in the maps text of one process, as one word
 * appended to out; returns how many. */
static unsigned int append_attaches(struct scan *s, const char *maps, size_t len,
				    struct textbuf *out)
{
	const char *p = maps, *end = maps + len;
	unsigned int n = 0;

	while ((p = memmem(p, (size_t)(end - p), PROCS_SYSV_NAME, strlen(PROCS_SYSV_NAME))) !=
	       NULL) {
		const char *line = p, *eol;
		struct procs_attach a;

		while (line > maps && line[-1] != '\n')
			line--;
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if (procs_parse_maps_line(line, (size_t)(eol - line), s->shmid, &a)) {
			textbuf_printf(out, "%s%" PRIx64 "-%" PRIx64 ":%s", n ? "," : " ", a.start,
				       a.end, a.perms);
			n++;
		}
		p = eol;
	}
	return n;
}

bool procs_same_ipc_namespace(const struct procs_view *view, const char *pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%s/ns/ipc", pid);
	return stat(path, &st) == 0 && st.st_ino == view->ipcns_ino && st.st_dev == view->ipcns_dev;
}

static void append_process(struct scan *s, const char *pid, bool self)
{
	char path[64], comm[4 * 64 + 1];
	struct textbuf attaches = { 0 };
	unsigned int uid = 0, euid = 0;
	ssize_t len;
	const char *u;

	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	len = read_whole(s, path);
	if (len <= 0)
		return;
	if (!append_attaches(s, s->file, (size_t)len, &attaches) || attaches.failed)
		goto out;
	if (!procs_same_ipc_namespace(s->view, pid))
		goto out;
	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	len = read_whole(s, path);
	if (len <= 0)
		goto out;
	if (s->file[len - 1] == '\n')
		len--;
	if (procs_escape_comm(s->file, (size_t)len, comm, sizeof(comm)) < 0)
		goto out;
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	len = read_whole(s, path);
	u = len > 0 ? strstr(s->file, "\nUid:") : NULL;
	if (!u || sscanf(u, "\nUid: %u %u", &uid, &euid) != 2)
		goto out;
	textbuf_printf(&s->out, "%s %u %s%s%s\n", pid, euid, comm, attaches.s,
		       self ? " " PROCS_SELF_MARK : "");
out:
	free(attaches.s);
}

bool procs_all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* One run of a function with a caller's credentials. */
struct run {
	struct procs_caller caller;
	uint32_t caps[2]; /* the caller's effective capabilities */
	struct procs_view view;
	void (*fn)(const struct procs_view *view, void *arg);
	void *arg;
	int ret;
};

/* Take on the caller's credentials, for this thread only (raw system
 * calls: glibc's wrappers of setgroups would change every thread). */
static int become_caller(struct run *r)
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	uid_t uid = r->caller.uid;
	gid_t gid = r->caller.gid;

	if (geteuid() != 0)
		/* Without the right to change, the daemon can only stand in
		 * for its own user. */
		return uid == geteuid() && gid == getegid() ? 0 : -EACCES;
	if (syscall(SYS_SETGROUPS, 0, NULL) != 0)
		return -EACCES;
	syscall(SYS_SETFSGID, gid);
	syscall(SYS_SETFSUID, uid);
	if ((uid_t)syscall(SYS_SETFSUID, (uid_t)-1) != uid ||
	    (gid_t)syscall(SYS_SETFSGID, (gid_t)-1) != gid)
		return -EACCES;
	if (syscall(SYS_capget, &head, data) != 0)
		return -EACCES;
	for (int i = 0; i < 2; i++)
		data[i].effective = r->caps[i] & data[i].permitted;
	if (syscall(SYS_capset, &head, data) != 0)
		return -EACCES;
	return 0;
}

static void *run_thread(void *arg)
{
	struct run *r = arg;

	r->ret = become_caller(r);
	if (r->ret == 0)
		r->fn(&r->view, r->arg);
	return NULL;
}

static void scan_processes(const struct procs_view *view, void *arg)
{
	struct scan *s = arg;
	struct dirent *e;
	DIR *proc;

	s->view = view;
	proc = opendir("/proc");
	if (!proc) {
		s->ret = -errno;
		return;
	}
	while ((e = readdir(proc)) != NULL) {
		bool self;

		if (!procs_all_digits(e->d_name))
			continue;
		self = strtol(e->d_name, NULL, 10) == view->self;
		if (self && !view->self_visible)
			continue;
		append_process(s, e->d_name, self);
	}
	closedir(proc);
}

/* The caller's effective capabilities, if it is in the daemon's user
 * namespace (capabilities elsewhere say nothing about this one). */
static void caller_caps(const struct procs_caller *caller, uint32_t caps[2])
{
	char path[64], line[256];
	struct stat mine, theirs;
	unsigned long long eff;
	FILE *f;

	caps[0] = caps[1] = 0;
	if (caller->pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)caller->pid);
	if (stat("/proc/thread-self/ns/user", &mine) != 0 || stat(path, &theirs) != 0 ||
	    mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)caller->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			caps[0] = (uint32_t)eff;
			caps[1] = (uint32_t)(eff >> 32);
			break;
		}
	fclose(f);
}

/* The kernel lets any thread read its own process, so for the daemon
 * the rule is applied here: CAP_SYS_PTRACE, or the daemon's uid and gid
 * and every capability the daemon holds. */
static bool may_see_daemon(const struct procs_caller *caller, const uint32_t caps[2])
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (caps[CAP_TO_INDEX(CAP_SYS_PTRACE)] & CAP_TO_MASK(CAP_SYS_PTRACE))
		return true;
	if (caller->uid != geteuid() || caller->gid != getegid())
		return false;
	if (syscall(SYS_capget, &head, data) != 0)
		return false;
	return (data[0].permitted & ~caps[0]) == 0 && (data[1].permitted & ~caps[1]) == 0;
}

/* The view and the caller's capabilities for a run as caller. */
static int prepare_run(const struct procs_caller *caller, struct run *r)
{
	struct stat ipcns;

	if (stat("/proc/thread-self/ns/ipc", &ipcns) != 0)
		return -errno;
	r->view.self = getpid();
	r->view.ipcns_dev = ipcns.st_dev;
	r->view.ipcns_ino = ipcns.st_ino;
	if (caller) {
		r->caller = *caller;
		caller_caps(caller, r->caps);
		r->view.self_visible = may_see_daemon(caller, r->caps);
	} else {
		r->view.self_visible = true;
	}
	return 0;
}

int procs_run_as(const struct procs_caller *caller,
		 void (*fn)(const struct procs_view *view, void *arg), void *arg)
{
	struct run r = { .fn = fn, .arg = arg };
	pthread_t thread;
	int ret = prepare_run(caller, &r);

	if (ret)
		return ret;
	if (!caller) {
		/* The daemon's own view: no thread needed. */
		fn(&r.view, arg);
		return 0;
	}
	if (pthread_create(&thread, NULL, run_thread, &r) != 0)
		return -EAGAIN;
	pthread_join(thread, NULL);
	return r.ret;
}

/* ---- bounded runs ------------------------------------------------------ */

struct procs_limits {
	struct budget *scans;
	unsigned int timeout_ms;
	unsigned int refs; /* the daemon's, and one per scan thread alive (atomic) */
};

struct procs_limits *procs_limits_new(size_t per_user, unsigned int timeout_ms)
{
	struct procs_limits *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->scans = budget_new(per_user);
	if (!l->scans) {
		free(l);
		return NULL;
	}
	l->timeout_ms = timeout_ms;
	l->refs = 1;
	return l;
}

static void limits_put(struct procs_limits *l)
{
	if (__atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		budget_free(l->scans);
		free(l);
	}
}

void procs_limits_free(struct procs_limits *l)
{
	if (l)
		limits_put(l);
}

/* One bounded run, shared by its caller and its thread. */
struct bounded {
	struct run r;
	struct procs_limits *limits;
	void (*release)(void *arg);
	/* Guards done and abandoned; a leaf (lockorder.h). */
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	bool done, abandoned;
};

static void bounded_free(struct bounded *b)
{
	pthread_mutex_destroy(&b->mutex);
	pthread_cond_destroy(&b->cond);
	free(b);
}

static void *bounded_thread(void *arg)
{
	struct bounded *b = arg;
	struct procs_limits *l = b->limits;
	uid_t uid = b->r.caller.uid;
	bool abandoned;

	run_thread(&b->r);
	pthread_mutex_lock(&b->mutex);
	b->done = true;
	abandoned = b->abandoned;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->mutex);
	if (abandoned) {
		/* the caller has gone: what it left is ours */
		b->release(b->r.arg);
		bounded_free(b);
	}
	budget_give(l->scans, uid);
	limits_put(l);
	return NULL;
}

int procs_run_bounded(struct procs_limits *l, const struct procs_caller *caller,
		      void (*fn)(const struct procs_view *view, void *arg), void *arg,
		      void (*release)(void *arg))
{
	struct timespec until = clock_timespec(clock_deadline_ns(l->timeout_ms));
	struct bounded *b = calloc(1, sizeof(*b));
	pthread_condattr_t attr;
	pthread_attr_t detached;
	pthread_t thread;
	int ret = b ? prepare_run(caller, &b->r) : -ENOMEM;

	if (ret) {
		free(b);
		return ret;
	}
	if (!budget_take(l->scans, caller->uid)) {
		free(b);
		return -EAGAIN;
	}
	b->r.fn = fn;
	b->r.arg = arg;
	b->limits = l;
	b->release = release;
	pthread_mutex_init(&b->mutex, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &attr);
	pthread_condattr_destroy(&attr);
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_ACQ_REL);
	pthread_attr_init(&detached);
	pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&thread, &detached, bounded_thread, b);
	pthread_attr_destroy(&detached);
	if (ret != 0) {
		budget_give(l->scans, caller->uid);
		limits_put(l);
		bounded_free(b);
		return -EAGAIN;
	}
	pthread_mutex_lock(&b->mutex);
	while (!b->done && pthread_cond_timedwait(&b->cond, &b->mutex, &until) != ETIMEDOUT)
		;
	b->abandoned = !b->done;
	ret = b->abandoned ? -ETIMEDOUT : b->r.ret;
	pthread_mutex_unlock(&b->mutex);
	/* done: the thread touches b no more (it only reads done's outcome
	 * under the mutex, which it has let go of) */
	if (!b->abandoned)
		bounded_free(b);
	return ret;
}

int procs_render(int shmid, uint64_t nattch, const struct procs_caller *caller, char **text,
		 size_t *len)
{
	struct scan s = { .shmid = shmid };
	int ret;

	*text = NULL;
	*len = 0;
	textbuf_printf(&s.out, "%s", PROCS_HEADER);
	if (nattch > 0) {
		ret = procs_run_as(caller, scan_processes, &s);
		free(s.file);
		if (ret == 0)
			ret = s.ret;
		if (ret)
			goto fail;
	}
	return textbuf_take(&s.out, text, len);
fail:
	free(s.out.s);
	return ret;
}

static void scan_release(void *arg)
{
	struct scan *s = arg;

	free(s->file);
	free(s->out.s);
	free(s);
}

int procs_render_bounded(struct procs_limits *limits, int shmid, uint64_t nattch,
			 const struct procs_caller *caller, char **text, size_t *len)
{
	struct scan *s;
	int ret;

	if (!limits || !caller || nattch == 0)
		return procs_render(shmid, nattch, caller, text, len);
	*text = NULL;
	*len = 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->shmid = shmid;
	textbuf_printf(&s->out, "%s", PROCS_HEADER);
	ret = procs_run_bounded(limits, caller, scan_processes, s, scan_release);
	if (ret == -ETIMEDOUT)
		return ret; /* s is the scan thread's */
	if (ret == 0)
		ret = s->ret;
	if (ret == 0)
		ret = textbuf_take(&s->out, text, len);
	scan_release(s);
	return ret;
}
