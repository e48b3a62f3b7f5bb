/* budget.h - per-user budgets: how many of something each user may hold
 * at once, so that one user's load is that user's problem.  Thread-safe.
 * Knows nothing of FUSE. */
#ifndef SHMFS_BUDGET_H
#define SHMFS_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct budget;

/* Each user may hold at most max (0: no limit). */
struct budget *budget_new(size_t max);
void budget_free(struct budget *b);

/* Take one for uid: true, or false when uid holds max already (or no
 * memory to count it).  uid 0 is bounded too: root's waits are no less
 * a load. */
bool budget_take(struct budget *b, uid_t uid);
void budget_give(struct budget *b, uid_t uid);
/* The same for n at once (a budget of bytes). */
bool budget_take_n(struct budget *b, uid_t uid, size_t n);
void budget_give_n(struct budget *b, uid_t uid, size_t n);
/* How many uid holds. */
size_t budget_held(struct budget *b, uid_t uid);
/* How many users hold one or more. */
size_t budget_users(struct budget *b);

#endif
