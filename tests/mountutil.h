/* mountutil.h - run a real shmfs mount for a test, and real tools against it. */
#ifndef SHMFS_MOUNTUTIL_H
#define SHMFS_MOUNTUTIL_H

#include <stdbool.h>
#include <stddef.h>
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

/* Run a shell command line (printf-style) with sh -c, standard output
 * and standard error captured into out (NUL-terminated, may be NULL).
 * Returns the exit status, or -1 if it did not end within 60 seconds. */
int run(char *out, size_t out_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The sidecar's value for name, or NULL; from text as the mount shows it. */
const char *sidecar_value(const char *text, const char *name, char *value, size_t size);

/* Create a segment (shmget) in the test's private IPC namespace. */
int make_segment(int key, size_t size, int mode);

/* Make the lock set of key as an outside program that locks together
 * with shmfs does: ShareLite's (3 semaphores, semaphore 0 marked 1). */
int make_sharelite_set(int key);

#endif
