/* lockset.c - which set guards a segment, and proofs of sets (lockset.h). */
#include <errno.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <unistd.h>

#include "lock.h"
#include "lockset.h"
#include "semun.h"
#include "share.h"

/* IPC::ShareLite's mark of a share initialised. */
#define SEM_MARK 0

bool lockset_stat(int semid, struct semid_ds *ds)
{
	union semun arg = { .buf = ds };

	return semctl(semid, 0, IPC_STAT, arg) == 0;
}

bool lockset_still(int semid, const struct semid_ds *chosen)
{
	struct semid_ds now;

	return chosen->sem_nsems > 0 && lockset_stat(semid, &now) &&
	       now.sem_perm.__key == chosen->sem_perm.__key &&
	       now.sem_perm.cuid == chosen->sem_perm.cuid &&
	       now.sem_perm.cgid == chosen->sem_perm.cgid && now.sem_nsems == chosen->sem_nsems;
}

int lock_sharelite_set(const struct segment_info *seg, const void *head, size_t len)
{
	int semid = share_lock_set(seg, head, len, NULL);

	if (semid < 0 && head)
		semid = share_chain_set(seg, head, len);
	return semid < 0 ? -ENOENT : semid;
}

/* Whether ds (IPC_STAT of made's semid) shows the set made: key, creator
 * and size. */
static bool made_is(const struct lock_made *made, const struct semid_ds *ds)
{
	return ds->sem_perm.__key == made->key && ds->sem_perm.cuid == made->cuid &&
	       ds->sem_perm.cgid == made->cgid && ds->sem_nsems == SHARE_NSEMS_MARK;
}

/* The set made, unchanged by anyone else since (lock.h). */
static bool made_proven(const struct lock_made *made)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };

	return made->ctime != -1 && semctl(made->semid, 0, IPC_STAT, arg) == 0 &&
	       made_is(made, &ds) && ds.sem_ctime == made->ctime;
}

int lock_create_sharelite(int32_t key, unsigned int mode, struct lock_made *made)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	int semid = semget(key, SHARE_NSEMS_MARK, IPC_CREAT | IPC_EXCL | (mode & 0777));

	if (semid < 0)
		return -errno;
	/* the calling thread's ids: the creator's, not the daemon's */
	*made = (struct lock_made){
		.semid = semid, .key = key, .cuid = geteuid(), .cgid = getegid(), .ctime = -1
	};
	/* Gone, or another set, already: removed by a process of the
	 * creator's, and not ours to touch. */
	if (semctl(semid, 0, IPC_STAT, arg) != 0 || !made_is(made, &ds))
		return -EBUSY;
	made->ctime = ds.sem_ctime;
	return semid;
}

int lock_mark_initialised(int semid)
{
	union semun m3 = { .val = SHARE_MARK_3 }, m4 = { .val = SHARE_MARK_4 }, init = { .val = 1 };

	/* the mark before the initialised flag: the set never looks ready
	 * without it */
	if (semctl(semid, SHARE_SEM_MARK_3, SETVAL, m3) != 0 ||
	    semctl(semid, SHARE_SEM_MARK_4, SETVAL, m4) != 0 ||
	    semctl(semid, SEM_MARK, SETVAL, init) != 0)
		return -errno;
	return 0;
}

int lock_mark_made(struct lock_made *made)
{
	struct semid_ds ds;
	union semun arg = { .buf = &ds };
	int ret;

	if (!made_proven(made))
		return -ESTALE;
	ret = lock_mark_initialised(made->semid);
	/* the sem_ctime the marking left, if the set is still the one made */
	if (semctl(made->semid, 0, IPC_STAT, arg) == 0 && made_is(made, &ds))
		made->ctime = ds.sem_ctime;
	else
		made->ctime = -1;
	return ret;
}

int lock_remove_made(const struct lock_made *made)
{
	if (!made_proven(made))
		return -ESTALE;
	return semctl(made->semid, 0, IPC_RMID) == 0 ? 0 : -errno;
}
