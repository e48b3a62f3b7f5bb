/* options.h - the values of shmfs's own mount options, parsed and checked.
 *
 * Knows nothing of FUSE: fuse_opt_parse() hands main.c the strings, these
 * functions decide what they mean.
 */
#ifndef SHMFS_OPTIONS_H
#define SHMFS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

struct shmfs_options;

/* The largest value each option accepts. */
#define OPTIONS_LOCK_TIMEOUT_MAX_S   86400 /* a day */
#define OPTIONS_ATTR_TIMEOUT_MAX_S   1
#define OPTIONS_ATTACH_CACHE_MAX_S   3600
#define OPTIONS_MAX_WAITS_MAX	     1000000
#define OPTIONS_MAX_SETS_MAX	     1000000
#define OPTIONS_MAX_LOCK_THREADS_MAX 4096

/* Defaults beside daemon.h's.  A cached name and attribute spare "ls -l"
 * of many segments a round trip per name; a tenth of a second still
 * shows a new segment to a person at once. */
#define OPTIONS_DEFAULT_ATTR_TIMEOUT_S 0.1
#define OPTIONS_DEFAULT_MAX_PENDING    ((size_t)256 << 20)

/* The strings of the options that set a value of struct shmfs_options, as
 * given on the command line; NULL where an option was not given. */
struct options_given {
	char *lock_timeout;
	char *attr_timeout;
	char *default_size;
	char *max_pending;
	char *max_waits;
	char *max_sets;
	char *max_lock_threads;
	char *attach_cache;
};

/* The values the daemon runs with where no option says otherwise. */
void options_defaults(struct shmfs_options *out);

/* Checks every given option and writes its value into *out, which holds
 * the defaults.  Returns true; or false with a one-line reason naming the
 * option, its range and the value given (no "shmfs: " prefix) in
 * msg[msglen], *out then partly written. */
bool options_apply(const struct options_given *given, struct shmfs_options *out, char *msg,
		   size_t msglen);

/* Frees the strings and sets them to NULL. */
void options_given_free(struct options_given *given);

/* A number of seconds, decimal with an optional fraction ("10", "0.1"),
 * within [0, max].  Writes milliseconds-exact seconds to *out and returns
 * true; false for anything else (signs, exponents, hex, nan, inf, blanks,
 * trailing junk, out of range). */
bool options_parse_seconds(const char *s, double max, double *out);

/* A byte count: decimal digits with an optional K, M or G (binary)
 * suffix, either case, greater than 0 and fitting in size_t.  Returns
 * false for anything else. */
bool options_parse_size(const char *s, size_t *out);

#endif
