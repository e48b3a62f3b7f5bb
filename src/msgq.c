/* msgq.c - System V message queues (see msgq.h for MSG_COPY and what a
 * snapshot promises).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include "array.h"
#include "msgq.h"
#include "sysvipc.h"
#include "sidecar.h"
#include "textbuf.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif

#define PROC_MSG     "/proc/sysvipc/msg"
#define PROC_COLUMNS 14

int msgq_parse_proc_line(const char *line, struct msgq_info *out)
{
	/* key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime
	 * rtime ctime */
	long long v[PROC_COLUMNS];
	unsigned long long u[PROC_COLUMNS];
	const char *p = line;

	for (int n = 0; n < PROC_COLUMNS; n++) {
		char *end;
		bool is_unsigned = n == 3 || n == 4;

		errno = 0;
		if (is_unsigned)
			v[n] = (long long)(u[n] = strtoull(p, &end, 10));
		else
			u[n] = (unsigned long long)(v[n] = strtoll(p, &end, n == 2 ? 8 : 10));
		if (end == p || errno)
			return -EINVAL;
		p = end;
	}
	while (*p == ' ' || *p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	if (v[0] < INT32_MIN || v[0] > UINT32_MAX || v[1] < 0 || v[1] > INT32_MAX || v[2] < 0)
		return -EINVAL;
	for (int n = 7; n < 11; n++)
		if (v[n] < 0 || v[n] > UINT32_MAX)
			return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->key = (int32_t)(uint32_t)v[0];
	out->msqid = (int)v[1];
	out->mode = (unsigned int)v[2] & 0777;
	out->cbytes = u[3];
	out->qnum = u[4];
	out->lspid = (pid_t)v[5];
	out->lrpid = (pid_t)v[6];
	out->uid = (uid_t)v[7];
	out->gid = (gid_t)v[8];
	out->cuid = (uid_t)v[9];
	out->cgid = (gid_t)v[10];
	out->stime = (time_t)v[11];
	out->rtime = (time_t)v[12];
	out->ctime = (time_t)v[13];
	return 0;
}

static void info_from_msqid_ds(int msqid, const struct msqid_ds *ds, struct msgq_info *out)
{
	memset(out, 0, sizeof(*out));
	out->key = (int32_t)ds->msg_perm.__key;
	out->msqid = msqid;
	out->mode = ds->msg_perm.mode & 0777;
	out->cbytes = ds->__msg_cbytes;
	out->qnum = ds->msg_qnum;
	out->qbytes = ds->msg_qbytes;
	out->have_qbytes = true;
	out->lspid = ds->msg_lspid;
	out->lrpid = ds->msg_lrpid;
	out->uid = ds->msg_perm.uid;
	out->gid = ds->msg_perm.gid;
	out->cuid = ds->msg_perm.cuid;
	out->cgid = ds->msg_perm.cgid;
	out->stime = ds->msg_stime;
	out->rtime = ds->msg_rtime;
	out->ctime = ds->msg_ctime;
}

/* ---- the table (sysvipc.h) ---------------------------------------------- */

static int parse_line(const char *line, void *q)
{
	return msgq_parse_proc_line(line, q);
}

static int max_index(void)
{
	struct msginfo info;
	int maxidx = msgctl(0, MSG_INFO, (struct msqid_ds *)&info);

	return maxidx < 0 ? -errno : maxidx;
}

static int stat_index(int idx, bool any, void *q)
{
	struct msqid_ds ds;
	int msqid = msgctl(idx, any ? MSG_STAT_ANY : MSG_STAT, &ds);

	if (msqid >= 0)
		info_from_msqid_ds(msqid, &ds, q);
	return msqid;
}

static int stat_id(int msqid, void *q)
{
	struct msqid_ds ds;

	if (msgctl(msqid, IPC_STAT, &ds) != 0)
		return -1;
	info_from_msqid_ds(msqid, &ds, q);
	return 0;
}

static int id_of(const void *q)
{
	return ((const struct msgq_info *)q)->msqid;
}

static const struct sysvipc_kind msg_kind = {
	.proc = PROC_MSG,
	.parse = parse_line,
	.max_index = max_index,
	.stat_index = stat_index,
	.stat_id = stat_id,
	.id_of = id_of,
};

struct each {
	int (*fn)(const struct msgq_info *q, void *arg);
	void *arg;
};

static int call_each(void *q, void *arg)
{
	const struct each *e = arg;

	return e->fn(q, e->arg);
}

int msgq_each(int (*fn)(const struct msgq_info *q, void *arg), void *arg)
{
	struct msgq_info q;
	struct each e = { .fn = fn, .arg = arg };

	return sysvipc_each(&msg_kind, &q, call_each, &e);
}

int msgq_stat(int msqid, struct msgq_info *out)
{
	struct msgq_info q;
	int ret = sysvipc_stat(&msg_kind, msqid, &q);

	if (ret == 0)
		*out = q;
	return ret;
}

int msgq_find_key(int32_t key)
{
	int msqid = key == 0 ? -1 : msgget(key, 0);

	return msqid < 0 ? -ENOENT : msqid;
}

void msgq_perm(const struct msgq_info *q, struct access_perm *out)
{
	out->uid = q->uid;
	out->gid = q->gid;
	out->cuid = q->cuid;
	out->cgid = q->cgid;
	out->mode = q->mode;
}

/* buf holds the message as msgrcv wants it: the type, then the text. */
ssize_t msgq_copy(int msqid, size_t index, long *mtype, void *buf, size_t size)
{
	ssize_t n;

	if (index > (size_t)LONG_MAX)
		return -ENOMSG;
	n = msgrcv(msqid, buf, size, (long)index, MSG_COPY | IPC_NOWAIT);
	if (n >= 0) {
		memcpy(mtype, buf, sizeof(*mtype));
		return n;
	}
	switch (errno) {
	case ENOMSG:
	case ENOSYS:
	case E2BIG:
	case EACCES:
	case ENOMEM:
		return -errno;
	case EINVAL:
		/* A message bigger than the kernel's msgmax (sent before it
		 * was lowered) cannot be copied: EINVAL, as for a queue that
		 * is gone, which IPC_STAT tells apart. */
		{
			struct msqid_ds ds;

			return msgctl(msqid, IPC_STAT, &ds) == 0 ? -E2BIG : -ENOENT;
		}
	default:
		return sysvipc_gone_or(errno);
	}
}

int msgq_remove(int msqid)
{
	return msgctl(msqid, IPC_RMID, NULL) == 0 ? 0 : sysvipc_gone_or(errno);
}

int msgq_set_perm(int msqid, uid_t uid, gid_t gid, unsigned int mode)
{
	struct msqid_ds ds;

	/* IPC_SET also sets msg_qbytes: it must be the queue's own. */
	if (msgctl(msqid, IPC_STAT, &ds) != 0)
		return sysvipc_gone_or(errno);
	ds.msg_perm.uid = uid;
	ds.msg_perm.gid = gid;
	ds.msg_perm.mode = mode & 0777;
	return msgctl(msqid, IPC_SET, &ds) == 0 ? 0 : sysvipc_gone_or(errno);
}

/* The kernel's msgmax: the largest message that can be sent now. */
static size_t message_room(void)
{
	char text[32] = "";
	int fd = open("/proc/sys/kernel/msgmax", O_RDONLY | O_CLOEXEC);
	long v = 0;

	if (fd >= 0) {
		ssize_t n = read(fd, text, sizeof(text) - 1);

		if (n > 0)
			v = strtol(text, NULL, 10);
		close(fd);
	}
	if (v <= 0 || (unsigned long)v > MSGQ_MAX_MESSAGE)
		return MSGQ_MAX_MESSAGE;
	return (size_t)v;
}

static bool same_queue_state(const struct msgq_info *a, const struct msgq_info *b)
{
	return a->qnum == b->qnum && a->cbytes == b->cbytes && a->lspid == b->lspid &&
	       a->lrpid == b->lrpid && a->stime == b->stime && a->rtime == b->rtime &&
	       a->ctime == b->ctime;
}

/* One try: the messages between two reads of msqid_ds.  1 if the queue
 * changed meanwhile, 0, or -errno. */
static int snapshot_once(int msqid, char *buf, size_t room, struct msgq_snapshot *s)
{
	struct msgq_info before;
	uint64_t bytes = 0;
	int ret = msgq_stat(msqid, &before);

	if (ret)
		return ret;
	s->n = 0;
	s->not_listed = 0;
	for (uint64_t i = 0; s->copied && i < before.qnum; i++) {
		struct msgq_message m = { 0 };
		ssize_t n;

		if (s->n >= MSGQ_MAX_MESSAGES || bytes >= MSGQ_MAX_BYTES) {
			s->not_listed = before.qnum - i;
			break;
		}
		n = msgq_copy(msqid, (size_t)i, &m.mtype, buf, room);
		if (n == -ENOSYS) {
			s->copied = false;
			break;
		}
		if (n == -ENOMSG)
			return 1; /* fewer than qnum now: it changed */
		if (n == -E2BIG) {
			m.too_big = true;
			m.mtype = 0;
		} else if (n < 0) {
			return (int)n;
		} else {
			m.size = (size_t)n;
		}
		bytes += m.too_big ? room : m.size;
		struct msgq_message *v = array_grow(s->v, s->n, &s->cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		v[s->n++] = m;
	}
	ret = msgq_stat(msqid, &s->info);
	if (ret)
		return ret;
	return same_queue_state(&before, &s->info) ? 0 : 1;
}

int msgq_snapshot(int msqid, struct msgq_snapshot *out)
{
	size_t room = message_room();
	char *buf = malloc(sizeof(long) + room);
	int ret = 1;

	memset(out, 0, sizeof(*out));
	if (!buf)
		return -ENOMEM;
	out->copied = true;
	for (int tries = 0; ret == 1 && tries < MSGQ_TRIES; tries++)
		ret = snapshot_once(msqid, buf, room, out);
	free(buf);
	if (ret < 0) {
		msgq_snapshot_free(out);
		return ret;
	}
	out->consistent = ret == 0;
	if (!out->copied)
		out->n = 0;
	return 0;
}

void msgq_snapshot_free(struct msgq_snapshot *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

bool msgq_is_orphan(const struct msgq_info *q, const struct waiters_pid *lspid,
		    const struct waiters_pid *lrpid, size_t waiters)
{
	struct orphan_users users;

	orphan_users_init(&users);
	orphan_users_add_waiting(&users, waiters);
	if (q->lspid > 0)
		orphan_users_add(&users, lspid ? lspid->alive : ORPHAN_UNKNOWN);
	if (q->lrpid > 0)
		orphan_users_add(&users, lrpid ? lrpid->alive : ORPHAN_UNKNOWN);
	return orphan_users_verdict(&users);
}

static void text_time(struct textbuf *t, const char *name, time_t when)
{
	char stamp[64];

	if (sidecar_format_time(when, stamp, sizeof(stamp)) < 0)
		snprintf(stamp, sizeof(stamp), "@%jd", (intmax_t)when);
	textbuf_printf(t, "%s %s\n", name, stamp);
}

static void text_pid(struct textbuf *t, const char *name, pid_t pid, const struct waiters_pid *seen)
{
	if (pid <= 0) {
		textbuf_printf(t, "%s none\n%s_comm -\n%s_alive -\n", name, name, name);
		return;
	}
	textbuf_printf(t, "%s %jd\n%s_comm %s\n%s_alive %s\n", name, (intmax_t)pid, name,
		       seen && seen->seen ? seen->comm : "-", name,
		       orphan_alive_name(seen ? seen->alive : ORPHAN_UNKNOWN));
}

int msgq_render(const struct msgq_view *v, char **text, size_t *len)
{
	const struct msgq_snapshot *s = v->snap;
	const struct msgq_info *q = &s->info;
	struct textbuf t = { 0 };

	textbuf_printf(&t, "key 0x%08x\n", (unsigned int)(uint32_t)q->key);
	textbuf_printf(&t, "msqid %d\n", q->msqid);
	textbuf_printf(&t, "perms %04o\n", q->mode & 0777);
	textbuf_printf(&t, "cbytes %" PRIu64 "\n", q->cbytes);
	textbuf_printf(&t, "qnum %" PRIu64 "\n", q->qnum);
	if (q->have_qbytes)
		textbuf_printf(&t, "qbytes %" PRIu64 "\n", q->qbytes);
	else
		textbuf_printf(&t, "qbytes -\n");
	text_pid(&t, "lspid", q->lspid, v->lspid);
	text_pid(&t, "lrpid", q->lrpid, v->lrpid);
	textbuf_printf(&t, "uid %ju\n", (uintmax_t)q->uid);
	textbuf_printf(&t, "gid %ju\n", (uintmax_t)q->gid);
	textbuf_printf(&t, "cuid %ju\n", (uintmax_t)q->cuid);
	textbuf_printf(&t, "cgid %ju\n", (uintmax_t)q->cgid);
	text_time(&t, "stime", q->stime);
	text_time(&t, "rtime", q->rtime);
	text_time(&t, "ctime", q->ctime);
	textbuf_printf(&t, "orphan %s\n", v->orphan ? "yes" : "no");
	textbuf_printf(&t, "messages %s\n", s->copied ? "copied" : "not-copied");
	textbuf_printf(&t, "snapshot %s\n", s->consistent ? "consistent" : "changed");
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].too_big)
			textbuf_printf(&t, "message %zu mtype - size -\n", i);
		else
			textbuf_printf(&t, "message %zu mtype %ld size %zu\n", i, s->v[i].mtype,
				       s->v[i].size);
	}
	if (s->not_listed)
		textbuf_printf(&t, "messages_not_listed %" PRIu64 "\n", s->not_listed);
	waiters_render(&t, v->waiters);
	return textbuf_take(&t, text, len);
}
