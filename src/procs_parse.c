/* procs_parse.c - the pure parts of procs.h: one line of /proc/PID/maps,
 * and a process name as one word. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "procs.h"

#define SYSV_NAME    PROCS_SYSV_NAME
#define SYSV_DELETED " (deleted)"
#define KEY_DIGITS   8

/* ---- parsing ----------------------------------------------------------- */

static const char *parse_hex(const char *p, const char *end, uint64_t *v)
{
	const char *start = p;

	*v = 0;
	while (p < end && isxdigit((unsigned char)*p)) {
		int d = *p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10;

		if (*v >> 60)
			return NULL;
		*v = *v << 4 | (uint64_t)d;
		p++;
	}
	return p > start ? p : NULL;
}

static const char *parse_dec(const char *p, const char *end, uint64_t *v)
{
	const char *start = p;

	*v = 0;
	while (p < end && *p >= '0' && *p <= '9') {
		if (*v > (UINT64_MAX - 9) / 10)
			return NULL;
		*v = *v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	return p > start ? p : NULL;
}

static const char *expect(const char *p, const char *end, char c)
{
	return p && p < end && *p == c ? p + 1 : NULL;
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p && p < end && *p == ' ')
		p++;
	return p;
}

/* "start-end perms offset major:minor inode   /SYSVkkkkkkkk (deleted)" */
bool procs_parse_maps_line(const char *line, size_t len, int shmid, struct procs_attach *out)
{
	const char *p = line, *end = line + len;
	uint64_t start, stop, offset, major, minor, inode;
	const char *perms;

	if (len > 0 && end[-1] == '\n')
		end--;
	p = parse_hex(p, end, &start);
	p = expect(p, end, '-');
	p = p ? parse_hex(p, end, &stop) : NULL;
	p = expect(p, end, ' ');
	if (!p || end - p < 5 || p[4] != ' ')
		return false;
	/* as the kernel writes them: r or -, w or -, x or -, s or p */
	if ((p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 's' && p[3] != 'p'))
		return false;
	perms = p;
	p += 5;
	p = parse_hex(p, end, &offset);
	p = expect(p, end, ' ');
	p = p ? parse_hex(p, end, &major) : NULL;
	p = expect(p, end, ':');
	p = p ? parse_hex(p, end, &minor) : NULL;
	p = expect(p, end, ' ');
	p = p ? parse_dec(p, end, &inode) : NULL;
	p = skip_blanks(p, end);
	if (!p || shmid < 0 || inode != (uint64_t)shmid || stop <= start)
		return false;
	if ((size_t)(end - p) != strlen(SYSV_NAME) + KEY_DIGITS + strlen(SYSV_DELETED) ||
	    memcmp(p, SYSV_NAME, strlen(SYSV_NAME)) != 0)
		return false;
	p += strlen(SYSV_NAME);
	for (int i = 0; i < KEY_DIGITS; i++)
		if (!isxdigit((unsigned char)p[i]))
			return false;
	if (memcmp(p + KEY_DIGITS, SYSV_DELETED, strlen(SYSV_DELETED)) != 0)
		return false;
	out->start = start;
	out->end = stop;
	memcpy(out->perms, perms, 4);
	out->perms[4] = '\0';
	return true;
}

int procs_escape_comm(const char *comm, size_t len, char *buf, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)comm[i];
		bool plain = c > ' ' && c <= '~' && c != '\\';
		size_t need = plain ? 1 : 4;

		if (n + need >= size) {
			if (size > 0)
				buf[0] = '\0';
			return -ERANGE;
		}
		if (plain)
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, size - n, "\\%03o", c);
	}
	if (n >= size)
		return -ERANGE;
	buf[n] = '\0';
	return (int)n;
}
