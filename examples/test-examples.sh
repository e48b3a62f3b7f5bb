#!/bin/sh
# test-examples.sh PRODUCER CONSUMER - run the examples against each other.
#
# Runs in a private IPC namespace (it re-executes itself under
# `unshare --ipc`), so the machine's own segments and semaphores are never
# seen nor touched.  Checks that:
#   - the consumer prints the producer's messages 1..5, in order, once each;
#   - sysv_ipc_client.py reads the producer's buffer under the same lock;
#   - sysv_ipc_client.py and sharelite.pl each read back what they wrote,
#     and a ShareLite segment is its 16-byte header followed by the text;
#   - the producer, the consumer and sysv_ipc_client.py mark the lock set
#     of their key in the shmfs protocol (semaphore 0 is 1, 3 and 4 the
#     mark 0x5348 0x464d), which is what makes shmfs lock with it;
#   - sharelite.pl refuses a segment that IPC::ShareLite did not set up,
#     even when its lock set is marked;
#   - nothing is left behind: no segment, no semaphore set.
# The Perl or Python part is skipped, with a note, when IPC::ShareLite or
# sysv_ipc is missing.  Exit status 77 (skip, for meson) when no IPC
# namespace can be made.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 PRODUCER CONSUMER" >&2
	exit 2
fi

if [ "${SHMFS_EXAMPLES_PRIVATE_IPC:-}" != 1 ]; then
	SHMFS_EXAMPLES_PRIVATE_IPC=1
	export SHMFS_EXAMPLES_PRIVATE_IPC
	# Root can make an IPC namespace directly; others may through a user
	# namespace.  $how is split into words on purpose.
	for how in "--ipc" "--user --map-root-user --ipc"; do
		# shellcheck disable=SC2086
		if unshare $how true 2>/dev/null; then
			# shellcheck disable=SC2086
			exec unshare $how sh "$0" "$@"
		fi
	done
	echo "SKIP: cannot make a private IPC namespace with unshare" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 77
fi

producer=$1
consumer=$2
here=$(cd "$(dirname "$0")" && pwd)
client_py=$here/sysv_ipc_client.py
client_pl=$here/sharelite.pl
work=$(mktemp -d)
background= # pids to kill if we fail midway

cleanup()
{
	for pid in $background; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

fail()
{
	echo "FAIL: $*" >&2
	for f in "$work"/*.err; do
		[ -s "$f" ] && sed "s|^|  $(basename "$f" .err): |" "$f" >&2
	done
	exit 1
}

ipc_objects()
{
	awk 'FNR > 1' /proc/sysvipc/shm /proc/sysvipc/sem
}

[ -z "$(ipc_objects)" ] || fail "the IPC namespace is not empty: not private?"

# Semaphores 0, 3 and 4 of the set with key $1 (ipcs prints the key as 0x
# and 8 hex digits): "1 21320 17997" for a set marked in the shmfs protocol
# (initialised, then the mark 0x5348 0x464d), or nothing if there is no
# such set.
lock_mark()
{
	semid=$(ipcs -s | awk -v key="$1" '$1 == key { print $2 }')
	[ -n "$semid" ] || return 0
	ipcs -s -i "$semid" | awk '($1 == "0" || $1 == "3" || $1 == "4") && NF == 5 { v = v sep $2; sep = " " } END { print v }'
}

# 1. Producer and consumer.  The consumer starts first and must wait for
# the producer; the producer stops after the fifth message has been read
# and, with -r, removes the segment and both semaphore sets.
timeout 30 "$consumer" -n 5 >"$work/consumed" 2>"$work/consumer.err" &
consumer_pid=$!
background="$consumer_pid"
timeout 30 "$producer" -n 5 -i 50 -r 2>"$work/producer.err" || fail "producer exited with $?"
wait "$consumer_pid" || fail "consumer exited with $?"
background=
got=$(sed -n 's/^message \([0-9]*\) from producer [0-9]* at .*/\1/p' "$work/consumed" | tr '\n' ' ')
[ "$got" = "1 2 3 4 5 " ] || fail "consumer printed messages '$got', wanted '1 2 3 4 5 '"
[ "$(wc -l <"$work/consumed")" -eq 5 ] || fail "consumer printed other lines: $(cat "$work/consumed")"
[ -z "$(ipc_objects)" ] || fail "producer -r left IPC objects: $(ipc_objects)"
echo "ok - consumer got messages 1..5 in order"

python=
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
	if "$candidate" -c 'import sysv_ipc' 2>/dev/null; then
		python=$candidate
		break
	fi
done
have_perl=
if perl -MIPC::ShareLite -e 1 2>/dev/null; then
	have_perl=1
fi

# 2. A third party reads the producer's buffer under the shared lock,
# without taking the consumer's turn: it sees message 1 while the producer
# waits for the consumer.
if [ -n "$python" ]; then
	timeout 30 "$producer" -n 1 -r 2>"$work/producer.err" &
	producer_pid=$!
	background="$producer_pid"
	# The producer makes its lock set before the segment, so once the
	# segment shows, the set is there and (the producer alone) marked it.
	tries=0
	until ipcs -m | grep -q '^0x5348464d '; do
		tries=$((tries + 1))
		[ "$tries" -lt 100 ] || fail "the producer never made its segment"
		sleep 0.1
	done
	mark=$(lock_mark 0x5348464d)
	[ "$mark" = "1 21320 17997" ] || fail "the producer's lock set: semaphores 0, 3, 4 are '$mark', not 1 21320 17997"
	tries=0
	until "$python" "$client_py" read >"$work/peek" 2>"$work/client.err" &&
		grep -q '^message 1 from producer' "$work/peek"; do
		tries=$((tries + 1))
		[ "$tries" -lt 100 ] || fail "sysv_ipc_client.py never saw the producer's message"
		sleep 0.1
	done
	timeout 30 "$consumer" -n 1 >"$work/consumed" 2>"$work/consumer.err" ||
		fail "consumer exited with $?"
	wait "$producer_pid" || fail "producer exited with $?"
	background=
	cmp -s "$work/peek" "$work/consumed" ||
		fail "sysv_ipc_client.py read '$(cat "$work/peek")', consumer '$(cat "$work/consumed")'"
	echo "ok - sysv_ipc_client.py reads the producer's buffer"

	"$python" "$client_py" -k 0x50595448 -c -s 256 write "hello from python" 2>"$work/client.err" ||
		fail "sysv_ipc_client.py write"
	mark=$(lock_mark 0x50595448)
	[ "$mark" = "1 21320 17997" ] || fail "sysv_ipc_client.py's lock set: semaphores 0, 3, 4 are '$mark', not 1 21320 17997"
	got=$("$python" "$client_py" -k 0x50595448 read 2>"$work/client.err") ||
		fail "sysv_ipc_client.py read"
	[ "$got" = "hello from python" ] || fail "sysv_ipc_client.py read back '$got'"
	"$python" "$client_py" -k 0x50595448 remove 2>"$work/client.err" ||
		fail "sysv_ipc_client.py remove"
	echo "ok - sysv_ipc_client.py write/read round trip"
else
	[ "${CI:-}" = true ] && fail "CI: no python3 with the sysv_ipc module"
	echo "SKIP - sysv_ipc_client.py: no python3 with the sysv_ipc module (set PYTHON=...)"
fi

# 3. IPC::ShareLite round trip; the raw bytes are what `cat` through the
# mount shows: a 16-byte header, then the text.
if [ -n "$have_perl" ]; then
	perl "$client_pl" -k 0x53484c54 write "hello from perl" 2>"$work/sharelite.err" ||
		fail "sharelite.pl write"
	got=$(perl "$client_pl" -k 0x53484c54 read 2>"$work/sharelite.err") ||
		fail "sharelite.pl read"
	[ "$got" = "hello from perl" ] || fail "sharelite.pl read back '$got'"
	if [ -n "$python" ]; then
		"$python" "$client_py" -k 0x53484c54 dump 2>"$work/client.err" |
			tail -c +17 | head -c 16 >"$work/raw"
		printf 'hello from perl\n' >"$work/expected"
		cmp -s "$work/raw" "$work/expected" ||
			fail "ShareLite segment after its header: '$(cat "$work/raw")'"
	fi
	perl "$client_pl" -k 0x53484c54 remove 2>"$work/sharelite.err" ||
		fail "sharelite.pl remove"
	echo "ok - sharelite.pl write/read round trip"

	if [ -n "$python" ]; then
		"$python" "$client_py" -k 0x53484c55 -c write "not ShareLite's" 2>"$work/client.err" ||
			fail "sysv_ipc_client.py write"
		# Its lock set is marked (by sysv_ipc_client.py), so only the
		# header check can tell; writing would overwrite the first bytes.
		for command in read "write overwritten"; do
			# shellcheck disable=SC2086
			if perl "$client_pl" -k 0x53484c55 $command >/dev/null 2>"$work/sharelite.err"; then
				fail "sharelite.pl $command accepted a segment that ShareLite did not set up"
			fi
			grep -q 'was not set up by IPC::ShareLite' "$work/sharelite.err" ||
				fail "sharelite.pl $command did not refuse the segment: $(cat "$work/sharelite.err")"
		done
		got=$("$python" "$client_py" -k 0x53484c55 read 2>"$work/client.err") ||
			fail "sysv_ipc_client.py read"
		[ "$got" = "not ShareLite's" ] || fail "sharelite.pl changed a foreign segment: '$got'"
		"$python" "$client_py" -k 0x53484c55 remove 2>"$work/client.err" ||
			fail "sysv_ipc_client.py remove"
		echo "ok - sharelite.pl leaves a foreign segment alone"
	fi
else
	[ "${CI:-}" = true ] && fail "CI: perl cannot load IPC::ShareLite"
	echo "SKIP - sharelite.pl: perl cannot load IPC::ShareLite"
fi

[ -z "$(ipc_objects)" ] || fail "IPC objects left behind: $(ipc_objects)"
echo "ok - no segment or semaphore set left"
