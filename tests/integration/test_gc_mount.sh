#!/bin/bash
# SPDX-License-Identifier: MIT
# gc in another process while a mount runs: the space gc reports freed is
# freed at once (the mount holds no removed pack), and the mount keeps
# reading correct bytes. And a mount whose fd limit is below the store's
# pack count reads every pack (its fd cache is bounded).
# Usage: test_gc_mount.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "gc_mount: skipped (no /dev/fuse or fusermount3)"
	exit 77
fi
S=$T/store
export SNAPFS_STORE=$S
"$SNAPFS" init --block-size 64K >/dev/null
# Small packs (1 MiB), so that a few snapshots make many packs.
sed -i 's/^pack_size = .*/pack_size = 1048576/' "$S/config"

mkvol "$T/d" 24 d
mkvol "$T/k" 24 k
mkvol "$T/l" 8 l
D=$("$SNAPFS" snapshot create d "$T/d" --no-progress)
K=$("$SNAPFS" snapshot create k "$T/k" --no-progress)
L=$("$SNAPFS" snapshot create l "$T/l" --no-progress)

mount_pid() { # the daemon serving $1 (other mounts may run on this machine)
	local pid
	for pid in $(pgrep -x snapfs); do
		if tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$1"; then
			echo "$pid"
			return
		fi
	done
	fail "no daemon serves $1"
}

# ---- 1. gc under a running mount ----
mkdir "$T/mnt"
"$SNAPFS" mount "$T/mnt" -o cache_size=1M,readahead=0 || fail "mount"
track_mount "$T/mnt"
PID=$(mount_pid "$T/mnt")
# The mount opens the packs of every snapshot.
assert_same_file "$T/mnt/snapshots/$D.img" "$T/d" "d through the mount"
assert_same_file "$T/mnt/snapshots/$K.img" "$T/k" "k through the mount"
held=$(ls -l "/proc/$PID/fd" | grep -c '\.pack' || true)
[ "$held" -gt 0 ] || fail "the mount holds no pack open (pid $PID?)"

"$SNAPFS" snapshot delete "$D" >/dev/null
before=$(packs_bytes "$S")
"$SNAPFS" gc --json >"$T/gc.json" || fail "gc under a mount"
reported=$(json_field freed_bytes <"$T/gc.json")
[ "$reported" -ge $((20 << 20)) ] || fail "gc reported only $reported bytes freed"
# The mount revalidates its descriptors at most once a second, on a read
# that reaches the packs: l was never read, so its blocks are not cached.
sleep 1.2
assert_same_file "$T/mnt/snapshots/$L.img" "$T/l" "l through the mount after gc"
after=$(packs_bytes "$S")
freed=$((before - after))
echo "gc_mount: packs $before -> $after bytes, freed $freed, gc reported $reported"
# du counts allocated blocks, gc the same through the backend: within 5%.
diff=$((freed > reported ? freed - reported : reported - freed))
[ "$diff" -le $((reported / 20)) ] || fail "du shows $freed bytes freed, gc reported $reported"
if ls -l "/proc/$PID/fd" | grep '\.pack' | grep -q '(deleted)'; then
	ls -l "/proc/$PID/fd" | grep '(deleted)' >&2
	fail "the mount still holds packs gc removed"
fi
assert_same_file "$T/mnt/snapshots/$K.img" "$T/k" "k through the mount after gc"
fusermount3 -u "$T/mnt"

# ---- 2. more packs than the mount's fd limit ----
mkvol "$T/big" 80 big
B=$("$SNAPFS" snapshot create big "$T/big" --no-progress)
n=$(ls "$S/packs" | grep -c '\.pack$')
[ "$n" -gt 64 ] || fail "only $n packs"
(ulimit -n 64 && exec "$SNAPFS" mount "$T/mnt" -o cache_size=1M,readahead=0) || fail "mount with ulimit -n 64"
assert_same_file "$T/mnt/snapshots/$B.img" "$T/big" "a $n-pack snapshot through a 64-fd mount"
assert_same_file "$T/mnt/snapshots/$K.img" "$T/k" "k through the 64-fd mount"
fusermount3 -u "$T/mnt"
check_store "$S"
echo "gc_mount: ok ($n packs read through a mount limited to 64 fds)"
