/* options.c - the values of shmfs's own mount options, parsed by hand:
 * strtod() and strtoull() accept blanks, signs, hex, exponents, "inf" and
 * "nan", none of which a mount option should mean. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon.h"
#include "options.h"

void options_defaults(struct shmfs_options *out)
{
	*out = (struct shmfs_options){
		.lock_timeout_ms = SHMFS_DEFAULT_LOCK_TIMEOUT_MS,
		.max_waits = SHMFS_DEFAULT_MAX_WAITS,
		.max_sets = SHMFS_DEFAULT_MAX_SETS,
		.max_lock_threads = SHMFS_DEFAULT_MAX_LOCK_THREADS,
		.attr_timeout = OPTIONS_DEFAULT_ATTR_TIMEOUT_S,
		.entry_timeout = OPTIONS_DEFAULT_ATTR_TIMEOUT_S,
		.default_size = (size_t)sysconf(_SC_PAGESIZE),
		.max_pending = OPTIONS_DEFAULT_MAX_PENDING,
		.attach_cache = 0,
	};
}

__attribute__((format(printf, 3, 4))) static bool reject(char *msg, size_t msglen, const char *fmt,
							 ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return false;
}

bool options_apply(const struct options_given *given, struct shmfs_options *out, char *msg,
		   size_t msglen)
{
	double secs;
	size_t n;

	if (given->lock_timeout) {
		if (!options_parse_seconds(given->lock_timeout, OPTIONS_LOCK_TIMEOUT_MAX_S, &secs))
			return reject(msg, msglen, "lock_timeout must be 0..%d seconds: '%s'",
				      OPTIONS_LOCK_TIMEOUT_MAX_S, given->lock_timeout);
		out->lock_timeout_ms = (unsigned int)(secs * 1000 + 0.5);
	}
	if (given->attr_timeout) {
		if (!options_parse_seconds(given->attr_timeout, OPTIONS_ATTR_TIMEOUT_MAX_S, &secs))
			return reject(msg, msglen, "attr_timeout must be 0..%d seconds: '%s'",
				      OPTIONS_ATTR_TIMEOUT_MAX_S, given->attr_timeout);
		out->attr_timeout = out->entry_timeout = secs;
	}
	if (given->default_size && !options_parse_size(given->default_size, &out->default_size))
		return reject(msg, msglen, "default_size must be a size in bytes > 0: '%s'",
			      given->default_size);
	if (given->max_waits) {
		if (!options_parse_size(given->max_waits, &n) || n > OPTIONS_MAX_WAITS_MAX)
			return reject(msg, msglen, "max_waits must be 1..%d: '%s'",
				      OPTIONS_MAX_WAITS_MAX, given->max_waits);
		out->max_waits = (unsigned int)n;
	}
	if (given->max_sets) {
		if (!options_parse_size(given->max_sets, &n) || n > OPTIONS_MAX_SETS_MAX)
			return reject(msg, msglen, "max_sets must be 1..%d: '%s'",
				      OPTIONS_MAX_SETS_MAX, given->max_sets);
		out->max_sets = (unsigned int)n;
	}
	if (given->max_lock_threads) {
		if (!options_parse_size(given->max_lock_threads, &n) ||
		    n > OPTIONS_MAX_LOCK_THREADS_MAX)
			return reject(msg, msglen, "max_lock_threads must be 1..%d: '%s'",
				      OPTIONS_MAX_LOCK_THREADS_MAX, given->max_lock_threads);
		out->max_lock_threads = (unsigned int)n;
	}
	if (given->max_pending && !options_parse_size(given->max_pending, &out->max_pending))
		return reject(msg, msglen, "max_pending must be a size in bytes > 0: '%s'",
			      given->max_pending);
	if (given->attach_cache &&
	    !options_parse_seconds(given->attach_cache, OPTIONS_ATTACH_CACHE_MAX_S,
				   &out->attach_cache))
		return reject(msg, msglen, "attach_cache must be 0..%d seconds: '%s'",
			      OPTIONS_ATTACH_CACHE_MAX_S, given->attach_cache);
	return true;
}

void options_given_free(struct options_given *given)
{
	char **all[] = { &given->lock_timeout, &given->attr_timeout,	&given->default_size,
			 &given->max_pending,  &given->max_waits,	&given->max_sets,
			 &given->attach_cache, &given->max_lock_threads };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		free(*all[i]);
		*all[i] = NULL;
	}
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool options_parse_seconds(const char *s, double max, double *out)
{
	unsigned long long whole = 0, frac = 0, scale = 1;

	if (!is_digit(*s))
		return false;
	for (; is_digit(*s); s++) {
		whole = whole * 10 + (unsigned long long)(*s - '0');
		if (whole > 1000000000ULL)
			return false;
	}
	if (*s == '.') {
		s++;
		if (!is_digit(*s))
			return false;
		/* Milliseconds are the finest unit anything uses. */
		for (; is_digit(*s); s++) {
			if (scale < 1000) {
				frac = frac * 10 + (unsigned long long)(*s - '0');
				scale *= 10;
			}
		}
	}
	if (*s != '\0')
		return false;
	double v = (double)whole + (double)frac / (double)scale;
	if (v > max)
		return false;
	*out = v;
	return true;
}

bool options_parse_size(const char *s, size_t *out)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	if (!is_digit(*s))
		return false;
	for (; is_digit(*s); s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	switch (*s) {
	case 'k':
	case 'K':
		shift = 10;
		s++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		s++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		s++;
		break;
	}
	if (*s != '\0' || v == 0 || v > (SIZE_MAX >> shift))
		return false;
	*out = (size_t)(v << shift);
	return true;
}
