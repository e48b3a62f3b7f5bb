/* fuzz_views.c - libFuzzer target for the views' parsers of untrusted
 * text: what is written to a semaphore (semset_parse_write), the lines of
 * /proc/sysvipc/sem and msg, /proc/PID/syscall and /proc/PID/stat.
 *
 * Properties, beyond "no crash, no undefined behaviour":
 *   - a write that parses is in range, and printing it back ("%d", with
 *     "+" for a positive relative one) parses to the same;
 *   - a proc line that parses has a non-negative id.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgq.h"
#include "orphan.h"
#include "semset.h"
#include "waiters.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct semset_write w, back;
	struct semset_info set;
	struct msgq_info q;
	unsigned long args[6];
	unsigned long long ticks;
	char state, printed[32];
	long nr;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (semset_parse_write(text, size, &w) == 0) {
		CHECK(w.value >= -SEMSET_VALUE_MAX && w.value <= SEMSET_VALUE_MAX);
		CHECK(w.relative ? w.value != 0 : w.value >= 0);
		snprintf(printed, sizeof(printed), w.relative && w.value > 0 ? "+%d" : "%d",
			 w.value);
		CHECK(semset_parse_write(printed, strlen(printed), &back) == 0);
		CHECK(back.relative == w.relative && back.value == w.value);
	}
	if (semset_parse_proc_line(text, &set) == 0)
		CHECK(set.semid >= 0);
	if (msgq_parse_proc_line(text, &q) == 0)
		CHECK(q.msqid >= 0);
	(void)waiters_parse_syscall(text, &nr, args);
	(void)orphan_parse_stat(text, size, &state, &ticks);
	free(text);
	return 0;
}
