/* names.h - the name grammar of the mount.
 *
 * Root:     <shmid>        a segment's bytes (decimal, no sign, no leading 0)
 *           <shmid>.stat   its metadata as text
 *           <shmid>.next   its bytes, once the next write has happened
 *           <shmid>.procs  the processes attached to it
 *           by-key/        directory
 * by-key/:  0xKKKKKKKK     symlink to ../<shmid> (exactly 8 hex digits)
 *           0xKKKKKKKK.next  symlink to ../<shmid>.next
 *
 * Node ids and inode numbers are not the grammar's: node.h has them.
 */
#ifndef SHMFS_NAMES_H
#define SHMFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAMES_ROOT_INO	   1 /* FUSE_ROOT_ID */
#define NAMES_BYKEY_INO	   2
#define NAMES_BYKEY_NAME   "by-key"
#define NAMES_STAT_SUFFIX  ".stat"
#define NAMES_NEXT_SUFFIX  ".next"
#define NAMES_PROCS_SUFFIX ".procs"

enum name_kind {
	NAME_NONE = 0,
	NAME_SEGMENT = 1,  /* "32768" */
	NAME_SIDECAR = 2,  /* "32768.stat" */
	NAME_KEYLINK = 3,  /* "by-key/0x0000162e" (inode keyed by the shmid it points to) */
	NAME_NEXT = 4,	   /* "32768.next": read waits for the next write */
	NAME_PENDING = 5,  /* "by-key/0x00001234" being created (inode keyed by the key) */
	NAME_NEXTLINK = 6, /* "by-key/0x0000162e.next" -> ../32768.next */
	NAME_PROCS = 7,	   /* "32768.procs": who has it attached (not listed) */
	NAME_ROOT = 8,	   /* the root directory */
	NAME_BYKEY = 9,	   /* by-key/ */
	/* The views (fs_views.h): sem/ and msg/, their by-key/, one
	 * directory per set or queue, its stat file, its items (a set's
	 * semaphores, a queue's messages by index), the links by key. */
	NAME_SEMS,
	NAME_SEM_BYKEY,
	NAME_SEMSET,
	NAME_SEMSET_STAT,
	NAME_SEMAPHORE,
	NAME_SEM_KEYLINK,
	NAME_MSGS,
	NAME_MSG_BYKEY,
	NAME_MSGQ,
	NAME_MSGQ_STAT,
	NAME_MESSAGE,
	NAME_MSG_KEYLINK,
	NAME_KINDS /* how many kinds there are (views add theirs above) */
};

/* The views' names: sem/ and msg/ in the root; in a set's or a queue's
 * directory, "stat" and one decimal name per item. */
#define NAMES_SEM_DIR	"sem"
#define NAMES_MSG_DIR	"msg"
#define NAMES_VIEW_STAT "stat"

/* Whether name is exactly a non-negative int in canonical decimal ("0",
 * or no leading zero, no sign, no blank): one name per number. */
bool names_parse_number(const char *name, int *n);

/* Parse a name in the root directory.  Returns the kind, or NAME_NONE for
 * anything else (including "by-key", which the caller handles). */
enum name_kind names_parse_root(const char *name, int *shmid);

/* Parse a name in by-key/: "0x" and exactly 8 hex digits (either case, so
 * a key has two spellings; listings use lower case, as ipcs does).
 * Returns false for anything else. */
bool names_parse_key(const char *name, int32_t *key);

/* Parse a name in by-key/: NAME_KEYLINK ("0x0000162e"), NAME_NEXTLINK
 * ("0x0000162e.next") or NAME_NONE. */
enum name_kind names_parse_bykey(const char *name, int32_t *key);

/* Format names; return the length (as snprintf).  names_format_root()
 * formats NAME_SEGMENT, NAME_SIDECAR, NAME_NEXT and NAME_PROCS: -EINVAL
 * for other kinds. */
int names_format_root(char *buf, size_t size, enum name_kind kind, int shmid);
int names_format_key(char *buf, size_t size, int32_t key);

#endif
