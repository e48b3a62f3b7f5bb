/* testutil.h - isolation helpers shared by the tests. */
#ifndef SHMFS_TESTUTIL_H
#define SHMFS_TESTUTIL_H

#include <stdbool.h>

/* Exit code meson understands as "skipped". */
#define TEST_SKIP 77

/* True when running under CI (CI=true): a skip is then a failure. */
bool testutil_in_ci(void);

/* Move this process into a private IPC namespace (and, if with_mount, a
 * private mount namespace with "/" made recursively private), so nothing
 * it creates can touch the machine's own segments or mounts.  If that is
 * impossible (not root), exits with TEST_SKIP, or with 1 under CI. */
void testutil_isolate(bool with_mount);

#endif
