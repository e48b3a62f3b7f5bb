/* fuzz_check.h - a property of a fuzz target: abort (which libFuzzer
 * reports with the input) when it does not hold. */
#ifndef SHMFS_FUZZ_CHECK_H
#define SHMFS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
