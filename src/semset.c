/* semset.c - System V semaphore sets.
 *
 * As segment.c does for segments: /proc/sysvipc/sem lists every set of
 * the IPC namespace to everyone; SEM_STAT_ANY (SEM_STAT before Linux
 * 4.17) over the kernel's index range is the fallback, as util-linux's
 * ipcs does.  A set's values need read permission (the caller's is
 * checked by access.c before anything here is called for it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <unistd.h>

#include "semset.h"
#include "semun.h"
#include "sysvipc.h"
#include "sidecar.h"
#include "textbuf.h"

#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif

#define PROC_SEM     "/proc/sysvipc/sem"
#define PROC_COLUMNS 10

int semset_parse_proc_line(const char *line, struct semset_info *out)
{
	/* key semid perms nsems uid gid cuid cgid otime ctime */
	static const unsigned char base[PROC_COLUMNS] = { 10, 10, 8, 10, 10, 10, 10, 10, 10, 10 };
	long long v[PROC_COLUMNS];
	const char *p = line;
	int n;

	for (n = 0; n < PROC_COLUMNS; n++) {
		char *end;

		errno = 0;
		v[n] = strtoll(p, &end, base[n]);
		if (end == p || errno)
			return -EINVAL;
		p = end;
	}
	while (*p == ' ' || *p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	if (v[0] < INT32_MIN || v[0] > UINT32_MAX || v[1] < 0 || v[1] > INT32_MAX || v[2] < 0 ||
	    v[3] < 0 || v[3] > INT32_MAX)
		return -EINVAL;
	for (n = 4; n < 8; n++)
		if (v[n] < 0 || v[n] > UINT32_MAX)
			return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->key = (int32_t)(uint32_t)v[0];
	out->semid = (int)v[1];
	out->mode = (unsigned int)v[2] & 0777;
	out->nsems = (unsigned int)v[3];
	out->uid = (uid_t)v[4];
	out->gid = (gid_t)v[5];
	out->cuid = (uid_t)v[6];
	out->cgid = (gid_t)v[7];
	out->otime = (time_t)v[8];
	out->ctime = (time_t)v[9];
	return 0;
}

static void info_from_semid_ds(int semid, const struct semid_ds *ds, struct semset_info *out)
{
	memset(out, 0, sizeof(*out));
	out->key = (int32_t)ds->sem_perm.__key;
	out->semid = semid;
	out->mode = ds->sem_perm.mode & 0777;
	out->nsems = (unsigned int)ds->sem_nsems;
	out->uid = ds->sem_perm.uid;
	out->gid = ds->sem_perm.gid;
	out->cuid = ds->sem_perm.cuid;
	out->cgid = ds->sem_perm.cgid;
	out->otime = ds->sem_otime;
	out->ctime = ds->sem_ctime;
}

/* ---- the table (sysvipc.h) ---------------------------------------------- */

static int parse_line(const char *line, void *set)
{
	return semset_parse_proc_line(line, set);
}

static int max_index(void)
{
	struct seminfo info;
	union semun u = { .__buf = &info };
	int maxidx = semctl(0, 0, SEM_INFO, u);

	return maxidx < 0 ? -errno : maxidx;
}

static int stat_index(int idx, bool any, void *set)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	int semid = semctl(idx, 0, any ? SEM_STAT_ANY : SEM_STAT, arg);

	if (semid >= 0)
		info_from_semid_ds(semid, &ds, set);
	return semid;
}

static int stat_id(int semid, void *set)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	if (semctl(semid, 0, IPC_STAT, arg) != 0)
		return -1;
	info_from_semid_ds(semid, &ds, set);
	return 0;
}

static int id_of(const void *set)
{
	return ((const struct semset_info *)set)->semid;
}

static const struct sysvipc_kind sem_kind = {
	.proc = PROC_SEM,
	.parse = parse_line,
	.max_index = max_index,
	.stat_index = stat_index,
	.stat_id = stat_id,
	.id_of = id_of,
};

struct each {
	int (*fn)(const struct semset_info *set, void *arg);
	void *arg;
};

static int call_each(void *set, void *arg)
{
	const struct each *e = arg;

	return e->fn(set, e->arg);
}

int semset_each(int (*fn)(const struct semset_info *set, void *arg), void *arg)
{
	struct semset_info set;
	struct each e = { .fn = fn, .arg = arg };

	return sysvipc_each(&sem_kind, &set, call_each, &e);
}

int semset_stat(int semid, struct semset_info *out)
{
	struct semset_info set;
	int ret = sysvipc_stat(&sem_kind, semid, &set);

	if (ret == 0)
		*out = set;
	return ret;
}

int semset_find_key(int32_t key)
{
	int semid = key == 0 ? -1 : semget(key, 0, 0);

	return semid < 0 ? -ENOENT : semid;
}

void semset_perm(const struct semset_info *set, struct access_perm *out)
{
	out->uid = set->uid;
	out->gid = set->gid;
	out->cuid = set->cuid;
	out->cgid = set->cgid;
	out->mode = set->mode;
}

/* GETALL copies as many values as the set has: if the id was reused
 * meanwhile by a bigger set, the copy must not run past our array.  The
 * array ends where an inaccessible page begins, so such a copy fails
 * with EFAULT and writes nothing of ours. */
static int get_all(int semid, unsigned int nsems, struct semset_sem *out)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes = (size_t)nsems * sizeof(unsigned short);
	size_t room = (bytes + page - 1) / page * page;
	char *base =
		mmap(NULL, room + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned short *values;
	union semun arg;
	int ret = 0;

	if (base == MAP_FAILED)
		return -ENOMEM;
	if (mprotect(base + room, page, PROT_NONE) != 0) {
		munmap(base, room + page);
		return -ENOMEM;
	}
	values = (unsigned short *)(void *)(base + room - bytes);
	arg.array = values;
	if (semctl(semid, 0, GETALL, arg) < 0)
		ret = errno == EFAULT ? -ESTALE : sysvipc_gone_or(errno);
	for (unsigned int i = 0; ret == 0 && i < nsems; i++)
		out[i].value = values[i];
	munmap(base, room + page);
	return ret;
}

int semset_read_sems(int semid, unsigned int nsems, struct semset_sem *out)
{
	struct semset_info now;
	int ret;

	if (nsems == 0)
		return 0;
	ret = get_all(semid, nsems, out);
	for (unsigned int i = 0; ret == 0 && i < nsems; i++) {
		int pid = semctl(semid, (int)i, GETPID);
		int ncnt = pid < 0 ? -1 : semctl(semid, (int)i, GETNCNT);
		int zcnt = ncnt < 0 ? -1 : semctl(semid, (int)i, GETZCNT);

		if (zcnt < 0) {
			ret = sysvipc_gone_or(errno);
			break;
		}
		out[i].pid = (pid_t)pid;
		out[i].ncnt = (unsigned int)ncnt;
		out[i].zcnt = (unsigned int)zcnt;
	}
	/* Still a set of that size: not another one under the same id (an
	 * error may be that too: a semaphore number past a smaller set). */
	if (ret != -ENOENT && ret != 0 && ret != -ESTALE)
		return ret;
	if (semset_stat(semid, &now) == 0 && now.nsems != nsems)
		return -ESTALE;
	return ret;
}

int semset_getval(int semid, unsigned int num)
{
	int value = semctl(semid, (int)num, GETVAL);

	return value >= 0 ? value : sysvipc_gone_or(errno);
}

int semset_setval(int semid, unsigned int num, int value)
{
	union semun arg = { .val = value };

	if (semctl(semid, (int)num, SETVAL, arg) == 0)
		return 0;
	return errno == ERANGE ? -ERANGE : sysvipc_gone_or(errno);
}

int semset_op_nowait(int semid, unsigned int num, int delta)
{
	struct sembuf op = { .sem_num = (unsigned short)num,
			     .sem_op = (short)delta,
			     .sem_flg = IPC_NOWAIT };

	if (delta == 0 || delta < -SEMSET_VALUE_MAX || delta > SEMSET_VALUE_MAX || num > 0xffff)
		return -EINVAL;
	if (semop(semid, &op, 1) == 0)
		return 0;
	switch (errno) {
	case EAGAIN:
	case ERANGE:
	case EFBIG:
	case EACCES:
	case ENOMEM:
		return -errno;
	default:
		return sysvipc_gone_or(errno);
	}
}

int semset_op_timed(int semid, unsigned int num, int delta, const struct timespec *timeout)
{
	struct sembuf op = { .sem_num = (unsigned short)num, .sem_op = (short)delta };

	if (delta == 0 || delta < -SEMSET_VALUE_MAX || delta > SEMSET_VALUE_MAX || num > 0xffff)
		return -EINVAL;
	if (semtimedop(semid, &op, 1, timeout) == 0)
		return 0;
	switch (errno) {
	case EAGAIN: /* the timeout */
	case EINTR:
	case EIDRM: /* removed while it waited */
	case ERANGE:
	case EFBIG:
	case EACCES:
	case ENOMEM:
		return -errno;
	default:
		return sysvipc_gone_or(errno);
	}
}

int semset_remove(int semid)
{
	return semctl(semid, 0, IPC_RMID) == 0 ? 0 : sysvipc_gone_or(errno);
}

int semset_set_perm(int semid, uid_t uid, gid_t gid, unsigned int mode)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	memset(&ds, 0, sizeof(ds));
	ds.sem_perm.uid = uid;
	ds.sem_perm.gid = gid;
	ds.sem_perm.mode = mode & 0777;
	return semctl(semid, 0, IPC_SET, arg) == 0 ? 0 : sysvipc_gone_or(errno);
}

int semset_parse_write(const char *buf, size_t len, struct semset_write *out)
{
	size_t i = 0, digits = 0;
	bool relative = false, negative = false;
	long v = 0;

	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && (buf[0] == '+' || buf[0] == '-')) {
		relative = true;
		negative = buf[0] == '-';
		i = 1;
	}
	for (; i < len; i++, digits++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -EINVAL;
		if (v <= SEMSET_VALUE_MAX)
			v = v * 10 + (buf[i] - '0');
	}
	if (digits == 0)
		return -EINVAL;
	if (v > SEMSET_VALUE_MAX || (relative && v == 0))
		return relative && v == 0 ? -EINVAL : -ERANGE;
	out->relative = relative;
	out->value = negative ? -(int)v : (int)v;
	return 0;
}

int semset_render_value(const struct semset_sem *sem, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%d\n", sem->value);

	return n < 0 || (size_t)n >= size ? -ERANGE : n;
}

bool semset_is_orphan(const struct semset_info *info, const struct semset_sem *sems,
		      const struct waiters_pid *last)
{
	struct orphan_users users;

	orphan_users_init(&users);
	for (unsigned int i = 0; i < info->nsems; i++) {
		orphan_users_add_waiting(&users, (unsigned long)sems[i].ncnt + sems[i].zcnt);
		if (sems[i].pid > 0)
			orphan_users_add(&users, last ? last[i].alive : ORPHAN_UNKNOWN);
	}
	return orphan_users_verdict(&users);
}

static void text_time(struct textbuf *t, const char *name, time_t when)
{
	char stamp[64];

	if (sidecar_format_time(when, stamp, sizeof(stamp)) < 0)
		snprintf(stamp, sizeof(stamp), "@%jd", (intmax_t)when);
	textbuf_printf(t, "%s %s\n", name, stamp);
}

static void text_sem(struct textbuf *t, unsigned int num, const struct semset_sem *s,
		     const struct waiters_pid *seen)
{
	textbuf_printf(t, "sem %u semval %d semncnt %u semzcnt %u sempid ", num, s->value, s->ncnt,
		       s->zcnt);
	if (s->pid <= 0) {
		textbuf_printf(t, "none comm - alive -\n");
		return;
	}
	textbuf_printf(t, "%jd comm %s alive %s\n", (intmax_t)s->pid,
		       seen && seen->seen ? seen->comm : "-",
		       orphan_alive_name(seen ? seen->alive : ORPHAN_UNKNOWN));
}

int semset_render(const struct semset_view *v, char **text, size_t *len)
{
	const struct semset_info *s = v->info;
	struct textbuf t = { 0 };

	textbuf_printf(&t, "key 0x%08x\n", (unsigned int)(uint32_t)s->key);
	textbuf_printf(&t, "semid %d\n", s->semid);
	textbuf_printf(&t, "perms %04o\n", s->mode & 0777);
	textbuf_printf(&t, "nsems %u\n", s->nsems);
	textbuf_printf(&t, "uid %ju\n", (uintmax_t)s->uid);
	textbuf_printf(&t, "gid %ju\n", (uintmax_t)s->gid);
	textbuf_printf(&t, "cuid %ju\n", (uintmax_t)s->cuid);
	textbuf_printf(&t, "cgid %ju\n", (uintmax_t)s->cgid);
	text_time(&t, "otime", s->otime);
	text_time(&t, "ctime", s->ctime);
	textbuf_printf(&t, "orphan %s\n", v->orphan ? "yes" : "no");
	for (unsigned int i = 0; v->sems && i < s->nsems; i++)
		text_sem(&t, i, &v->sems[i], v->last ? &v->last[i] : NULL);
	waiters_render(&t, v->waiters);
	for (size_t i = 0; i < v->nparked; i++)
		textbuf_printf(&t, "parked %jd uid %ju sem %u op %+d\n", (intmax_t)v->parked[i].pid,
			       (uintmax_t)v->parked[i].uid, v->parked[i].num, v->parked[i].delta);
	if (v->parked_more)
		textbuf_printf(&t, "parked_not_listed %zu\n", v->parked_more);
	return textbuf_take(&t, text, len);
}
