#!/bin/sh
# double-buffer.sh - the producer of the double-buffer handshake, in the
# shell, through a shmfs mount: the consumer is double-buffer.c.
#
#   double-buffer.sh MOUNT KEY COUNT
#
# P is a -1 written to a semaphore's file, V a +1.  A -1 that cannot go
# through now waits in shmfs until the consumer's V lets it through (or
# fails after shmfs's lock_timeout, 10 s by default, and so does the
# script: set -e).  Both are written with 1<>, which opens the file
# without truncating it: a -1 written with > does not wait (it answers
# EAGAIN), and a > open of a file on which a -1 waits is refused (EBUSY);
# shmfs(1), SEMAPHORE SETS AND MESSAGE QUEUES, says why.  Each buffer is
# 64 bytes of the segment, written with dd.
set -eu
mount=$1 key=$(printf '0x%08x' "$2") count=$3
sem=$mount/sem/by-key/$key
seg=$mount/by-key/$key

P() { echo -1 1<>"$sem/$1"; }
V() { echo +1 1<>"$sem/$1"; }

i=0
while [ "$i" -lt "$count" ]; do
	P 0 # an empty buffer
	printf '%-63s\n' "buffer $i from the shell" |
		dd of="$seg" bs=64 seek=$((i % 2)) conv=notrunc status=none
	V 1 # a full one
	i=$((i + 1))
done
