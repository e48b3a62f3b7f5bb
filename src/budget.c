/* budget.c - per-user budgets. */
#include <pthread.h>
#include <stdlib.h>

#include "array.h"
#include "budget.h"

struct holder {
	uid_t uid;
	size_t held;
};

struct budget {
	/* Guards the holders.  Taken under any mutex of ours but the log's
	 * (lockorder.h), and takes none. */
	pthread_mutex_t mutex;
	size_t max;
	struct holder *v; /* users holding one or more; few at a time */
	size_t n, cap;
};

struct budget *budget_new(size_t max)
{
	struct budget *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	pthread_mutex_init(&b->mutex, NULL);
	b->max = max;
	return b;
}

void budget_free(struct budget *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->mutex);
	free(b->v);
	free(b);
}

static struct holder *find_locked(struct budget *b, uid_t uid)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].uid == uid)
			return &b->v[i];
	return NULL;
}

bool budget_take_n(struct budget *b, uid_t uid, size_t n)
{
	struct holder *h;
	bool ok = false;

	pthread_mutex_lock(&b->mutex);
	h = find_locked(b, uid);
	if (!h) {
		struct holder *v = array_grow(b->v, b->n, &b->cap, sizeof(*v));

		if (!v)
			goto out;
		b->v = v;
		h = &b->v[b->n++];
		*h = (struct holder){ .uid = uid };
	}
	if (b->max == 0 || (n <= b->max && h->held <= b->max - n)) {
		h->held += n;
		ok = true;
	} else if (h->held == 0) {
		*h = b->v[--b->n]; /* users holding none are forgotten */
	}
out:
	pthread_mutex_unlock(&b->mutex);
	return ok;
}

void budget_give_n(struct budget *b, uid_t uid, size_t n)
{
	struct holder *h;

	pthread_mutex_lock(&b->mutex);
	h = find_locked(b, uid);
	if (h) {
		h->held = h->held > n ? h->held - n : 0;
		if (h->held == 0)
			*h = b->v[--b->n]; /* users holding none are forgotten */
	}
	pthread_mutex_unlock(&b->mutex);
}

bool budget_take(struct budget *b, uid_t uid)
{
	return budget_take_n(b, uid, 1);
}

void budget_give(struct budget *b, uid_t uid)
{
	budget_give_n(b, uid, 1);
}

size_t budget_held(struct budget *b, uid_t uid)
{
	struct holder *h;
	size_t n;

	pthread_mutex_lock(&b->mutex);
	h = find_locked(b, uid);
	n = h ? h->held : 0;
	pthread_mutex_unlock(&b->mutex);
	return n;
}

size_t budget_users(struct budget *b)
{
	size_t n;

	pthread_mutex_lock(&b->mutex);
	n = b->n;
	pthread_mutex_unlock(&b->mutex);
	return n;
}
