#!/bin/bash
# SPDX-License-Identifier: MIT
# snapshot delete and gc through the CLI: the store shrinks by at least
# the bytes only the deleted snapshots used, every remaining snapshot
# restores byte-exact, check --read-data passes; gc beside concurrent
# creates and deletes; and, when the mount command exists, a live mount
# reading a deleted and a moved snapshot never sees a wrong byte.
# Usage: test_gc.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$T/store
export SNAPFS_STORE=$S
"$SNAPFS" init --block-size 64K >/dev/null

# ---- 1. what only deleted snapshots used is freed ----
# a1: 32 MiB; a2: 8 MiB at 8 MiB rewritten; a3: the same 8 MiB rewritten
# again, so a2's new 8 MiB belong to a2 alone. b: 16 MiB of its own.
mkvol "$T/a1" 32 a1
cp "$T/a1" "$T/a2" && change "$T/a2" 8 8 a2
cp "$T/a2" "$T/a3" && change "$T/a3" 8 8 a3
mkvol "$T/b" 16 b
A1=$("$SNAPFS" snapshot create a "$T/a1" --no-progress)
A2=$("$SNAPFS" snapshot create a "$T/a2" --no-progress)
B=$("$SNAPFS" snapshot create b "$T/b" --no-progress)
A3=$("$SNAPFS" snapshot create a "$T/a3" --no-progress)

"$SNAPFS" snapshot delete "$A2" "$B" >/dev/null
"$SNAPFS" snapshot show "$A2" >/dev/null 2>&1 && fail "deleted snapshot still listed"
out=$("$SNAPFS" snapshot delete "$A2" 2>&1) && fail "deleting twice succeeded"
echo "$out" | grep -q "no snapshot $A2" || fail "unclear error: $out"

before=$(packs_bytes "$S")
"$SNAPFS" gc --dry-run --json >"$T/dry.json"
[ "$(packs_bytes "$S")" = "$before" ] || fail "dry run changed the store"
dead=$(json_field dead_bytes <"$T/dry.json")
[ "$dead" -ge $((24 << 20)) ] || fail "dry run found only $dead dead bytes"

# Default threshold first, then a full compaction (every pack with any
# dead record rewritten): the bound holds after the full one.
"$SNAPFS" gc --json >"$T/gc1.json"
"$SNAPFS" gc --json --rewrite-below 100 >"$T/gc2.json"
after=$(packs_bytes "$S")
freed=$((before - after))
reported=$(($(json_field freed_bytes <"$T/gc1.json") + $(json_field freed_bytes <"$T/gc2.json")))
echo "gc: packs $before -> $after bytes, freed $freed (reported $reported); only-deleted data 24 MiB"
[ "$freed" -ge $((24 << 20)) ] || fail "store shrank by $freed bytes, expected >= 24 MiB"
[ "$reported" -eq "$freed" ] || fail "gc reported $reported bytes freed, disk says $freed"
restore_eq "$S" "$A1" "$T/a1"
restore_eq "$S" "$A3" "$T/a3"
check_store "$S"
grep -q "unreferenced" "$T/check.out" && fail "unreferenced chunks left after gc"
"$SNAPFS" gc --json | json_field dead_chunks | grep -qx 0 || fail "second gc found garbage"

# ---- 2. gc beside concurrent creates and deletes ----
# The creates wait or are refused while gc holds the writer lock; a
# refused create is retried. Afterwards every snapshot kept must restore
# to the bytes it was taken of.
mkvol "$T/c" 24 c0
(
	set +e
	for i in $(seq 1 12); do
		change "$T/c" $((i % 20)) 2 "c$i"
		for try in $(seq 1 200); do
			id=$("$SNAPFS" snapshot create c "$T/c" --no-progress 2>"$T/create.err") && break
			grep -q "locked" "$T/create.err" || { cat "$T/create.err" >&2; exit 1; }
			sleep 0.05
		done
		[ -n "$id" ] || exit 1
		cp "$T/c" "$T/c.$id"
		echo "$id" >>"$T/c.ids"
	done
) &
CREATOR=$!
track_pid "$CREATOR"
rounds=0
while kill -0 "$CREATOR" 2>/dev/null; do
	# delete all but the two newest snapshots made so far
	if [ -f "$T/c.ids" ] && [ "$(wc -l <"$T/c.ids")" -gt 2 ]; then
		old=$(head -n -2 "$T/c.ids")
		for id in $old; do
			"$SNAPFS" snapshot delete "$id" >/dev/null 2>&1 && rm -f "$T/c.$id"
		done
	fi
	# Every other round with a mark buffer of 128 ids, so that the live
	# set goes through sorted runs on disk (0 is the default buffer).
	SNAPFS_MARK_MEM=$((rounds % 2 ? 4096 : 0)) "$SNAPFS" gc --rewrite-below 90 --json \
		>/dev/null || fail "gc beside creates"
	rounds=$((rounds + 1))
done
wait "$CREATOR" || fail "concurrent creates failed"
echo "gc: $rounds gc runs beside 12 creates"
for f in "$T"/c.snap-*; do
	id=${f##*/c.}
	restore_eq "$S" "$id" "$f"
done
check_store "$S"
SNAPFS_MARK_MEM=4096 check_store "$S"

# ---- 3. a live mount (when this snapfs has one) ----
if ! "$SNAPFS" mount --help >/dev/null 2>&1 || [ ! -e /dev/fuse ] ||
	! command -v fusermount3 >/dev/null || ! command -v python3 >/dev/null; then
	echo "gc: live-mount part skipped (no mount command, /dev/fuse, fusermount3 or python3)"
	exit 0
fi
mkvol "$T/m1" 16 m1
mkvol "$T/m2" 16 m2
M1=$("$SNAPFS" snapshot create m1 "$T/m1" --no-progress)
M2=$("$SNAPFS" snapshot create m2 "$T/m2" --no-progress)
mkdir "$T/mnt"
# A small block cache and no readahead, and the readers drop the page
# cache before every read: reads must reach the packs while gc moves and
# removes them. (A mount ignores options it does not know.)
"$SNAPFS" mount "$T/mnt" -o cache_size=1M,readahead=0 || fail "mount"
track_mount "$T/mnt"
# Readers hold the image files open and compare every read with the
# source: m1's snapshot is deleted and collected under them (a clean
# error is allowed once its chunks are gone, a wrong byte never), m2's
# chunks are moved by the rewrite (every read must succeed). Each tells
# that it holds its image open by making its ready file: on a loaded
# machine Python's start can take longer than any fixed wait, and a
# snapshot deleted before the open is simply not there.
cat >"$T/reader.py" <<'PY'
import os, sys, time
img, src, seconds, may_fail, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
want = open(src, "rb").read()
fd = os.open(img, os.O_RDONLY)
open(ready, "w").close()
deadline = time.time() + seconds
bs, reads, errors = 65536, 0, 0
import random
while time.time() < deadline:
    off = random.randrange(0, len(want) // bs) * bs
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        got = os.pread(fd, bs, off)
    except OSError:
        errors += 1
        if not may_fail:
            print("read error on a live snapshot at", off); sys.exit(1)
        continue
    reads += 1
    if got != want[off:off + bs]:
        print("WRONG BYTES at", off, "in", img); sys.exit(1)
print("gc: mount reader of", img.split("/")[-1], "reads", reads, "clean errors", errors)
PY
python3 "$T/reader.py" "$T/mnt/snapshots/$M1.img" "$T/m1" 7 1 "$T/r1.ready" &
R1=$!
python3 "$T/reader.py" "$T/mnt/snapshots/$M2.img" "$T/m2" 7 0 "$T/r2.ready" &
R2=$!
track_pid "$R1"
track_pid "$R2"
for f in "$T/r1.ready" "$T/r2.ready"; do
	for _ in $(seq 60); do [ -e "$f" ] && break; sleep 0.1; done
	[ -e "$f" ] || fail "a reader did not open its image within 6 s"
done
sleep 1
"$SNAPFS" snapshot delete "$M1" >/dev/null
"$SNAPFS" gc --rewrite-below 100 --json >/dev/null || fail "gc under a mount"
sleep 1
"$SNAPFS" gc --rewrite-below 100 --json >/dev/null || fail "gc under a mount"
wait "$R1" || fail "reader of the deleted snapshot saw wrong bytes"
wait "$R2" || fail "reader of a live snapshot failed"
fusermount3 -u "$T/mnt"
check_store "$S"
echo "gc: PASS"
