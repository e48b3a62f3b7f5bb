/* fuzz_options.c - libFuzzer target for the mount option value parsers.
 *
 * Properties: a value accepted as seconds is within [0, max]; a size
 * accepted is > 0; and an accepted string is only digits, at most one '.'
 * (seconds) or one K/M/G suffix (size).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	double secs;
	size_t bytes;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (options_parse_seconds(s, 86400, &secs)) {
		if (!(secs >= 0 && secs <= 86400) || strspn(s, "0123456789.") != strlen(s))
			abort();
	}
	if (options_parse_size(s, &bytes)) {
		if (bytes == 0 || strspn(s, "0123456789") < strlen(s) - 1)
			abort();
	}
	free(s);
	return 0;
}
