/* semset.h - System V semaphore sets: enumerate, stat, read the
 * semaphores, change them, render a set as text, parse what is written.
 *
 * Knows nothing of FUSE.  Functions returning int return 0 (or a
 * non-negative count or id) on success and a negative errno on failure;
 * a set that does not exist (any more) is -ENOENT.
 */
#ifndef SHMFS_SEMSET_H
#define SHMFS_SEMSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "access.h"
#include "waiters.h"

/* The kernel's SEMVMX: the largest value a semaphore holds, and the
 * largest amount one semop may add or take. */
#define SEMSET_VALUE_MAX 32767

/* struct semid_ds, as /proc/sysvipc/sem shows every field of it. */
struct semset_info {
	int32_t key; /* 0 = IPC_PRIVATE */
	int semid;
	unsigned int mode; /* permission bits */
	unsigned int nsems;
	uid_t uid;
	gid_t gid;
	uid_t cuid;
	gid_t cgid;
	time_t otime; /* the last semop; 0 = never */
	time_t ctime; /* creation, or the last IPC_SET, SETVAL or SETALL */
};

/* One semaphore, as semctl GETVAL/GETPID/GETNCNT/GETZCNT give it. */
struct semset_sem {
	int value;	   /* semval */
	pid_t pid;	   /* sempid: the last process to change it; 0 = none */
	unsigned int ncnt; /* semncnt: waiting for it to increase */
	unsigned int zcnt; /* semzcnt: waiting for it to become zero */
};

/* Parse one data line of /proc/sysvipc/sem (key semid perms nsems uid
 * gid cuid cgid otime ctime).  Pure. */
int semset_parse_proc_line(const char *line, struct semset_info *out);

/* Call fn for every set, in the kernel's order: /proc/sysvipc/sem first,
 * the SEM_STAT_ANY (SEM_STAT before 4.17) loop as fallback.  Stops at
 * the first non-zero return of fn and returns it; else 0 or -errno. */
int semset_each(int (*fn)(const struct semset_info *set, void *arg), void *arg);

/* One set's metadata: IPC_STAT, or SEM_STAT_ANY of its index when the
 * daemon may not IPC_STAT it.  -ENOENT if no such set. */
int semset_stat(int semid, struct semset_info *out);

/* The semid of the set with key (not IPC_PRIVATE), or -ENOENT. */
int semset_find_key(int32_t key);

/* Its ipc_perm, for access.c. */
void semset_perm(const struct semset_info *set, struct access_perm *out);

/* The set's semaphores: values by one GETALL (one consistent reading),
 * then GETPID, GETNCNT, GETZCNT of each.  out holds nsems entries; nsems
 * must be the set's (from semset_stat), else -ESTALE. */
int semset_read_sems(int semid, unsigned int nsems, struct semset_sem *out);

/* GETVAL: semaphore num's value (>= 0), or -errno. */
int semset_getval(int semid, unsigned int num);

/* SETVAL: semaphore num of the set to value (0..SEMSET_VALUE_MAX). */
int semset_setval(int semid, unsigned int num, int value);

/* semop of delta (non-zero, |delta| <= SEMSET_VALUE_MAX) on semaphore
 * num, without SEM_UNDO, never waiting: -EAGAIN if a negative delta
 * cannot be taken now. */
int semset_op_nowait(int semid, unsigned int num, int delta);

/* The same semop, waiting at most *timeout (relative; the kernel reads
 * it as the call begins, so a signal handler may zero it first): 0;
 * -EAGAIN when the time passed; -EINTR on a signal; -EIDRM when the set
 * was removed during the wait, -ENOENT (or -EINVAL) when it was gone
 * before; the rest as semset_op_nowait(). */
int semset_op_timed(int semid, unsigned int num, int delta, const struct timespec *timeout);

/* IPC_RMID; IPC_SET (uid, gid, mode & 0777). */
int semset_remove(int semid);
int semset_set_perm(int semid, uid_t uid, gid_t gid, unsigned int mode);

/* What may be written to a semaphore's file. */
struct semset_write {
	bool relative; /* false: SETVAL to value; true: semop of value */
	int value;
};

/* "N" (0..SEMSET_VALUE_MAX) is SETVAL; "+N" / "-N" (1..SEMSET_VALUE_MAX)
 * a semop by that amount; decimal, an optional trailing newline, nothing
 * else.  -EINVAL for anything else, -ERANGE for a number out of range.
 * Pure. */
int semset_parse_write(const char *buf, size_t len, struct semset_write *out);

/* A -N written to one of the set's files, waiting in the daemon. */
struct semset_parked {
	pid_t pid; /* the writer */
	uid_t uid;
	unsigned int num; /* the semaphore */
	int delta;
};

/* The most parked writes a stat lists (then "parked_not_listed <n>"). */
#define SEMSET_PARKED_MAX 256

/* Everything a set's stat file shows. */
struct semset_view {
	const struct semset_info *info;
	const struct semset_sem *sems;	    /* info->nsems of them */
	const struct waiters_pid *last;	    /* per semaphore: its sempid seen; NULL: not looked */
	const struct waiters_list *waiters; /* NULL: not looked */
	const struct semset_parked *parked; /* nparked of them, those the reader may see */
	size_t nparked, parked_more;	    /* and how many more past SEMSET_PARKED_MAX */
	bool orphan;
};

/* Render "name value" lines: key semid perms nsems uid gid cuid cgid
 * otime ctime orphan, then per semaphore
 *   sem <num> semval <v> semncnt <n> semzcnt <z> sempid <pid|none> comm <c|-> alive
 * <yes|no|unknown|-> then per waiter waiter <pid> tid <tid> uid <uid> comm <comm> call <call>[
 * (shmfs)] and "waiters_not_listed <n>" past WAITERS_MAX, then per parked write
 *   parked <pid> uid <uid> sem <num> op <delta>
 * and "parked_not_listed <n>".  *text is malloc'ed. 0 or -ENOMEM. */
int semset_render(const struct semset_view *v, char **text, size_t *len);

/* A semaphore's own file: its value and a newline. */
int semset_render_value(const struct semset_sem *sem, char *buf, size_t size);

/* The orphan verdict of a set from its semaphores and their sempids'
 * verdicts (last[i].alive): no one waits, and every recorded sempid is
 * gone.  Pure. */
bool semset_is_orphan(const struct semset_info *info, const struct semset_sem *sems,
		      const struct waiters_pid *last);

#endif
