#!/bin/bash
# SPDX-License-Identifier: MIT
# kill -9 of gc and of snapshot copy at random moments (at least ITER
# kills each, default 24): after every kill the store (and the copy's destination) passes
# check --read-data and every live snapshot restores byte-exact; an
# interrupted copy, run again, completes and sends less than a full copy.
# Usage: test_lifecycle_crash.sh /path/to/snapfs [ITER]
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
ITER=${2:-24}
S=$T/store
export SNAPFS_STORE=$S

# 4 KiB blocks and 1 MiB packs: many chunks and many packs, so that gc
# spends long enough in every phase (mark, copy, commit, unlink) for the
# random kills to land in each.
"$SNAPFS" init --block-size 4K >/dev/null
sed -i 's/^pack_size = .*/pack_size = 1048576/' "$S/config"

# The kill comes at a random moment within a window that adapts to how
# long the command takes here: narrower after it finished first, wider
# after it was killed, so that kills land all through its run.
WINDOW=200
rand_sleep() {
	local ms=$((RANDOM % (WINDOW + 1)))
	sleep "$((ms / 1000)).$(printf "%03d" $((ms % 1000)))"
}
adapt() { # 1: killed, 0: finished first
	if [ "$1" = 1 ]; then WINDOW=$((WINDOW * 11 / 10 + 1)); else WINDOW=$((WINDOW * 2 / 3)); fi
	[ "$WINDOW" -ge 5 ] || WINDOW=5
}

verify_all() { # every snapshot left restores to the file it was taken of
	for f in "$T"/keep.*; do
		[ -e "$f" ] || continue
		restore_eq "$S" "${f##*/keep.}" "$f"
	done
}

# ---- gc ----
mkvol "$T/v" 24 v0
for i in 1 2 3; do
	change "$T/v" $((i * 5)) 4 "v$i"
	id=$("$SNAPFS" snapshot create v "$T/v" --no-progress)
	cp "$T/v" "$T/keep.$id"
done
killed=0 finished=0 i=0
while [ "$killed" -lt "$ITER" ]; do
	i=$((i + 1))
	[ "$i" -le $((4 * ITER)) ] || fail "gc was killed only $killed times in $i runs"
	change "$T/v" $(((i * 7) % 20)) 4 "g$i"
	id=$("$SNAPFS" snapshot create v "$T/v" --no-progress)
	cp "$T/v" "$T/keep.$id"
	oldest=$(ls -tr "$T"/keep.* | head -n1)
	"$SNAPFS" snapshot delete "${oldest##*/keep.}" >/dev/null
	rm -f "$oldest"
	"$SNAPFS" gc --rewrite-below 90 --json >"$T/gc.out" 2>&1 &
	pid=$!
	rand_sleep
	if kill -9 "$pid" 2>/dev/null; then
		killed=$((killed + 1))
		adapt 1
	else
		finished=$((finished + 1))
		adapt 0
	fi
	wait "$pid" 2>/dev/null || true
	check_store "$S"
	verify_all
done
echo "crash: gc killed $killed times ($finished finished first); store checked after each"
"$SNAPFS" gc --rewrite-below 100 --json >/dev/null
check_store "$S"
grep -q "unreferenced" "$T/check.out" && fail "garbage left after a clean gc"
verify_all

# ---- copy ----
D=$T/dst
"$SNAPFS" --store "$D" init --block-size 4K --compression-level 3 >/dev/null
mkvol "$T/big" 96 big
BIG=$("$SNAPFS" snapshot create big "$T/big" --no-progress)
resumed=0 smaller=0 killed=0 i=0
WINDOW=600
while [ "$killed" -lt "$ITER" ]; do
	i=$((i + 1))
	[ "$i" -le $((4 * ITER)) ] || fail "copy was killed only $killed times in $i runs"
	"$SNAPFS" snapshot copy "$BIG" --to-store "$D" --json >"$T/copy.json" 2>"$T/copy.err" &
	pid=$!
	rand_sleep
	if kill -9 "$pid" 2>/dev/null; then
		killed=$((killed + 1))
		adapt 1
	else
		adapt 0
	fi
	if wait "$pid" 2>/dev/null; then
		# It finished, perhaps resuming an interrupted one: the copy must
		# be right; a resumed one sends less than the whole snapshot.
		sent=$(json_field sent_bytes <"$T/copy.json")
		id=$(json_field id <"$T/copy.json")
		restore_eq "$D" "$id" "$T/big"
		resumed=$((resumed + 1))
		[ "$sent" -lt $((96 << 20)) ] && smaller=$((smaller + 1))
		# start over: drop the copy and collect, so the next kill meets work
		"$SNAPFS" --store "$D" snapshot delete "$id" >/dev/null
		"$SNAPFS" --store "$D" gc --rewrite-below 100 --json >/dev/null
	fi
	check_store "$D"
done
# and a final, complete copy
"$SNAPFS" snapshot copy "$BIG" --to-store "$D" --json >"$T/copy.json"
restore_eq "$D" "$(json_field id <"$T/copy.json")" "$T/big"
check_store "$D"
check_store "$S"
echo "crash: copy killed $killed times, completed $resumed times ($smaller resumed with less than a full copy sent)"
[ "$smaller" -ge 1 ] || fail "no interrupted copy resumed without resending everything"
echo "lifecycle crash: PASS"
