#!/bin/bash
# SPDX-License-Identifier: MIT
# Snapshot locks through the CLI: a locked snapshot refuses delete, image
# deregister --delete-snapshots and a policy's retention, each with one
# line; a governance lock can be removed, a compliance one only extended;
# once the date passes, delete works; bad input exits 2.
# Usage: test_locks.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$T/store
export SNAPFS_STORE=$S
"$SNAPFS" init --block-size 4K >/dev/null
mkvol "$T/a.img" 1 a
A=$("$SNAPFS" snapshot create a "$T/a.img" --no-progress)
change "$T/a.img" 0 1 a2
B=$("$SNAPFS" snapshot create a "$T/a.img" --no-progress)
in_secs() { date -u -d "+$1 seconds" +%Y-%m-%dT%H:%M:%SZ; }

# bad input: usage errors, one line, exit 2; the store unchanged
before=$(store_state)
expect_error 2 "$SNAPFS" snapshot lock "$A" --until 2020-01-01
echo "$ERR" | grep -q "not in the future" || soft_fail "past date: $ERR"
expect_error 2 "$SNAPFS" snapshot lock "$A" --until 2027-02-30
expect_error 2 "$SNAPFS" snapshot lock "$A" --until "2027-06-30 12:00"
expect_error 2 "$SNAPFS" snapshot lock "$A" --until 2030-01-01 --mode strict
expect_error 2 "$SNAPFS" snapshot lock "$A"
expect_error 2 "$SNAPFS" snapshot lock nope --until 2030-01-01
expect_error 2 "$SNAPFS" snapshot unlock nope
expect_error 1 "$SNAPFS" snapshot lock snap-0123456789abcdef0 --until 2030-01-01
[ "$(store_state)" = "$before" ] || fail "a refused lock changed the store"

# governance: delete refused, unlock, delete works
"$SNAPFS" snapshot lock "$A" --until 2030-01-01 | grep -q "locked $A (governance) until 2030-01-01" ||
	fail "lock output"
"$SNAPFS" snapshot show "$A" --json | grep -q '"lock_mode": "governance"' || fail "lock not in the record"
expect_error 1 "$SNAPFS" snapshot delete "$A"
echo "$ERR" | grep -q "snapshot $A is locked (governance) until 2030-01-01" || soft_fail "delete refusal: $ERR"
"$SNAPFS" snapshot list | grep -q "$A" || fail "a refused delete removed the snapshot"
"$SNAPFS" snapshot unlock "$A" | grep -q "unlocked $A" || fail "unlock"
"$SNAPFS" snapshot delete "$A" >/dev/null || fail "delete after unlock"

# compliance: unlock, a governance downgrade and shortening refused; extending works.
# Dates have whole seconds and a loaded machine takes one or more between
# commands: each date keeps two seconds or more from "now" and from the
# date it is compared with.
"$SNAPFS" snapshot lock "$B" --until "$(in_secs 6)" --mode compliance >/dev/null
expect_error 1 "$SNAPFS" snapshot unlock "$B"
echo "$ERR" | grep -q "compliance lock" || soft_fail "compliance unlock: $ERR"
expect_error 1 "$SNAPFS" snapshot lock "$B" --until 2030-01-01 --mode governance
expect_error 1 "$SNAPFS" snapshot lock "$B" --until "$(in_secs 3)" --mode compliance
echo "$ERR" | grep -q "shortened or made governance" || soft_fail "compliance shortening: $ERR"
UNTIL=$(in_secs 9)
"$SNAPFS" snapshot lock "$B" --until "$UNTIL" --mode compliance >/dev/null || fail "extend"
expect_error 1 "$SNAPFS" snapshot delete "$B"
echo "$ERR" | grep -q "locked (compliance)" || soft_fail "compliance delete: $ERR"

# an image whose snapshot is locked cannot be deregistered with it
"$SNAPFS" image create web --device "vda=$B" >/dev/null
expect_error 1 "$SNAPFS" image deregister web --delete-snapshots
echo "$ERR" | grep -q "snapshot $B of image web is locked" || soft_fail "deregister: $ERR"
"$SNAPFS" image show web >/dev/null || fail "a refused deregister removed the image"

# after the date: deregister with the snapshot works
while [ "$(date -u +%s)" -le "$(date -u -d "$UNTIL" +%s)" ]; do sleep 1; done
"$SNAPFS" image deregister web --delete-snapshots | grep -q "deleted snapshot $B" ||
	fail "deregister after the lock expired"
"$SNAPFS" snapshot list | grep -q "$B" && fail "$B still listed"

# a policy's retention keeps a locked snapshot and says why
mkvol "$T/p.img" 1 p
"$SNAPFS" volume set-source a "$T/p.img"
"$SNAPFS" volume tag a env=prod
"$SNAPFS" policy create daily --target-tag env=prod --schedule "daily 03:00" --retain-count 1 >/dev/null
"$SNAPFS" policy run --now 2026-12-01T03:00:00Z >/dev/null
P1=$("$SNAPFS" snapshot list --volume a --json | json_field id)
"$SNAPFS" snapshot lock "$P1" --until 2030-01-01 >/dev/null
"$SNAPFS" policy run --now 2026-12-02T03:00:00Z --json >"$T/run.json"
grep -q "retention would delete $P1 but it is locked (governance) until 2030-01-01" "$T/run.json" ||
	{ cat "$T/run.json"; fail "retention did not report the lock"; }
"$SNAPFS" snapshot list | grep -q "$P1" || fail "retention deleted a locked snapshot"
"$SNAPFS" snapshot unlock "$P1" >/dev/null
"$SNAPFS" policy run --now 2026-12-03T03:00:00Z --json >"$T/run.json"
"$SNAPFS" snapshot list | grep -q "$P1" && fail "retention kept an unlocked snapshot"
[ "$("$SNAPFS" snapshot list --volume a --json | grep -c '"id"')" -eq 1 ] || fail "retention count"
check_store "$S"
echo "locks: PASS"
