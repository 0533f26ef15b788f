#!/bin/bash
# SPDX-License-Identifier: MIT
# Snapshots are ordered by creation time, not by arrival: after copying
# a newer and then an older snapshot into another store, the next
# incremental snapshot's parent and the mount's latest.img are the newer
# one; snapshots taken within one second are named, listed and sorted by
# plain ls in the order they were taken. Usage: test_snapshot_order.sh SNAPFS
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$T/src
D=$T/dst
"$SNAPFS" --store "$S" init --block-size 4K >/dev/null
"$SNAPFS" --store "$D" init --block-size 4K >/dev/null
export SNAPFS_STORE=$S

mkvol "$T/v" 1 old
OLD=$("$SNAPFS" snapshot create v "$T/v" --no-progress)
sleep 1.1 # a whole second apart, so the order holds even in whole seconds
change "$T/v" 0 1 new
cp "$T/v" "$T/v.new"
NEW=$("$SNAPFS" snapshot create v "$T/v" --no-progress)
"$SNAPFS" snapshot copy "$NEW" --to-store "$D" --json >"$T/c1.json"
"$SNAPFS" snapshot copy "$OLD" --to-store "$D" --json >"$T/c2.json"
DNEW=$(json_field id <"$T/c1.json")
DOLD=$(json_field id <"$T/c2.json")
# The next snapshot in the copy store builds on the newest data, not on
# the copy that happened to arrive last.
change "$T/v" 0 1 third
D3=$("$SNAPFS" --store "$D" snapshot create v "$T/v" --no-progress)
parent=$("$SNAPFS" --store "$D" snapshot show "$D3" --json | json_field parent)
[ "$parent" = "$DNEW" ] || soft_fail "parent of the next snapshot is $parent, not $DNEW (newest by time)"
"$SNAPFS" --store "$D" snapshot delete "$D3" >/dev/null

# Several snapshots in quick succession, most of them within one second.
ids=()
for i in 1 2 3 4 5 6; do
	ids+=("$("$SNAPFS" snapshot create fast "$T/v" --no-progress)")
done

if ! "$SNAPFS" mount --help >/dev/null 2>&1 || [ ! -e /dev/fuse ] ||
	! command -v fusermount3 >/dev/null; then
	echo "SKIP: no /dev/fuse or fusermount3 for the mount part" >&2
	exit 77
fi
mkdir "$T/m" "$T/md"
"$SNAPFS" mount "$T/m" || fail "mount"
track_mount "$T/m"
"$SNAPFS" --store "$D" mount "$T/md" || fail "mount of the copy store"
track_mount "$T/md"

# latest.img and the listing of the copy store follow creation time.
[ "$(readlink "$T/md/volumes/v/latest.img")" = "../../snapshots/$DNEW.img" ] ||
	soft_fail "latest.img -> $(readlink "$T/md/volumes/v/latest.img"), not the newest $DNEW"
cmp -s "$T/md/volumes/v/latest.img" "$T/v.new" || soft_fail "latest.img holds older data"
mapfile -t listed < <(ls -U "$T/md/volumes/v")
[[ ${listed[0]} == *"-$DOLD.img" && ${listed[1]} == *"-$DNEW.img" ]] ||
	soft_fail "volumes/v of the copy store lists ${listed[*]}, not oldest first"

# Names carry the time to the sub-second, and plain ls (in C and in the
# default collation) lists them in the order they were taken.
for loc in C "${LANG:-C.UTF-8}"; do
	mapfile -t names < <(LC_ALL=$loc ls "$T/m/volumes/fast" | grep -v '^latest\.\(img\|files\)$')
	[ "${#names[@]}" -eq 6 ] || fail "volumes/fast lists ${names[*]}"
	for i in 0 1 2 3 4 5; do
		[[ ${names[i]} =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-${ids[i]}\.img$ ]] ||
			soft_fail "LC_ALL=$loc: entry $i is ${names[i]}, expected snapshot ${ids[i]} (taken ${i}th)"
	done
done
mapfile -t listed < <(ls -U "$T/m/volumes/fast" | grep -v '^latest\.\(img\|files\)$')
for i in 0 1 2 3 4 5; do
	[[ ${listed[i]} == *"-${ids[i]}.img" ]] || soft_fail "readdir order: entry $i is ${listed[i]}"
done
[ "$(readlink "$T/m/volumes/fast/latest.img")" = "../../snapshots/${ids[5]}.img" ] ||
	soft_fail "latest.img of fast is not the last one taken"
