/* lockorder.c - the ranks of the daemon's mutexes, and the check of the
 * order they are taken in (lockorder.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockorder.h"

/* Deeper than any path of the daemon (three: poll_lock, watch, budget). */
#define HELD_MAX 16

/* The lock sites of src/: the file, the expression as written there, the
 * rank of the mutex it names.  What each mutex guards is said where it is
 * declared. */
static const struct site {
	const char *file;
	const char *expr;
	enum lockorder_rank rank;
} sites[] = {
	/* around watch_start() (watch_table.mutex, then a budget) */
	{ "fs_wait.c", "&of->poll_lock", LOCKORDER_OUTER },
	/* around a read of the table, which publishes under cache->lock */
	{ "listing.c", "&cache->refresh_lock", LOCKORDER_OUTER },
	/* then a hold's mutex (leave_private, renew, release, current) */
	{ "lock.c", "&table->mutex", LOCKORDER_OUTER },
	/* then lockwait's mutex (a wait for a post parked or kicked), the
	 * sets' budget */
	{ "watch.c", "&t->mutex", LOCKORDER_WATCH },
	{ "watch_post.c", "&t->mutex", LOCKORDER_WATCH },
	/* then the threads' budget */
	{ "lockwait.c", "&lw->mutex", LOCKORDER_MIDDLE },
	/* leaves: nothing of ours but a budget or the log under them */
	{ "lock.c", "&h->mutex", LOCKORDER_LEAF },
	{ "lock.c", "&hold->mutex", LOCKORDER_LEAF },
	{ "lock.c", "&g->hold->mutex", LOCKORDER_LEAF },
	{ "listing.c", "&cache->lock", LOCKORDER_LEAF },
	{ "attach.c", "&t->mutex", LOCKORDER_LEAF },
	{ "attach_write.c", "&t->mutex", LOCKORDER_LEAF },
	{ "procs.c", "&b->mutex", LOCKORDER_LEAF },
	{ "node.c", "&t->mutex", LOCKORDER_LEAF },
	{ "helper.c", "&h->mutex", LOCKORDER_LEAF },
	{ "pending.c", "&t->lock", LOCKORDER_LEAF },
	{ "daemon.c", "&fs->bg_lock", LOCKORDER_LEAF },
	{ "fs_text.c", "&fs->texts_lock", LOCKORDER_LEAF },
	{ "fs_io.c", "&fs->open_files_lock", LOCKORDER_LEAF },
	{ "fs_dir.c", "&fs->open_dirs_lock", LOCKORDER_LEAF },
	{ "kernel_features.c", "&kf.lock", LOCKORDER_LEAF },
	{ "budget.c", "&b->mutex", LOCKORDER_BUDGET },
	{ "segment_attach.c", "&s->lock",
	  LOCKORDER_BUDGET }, /* attach counts: held across one syscall */
	{ "log.c", "&log_lock", LOCKORDER_LOG },
};

struct held {
	const pthread_mutex_t *m;
	int rank;
	const char *file;
	const char *expr;
};

static __thread struct held held[HELD_MAX];
static __thread unsigned int nheld;

int lockorder_rank_of(const char *file, const char *expr)
{
	const char *base = strrchr(file, '/');

	base = base ? base + 1 : file;
	for (size_t i = 0; i < sizeof(sites) / sizeof(sites[0]); i++)
		if (strcmp(sites[i].file, base) == 0 && strcmp(sites[i].expr, expr) == 0)
			return (int)sites[i].rank;
	return LOCKORDER_UNRANKED;
}

static int site_rank(int *site, const char *file, const char *expr)
{
	int rank = __atomic_load_n(site, __ATOMIC_RELAXED);

	if (rank == LOCKORDER_UNKNOWN) {
		rank = lockorder_rank_of(file, expr);
		__atomic_store_n(site, rank, __ATOMIC_RELAXED);
	}
	return rank;
}

static void violation(const char *why, const struct held *h, int rank, const char *file,
		      const char *expr)
{
	fprintf(stderr,
		"shmfs: lock order: %s: %s (%s, rank %d) taken while holding %s (%s, rank %d); "
		"the order is in src/lockorder.c\n",
		why, expr, file, rank, h->expr, h->file, h->rank);
	abort();
}

int lockorder_lock(pthread_mutex_t *m, int *site, const char *file, const char *expr, bool try)
{
	int rank = site_rank(site, file, expr), ret;

	/* Checked before it waits: a deadlock is reported, not hung.  A
	 * trylock never waits, and may go against the order. */
	if (rank > 0 && !try) {
		for (unsigned int i = 0; i < nheld; i++) {
			if (held[i].m == m)
				violation("taken twice", &held[i], rank, file, expr);
			if (held[i].rank >= rank)
				violation("out of order", &held[i], rank, file, expr);
		}
	}
	ret = try ? (pthread_mutex_trylock)(m) : (pthread_mutex_lock)(m);
	if (ret == 0 && rank > 0) {
		if (nheld == HELD_MAX) {
			fprintf(stderr, "shmfs: lock order: more than %d mutexes held\n", HELD_MAX);
			abort();
		}
		held[nheld++] = (struct held){ .m = m, .rank = rank, .file = file, .expr = expr };
	}
	return ret;
}

int lockorder_unlock(pthread_mutex_t *m)
{
	/* Any order of release is fine; a mutex of an unranked site is not
	 * listed. */
	for (unsigned int i = nheld; i-- > 0;) {
		if (held[i].m == m) {
			memmove(&held[i], &held[i + 1], (nheld - i - 1) * sizeof(held[0]));
			nheld--;
			break;
		}
	}
	return (pthread_mutex_unlock)(m);
}

unsigned int lockorder_held(void)
{
	return nheld;
}
