/* fuzz_proc_line.c - libFuzzer target for segment_parse_proc_line().
 *
 * Properties: a line that parses renders as a sidecar within SIDECAR_MAX,
 * and printing the parsed fields back as a /proc/sysvipc/shm line and
 * parsing that gives the same fields.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "segment.h"
#include "sidecar.h"
#include "fuzz_check.h"

static bool same(const struct segment_info *a, const struct segment_info *b)
{
	return a->key == b->key && a->shmid == b->shmid && a->mode == b->mode &&
	       a->size == b->size && a->cpid == b->cpid && a->lpid == b->lpid &&
	       a->nattch == b->nattch && a->uid == b->uid && a->gid == b->gid &&
	       a->cuid == b->cuid && a->cgid == b->cgid && a->atime == b->atime &&
	       a->dtime == b->dtime && a->ctime == b->ctime && a->have_usage == b->have_usage &&
	       (!a->have_usage || (a->rss == b->rss && a->swap == b->swap));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct segment_info seg, again;
	char text[SIDECAR_MAX], line[512];
	char *copy = malloc(size + 1);
	int ret, n;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	ret = segment_parse_proc_line(copy, &seg);
	free(copy);
	if (ret != 0) {
		CHECK(ret == -EINVAL);
		return 0;
	}
	CHECK(seg.shmid >= 0);

	struct sidecar_locks locks = { .lock_semid = 7, .notify_semid = -1 };
	ret = sidecar_render(&seg, &locks, NULL, text, sizeof(text));
	CHECK(ret > 0 && (size_t)ret == strlen(text));

	/* The kernel prints the key as %10d, everything else as unsigned
	 * or signed decimal, perms in octal. */
	n = snprintf(line, sizeof(line),
		     "%d %d %o %" PRIu64 " %d %d %" PRIu64 " %u %u %u %u %jd %jd %jd", seg.key,
		     seg.shmid, seg.mode, seg.size, (int)seg.cpid, (int)seg.lpid, seg.nattch,
		     (unsigned)seg.uid, (unsigned)seg.gid, (unsigned)seg.cuid, (unsigned)seg.cgid,
		     (intmax_t)seg.atime, (intmax_t)seg.dtime, (intmax_t)seg.ctime);
	if (seg.have_usage)
		snprintf(line + n, sizeof(line) - n, " %" PRIu64 " %" PRIu64 "\n", seg.rss,
			 seg.swap);
	CHECK(segment_parse_proc_line(line, &again) == 0);
	CHECK(same(&seg, &again));
	return 0;
}
