/* pending.c - names being created in by-key/ (see pending.h). */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "pending.h"

struct pending {
	uint64_t serial; /* this creation's, from the table's count: never reused */
	int32_t key;
	unsigned int mode;
	uid_t cuid, uid;
	gid_t cgid, gid;
	int shmid;  /* -1 until made */
	void *file; /* the caller's handle of it, once made (pending_made()) */
	char *data;
	size_t len;
	unsigned int opens; /* open files (pending_get) */
	unsigned int refs;  /* opens and holds: freed at 0 */
	bool making;	    /* a PENDING_MAKE answered, pending_made() not yet */
	int failed;	    /* -errno of a failed write or making; 0 */
	struct pending *next;
};

struct pending_table {
	/* Guards the names, their bytes and counts, and the users' charges;
	 * made is waited on under it for one name's making, which the
	 * caller does without it (between PENDING_MAKE and pending_made()).
	 * A leaf (lockorder.h): takes only the mutex of bytes (a budget). */
	pthread_mutex_t lock;
	pthread_cond_t made; /* a making ended */
	size_t budget;
	/* Names being created: none made (shmid -1), at most one for each
	 * (key, creator).  A name made leaves this list for made_names: it names
	 * a lifetime, no creation any more, so a creation of its key again
	 * is a name of its own (principle 3: a removed lifetime's file is
	 * never reached by a new name).  Its open files and holds keep it by
	 * their references. */
	struct pending *names;
	struct pending *made_names;
	struct budget *bytes; /* each creator's bytes gathered, up to budget */
	uint64_t serials;     /* creations so far */
};

struct pending_table *pending_table_new(size_t budget)
{
	struct pending_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	/* budget 0: nothing may be gathered (charge_locked() refuses any
	 * byte before the budget, where 0 means no limit, is asked) */
	t->bytes = budget_new(budget);
	if (!t->bytes) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->made, NULL);
	t->budget = budget;
	return t;
}

static void free_list(struct pending *p)
{
	while (p) {
		struct pending *next = p->next;

		free(p->data);
		free(p);
		p = next;
	}
}

void pending_table_free(struct pending_table *t)
{
	if (!t)
		return;
	free_list(t->names);
	free_list(t->made_names);
	budget_free(t->bytes);
	pthread_cond_destroy(&t->made);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* ---- budgets ---------------------------------------------------------------- */

/* Count n more bytes against uid's budget: 0, -EFBIG beyond it, -ENOMEM.
 * Only calls under t->lock change t->bytes, so what it holds is known. */
static int charge_locked(struct pending_table *t, uid_t uid, size_t n)
{
	size_t held;

	if (n > t->budget)
		return -EFBIG;
	if (budget_take_n(t->bytes, uid, n))
		return 0;
	held = budget_held(t->bytes, uid);
	return held > t->budget - n ? -EFBIG : -ENOMEM;
}

static void uncharge_locked(struct pending_table *t, uid_t uid, size_t n)
{
	budget_give_n(t->bytes, uid, n);
}

/* ---- the names ---------------------------------------------------------------- */

static void drop_data_locked(struct pending_table *t, struct pending *p)
{
	uncharge_locked(t, p->cuid, p->len);
	free(p->data);
	p->data = NULL;
	p->len = 0;
}

static struct pending *find_in(struct pending *list, int32_t key, uid_t uid)
{
	for (struct pending *p = list; p; p = p->next)
		if (p->key == key && p->cuid == uid)
			return p;
	return NULL;
}

/* The name uid is creating for key: never a made one. */
static struct pending *find_locked(struct pending_table *t, int32_t key, uid_t uid)
{
	struct pending *p = find_in(t->names, key, uid);

	assert(!p || (p->shmid < 0 && !find_in(p->next, key, uid)));
	return p;
}

/* A name for requests that come without their file (fstat, fchmod): the
 * creation serial of uid's for key, being created or made (while a file
 * of it is open); serial 0: the one being created, else the one of uid's
 * made last for key. */
static struct pending *find_any_locked(struct pending_table *t, int32_t key, uid_t uid,
				       uint64_t serial)
{
	struct pending *p = find_locked(t, key, uid);

	if (serial == 0)
		return p ? p : find_in(t->made_names, key, uid);
	if (p && p->serial == serial)
		return p;
	for (p = t->made_names; p; p = p->next)
		if (p->key == key && p->cuid == uid && p->serial == serial)
			return p;
	return NULL;
}

static void unlink_locked(struct pending **list, struct pending *p)
{
	for (struct pending **pp = list; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static void info_locked(const struct pending *p, struct pending_info *info)
{
	*info = (struct pending_info){
		.key = p->key,
		.mode = p->mode,
		.cuid = p->cuid,
		.cgid = p->cgid,
		.uid = p->uid,
		.gid = p->gid,
		.len = p->len,
		.shmid = p->shmid,
		.file = p->file,
		.serial = p->serial,
	};
}

/* Until no thread makes p: then its data, size and owner may change and
 * p->shmid says whether it is made.  Waits only for p's own making. */
static void wait_made_locked(struct pending_table *t, struct pending *p)
{
	while (p->making)
		pthread_cond_wait(&t->made, &t->lock);
}

/* Drop a reference; at the last, unlink p and return its file for the
 * caller to let go of, or NULL.  A making holds a reference. */
static void *unref_locked(struct pending_table *t, struct pending *p)
{
	void *file;

	if (--p->refs > 0)
		return NULL;
	assert(!p->making);
	unlink_locked(p->shmid >= 0 ? &t->made_names : &t->names, p);
	file = p->file;
	drop_data_locked(t, p);
	free(p);
	return file;
}

static void *unref(struct pending_table *t, struct pending *p)
{
	void *file = unref_locked(t, p);

	pthread_mutex_unlock(&t->lock);
	return file;
}

int pending_get(struct pending_table *t, int32_t key, uid_t uid, gid_t gid, unsigned int mode,
		bool create, struct pending **out, bool *created, struct pending_info *info)
{
	struct pending *p;

	*created = false;
	if (!t)
		return create ? -ENOMEM : -ENOENT;
	pthread_mutex_lock(&t->lock);
	p = find_locked(t, key, uid);
	if (!p && create) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
		p->serial = ++t->serials;
		p->key = key;
		p->mode = mode & 0777;
		p->cuid = p->uid = uid;
		p->cgid = p->gid = gid;
		p->shmid = -1;
		p->next = t->names;
		t->names = p;
		*created = true;
	}
	if (p) {
		p->opens++;
		p->refs++;
		info_locked(p, info);
		*out = p;
	}
	pthread_mutex_unlock(&t->lock);
	return p ? 0 : -ENOENT;
}

void *pending_put(struct pending_table *t, struct pending *p)
{
	pthread_mutex_lock(&t->lock);
	p->opens--;
	return unref(t, p);
}

int pending_reopen(struct pending_table *t, int32_t key, uid_t uid, uint64_t serial,
		   struct pending **out, struct pending_info *info)
{
	struct pending *p;

	if (!t)
		return -ENOENT;
	pthread_mutex_lock(&t->lock);
	p = find_locked(t, key, uid);
	if (p && p->serial == serial) {
		p->opens++;
		p->refs++;
		info_locked(p, info);
		*out = p;
	} else {
		p = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	return p ? 0 : -ENOENT;
}

int pending_hold(struct pending_table *t, int32_t key, uid_t uid, uint64_t serial,
		 struct pending **out)
{
	struct pending *p;

	if (!t)
		return -ENOENT;
	pthread_mutex_lock(&t->lock);
	p = find_any_locked(t, key, uid, serial);
	if (p) {
		p->refs++;
		*out = p;
	}
	pthread_mutex_unlock(&t->lock);
	return p ? 0 : -ENOENT;
}

void *pending_unhold(struct pending_table *t, struct pending *p)
{
	pthread_mutex_lock(&t->lock);
	return unref(t, p);
}

int pending_find(struct pending_table *t, int32_t key, uid_t uid, struct pending_info *info)
{
	struct pending *p;

	if (!t)
		return -ENOENT;
	pthread_mutex_lock(&t->lock);
	p = find_locked(t, key, uid);
	if (p)
		info_locked(p, info);
	pthread_mutex_unlock(&t->lock);
	return p ? 0 : -ENOENT;
}

void pending_info_of(struct pending_table *t, struct pending *p, struct pending_info *info)
{
	pthread_mutex_lock(&t->lock);
	info_locked(p, info);
	pthread_mutex_unlock(&t->lock);
}

/* ---- making the segment ----------------------------------------------------- */

/* Ask the caller to make p's segment with size bytes unless made:
 * PENDING_MAKE with mk filled, or 0.  Until pending_made(), p->making
 * keeps p and the bytes mk points to unchanged (every other call on p
 * waits for it) and the caller's reference keeps p. */
static int make_locked(struct pending_table *t, struct pending *p, size_t size,
		       struct pending_make *mk)
{
	wait_made_locked(t, p);
	if (p->shmid >= 0)
		return 0;
	p->making = true;
	info_locked(p, &mk->info);
	mk->data = p->data;
	mk->len = p->len;
	mk->size = size;
	return PENDING_MAKE;
}

int pending_made(struct pending_table *t, struct pending *p, int err, void *file, int shmid)
{
	pthread_mutex_lock(&t->lock);
	assert(p->making && p->shmid < 0);
	p->making = false;
	pthread_cond_broadcast(&t->made);
	if (err) {
		p->failed = err;
	} else {
		p->file = file;
		p->shmid = shmid;
		drop_data_locked(t, p);
		unlink_locked(&t->names, p);
		p->next = t->made_names;
		t->made_names = p;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

static size_t default_size_of(const struct pending *p, size_t default_size)
{
	return p->len > default_size ? p->len : default_size;
}

int pending_gather(struct pending_table *t, struct pending *p, const char *buf, size_t size,
		   off_t off, void **file)
{
	size_t end;
	char *grown;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	wait_made_locked(t, p);
	if (p->shmid >= 0) {
		*file = p->file;
		pthread_mutex_unlock(&t->lock);
		return PENDING_MADE;
	}
	if (off < 0 || (uint64_t)off > t->budget || size > t->budget - (uint64_t)off) {
		ret = -EFBIG;
		goto out;
	}
	end = (size_t)off + size;
	if (end > p->len) {
		ret = charge_locked(t, p->cuid, end - p->len);
		if (ret)
			goto out;
		grown = realloc(p->data, end);
		if (!grown) {
			uncharge_locked(t, p->cuid, end - p->len);
			ret = -ENOMEM;
			goto out;
		}
		memset(grown + p->len, 0, end - p->len);
		p->data = grown;
		p->len = end;
	}
	memcpy(p->data + off, buf, size);
out:
	/* What was written is incomplete: a close makes nothing. */
	if (ret)
		p->failed = ret;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int pending_copy_out(struct pending_table *t, struct pending *p, char *buf, size_t size, off_t off,
		     size_t *n, void **file)
{
	pthread_mutex_lock(&t->lock);
	wait_made_locked(t, p);
	if (p->shmid >= 0) {
		*file = p->file;
		pthread_mutex_unlock(&t->lock);
		return PENDING_MADE;
	}
	*n = 0;
	if (off >= 0 && (uint64_t)off < p->len) {
		*n = p->len - (size_t)off < size ? p->len - (size_t)off : size;
		memcpy(buf, p->data + off, *n);
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int pending_change(struct pending_table *t, struct pending *p, uid_t caller,
		   const struct pending_change *c, size_t default_size, void **file,
		   struct pending_make *mk)
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (caller != 0 && caller != p->cuid) {
		ret = -EPERM;
		goto out;
	}
	wait_made_locked(t, p);
	if (p->shmid >= 0) {
		*file = p->file;
		ret = PENDING_MADE;
		goto out;
	}
	if (c->what & PENDING_SET_MODE)
		p->mode = c->mode & 0777;
	if (c->what & PENDING_SET_UID)
		p->uid = c->uid;
	if (c->what & PENDING_SET_GID)
		p->gid = c->gid;
	if ((c->what & PENDING_SET_SIZE) && c->size == 0)
		/* dd and O_TRUNC truncate to 0 first: nothing to make yet */
		drop_data_locked(t, p);
	else if (c->what & PENDING_SET_SIZE)
		ret = c->size > SIZE_MAX ? -EFBIG : make_locked(t, p, (size_t)c->size, mk);
	/* touch: the name exists from now on, at the default size (unless
	 * a size makes it already) */
	if (ret == 0 && (c->what & PENDING_SET_TOUCH))
		ret = make_locked(t, p, default_size_of(p, default_size), mk);
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int pending_on_flush(struct pending_table *t, struct pending *p, size_t default_size,
		     struct pending_make *mk)
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	wait_made_locked(t, p);
	if (p->shmid < 0 && p->failed)
		ret = p->failed;
	else if (p->len > 0)
		ret = make_locked(t, p, default_size_of(p, default_size), mk);
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int pending_on_release(struct pending_table *t, struct pending *p, size_t default_size,
		       struct pending_make *mk)
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	wait_made_locked(t, p);
	if (--p->opens == 0 && p->shmid < 0 && !p->failed)
		ret = make_locked(t, p, default_size_of(p, default_size), mk);
	pthread_mutex_unlock(&t->lock);
	return ret;
}
