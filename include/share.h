/* share.h - which semaphore set under a segment's key lends shmfs its
 * lock: the set of an IPC::ShareLite share, of an IPC::Shareable share, or
 * of a program that follows the protocol shmfs documents for outside
 * programs (examples/shmlock.h).  Every other set is left alone: never
 * locked, never woken.
 *
 * The semaphores' shape cannot tell: ShareLite's and Shareable's idle set
 * reads 1 0 0 and one with a reader 1 1 0, which is also PHP's sysvsem set
 * while a worker holds it (max_acquire 1, usage 1), a program's three
 * mutexes with one taken, or a mutex, an item count and a slot flag.  So a
 * set lends its lock only with one of three proofs:
 *   - ShareLite: the segment starts with ShareLite's header (sharestuff.c:
 *     next_shmid, length, shm_state, version, native ints) in a state its
 *     code reaches: version >= shm_state >= 1 (both start at 1; a store
 *     bumps version, and shm_state only when it frees segments), the
 *     length fits this segment when there is no next segment, and spills
 *     (or is 0, a store under way) when there is one, which must be a
 *     segment of the same size;
 *   - Shareable: the segment starts with the tag "IPC::Shareable" and a
 *     Storable image (the default serializer; its JSON one writes bare
 *     JSON, which any program may: left alone, as is a share never stored);
 *   - the shmfs protocol: the set has 5 semaphores, semaphores 3 and 4 at
 *     SHARE_MARK_3 and SHARE_MARK_4 ("SHFM").  Semaphore values are what
 *     programs change, but a program reaches these two only by setting
 *     them on purpose: they are no count nor flag (29 bits chosen, in a set
 *     of exactly 5), and the protocol's own semops never touch them.  The
 *     segment's bytes are left out of it: they are the program's (text, a
 *     struct), and shmfs writes them as a user asks.
 * Each also needs the set in a state the lock protocol reaches (semaphore
 * 0 at 1, at most one writer, never readers and a writer at once) and made
 * by root, the segment's owner or its creator (no one plants a lock on
 * someone else's segment).
 *
 * ShareLite values longer than a segment continue in segments with later
 * keys (the first free of K+1, K+2, ... at the store), each with a header
 * (next_shmid, then length, shm_state and version left at 0), and no set of
 * their own: ShareLite guards the whole chain with the first segment's
 * lock.  share_chain_set() finds that lock by following the chain from its
 * first segment.
 *
 * Knows nothing of FUSE.  The classification is pure; share_lock_set() and
 * share_chain_set() read the kernel's sets and segments, create nothing and
 * change no value.
 */
#ifndef SHMFS_SHARE_H
#define SHMFS_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "segment.h"

enum share_kind {
	SHARE_NONE,	 /* left alone */
	SHARE_SHARELITE, /* IPC::ShareLite's header starts the segment */
	SHARE_SHAREABLE, /* IPC::Shareable's tag and a Storable image */
	SHARE_SHMFS,	 /* the set carries the shmfs protocol's mark */
};

/* The protocol's semaphores. */
#define SHARE_SEM_INIT	  0 /* 1 once the share is initialised (ShareLite's mark) */
#define SHARE_SEM_READERS 1
#define SHARE_SEM_WRITER  2
#define SHARE_SEM_MARK_3  3 /* the shmfs protocol's mark, semaphores 3 and 4 */
#define SHARE_SEM_MARK_4  4

/* ShareLite and Shareable make 3 semaphores; the shmfs protocol 5. */
#define SHARE_NSEMS_PERL 3
#define SHARE_NSEMS_MARK 5
#define SHARE_MARK_3	 0x5348 /* "SH", below SEMVMX (32767) */
#define SHARE_MARK_4	 0x464d /* "FM" */

/* How far share_chain_set() looks: keys below, first segments tried,
 * segments of a chain followed.  A ShareLite process takes the first free
 * key above its last continuation's, so a long-lived writer's keys drift
 * upwards; beyond these bounds a continuation gets the private lock. */
#define SHARE_CHAIN_KEYS   4096
#define SHARE_CHAIN_FIRSTS 8
#define SHARE_CHAIN_MAX	   4096
/* With at most this many sets in the namespace, the keys below are found
 * by one pass over the sets rather than a semget per key. */
#define SHARE_CHAIN_LISTED 256

/* The bytes of a segment's start the recognizer looks at. */
#define SHARE_HEAD_BYTES 32

/* ShareLite's header, in the machine's byte order (sharestuff.c). */
struct sharelite_header {
	int32_t next_shmid; /* -1, or the chain's next segment */
	int32_t length;	    /* bytes stored, in the first segment; 0 in the others */
	uint32_t shm_state; /* first segment: from 1, bumped when segments are freed */
	int32_t version;    /* first segment: from 1, bumped by every store */
};

/* A set as IPC_STAT and GETALL show it: its size and its first values. */
struct share_set {
	unsigned int nsems;
	unsigned short val[SHARE_NSEMS_MARK];
};

/* The header at head (at least sizeof(struct sharelite_header) bytes). */
void share_header(const void *head, struct sharelite_header *out);

/* Whether set is in a state the lock protocol reaches, with the shape of a
 * Perl share's set (3 semaphores) or the shmfs mark (5, marked). */
bool share_set_in_protocol(const struct share_set *set);

/* Whether head (len bytes of a segment of size bytes) starts with the
 * header of a ShareLite share's first segment. */
bool share_is_sharelite_first(const void *head, size_t len, uint64_t size);

/* Whether head starts with the header of a ShareLite continuation; its
 * next_shmid in *next (may be NULL). */
bool share_is_sharelite_next(const void *head, size_t len, uint64_t size, int32_t *next);

/* Whether head starts with IPC::Shareable's tag and a Storable image. */
bool share_is_shareable(const void *head, size_t len);

/* The kind of share a segment is, from its key's set and its first bytes
 * (head may be NULL, len 0: unknown, then only the shmfs mark counts).
 * SHARE_NONE: leave the set alone. */
enum share_kind share_classify(const struct share_set *set, const void *head, size_t len,
			       uint64_t size);

const char *share_kind_name(enum share_kind kind);

/* Whether seg can have a set of its key at all: not without a key
 * (IPC_PRIVATE, or removed: IPC_RMID clears the key), nor once marked
 * for destruction.  When false, no set lends seg its lock and its first
 * bytes choose nothing (they need not be read). */
bool share_keyed(const struct segment_info *seg);

/* The set with seg's key, if made by root or seg's owner or creator, and
 * its state: semid, or -ENOENT (no key, marked for destruction, no set,
 * another's set, one not readable).  Creates nothing. */
int share_key_set(const struct segment_info *seg, struct share_set *state);

/* Whether semid (chosen for seg by share_lock_set or share_chain_set)
 * still may lend its lock: made by root or seg's owner or creator, in a
 * state the protocol reaches. */
bool share_set_lends(int semid, const struct segment_info *seg);

/* The set of seg's key if seg is a share of one of the kinds above, from
 * its first len bytes at head (NULL: unknown): semid (and *kind, if not
 * NULL), or -ENOENT.  Creates and changes nothing. */
int share_lock_set(const struct segment_info *seg, const void *head, size_t len,
		   enum share_kind *kind);

/* The lock of the ShareLite share seg continues (seg's first len bytes
 * at head are a continuation's header): the set of the first segment
 * whose chain, followed as ShareLite follows it, reaches seg.  semid or
 * -ENOENT.  Looks at the keys below seg's (SHARE_CHAIN_KEYS at most, and
 * at most SHARE_CHAIN_FIRSTS first segments with a set that may lock seg,
 * of seg's size), and at the first SHARE_HEAD_BYTES of the segments of
 * their chains, each through a read-only attachment held for the copy
 * only; not at all under kernel.shm_rmid_forced (a detach could destroy
 * a segment).  Creates and changes nothing else. */
int share_chain_set(const struct segment_info *seg, const void *head, size_t len);

#endif
