/* fuzz_procs.c - libFuzzer target for the text procs.c reads and writes:
 * procs_parse_maps_line() (a line of /proc/PID/maps) and
 * procs_escape_comm() (a process name, which its process chooses).
 *
 * Properties: a line parses only if it names the shmid asked for, as a
 * System V attach ("/SYSV" and 8 hex digits, " (deleted)"), with a
 * non-empty range, and formatting what was parsed gives the line's own
 * range and permissions back; an escaped name is one word of printable
 * characters that unescapes to the name, or -ERANGE and "".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procs.h"
#include "fuzz_check.h"

static void check_maps_line(const char *line, size_t len, int shmid)
{
	struct procs_attach a;
	char head[64];
	int n;

	if (!procs_parse_maps_line(line, len, shmid, &a))
		return;
	CHECK(shmid >= 0);
	CHECK(a.start < a.end);
	CHECK(strlen(a.perms) == 4);
	CHECK(memmem(line, len, "/SYSV", 5) != NULL);
	CHECK(len >= 10 && memmem(line, len, " (deleted)", 10) != NULL);
	/* the range as maps writes it: lower-case hex, no leading zeros
	 * needed; compare numerically through a reparse */
	n = snprintf(head, sizeof(head), "%" PRIx64 "-%" PRIx64 " %s", a.start, a.end, a.perms);
	CHECK(n > 0 && (size_t)n < sizeof(head));
	{
		unsigned long long s2, e2;
		char perms[8];

		CHECK(sscanf(line, "%llx-%llx %4s", &s2, &e2, perms) == 3);
		CHECK(s2 == a.start && e2 == a.end && strcmp(perms, a.perms) == 0);
	}
}

static int unescape(const char *s, char *out)
{
	int n = 0;

	while (*s) {
		if (*s == '\\') {
			unsigned int v;

			CHECK(sscanf(s + 1, "%3o", &v) == 1 && v <= 0xff);
			out[n++] = (char)v;
			s += 4;
		} else {
			out[n++] = *s++;
		}
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[512], esc[4 * 64 + 1], back[64];
	int shmid, n;

	if (size < 1)
		return 0;
	/* the first byte picks the shmid: small ones, and the line's own */
	shmid = data[0] < 250 ? data[0] : (int)(data[0] - 256);
	data++;
	size--;
	if (size >= sizeof(line))
		size = sizeof(line) - 1;
	memcpy(line, data, size);
	line[size] = '\0';
	check_maps_line(line, strlen(line), shmid);

	/* a name of up to 63 bytes, any bytes at all */
	size_t len = size < 63 ? size : 63;
	n = procs_escape_comm((const char *)data, len, esc, sizeof(esc));
	CHECK(n >= 0 && (size_t)n == strlen(esc));
	for (int i = 0; i < n; i++)
		CHECK(esc[i] > ' ' && esc[i] <= '~');
	CHECK(unescape(esc, back) == (int)len && memcmp(back, data, len) == 0);
	/* too small a buffer: -ERANGE and an empty string */
	if (n > 0) {
		CHECK(procs_escape_comm((const char *)data, len, esc, (size_t)n) == -ERANGE);
		CHECK(esc[0] == '\0');
	}
	return 0;
}
