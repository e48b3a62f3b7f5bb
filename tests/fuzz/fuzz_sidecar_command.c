/* fuzz_sidecar_command.c - libFuzzer target for sidecar_parse_command().
 *
 * Property: the only inputs accepted are "lock" and "unlock", each with or
 * without one trailing newline, and each means what it says.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar.h"

static bool is(const uint8_t *data, size_t size, const char *word)
{
	return size == strlen(word) && memcmp(data, word, size) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum sidecar_command cmd = (enum sidecar_command) - 1;
	/* a copy of exactly size bytes, so a read past the end is caught */
	char *buf = malloc(size ? size : 1);
	int ret;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	ret = sidecar_parse_command(buf, size, &cmd);
	free(buf);
	if (ret == 0) {
		if (cmd == SIDECAR_CMD_LOCK && (is(data, size, "lock") || is(data, size, "lock\n")))
			return 0;
		if (cmd == SIDECAR_CMD_UNLOCK &&
		    (is(data, size, "unlock") || is(data, size, "unlock\n")))
			return 0;
		fprintf(stderr, "accepted %zu bytes as command %d\n", size, (int)cmd);
		abort();
	}
	if (ret != -EINVAL) {
		fprintf(stderr, "returned %d, not 0 or -EINVAL\n", ret);
		abort();
	}
	return 0;
}
