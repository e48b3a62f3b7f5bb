/* lockwait_int.h - what lockwait.c (the sets' threads) and
 * lockwait_take.c (a take, and the private lock's grants) share. */
#ifndef SHMFS_LOCKWAIT_INT_H
#define SHMFS_LOCKWAIT_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "budget.h"
#include "lockwait.h"

struct set_queue;

struct lockwait {
	/* Guards the queues, their waiters and threads' flags, and the thread
	 * count; a set thread waits in the kernel without it, and answers
	 * (calls back) without it.  Middle rank (lockorder.h): taken under
	 * libfuse's request lock (the interrupt callback); takes the threads'
	 * budget. */
	pthread_mutex_t mutex;
	pthread_cond_t idle; /* a thread ended */
	struct set_queue *queues;
	struct budget *budget;	/* per user: requests parked */
	struct budget *threads; /* per user: set threads, counted, not bounded */
	unsigned int max_threads;
	unsigned int nthreads;
	bool stopping;
};

/* lockwait.c: answer r with err (its parked budget given back first);
 * park r on its set's queue (r->semid), the set's thread started if it
 * has none: 0 or -errno. */
void lockwait_answer(struct lockwait *lw, struct lockwait_req *r, int err);
int lockwait_park_on_set(struct lockwait *lw, struct lockwait_req *r);

#endif
