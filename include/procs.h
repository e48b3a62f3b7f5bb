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

#endif
