/* orphan.c - whether a pid still names the process that acted, and which
 * objects are orphans (see orphan.h for the rule and its limits).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int orphan_process_read(pid_t pid, struct orphan_process *p)
{
	char path[48], text[1024];
	unsigned long long ticks;
	char state;
	long hz = sysconf(_SC_CLK_TCK);
	time_t btime;
	ssize_t n;

	memset(p, 0, sizeof(*p));
	if (pid <= 0)
		return -EINVAL;
	/* No such process: one system call, where /proc would take three
	 * (and kill(pid, 0) sees through hidepid, which /proc does not). */
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_small(path, text, sizeof(text));
	if (n == -ENOENT || n == -ESRCH) {
		/* It exists (kill said so, or it ended since): /proc hides it
		 * (hidepid), unless it is gone now. */
		if (kill(pid, 0) == 0 || errno == EPERM) {
			p->exists = true;
			return -EACCES;
		}
		return 0;
	}
	p->exists = true;
	if (n < 0)
		return (int)n;
	if (hz <= 0 || orphan_parse_stat(text, (size_t)n, &state, &ticks) != 0 ||
	    orphan_boot_time(&btime) != 0)
		return -EIO;
	/* A zombie (or one being reaped) has ended its program: it acts
	 * no more, though its pid is not free yet. */
	if (state == 'Z' || state == 'X') {
		p->exists = false;
		return 0;
	}
	p->start = btime + (time_t)(ticks / (unsigned long long)hz);
	p->known = true;
	return 0;
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
