/* segment_attach.c - the daemon's attachments of System V segments: every
 * shmat(2) of the daemon's is here, counted per slot of shmids (what lets
 * identity.c prove a lifetime again by a look), and never copied into a
 * child (MADV_DONTFORK, and a fork gate for the lock helper's clone).
 * Declared in segment.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include "segment.h"
#include "sysvipc.h"

/* Every attach this process makes is counted, per slot of shmids, under
 * the slot's mutex, with the shmat(2) itself: a count unchanged since an
 * attach of this process's proves that this process attached nothing of
 * the slot meanwhile (segment_stat_since()).  A leaf: nothing is taken
 * under it, and it is held across one shmat(2) or IPC_STAT only. */
#define ATTACH_SLOTS 256
static struct attach_slot {
	pthread_mutex_t lock;
	uint64_t attaches;
} attach_slots[ATTACH_SLOTS] = { [0 ... ATTACH_SLOTS - 1] = { PTHREAD_MUTEX_INITIALIZER, 0 } };

static struct attach_slot *slot_of(int shmid)
{
	return &attach_slots[(unsigned int)shmid % ATTACH_SLOTS];
}

/* Held shared from a shmat(2) until its mapping is MADV_DONTFORK, and
 * exclusively across a fork of the daemon's (segment_fork_gate()): a
 * child never gets a copy of an attachment, which the kernel would count
 * as an attach at the fork and a detach at the child's exit (lpid, dtime,
 * nattch of another user's segment; under shm_rmid_forced=1 the last
 * detach destroys it).  Not a mutex of lockorder.h: nothing is taken
 * under it but a slot's mutex. */
static pthread_rwlock_t fork_gate = PTHREAD_RWLOCK_INITIALIZER;

void segment_fork_gate(bool forking)
{
	if (forking)
		pthread_rwlock_wrlock(&fork_gate);
	else
		pthread_rwlock_unlock(&fork_gate);
}

/* The attachment at p, of the segment shmid names (the attachment pins
 * it, so *held, its IPC_STAT, is the segment attached): never copied into
 * a child.  Its mapping is the segment's size in pages, or in huge pages
 * for SHM_HUGETLB (madvise must cover those whole). */
static int dont_fork(int shmid, void *p, struct segment_info *held)
{
	static const size_t page_sizes[] = { 4096, 2u << 20, 1u << 30 };
	int ret = segment_stat(shmid, false, held);

	if (ret)
		return ret;
	for (size_t i = 0; i < sizeof(page_sizes) / sizeof(page_sizes[0]); i++) {
		size_t len = (held->size + page_sizes[i] - 1) & ~(page_sizes[i] - 1);

		if (madvise(p, len, MADV_DONTFORK) == 0)
			return 0;
		if (errno != EINVAL)
			break;
	}
	return -errno;
}

int segment_attach_counted(int shmid, bool writable, void **addr, uint64_t *count,
			   struct segment_info *held)
{
	struct attach_slot *s = slot_of(shmid);
	struct segment_info seg;
	void *p;
	int err;

	pthread_rwlock_rdlock(&fork_gate);
	pthread_mutex_lock(&s->lock);
	*count = ++s->attaches;
	p = shmat(shmid, NULL, writable ? 0 : SHM_RDONLY);
	err = errno;
	pthread_mutex_unlock(&s->lock);
	/* no attachment the daemon cannot keep from its children */
	if (p != (void *)-1 && (err = -dont_fork(shmid, p, held ? held : &seg)) != 0) {
		shmdt(p);
		p = (void *)-1;
	}
	pthread_rwlock_unlock(&fork_gate);
	if (p == (void *)-1)
		return sysvipc_gone_or(err);
	*addr = p;
	return 0;
}

int segment_attach(int shmid, bool writable, void **addr)
{
	uint64_t count;

	return segment_attach_counted(shmid, writable, addr, &count, NULL);
}

uint64_t segment_attach_count(int shmid)
{
	struct attach_slot *s = slot_of(shmid);
	uint64_t count;

	pthread_mutex_lock(&s->lock);
	count = s->attaches;
	pthread_mutex_unlock(&s->lock);
	return count;
}

bool segment_attached_since(int shmid, uint64_t count)
{
	struct attach_slot *s = slot_of(shmid);
	bool since;

	pthread_mutex_lock(&s->lock);
	since = s->attaches != count;
	pthread_mutex_unlock(&s->lock);
	return since;
}

int segment_stat_since(int shmid, uint64_t count, struct segment_info *out)
{
	struct attach_slot *s = slot_of(shmid);
	int ret = -EAGAIN;

	pthread_mutex_lock(&s->lock);
	if (s->attaches == count)
		ret = segment_stat(shmid, false, out);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int segment_detach(void *addr)
{
	return shmdt(addr) == 0 ? 0 : -errno;
}
