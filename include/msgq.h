/* msgq.h - System V message queues: enumerate, stat, copy messages out
 * without receiving them, render a queue as text.
 *
 * Messages are read with msgrcv(MSG_COPY | IPC_NOWAIT) (Linux 3.8, needs
 * CONFIG_CHECKPOINT_RESTORE): the message at an index is copied, not
 * removed, and the queue's statistics (qnum, cbytes, lrpid, rtime) do
 * not change.  Each copy walks the queue to its index, so a whole queue
 * is copied in time quadratic in its length and is not one snapshot:
 * msgq_snapshot() reads the queue's msqid_ds before and after and tries
 * again when they differ (a change the kernel's counters do not show, a
 * receive and a send of the same size within one second by the same
 * processes, cannot be noticed).
 *
 * Knows nothing of FUSE.  -ENOENT: no such queue (any more).
 */
#ifndef SHMFS_MSGQ_H
#define SHMFS_MSGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "access.h"
#include "waiters.h"

/* Per open of a queue's listing: messages listed, and bytes of them
 * copied (the kernel also reads the whole buffer at each copy: the
 * buffer is the kernel's msgmax, 8,192 bytes by default, at most
 * MSGQ_MAX_MESSAGE). */
#define MSGQ_MAX_MESSAGES 4096
#define MSGQ_MAX_BYTES	  (16u << 20)
/* The largest message copied; a bigger one is listed without its type
 * and size.  The kernel's msgmax is 8,192 by default. */
#define MSGQ_MAX_MESSAGE (1u << 20)
/* Snapshots tried before one is served as changed during the read. */
#define MSGQ_TRIES 3

/* struct msqid_ds. */
struct msgq_info {
	int32_t key; /* 0 = IPC_PRIVATE */
	int msqid;
	unsigned int mode; /* permission bits */
	uint64_t cbytes;   /* bytes in the queue */
	uint64_t qnum;	   /* messages in the queue */
	uint64_t qbytes;   /* the most bytes it may hold; valid if have_qbytes */
	bool have_qbytes;  /* /proc/sysvipc/msg does not show it */
	pid_t lspid, lrpid;
	uid_t uid;
	gid_t gid;
	uid_t cuid;
	gid_t cgid;
	time_t stime, rtime, ctime;
};

/* Parse one data line of /proc/sysvipc/msg (key msqid perms cbytes qnum
 * lspid lrpid uid gid cuid cgid stime rtime ctime).  Pure. */
int msgq_parse_proc_line(const char *line, struct msgq_info *out);

/* Every queue, in the kernel's order: /proc/sysvipc/msg first, the
 * MSG_STAT_ANY (MSG_STAT) loop as fallback.  As semset_each(). */
int msgq_each(int (*fn)(const struct msgq_info *q, void *arg), void *arg);

/* One queue's msqid_ds: IPC_STAT, or MSG_STAT_ANY of its index. */
int msgq_stat(int msqid, struct msgq_info *out);

/* The msqid of the queue with key (not IPC_PRIVATE), or -ENOENT. */
int msgq_find_key(int32_t key);

void msgq_perm(const struct msgq_info *q, struct access_perm *out);

/* Copy the message at index (0: the oldest) into buf (size bytes room
 * for its text): its size, *mtype set.  -ENOMSG: no message there;
 * -ENOSYS: the kernel has no MSG_COPY; -E2BIG: bigger than size. */
ssize_t msgq_copy(int msqid, size_t index, long *mtype, void *buf, size_t size);

/* IPC_RMID; IPC_SET (uid, gid, mode & 0777; msg_qbytes kept). */
int msgq_remove(int msqid);
int msgq_set_perm(int msqid, uid_t uid, gid_t gid, unsigned int mode);

struct msgq_message {
	long mtype;
	size_t size;
	bool too_big; /* not copied (> MSGQ_MAX_MESSAGE or the kernel's msgmax) */
};

struct msgq_snapshot {
	struct msgq_info info; /* as read after the messages */
	struct msgq_message *v;
	size_t n, cap;
	bool copied;	     /* false: no MSG_COPY here, metadata only */
	bool consistent;     /* the queue did not change during the read */
	uint64_t not_listed; /* past MSGQ_MAX_MESSAGES or MSGQ_MAX_BYTES */
};

/* The queue's msqid_ds and the type and size of its messages. */
int msgq_snapshot(int msqid, struct msgq_snapshot *out);
void msgq_snapshot_free(struct msgq_snapshot *s);

/* Everything a queue's stat file shows. */
struct msgq_view {
	const struct msgq_snapshot *snap;
	const struct waiters_pid *lspid, *lrpid; /* NULL: not looked */
	const struct waiters_list *waiters;	 /* NULL: not looked */
	bool orphan;
};

/* Render "name value" lines: key msqid perms cbytes qnum qbytes lspid
 * lspid_comm lspid_alive lrpid lrpid_comm lrpid_alive uid gid cuid cgid
 * stime rtime ctime orphan messages (copied|not-copied) snapshot
 * (consistent|changed), then per message
 *   message <index> mtype <type> size <bytes>
 * ("mtype - size -" for one too big to copy), "messages_not_listed <n>"
 * when some were not, and the waiters as semset_render().  0 or
 * -ENOMEM. */
int msgq_render(const struct msgq_view *v, char **text, size_t *len);

/* The queue's orphan verdict: its last sender and receiver (lspid and
 * lrpid verdicts) and the waiters found.  Pure. */
bool msgq_is_orphan(const struct msgq_info *q, const struct waiters_pid *lspid,
		    const struct waiters_pid *lrpid, size_t waiters);

#endif
