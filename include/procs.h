/* procs.h - which processes have a segment attached, as the caller may
 * see them.
 *
 * The kernel's own record is each process's /proc/PID/maps: an attach is
 * a mapping of the segment's file, named "/SYSV<key> (deleted)" with the
 * shmid as its inode number (the name keeps the key the segment was
 * created with, even once marked for destruction).
 *
 * Who sees what: a caller sees a process only if it could open that
 * process's /proc/PID/maps itself.  The kernel decides that
 * (ptrace_may_access with PTRACE_MODE_READ_FSCREDS: same uid and gid as
 * all of the target's, the target dumpable and holding no capability the
 * caller lacks, or CAP_SYS_PTRACE; and /proc's hidepid=, which only ever
 * hides more), so the check is not reimplemented here: the scan runs in a
 * thread of its own that takes on the caller's credentials first -- its
 * filesystem uid and gid, no supplementary groups, and the caller's
 * effective capabilities (from /proc/PID/status of the calling thread,
 * and only if that thread is in the daemon's user namespace; none
 * otherwise) -- and every open of /proc is then the kernel's check for
 * that caller.  The daemon's own process is the exception (a thread
 * always passes for its own process): it is shown, marked, to callers
 * with the daemon's uid or uid 0.
 *
 * Processes of another IPC namespace (whose shmids are another
 * namespace's) are left out; pids are those of the daemon's /proc.
 *
 * Knows nothing of FUSE.
 */
#ifndef SHMFS_PROCS_H
#define SHMFS_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How a maps line names a System V segment's file: this, its key, " (deleted)". */
#define PROCS_SYSV_NAME "/SYSV"
/* The header line of a rendering. */
#define PROCS_HEADER "pid uid comm attaches\n"
/* The last word of the line of the daemon's own process. */
#define PROCS_SELF_MARK "(shmfs)"

struct procs_caller {
	uid_t uid; /* filesystem uid and gid, as FUSE reports them */
	gid_t gid;
	pid_t pid; /* the calling thread in the daemon's pid namespace; 0: unknown */
};

/* One attach, as one line of /proc/PID/maps shows it. */
struct procs_attach {
	uint64_t start, end;
	char perms[5]; /* "rw-s" */
};

/* Parse one line of /proc/PID/maps: true if it maps the System V
 * segment shmid (filling *out), false for any other line.  Pure. */
bool procs_parse_maps_line(const char *line, size_t len, int shmid, struct procs_attach *out);

/* A process name as the rendering shows it: bytes outside '!'..'~' and
 * the backslash as \ooo (so a name is one word: "tmux: server" is
 * "tmux:\040server").  Returns the length, or -ERANGE if it does not fit
 * in size (buf is then ""). Pure. */
int procs_escape_comm(const char *comm, size_t len, char *buf, size_t size);

/* What a function run by procs_run_as() may rely on. */
struct procs_view {
	pid_t self;	   /* the daemon's pid */
	bool self_visible; /* the caller may see the daemon's own process */
	dev_t ipcns_dev;   /* the daemon's IPC namespace */
	ino_t ipcns_ino;
};

/* Run fn(view, arg) with the caller's credentials, by the rule above: in
 * a thread of its own that takes them on first, so that every open of
 * /proc it makes is the kernel's check for that caller.  A NULL caller
 * is the daemon's own view (fn runs in this thread, unchanged).  0, or
 * -EACCES if the caller's credentials cannot be taken (a daemon that is
 * not root, asked for by another user), -EAGAIN (no thread), -errno. */
int procs_run_as(const struct procs_caller *caller,
		 void (*fn)(const struct procs_view *view, void *arg), void *arg);

/* Whether /proc/<pid> is a process of the daemon's IPC namespace. */
bool procs_same_ipc_namespace(const struct procs_view *view, const char *pid);

/* Whether a /proc entry's name is a pid (all digits, not empty). */
bool procs_all_digits(const char *s);

/* Render the processes that have shmid attached and that caller may see:
 * PROCS_HEADER, then one line per process in /proc's order,
 *   "<pid> <uid> <comm> <start>-<end>:<perms>[,<start>-<end>:<perms>...]"
 * with the addresses in hex, as in maps, and the effective uid; the
 * daemon's line ends in " " PROCS_SELF_MARK.  nattch is the segment's
 * count: 0 renders the header only, without a scan.  On success *text
 * (malloc'ed, NUL-terminated; free() it) and *len; else -errno: -EACCES if
 * the caller's credentials cannot be taken (a daemon that is not root,
 * asked for by another user), -ENOMEM, -EAGAIN (no thread). */
int procs_render(int shmid, uint64_t nattch, const struct procs_caller *caller, char **text,
		 size_t *len);

/* A scan's read of a process's maps waits for that process's memory map
 * lock, which the process can keep from readers for as long as it likes
 * (a writer queued behind a reader that waits on something): the daemon
 * must not wait with it.  Bounded scans: each user may have per_user of
 * them under way (one that timed out counts until it ends), and a caller
 * waits at most timeout_ms for one; the scan's thread goes on alone.
 * Thread-safe; the limits outlive procs_limits_free() while scans that
 * timed out still run. */
struct procs_limits;
struct procs_limits *procs_limits_new(size_t per_user, unsigned int timeout_ms);
void procs_limits_free(struct procs_limits *limits);

/* procs_run_as() with a caller (not NULL), bounded by limits: fn runs on
 * arg, heap memory that this call owns from now.  0: fn returned, arg is
 * the caller's again.  -ETIMEDOUT: fn did not return within the timeout;
 * arg is the scan thread's, which calls release(arg) when fn returns.
 * -EAGAIN: the caller's user has its scans under way already, or no
 * thread; arg is the caller's again.  -EACCES as procs_run_as(). */
int procs_run_bounded(struct procs_limits *limits, const struct procs_caller *caller,
		      void (*fn)(const struct procs_view *view, void *arg), void *arg,
		      void (*release)(void *arg));

/* procs_render(), bounded by limits (procs_run_bounded()): also
 * -ETIMEDOUT and -EAGAIN. */
int procs_render_bounded(struct procs_limits *limits, int shmid, uint64_t nattch,
			 const struct procs_caller *caller, char **text, size_t *len);

#endif
