#!/bin/sh
# The whole test suite: configure (warnings are errors), build, run every
# test.  Mount tests need root (they run in private IPC and mount
# namespaces); with CI=true a skipped test is a failure.
set -eu
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build}"

if [ -f "$BUILD/build.ninja" ]; then
	meson configure "$BUILD" -Dwerror=true
else
	meson setup "$BUILD" -Dwerror=true
fi
meson compile -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs "$@"

if [ "${CI:-}" = true ] && grep -q '"result": "SKIP"' "$BUILD/meson-logs/testlog.json"; then
	echo "run-all: tests were skipped under CI; that is a failure" >&2
	exit 1
fi
