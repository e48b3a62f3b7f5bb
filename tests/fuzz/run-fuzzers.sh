#!/bin/sh
# Build the libFuzzer targets with clang (ASan + UBSan) in a build
# directory of their own, then run each for a bounded time and print how
# many inputs it tried.  A crash or a failed property stops the script
# with the reproducer's path (libFuzzer writes crash-* in the corpus dir).
#
#   tests/fuzz/run-fuzzers.sh            # 20 s per target
#   FUZZ_SECONDS=300 tests/fuzz/run-fuzzers.sh
set -eu
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build-fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
TARGETS="fuzz_names fuzz_sidecar_command fuzz_sidecar_render fuzz_proc_line fuzz_options fuzz_procs fuzz_views"

if [ ! -f "$BUILD/build.ninja" ]; then
	CC=clang meson setup "$BUILD" -Dfuzz=true
fi
meson compile -C "$BUILD" $TARGETS
BUILD="$(cd "$BUILD" && pwd)" # absolute: the targets run from elsewhere

work=$(mktemp -d /tmp/shmfs-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A few seeds, so the first runs start from valid input.
mkdir -p "$work/fuzz_names" "$work/fuzz_sidecar_command" "$work/fuzz_sidecar_render" \
	"$work/fuzz_proc_line" "$work/fuzz_options" "$work/fuzz_procs" "$work/fuzz_views"
printf '0.1' > "$work/fuzz_options/seconds"
printf '16M' > "$work/fuzz_options/size"
printf '32768' > "$work/fuzz_names/seg"
printf '0.stat' > "$work/fuzz_names/stat"
printf '2147483647.next' > "$work/fuzz_names/next"
printf '0x0000162e' > "$work/fuzz_names/key"
printf '0xDEADbeef.next' > "$work/fuzz_names/nextlink"
printf 'lock\n' > "$work/fuzz_sidecar_command/lock"
printf 'unlock' > "$work/fuzz_sidecar_command/unlock"
head -c 96 /dev/urandom > "$work/fuzz_sidecar_render/random"
printf '      5678      32768   1600       4096   123   456      1     0     0     0     0 1764166377 1764166380 1764166370     4096        0\n' \
	> "$work/fuzz_proc_line/line"
printf '0 0 0 0 0 0 0 0 0 0 0 0 0 0\n' > "$work/fuzz_proc_line/short"
{ printf '\5'; printf '7f5c2d400000-7f5c2d403000 rw-s 00000000 00:01 5      /SYSV0000162e (deleted)\n'; } \
	> "$work/fuzz_procs/attach"

printf -- '-32767\n' > "$work/fuzz_views/op"
printf '      4660      32769   640          3  1000  1001  1002  1003 1796452022 1796452029\n' \
	> "$work/fuzz_views/semline"
printf '220 0x5 0x7ffe95ff6e90 0x1 0x0 0x0 0x7f7615645740 0x7ffe95ff6e58 0x7f76157535da\n' \
	> "$work/fuzz_views/syscall"

total=0
for t in $TARGETS; do
	log="$work/$t.log"
	if ! (cd "$work" && "$BUILD/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" \
		-print_final_stats=1 -artifact_prefix="$BUILD/$t-" "$work/$t") >"$log" 2>&1; then
		tail -n 40 "$log"
		echo "run-fuzzers: $t failed; reproducer in $BUILD/$t-*" >&2
		exit 1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	echo "$t: $runs executions in ${SECONDS_EACH}s"
	total=$((total + runs))
done
echo "run-fuzzers: $total executions in all, no crash"
