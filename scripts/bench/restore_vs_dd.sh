#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Cold restore against a cold read through the mount, old and new binaries
# side by side, alternated: `snapshot restore` of one snapshot into tmpfs
# and `dd bs=1M` of the same snapshot's file through a mount to /dev/null,
# with the page cache dropped before each run. Prints one line per run:
# "run N VARIANT SECONDS". Needs root (drop_caches, FUSE).
#
#   restore_vs_dd.sh OLD_SNAPFS NEW_SNAPFS STORE SNAPSHOT_ID [RUNS]
set -euo pipefail

[ $# -ge 4 ] || { echo "usage: restore_vs_dd.sh OLD NEW STORE SNAPSHOT_ID [RUNS]" >&2; exit 2; }
old=$1 new=$2 store=$3 id=$4 runs=${5:-3}
out=/dev/shm/restore_vs_dd.$$.img
mnt=$(mktemp -d)
cleanup() { umount "$mnt" 2>/dev/null || true; rmdir "$mnt"; rm -f "$out"; }
trap cleanup EXIT

cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
timed() {
	local s e
	s=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	e=$(date +%s.%N)
	echo "$e - $s" | bc
}
restore() {
	rm -f "$out"
	cold
	timed "$1" --store "$store" snapshot restore "$id" "$out" --no-progress
}
dd_mount() {
	"$1" --store "$store" mount "$mnt"
	cold
	timed dd if="$mnt/snapshots/$id.img" of=/dev/null bs=1M
	umount "$mnt"
}
for run in $(seq 1 "$runs"); do
	echo "run $run restore-old $(restore "$old")"
	echo "run $run restore-new $(restore "$new")"
	echo "run $run dd-mount-new $(dd_mount "$new")"
	echo "run $run dd-mount-old $(dd_mount "$old")"
done
