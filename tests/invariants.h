/* invariants.h - the agents of the invariant harness (tests/test_invariants.c).
 *
 * An agent is a forked child that has become one user (setresuid,
 * setresgid, no supplementary groups, umask 0) and makes the system calls
 * the driver asks for, one at a time, through a mailbox in shared memory:
 * calls through the mount and direct System V calls, as that user.  It
 * keeps that user's open files and mappings between calls.  It judges
 * nothing: the driver compares what it saw with the kernel.
 */
#ifndef SHMFS_INVARIANTS_H
#define SHMFS_INVARIANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>

#define INV_MAX_SEG   (3 * 4096 + 100) /* the largest segment the harness makes */
#define INV_MAX_SLOTS 12	       /* open files per user */
#define INV_MAX_MAPS  8		       /* mappings per user */
#define INV_NAMES     8192
#define INV_MAX_SEMS  5	 /* semaphores in a set of the harness's */
#define INV_MAX_MSGS  8	 /* messages in a queue of the harness's */
#define INV_MAX_MSG   64 /* bytes in a message of the harness's */

enum agent_op {
	A_OPEN,	      /* path, flags: probe shmat as flags would, then open into slot */
	A_CLOSE,      /* slot */
	A_PREAD,      /* slot, off, len: into out */
	A_PWRITE,     /* slot, off, len, in */
	A_FTRUNCATE,  /* slot, size */
	A_FSTAT,      /* slot */
	A_MMAP,	      /* slot, map, len, flags (1: writable) */
	A_MAPREAD,    /* map, len: into out */
	A_MAPWRITE,   /* map, off, len, in */
	A_MUNMAP,     /* map */
	A_OBSERVE,    /* path, shmid, size, key: stat, shmat probe, open + read, IPC_STAT,
		       * the sidecar (path.stat) into names, by-key's link (key != 0) */
	A_PATHWRITE,  /* path, shmid, off, len, in: probe shmat rw, open O_WRONLY, pwrite */
	A_TRUNCATE,   /* path, shmid, size: probe shmat rw, truncate(2) */
	A_UNLINK,     /* path */
	A_CHMOD,      /* path, mode */
	A_CHOWN,      /* path, uid, gid */
	A_CREATE,     /* path, mode, len, in, size (0: no ftruncate) */
	A_READDIR,    /* path: names, one a line */
	A_POLL,	      /* slot, len (ms) */
	A_NEXTREAD,   /* slot, len, off (ms to wait) */
	A_SHMGET,     /* key, size, mode */
	A_SHMRMID,    /* shmid */
	A_SHMATWRITE, /* shmid, off, len, in */
	A_SEMGET,     /* key, len (nsems), mode, marker: SETVAL of semaphore 0 */
	A_SEMLOOK,    /* key, len (3 or 5), mode, marker: a lock's look-alike (SETALL:
		       * marker, 0, 0 and for 5 the shmfs mark, share.h) */
	A_SEMRM,      /* semid */
	/* the sem/ and msg/ views (shmid holds the semid or msqid) */
	A_SEMVIEW,    /* path (sem/ID), shmid, len (nsems): IPC_STAT and GETVAL as the user
		       * (probe_err, direct_vals), then path/stat into names (err) and
		       * path/N into vals (err2) */
	A_SEMWRITE,   /* path (sem/ID/N), len, in: open O_WRONLY (err), write (err2) */
	A_SEMPARK,    /* path (sem/ID/N), len, in: a child of the agent's opens O_WRONLY
		       * and writes, waiting as long as it must; its pid in ret; its
		       * result in park_ret and park_err, then park_done */
	A_SEMPARKEND, /* flags (1: SIGKILL it first), len (ms): wait for that child;
		       * ret and err its write's (err2 ETIMEDOUT: it did not end in
		       * time, and was killed; err3 1: it never returned) */
	A_MSGVIEW,    /* path (msg/ID), shmid, len (messages): IPC_STAT as the user
		       * (probe_err), path/stat into names (err), path/I into out, one
		       * after the other, their sizes in msg_len (err2) */
	A_MSGGET,     /* key, mode */
	A_MSGSND,     /* shmid, marker (mtype), len, in: IPC_NOWAIT */
	A_MSGRCV,     /* shmid: the first message, IPC_NOWAIT: mtype in ret, bytes in out */
	A_RMDIR,      /* path */
};

struct mailbox {
	/* the request */
	int op, slot, map, flags, shmid, key, mode, marker;
	uid_t uid;
	gid_t gid;
	long off, len, size;
	char path[256];
	unsigned char in[INV_MAX_SEG];
	/* the answer: ret and err (errno or 0) of the call asked for */
	long ret;
	int err;
	int err2, err3, err4; /* of the calls after it, where there are several */
	int probe_err;	      /* of the direct shmat probe */
	int stat_err, ds_err;
	struct stat st;
	struct shmid_ds ds;
	long out_len, shm_len;
	unsigned char out[INV_MAX_SEG + 1];
	unsigned char shm_out[INV_MAX_SEG];
	char names[INV_NAMES];
	int side_err, link_err;
	char link[64];
	int vals[INV_MAX_SEMS], direct_vals[INV_MAX_SEMS];
	long msg_len[INV_MAX_MSGS];
	/* A_SEMPARK's child writes these (atomic park_done last) */
	long park_ret;
	int park_err, park_done;
};

/* One agent, as its driver holds it. */
struct agent {
	uid_t uid;
	pid_t pid;
	int cmd, done; /* the driver's ends of the two pipes */
	struct mailbox *mb;
};

/* Fork an agent that becomes uid (gid uid, no supplementary groups, umask
 * 0) and dies with the test; it has no descriptor of the driver's but its
 * two pipes and standard ones.  Exits the test program on failure. */
void agent_start(struct agent *a, uid_t uid);

/* Ask a for op (the request filled in a->mb); false if it did not answer
 * within timeout_ms (it is then stuck: kill it). */
bool agent_call(struct agent *a, enum agent_op op, int timeout_ms);

/* End the agent (its files and mappings close with it), reaped within 10 s
 * or killed.  Returns false if it had to be killed. */
bool agent_stop(struct agent *a);

#endif
