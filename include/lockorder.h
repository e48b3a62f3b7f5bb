/* lockorder.h - the order in which the daemon's mutexes are taken, and
 * its check in the builds the tests run.
 *
 * Every pthread mutex of src/ has a rank, written once, in src/lockorder.c
 * (by the file that locks it and the expression that names it there):
 * a thread holding a mutex of rank r takes only mutexes of a higher rank.
 * Mutexes of one rank never nest.  From the outside in:
 *
 *   LOCKORDER_OUTER   open_file.poll_lock (fs_wait.c), listing_cache.refresh_lock,
 *                     lock_table.mutex
 *   LOCKORDER_WATCH   watch_table.mutex (watch.c, watch_post.c): parks and kicks
 *                     its waits for posts on lockwait's threads under it
 *   LOCKORDER_MIDDLE  lockwait.mutex
 *   LOCKORDER_LEAF    lock_hold.mutex, listing_cache.lock, attach_table, node_table,
 *                     helpers, pending_table, shmfs.bg_lock, shmfs.texts_lock,
 *                     shmfs.open_files_lock, shmfs.open_dirs_lock, kernel_features' kf.lock
 *   LOCKORDER_BUDGET  budget.mutex, segment_attach.c's slots (taken under anything above)
 *   LOCKORDER_LOG     log.c's log_lock (anything may log)
 *
 * libfuse's own locks sit outside ours: it holds a request's lock while
 * it calls our interrupt callbacks (fs_io.c on_interrupt, which takes
 * lockwait.mutex; a .next read's, which takes watch_table.mutex, then
 * lockwait.mutex).  libfuse takes none of ours.
 *
 * The semaphore lock of a segment (lock.h: a ShareLite set or the private
 * lock) is not a mutex: a request holds it while its reply goes out, and
 * takes no mutex but leaves' and budgets' meanwhile.
 *
 * The check: unless NDEBUG, meson includes this header first in every
 * file of src/, and pthread_mutex_lock/trylock/unlock become the checked
 * versions below, each call site caching its rank; no call site changes.
 * A mutex taken out of order aborts before it waits, naming both places
 * (a deadlock that would hang is an abort instead).  A lock site the table
 * does not name is not checked.
 */
#ifndef SHMFS_LOCKORDER_H
#define SHMFS_LOCKORDER_H

#include <pthread.h>
#include <stdbool.h>

enum lockorder_rank {
	LOCKORDER_UNRANKED = -1,
	LOCKORDER_UNKNOWN = 0, /* a call site not looked up yet */
	LOCKORDER_OUTER = 1,
	LOCKORDER_WATCH,
	LOCKORDER_MIDDLE,
	LOCKORDER_LEAF,
	LOCKORDER_BUDGET,
	LOCKORDER_LOG,
};

/* The rank of the mutex that expr (as written at the lock site) names in
 * file (a path; its last component counts): LOCKORDER_UNRANKED if the
 * table has none. */
int lockorder_rank_of(const char *file, const char *expr);

/* The checked lock, trylock and unlock: *site caches the call site's
 * rank. */
int lockorder_lock(pthread_mutex_t *m, int *site, const char *file, const char *expr, bool try);
int lockorder_unlock(pthread_mutex_t *m);

/* How many ranked mutexes the calling thread holds (for tests). */
unsigned int lockorder_held(void);

#if !defined(NDEBUG) && defined(SHMFS_LOCKORDER_CHECK)
#define pthread_mutex_lock(m)                                                                      \
	__extension__({                                                                            \
		static int lockorder_site_;                                                        \
		lockorder_lock((m), &lockorder_site_, __FILE__, #m, false);                        \
	})
#define pthread_mutex_trylock(m)                                                                   \
	__extension__({                                                                            \
		static int lockorder_site_;                                                        \
		lockorder_lock((m), &lockorder_site_, __FILE__, #m, true);                         \
	})
#define pthread_mutex_unlock(m) lockorder_unlock(m)
#endif

#endif
