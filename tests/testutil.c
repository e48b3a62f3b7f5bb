/* testutil.c - isolation helpers shared by the tests. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "testutil.h"

bool testutil_in_ci(void)
{
	const char *ci = getenv("CI");

	return ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

void testutil_isolate(bool with_mount)
{
	int flags = CLONE_NEWIPC | (with_mount ? CLONE_NEWNS : 0);

	if (unshare(flags) != 0) {
		fprintf(stderr, "cannot unshare(%s): %s; these tests need root\n",
			with_mount ? "CLONE_NEWIPC|CLONE_NEWNS" : "CLONE_NEWIPC", strerror(errno));
		exit(testutil_in_ci() ? 1 : TEST_SKIP);
	}
	if (with_mount && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fprintf(stderr, "cannot make / private: %s\n", strerror(errno));
		exit(1);
	}
}
