/* mountutil.h - run a real shmfs mount for a test, and real tools against it. */
#ifndef SHMFS_MOUNTUTIL_H
#define SHMFS_MOUNTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/shm.h>
#include <sys/types.h>

struct test_mount {
	char dir[64]; /* the mountpoint, a fresh temporary directory */
	pid_t pid;    /* the shmfs daemon, run in the foreground */
};

/* Mount shmfs (binary at path) on a new temporary directory with the
 * given extra arguments (NULL-terminated list, may be NULL) and wait until
 * the mount is live.  Unless the arguments set attr_timeout, it is 0, so
 * every change shows at once.  Aborts the test program on failure. */
void mount_start(struct test_mount *m, const char *shmfs, const char *const *extra_args);

/* Unmount, wait for the daemon, remove the directory.  Returns the
 * daemon's exit status (0 for a clean exit). */
int mount_stop(struct test_mount *m);

/* mount_stop() for a group teardown: 0 if the daemon exited cleanly,
 * else -1 with its status on standard error. */
int mount_stop_clean(struct test_mount *m);

/* Whether a FUSE file system is mounted on dir. */
bool mount_is_live(const char *dir);

/* The path of shmfs, an integration test's one argument; exits with a
 * usage message if the command line is not just that. */
const char *shmfs_path_arg(int argc, char *argv[]);

/* Whether objects are left in the IPC namespace: kinds lists files of
 * /proc/sysvipc ("sem", or "shm sem").  Prints what is left. */
bool ipc_left_behind(const char *kinds);

/* Run a shell command line (printf-style) with sh -c, standard output
 * and standard error captured into out (NUL-terminated, may be NULL).
 * Returns the exit status, or -1 if it did not end within 60 seconds. */
int run(char *out, size_t out_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The sidecar's value for name, or NULL; from text as the mount shows it. */
const char *sidecar_value(const char *text, const char *name, char *value, size_t size);

/* The lock_semid of segment id as its sidecar under dir shows it (cat),
 * SIDECAR_PRIVATE for the daemon's private lock, or -1 where it shows
 * none.  Exits the test program if it has no such line. */
#define SIDECAR_PRIVATE (-2)
int sidecar_semid(const char *dir, int id);

/* Create a segment (shmget) in the test's private IPC namespace. */
int make_segment(int key, size_t size, int mode);

/* shmat of segment id, read-write; exits the test program if it fails. */
void *shm_attach(int id);

/* IPC_STAT of segment id; exits the test program if it fails. */
struct shmid_ds shm_stat(int id);

/* Whether segment id (or semaphore set semid) exists. */
bool shm_exists(int id);
bool sem_exists(int semid);

/* Make the lock set of key as an outside program that locks together
 * with shmfs does (examples/shmlock.h): 5 semaphores, semaphore 0 at 1,
 * 3 and 4 the shmfs mark. */
int make_sharelite_set(int key);

/* Take and let go of the lock of a ShareLite set, exclusive or shared,
 * as an outside program does: the protocol's semops with SEM_UNDO, not
 * shmfs's code.  Return semop()'s result. */
int outside_lock(int semid, bool exclusive);
int outside_unlock(int semid, bool exclusive);

/* ---- another user's programs, as children of the test ------------------ */

/* Segments of keys first..first+n-1 (size bytes, 0644) and their lock
 * sets (make_sharelite_set()), made by uid as its programs would: ids[]
 * and semids[] filled in.  Exits the test program if one cannot be made. */
void segments_as(uid_t uid, int32_t first, int n, size_t size, int *ids, int *semids);

/* A child as uid holding the lock of each of the n sets (outside_lock(),
 * exclusive unless shared) until killed (testutil_kill()). */
pid_t hold_locks_as(uid_t uid, const int *semids, int n, bool shared);

/* A child as uid reading (or writing one byte to) path, through a mount:
 * its exit status is 0 if the call succeeded, else the errno. */
pid_t start_waiter(uid_t uid, const char *path, bool write_it);

/* A waiter's exit status (0, or the errno of its call), waited for at
 * most 60 seconds; -1 if it did not exit. */
int waiter_result(pid_t pid);

/* Whether pid is blocked in a FUSE request (its wchan). */
bool in_fuse_request(pid_t pid);

/* Until each of pids is inside a FUSE request: false if that never came
 * (bounded by a count of looks, not a clock). */
bool await_waiting(const pid_t *pids, int n);

/* How many requests the daemon has parked on segment id's lock, as its
 * sidecar under dir says; -1 if it cannot be read. */
int parked_on(const char *dir, int id);

/* Until n or more requests are parked on segment id's lock (a waiter
 * seen inside a FUSE request may still be in its open): false if that
 * never came (bounded by a count of looks). */
bool await_parked(const char *dir, int id, int n);

#endif
