/* lockstate.h - what a semaphore set shows of who holds and who waits.
 *
 * Reads a set as `ipcs -s -i` does (IPC_STAT, then GETVAL, GETPID,
 * GETNCNT and GETZCNT per semaphore), and reads the lock set's three
 * semaphores through the protocol of lock.h:
 *   semaphore 1 is the number of shared holders,
 *   semaphore 2 is 1 while an exclusive holder has it.
 * Every operation of the protocol that succeeds touches semaphore 1
 * except an exclusive release, and that one always follows the same
 * process's exclusive acquire, so semaphore 1's pid (sempid) is the
 * process of the last operation; while semaphore 2 is 1, no operation
 * touching it can have succeeded since the acquire, so its sempid is the
 * holder.  A waiter is counted by the kernel on the semaphore it is
 * blocked on: readers, and writers, waiting for a writer wait for zero
 * on semaphore 2; writers waiting for readers wait for zero on
 * semaphore 1.  (Which of the waiters are readers, and which processes
 * hold a shared lock, the kernel does not show.)
 *
 * The values are read by one semctl() each, not atomically: a change
 * between two reads can show, for a few microseconds, in one reading.
 *
 * Knows nothing of FUSE.  Functions return 0 or -errno (-EINVAL or
 * -EIDRM if the set is gone, -EACCES if the caller may not read it).
 */
#ifndef SHMFS_LOCKSTATE_H
#define SHMFS_LOCKSTATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define LOCKSTATE_MAX_SEMS 3 /* semaphores read; more are not looked at */

struct semaphore_state {
	int value;	   /* semval */
	pid_t pid;	   /* sempid: the process of the last operation on it */
	unsigned int ncnt; /* semncnt: waiting for it to increase */
	unsigned int zcnt; /* semzcnt: waiting for it to become zero */
};

struct semset_state {
	int semid;
	int32_t key;	    /* 0: IPC_PRIVATE */
	unsigned int nsems; /* as the set has; sem[] holds the first LOCKSTATE_MAX_SEMS */
	uid_t uid, cuid;
	gid_t gid, cgid;
	unsigned int mode; /* permission bits */
	time_t otime;	   /* the last semop; 0 if none */
	time_t ctime;
	struct semaphore_state sem[LOCKSTATE_MAX_SEMS];
};

/* The lock set, in the protocol's terms. */
struct lock_state {
	unsigned int readers;		  /* holding it shared */
	pid_t writer;			  /* holding it exclusive; 0 if none */
	pid_t last_pid;			  /* the last operation; 0 if none */
	time_t last_op;			  /* when (sem_otime); 0 if none */
	unsigned int waiting_for_writer;  /* blocked until the writer releases */
	unsigned int waiting_for_readers; /* (writers) blocked until readers release */
};

/* The notification set (lock.h: lock_table_notify_semid). */
struct notify_state {
	unsigned int posts; /* posted and not yet taken */
	pid_t last_pid;
	time_t last_op;
	unsigned int waiting; /* blocked on its semaphore (semncnt + semzcnt) */
};

/* Read a set's IPC_STAT and its first semaphores. */
int lockstate_read_set(int semid, struct semset_state *out);

/* The lock protocol's reading of a set of at least 3 semaphores, pure;
 * -EINVAL for a smaller set. */
int lockstate_lock_of(const struct semset_state *set, struct lock_state *out);

/* Read set semid and give its reading as a lock set / notification set
 * (semaphore 0; -EINVAL for an empty set). */
int lockstate_read_lock(int semid, struct lock_state *out);
int lockstate_read_notify(int semid, struct notify_state *out);

#endif
