#!/bin/bash
# SPDX-License-Identifier: MIT
# image copy between stores: a two-device image reads back byte-exact
# through the destination's mount; the copy of a changed image sends about
# the changed bytes; launch permissions only with --copy-permissions; kill
# -9 in the middle, then a rerun, gives one complete image and no second
# set of snapshots; bad input (same store, a name taken at the
# destination, unknown image, bad name) is refused with one line.
# Usage: test_image_copy.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$T/store
DR=$T/dr
export SNAPFS_STORE=$S
"$SNAPFS" init --block-size 4K >/dev/null
"$SNAPFS" --store "$DR" init --block-size 4K >/dev/null
"$SNAPFS" --store "$T/big" init --block-size 64K >/dev/null
mkvol "$T/r.img" 8 r
mkvol "$T/d.img" 4 d
DS=$("$SNAPFS" snapshot create data "$T/d.img" --no-progress)
"$SNAPFS" image create web --device "vda=$T/r.img" --device "vdb=$DS:6M" --tag env=prod >/dev/null
"$SNAPFS" image permission add web --public >/dev/null

# bad input
expect_error 2 "$SNAPFS" image copy web
expect_error 2 "$SNAPFS" image copy web --to-store "$DR" --name ".bad"
expect_error 1 "$SNAPFS" image copy web --to-store "$S"
echo "$ERR" | grep -q "same store" || soft_fail "same store: $ERR"
expect_error 1 "$SNAPFS" image copy nosuch --to-store "$DR"
expect_error 1 "$SNAPFS" image copy web --to-store "$T/big"
echo "$ERR" | grep -q "block sizes must match" || soft_fail "block sizes: $ERR"

# the copy, byte-exact through the destination's mount
"$SNAPFS" image copy web --to-store "$DR" --json --no-progress >"$T/copy.json" || fail "image copy"
sent1=$(json_field sent_bytes <"$T/copy.json")
[ "$sent1" -ge $((12 * 1048576)) ] || fail "first copy sent only $sent1 bytes"
"$SNAPFS" --store "$DR" image show web --json >"$T/dr.json"
grep -q '"public": false' "$T/dr.json" || fail "launch permissions copied without --copy-permissions"
grep -q '"env": "prod"' "$T/dr.json" || fail "tags not copied"
[ "$(json_field id <"$T/dr.json")" != "$("$SNAPFS" image show web --json | json_field id)" ] ||
	fail "the copy kept the source id"
expect_error 1 "$SNAPFS" image copy web --to-store "$DR"
echo "$ERR" | grep -q "has an image named web" || soft_fail "name taken: $ERR"
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	mkdir "$T/mnt"
	"$SNAPFS" --store "$DR" mount "$T/mnt" || fail "mount"
	track_mount "$T/mnt"
	assert_same_file "$T/mnt/images/web/vda.img" "$T/r.img" "vda through the destination's mount"
	[ "$(stat -c %s "$T/mnt/images/web/vdb.img")" -eq $((6 * 1048576)) ] || fail "vdb size"
	head -c $((4 * 1048576)) "$T/mnt/images/web/vdb.img" | cmp -s - "$T/d.img" || fail "vdb bytes"
	tail -c $((2 * 1048576)) "$T/mnt/images/web/vdb.img" | cmp -s - <(head -c $((2 * 1048576)) /dev/zero) ||
		fail "vdb's tail is not zeros"
	umount "$T/mnt"
else
	for dev in vda vdb; do
		sid=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([x["snapshot"] for x in d["devices"] if x["device"]==sys.argv[2]][0])' "$T/dr.json" $dev)
		restore_eq "$DR" "$sid" "$T/$([ $dev = vda ] && echo r || echo d).img"
	done
fi

# --copy-permissions and --name
"$SNAPFS" image copy web --to-store "$DR" --name web-perm --copy-permissions --no-progress >/dev/null
"$SNAPFS" --store "$DR" image show web-perm --json | grep -q '"public": true' ||
	fail "--copy-permissions lost the public flag"

# a changed image: about the changed bytes are sent
change "$T/r.img" 3 1 r2
"$SNAPFS" image create web2 --device "vda=$T/r.img" --device "vdb=$DS" >/dev/null
"$SNAPFS" image copy web2 --to-store "$DR" --json --no-progress >"$T/copy2.json"
sent2=$(json_field sent_bytes <"$T/copy2.json")
echo "image_copy: first copy sent $sent1 bytes, the changed image $sent2"
[ "$sent2" -ge 1048576 ] && [ "$sent2" -lt $((3 * 1048576 / 2)) ] ||
	fail "the changed image sent $sent2 bytes, not about 1 MiB"
W2=$("$SNAPFS" --store "$DR" image show web2 --json)
sid=$(echo "$W2" | json_at devices 0 snapshot)
restore_eq "$DR" "$sid" "$T/r.img"

# kill -9 in the middle, then rerun: one complete image
mkvol "$T/b1.img" 48 b1
mkvol "$T/b2.img" 48 b2
"$SNAPFS" image create big --device "vda=$T/b1.img" --device "vdb=$T/b2.img" >/dev/null ||
	fail "image create big"
# The kill lands inside the copy whatever this machine's speed: one whole
# copy is timed first (then removed, chunks included), and the kill comes
# at half that, halving again while the copy finishes first. A copy
# commits once per device, so what the rerun may reuse depends on where
# the kill landed: vda's snapshot if it had completed, else nothing (an
# unfinished snapshot must not pass for a copy). The kill at a chosen
# point, after vda, is the next step's.
now_ms() { date +%s%3N; }
vda_done() {
	"$SNAPFS" --store "$DR" snapshot list --volume big-vda --json 2>/dev/null |
		grep -q '"state": "completed"'
}
t0=$(now_ms)
"$SNAPFS" image copy big --to-store "$DR" --no-progress >/dev/null || fail "image copy big"
dur=$(($(now_ms) - t0))
"$SNAPFS" --store "$DR" image deregister big --delete-snapshots --force >/dev/null
"$SNAPFS" --store "$DR" gc --no-progress >/dev/null
killed=0
ms=$((dur / 2))
for try in 1 2 3 4 5 6 7 8; do
	[ "$ms" -ge 1 ] || ms=1
	"$SNAPFS" image copy big --to-store "$DR" --no-progress >/dev/null 2>&1 &
	pid=$!
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	if kill -9 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
		if ! "$SNAPFS" --store "$DR" image show big >/dev/null 2>&1; then
			killed=1
			break
		fi
	fi
	wait "$pid" 2>/dev/null || true
	# finished first: start over, sooner
	"$SNAPFS" --store "$DR" image deregister big --delete-snapshots --force >/dev/null
	"$SNAPFS" --store "$DR" gc --no-progress >/dev/null
	ms=$((ms / 2))
done
[ $killed = 1 ] || fail "the copy was never killed in the middle"
check_store "$DR"
if vda_done; then want_reused=1; else want_reused=0; fi
"$SNAPFS" image copy big --to-store "$DR" --json --no-progress >"$T/copy3.json" || fail "rerun"
sent3=$(json_field sent_bytes <"$T/copy3.json")
reused3=$(json_field reused_snapshots <"$T/copy3.json")
echo "image_copy: a whole copy took ${dur} ms, killed after ${ms} ms; the rerun sent $sent3 bytes, reused $reused3 snapshots"
[ "$reused3" = "$want_reused" ] ||
	fail "the rerun reused $reused3 snapshots where $want_reused had completed at the kill"
[ "$("$SNAPFS" --store "$DR" image list --json | grep -c '"name": "big"')" -eq 1 ] || fail "not one image big"
for v in big-vda big-vdb; do
	n=$("$SNAPFS" --store "$DR" snapshot list --volume $v --json | grep -c '"id"' || true)
	[ "$n" -eq 1 ] || fail "$n snapshots of $v at the destination, not 1"
done
BIG=$("$SNAPFS" --store "$DR" image show big --json)
for i in 0 1; do
	sid=$(echo "$BIG" | json_at devices "$i" snapshot)
	restore_eq "$DR" "$sid" "$T/b$((i + 1)).img"
done
check_store "$DR"

# killed after the first device's snapshot arrived: the rerun reuses it
"$SNAPFS" --store "$DR" image deregister big --delete-snapshots --force >/dev/null
"$SNAPFS" --store "$DR" gc --no-progress >/dev/null
between=0
for try in 1 2 3; do
	"$SNAPFS" image copy big --to-store "$DR" --no-progress >/dev/null 2>&1 &
	pid=$!
	# kill as soon as vda's copy has committed (readers run beside the writer)
	while kill -0 "$pid" 2>/dev/null; do
		if vda_done; then
			kill -9 "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.02
	done
	wait "$pid" 2>/dev/null || true
	if ! "$SNAPFS" --store "$DR" image show big >/dev/null 2>&1; then
		between=1
		break
	fi
	"$SNAPFS" --store "$DR" image deregister big --delete-snapshots --force >/dev/null
	"$SNAPFS" --store "$DR" gc --no-progress >/dev/null
done
if [ $between = 1 ]; then
	"$SNAPFS" image copy big --to-store "$DR" --json --no-progress >"$T/copy4.json" || fail "rerun"
	[ "$(json_field reused_snapshots <"$T/copy4.json")" -eq 1 ] || fail "the rerun did not reuse vda's copy"
	for v in big-vda big-vdb; do
		n=$("$SNAPFS" --store "$DR" snapshot list --volume $v --json | grep -c '"id"' || true)
		[ "$n" -eq 1 ] || fail "$n snapshots of $v after the resumed copy, not 1"
	done
	BIG=$("$SNAPFS" --store "$DR" image show big --json)
	for i in 0 1; do
		sid=$(echo "$BIG" | json_at devices "$i" snapshot)
		restore_eq "$DR" "$sid" "$T/b$((i + 1)).img"
	done
	echo "image_copy: killed after the first device; the rerun reused its snapshot and sent $(json_field sent_bytes <"$T/copy4.json") bytes"
else
	soft_fail "no kill landed between the two devices' copies"
fi
check_store "$DR"
echo "image_copy: PASS"
