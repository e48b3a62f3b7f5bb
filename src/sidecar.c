/* sidecar.c - a segment's metadata as text, and the commands a sidecar accepts.
 *
 * The fields are those of ipcs -m -i, one "name value" pair a line, so that
 * a shell can read them with `while read name value`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sidecar.h"

#define NOT_SET	    "not-set"
#define NO_VALUE    "-"
#define TIME_FORMAT "%Y-%m-%dT%H:%M:%S%z"

/* Appends to a fixed buffer, never past its end, remembering whether
 * anything did not fit. */
struct text {
	char *buf;
	size_t size;
	size_t len;
	bool overflow;
};

__attribute__((format(printf, 2, 3))) static void text_printf(struct text *t, const char *fmt, ...)
{
	size_t room = t->len < t->size ? t->size - t->len : 0;
	va_list ap;
	int n;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(room ? t->buf + t->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		t->overflow = true;
		return;
	}
	t->len += (size_t)n;
}

/* The result: the length, or -ERANGE with an empty string, so that a caller
 * who ignores the error still never serves half a rendering. */
static int text_finish(struct text *t)
{
	if (t->overflow) {
		if (t->size > 0)
			t->buf[0] = '\0';
		return -ERANGE;
	}
	return (int)t->len;
}

int sidecar_format_time(time_t t, char *buf, size_t size)
{
	struct text out = { .buf = buf, .size = size };
	char stamp[64];
	struct tm tm;

	if (t == 0) {
		text_printf(&out, "%s", NOT_SET);
	} else if (localtime_r(&t, &tm) && strftime(stamp, sizeof(stamp), TIME_FORMAT, &tm) > 0) {
		text_printf(&out, "%s", stamp);
	} else {
		/* Beyond the calendar (the year does not fit in an int): the
		 * seconds since the epoch, in the form GNU date -d reads. */
		text_printf(&out, "@%jd", (intmax_t)t);
	}
	return text_finish(&out);
}

static void text_time(struct text *t, const char *name, time_t value)
{
	char stamp[64];

	if (sidecar_format_time(value, stamp, sizeof(stamp)) < 0) {
		t->overflow = true; /* cannot happen: stamp fits any time_t */
		return;
	}
	text_printf(t, "%s %s\n", name, stamp);
}

static void text_usage(struct text *t, const char *name, bool known, uint64_t bytes)
{
	if (known)
		text_printf(t, "%s %" PRIu64 "\n", name, bytes);
	else
		text_printf(t, "%s %s\n", name, NO_VALUE);
}

static const char *status_name(unsigned int mode)
{
	bool dest = mode & SEGMENT_MODE_DEST;
	bool locked = mode & SEGMENT_MODE_LOCKED;

	if (dest && locked)
		return "dest,locked";
	if (dest)
		return "dest";
	if (locked)
		return "locked";
	return NO_VALUE;
}

#define NONE "none"

static void text_semid(struct text *t, const char *name, int semid)
{
	if (semid == SIDECAR_SET_REMOVED)
		text_printf(t, "%s removed\n", name);
	else if (semid < 0)
		text_printf(t, "%s %s\n", name, NONE);
	else
		text_printf(t, "%s %d\n", name, semid);
}

/* A pid, "none" for 0; "-" when the state is not shown. */
static void text_pid(struct text *t, const char *name, bool shown, pid_t pid)
{
	if (!shown)
		text_printf(t, "%s %s\n", name, NO_VALUE);
	else if (pid == 0)
		text_printf(t, "%s %s\n", name, NONE);
	else
		text_printf(t, "%s %jd\n", name, (intmax_t)pid);
}

static void text_count(struct text *t, const char *name, bool shown, unsigned int n)
{
	if (shown)
		text_printf(t, "%s %u\n", name, n);
	else
		text_printf(t, "%s %s\n", name, NO_VALUE);
}

static void text_optional_time(struct text *t, const char *name, bool shown, time_t when)
{
	if (shown)
		text_time(t, name, when);
	else
		text_printf(t, "%s %s\n", name, NO_VALUE);
}

static void text_locks(struct text *t, const struct sidecar_locks *locks)
{
	static const struct lock_state no_lock;
	static const struct notify_state no_notify;
	int lock_semid = locks ? locks->lock_semid : -1;
	int notify_semid = locks ? locks->notify_semid : -1;
	bool priv = locks && locks->lock_private;
	bool lock_shown = (lock_semid >= 0 || priv) && locks->lock;
	bool notify_shown = notify_semid >= 0 && locks->notify;
	const struct lock_state *l = lock_shown ? locks->lock : &no_lock;
	const struct notify_state *n = notify_shown ? locks->notify : &no_notify;

	if (priv)
		text_printf(t, "lock_semid private\n");
	else
		text_semid(t, "lock_semid", lock_semid);
	text_pid(t, "lock_writer", lock_shown, l->writer);
	text_count(t, "lock_readers", lock_shown, l->readers);
	text_count(t, "lock_waiting_for_writer", lock_shown, l->waiting_for_writer);
	text_count(t, "lock_waiting_for_readers", lock_shown, l->waiting_for_readers);
	text_count(t, "lock_queued_in_shmfs", lock_shown, lock_shown ? locks->lock_queued : 0);
	text_pid(t, "lock_last_pid", lock_shown, l->last_pid);
	text_optional_time(t, "lock_last_op", lock_shown, l->last_op);
	text_semid(t, "notify_semid", notify_semid);
	text_count(t, "notify_posts", notify_shown, n->posts);
	text_count(t, "notify_waiting", notify_shown, n->waiting);
	text_pid(t, "notify_last_pid", notify_shown, n->last_pid);
	text_optional_time(t, "notify_last_op", notify_shown, n->last_op);
}

int sidecar_render(const struct segment_info *seg, const struct sidecar_locks *locks,
		   const struct orphan_verdict *verdict, char *buf, size_t size)
{
	struct text t = { .buf = buf, .size = size };

	text_printf(&t, "key 0x%08x\n", (unsigned int)(uint32_t)seg->key);
	text_printf(&t, "shmid %d\n", seg->shmid);
	text_printf(&t, "perms %04o\n", seg->mode & 0777);
	text_printf(&t, "size %" PRIu64 "\n", seg->size);
	text_printf(&t, "cpid %jd\n", (intmax_t)seg->cpid);
	text_printf(&t, "lpid %jd\n", (intmax_t)seg->lpid);
	text_printf(&t, "nattch %" PRIu64 "\n", seg->nattch);
	text_printf(&t, "uid %ju\n", (uintmax_t)seg->uid);
	text_printf(&t, "gid %ju\n", (uintmax_t)seg->gid);
	text_printf(&t, "cuid %ju\n", (uintmax_t)seg->cuid);
	text_printf(&t, "cgid %ju\n", (uintmax_t)seg->cgid);
	text_time(&t, "atime", seg->atime);
	text_time(&t, "dtime", seg->dtime);
	text_time(&t, "ctime", seg->ctime);
	text_usage(&t, "rss", seg->have_usage, seg->rss);
	text_usage(&t, "swap", seg->have_usage, seg->swap);
	text_printf(&t, "status %s\n", status_name(seg->mode));
	text_locks(&t, locks);
	text_printf(&t, "creator_alive %s\n",
		    orphan_alive_name(verdict ? verdict->creator : ORPHAN_UNKNOWN));
	text_printf(&t, "orphan %s\n", verdict && verdict->orphan ? "yes" : "no");
	return text_finish(&t);
}

static bool command_is(const char *buf, size_t len, const char *word)
{
	size_t n = strlen(word);

	if (len == n + 1 && buf[n] == '\n')
		len = n;
	return len == n && memcmp(buf, word, n) == 0;
}

int sidecar_parse_command(const char *buf, size_t len, enum sidecar_command *cmd)
{
	if (command_is(buf, len, "lock")) {
		*cmd = SIDECAR_CMD_LOCK;
		return 0;
	}
	if (command_is(buf, len, "unlock")) {
		*cmd = SIDECAR_CMD_UNLOCK;
		return 0;
	}
	return -EINVAL;
}
