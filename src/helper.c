/* helper.c - SHM_LOCK and SHM_UNLOCK as the caller, by a child waited for
 * off the workers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "array.h"
#include "budget.h"
#include "clock.h"
#include "helper.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CHILD_STACK (64 * 1024)

struct helpers {
	/* Guards the calls, the counts and the thread's start and stop; the
	 * children are cloned under it (the one stack buffer), and waited for
	 * without it.  A leaf (lockorder.h): taken alone. */
	pthread_mutex_t mutex;
	struct helper_call *calls; /* under way */
	unsigned int running, max;
	struct budget *per_user;
	int wake;	  /* eventfd: a call was added, or stop */
	pthread_t thread; /* started at the first call: after any daemonizing fork */
	bool started, stopping;
};

/* ---- the caller's limit ------------------------------------------------------ */

static int parse_limit_value(const char *s, rlim_t *out, const char **end)
{
	char *e;
	unsigned long long v;

	while (*s == ' ')
		s++;
	if (strncmp(s, "unlimited", 9) == 0) {
		*out = RLIM_INFINITY;
		*end = s + 9;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || (rlim_t)v == RLIM_INFINITY)
		return -EINVAL;
	*out = (rlim_t)v;
	*end = e;
	return 0;
}

int segment_parse_memlock_limit(const char *limits, struct rlimit *out)
{
	static const char name[] = "Max locked memory";

	for (const char *line = limits; line && *line;) {
		const char *end;

		if (strncmp(line, name, sizeof(name) - 1) == 0) {
			line += sizeof(name) - 1;
			if (parse_limit_value(line, &out->rlim_cur, &end) != 0 ||
			    parse_limit_value(end, &out->rlim_max, &end) != 0 ||
			    out->rlim_cur > out->rlim_max)
				return -EINVAL;
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -EINVAL;
}

/* Whether a /proc/PID/status text is of a process with fsuid uid. */
static bool status_has_fsuid(const char *status, uid_t uid)
{
	const char *line = strstr(status, "\nUid:");
	unsigned int real, eff, saved, fs;

	return line && sscanf(line + 5, "%u %u %u %u", &real, &eff, &saved, &fs) == 4 && fs == uid;
}

static ssize_t read_at(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* The caller's RLIMIT_MEMLOCK.  Both files are read through one
 * descriptor of /proc/PID, so they are of one process, and that process
 * must be the caller's (a killed caller's pid may be reused). */
static int caller_memlock(const struct segment_caller *caller, struct rlimit *out)
{
	char path[32], text[4096];
	int dirfd, err = -EPERM;

	/* A caller in a PID namespace the daemon cannot see has no /proc
	 * entry here: it gets the daemon's own limit. */
	if (caller->pid <= 0)
		return getrlimit(RLIMIT_MEMLOCK, out) == 0 ? 0 : -EPERM;
	snprintf(path, sizeof(path), "/proc/%d", (int)caller->pid);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -EPERM;
	if (read_at(dirfd, "limits", text, sizeof(text)) > 0 &&
	    segment_parse_memlock_limit(text, out) == 0 &&
	    read_at(dirfd, "status", text, sizeof(text)) > 0 && status_has_fsuid(text, caller->uid))
		err = 0;
	close(dirfd);
	return err;
}

/* ---- the child -------------------------------------------------------------- */

struct lock_child_arg {
	int shmid;
	bool locked;
	uid_t uid;
	gid_t gid;
	struct rlimit memlock;
	int answer; /* the pipe the child writes its errno to */
};

/* In a child of its own (a copy of the daemon: not CLONE_VM, so nothing
 * it does or suffers touches the daemon; it makes syscalls only): become
 * the caller entirely, real uid included, as the kernel charges locked
 * memory to the real user.  The answer goes through a pipe, not the exit
 * status, which tools such as valgrind may take over in the child. */
static int lock_child(void *arg)
{
	const struct lock_child_arg *c = arg;
	int err = 0;

	/* First, while still root's (the caller cannot signal it yet): no
	 * copy of the daemon's descriptors (/dev/fuse above all) outlives
	 * this call in a child the caller may stop. */
	if (c->answer > 0)
		syscall(SYS_close_range, 0, c->answer - 1, 0);
	syscall(SYS_close_range, c->answer + 1, ~0u, 0);
	if (setrlimit(RLIMIT_MEMLOCK, &c->memlock) != 0 || syscall(SYS_setgroups, 0, NULL) != 0 ||
	    syscall(SYS_setresgid, c->gid, c->gid, c->gid) != 0 ||
	    syscall(SYS_setresuid, c->uid, c->uid, c->uid) != 0)
		err = EPERM;
	else if (shmctl(c->shmid, c->locked ? SHM_LOCK : SHM_UNLOCK, NULL) != 0)
		err = errno;
	if (write(c->answer, &err, sizeof(err)) != sizeof(err))
		_exit(1);
	_exit(0);
}

/* Start the child of c: 0 (c->pid, c->pidfd, c->answer set) or -EAGAIN. */
static int start_child(struct helper_call *c, const struct rlimit *memlock)
{
	struct lock_child_arg arg = { .shmid = c->shmid,
				      .locked = c->locked,
				      .uid = c->caller.uid,
				      .gid = c->caller.gid,
				      .memlock = *memlock };
	/* The child runs on its own copy of this (not CLONE_VM): one buffer
	 * serves every child, never written by the daemon itself, and
	 * nothing is allocated that a child would see as lost. */
	static char stack[CHILD_STACK] __attribute__((aligned(64)));
	int answer[2], pidfd = -1;
	pid_t pid;

	if (pipe2(answer, O_CLOEXEC) != 0)
		return -EAGAIN;
	arg.answer = answer[1];
	/* CLONE_PIDFD: a descriptor of exactly this child, for poll(),
	 * waitid() and a kill that cannot reach a recycled pid. */
	segment_fork_gate(true); /* no attachment of the daemon's in the child */
	pid = clone(lock_child, stack + CHILD_STACK, CLONE_PIDFD | SIGCHLD, &arg, &pidfd);
	if (pid < 0 && errno == EINVAL) {
		/* a kernel (or valgrind) without CLONE_PIDFD: the pidfd after;
		 * the child cannot be reaped by anyone else meanwhile */
		pid = clone(lock_child, stack + CHILD_STACK, SIGCHLD, &arg);
		if (pid > 0 && (pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			pid = -1;
		}
	}
	segment_fork_gate(false);
	close(answer[1]);
	if (pid < 0) {
		close(answer[0]);
		return -EAGAIN;
	}
	c->pid = pid;
	c->pidfd = pidfd;
	c->answer = answer[0];
	c->killed = false;
	return 0;
}

/* Reap c's child and its answer.  A child that answered but has not
 * exited (its caller stopped it) is killed: it has nothing left to do. */
static int finish_child(struct helper_call *c)
{
	siginfo_t info;
	int child_err, err;
	struct pollfd exited = { .fd = c->pidfd, .events = POLLIN };

	if (poll(&exited, 1, 0) != 1) {
		kill(c->pid, SIGKILL); /* our unreaped child: its pid is not reused */
	}
	while (waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &info, WEXITED) != 0 && errno == EINTR)
		;
	if (read(c->answer, &child_err, sizeof(child_err)) == (ssize_t)sizeof(child_err))
		err = child_err == EINVAL || child_err == EIDRM ? -ENOENT : -child_err;
	else
		err = c->killed ? -ETIMEDOUT : -EAGAIN;
	close(c->answer);
	close(c->pidfd);
	return err;
}

/* Whether the child is running or in an uninterruptible wait in the
 * kernel: making progress, only slowly (its state in /proc/PID/stat:
 * R or D; T and t are a stop by its caller, S a sleep none of its calls
 * makes). */
static bool child_progressing(const struct helper_call *c)
{
	char path[64], line[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)c->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return false;
	line[n] = '\0';
	paren = strrchr(line, ')'); /* the name may hold anything */
	return paren && paren[1] == ' ' && (paren[2] == 'R' || paren[2] == 'D');
}

static void kill_child(struct helper_call *c)
{
	if (!c->killed)
		kill(c->pid, SIGKILL); /* our unreaped child: its pid is not reused */
	c->killed = true;
}

/* ---- the thread that waits for them ------------------------------------------- */

static void *helpers_main(void *arg)
{
	struct helpers *h = arg;
	struct pollfd *fds = NULL;
	struct helper_call **of = NULL;
	size_t cap = 0, cap2 = 0;

	for (;;) {
		struct helper_call *done = NULL;
		uint64_t now = clock_now_ns(), next = UINT64_MAX;
		size_t n = 1;
		int timeout;

		pthread_mutex_lock(&h->mutex);
		if (h->stopping && !h->calls) {
			pthread_mutex_unlock(&h->mutex);
			break;
		}
		for (struct helper_call *c = h->calls; c; c = c->next) {
			if (!h->stopping && !c->killed && now >= c->deadline_ns &&
			    now < c->limit_ns && child_progressing(c))
				c->deadline_ns = clock_deadline_ns(HELPER_TIMEOUT_MS);
			if (h->stopping || now >= c->deadline_ns)
				kill_child(c);
			else if (c->deadline_ns < next)
				next = c->deadline_ns;
			n += 2;
		}
		if (n > cap) {
			struct pollfd *f = array_grow(fds, cap, &cap, sizeof(*fds));

			if (f)
				fds = f;
		}
		if (n > cap2) {
			struct helper_call **o = array_grow(of, cap2, &cap2, sizeof(*of));

			if (o)
				of = o;
		}
		n = 0;
		fds[n++] = (struct pollfd){ .fd = h->wake, .events = POLLIN };
		/* The child's exit, or its answer: a child stopped after it
		 * answered is answered for at once (and killed). */
		for (struct helper_call *c = h->calls; c && n + 1 < cap && n + 1 < cap2;
		     c = c->next) {
			of[n] = c;
			fds[n++] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };
			of[n] = c;
			fds[n++] = (struct pollfd){ .fd = c->answer, .events = POLLIN };
		}
		pthread_mutex_unlock(&h->mutex);

		timeout = next == UINT64_MAX ? -1 : (int)((next - now) / CLOCK_NS_PER_MS + 1);
		if (poll(fds, n, timeout) < 0 && errno != EINTR)
			timeout = 0;
		if (fds[0].revents & POLLIN) {
			uint64_t v;

			if (read(h->wake, &v, sizeof(v)) < 0)
				v = 0;
		}
		pthread_mutex_lock(&h->mutex);
		for (size_t i = 1; i < n; i++) {
			struct helper_call *c = of[i];

			bool listed = false;

			if (!(fds[i].revents & (POLLIN | POLLHUP)))
				continue;
			/* exited or answered: out of the list, answered below */
			for (struct helper_call **link = &h->calls; *link; link = &(*link)->next) {
				if (*link == c) {
					*link = c->next;
					listed = true;
					break;
				}
			}
			if (!listed)
				continue; /* both of its descriptors were ready */
			c->next = done;
			done = c;
			h->running--;
		}
		pthread_mutex_unlock(&h->mutex);
		while (done) {
			struct helper_call *c = done;
			int err;

			done = c->next;
			err = finish_child(c);
			budget_give(h->per_user, c->caller.uid);
			c->done(c, err);
		}
	}
	free(fds);
	free(of);
	return NULL;
}

struct helpers *helpers_new(unsigned int per_user, unsigned int max)
{
	struct helpers *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	pthread_mutex_init(&h->mutex, NULL);
	h->max = max;
	h->per_user = budget_new(per_user);
	h->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!h->per_user || h->wake < 0) {
		budget_free(h->per_user);
		if (h->wake >= 0)
			close(h->wake);
		pthread_mutex_destroy(&h->mutex);
		free(h);
		return NULL;
	}
	return h;
}

static void wake(struct helpers *h)
{
	uint64_t one = 1;

	if (write(h->wake, &one, sizeof(one)) < 0) {
		/* the counter is full: the thread has a wake-up coming */
	}
}

void helpers_free(struct helpers *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->mutex);
	h->stopping = true;
	pthread_mutex_unlock(&h->mutex);
	wake(h);
	if (h->started)
		pthread_join(h->thread, NULL);
	close(h->wake);
	budget_free(h->per_user);
	pthread_mutex_destroy(&h->mutex);
	free(h);
}

int helper_set_locked_as(struct helpers *h, struct helper_call *c)
{
	struct rlimit memlock;
	int err;

	if (geteuid() != 0 || c->caller.uid == 0)
		return segment_set_locked(c->shmid, c->locked);
	err = caller_memlock(&c->caller, &memlock);
	if (err)
		return err;
	if (!budget_take(h->per_user, c->caller.uid))
		return -EAGAIN;
	pthread_mutex_lock(&h->mutex);
	if (!h->started && !h->stopping)
		h->started = pthread_create(&h->thread, NULL, helpers_main, h) == 0;
	err = h->stopping || !h->started || h->running >= h->max ? -EAGAIN
								 : start_child(c, &memlock);
	if (err == 0) {
		c->deadline_ns = clock_deadline_ns(HELPER_TIMEOUT_MS);
		c->limit_ns = clock_deadline_ns(HELPER_LIMIT_MS);
		c->next = h->calls;
		h->calls = c;
		h->running++;
	}
	pthread_mutex_unlock(&h->mutex);
	if (err) {
		budget_give(h->per_user, c->caller.uid);
		return err;
	}
	wake(h);
	return HELPER_STARTED;
}

unsigned int helpers_running(struct helpers *h)
{
	unsigned int n;

	pthread_mutex_lock(&h->mutex);
	n = h->running;
	pthread_mutex_unlock(&h->mutex);
	return n;
}
