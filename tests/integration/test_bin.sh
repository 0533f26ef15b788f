#!/bin/bash
# SPDX-License-Identifier: MIT
# The recycle bin through the CLI and a mount: under a 7-day rule a deleted
# snapshot and a deregistered image (with its snapshots) are hidden from
# listings and the mount's snapshots/, volumes/ and images/ trees, gc keeps
# their data, restore brings both back byte-exact; after the period (gc
# --now) gc reclaims the data. Without a rule a delete is final, as is
# --force. Tag filters and resource kinds pick what a rule covers; bad
# input exits 2.
# Usage: test_bin.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$T/store
export SNAPFS_STORE=$S
"$SNAPFS" init --block-size 4K >/dev/null
mkvol "$T/a.img" 4 a
mkvol "$T/r.img" 3 r
mkvol "$T/d.img" 2 d
mkvol "$T/x.img" 1 x
A=$("$SNAPFS" snapshot create a "$T/a.img" --no-progress)
X=$("$SNAPFS" snapshot create x "$T/x.img" --no-progress)
"$SNAPFS" image create web --device "vda=$T/r.img" --device "vdb=$T/d.img" --tag env=prod >/dev/null ||
	fail "image create"
AMI=$("$SNAPFS" image show web --json | json_field id)
R=$("$SNAPFS" image show web --json | json_at devices 0 snapshot)
D=$("$SNAPFS" image show web --json | json_at devices 1 snapshot)

# bad input
expect_error 2 "$SNAPFS" bin rule create
expect_error 2 "$SNAPFS" bin rule create --retain 0d
expect_error 2 "$SNAPFS" bin rule create --retain 7
expect_error 2 "$SNAPFS" bin rule create --retain 3651d
expect_error 2 "$SNAPFS" bin rule create --retain 7d --images --snapshots
expect_error 2 "$SNAPFS" bin rule create --retain 7d --target-tag noequals
expect_error 2 "$SNAPFS" bin rule delete nope
expect_error 1 "$SNAPFS" bin rule delete rule-0123456789abcdef0
expect_error 2 "$SNAPFS" bin restore nope
expect_error 1 "$SNAPFS" bin restore snap-0123456789abcdef0
expect_error 2 "$SNAPFS" bin list --now tomorrow
expect_error 2 "$SNAPFS" gc --now 2026-13-01T00:00:00Z
[ -z "$("$SNAPFS" bin rule list)" ] || fail "a refused rule was created"

# without a rule a delete is final
"$SNAPFS" snapshot delete "$X" | grep -qx "deleted $X" || fail "plain delete"
expect_error 1 "$SNAPFS" bin restore "$X"
[ "$("$SNAPFS" bin list --json)" = "[]" ] || fail "bin not empty without a rule"
"$SNAPFS" gc --json --no-progress | grep -q '"dead_chunks": 0' && fail "gc kept the data of $X"

# a rule that covers nothing here (tag filter) and the 7-day rule
"$SNAPFS" bin rule create --retain 30d --target-tag env=test --both >/dev/null
RULE=$("$SNAPFS" bin rule create --retain 7d --both --json | json_field id)
"$SNAPFS" bin rule list | grep -q "^$RULE *both *1w" || fail "rule list: $("$SNAPFS" bin rule list)"

mkdir "$T/mnt"
MOUNTED=0
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	"$SNAPFS" mount "$T/mnt" || fail "mount"
	track_mount "$T/mnt"
	MOUNTED=1
	[ -e "$T/mnt/snapshots/$A.img" ] || fail "$A not in the mount"
	[ -d "$T/mnt/images/web" ] || fail "web not in the mount"
fi

"$SNAPFS" snapshot delete "$A" | grep -q "deleted $A (kept in the recycle bin until" || fail "delete into the bin"
"$SNAPFS" image deregister web --delete-snapshots >"$T/dereg.out" || fail "deregister"
grep -q "deleted snapshot $R" "$T/dereg.out" || fail "deregister did not delete $R"

# hidden from listings and the mount, listed by bin list
for id in "$A" "$R" "$D"; do
	"$SNAPFS" snapshot list | grep -q "$id" && fail "$id still listed"
done
"$SNAPFS" image list | grep -q web && fail "web still listed"
"$SNAPFS" bin list --json >"$T/bin.json"
for id in "$A" "$R" "$D" "$AMI"; do
	grep -q "\"id\": \"$id\"" "$T/bin.json" || fail "$id not in bin list"
done
if [ $MOUNTED = 1 ]; then
	sleep 1.2 # the mount refreshes its view on the next lookup after a change
	ls "$T/mnt/snapshots/" | grep -q "$A" && fail "$A still in snapshots/"
	ls "$T/mnt/snapshots/" | grep -q "$R" && fail "$R still in snapshots/"
	ls "$T/mnt/volumes/a/" 2>/dev/null | grep -q "$A" && fail "$A still in volumes/a/"
	ls "$T/mnt/images/" | grep -q web && fail "web still in images/"
fi

# gc keeps their data
"$SNAPFS" gc --json --no-progress >"$T/gc.json"
grep -q '"bin_snapshots": 3' "$T/gc.json" || { cat "$T/gc.json"; fail "gc did not keep 3 binned snapshots"; }
grep -q '"dead_chunks": 0' "$T/gc.json" || fail "gc reclaimed binned data"

# restore both; the image brings back its snapshots
"$SNAPFS" bin restore "$A" | grep -qx "restored $A" || fail "restore $A"
"$SNAPFS" bin restore "$AMI" | grep -qx "restored $AMI" || fail "restore $AMI"
"$SNAPFS" image show web >/dev/null || fail "web not back"
[ "$("$SNAPFS" bin list --json)" = "[]" ] || fail "bin not empty after restores"
restore_eq "$S" "$A" "$T/a.img"
restore_eq "$S" "$R" "$T/r.img"
restore_eq "$S" "$D" "$T/d.img"
if [ $MOUNTED = 1 ]; then
	sleep 1.2
	assert_same_file "$T/mnt/snapshots/$A.img" "$T/a.img" "restored $A through the mount"
	assert_same_file "$T/mnt/images/web/vda.img" "$T/r.img" "restored web vda through the mount"
	head -c "$(stat -c %s "$T/d.img")" "$T/mnt/images/web/vdb.img" | cmp -s - "$T/d.img" ||
		fail "restored web vdb through the mount"
fi
check_store "$S"

# an image name taken meanwhile refuses the restore
"$SNAPFS" image deregister web >/dev/null
"$SNAPFS" image create web --device "vda=$R" >/dev/null
expect_error 1 "$SNAPFS" bin restore "$AMI"
echo "$ERR" | grep -q "an image named web exists" || soft_fail "name clash: $ERR"
"$SNAPFS" image deregister web --force >/dev/null
"$SNAPFS" bin restore "$AMI" >/dev/null || fail "restore after the clash"

# --force skips the bin
"$SNAPFS" image deregister web --force --delete-snapshots >/dev/null
"$SNAPFS" bin list --json | grep -q "$R" && fail "--force kept $R in the bin"
expect_error 1 "$SNAPFS" bin restore "$R"

# after the period gc reclaims what the bin kept
"$SNAPFS" snapshot delete "$A" >/dev/null
before=$(packs_bytes "$S")
"$SNAPFS" gc --json --no-progress --now "$(date -u -d '+6 days' +%Y-%m-%dT%H:%M:%SZ)" >"$T/gc.json"
grep -q '"bin_snapshots": 1' "$T/gc.json" || { cat "$T/gc.json"; fail "gc before the end of the period"; }
[ "$("$SNAPFS" bin list --now "$(date -u -d '+8 days' +%Y-%m-%dT%H:%M:%SZ)" --json)" = "[]" ] ||
	fail "bin list shows an expired entry"
"$SNAPFS" gc --json --no-progress --now "$(date -u -d '+8 days' +%Y-%m-%dT%H:%M:%SZ)" >"$T/gc.json"
grep -q '"bin_purged": 1' "$T/gc.json" || { cat "$T/gc.json"; fail "gc did not drop the expired entry"; }
grep -q '"bin_snapshots": 0' "$T/gc.json" || fail "gc still keeps an expired snapshot"
after=$(packs_bytes "$S")
[ "$after" -lt $((before - 3 * 1048576)) ] || fail "gc did not reclaim $A's data ($before -> $after)"
expect_error 1 "$SNAPFS" bin restore "$A"

# rule kinds: an images-only rule leaves a deleted snapshot gone
"$SNAPFS" bin rule delete "$RULE" >/dev/null
"$SNAPFS" bin rule create --retain 7d --images >/dev/null
Y=$("$SNAPFS" snapshot create x "$T/x.img" --no-progress)
"$SNAPFS" snapshot delete "$Y" | grep -qx "deleted $Y" || fail "an images-only rule kept a snapshot"
check_store "$S"
echo "bin: PASS"
