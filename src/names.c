/* names.c - the name grammar of the mount.
 *
 * Names are parsed by hand rather than with strtol()/strtoul(): those accept
 * leading blanks, signs, "0x" prefixes and leading zeros, any of which would
 * give one segment several names.  Every segment has exactly one name per
 * kind, and every name maps back to exactly one segment.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

#define KEY_PREFIX     "0x"
#define KEY_HEX_DIGITS 8

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse the canonical decimal form of a non-negative int at the start of s:
 * "0" or [1-9][0-9]*, no larger than INT_MAX.  Returns a pointer past the
 * digits, or NULL if s does not start with such a number. */
static const char *parse_shmid(const char *s, int *shmid)
{
	long long v = 0;

	if (!is_digit(*s))
		return NULL;
	if (*s == '0') {
		*shmid = 0;
		return s + 1; /* a following digit is rejected by the caller */
	}
	while (is_digit(*s)) {
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return NULL;
		s++;
	}
	*shmid = (int)v;
	return s;
}

enum name_kind names_parse_root(const char *name, int *shmid)
{
	const char *rest;
	int id;

	rest = parse_shmid(name, &id);
	if (!rest)
		return NAME_NONE;
	if (*rest == '\0') {
		*shmid = id;
		return NAME_SEGMENT;
	}
	if (strcmp(rest, NAMES_STAT_SUFFIX) == 0) {
		*shmid = id;
		return NAME_SIDECAR;
	}
	if (strcmp(rest, NAMES_NEXT_SUFFIX) == 0) {
		*shmid = id;
		return NAME_NEXT;
	}
	if (strcmp(rest, NAMES_PROCS_SUFFIX) == 0) {
		*shmid = id;
		return NAME_PROCS;
	}
	return NAME_NONE;
}

enum name_kind names_parse_bykey(const char *name, int32_t *key)
{
	char head[sizeof(KEY_PREFIX) + KEY_HEX_DIGITS];
	size_t len = strlen(KEY_PREFIX) + KEY_HEX_DIGITS;

	if (names_parse_key(name, key))
		return NAME_KEYLINK;
	if (strncmp(name, KEY_PREFIX, strlen(KEY_PREFIX)) != 0 || strlen(name) <= len ||
	    strcmp(name + len, NAMES_NEXT_SUFFIX) != 0)
		return NAME_NONE;
	memcpy(head, name, len);
	head[len] = '\0';
	return names_parse_key(head, key) ? NAME_NEXTLINK : NAME_NONE;
}

bool names_parse_key(const char *name, int32_t *key)
{
	uint32_t v = 0;
	int i;

	if (strncmp(name, KEY_PREFIX, strlen(KEY_PREFIX)) != 0)
		return false;
	name += strlen(KEY_PREFIX);
	for (i = 0; i < KEY_HEX_DIGITS; i++) {
		int d = hex_value(name[i]);

		if (d < 0)
			return false;
		v = v << 4 | (uint32_t)d;
	}
	if (name[KEY_HEX_DIGITS] != '\0')
		return false;
	/* key_t is a signed int; ipcs shows it as its 32 bits in hex. */
	*key = (int32_t)v;
	return true;
}

int names_format_root(char *buf, size_t size, enum name_kind kind, int shmid)
{
	switch (kind) {
	case NAME_SEGMENT:
		return snprintf(buf, size, "%d", shmid);
	case NAME_SIDECAR:
		return snprintf(buf, size, "%d" NAMES_STAT_SUFFIX, shmid);
	case NAME_NEXT:
		return snprintf(buf, size, "%d" NAMES_NEXT_SUFFIX, shmid);
	case NAME_PROCS:
		return snprintf(buf, size, "%d" NAMES_PROCS_SUFFIX, shmid);
	default:
		if (size > 0)
			buf[0] = '\0';
		return -EINVAL;
	}
}

int names_format_key(char *buf, size_t size, int32_t key)
{
	return snprintf(buf, size, KEY_PREFIX "%08x", (unsigned int)(uint32_t)key);
}

bool names_parse_number(const char *name, int *n)
{
	const char *rest = parse_shmid(name, n);

	return rest && *rest == '\0';
}
