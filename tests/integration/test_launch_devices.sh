#!/bin/bash
# SPDX-License-Identifier: MIT
# image launch-config --device: a disk from a snapshot added to the launch
# (or replacing a mapped one) reads snapshots/<id>.img, a mapped one left
# out with DEV=none is not in the configuration, in both formats; a size
# above the snapshot's goes to the overlay; bad input is refused with one
# line. Through a mount, the added disk's file holds the snapshot's bytes.
# Usage: test_launch_devices.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$T/store
export SNAPFS_STORE=$S
"$SNAPFS" init --block-size 4K >/dev/null
mkvol "$T/root.img" 2 root
mkvol "$T/data.img" 1 data
mkvol "$T/extra.img" 1 extra
ROOT=$("$SNAPFS" snapshot create root "$T/root.img" --no-progress)
DATA=$("$SNAPFS" snapshot create data "$T/data.img" --no-progress)
EXTRA=$("$SNAPFS" snapshot create extra "$T/extra.img" --no-progress)
"$SNAPFS" image create web --device "vda=$ROOT" --device "vdb=$DATA" >/dev/null
M=$T/mnt
lc() { "$SNAPFS" image launch-config web --mount "$M" "$@"; }

# bad input
expect_error 2 lc --device vdc
expect_error 2 lc --device "xyz=$EXTRA"
expect_error 2 lc --device vdc=snap-nothex
expect_error 2 lc --device "vdc=$EXTRA:1gb"
expect_error 2 lc --device "vdc=$EXTRA" --device vdc=none
expect_error 1 lc --device vdc=none
echo "$ERR" | grep -q "maps no device vdc" || soft_fail "unmapped none: $ERR"
expect_error 1 lc --device vda=none
echo "$ERR" | grep -q "root device" || soft_fail "root none: $ERR"
expect_error 1 lc --device vdc=snap-0123456789abcdef0
expect_error 1 lc --device "vdc=$EXTRA:4M"
echo "$ERR" | grep -q "needs --overlay" || soft_fail "size without overlay: $ERR"
expect_error 1 lc --device "vdc=$EXTRA:512K"

# qemu: vdc added from the snapshot, vdb left out
lc --device "vdc=$EXTRA" --device vdb=none >"$T/q.sh" || fail "launch-config qemu"
grep -q "$M/snapshots/$EXTRA.img" "$T/q.sh" || fail "qemu: vdc does not read the snapshot"
grep -q "$M/images/web/vda.img" "$T/q.sh" || fail "qemu: vda missing"
grep -q "images/web/vdb.img" "$T/q.sh" && fail "qemu: vdb not left out"
sh -n "$T/q.sh" || fail "qemu script does not parse"
# libvirt: vdb replaced by another snapshot
lc --format libvirt --device "vdb=$EXTRA" >"$T/d.xml" || fail "launch-config libvirt"
grep -q "<source file='$M/snapshots/$EXTRA.img'/>" "$T/d.xml" || fail "libvirt: vdb does not read the snapshot"
grep -q "images/web/vdb.img" "$T/d.xml" && fail "libvirt: the mapped vdb is still there"
[ "$(grep -c "<disk type='file'" "$T/d.xml")" -eq 2 ] || fail "libvirt: not two disks"
if command -v xmllint >/dev/null; then xmllint --noout "$T/d.xml" || fail "libvirt XML"; fi
# a larger disk from a snapshot: the overlay is made at that size
lc --overlay "$T/ov" --device "vdc=$EXTRA:4M" >"$T/o.sh"
grep -q "qemu-img create .*snapshots/$EXTRA.img.*web-vdc.qcow2.* 4194304" "$T/o.sh" ||
	{ cat "$T/o.sh"; fail "overlay of vdc not 4 MiB"; }

# through a mount, the file the added disk names holds the snapshot
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	mkdir "$M"
	"$SNAPFS" mount "$M" || fail "mount"
	track_mount "$M"
	f=$(grep -o "$M/snapshots/$EXTRA.img" "$T/q.sh" | head -n1)
	assert_same_file "$f" "$T/extra.img" "the added disk"
fi
echo "launch_devices: PASS"
