/* daemon.c - the daemon's state, its lifecycle and its background work. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"
#include "listing.h"
#include "ownset.h"
#include "pending.h"
#include "procs.h"

#define FD_RESERVE 128 /* descriptors kept for everything else */
/* While there is something to sweep: an attachment to let go of, or
 * someone waiting for a write (a segment removed by another program is
 * seen only by looking: watch_sweep()). */
#define SWEEP_TICK_MS	 1000
#define SPLICE_REPROBE_S 1

struct shmfs *shmfs_new(const struct shmfs_options *opts)
{
	struct shmfs *fs = calloc(1, sizeof(*fs));
	struct rlimit nofile;
	long limit = -1;
	pthread_condattr_t attr;

	if (!fs)
		return NULL;
	pthread_mutex_init(&fs->bg_lock, NULL);
	pthread_mutex_init(&fs->texts_lock, NULL);
	LIST_INIT(&fs->texts);
	pthread_mutex_init(&fs->open_files_lock, NULL);
	LIST_INIT(&fs->open_files);
	pthread_mutex_init(&fs->open_dirs_lock, NULL);
	LIST_INIT(&fs->open_dirs);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->bg_cond, &attr);
	pthread_condattr_destroy(&attr);
	fs->opts = *opts;
	/* what a daemon of this IPC namespace killed with -9 left (ownset.h) */
	ownset_reclaim();
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
		limit = (long)nofile.rlim_cur;
	fs->sets = budget_new(opts->max_sets);
	fs->locks = lock_table_new();
	fs->waits = lockwait_new(opts->max_waits, opts->max_lock_threads);
	/* posts on notification sets are waited for by the set threads */
	fs->watches = fs->waits ? watch_table_new(fs->sets, fs->waits) : NULL;
	fs->attaches = attach_table_new(attach_fd_limit(limit, FD_RESERVE), opts->attach_cache);
	fs->helpers = helpers_new(SHMFS_HELPERS_PER_USER, SHMFS_HELPERS_MAX);
	fs->next_waits = budget_new(opts->max_waits);
	fs->sem_waits = budget_new(opts->max_waits);
	fs->parked_bytes = budget_new(SHMFS_PARKED_BYTES_MAX);
	fs->nodes = node_table_new();
	fs->listings = listing_cache_new(opts->attr_timeout);
	fs->view_dirs = budget_new(LISTING_DIRS_PER_USER);
	fs->text_bytes = budget_new(SHMFS_TEXT_BYTES_MAX);
	fs->procs = procs_limits_new(SHMFS_PROCS_SCANS_PER_USER, SHMFS_PROCS_SCAN_MS);
	if (!fs->nodes || !fs->listings || !fs->view_dirs || !fs->text_bytes || !fs->procs ||
	    !fs->locks || !fs->watches || !fs->attaches || !fs->waits || !fs->helpers ||
	    !fs->next_waits || !fs->sets || !fs->parked_bytes || !fs->sem_waits) {
		shmfs_free(fs);
		return NULL;
	}
	fs->dirs = (struct attr_dirs){ .uid = getuid(), .gid = getgid(), .mount_time = time(NULL) };
	return fs;
}

void shmfs_free(struct shmfs *fs)
{
	if (!fs)
		return;
	daemon_stop(fs);
	/* Waiters first: they hold files, and files hold attachments. */
	lockwait_free(fs->waits);
	watch_table_free(fs->watches);
	budget_free(fs->next_waits);
	budget_free(fs->sem_waits);
	budget_free(fs->sets);
	budget_free(fs->parked_bytes);
	attach_table_free(fs->attaches);
	lock_table_free(fs->locks);
	pending_table_free(fs->pending);
	listing_cache_free(fs->listings);
	budget_free(fs->view_dirs);
	budget_free(fs->text_bytes);
	procs_limits_free(fs->procs);
	node_table_free(fs->nodes);
	pthread_mutex_destroy(&fs->texts_lock);
	pthread_mutex_destroy(&fs->open_files_lock);
	pthread_mutex_destroy(&fs->open_dirs_lock);
	pthread_mutex_destroy(&fs->bg_lock);
	pthread_cond_destroy(&fs->bg_cond);
	free(fs);
}

/* Sleep until kicked, or until the next sweep while there is something
 * to sweep.  Waits for a write are not polled: posts and interrupts wake
 * the set threads (watch.h); only removed segments are looked for, once a
 * second while anyone waits. */
static void *background_main(void *arg)
{
	struct shmfs *fs = arg;
	bool sweeping = true;
	uint64_t next_sweep = clock_deadline_ns(SWEEP_TICK_MS);
	struct timespec until;

	pthread_mutex_lock(&fs->bg_lock);
	while (!fs->stopping) {
		if (!fs->bg_kicked) {
			until = clock_timespec(next_sweep);
			if (sweeping)
				pthread_cond_timedwait(&fs->bg_cond, &fs->bg_lock, &until);
			else
				pthread_cond_wait(&fs->bg_cond, &fs->bg_lock);
		}
		if (fs->stopping)
			break;
		if (fs->bg_kicked) {
			/* new work: swept at the next tick (from now, if idle) */
			fs->bg_kicked = false;
			if (!sweeping)
				next_sweep = clock_deadline_ns(SWEEP_TICK_MS);
			sweeping = true;
		}
		if (clock_now_ns() < next_sweep)
			continue;
		pthread_mutex_unlock(&fs->bg_lock);
		/* both, every time: either may have work left */
		sweeping = attach_sweep(fs->attaches);
		sweeping = watch_sweep(fs->watches) || sweeping;
		next_sweep = clock_deadline_ns(SWEEP_TICK_MS);
		pthread_mutex_lock(&fs->bg_lock);
	}
	pthread_mutex_unlock(&fs->bg_lock);
	return NULL;
}

/* Signals go to the main thread, which waits in the session loop and
 * ends it on SIGTERM or SIGINT: the background thread, and the threads
 * it starts, block them all (as libfuse's workers do).  Taken by one of
 * them, a SIGTERM would end no loop. */
int daemon_start(struct shmfs *fs)
{
	sigset_t all, old;
	int ret;

	/* From now on no thread of ours but the parking module's waits for
	 * a lock (an assertion in lock_acquire()). */
	lock_forbid_blocking();
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&fs->bg, NULL, background_main, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	fs->bg_running = ret == 0;
	return -ret;
}

void daemon_stop(struct shmfs *fs)
{
	if (fs->bg_running) {
		pthread_mutex_lock(&fs->bg_lock);
		fs->stopping = true;
		pthread_cond_signal(&fs->bg_cond);
		pthread_mutex_unlock(&fs->bg_lock);
		pthread_join(fs->bg, NULL);
		fs->bg_running = false;
	}
	/* Then requests waiting for a lock are answered at once: not before,
	 * as the background thread may park a .next read it wakes; the waits
	 * for posts end too, their waiters left for watch_table_stop().
	 * Children making SHM_LOCK as a caller are killed (one stopped by its
	 * caller must not hold up the exit). */
	helpers_free(fs->helpers);
	fs->helpers = NULL;
	if (fs->watches)
		watch_table_unpark(fs->watches);
	lockwait_free(fs->waits);
	fs->waits = NULL;
}

void shmfs_stop_waits(struct shmfs *fs)
{
	daemon_stop(fs);
	watch_table_stop(fs->watches);
}

void daemon_kick(struct shmfs *fs)
{
	pthread_mutex_lock(&fs->bg_lock);
	fs->bg_kicked = true;
	pthread_cond_signal(&fs->bg_cond);
	pthread_mutex_unlock(&fs->bg_lock);
}

/* The largest read reply libfuse can splice: header, data and a few
 * spare pages must fit in one pipe.  Found by trying, as libfuse will: a
 * reply that libfuse then fails to splice is still sent, through a
 * buffer it allocates on every request. */
static size_t splice_limit(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), spare = 4 * page;
	size_t want = ATTACH_MAX_COPY + spare, got = 0;
	int p[2];

	if (pipe2(p, O_CLOEXEC) != 0)
		return 0;
	for (size_t size = want; size >= 16 * page && !got; size /= 2) {
		int res = fcntl(p[0], F_SETPIPE_SZ, (int)size);

		if (res > 0)
			got = (size_t)res;
	}
	close(p[0]);
	close(p[1]);
	return got > spare + page ? (got - spare) & ~(page - 1) : 0;
}

/* Seconds of the coarse monotonic clock (not clock.h's precise one):
 * read at every read that may be spliced, where a second's precision
 * is all that is asked and the coarse read is the cheapest. */
static long monotonic_s(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	return (long)now.tv_sec;
}

void daemon_enable_splice(struct shmfs *fs)
{
	fs->splice_write = true;
	__atomic_store_n(&fs->splice_max, splice_limit(), __ATOMIC_RELAXED);
	__atomic_store_n(&fs->splice_probed_s, monotonic_s(), __ATOMIC_RELAXED);
}

size_t daemon_splice_max(struct shmfs *fs)
{
	long now, then;

	if (!fs->splice_write)
		return 0;
	now = monotonic_s();
	then = __atomic_load_n(&fs->splice_probed_s, __ATOMIC_RELAXED);
	/* One reader a second probes again; the others use the last answer. */
	if (now - then >= SPLICE_REPROBE_S &&
	    __atomic_compare_exchange_n(&fs->splice_probed_s, &then, now, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED))
		__atomic_store_n(&fs->splice_max, splice_limit(), __ATOMIC_RELAXED);
	return __atomic_load_n(&fs->splice_max, __ATOMIC_RELAXED);
}
