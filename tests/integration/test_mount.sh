#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Integration test of the FUSE mount: really mounts a store and checks
# that every snapshot reads back byte for byte (cmp, sha256sum, qemu-img,
# random preads from many threads, cp --sparse), that ext4 snapshots
# loop-mount and hold the files they should, that snapshots taken while
# mounted appear, that a corrupted chunk fails only its own reads with
# EIO, and that the daemon is ready when `mount` returns and leaves on
# unmount and SIGTERM. Everything it mounts is unmounted by a trap.
#
# usage: test_mount.sh PATH/TO/snapfs PATH/TO/pread_stress
# Exits 77 (skip) only when /dev/fuse is missing; needs root for loop mounts.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 SNAPFS PREAD_STRESS" >&2
	exit 2
fi
if [ ! -c /dev/fuse ]; then
	echo "SKIP: /dev/fuse is missing, FUSE cannot be mounted here"
	exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL: this test loop-mounts ext4 images and must run as root" >&2
	exit 1
fi
SNAPFS=$(realpath "$1")
STRESS=$(realpath "$2")

T=$(mktemp -d /tmp/snapfs-mount-test.XXXXXX)
S=$T/store
MNT=$T/mnt
BS=65536
MOUNTED=() # every mount point this test made, unmounted in reverse

cleanup() {
	local rc=$? i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		if mountpoint -q "${MOUNTED[i]}" 2>/dev/null; then
			umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
		fi
	done
	rm -rf "$T"
	if [ $rc -eq 0 ]; then echo "PASS: test_mount"; else echo "FAIL: test_mount (exit $rc)" >&2; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "== $*"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
sfs() { "$SNAPFS" --store "$S" "$@"; }
snap() { sfs snapshot create "$@" --no-progress | tail -n1; }

# Mounts the store on $1 (extra arguments go to `snapfs mount`). No waiting:
# the command returns only once the mount is ready.
do_mount() {
	local mp=$1
	shift
	mkdir -p "$mp"
	MOUNTED+=("$mp")
	sfs mount "$mp" "$@"
	mountpoint -q "$mp" || fail "$mp is not a mount point right after 'snapfs mount' returned"
}
do_umount() {
	fusermount3 -u "$1" || fail "cannot unmount $1"
}
loop_mount() {
	mkdir -p "$2"
	MOUNTED+=("$2")
	mount -o loop,ro "$1" "$2" || fail "cannot loop-mount $1"
}

# ---- sources ----
step "making source volumes"
mkdir -p "$T/src" "$T/tree1" "$T/tree2"
truncate -s 160M "$T/ext4.img"
mkfs.ext4 -q -F -b 4096 "$T/ext4.img"
MOUNTED+=("$T/src")
mount -o loop "$T/ext4.img" "$T/src" || fail "cannot loop-mount an ext4 image"
for d in /etc /usr/share/zoneinfo /usr/share/perl; do
	[ -d "$d" ] && cp -a "$d" "$T/src/" 2>/dev/null || true
done
head -c 20M /dev/urandom >"$T/src/random.bin"
sync
cp -a "$T/src/." "$T/tree1/"
umount "$T/src"

# A raw volume that is not a multiple of the block size, with holes,
# zero runs, compressible text and random data.
RAW=$T/raw.img
truncate -s $((48 * 1024 * 1024 + 12345)) "$RAW"
dd if=/dev/urandom of="$RAW" bs=1M seek=2 count=6 conv=notrunc status=none
seq 1 700000 | dd of="$RAW" bs=1M seek=20 conv=notrunc status=none
dd if=/dev/zero of="$RAW" bs=1M seek=30 count=3 conv=notrunc status=none
dd if=/dev/urandom of="$RAW" bs=1 seek=$((48 * 1024 * 1024)) count=12345 conv=notrunc status=none

# A small volume whose block 5 is unique random data: the corruption target.
BAD=$T/bad.img
dd if=/dev/urandom of="$BAD" bs=$BS count=16 status=none

# ---- snapshots ----
step "init and snapshots"
sfs init --block-size $BS >/dev/null
SNAP1=$(snap demo "$T/ext4.img")
mount -o loop "$T/ext4.img" "$T/src"
rm -rf "$T/src/etc"
echo "changed after the first snapshot" >"$T/src/new-file.txt"
dd if=/dev/urandom of="$T/src/random.bin" bs=1M seek=3 count=2 conv=notrunc status=none
sync
cp -a "$T/src/." "$T/tree2/"
umount "$T/src"
SNAP2=$(snap demo "$T/ext4.img")
SNAP3=$(snap raw "$RAW")
SNAP4=$(snap bad "$BAD")
for id in "$SNAP1" "$SNAP2" "$SNAP3" "$SNAP4"; do
	[[ $id == snap-* ]] || fail "snapshot create printed '$id', not a snapshot id"
done
cp "$T/ext4.img" "$T/ext4-2.img"

# ---- mount: ready on return ----
step "mount (daemon, ready when the command returns)"
do_mount "$MNT"
ls "$MNT/snapshots/$SNAP1.img" >/dev/null || fail "first lookup after mount failed"
[ "$(ls "$MNT")" = "$(printf 'checkpoints\nfiles\nimages\nsnapshots\nvolumes')" ] || fail "top level is $(ls "$MNT")"
[ "$(ls "$MNT/snapshots" | wc -l)" -eq 4 ] || fail "snapshots/ does not list 4 images"
vols=$(ls "$MNT/volumes" | tr '\n' ' ')
[ "$vols" = "bad demo raw " ] || fail "volumes/ lists '$vols'"
# -U: directory order, which is creation order (ls would sort by name,
# and two snapshots taken in the same second sort by id).
mapfile -t demo < <(ls -U "$MNT/volumes/demo")
[ "${#demo[@]}" -eq 4 ] || fail "volumes/demo lists ${demo[*]}"
[[ ${demo[0]} =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-$SNAP1\.img$ ]] || fail "volumes/demo entry '${demo[0]}'"
[[ ${demo[1]} =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-$SNAP2\.img$ ]] || fail "volumes/demo entry '${demo[1]}'"
[ "${demo[2]}" = latest.img ] || fail "volumes/demo has no latest.img"
[ "${demo[3]}" = latest.files ] || fail "volumes/demo has no latest.files"
[ "$(readlink "$MNT/volumes/demo/latest.img")" = "../../snapshots/$SNAP2.img" ] ||
	fail "latest.img points to $(readlink "$MNT/volumes/demo/latest.img")"
[ "$(stat -c %s "$MNT/snapshots/$SNAP3.img")" = "$(stat -c %s "$RAW")" ] || fail "size of raw image"
[ "$(stat -c %i "$MNT/snapshots/$SNAP2.img")" = "$(stat -c %i "$MNT/volumes/demo/${demo[1]}")" ] ||
	fail "a snapshot has two inode numbers"
touch "$MNT/snapshots/$SNAP1.img" 2>/dev/null && fail "a snapshot file is writable"
(: >"$MNT/x") 2>/dev/null && fail "the mount accepts new files"

# ---- bytes ----
step "cmp and sha256sum through the mount"
cmp -s "$MNT/snapshots/$SNAP1.img" "$T/ext4.img" && fail "snapshot 1 equals the changed volume"
cmp "$MNT/snapshots/$SNAP2.img" "$T/ext4-2.img" || fail "snapshot 2 differs from its source"
cmp "$MNT/volumes/demo/latest.img" "$T/ext4-2.img" || fail "latest.img differs from its source"
cmp "$MNT/snapshots/$SNAP3.img" "$RAW" || fail "raw snapshot differs from its source"
cmp "$MNT/snapshots/$SNAP4.img" "$BAD" || fail "small snapshot differs from its source"
[ "$(sha256sum <"$MNT/snapshots/$SNAP3.img")" = "$(sha256sum <"$RAW")" ] || fail "sha256 of raw"
[ "$(sha256sum <"$MNT/snapshots/$SNAP2.img")" = "$(sha256sum <"$T/ext4-2.img")" ] || fail "sha256 of ext4"

step "loop-mount the ext4 snapshots read-only and diff every file"
loop_mount "$MNT/snapshots/$SNAP1.img" "$T/l1"
loop_mount "$MNT/volumes/demo/latest.img" "$T/l2"
diff -r --no-dereference "$T/tree1" "$T/l1" >/dev/null 2>&1 || {
	diff -r --no-dereference "$T/tree1" "$T/l1" | head
	fail "snapshot 1 holds other files than the volume had"
}
diff -r --no-dereference "$T/tree2" "$T/l2" >/dev/null 2>&1 || fail "snapshot 2 holds other files"
[ -d "$T/l1/etc" ] && [ ! -e "$T/l2/etc" ] || fail "the removed /etc copy is not where it should be"
[ -f "$T/l2/new-file.txt" ] && [ ! -e "$T/l1/new-file.txt" ] || fail "new-file.txt"
cmp -s "$T/l1/random.bin" "$T/l2/random.bin" && fail "random.bin did not change between snapshots"
umount "$T/l1"
umount "$T/l2"

step "cp --sparse=always keeps the holes"
cp --sparse=always "$MNT/snapshots/$SNAP3.img" "$T/copy.img"
cmp "$T/copy.img" "$RAW" || fail "sparse copy differs"
alloc=$(($(stat -c %b "$T/copy.img") * 512))
data=$(($(stat -c %b "$MNT/snapshots/$SNAP3.img") * 512))
# The copy may round up to its file system's blocks: allow 1 MiB slack.
[ "$alloc" -le $((data + 1048576)) ] || fail "sparse copy allocates $alloc bytes for $data of data"
[ "$alloc" -ge $((data / 2)) ] || fail "sparse copy allocates $alloc bytes, data is $data"
rm -f "$T/copy.img"

step "qemu-img compare"
qemu-img compare -q -f raw -F raw "$MNT/snapshots/$SNAP3.img" "$RAW" || fail "qemu-img compare raw"
qemu-img compare -q -f raw -F raw "$MNT/snapshots/$SNAP2.img" "$T/ext4-2.img" || fail "qemu-img compare ext4"

step "random pread stress (multi-threaded loop)"
"$STRESS" "$MNT/snapshots/$SNAP3.img" "$RAW" 8 1500 || fail "pread stress on raw"
"$STRESS" "$MNT/snapshots/$SNAP2.img" "$T/ext4-2.img" 4 800 || fail "pread stress on ext4"

# ---- a snapshot taken while mounted ----
step "a snapshot created while mounted shows up"
dd if=/dev/urandom of="$RAW" bs=$BS seek=100 count=3 conv=notrunc status=none
SNAP5=$(snap raw "$RAW")
[ -f "$MNT/snapshots/$SNAP5.img" ] || fail "new snapshot $SNAP5 not visible"
[ "$(readlink "$MNT/volumes/raw/latest.img")" = "../../snapshots/$SNAP5.img" ] ||
	fail "latest.img still points to $(readlink "$MNT/volumes/raw/latest.img")"
ls "$MNT/volumes/raw" | grep -q -- "-$SNAP5.img$" || fail "volumes/raw does not list $SNAP5"
cmp "$MNT/volumes/raw/latest.img" "$RAW" || fail "new snapshot differs from its source"
cmp -s "$MNT/snapshots/$SNAP3.img" "$RAW" && fail "the older raw snapshot changed"

step "a snapshot deleted while open keeps reading and its attributes"
SNAP6=$(snap raw "$RAW")
exec 7<"$MNT/snapshots/$SNAP6.img"
sfs snapshot delete "$SNAP6" >/dev/null || fail "cannot delete $SNAP6"
sleep 1.2 # past the name cache
[ -e "$MNT/snapshots/$SNAP6.img" ] && fail "deleted snapshot $SNAP6 still has a name"
[ "$(stat -L -c %s /dev/fd/7)" = "$(stat -c %s "$RAW")" ] || fail "stat of an open deleted snapshot"
cmp - "$RAW" <&7 || fail "reads of an open deleted snapshot"
exec 7<&-

step "unmount"
do_umount "$MNT"
mountpoint -q "$MNT" && fail "still mounted after fusermount3 -u"

# ---- single-threaded ----
step "single-threaded mount (-s) with a small cache and max_read"
do_mount "$MNT" -s -o cache_size=8M,max_read=65536
# A fresh mount looks names up in the catalog, before any listing: the
# numbers must be the ones the listings gave.
[ "$(stat -c %i "$MNT/volumes/demo/${demo[1]}")" = "$(stat -c %i "$MNT/snapshots/$SNAP2.img")" ] ||
	fail "a snapshot has two inode numbers before any listing"
[ "$(readlink "$MNT/volumes/demo/latest.img")" = "../../snapshots/$SNAP2.img" ] ||
	fail "latest.img before any listing points to $(readlink "$MNT/volumes/demo/latest.img")"
[ -e "$MNT/volumes/demo/19700101T000000.000000000Z-$SNAP2.img" ] && fail "a wrong time names a snapshot"
[ -e "$MNT/volumes/raw/${demo[1]}" ] && fail "a snapshot shows in another volume"
"$STRESS" "$MNT/snapshots/$SNAP5.img" "$RAW" 4 500 || fail "pread stress with -s"
cmp "$MNT/snapshots/$SNAP2.img" "$T/ext4-2.img" || fail "cmp with -s"
do_umount "$MNT"

# ---- mount(8) and fstab conventions ----
# mount(8) runs helpers with a fixed PATH, so call the helper it would run
# for `mount -t fuse.snapfs` (or an fstab line) directly; it in turn runs
# `snapfs STORE MOUNTPOINT -o OPTIONS` from PATH.
step "mount.fuse3 (what mount -t fuse.snapfs and fstab run)"
mkdir -p "$MNT"
MOUNTED+=("$MNT")
PATH="$(dirname "$SNAPFS"):$PATH" mount.fuse3 "$S" "$MNT" -t snapfs -o rw,nofail,dev,suid,defaults ||
	fail "mount.fuse3 -t snapfs failed"
grep -q " $MNT fuse.snapfs ro," /proc/mounts || fail "not a read-only fuse.snapfs mount"
cmp "$MNT/snapshots/$SNAP4.img" "$BAD" || fail "cmp through mount(8)"
umount "$MNT" || fail "umount"

step "SIGTERM unmounts and exits"
do_mount "$MNT"
pid=""
for p in /proc/[0-9]*; do
	{ cmd=$(tr '\0' ' ' <"$p/cmdline"); } 2>/dev/null || continue
	# The daemon is the process holding /dev/fuse with our mount point in argv.
	if [[ $cmd == *" mount $MNT "* ]] && ls -l "$p/fd" 2>/dev/null | grep -q /dev/fuse; then
		pid=${p#/proc/}
	fi
done
[ -n "$pid" ] || fail "cannot find the mount daemon"
kill -TERM "$pid"
timeout 10 tail --pid="$pid" -f /dev/null || fail "the daemon did not exit on SIGTERM"
mountpoint -q "$MNT" && fail "still mounted after SIGTERM"

# ---- corruption ----
step "a corrupted chunk fails its block with EIO, the rest reads fine"
id=$(dd if="$BAD" bs=$BS skip=5 count=1 status=none | sha256sum | cut -c1-64)
# The id sits 16 bytes into a record header that starts "SFCR"; print
# "PACK:OFFSET-OF-ID" of the first such record.
hit=$(python3 - "$id" "$S"/packs/*.pack <<'PY'
import sys
want = bytes.fromhex(sys.argv[1])
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    i = data.find(want)
    while i >= 0:
        if i >= 16 and data[i - 16:i - 12] == b"SFCR":
            print(f"{path}:{i}")
            sys.exit(0)
        i = data.find(want, i + 1)
PY
)
[ -n "$hit" ] || fail "cannot find the record of block 5's chunk in the packs"
pack=${hit%:*}
off=${hit##*:}
# Payload starts 32 bytes after the id; flip 8 bytes in its middle.
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' | dd of="$pack" bs=1 seek=$((off + 32 + 1000)) conv=notrunc status=none
do_mount "$MNT" -o cache_size=8M
for ((b = 0; b < 16; b++)); do
	if dd if="$MNT/snapshots/$SNAP4.img" of="$T/block" bs=$BS skip=$b count=1 status=none 2>"$T/err"; then
		[ $b -ne 5 ] || fail "the corrupted block 5 read without an error"
		dd if="$BAD" bs=$BS skip=$b count=1 status=none | cmp -s - "$T/block" ||
			fail "block $b differs after corrupting block 5"
	else
		[ $b -eq 5 ] || fail "block $b fails: $(cat "$T/err")"
		grep -q "Input/output error" "$T/err" || fail "block 5 fails with '$(cat "$T/err")', not EIO"
	fi
done
cmp "$MNT/snapshots/$SNAP2.img" "$T/ext4-2.img" || fail "other snapshots fail after the corruption"
ls "$MNT/snapshots" >/dev/null || fail "the mount died after a corrupt read"
do_umount "$MNT"
exit 0
