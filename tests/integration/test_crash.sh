#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 of `snapshot create` at random moments: afterwards the store
# checks clean (check changes nothing; the next writer deals with what was
# left) and every completed snapshot restores byte for byte.
. "$(dirname "$0")/lib.sh" "$@"

ROUNDS=${SNAPFS_CRASH_ROUNDS:-20}
SRC=$T/src
sfs init >/dev/null

# ~200 MB that compresses (base64 of random bytes), so that ingest spends
# its time in hashing, compression and pack writes.
head -c 150M /dev/urandom | base64 -w 76 >"$SRC"
SIZE=$(stat -c %s "$SRC")
declare -A EXPECT=()   # description -> sha256 of the source in that round
declare -A VERIFIED=() # snapshot ids restored and compared

# mutate: 40 MB of new compressible data at a random place.
mutate() {
	head -c 30M /dev/urandom | base64 -w 76 |
		dd of="$SRC" bs=1M seek=$((RANDOM % (SIZE / 1048576 - 41))) conv=notrunc status=none
}

now_ms() { date +%s%3N; }

# Calibration: how long an incremental snapshot of such a change takes
# here, so that the kills land inside ingests rather than after them.
sfs snapshot create main "$SRC" --description round-0 --no-progress >/dev/null
EXPECT[round-0]=$(sha "$SRC")
mutate
t0=$(now_ms)
sfs snapshot create main "$SRC" --description round-c --no-progress >/dev/null
DUR=$(($(now_ms) - t0))
EXPECT[round-c]=$(sha "$SRC")
log "an incremental snapshot of a 40 MB change takes ${DUR} ms; kills land in 10..$((DUR * 6 / 5)) ms"

# verify_restore ID: restores ID and compares with the sha of its round.
verify_restore() {
	local id=$1 desc out=$T/restored
	desc=$(sfs snapshot show "$id" --json | json_field description)
	[ -n "${EXPECT[$desc]:-}" ] || fail "snapshot $id has unknown description '$desc'"
	sfs snapshot restore "$id" "$out" || fail "restore of $id ($desc) failed"
	[ "$(sha "$out")" = "${EXPECT[$desc]}" ] || fail "restore of $id ($desc) differs from its source"
	rm -f "$out"
}

# The machine's load changes while the test runs: a create that finished
# before its kill shrinks the window, and rounds go on (up to three times
# as many) until at least half of ROUNDS kills landed inside an ingest.
killed_count=0
round=0
while [ "$round" -lt "$ROUNDS" ] ||
	{ [ "$killed_count" -lt $((ROUNDS / 2)) ] && [ "$round" -lt $((ROUNDS * 3)) ]; }; do
	round=$((round + 1))
	vol=main
	# Every fourth round starts a new volume: a first snapshot, no parent.
	[ $((round % 4)) -eq 0 ] && vol=v$round
	mutate
	EXPECT[round-$round]=$(sha "$SRC")

	delay_ms=$((10 + RANDOM % (DUR * 6 / 5 + 1)))
	delay=$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))
	"$SNAPFS" --store "$STORE" snapshot create "$vol" "$SRC" --description "round-$round" \
		--no-progress >"$T/create.out" 2>"$T/create.err" &
	pid=$!
	track_pid "$pid"
	sleep "$delay"
	if kill -9 "$pid" 2>/dev/null; then
		killed=killed
		killed_count=$((killed_count + 1))
	else
		killed=finished
		DUR=$((DUR * 3 / 4 > 50 ? DUR * 3 / 4 : 50))
	fi
	wait "$pid" 2>/dev/null || true

	# The next reader must find a consistent store.
	if ! sfs check --read-data >"$T/check.out" 2>&1; then
		cat "$T/check.out" >&2
		fail "round $round ($killed after ${delay}s): check --read-data failed"
	fi
	sfs snapshot list --json >"$T/list.json"
	n=$(grep -c '"state": *"completed"' "$T/list.json" || true)
	log "round $round: $killed after ${delay}s, $n completed snapshots, check ok"
	# Snapshots that completed in this round restore byte for byte (the
	# older ones were restored in their round; check --read-data has
	# verified every chunk since). A pending one is the killed create's,
	# which check leaves to the next writer.
	for id in $(grep -o '"id": *"snap-[0-9a-f]*"' "$T/list.json" | sed 's/.*"\(snap-[0-9a-f]*\)"/\1/'); do
		[ -n "${VERIFIED[$id]:-}" ] && continue
		sfs snapshot show "$id" --json | grep -q '"state": *"completed"' || continue
		verify_restore "$id"
		VERIFIED[$id]=1
	done
done
[ "$killed_count" -ge $((ROUNDS / 2)) ] ||
	fail "only $killed_count of $round ingests were interrupted: the kills came too late"

log "a writer after the last crash cleans up; every completed snapshot restores"
head -c 1M /dev/urandom >"$T/tiny"
sfs snapshot create after-crash "$T/tiny" --no-progress >/dev/null ||
	fail "a new writer cannot snapshot"
sfs snapshot list --json >"$T/list.json"
grep -q '"state": *"pending"' "$T/list.json" && fail "pending snapshots remain after a writer ran"
count=0
for id in $(grep -o '"id": *"snap-[0-9a-f]*"' "$T/list.json" | sed 's/.*"\(snap-[0-9a-f]*\)"/\1/'); do
	sfs snapshot show "$id" --json >"$T/show.json"
	[ "$(json_field state <"$T/show.json")" = completed ] || continue
	[ "$(json_field volume <"$T/show.json")" = after-crash ] && continue
	# Restore every one again: later writers' recovery must not have
	# disturbed them.
	verify_restore "$id"
	count=$((count + 1))
done
log "$count completed snapshots restored byte for byte ($killed_count ingests killed)"
sfs check --read-data >/dev/null || fail "final check failed"
