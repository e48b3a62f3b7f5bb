/* options.h - the values of shmfs's own mount options, parsed.
 *
 * Knows nothing of FUSE: fuse_opt_parse() hands main.c the strings, these
 * functions decide what they mean.
 */
#ifndef SHMFS_OPTIONS_H
#define SHMFS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

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
