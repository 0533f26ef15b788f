#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The local-directory store against a store on a single-host Ceph cluster
# (scripts/ceph-test-cluster.sh, memstore OSDs), in one run: ingest of an
# image, a cold sequential read of its snapshot through a fresh mount (page
# cache dropped, empty chunk cache), the same read with the chunk cache
# warm (a new mount, so the block cache is cold), and the RADOS read
# operations per 4 MiB read (counted by the mount itself:
# SNAPFS_RADOS_OPS_FILE, written when it exits).
#
#   scripts/bench/rados.sh [BUILD_DIR] [SIZE_MIB] [RUNS]
#
# Root (mounts, drop_caches). Prints one line per figure, best of RUNS.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
MIB=${2:-256}
RUNS=${3:-2}
SNAPFS=$(readlink -f "$BUILD/fs/snapfs")
T=$(mktemp -d /tmp/snapfs-bench-rados.XXXXXX)
CEPH=$T/ceph
cleanup() {
	set +e
	for m in "$T"/mnt*; do mountpoint -q "$m" && umount "$m"; done
	scripts/ceph-test-cluster.sh stop "$CEPH"
	rm -rf "$T"
}
trap cleanup EXIT
CONF=$(scripts/ceph-test-cluster.sh start "$CEPH")
POOL=snapfs-test

# Half random, half compressible (text-like repetition), in 1 MiB pieces.
python3 - "$T/img" "$MIB" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        f.write(os.urandom(1 << 20) if i % 2 == 0 else (b"snapfs %08d " % i) * (1 << 16))
PY

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# read_through STORE SNAP CACHE_DIR: seconds for dd of the snapshot.
read_through() {
	local m=$T/mnt.$RANDOM t0 t1
	mkdir -p "$m"
	rm -f "$T/ops"
	SNAPFS_RADOS_OPS_FILE=$T/ops SNAPFS_CACHE_DIR=$3 "$SNAPFS" --store "$1" mount "$m" \
		-o cache_dir="$3"
	drop
	t0=$(now)
	dd if="$m/snapshots/$2.img" of=/dev/null bs=4M status=none
	t1=$(now)
	umount "$m"
	# The daemon writes its count as it exits, just after the unmount.
	for _ in $(seq 50); do [ -s "$T/ops" ] && break; sleep 0.1; done
	secs "$t0" "$t1"
}

best() { sort -n | head -n 1; }

echo "image: $MIB MiB (half random, half compressible); runs: $RUNS; $(uptime)"
for run in $(seq "$RUNS"); do
	rm -rf "$T/local" "$T/state" "$T/cache"
	timeout 20 rados -c "$CONF" -p "$POOL" ls | while read -r o; do
		timeout 10 rados -c "$CONF" -p "$POOL" rm "$o"
	done
	"$SNAPFS" --store "$T/local" init >/dev/null
	"$SNAPFS" --store "$T/state" init --backend rados --pool "$POOL" --ceph-conf "$CONF" >/dev/null
	# A/B alternated within the run.
	drop
	t0=$(now); LS=$("$SNAPFS" --store "$T/local" snapshot create v "$T/img"); t1=$(now)
	echo "ingest local $(secs "$t0" "$t1")" >>"$T/fig"
	drop
	t0=$(now); RS=$("$SNAPFS" --store "$T/state" snapshot create v "$T/img"); t1=$(now)
	echo "ingest rados $(secs "$t0" "$t1")" >>"$T/fig"
	echo "read-cold local $(read_through "$T/local" "$LS" "$T/cache-unused")" >>"$T/fig"
	echo "read-cold rados $(read_through "rados:$POOL?conf=$CONF" "$RS" "$T/cache")" >>"$T/fig"
	ops=$(awk '{print $2}' "$T/ops")
	echo "ops-cold $(python3 -c "print(f'{$ops / ($MIB / 4):.2f}')")" >>"$T/fig"
	echo "read-warm rados $(read_through "rados:$POOL?conf=$CONF" "$RS" "$T/cache")" >>"$T/fig"
	ops=$(awk '{print $2}' "$T/ops")
	echo "ops-warm $(python3 -c "print(f'{$ops / ($MIB / 4):.2f}')")" >>"$T/fig"
done
for k in "ingest local" "ingest rados" "read-cold local" "read-cold rados" "read-warm rados"; do
	s=$(grep "^$k " "$T/fig" | awk '{print $NF}' | best)
	printf '%-16s %6ss  %6.0f MiB/s\n' "$k" "$s" "$(python3 -c "print($MIB / $s)")"
done
for k in ops-cold ops-warm; do
	printf '%-16s %s RADOS reads per 4 MiB (every run: %s)\n' "$k" \
		"$(grep "^$k " "$T/fig" | awk '{print $2}' | best)" \
		"$(grep "^$k " "$T/fig" | awk '{print $2}' | tr '\n' ' ')"
done
