/* orphan.c - whether a pid still names the process that acted, and which
 * objects are orphans (see orphan.h for the rule and its limits).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "orphan.h"

/* The stat line's fields after comm: field 3 (state) is the first. */
#define STARTTIME_FIELD	 22
#define FIRST_AFTER_COMM 3

int orphan_parse_stat(const char *stat, size_t len, char *state, unsigned long long *ticks)
{
	const char *end = stat + len, *p;
	int field = FIRST_AFTER_COMM;

	/* comm is whatever lies between the first '(' and the last ')'. */
	p = memrchr(stat, ')', len);
	if (!p || !memchr(stat, '(', (size_t)(p - stat)))
		return -EINVAL;
	p++;
	for (;;) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return -EINVAL;
		if (field == FIRST_AFTER_COMM)
			*state = *p;
		if (field == STARTTIME_FIELD)
			break;
		while (p < end && *p != ' ')
			p++;
		field++;
	}
	unsigned long long v = 0;
	const char *digits = p;

	while (p < end && *p >= '0' && *p <= '9') {
		if (v > (~0ull - 9) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned long long)(*p - '0');
		p++;
	}
	if (p == digits || (p < end && *p != ' ' && *p != '\n'))
		return -EINVAL;
	*ticks = v;
	return 0;
}

int orphan_parse_btime(const char *text, time_t *btime)
{
	const char *line = text;

	while (line && *line) {
		if (strncmp(line, "btime ", 6) == 0) {
			char *end;
			long long v;

			errno = 0;
			v = strtoll(line + 6, &end, 10);
			if (errno || end == line + 6 || v <= 0 || (*end != '\n' && *end != '\0'))
				return -EINVAL;
			*btime = (time_t)v;
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -EINVAL;
}

enum orphan_alive orphan_judge(pid_t pid, time_t when, const struct orphan_process *p)
{
	if (pid <= 0)
		return ORPHAN_UNKNOWN;
	if (!p->exists)
		return ORPHAN_GONE;
	if (!p->known || when <= 0)
		return ORPHAN_UNKNOWN;
	/* Started after the act: another process got the number since. */
	if (p->start > when + ORPHAN_SLACK_S)
		return ORPHAN_GONE;
	return ORPHAN_ALIVE;
}

static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

int orphan_boot_time(time_t *btime)
{
	struct timespec boot, real;

	/* The boot clock first: the pair then errs late by the nanoseconds
	 * between the reads, never early, as /proc/stat's whole seconds. */
	if (clock_gettime(CLOCK_BOOTTIME, &boot) != 0 || clock_gettime(CLOCK_REALTIME, &real) != 0)
		return -errno;
	*btime = real.tv_sec - boot.tv_sec - (real.tv_nsec < boot.tv_nsec ? 1 : 0);
	return 0;
}

/* Processes seen running, each held by a pidfd: a pidfd names one
 * process, never the next holder of its pid, and poll() says (one system
 * call, where /proc takes four) whether it has ended.  Bounded, least
 * recently used out: a user's many creators only make misses.  (A hit
 * says running until the whole thread group has ended, where /proc says
 * 'Z' once its first thread has: the program still runs.) */
#define PROCESS_CACHE 16

static struct {
	pthread_mutex_t lock; /* a leaf: bookkeeping and a poll() that never waits */
	unsigned long clock;
	struct {
		pid_t pid; /* 0: free */
		int pidfd;
		unsigned long long ticks; /* its start, clock ticks after boot */
		unsigned long used;
	} e[PROCESS_CACHE];
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Whether the process behind pidfd has ended (or cannot be asked). */
static bool pidfd_ended(int pidfd)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

	return poll(&pfd, 1, 0) != 0;
}

/* The start of the process cached for pid, if it is still running;
 * an entry whose process ended goes. */
static bool cache_find(pid_t pid, unsigned long long *ticks)
{
	bool hit = false;

	pthread_mutex_lock(&cache.lock);
	for (size_t i = 0; i < PROCESS_CACHE; i++) {
		if (cache.e[i].pid != pid)
			continue;
		if (pidfd_ended(cache.e[i].pidfd)) {
			close(cache.e[i].pidfd);
			cache.e[i].pid = 0;
		} else {
			*ticks = cache.e[i].ticks;
			cache.e[i].used = ++cache.clock;
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&cache.lock);
	return hit;
}

/* Keep pidfd (pid's process, opened before its start was read and
 * still running after) in the cache, or close it. */
static void cache_keep(pid_t pid, int pidfd, unsigned long long ticks)
{
	size_t victim = 0;

	pthread_mutex_lock(&cache.lock);
	for (size_t i = 0; i < PROCESS_CACHE; i++) {
		if (cache.e[i].pid == pid) { /* another thread was first */
			victim = PROCESS_CACHE;
			break;
		}
		/* a free entry, else the least recently used */
		if (cache.e[victim].pid &&
		    (!cache.e[i].pid || cache.e[i].used < cache.e[victim].used))
			victim = i;
	}
	if (victim < PROCESS_CACHE) {
		if (cache.e[victim].pid)
			close(cache.e[victim].pidfd);
		cache.e[victim].pid = pid;
		cache.e[victim].pidfd = pidfd;
		cache.e[victim].ticks = ticks;
		cache.e[victim].used = ++cache.clock;
		pidfd = -1;
	}
	pthread_mutex_unlock(&cache.lock);
	if (pidfd >= 0)
		close(pidfd);
}

static int process_start(unsigned long long ticks, struct orphan_process *p)
{
	long hz = sysconf(_SC_CLK_TCK);
	time_t btime;

	if (hz <= 0 || orphan_boot_time(&btime) != 0)
		return -EIO;
	p->exists = true;
	p->start = btime + (time_t)(ticks / (unsigned long long)hz);
	p->known = true;
	return 0;
}

int orphan_process_read(pid_t pid, struct orphan_process *p)
{
	char path[48], text[1024];
	unsigned long long ticks;
	char state;
	int pidfd, ret;
	ssize_t n;

	memset(p, 0, sizeof(*p));
	if (pid <= 0)
		return -EINVAL;
	if (cache_find(pid, &ticks))
		return process_start(ticks, p);
	/* Opened first: if its process still runs after /proc was read,
	 * what was read was that process's. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	/* No such process: one system call, where /proc would take three
	 * (and pidfd_open and kill(pid, 0) see through hidepid, which /proc
	 * does not). */
	if ((pidfd < 0 && errno == ESRCH) || (pidfd < 0 && kill(pid, 0) != 0 && errno == ESRCH))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_small(path, text, sizeof(text));
	if (n == -ENOENT || n == -ESRCH) {
		/* It exists (kill said so, or it ended since): /proc hides it
		 * (hidepid), unless it is gone now. */
		ret = 0;
		if (kill(pid, 0) == 0 || errno == EPERM) {
			p->exists = true;
			ret = -EACCES;
		}
		goto out;
	}
	p->exists = true;
	ret = (int)n;
	if (n < 0)
		goto out;
	ret = -EIO;
	if (orphan_parse_stat(text, (size_t)n, &state, &ticks) != 0)
		goto out;
	/* A zombie (or one being reaped) has ended its program: it acts
	 * no more, though its pid is not free yet. */
	ret = 0;
	if (state == 'Z' || state == 'X') {
		p->exists = false;
		goto out;
	}
	ret = process_start(ticks, p);
	if (ret == 0 && pidfd >= 0 && !pidfd_ended(pidfd)) {
		cache_keep(pid, pidfd, ticks);
		pidfd = -1;
	}
out:
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}

enum orphan_alive orphan_pid_alive(pid_t pid, time_t when)
{
	struct orphan_process p;

	if (pid <= 0)
		return ORPHAN_UNKNOWN;
	orphan_process_read(pid, &p);
	return orphan_judge(pid, when, &p);
}

time_t orphan_segment_created_by(const struct segment_info *seg)
{
	time_t t = seg->ctime;

	if (seg->atime > 0 && (t <= 0 || seg->atime < t))
		t = seg->atime;
	if (seg->dtime > 0 && (t <= 0 || seg->dtime < t))
		t = seg->dtime;
	return t;
}

void orphan_segment_verdict(const struct segment_info *seg, enum orphan_alive creator,
			    struct orphan_verdict *out)
{
	out->creator = creator;
	out->orphan =
		seg->nattch == 0 && creator == ORPHAN_GONE && !(seg->mode & SEGMENT_MODE_DEST);
}

void orphan_judge_segment(const struct segment_info *seg, struct orphan_verdict *out)
{
	orphan_segment_verdict(seg, orphan_pid_alive(seg->cpid, orphan_segment_created_by(seg)),
			       out);
}

void orphan_users_init(struct orphan_users *u)
{
	u->known = 0;
	u->all_gone = true;
	u->waiting = 0;
}

void orphan_users_add(struct orphan_users *u, enum orphan_alive user)
{
	u->known++;
	if (user != ORPHAN_GONE)
		u->all_gone = false;
}

void orphan_users_add_waiting(struct orphan_users *u, unsigned long n)
{
	u->waiting += n;
}

bool orphan_users_verdict(const struct orphan_users *u)
{
	return u->known > 0 && u->all_gone && u->waiting == 0;
}
