/* node.h - the node table: the node ids the kernel holds, one per
 * (kind of name, object lifetime).
 *
 * The kernel recycles shmids (and semids, and the inode numbers of the
 * segments' own files), so a node id is never computed from one: it is
 * handed out by this table from a 64-bit counter that only grows (above
 * NODE_FIRST_ID; 1 and 2 are the two directories) and is never handed
 * out again, not even after the node is freed.  A node holds a lookup
 * count (every entry reply counts one, every forget takes its count
 * away; passthrough_ll's lo_inode idea) and is freed when it reaches 0.
 *
 * What a node names is fixed at its making and never changes:
 *  - its kind (enum name_kind: segment, sidecar, .next, .procs, a by-key
 *    link, a name being created; the views add theirs), and
 *  - the lifetime's weak identity (struct segment_identity, below), read
 *    without attaching (IPC_STAT, /proc/sysvipc/shm).
 * A lookup that finds an object whose identity differs from every node's
 * of that kind and id makes a NEW node: the old one keeps
 * answering for its own lifetime, which is over (the FUSE layer answers
 * ESTALE for it, or ENOENT once nothing has the id; never the new
 * object's attributes or bytes).  node_check() is the one place that
 * compares a node with what the kernel shows now.
 *
 * Once an open has proven the lifetime through its backing file (attach,
 * then verify: attach.c), the node also records that strong identity
 * (node_prove()); a later open that holds another backing file is refused
 * (-ESTALE).
 *
 * Knows nothing of FUSE.  Thread-safe: one mutex, held for bookkeeping
 * only.  Nodes are handed out as copies (struct node), never as
 * pointers into the table, so no caller can hold one past its forget.
 */
#ifndef SHMFS_NODE_H
#define SHMFS_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "identity.h"
#include "names.h"
#include "segment.h"

/* The directories' ids (FUSE_ROOT_ID and by-key/), not in the table. */
#define NODE_ROOT_ID  NAMES_ROOT_INO
#define NODE_BYKEY_ID NAMES_BYKEY_INO
/* The first id the table hands out. */
#define NODE_FIRST_ID 3

/* A lifetime is a struct segment_identity (identity.h; the one type
 * for it, and the one place lifetimes are compared): its weak part from
 * the lookup, its strong part once an open proved it.  For a segment the
 * weak part is (shmid, cpid, cuid, cgid, size).
 *
 * Why the weak part tells lifetimes apart: the kernel hands a shmid out
 * again only after the segment holding it is destroyed, so two lifetimes
 * with one shmid never exist at once, and a later one is a new shmget by
 * a process alive then.  shm_cpid, shm_perm.cuid/cgid and shm_segsz are
 * set at shmget and never again (IPC_SET changes uid, gid and mode;
 * IPC_RMID the key; shmat and shmdt the times, lpid and nattch), so a
 * change in any of them is another lifetime.  For two lifetimes to look
 * alike, the later shmget must come from a process with the same pid
 * (the same process, or its pid recycled), running with the same uid and
 * gid, asking for the same size, and get the same shmid back.
 *
 * What it cannot tell apart, and why that is safe: such look-alikes are
 * made by the same user, who could read and write both anyway; the
 * permission check of every open is made against the segment as it is
 * then (its mode and owner), never against the node; and bytes are
 * reached only through an attachment verified after shmat (attach, then
 * IPC_STAT of what is held, then its backing file's strong identity
 * compared with the node's: node_prove()).  So a look-alike can at worst
 * show its own attributes under the old node before an open; it never
 * hands one lifetime's bytes to a file of the other.
 *
 * For a name being created (NAME_PENDING) the identity's shmid field
 * holds the key, cuid its creator and size pending.c's serial of the
 * creation (never reused), the rest 0: one node per creation; pending.c,
 * not the kernel, says whose the name is.  The views' kinds (sem/, msg/) put in it what never
 * changes in their objects' lifetimes, and say so where they fill it. */

/* One node, as handed out: a copy. */
struct node {
	uint64_t id;
	enum name_kind kind;
	struct segment_identity life; /* life.strong once node_prove() */
};

struct node_table;

struct node_table *node_table_new(void);
void node_table_free(struct node_table *t);

/* A lookup of a name of this kind whose object is the lifetime life (its
 * weak part, from IPC_STAT: identity_weak()): the node of that (kind,
 * lifetime), made if none, with its lookup count raised by one.  *out
 * receives it.  0 or -ENOMEM. */
int node_lookup(struct node_table *t, enum name_kind kind, const struct segment_identity *life,
		struct node *out);

/* The node with this id: 0, or -ENOENT for an id the table does not hold
 * (never handed out, or forgotten).  Directory ids are not in the table. */
int node_get(struct node_table *t, uint64_t id, struct node *out);

/* The kernel forgets nlookup lookups of id (FUSE forget, or a reply that
 * could not be sent); the node is freed at 0.  An unknown id is ignored;
 * forgetting more than it holds frees it (asserted against in debug
 * builds: the kernel forgets only what it was given). */
void node_forget(struct node_table *t, uint64_t id, uint64_t nlookup);

/* Whether the object the kernel shows now (now: its identity, NULL if
 * nothing has the id) is still the node's lifetime: 0 if so; -ENOENT if
 * nothing has the id any more; -ESTALE if another lifetime holds it. */
int node_check(const struct node *n, const struct segment_identity *now);

/* What an open proved it holds (held: the identity of the attached
 * segment, strong where its backing file gave one) against id's
 * lifetime: 0 if it is that lifetime (the first strong identity is then
 * recorded); -ESTALE if not (a look-alike lifetime holds the shmid now);
 * -ENOENT for an unknown id. */
int node_prove(struct node_table *t, uint64_t id, const struct segment_identity *held);

/* An open proved id's lifetime over while its weak identity still
 * matches (a look-alike: same creator process, ids, size and shmid):
 * later lookups make a new node; id keeps answering (ESTALE) for the
 * kernel's files of it. */
void node_retire(struct node_table *t, uint64_t id);

/* The st_ino shown for a node: stable for a lifetime (the same in every
 * mount and after the kernel forgot and looked up again), different
 * between the names of one object, and between lifetimes that do not
 * look alike (see attr.h). */
uint64_t node_st_ino(const struct node *n);
/* The same for a name without a node (a plain directory listing). */
uint64_t node_ino_of(enum name_kind kind, const struct segment_identity *life);

/* How many nodes the table holds (tests). */
size_t node_count(struct node_table *t);

#endif
