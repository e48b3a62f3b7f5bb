/* waiters.c - who waits on a set or a queue, and what the caller sees of
 * the pids the kernel records (see waiters.h for the rule).
 *
 * Everything runs in one procs_run_as() call: a /proc scan when waiters
 * are wanted (each thread's syscall file; only a thread blocked on the
 * object costs its status, comm and namespace reads), and a comm and a
 * stat read per recorded pid.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "array.h"
#include "textbuf.h"
#include "waiters.h"

/* ipc(2)'s call numbers (linux/ipc.h), where the architecture has it. */
#define IPC_CALL_SEMOP	    1
#define IPC_CALL_SEMTIMEDOP 4
#define IPC_CALL_MSGSND	    11
#define IPC_CALL_MSGRCV	    12

/* How far back a pid's look is reused. */
#define REUSE_WINDOW 16

int waiters_parse_syscall(const char *text, long *nr, unsigned long args[6])
{
	const char *p = text;
	char *end;

	if (strncmp(text, "running", 7) == 0)
		return -EBUSY;
	errno = 0;
	*nr = strtol(p, &end, 10);
	if (end == p || errno || *nr < 0)
		return -EINVAL;
	p = end;
	for (int i = 0; i < 6; i++) {
		if (*p != ' ')
			return -EINVAL;
		p++;
		if (strncmp(p, "0x", 2) != 0)
			return -EINVAL;
		errno = 0;
		args[i] = strtoul(p, &end, 16);
		if (end == p + 2 || errno)
			return -EINVAL;
		p = end;
	}
	return 0;
}

static bool same_id(unsigned long arg, int id)
{
	/* The kernel takes an int: the upper half of the register is not
	 * looked at. */
	return (int)(unsigned int)arg == id;
}

const char *waiters_call_on(long nr, const unsigned long args[6], enum waiters_object obj, int id)
{
	const char *call = NULL;
	unsigned long target = args[0];

	if (id < 0)
		return NULL;
	switch (obj) {
	case WAITERS_SEM:
#ifdef SYS_semop
		if (nr == SYS_semop)
			call = "semop";
#endif
#ifdef SYS_semtimedop
		if (nr == SYS_semtimedop)
			call = "semtimedop";
#endif
#ifdef SYS_semtimedop_time64
		if (nr == SYS_semtimedop_time64)
			call = "semtimedop";
#endif
		break;
	case WAITERS_MSG:
#ifdef SYS_msgsnd
		if (nr == SYS_msgsnd)
			call = "msgsnd";
#endif
#ifdef SYS_msgrcv
		if (nr == SYS_msgrcv)
			call = "msgrcv";
#endif
		break;
	}
#ifdef SYS_ipc
	if (nr == SYS_ipc) {
		unsigned long what = args[0] & 0xffff; /* the high half is a version */

		target = args[1];
		if (obj == WAITERS_SEM && what == IPC_CALL_SEMOP)
			call = "semop";
		else if (obj == WAITERS_SEM && what == IPC_CALL_SEMTIMEDOP)
			call = "semtimedop";
		else if (obj == WAITERS_MSG && what == IPC_CALL_MSGSND)
			call = "msgsnd";
		else if (obj == WAITERS_MSG && what == IPC_CALL_MSGRCV)
			call = "msgrcv";
	}
#endif
	return call && same_id(target, id) ? call : NULL;
}

void waiters_list_free(struct waiters_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = l->more = 0;
}

struct look {
	enum waiters_object obj;
	int id;
	struct waiters_pid *pids;
	size_t npids;
	struct waiters_list *found;
	int ret;
};

static ssize_t read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* A comm file's text, escaped as .procs does; false if unreadable. */
static bool read_comm(const char *path, char *comm, size_t size)
{
	char text[64];
	ssize_t n = read_text(path, text, sizeof(text));

	if (n <= 0)
		return false;
	if (text[n - 1] == '\n')
		n--;
	return procs_escape_comm(text, (size_t)n, comm, size) >= 0;
}

static void add_waiter(struct look *l, const struct procs_view *view, const char *pid,
		       const char *tid, const char *call)
{
	struct waiters_list *list = l->found;
	struct waiters_process w = { .call = call };
	char path[600], status[4096];
	unsigned int uid, euid;
	const char *u;

	w.pid = (pid_t)strtol(pid, NULL, 10);
	w.tid = (pid_t)strtol(tid, NULL, 10);
	w.self = w.pid == view->self;
	if (!procs_same_ipc_namespace(view, pid))
		return;
	snprintf(path, sizeof(path), "/proc/%s/task/%s/comm", pid, tid);
	if (!read_comm(path, w.comm, sizeof(w.comm)))
		return;
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if (read_text(path, status, sizeof(status)) <= 0)
		return;
	u = strstr(status, "\nUid:");
	if (!u || sscanf(u, "\nUid: %u %u", &uid, &euid) != 2)
		return;
	w.uid = euid;
	if (list->n >= WAITERS_MAX) {
		list->more++;
		return;
	}
	struct waiters_process *v = array_grow(list->v, list->n, &list->cap, sizeof(*v));

	if (!v) {
		l->ret = -ENOMEM;
		return;
	}
	list->v = v;
	v[list->n++] = w;
}

static void scan_threads(struct look *l, const struct procs_view *view, const char *pid)
{
	char path[600], text[256];
	struct dirent *e;
	DIR *tasks;

	snprintf(path, sizeof(path), "/proc/%s/task", pid);
	tasks = opendir(path);
	if (!tasks)
		return;
	while (l->ret == 0 && (e = readdir(tasks)) != NULL) {
		unsigned long args[6];
		const char *call;
		long nr;

		if (!procs_all_digits(e->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task/%s/syscall", pid, e->d_name);
		/* Unreadable (not the caller's to trace), running, or not
		 * in a call: not a waiter that may be shown. */
		if (read_text(path, text, sizeof(text)) <= 0 ||
		    waiters_parse_syscall(text, &nr, args) != 0)
			continue;
		call = waiters_call_on(nr, args, l->obj, l->id);
		if (call)
			add_waiter(l, view, pid, e->d_name, call);
	}
	closedir(tasks);
}

static void look_as_caller(const struct procs_view *view, void *arg)
{
	struct look *l = arg;

	for (size_t i = 0; i < l->npids; i++) {
		struct waiters_pid *p = &l->pids[i];
		struct orphan_process proc;
		char path[48];

		p->seen = false;
		p->comm[0] = '\0';
		p->alive = ORPHAN_UNKNOWN;
		if (p->pid <= 0)
			continue;
		/* A set's semaphores are mostly changed by the same few
		 * processes: one look each. */
		size_t j = i > REUSE_WINDOW ? i - REUSE_WINDOW : 0;

		while (j < i && (l->pids[j].pid != p->pid || l->pids[j].when != p->when))
			j++;
		if (j < i) {
			*p = l->pids[j];
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
		p->seen = read_comm(path, p->comm, sizeof(p->comm));
		orphan_process_read(p->pid, &proc);
		p->alive = orphan_judge(p->pid, p->when, &proc);
	}
	if (l->found) {
		DIR *proc = opendir("/proc");
		struct dirent *e;

		if (!proc) {
			l->ret = -errno;
			return;
		}
		while (l->ret == 0 && (e = readdir(proc)) != NULL) {
			if (!procs_all_digits(e->d_name))
				continue;
			if (strtol(e->d_name, NULL, 10) == view->self && !view->self_visible)
				continue;
			scan_threads(l, view, e->d_name);
		}
		closedir(proc);
	}
}

int waiters_look(enum waiters_object obj, int id, const struct procs_caller *caller,
		 struct waiters_pid *pids, size_t n, struct waiters_list *found)
{
	struct look l = { .obj = obj, .id = id, .pids = pids, .npids = n, .found = found };
	int ret;

	if (found)
		found->n = found->more = 0;
	ret = procs_run_as(caller, look_as_caller, &l);
	if (ret == 0)
		ret = l.ret;
	return ret;
}

void waiters_render(struct textbuf *t, const struct waiters_list *l)
{
	for (size_t i = 0; l && i < l->n; i++) {
		const struct waiters_process *w = &l->v[i];

		textbuf_printf(t, "waiter %jd tid %jd uid %ju comm %s call %s%s\n",
			       (intmax_t)w->pid, (intmax_t)w->tid, (uintmax_t)w->uid, w->comm,
			       w->call, w->self ? " " PROCS_SELF_MARK : "");
	}
	if (l && l->more)
		textbuf_printf(t, "waiters_not_listed %zu\n", l->more);
}

/* ---- bounded looks ---------------------------------------------------- */

/* A look run by procs_run_bounded(), with its own pids and found. */
struct bounded_look {
	struct look l;
	struct waiters_list found;
	struct waiters_pid pids[];
};

static void bounded_look_release(void *arg)
{
	struct bounded_look *b = arg;

	waiters_list_free(&b->found);
	free(b);
}

static void bounded_look_run(const struct procs_view *view, void *arg)
{
	look_as_caller(view, &((struct bounded_look *)arg)->l);
}

int waiters_look_bounded(struct procs_limits *limits, enum waiters_object obj, int id,
			 const struct procs_caller *caller, struct waiters_pid *pids, size_t n,
			 struct waiters_list *found)
{
	struct bounded_look *b;
	int ret;

	if (!limits || !caller)
		return waiters_look(obj, id, caller, pids, n, found);
	if (found)
		found->n = found->more = 0;
	b = calloc(1, sizeof(*b) + n * sizeof(*pids));
	if (!b)
		return -ENOMEM;
	if (n)
		memcpy(b->pids, pids, n * sizeof(*pids));
	b->l = (struct look){
		.obj = obj, .id = id, .pids = b->pids, .npids = n, .found = found ? &b->found : NULL
	};
	ret = procs_run_bounded(limits, caller, bounded_look_run, b, bounded_look_release);
	if (ret == -ETIMEDOUT)
		return ret; /* b is the look's thread's */
	if (ret == 0)
		ret = b->l.ret;
	if (ret == 0 && n)
		memcpy(pids, b->pids, n * sizeof(*pids));
	if (ret == 0 && found) {
		waiters_list_free(found);
		*found = b->found;
		b->found = (struct waiters_list){ 0 };
	}
	bounded_look_release(b);
	return ret;
}
