/* fs_make.c - the making of a segment for a name being created in
 * by-key/, in the FUSE layer: the key's ShareLite set and shmget as the
 * creator, IPC_SET to the owner chosen, the bytes copied in, the open
 * file for the creator's further requests.  Done when pending.c answers
 * PENDING_MAKE, holding nothing of pending.c's (other calls on that name
 * wait for pending_made()).  Nothing here waits while holding anything
 * shared: the lock of the new segment is tried, never waited for (EBUSY).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "attach.h"
#include "fs_create.h"
#include "fs_io.h"
#include "identity.h"
#include "lock.h"
#include "pending.h"
#include "segment.h"

/* The key's ShareLite set made as the creator, unless the key has a set
 * already, its lock held: 0 with set (semid -1 if the key has one), or
 * -errno (-EBUSY: a program of the creator's took the fresh set's lock
 * meanwhile; that set is then left alone, not provably ours any more). */
static int creation_set(const struct pending_info *info, struct lock_made *set)
{
	struct segment_ids saved;
	int ret;

	set->semid = -1;
	ret = segment_thread_become(info->cuid, info->cgid, &saved);
	if (ret)
		return ret;
	ret = lock_create_sharelite(info->key, info->mode, set);
	segment_thread_restore(&saved);
	if (ret < 0) {
		set->semid = -1;
		return ret == -EEXIST ? 0 : ret;
	}
	/* A fresh set: free, unless a program of the user's took it
	 * meanwhile.  Tried, never waited for. */
	ret = lock_acquire(set->semid, LOCK_MODE_EXCLUSIVE, 0, NULL, NULL);
	if (ret) {
		set->semid = -1;
		return ret == -ETIMEDOUT || ret == -EAGAIN ? -EBUSY : ret;
	}
	return 0;
}

/* shmget as the creator, and IPC_SET to the owner chosen with the
 * creator's ids (the kernel's owner rule); before it, the key's ShareLite
 * set as the creator, unless the key has one.  set: that fresh set, its
 * lock held, or semid -1.  The segment's shmid or -errno; on failure
 * nothing is left but a fresh set another took the lock of or changed. */
static int creation_shmget(const struct pending_info *info, size_t size, struct lock_made *set)
{
	const struct segment_caller creator = { .uid = info->cuid, .gid = info->cgid };
	struct segment_ids saved;
	int shmid, ret = creation_set(info, set);

	if (ret)
		return ret;
	shmid = segment_create(info->key, size, info->mode, info->cuid, info->cgid);
	if (shmid < 0) {
		/* EINVAL: beyond shmmax; ENOMEM: no memory for a size that big */
		ret = shmid == -EINVAL || shmid == -ENOMEM ? -EFBIG : shmid;
		goto fail;
	}
	if (info->uid != info->cuid || info->gid != info->cgid) {
		ret = segment_set_perm_as(shmid, info->uid, info->gid, info->mode, &creator);
		if (ret) {
			/* removed as the creator: a shmid given to someone else's
			 * segment meanwhile is not the creator's to remove */
			if (segment_thread_become(info->cuid, info->cgid, &saved) == 0) {
				segment_remove(shmid);
				segment_thread_restore(&saved);
			}
			goto fail;
		}
	}
	return shmid;
fail:
	if (set->semid >= 0) {
		lock_release(set->semid, LOCK_MODE_EXCLUSIVE);
		/* made by this call, for nothing; if still provably that set */
		lock_remove_made(set);
		set->semid = -1;
	}
	return ret;
}

/* IPC_RMID of a segment made here, for nothing (attach_act()). */
static int remove_made(const struct identity_pin *pin, void *ctx)
{
	return segment_remove(pin->held.shmid);
}

/* Under the lock of the fresh set made with the segment made: its first n
 * bytes of data in through an attachment of our own (pin, which the
 * caller lets go of), then the set marked and its lock let go.  0 or
 * -errno (-EBUSY: a process of the creator's removed or changed the set
 * meanwhile). */
static int fill_under_fresh_set(const struct segment_identity *made, struct lock_made *set,
				const char *data, size_t n, struct identity_pin *pin)
{
	int ret = 0;

	if (n)
		ret = identity_pin(made, PIN_WRITABLE | PIN_FRESH, pin);
	if (ret == 0 && n)
		memcpy(pin->addr, data, n);
	if (ret == 0)
		ret = lock_mark_made(set);
	if (ret == -ESTALE)
		ret = -EBUSY;
	lock_release(set->semid, LOCK_MODE_EXCLUSIVE);
	return ret;
}

/* A making that failed: nothing of it left (its open file, the segment
 * if still provably the one made, the fresh set made with it). */
static void undo_making(struct shmfs *fs, struct open_file *of, const struct segment_identity *made,
			struct lock_made *set)
{
	if (of)
		open_file_close(fs, of);
	attach_act(fs->attaches, made, remove_made, NULL);
	if (set->semid >= 0)
		lock_remove_made(set);
}

/* What pending.c asked for (PENDING_MAKE): the segment with the first
 * len bytes of data in it, and an open file of it (the handle pending.c
 * keeps).  With a fresh ShareLite set, the bytes go in through an
 * attachment of our own under its lock, then the set is marked and let
 * go, and only then the open file is made, so that it chooses that set.
 * On failure nothing is left. */
static int make_segment(struct shmfs *fs, const struct pending_make *mk, struct open_file **file,
			int *shmid_out)
{
	const struct pending_info *info = &mk->info;
	const char *data = mk->data;
	size_t size = mk->size;
	struct open_file *of = NULL;
	size_t n = mk->len < size ? mk->len : size;
	struct identity_pin pin = { .addr = NULL, .fd = -1 };
	struct segment_identity made;
	struct lock_made set;
	int shmid, ret = 0;

	shmid = creation_shmget(info, size, &set);
	if (shmid < 0)
		return shmid;
	/* the lifetime made here: its creator, our pid, its size; every act
	 * below is on it, never on whatever has the shmid by then */
	made = (struct segment_identity){ .shmid = shmid,
					  .cpid = getpid(),
					  .cuid = info->cuid,
					  .cgid = info->cgid,
					  .size = size };
	if (set.semid >= 0)
		ret = fill_under_fresh_set(&made, &set, data, n, &pin);
	if (ret == 0)
		ret = open_file_new(fs, &made, true, true, false, info->cuid, NULL, NULL, &of);
	/* after the open file attached: under kernel.shm_rmid_forced the
	 * last detach destroys the segment */
	identity_unpin(&pin);
	/* Once, without waiting: someone holding the lock of the key's set
	 * found it, and no creation waits on another user. */
	if (ret == 0 && set.semid < 0 && n)
		ret = open_file_fill(fs, of, data, n);
	if (ret) {
		undo_making(fs, of, &made, &set);
		return ret;
	}
	*file = of;
	*shmid_out = shmid;
	return 0;
}

int fs_make_asked(struct shmfs *fs, struct pending *p, int ret, const struct pending_make *mk)
{
	struct open_file *of = NULL;
	int shmid = -1;

	if (ret != PENDING_MAKE)
		return ret;
	ret = make_segment(fs, mk, &of, &shmid);
	return pending_made(fs->pending, p, ret, of, shmid);
}
