/* sysvipc.h - the kernel's tables of System V objects, read one way for
 * segments (segment.c), semaphore sets (semset.c) and message queues
 * (msgq.c): /proc/sysvipc/<kind> first (every object of the IPC
 * namespace, to everyone, in one read); where it cannot be read, a
 * *_STAT_ANY loop over the kernel's index range (*_STAT before Linux
 * 4.17), as util-linux's ipcs does.  Knows no kind's fields.
 *
 * Header only: each kind's module, and the fuzz targets that compile one
 * of them alone, use it.
 */
#ifndef SHMFS_SYSVIPC_H
#define SHMFS_SYSVIPC_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

/* How a kind is read.  obj is the caller's buffer for one object. */
struct sysvipc_kind {
	const char *proc; /* its /proc/sysvipc file */
	/* One line of it after the header, into obj: 0, or -errno to pass
	 * the line by. */
	int (*parse)(const char *line, void *obj);
	/* The highest index in use (the *_INFO command), or -errno. */
	int (*max_index)(void);
	/* *_STAT_ANY (any) or *_STAT of index idx into obj: the object's
	 * id, or -1 with errno. */
	int (*stat_index)(int idx, bool any, void *obj);
	/* IPC_STAT of id into obj: 0, or -1 with errno (for sysvipc_stat()). */
	int (*stat_id)(int id, void *obj);
	/* The id of obj (for sysvipc_stat()). */
	int (*id_of)(const void *obj);
};

/* EINVAL and EIDRM both mean: no object with this id (any more). */
static inline int sysvipc_gone_or(int err)
{
	return err == EINVAL || err == EIDRM ? -ENOENT : -err;
}

/* fn(obj, arg) for each line of the kind's /proc file: -ENODEV if it
 * cannot be read (the caller falls back); else fn's first nonzero
 * answer, or 0. */
static inline int sysvipc_each_proc(const struct sysvipc_kind *k, void *obj,
				    int (*fn)(void *obj, void *arg), void *arg)
{
	char line[512];
	FILE *f = fopen(k->proc, "re");
	int ret = 0;

	if (!f)
		return -ENODEV;
	/* The kernel renders a seq_file read by read: fewer, bigger ones. */
	setvbuf(f, NULL, _IOFBF, 64 * 1024);
	/* The first line is the column header. */
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -ENODEV;
	}
	while (!ret && fgets(line, sizeof(line), f))
		if (k->parse(line, obj) == 0)
			ret = fn(obj, arg);
	fclose(f);
	return ret;
}

/* fn(obj, arg) for each index in use, by *_STAT_ANY (else *_STAT): fn's
 * first nonzero answer, 0, or -errno if the range cannot be had. */
static inline int sysvipc_each_index(const struct sysvipc_kind *k, void *obj,
				     int (*fn)(void *obj, void *arg), void *arg)
{
	int maxidx = k->max_index(), ret = 0;

	if (maxidx < 0)
		return maxidx;
	for (int idx = 0; !ret && idx <= maxidx; idx++) {
		int id = k->stat_index(idx, true, obj);

		if (id < 0 && errno == EINVAL)
			id = k->stat_index(idx, false, obj);
		if (id >= 0)
			ret = fn(obj, arg);
	}
	return ret;
}

/* fn(obj, arg) for each object of the kind, until it answers nonzero:
 * that answer, 0 at the end, or -errno if neither way can be read. */
static inline int sysvipc_each(const struct sysvipc_kind *k, void *obj,
			       int (*fn)(void *obj, void *arg), void *arg)
{
	int ret = sysvipc_each_proc(k, obj, fn, arg);

	return ret == -ENODEV ? sysvipc_each_index(k, obj, fn, arg) : ret;
}

/* The object id names, with no permission asked: the kernel numbers an
 * id seq * IPCMNI + index, IPCMNI being 32,768 (1 << 24 with
 * ipcmni_extend), and *_STAT_ANY of the index costs the same whatever
 * the number of objects.  0 with obj filled, or -ENODEV if that does not
 * find it (no *_STAT_ANY before 4.17, another numbering, or removed
 * meanwhile): the caller scans. */
static inline int sysvipc_stat_by_index(const struct sysvipc_kind *k, int id, void *obj)
{
	static const int index_bits[] = { 15, 24 };

	for (size_t i = 0; i < sizeof(index_bits) / sizeof(index_bits[0]); i++)
		if (k->stat_index(id & ((1 << index_bits[i]) - 1), true, obj) == id)
			return 0;
	return -ENODEV;
}

struct sysvipc_match {
	const struct sysvipc_kind *k;
	int id;
};

static inline int sysvipc_match_id(void *obj, void *arg)
{
	const struct sysvipc_match *m = arg;

	return m->k->id_of(obj) == m->id;
}

/* The object with id id, into obj (also written when it fails): by
 * IPC_STAT; without the permission that asks (another user's object,
 * mode 0600), by its index, then by a scan, as /proc/sysvipc shows every
 * object to everyone.  0, -ENOENT (no such id, any more), or -errno. */
static inline int sysvipc_stat(const struct sysvipc_kind *k, int id, void *obj)
{
	struct sysvipc_match m = { .k = k, .id = id };
	int ret;

	if (id < 0)
		return -ENOENT;
	if (k->stat_id(id, obj) == 0)
		return 0;
	if (errno != EACCES)
		return sysvipc_gone_or(errno);
	if (sysvipc_stat_by_index(k, id, obj) == 0)
		return 0;
	ret = sysvipc_each(k, obj, sysvipc_match_id, &m);
	return ret == 1 ? 0 : ret < 0 ? ret : -ENOENT;
}

#endif
