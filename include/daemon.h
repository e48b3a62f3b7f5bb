/* daemon.h - the daemon's state, its lifecycle and its background work.
 *
 * The background thread sleeps until there is something to do: it ticks
 * every few milliseconds while someone waits for a write (watch.c), and
 * about every second while attachments wait to be let go (attach.c).
 * With nothing open and nobody waiting it does not run at all.
 *
 * Knows nothing of the FUSE operations.
 *
 * THE THREADS, and what each may wait on (the mutexes and their order:
 * lockorder.h; every mutex is held for bookkeeping or across syscalls
 * that wait on no other process, so "a mutex" below is a short wait):
 *  - main: makes struct shmfs, mounts, starts the background thread,
 *    then waits in libfuse's session loop for the end (with -s it is the
 *    only worker); the one thread that takes SIGTERM, SIGINT and SIGHUP
 *    (every thread of ours blocks them).  At the end shmfs_free() joins
 *    the background thread and waits for lockwait's and the helpers'
 *    threads, which answer what they hold at once.
 *  - libfuse's workers: read /dev/fuse, serve one request each.  May
 *    wait on: a mutex; pending's `made` for another worker's creation
 *    of the same name (bounded syscalls: no lock wait); listing's
 *    refresh_lock while another thread reads /proc/sysvipc/shm (only
 *    before the first table); the caller-credential scan thread they
 *    start (joined); their replies' writes to /dev/fuse.  Never on a
 *    semaphore (lock_acquire() asserts it), a user's lock, a child or a
 *    write to come: those park (lockwait.h, watch.h).  A worker whose
 *    release lets parked requests in runs their callbacks (a loop).
 *  - the background thread (daemon.c): bg_cond, a sweep each second
 *    while a .next read or a poll waits for a write (IPC_STAT per
 *    segment waited on: a removed segment's waiters get ENOENT) or
 *    attachments wait to be let go, else until kicked; then the
 *    waiters' callbacks (replies).  It polls for no post.
 *  - lockwait's set threads (lockwait.c): one per semaphore set waited
 *    on, at most max_lock_threads, a fair share per user.  The only
 *    threads that wait for a semaphore: one semtimedop() until the first
 *    waiter's deadline (lock_timeout_ms, default 10 s), or, on a
 *    notification set, for the next post with no deadline (watch.h);
 *    cut short by SIGRTMIN+4 (the one signal they take); then 200 ms on
 *    their condition for another waiter, and they end.  They run the
 *    granted requests' callbacks (the reply goes out under the lock),
 *    and the fired .next reads' and polls' (replies, and reads submitted
 *    under the lock: parked if it is busy, never waited for).
 *  - procs' caller-credential scan thread (procs_run_as()): one per
 *    .procs render or waiters scan, started and joined by a worker, with
 *    the caller's fsuid and fsgid so the kernel applies the caller's
 *    rights to /proc; waits only on its /proc reads, takes no mutex.
 *  - the helpers thread (helper.c): from the first SHM_LOCK as a caller;
 *    poll() on the children's pidfds and answer pipes until the nearest
 *    deadline (HELPER_TIMEOUT_MS, 2 s), kills a late child, reaps it and
 *    runs the request's callback (a reply).
 *  - the SHM_LOCK helper child (helper.c): a process, cloned without
 *    CLONE_VM under the helpers' mutex; it becomes the caller, makes one
 *    shmctl(), writes its answer and exits, killed after 2 s.  It makes
 *    syscalls only: another thread may have held a mutex at the clone.
 *  - signal handlers: lockwait's kick (zeroes a timeout), guarded.c's
 *    SIGBUS (jumps out of a copy), libfuse's exit handlers: no lock.
 */
#ifndef SHMFS_DAEMON_H
#define SHMFS_DAEMON_H

#include <pthread.h>
#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "attach.h"
#include "attr.h"
#include "budget.h"
#include "helper.h"
#include "listing.h"
#include "lock.h"
#include "lockwait.h"
#include "node.h"
#include "watch.h"

struct shmfs_options {
	unsigned int lock_timeout_ms;  /* bound on a wait for the segment lock */
	double attr_timeout;	       /* seconds the kernel may cache attributes */
	double entry_timeout;	       /* seconds the kernel may cache names */
	size_t default_size;	       /* size of a segment created without a size */
	size_t max_pending;	       /* most bytes gathered per user for names being created */
	double attach_cache;	       /* seconds an attachment outlives its last close; 0: none */
	unsigned int max_waits;	       /* per user: requests waiting for a lock, and for a write */
	unsigned int max_sets;	       /* per user: semaphore sets made for their opens */
	unsigned int max_lock_threads; /* all users: threads waiting on sets */
};

#define SHMFS_DEFAULT_LOCK_TIMEOUT_MS 10000
#define SHMFS_DEFAULT_MAX_WAITS	      256
#define SHMFS_DEFAULT_MAX_SETS	      1024
/* Threads waiting on semaphore sets, all users together (each waits on
 * one set for all its waiters, and costs no CPU while it waits). */
#define SHMFS_DEFAULT_MAX_LOCK_THREADS 256
/* SHM_LOCK/SHM_UNLOCK children under way: per user, and all together. */
#define SHMFS_HELPERS_PER_USER 4
#define SHMFS_HELPERS_MAX      64
/* Bytes of parked writes one user may have the daemon hold: 16 writes of
 * FUSE's largest request. */
#define SHMFS_PARKED_BYTES_MAX (16u << 20)
/* Bytes of rendered text files (sidecars, .procs, the sem/ and msg/
 * views) one user may have the daemon hold open: each open counts its
 * text and SHMFS_TEXT_OPEN_COST for itself, so at most 65,536 opens. */
#define SHMFS_TEXT_BYTES_MAX (64u << 20)
#define SHMFS_TEXT_OPEN_COST 1024u
/* .procs scans (procs.h): under way per user, and how long an open waits
 * for one. */
#define SHMFS_PROCS_SCANS_PER_USER 4
#define SHMFS_PROCS_SCAN_MS	   10000

struct pending_table;
struct procs_limits; /* .procs scans under way (procs.h) */
struct open_text;    /* the FUSE layer's rendered text files (fs_text.c) */
struct open_file;    /* the FUSE layer's open segment files (fs_io.c) */

struct shmfs {
	struct shmfs_options opts;
	struct lock_table *locks;
	struct watch_table *watches;
	struct attach_table *attaches;
	struct lockwait *waits;	     /* requests parked until their lock frees */
	struct helpers *helpers;     /* SHM_LOCK/SHM_UNLOCK as the caller */
	struct budget *next_waits;   /* per user: reads of .next waiting */
	struct budget *sem_waits;    /* per user: -N writes to sem/ waiting */
	struct budget *sets;	     /* per user: sets made for their opens */
	struct budget *parked_bytes; /* per user: bytes of writes parked for a lock */
	struct attr_dirs dirs;
	struct node_table *nodes;	/* the node ids the kernel holds */
	struct listing_cache *listings; /* the table's snapshots: listings, rss */
	struct budget *view_dirs;	/* per user: sem/ and msg/ listings open */
	struct budget *text_bytes;	/* per user: bytes of rendered texts open */
	struct procs_limits *procs;	/* per user: .procs scans under way */

	/* Sidecars and .procs files open, each rendered at its open; the
	 * list is for the end of the session, whose releases never come. */
	pthread_mutex_t texts_lock; /* guards texts only; a leaf (lockorder.h) */
	LIST_HEAD(open_texts, open_text) texts;
	/* Segment files open (fs_io.c), for the same reason. */
	pthread_mutex_t open_files_lock; /* guards open_files only; a leaf (lockorder.h) */
	LIST_HEAD(open_files, open_file) open_files;
	/* Directories open (fs_dir.c), for the same reason. */
	pthread_mutex_t open_dirs_lock; /* guards open_dirs only; a leaf */
	LIST_HEAD(open_dirs, open_dir) open_dirs;

	/* Names being created in by-key/ (pending.c; made by fs_create.c). */
	struct pending_table *pending;

	/* Reads spliced from a segment's file when the kernel takes them. */
	bool splice_write;
	size_t splice_max;    /* atomic; 0: none */
	long splice_probed_s; /* atomic: when, in CLOCK_MONOTONIC seconds */

	/* The background thread. */
	pthread_t bg;
	bool bg_running;
	/* Guards bg_kicked and stopping; bg_cond waits under it.  A leaf
	 * (lockorder.h): the thread lets it go before it works. */
	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	bool bg_kicked;
	bool stopping;
};

/* Everything the session needs, made before it starts (a failure is an
 * exit with a message, never a daemon that runs without a part).  NULL
 * if out of memory. */
struct shmfs *shmfs_new(const struct shmfs_options *opts);
/* Remove every set the daemon made, let go of every segment, free. */
void shmfs_free(struct shmfs *fs);

/* Start the background thread (after any daemonizing fork); stop it and
 * answer every request still waiting for a lock (EINTR). */
int daemon_start(struct shmfs *fs);
void daemon_stop(struct shmfs *fs);
/* daemon_stop(), and reads of .next still waiting answered: everything
 * parked is answered now, while the session can still send replies.
 * Idempotent. */
void shmfs_stop_waits(struct shmfs *fs);
/* There is something to watch or let go of: wake the background thread. */
void daemon_kick(struct shmfs *fs);

/* The largest read reply that can be spliced (0: none), probed again at
 * most once a second: a pipe grows past fs.pipe-max-size only with
 * CAP_SYS_RESOURCE, and the setting may change under us. */
void daemon_enable_splice(struct shmfs *fs);
size_t daemon_splice_max(struct shmfs *fs);

#endif
