/* log.h - warnings that no user can flood the log with.
 *
 * Any user can make the daemon warn (a creation that fails at close, a
 * segment kept attached), so each kind of warning, told apart by its
 * format string, is written at most LOG_BURST times per LOG_INTERVAL_S
 * seconds; the first one after a quiet spell says how many were dropped.
 */
#ifndef SHMFS_LOG_H
#define SHMFS_LOG_H

#include <stdbool.h>
#include <stdint.h>

#define LOG_BURST      5
#define LOG_INTERVAL_S 10

/* The rate of one kind of message.  All zero: nothing logged yet. */
struct log_rate {
	uint64_t window_start_ns; /* when the current window began */
	unsigned long in_window;  /* messages let through in it */
	unsigned long suppressed; /* messages dropped since the last one let through */
};

/* Whether a message at now_ns (CLOCK_MONOTONIC) is written.  If so,
 * *dropped receives how many were dropped before it (and the count starts
 * again).  Pure: the caller serialises calls on one r. */
bool log_rate_allow(struct log_rate *r, uint64_t now_ns, unsigned long *dropped);

/* A warning through fuse_log() (stderr, or syslog when daemonized),
 * rate-limited per fmt (which must be a string literal). */
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
