/* fuzz_sidecar_render.c - libFuzzer target for sidecar_render() and
 * sidecar_format_time().
 *
 * Properties: never a byte written past the buffer (ASan sees it: the
 * buffer is allocated at exactly the size given); either the whole text
 * and its length, or -ERANGE and an empty string; SIDECAR_MAX always
 * suffices; and the text reads back as the segment's values.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar.h"
#include "fuzz_check.h"

/* The value of one "name value" line of text, or NULL. */
static const char *value_of(const char *text, const char *name, char *value, size_t size)
{
	size_t len = strlen(name);

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');

		if (!end)
			return NULL;
		if ((size_t)(end - line) > len && strncmp(line, name, len) == 0 &&
		    line[len] == ' ') {
			size_t n = (size_t)(end - line) - len - 1;

			if (n >= size)
				return NULL;
			memcpy(value, line + len + 1, n);
			value[n] = '\0';
			return value;
		}
		line = end + 1;
	}
	return NULL;
}

struct input {
	struct segment_info seg;
	struct lock_state lock;
	struct notify_state notify;
	uint8_t shown; /* bit 0: the lock's state, bit 1: the notification set's */
	int32_t lock_semid, notify_semid;
	uint16_t bufsize;
	int64_t when;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	char *buf, full[SIDECAR_MAX], v[64], want[64];
	size_t bufsize;
	int ret, whole;

	memset(&in, 0, sizeof(in));
	memcpy(&in, data, size < sizeof(in) ? size : sizeof(in));
	/* a bool holds only 0 or 1 */
	in.seg.have_usage = ((const uint8_t *)&in.seg.have_usage)[0] & 1;
	bufsize = in.bufsize % (SIDECAR_MAX + 64);
	struct sidecar_locks locks = { .lock_semid = in.lock_semid,
				       .lock = (in.shown & 1) ? &in.lock : NULL,
				       .notify_semid = in.notify_semid,
				       .notify = (in.shown & 2) ? &in.notify : NULL };

	whole = sidecar_render(&in.seg, &locks, NULL, full, sizeof(full));
	CHECK(whole > 0 && (size_t)whole < sizeof(full) && strlen(full) == (size_t)whole);

	buf = malloc(bufsize ? bufsize : 1);
	if (!buf)
		return 0;
	ret = sidecar_render(&in.seg, &locks, NULL, buf, bufsize);
	if ((size_t)whole < bufsize) {
		CHECK(ret == whole && memcmp(buf, full, whole + 1) == 0);
	} else {
		CHECK(ret == -ERANGE);
		CHECK(bufsize == 0 || buf[0] == '\0');
	}
	free(buf);

	/* what a reader of the text gets back */
	snprintf(want, sizeof(want), "0x%08x", (unsigned)(uint32_t)in.seg.key);
	CHECK(value_of(full, "key", v, sizeof(v)) && strcmp(v, want) == 0);
	snprintf(want, sizeof(want), "%d", in.seg.shmid);
	CHECK(value_of(full, "shmid", v, sizeof(v)) && strcmp(v, want) == 0);
	snprintf(want, sizeof(want), "%" PRIu64, in.seg.size);
	CHECK(value_of(full, "size", v, sizeof(v)) && strcmp(v, want) == 0);
	snprintf(want, sizeof(want), "%04o", in.seg.mode & 0777);
	CHECK(value_of(full, "perms", v, sizeof(v)) && strcmp(v, want) == 0);
	if (in.lock_semid == SIDECAR_SET_REMOVED)
		snprintf(want, sizeof(want), "removed");
	else if (in.lock_semid < 0)
		snprintf(want, sizeof(want), "none");
	else
		snprintf(want, sizeof(want), "%d", in.lock_semid);
	CHECK(value_of(full, "lock_semid", v, sizeof(v)) && strcmp(v, want) == 0);
	if (in.lock_semid >= 0 && (in.shown & 1)) {
		snprintf(want, sizeof(want), "%u", in.lock.readers);
		CHECK(value_of(full, "lock_readers", v, sizeof(v)) && strcmp(v, want) == 0);
	} else {
		CHECK(value_of(full, "lock_readers", v, sizeof(v)) && strcmp(v, "-") == 0);
	}

	/* any time at all formats, within a small buffer, or says -ERANGE */
	ret = sidecar_format_time((time_t)in.when, v, sizeof(v));
	CHECK(ret > 0 && (size_t)ret == strlen(v));
	CHECK(sidecar_format_time((time_t)in.when, v, (size_t)ret) == -ERANGE && v[0] == '\0');
	return 0;
}
