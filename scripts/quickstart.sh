#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The five-minute tour: installs the dependencies, builds snapfs, makes a
# real ext4 volume with real files, takes two snapshots of it with changes
# in between, mounts the store, prints the tree, loop-mounts both
# snapshots read-only and shows how they differ. Works in a temporary
# directory and leaves nothing mounted, also when a step fails.
# Needs root (loop devices); re-runs itself with sudo otherwise.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	exec sudo --preserve-env=SNAPFS "$0" "$@"
fi
cd "$(dirname "$0")/.."
ROOT=$PWD

echo "== installing dependencies"
scripts/deps.sh
echo "== building"
[ -f build/build.ninja ] || meson setup build
ninja -C build
SNAPFS=${SNAPFS:-$ROOT/build/fs/snapfs}

W=$(mktemp -d /tmp/snapfs-quickstart.XXXXXX)
MOUNTED=()
cleanup() {
	local rc=$? i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		if mountpoint -q "${MOUNTED[i]}"; then
			umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" || true
		fi
	done
	rm -rf "$W"
	[ $rc -eq 0 ] || echo "quickstart failed (exit $rc); everything it mounted is unmounted" >&2
}
trap cleanup EXIT
mnt() { # mnt DIR mount-args...: mounts and remembers it for cleanup
	local dir=$1
	shift
	mkdir -p "$dir"
	MOUNTED+=("$dir")
	mount "$@" "$dir"
}
sfs() { "$SNAPFS" --store "$W/store" "$@"; }

echo "== making an ext4 volume with real files in $W"
truncate -s 256M "$W/vol.img"
mkfs.ext4 -q -F "$W/vol.img"
mnt "$W/vol" -o loop "$W/vol.img"
cp -a /etc "$W/vol/etc"
cp -a /usr/share/zoneinfo "$W/vol/zoneinfo" 2>/dev/null || true
echo "hello from the first snapshot" >"$W/vol/hello.txt"
umount "$W/vol"

echo "== initialising a store and taking the first snapshot"
sfs init
SNAP1=$(sfs snapshot create demo "$W/vol.img" | tail -n1)

echo "== changing the volume and taking the second snapshot"
mount -o loop "$W/vol.img" "$W/vol"
echo "hello from the second snapshot" >"$W/vol/hello.txt"
rm -rf "$W/vol/zoneinfo"
cp /etc/hostname "$W/vol/added-later.txt" 2>/dev/null || date >"$W/vol/added-later.txt"
umount "$W/vol"
SNAP2=$(sfs snapshot create demo "$W/vol.img" | tail -n1)
sfs snapshot list

echo "== mounting the store on $W/mnt"
mkdir -p "$W/mnt"
MOUNTED+=("$W/mnt")
sfs mount "$W/mnt" # returns once the mount is ready
(cd "$W/mnt" && ls -lR --time-style=+%FT%TZ .)

echo "== loop-mounting both snapshots read-only"
mnt "$W/snap1" -o loop,ro "$W/mnt/snapshots/$SNAP1.img"
mnt "$W/snap2" -o loop,ro "$W/mnt/volumes/demo/latest.img"
echo "snapshot 1 hello.txt: $(cat "$W/snap1/hello.txt")"
echo "snapshot 2 hello.txt: $(cat "$W/snap2/hello.txt")"
echo "differences between the snapshots (at most 8 lines):"
diff -rq --no-dereference "$W/snap1" "$W/snap2" | sed 's|'"$W"'/||g' | head -n 8 || true
cmp -s "$W/snap1/hello.txt" "$W/snap2/hello.txt" && { echo "the snapshots should differ" >&2; exit 1; }
[ -d "$W/snap1/zoneinfo" ] && [ ! -e "$W/snap2/zoneinfo" ]
[ -f "$W/snap2/added-later.txt" ] && [ ! -e "$W/snap1/added-later.txt" ]

echo "== unmounting"
umount "$W/snap2"
umount "$W/snap1"
fusermount3 -u "$W/mnt"
echo "done: snapshots $SNAP1 and $SNAP2 mounted, compared and unmounted"
