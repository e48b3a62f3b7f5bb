#!/bin/sh
# The whole suite under the sanitizers, or the daemon under valgrind.
#
#   tests/run-checks.sh asan       # ASan + UBSan build of everything, all tests
#   tests/run-checks.sh valgrind   # the mount tests with shmfs run by valgrind
#
# asan: a build directory of its own (build-asan) with
# -Db_sanitize=address,undefined; any report, or a leak in the daemon at
# unmount, fails the test that caused it.
# valgrind: mountutil runs the daemon as $SHMFS_WRAPPER shmfs ...; valgrind
# exits 99 on an error or a definite leak, which the test that stopped the
# daemon reports as a failed clean exit.  The stress test is left out by
# default, and so is the permission matrix (27,324 cells take minutes
# under valgrind); name tests to run them.
set -eu
cd "$(dirname "$0")/.."
mode="${1:-asan}"
[ $# -gt 0 ] && shift

case "$mode" in
asan)
	BUILD="${BUILD:-build-asan}"
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false
	fi
	meson compile -C "$BUILD"
	# ASan's writev interceptor checks the buffers after the call: by
	# then libfuse's reply is delivered, the file may be closed and the
	# buffer (a sidecar's text) freed by its release, a false report.
	# libfuse 3.14 also keeps an INTERRUPT that arrives after its request
	# was answered on a list it never frees.  Stacks are cut to the
	# allocating function (malloc_context_size=2), so "leak:libfuse3"
	# matches only what libfuse allocated itself, never an allocation of
	# shmfs's made under a libfuse frame.  With libfuse 3.14 the replies
	# are written by src/kernel_features.c's kf_writev, for libfuse.
	dir="$(cd "$BUILD" && pwd)"
	printf 'interceptor_via_lib:libfuse3.so\ninterceptor_via_fun:kf_writev\n' > "$dir/asan.supp"
	echo "leak:libfuse3.so" > "$dir/lsan.supp"
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:malloc_context_size=2:suppressions=$dir/asan.supp}"
	export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$dir/lsan.supp}"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
	meson test -C "$BUILD" --print-errorlogs --timeout-multiplier 3 "$@"
	;;
valgrind)
	BUILD="${BUILD:-build}"
	[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD"
	meson compile -C "$BUILD"
	export SHMFS_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no \
--suppressions=$PWD/tests/valgrind.supp"
	if [ $# -eq 0 ]; then
		set -- mount tool faults hostile diag
	fi
	meson test -C "$BUILD" --print-errorlogs --timeout-multiplier 4 "$@"
	;;
*)
	echo "usage: $0 asan|valgrind [meson test arguments]" >&2
	exit 2
	;;
esac
