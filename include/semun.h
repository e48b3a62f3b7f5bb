/* semun.h - the argument of semctl(2), which glibc leaves to the caller
 * to define (semctl(2): "the calling program must define this union").
 *
 * Header only: the core, the tests and the benchmark use the same one.
 */
#ifndef SHMFS_SEMUN_H
#define SHMFS_SEMUN_H

#include <sys/sem.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

#endif
