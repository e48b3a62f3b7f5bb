#!/bin/sh
# double-buffer.sh - the producer of the double-buffer handshake, in the
# shell, through a shmfs mount: the consumer is double-buffer.c.
#
#   double-buffer.sh MOUNT KEY COUNT
#
# P is a -1 written to a semaphore's file, V a +1; a -1 that cannot go
# through now is refused (EAGAIN) rather than waited for, so P tries
# again.  Each buffer is 64 bytes of the segment, written with dd.
set -eu
mount=$1 key=$(printf '0x%08x' "$2") count=$3
sem=$mount/sem/by-key/$key
seg=$mount/by-key/$key

P() { until echo -1 2>/dev/null >"$sem/$1"; do sleep 0.01; done; }
V() { echo +1 >"$sem/$1"; }

i=0
while [ "$i" -lt "$count" ]; do
	P 0 # an empty buffer
	printf '%-63s\n' "buffer $i from the shell" |
		dd of="$seg" bs=64 seek=$((i % 2)) conv=notrunc status=none
	V 1 # a full one
	i=$((i + 1))
done
