#!/bin/bash
# SPDX-License-Identifier: MIT
# Image policies with a simulated clock: 30 days of a weekly schedule
# keeping 4 images of a two-volume target (devices from the volumes'
# snapfs:device tags) leave exactly the 4 newest, each with both devices
# and its snapshots restoring the bytes of its slot; the removed image's
# snapshots go unless locked; copies to another store keep their own
# count and spare a snapshot another image there maps; a target volume
# without a device tag fails with a line naming it; instance=* makes one
# image per instance, retained per instance.
# Usage: test_image_policy.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$T/store
export SNAPFS_STORE=$S
"$SNAPFS" init --block-size 4K >/dev/null
"$SNAPFS" --store "$T/dr" init --block-size 4K >/dev/null
mkvol "$T/root.img" 2 root
mkvol "$T/data.img" 1 data
mkvol "$T/other.img" 1 other
# Volumes exist once snapshotted; a policy snapshots them from their source.
"$SNAPFS" snapshot create web1-root "$T/root.img" --no-progress >/dev/null
"$SNAPFS" snapshot create web1-data "$T/data.img" --no-progress >/dev/null
"$SNAPFS" snapshot create other "$T/other.img" --no-progress >/dev/null
"$SNAPFS" volume set-source web1-root "$T/root.img"
"$SNAPFS" volume set-source web1-data "$T/data.img"
"$SNAPFS" volume set-source other "$T/other.img"
"$SNAPFS" volume tag web1-root instance=web-1 snapfs:device=vda
"$SNAPFS" volume tag web1-data instance=web-1
"$SNAPFS" volume tag other instance=web-2 snapfs:device=vda

# snapfs:device takes a device name; other snapfs: keys stay reserved.
expect_error 2 "$SNAPFS" volume tag web1-data "snapfs:device=disk 1"
expect_error 2 "$SNAPFS" volume tag web1-data snapfs:policy=x
"$SNAPFS" volume show web1-root --json | grep -q '"snapfs:device": "vda"' || fail "device tag not set"
expect_error 2 "$SNAPFS" policy create bad --type disk --target-tag instance=web-1 \
	--schedule "weekly SUN 02:00" --retain-count 4

"$SNAPFS" policy create web-images --type image --target-tag instance=web-1 \
	--schedule "weekly SUN 02:00" --retain-count 4 --tag team=ops \
	--copy-to "$T/dr" --copy-retain 2 >/dev/null
"$SNAPFS" policy show web-images --json | grep -q '"type": "image"' || fail "policy type"

# A target volume without a device tag: no image, one line naming it.
set +e
out=$("$SNAPFS" policy run --now 2026-10-25T03:00:00Z 2>&1 >/dev/null)
rc=$?
set -e
[ $rc -ne 0 ] || fail "a run with an untagged target volume succeeded"
echo "$out" | grep -q "volume web1-data has no device tag snapfs:device" ||
	fail "the failure does not name the volume: $out"
[ "$("$SNAPFS" image list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] ||
	fail "an image was registered without all its devices"
"$SNAPFS" volume tag web1-data snapfs:device=vdb

images() { # STORE: the policy's images as "name vda-snap vdb-snap slot", oldest first
	"$SNAPFS" --store "$1" image list --json | python3 -c 'import json, sys
imgs = [i for i in json.load(sys.stdin) if i.get("policy", {}).get("name") == "web-images"]
for i in sorted(imgs, key=lambda i: i["policy"]["slot"]):
    d = {x["device"]: x["snapshot"] for x in i["devices"]}
    print(i["name"], d.get("vda", "-"), d.get("vdb", "-"), i["policy"]["slot"], len(d))'
}

LOCKED=""
for d in $(seq 1 30); do
	now=$(printf "2026-11-%02dT03:00:00Z" "$d")
	change "$T/root.img" 1 1 "root$d"
	change "$T/data.img" 0 1 "data$d"
	"$SNAPFS" policy run --now "$now" --json >"$T/run.json" || { cat "$T/run.json"; fail "day $d: run failed"; }
	if [ $(((d - 1) % 7)) -eq 0 ]; then
		[ "$(grep -c '"action": "registered"' "$T/run.json")" -eq 1 ] ||
			{ cat "$T/run.json"; fail "day $d: not one image registered"; }
		[ "$(grep -c '"action": "copied"' "$T/run.json")" -eq 1 ] ||
			{ cat "$T/run.json"; fail "day $d: not one image copied"; }
		# what this slot's image must hold
		cp "$T/root.img" "$T/root-$d.img"
		cp "$T/data.img" "$T/data-$d.img"
	else
		grep -q '"action"' "$T/run.json" && { cat "$T/run.json"; fail "day $d: a run off the schedule did something"; }
	fi
	if [ "$d" = 1 ]; then
		# The first image's data disk is locked: retention must keep it.
		LOCKED=$(images "$S" | awk 'NR == 1 { print $3 }')
		"$SNAPFS" snapshot lock "$LOCKED" --until 2027-06-30 >/dev/null
		# In the copy store, a hand-made image maps the first copy's root
		# disk: the copies' retention must spare it.
		read -r _ DRV _ < <(images "$T/dr")
		"$SNAPFS" --store "$T/dr" image create golden --device "vda=$DRV" >/dev/null
		FIRST=$(images "$S" | awk 'NR == 1')
	fi
done

# Exactly 4 images left, the newest 4 (Nov 8 to 29), with both devices.
images "$S" >"$T/left"
[ "$(wc -l <"$T/left")" -eq 4 ] || { cat "$T/left"; fail "not 4 images left"; }
[ "$(awk '{ print $1 }' "$T/left" | tr '\n' ' ')" = \
  "web-images-20261108T0200Z web-images-20261115T0200Z web-images-20261122T0200Z web-images-20261129T0200Z " ] ||
	{ cat "$T/left"; fail "not the newest 4"; }
d=8
while read -r name vda vdb slot n; do
	[ "$n" = 2 ] || fail "image $name has $n devices"
	restore_eq "$S" "$vda" "$T/root-$d.img"
	restore_eq "$S" "$vdb" "$T/data-$d.img"
	"$SNAPFS" image show "$name" --json | grep -q '"team": "ops"' || fail "image $name lacks the policy's tags"
	d=$((d + 7))
done <"$T/left"

# The removed first image: its root snapshot is gone, the locked one stays.
read -r fname fvda fvdb _ <<<"$FIRST"
expect_error 1 "$SNAPFS" image show "$fname"
expect_error 1 "$SNAPFS" snapshot show "$fvda"
"$SNAPFS" snapshot show "$fvdb" >/dev/null || fail "retention deleted the locked snapshot $fvdb"
[ "$fvdb" = "$LOCKED" ] || fail "the locked snapshot is not the first image's vdb"
"$SNAPFS" snapshot show "$fvdb" --json | grep -q '"snapfs:policy": "web-images"' ||
	fail "policy snapshots lack the policy's tag"

# The copy store keeps the newest 2 copies, each complete, and golden's disk.
images "$T/dr" >"$T/dr-left"
[ "$(awk '{ print $1 }' "$T/dr-left" | tr '\n' ' ')" = \
  "web-images-20261122T0200Z web-images-20261129T0200Z " ] ||
	{ cat "$T/dr-left"; fail "copy store does not keep the newest 2"; }
d=22
while read -r name vda vdb slot n; do
	restore_eq "$T/dr" "$vda" "$T/root-$d.img"
	restore_eq "$T/dr" "$vdb" "$T/data-$d.img"
	d=$((d + 7))
done <"$T/dr-left"
"$SNAPFS" --store "$T/dr" snapshot show "$DRV" >/dev/null || fail "copy retention deleted golden's snapshot"
"$SNAPFS" --store "$T/dr" image show golden >/dev/null || fail "copy retention removed a hand-made image"

# The other instance's volume was never part of the target.
[ "$("$SNAPFS" snapshot list --volume other --json | grep -c '"snapfs:policy"' || true)" = 0 ] ||
	fail "a volume outside the target was snapshotted"

# instance=*: one image per instance, each of that instance's volumes only.
"$SNAPFS" volume tag web1-root role=web
"$SNAPFS" volume tag web1-data role=web
"$SNAPFS" volume tag other role=web
"$SNAPFS" policy create per-instance --type image --target-tag role=web --target-tag 'instance=*' \
	--schedule "daily 04:00" --retain-count 1 >/dev/null
for day in 2026-12-01 2026-12-02; do
	"$SNAPFS" policy run --policy per-instance --now "${day}T05:00:00Z" >/dev/null ||
		fail "per-instance run on $day"
done
"$SNAPFS" image list --json | python3 -c 'import json, sys
imgs = {i["name"]: i for i in json.load(sys.stdin) if i.get("policy", {}).get("name") == "per-instance"}
want = {"per-instance-web-1-20261202T0400Z": ["vda", "vdb"], "per-instance-web-2-20261202T0400Z": ["vda"]}
got = {n: sorted(d["device"] for d in i["devices"]) for n, i in imgs.items()}
sys.exit(0 if got == want else "per-instance images: %s" % got)' || fail "not one image per instance, kept 1 each"

check_store "$S"
check_store "$T/dr"
echo "image policy: ok"
