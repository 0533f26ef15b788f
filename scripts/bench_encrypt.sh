#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An encrypted store against a plain one in the same run: ingest, cold
# sequential read and cold 4 KiB random reads through the mount, best of
# ROUNDS alternating runs. Needs root (drop_caches) and /dev/fuse.
#
# Usage: scripts/bench_encrypt.sh SNAPFS_BINARY [SIZE_MIB] [ROUNDS]
set -euo pipefail
SNAPFS=$(readlink -f "$1")
MIB=${2:-512}
ROUNDS=${3:-3}
T=$(mktemp -d /var/tmp/snapfs-bench-enc.XXXXXX)
cleanup() {
	for m in "$T"/mnt-*; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
	rm -rf "$T"
}
trap cleanup EXIT

# Half random, half text-like: a volume that compresses about 2:1.
python3 - "$T/src" "$MIB" <<'PY'
import os, random, sys
r = random.Random(1)
words = [bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(r.randint(3, 9))) for _ in range(4096)]
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2]) * 32):
        if i % 2:
            f.write(os.urandom(32768))
        else:
            b = b" ".join(r.choice(words) for _ in range(8192))
            f.write(b[:32768].ljust(32768, b"."))
PY
head -c 32 /dev/urandom >"$T/key"
now() { date +%s.%N; }
best() { sort -n | head -n 1; }

for kind in plain enc; do
	args=()
	[ $kind = enc ] && args=(--encrypt --key-file "$T/key")
	"$SNAPFS" --store "$T/$kind" init "${args[@]}" >/dev/null
	mkdir -p "$T/mnt-$kind"
done

declare -A ING SEQ RND
for round in $(seq "$ROUNDS"); do
	for kind in plain enc; do
		rm -rf "$T/$kind.r"
		args=()
		[ $kind = enc ] && args=(--encrypt --key-file "$T/key")
		"$SNAPFS" --store "$T/$kind.r" init "${args[@]}" >/dev/null
		sync
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(now)
		id=$("$SNAPFS" --store "$T/$kind.r" --key-file "$T/key" snapshot create v "$T/src" --no-progress)
		t1=$(now)
		ING[$kind]+="$(echo "$t1 - $t0" | bc) "
		"$SNAPFS" --store "$T/$kind.r" mount "$T/mnt-$kind" -o key_file="$T/key"
		sync
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(now)
		dd if="$T/mnt-$kind/snapshots/$id.img" of=/dev/null bs=1M status=none
		t1=$(now)
		SEQ[$kind]+="$(echo "$t1 - $t0" | bc) "
		umount "$T/mnt-$kind"
		"$SNAPFS" --store "$T/$kind.r" mount "$T/mnt-$kind" -o key_file="$T/key",readahead=0
		echo 3 >/proc/sys/vm/drop_caches
		RND[$kind]+="$(python3 - "$T/mnt-$kind/snapshots/$id.img" <<'PY'
import os, random, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
r = random.Random(7)
offs = [r.randrange(size // 4096) * 4096 for _ in range(2000)]
t = time.monotonic()
for o in offs:
    os.pread(fd, 4096, o)
print(time.monotonic() - t)
PY
) "
		umount "$T/mnt-$kind"
	done
done

printf '%-8s %12s %16s %22s\n' store "ingest MB/s" "cold seq MB/s" "cold 4K random IOPS"
for kind in plain enc; do
	i=$(echo ${ING[$kind]} | tr ' ' '\n' | best)
	s=$(echo ${SEQ[$kind]} | tr ' ' '\n' | best)
	r=$(echo ${RND[$kind]} | tr ' ' '\n' | best)
	printf '%-8s %12.0f %16.0f %22.0f\n' $kind "$(echo "$MIB * 1.048576 / $i" | bc -l)" \
		"$(echo "$MIB * 1.048576 / $s" | bc -l)" "$(echo "2000 / $r" | bc -l)"
done
