/* privlock.c - the private lock inside the daemon. */
#include <assert.h>
#include <string.h>

#include "privlock.h"

void privlock_init(struct privlock *l)
{
	memset(l, 0, sizeof(*l));
	l->tail = &l->head;
}

static bool admits(const struct privlock *l, bool exclusive)
{
	return exclusive ? !l->writer && l->readers == 0 : !l->writer;
}

static void grant(struct privlock *l, bool exclusive, pid_t pid)
{
	if (exclusive) {
		l->writer = true;
		l->writer_pid = pid;
	} else {
		l->readers++;
	}
	l->last_pid = pid;
	l->last_op = time(NULL);
}

bool privlock_take(struct privlock *l, bool exclusive, pid_t pid, struct privlock_waiter *w)
{
	if (!l->head && admits(l, exclusive)) {
		grant(l, exclusive, pid);
		return true;
	}
	if (w) {
		w->exclusive = exclusive;
		w->pid = pid;
		w->next = NULL;
		*l->tail = w;
		l->tail = &w->next;
	}
	return false;
}

/* The waiters at the head the lock admits now, granted and dequeued. */
static struct privlock_waiter *admit_head(struct privlock *l)
{
	struct privlock_waiter *first = NULL, **last = &first;

	while (l->head && admits(l, l->head->exclusive)) {
		struct privlock_waiter *w = l->head;

		l->head = w->next;
		if (!l->head)
			l->tail = &l->head;
		grant(l, w->exclusive, w->pid);
		w->next = NULL;
		*last = w;
		last = &w->next;
	}
	return first;
}

struct privlock_waiter *privlock_release(struct privlock *l, bool exclusive)
{
	if (exclusive) {
		assert(l->writer);
		l->writer = false;
		l->writer_pid = 0;
	} else {
		assert(l->readers > 0);
		l->readers--;
	}
	l->last_op = time(NULL);
	return admit_head(l);
}

bool privlock_cancel(struct privlock *l, struct privlock_waiter *w,
		     struct privlock_waiter **granted)
{
	*granted = NULL;
	for (struct privlock_waiter **link = &l->head; *link; link = &(*link)->next) {
		if (*link != w)
			continue;
		*link = w->next;
		if (l->tail == &w->next)
			l->tail = link;
		w->next = NULL;
		*granted = admit_head(l);
		return true;
	}
	return false;
}

bool privlock_idle(const struct privlock *l)
{
	return !l->writer && l->readers == 0 && !l->head;
}

unsigned int privlock_waiting(const struct privlock *l)
{
	unsigned int n = 0;

	for (const struct privlock_waiter *w = l->head; w; w = w->next)
		n++;
	return n;
}

void privlock_state(const struct privlock *l, struct lock_state *out)
{
	memset(out, 0, sizeof(*out));
	out->readers = l->readers;
	out->writer = l->writer ? l->writer_pid : 0;
	out->last_pid = l->last_pid;
	out->last_op = l->last_op;
	/* As the kernel counts a set's waiters: everyone behind a writer
	 * waits for it; behind readers only, the first writer waits for
	 * them and those after it for that writer. */
	for (const struct privlock_waiter *w = l->head; w; w = w->next) {
		if (w == l->head && !l->writer)
			out->waiting_for_readers++;
		else
			out->waiting_for_writer++;
	}
}
