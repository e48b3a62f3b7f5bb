#!/bin/sh
# The whole test suite, as CI runs it:
#   0. every C file of src/ include/ tests/ bench/ examples/ must be as
#      clang-format (the committed .clang-format) would write it;
#   1. configure (-Wall -Wextra -Werror), build, run every test;
#   2. the same suite built with ASan + UBSan;
#   3. the mount tests with the daemon under valgrind (no error, no leak);
#   4. every libFuzzer target for a bounded time (FUZZ_SECONDS, default 10).
# Mount tests need root (they run in private IPC and mount namespaces);
# with CI=true a skipped test is a failure.  QUICK=1 runs step 1 only.
set -eu
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"

# What the machine has before: a test run must leave no segment, no
# semaphore set, no FUSE mount and no daemon state (the records of
# /run/shmfs) behind (every test makes its own in private namespaces and
# its own state directory, so this checks that they stayed there).
leftovers()
{
	echo "$(($(wc -l < /proc/sysvipc/shm) - 1)) segments," \
		"$(($(wc -l < /proc/sysvipc/sem) - 1)) semaphore sets," \
		"$(grep -c ' fuse' /proc/self/mountinfo || true) FUSE mounts," \
		"$(find /run/shmfs 2>/dev/null | wc -l) entries in /run/shmfs"
}
before=$(leftovers)

skipped()
{
	grep -q '"result": "SKIP"' "$1/meson-logs/testlog.json"
}

# The format check comes first: a difference fails before anything is built.
# clang-format --dry-run -Werror names every file and line that differs.
if ! command -v clang-format >/dev/null; then
	echo "run-all: clang-format is missing (Debian: apt-get install clang-format)" >&2
	exit 1
fi
find src include tests bench examples -name '*.[ch]' -exec clang-format --dry-run -Werror {} + || {
	echo "run-all: the files above differ from clang-format; clang-format -i FILES fixes them" >&2
	exit 1
}

# -Wall -Wextra -Werror, whatever an existing build directory was set up with.
if [ -f "$BUILD/build.ninja" ]; then
	meson configure "$BUILD" -Dwerror=true -Dwarning_level=2
else
	meson setup "$BUILD" -Dwerror=true -Dwarning_level=2
fi
meson compile -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs "$@"
if [ "${CI:-}" = true ] && skipped "$BUILD"; then
	echo "run-all: tests were skipped under CI; that is a failure" >&2
	exit 1
fi
check_leftovers()
{
	after=$(leftovers)
	if [ "$after" != "$before" ]; then
		echo "run-all: before the tests: $before; now: $after" >&2
		# On a machine of its own (CI) that is a leak; elsewhere other
		# programs may have made or removed some meanwhile: say so, go on.
		if [ "${CI:-}" = true ]; then
			exit 1
		fi
		echo "run-all: other programs may have made or removed IPC objects meanwhile;" \
			"not a failure outside CI" >&2
	fi
	return 0
}
check_leftovers
[ "${QUICK:-}" = 1 ] && exit 0

echo "run-all: the suite under ASan + UBSan"
BUILD="${BUILD}-asan" tests/run-checks.sh asan "$@"

echo "run-all: the daemon under valgrind"
tests/run-checks.sh valgrind

echo "run-all: fuzzing"
FUZZ_SECONDS="${FUZZ_SECONDS:-10}" BUILD="${BUILD}-fuzz" tests/fuzz/run-fuzzers.sh
check_leftovers
echo "run-all: all passed ($before, as before)"
