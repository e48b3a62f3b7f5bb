/* lockstate.c - what a semaphore set shows of who holds and who waits.
 *
 * See lockstate.h for why sempid of semaphores 1 and 2 names the last
 * operation and the exclusive holder.
 */
#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "lockstate.h"
#include "semun.h"

#define SEM_READERS 1
#define SEM_WRITER  2

static int sem_get(int semid, int num, int cmd, long *out)
{
	int r = semctl(semid, num, cmd);

	if (r < 0)
		return -errno;
	*out = r;
	return 0;
}

int lockstate_read_set(int semid, struct semset_state *out)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	unsigned int i, n;

	memset(out, 0, sizeof(*out));
	if (semid < 0)
		return -EINVAL;
	if (semctl(semid, 0, IPC_STAT, arg) < 0)
		return -errno;
	out->semid = semid;
	out->key = (int32_t)ds.sem_perm.__key;
	out->nsems = (unsigned int)ds.sem_nsems;
	out->uid = ds.sem_perm.uid;
	out->gid = ds.sem_perm.gid;
	out->cuid = ds.sem_perm.cuid;
	out->cgid = ds.sem_perm.cgid;
	out->mode = ds.sem_perm.mode & 0777;
	out->otime = ds.sem_otime;
	out->ctime = ds.sem_ctime;
	n = out->nsems < LOCKSTATE_MAX_SEMS ? out->nsems : LOCKSTATE_MAX_SEMS;
	for (i = 0; i < n; i++) {
		struct semaphore_state *s = &out->sem[i];
		long val = 0, pid = 0, ncnt = 0, zcnt = 0;
		int ret;

		if ((ret = sem_get(semid, (int)i, GETVAL, &val)) ||
		    (ret = sem_get(semid, (int)i, GETPID, &pid)) ||
		    (ret = sem_get(semid, (int)i, GETNCNT, &ncnt)) ||
		    (ret = sem_get(semid, (int)i, GETZCNT, &zcnt)))
			return ret;
		s->value = (int)val;
		s->pid = (pid_t)pid;
		s->ncnt = (unsigned int)ncnt;
		s->zcnt = (unsigned int)zcnt;
	}
	return 0;
}

int lockstate_lock_of(const struct semset_state *set, struct lock_state *out)
{
	const struct semaphore_state *readers = &set->sem[SEM_READERS];
	const struct semaphore_state *writer = &set->sem[SEM_WRITER];

	memset(out, 0, sizeof(*out));
	if (set->nsems < 3)
		return -EINVAL;
	out->readers = readers->value > 0 ? (unsigned int)readers->value : 0;
	out->writer = writer->value > 0 ? writer->pid : 0;
	out->last_pid = readers->pid;
	out->last_op = set->otime;
	/* Blocked on the writer's semaphore: waiting for zero there (a
	 * release's decrement never waits in the protocol, but count any
	 * that does where it waits). */
	out->waiting_for_writer = writer->zcnt + writer->ncnt;
	out->waiting_for_readers = readers->zcnt + readers->ncnt;
	return 0;
}

int lockstate_read_lock(int semid, struct lock_state *out)
{
	struct semset_state set;
	int ret = lockstate_read_set(semid, &set);

	if (ret)
		return ret;
	return lockstate_lock_of(&set, out);
}

int lockstate_read_notify(int semid, struct notify_state *out)
{
	struct semset_state set;
	int ret = lockstate_read_set(semid, &set);

	memset(out, 0, sizeof(*out));
	if (ret)
		return ret;
	if (set.nsems < 1)
		return -EINVAL;
	out->posts = set.sem[0].value > 0 ? (unsigned int)set.sem[0].value : 0;
	out->last_pid = set.sem[0].pid;
	out->last_op = set.otime;
	out->waiting = set.sem[0].ncnt + set.sem[0].zcnt;
	return 0;
}
