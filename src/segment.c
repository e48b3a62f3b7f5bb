/* segment.c - System V shared memory segments.
 *
 * The listing comes from /proc/sysvipc/shm, which shows every segment of
 * the IPC namespace to everyone with all of struct shmid_ds plus rss/swap
 * in one read; as util-linux's ipcs does, SHM_STAT_ANY (and, on kernels
 * before 4.17, SHM_STAT) over the kernel's index range is the fallback.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "segment.h"
#include "sysvipc.h"

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

#define PROC_SHM "/proc/sysvipc/shm"

/* The columns of /proc/sysvipc/shm, in order: key shmid perms size cpid
 * lpid nattch uid gid cuid cgid atime dtime ctime rss swap (the last two
 * since Linux 2.6.24).  perms is octal; the sizes and ids unsigned. */
enum {
	PROC_FIELDS = 16,
	PROC_FIELDS_OLD = 14
};
static const struct {
	unsigned char base;
	bool is_signed;
} proc_column[PROC_FIELDS] = {
	{ 10, true },  { 10, true },  { 8, false },  { 10, false }, { 10, true },  { 10, true },
	{ 10, false }, { 10, false }, { 10, false }, { 10, false }, { 10, false }, { 10, true },
	{ 10, true },  { 10, true },  { 10, false }, { 10, false },
};

/* strtoll per column, not sscanf: a read of 32,000 lines took 43 ms, of
 * which 19 ms were sscanf's (the kernel's rendering: 24 ms). */
int segment_parse_proc_line(const char *line, struct segment_info *out)
{
	uint64_t u[PROC_FIELDS];
	long long v[PROC_FIELDS];
	const char *p = line;
	int n;

	for (n = 0; n < PROC_FIELDS; n++) {
		char *end;

		errno = 0;
		if (proc_column[n].is_signed)
			u[n] = (uint64_t)(v[n] = strtoll(p, &end, proc_column[n].base));
		else
			v[n] = (long long)(u[n] = strtoull(p, &end, proc_column[n].base));
		if (end == p || errno)
			break;
		p = end;
	}
	if (n != PROC_FIELDS_OLD && n != PROC_FIELDS)
		return -EINVAL;
	if (v[1] < 0 || v[1] > INT32_MAX || v[0] < INT32_MIN || v[0] > UINT32_MAX)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->key = (int32_t)(uint32_t)v[0];
	out->shmid = (int)v[1];
	out->mode = (unsigned int)u[2];
	out->size = u[3];
	out->cpid = (pid_t)v[4];
	out->lpid = (pid_t)v[5];
	out->nattch = u[6];
	out->uid = (uid_t)u[7];
	out->gid = (gid_t)u[8];
	out->cuid = (uid_t)u[9];
	out->cgid = (gid_t)u[10];
	out->atime = (time_t)v[11];
	out->dtime = (time_t)v[12];
	out->ctime = (time_t)v[13];
	if (n == PROC_FIELDS) {
		out->rss = u[14];
		out->swap = u[15];
		out->have_usage = true;
	}
	return 0;
}

static void info_from_shmid_ds(int shmid, const struct shmid_ds *ds, struct segment_info *out)
{
	memset(out, 0, sizeof(*out));
	out->key = (int32_t)ds->shm_perm.__key;
	out->shmid = shmid;
	out->mode = ds->shm_perm.mode;
	out->size = ds->shm_segsz;
	out->cpid = ds->shm_cpid;
	out->lpid = ds->shm_lpid;
	out->nattch = ds->shm_nattch;
	out->uid = ds->shm_perm.uid;
	out->gid = ds->shm_perm.gid;
	out->cuid = ds->shm_perm.cuid;
	out->cgid = ds->shm_perm.cgid;
	out->atime = ds->shm_atime;
	out->dtime = ds->shm_dtime;
	out->ctime = ds->shm_ctime;
}

/* The list's buffer is mapped, not malloc'd: a table of 32,000 segments
 * is 3.3 MB, and malloc keeps freed buffers of that size in its heaps
 * (its mmap threshold follows the largest freed), so the daemon's RSS
 * would stay at the most it ever listed at once. */
static struct segment_info *list_push(struct segment_list *list)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		void *v = list->v ? mremap(list->v, list->cap * sizeof(*list->v),
					   cap * sizeof(*list->v), MREMAP_MAYMOVE)
				  : mmap(NULL, cap * sizeof(*list->v), PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (v == MAP_FAILED)
			return NULL;
		list->v = v;
		list->cap = cap;
	}
	return &list->v[list->n++];
}

/* ---- the table (sysvipc.h) ---------------------------------------------- */

static int parse_line(const char *line, void *seg)
{
	return segment_parse_proc_line(line, seg);
}

static int max_index(void)
{
	struct shm_info info;
	int maxidx = shmctl(0, SHM_INFO, (struct shmid_ds *)&info);

	return maxidx < 0 ? -errno : maxidx;
}

static int stat_index(int idx, bool any, void *seg)
{
	struct shmid_ds ds;
	int shmid = shmctl(idx, any ? SHM_STAT_ANY : SHM_STAT, &ds);

	if (shmid >= 0)
		info_from_shmid_ds(shmid, &ds, seg);
	return shmid;
}

static const struct sysvipc_kind shm_kind = {
	.proc = PROC_SHM,
	.parse = parse_line,
	.max_index = max_index,
	.stat_index = stat_index,
};

struct each {
	int (*fn)(const struct segment_info *seg, void *arg);
	void *arg;
};

static int call_each(void *seg, void *arg)
{
	const struct each *e = arg;

	return e->fn(seg, e->arg);
}

int segment_each(int (*fn)(const struct segment_info *seg, void *arg), void *arg)
{
	struct segment_info seg;
	struct each e = { .fn = fn, .arg = arg };

	return sysvipc_each(&shm_kind, &seg, call_each, &e);
}

static int list_add(const struct segment_info *seg, void *arg)
{
	struct segment_info *slot = list_push(arg);

	if (!slot)
		return -ENOMEM;
	*slot = *seg;
	return 0;
}

int segment_list_read(struct segment_list *list)
{
	list->n = 0;
	return segment_each(list_add, list);
}

void segment_list_free(struct segment_list *list)
{
	if (list->v)
		munmap(list->v, list->cap * sizeof(*list->v));
	list->v = NULL;
	list->n = list->cap = 0;
}

const struct segment_info *segment_list_find(const struct segment_list *list, int shmid)
{
	for (size_t i = 0; i < list->n; i++)
		if (list->v[i].shmid == shmid)
			return &list->v[i];
	return NULL;
}

const struct segment_info *segment_list_find_key(const struct segment_list *list, int32_t key)
{
	if (key == 0)
		return NULL;
	for (size_t i = 0; i < list->n; i++)
		if (list->v[i].key == key)
			return &list->v[i];
	return NULL;
}

/* One segment's line of /proc/sysvipc/shm: only the shmid column of the
 * other lines is parsed (a sidecar of one of 4,000 segments: 8.8 -> 5.7 ms,
 * most of the rest being the kernel's rendering of the file). */
static int stat_from_proc(int shmid, struct segment_info *out)
{
	char line[512];
	FILE *f = fopen(PROC_SHM, "re");
	int ret = -ENOENT;

	if (!f)
		return -ENODEV; /* no /proc: the caller falls back */
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -ENODEV;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		long id;

		strtol(p, &end, 10); /* the key */
		id = strtol(end, &end, 10);
		if (id != shmid)
			continue;
		ret = segment_parse_proc_line(line, out) == 0 ? 0 : -EIO;
		break;
	}
	fclose(f);
	return ret;
}

/* One segment's metadata with no permission asked, by its index
 * (sysvipc_stat_by_index()); -ENODEV: the scan decides. */
static int stat_by_index(int shmid, struct segment_info *out)
{
	struct segment_info seg;
	int ret = sysvipc_stat_by_index(&shm_kind, shmid, &seg);

	if (ret == 0)
		*out = seg;
	return ret;
}

static int stat_by_scan(int shmid, struct segment_info *out)
{
	struct segment_list list = { 0 };
	const struct segment_info *seg;
	int ret = stat_from_proc(shmid, out);

	if (ret != -ENODEV)
		return ret;
	ret = segment_list_read(&list); /* no /proc: the SHM_STAT loop */
	if (ret == 0) {
		seg = segment_list_find(&list, shmid);
		if (seg)
			*out = *seg;
		else
			ret = -ENOENT;
	}
	segment_list_free(&list);
	return ret;
}

int segment_stat(int shmid, bool want_usage, struct segment_info *out)
{
	struct shmid_ds ds;

	if (shmid < 0)
		return -ENOENT;
	if (want_usage)
		return stat_by_scan(shmid, out);
	if (shmctl(shmid, IPC_STAT, &ds) == 0) {
		info_from_shmid_ds(shmid, &ds, out);
		return 0;
	}
	/* EINVAL and EIDRM both mean: no segment with this id (any more). */
	if (errno == EINVAL || errno == EIDRM)
		return -ENOENT;
	if (errno == EACCES) {
		int ret = stat_by_index(shmid, out);

		return ret == -ENODEV ? stat_by_scan(shmid, out) : ret;
	}
	return -errno;
}

int segment_find_key(int32_t key)
{
	int shmid = key == 0 ? -1 : shmget(key, 0, 0);

	return shmid < 0 ? -ENOENT : shmid;
}

/* 32-bit x86 and ARM: the plain calls take 16-bit ids. */
#ifdef SYS_setresuid32
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#endif

int segment_create(int32_t key, size_t size, unsigned int mode, uid_t uid, gid_t gid)
{
	struct segment_ids saved;
	int id, err;

	err = segment_thread_become(uid, gid, &saved);
	if (err)
		return err;
	id = shmget(key, size, IPC_CREAT | IPC_EXCL | (mode & 0777));
	err = id < 0 ? -errno : 0;
	segment_thread_restore(&saved);
	return err ? err : id;
}

int segment_open_fd(void *addr, uint64_t size, bool writable)
{
	static const unsigned long tmpfs_magic = 0x01021994;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)addr;
	uintptr_t end = start + (((uintptr_t)size + page - 1) & ~(page - 1));
	char path[64];
	struct statfs sfs;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)start,
		 (unsigned long)end);
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) != 0 || (unsigned long)sfs.f_type != tmpfs_magic) {
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

int segment_remove(int shmid)
{
	if (shmctl(shmid, IPC_RMID, NULL) == 0)
		return 0;
	return sysvipc_gone_or(errno);
}

int segment_set_perm(int shmid, uid_t uid, gid_t gid, unsigned int mode)
{
	struct shmid_ds ds;

	memset(&ds, 0, sizeof(ds));
	ds.shm_perm.uid = uid;
	ds.shm_perm.gid = gid;
	ds.shm_perm.mode = mode & 0777;
	if (shmctl(shmid, IPC_SET, &ds) == 0)
		return 0;
	return sysvipc_gone_or(errno);
}

int segment_set_locked(int shmid, bool locked)
{
	if (shmctl(shmid, locked ? SHM_LOCK : SHM_UNLOCK, NULL) == 0)
		return 0;
	return sysvipc_gone_or(errno);
}

/* The setting's file, opened once and read again at offset 0 for each
 * answer: a read renders the live value (2 syscalls fewer than an open,
 * a read and a close, and no procfs path walk: it is read twice per
 * open of a segment).  The file belongs to the IPC namespace of its
 * opener: the daemon joins its namespace before any thread exists
 * (main.c), and never changes it after.  Process-wide, as the namespace
 * is: segment.c's callers (attach, identity, share) have no struct shmfs
 * at hand. */
static int rmid_forced_fd(void)
{
	static int kept = -1;
	int fd = __atomic_load_n(&kept, __ATOMIC_ACQUIRE), none = -1;

	if (fd >= 0)
		return fd;
	fd = open("/proc/sys/kernel/shm_rmid_forced", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Two threads may race here: one file is kept, the other goes. */
	if (!__atomic_compare_exchange_n(&kept, &none, fd, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		close(fd);
		return none;
	}
	return fd;
}

bool segment_rmid_forced(void)
{
	/* The last answer read: -1 before the first. */
	static int known = -1;
	char buf[16] = "";
	int fd = rmid_forced_fd();

	/* No such file: a kernel without the setting (before 3.1).  Any
	 * other failure (EMFILE...) gives the last answer read, or, before
	 * any, "set": refusing an open or keeping an attachment is safe, a
	 * detach that destroys a segment is not. */
	if (fd == -ENOENT)
		return false;
	if (fd >= 0) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		if (n > 0)
			__atomic_store_n(&known, atoi(buf) != 0, __ATOMIC_RELAXED);
	}
	return __atomic_load_n(&known, __ATOMIC_RELAXED) != 0;
}

/* ---- calls made as a caller ---------------------------------------------- */

int segment_thread_become(uid_t uid, gid_t gid, struct segment_ids *saved)
{
	saved->uid = geteuid();
	saved->gid = getegid();
	saved->switched = saved->uid == 0 && (uid != saved->uid || gid != saved->gid);
	if (!saved->switched)
		return 0;
	/* Raw syscalls: glibc's setresuid() would change every thread. */
	if (syscall(SYS_SETRESGID, -1, gid, -1) != 0)
		return -errno;
	if (syscall(SYS_SETRESUID, -1, uid, -1) != 0) {
		int err = -errno;

		syscall(SYS_SETRESGID, -1, saved->gid, -1);
		return err;
	}
	return 0;
}

void segment_thread_restore(const struct segment_ids *saved)
{
	if (!saved->switched)
		return;
	/* Back to root: cannot fail, the saved uid is still 0. */
	if (syscall(SYS_SETRESUID, -1, saved->uid, -1) != 0 ||
	    syscall(SYS_SETRESGID, -1, saved->gid, -1) != 0)
		abort();
}

int segment_set_perm_as(int shmid, uid_t uid, gid_t gid, unsigned int mode,
			const struct segment_caller *caller)
{
	struct segment_ids saved;
	int err = segment_thread_become(caller->uid, caller->gid, &saved);

	if (err)
		return err;
	err = segment_set_perm(shmid, uid, gid, mode);
	segment_thread_restore(&saved);
	return err;
}
