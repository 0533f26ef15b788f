#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A running mount's live figures (snapfs mount-status, the root's
# user.snapfs.stats attribute, the SIGUSR1 log line): after reading
# through the mount they show the reads, the bytes served and decoded,
# and a cache consistent with what was read; a second snapshot of the
# same data is served from the cache without a decode; open files are
# counted while open; a corrupted pack shows as verification failures.
. "$(dirname "$0")/lib.sh" "$@"
need_root
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "SKIP: no /dev/fuse" >&2
	exit 77
fi

MIB=$((1 << 20))
sfs init --block-size 65536 >/dev/null
head -c $((8 * MIB)) /dev/urandom >"$T/d"
A=$(sfs snapshot create alpha "$T/d")
B=$(sfs snapshot create beta "$T/d")
mkdir -p "$T/mnt"
"$SNAPFS" mount "$T/mnt" -o cache_size=64M || fail "mount"
track_mount "$T/mnt"

# st FIELD...: one figure of `mount-status --json` (group and key).
st() {
	"$SNAPFS" mount-status "$T/mnt" --json |
		python3 -c 'import json,sys; o=json.load(sys.stdin)
for k in sys.argv[1:]: o=o[k]
print(o)' "$@"
}

[ "$(st served reads)" -eq 0 ] || fail "reads before any read: $(st served reads)"
[ "$(st cache bytes)" -eq 0 ] || fail "cache filled before any read"
[ "$(st store)" = "$(readlink -f "$STORE")" ] || fail "store: $(st store)"

assert_same_file "$T/mnt/snapshots/$A.img" "$T/d" "alpha through the mount"
served=$(st served bytes)
decoded=$(st packs decoded_bytes)
stored=$(st packs stored_bytes_read)
chunks=$(st packs chunks_decoded)
cached=$(st cache bytes)
log "after 8 MiB: served $served, decoded $decoded, read from packs $stored, $chunks chunks, cache $cached"
# Every byte of the file was served (the kernel may ask twice for some).
[ "$served" -ge $((8 * MIB)) ] && [ "$served" -le $((16 * MIB)) ] ||
	soft_fail "served $served bytes for an 8 MiB file"
[ "$(st served reads)" -gt 0 ] || soft_fail "no reads counted"
# 128 data blocks of 64 KiB, each decoded once, plus the map's pages.
[ "$chunks" -ge 128 ] && [ "$chunks" -le 140 ] || soft_fail "$chunks chunks decoded for 128 blocks"
[ "$decoded" -ge $((8 * MIB)) ] && [ "$decoded" -le $((9 * MIB)) ] ||
	soft_fail "decoded $decoded bytes for 8 MiB"
# Random data does not compress: what was read from packs is what it
# decoded to (give or take a header).
[ "$stored" -ge $((8 * MIB)) ] && [ "$stored" -le $((9 * MIB)) ] ||
	soft_fail "read $stored bytes of packs for 8 MiB of random data"
[ "$cached" -eq $((8 * MIB)) ] || soft_fail "cache holds $cached bytes, not the 8 MiB read"
[ "$(st cache capacity)" -eq $((64 * MIB)) ] || soft_fail "capacity $(st cache capacity)"
[ "$(st packs verification_failures)" -eq 0 ] || soft_fail "verification failures on good data"
[ "$(st readahead hits)" -le "$(st readahead blocks_read_ahead)" ] ||
	soft_fail "more readahead hits than blocks read ahead"

# The same data under another snapshot: all from the cache.
hits=$(st cache hits)
assert_same_file "$T/mnt/snapshots/$B.img" "$T/d" "beta through the mount"
[ "$(st packs chunks_decoded)" -le $((chunks + 2)) ] ||
	soft_fail "beta decoded $(($(st packs chunks_decoded) - chunks)) chunks; its blocks were cached"
[ "$(st cache hits)" -ge $((hits + 128)) ] || soft_fail "beta's 128 blocks were not cache hits"
[ "$(st served bytes)" -ge $((served + 8 * MIB)) ] || soft_fail "beta's bytes not counted as served"
rate=$(st cache hit_rate)
python3 -c "import sys; sys.exit(not (0.4 < $rate <= 1))" || soft_fail "hit rate $rate after two reads of the same data"

# Open files, while open.
opened=$(st files opened)
exec 3<"$T/mnt/snapshots/$A.img"
[ "$(st files open)" -eq 1 ] || soft_fail "open files with one open: $(st files open)"
[ "$(st files opened)" -eq $((opened + 1)) ] || soft_fail "opens not counted"
exec 3<&-
for _ in $(seq 50); do [ "$(st files open)" -eq 0 ] && break; sleep 0.1; done
[ "$(st files open)" -eq 0 ] || soft_fail "open files after close: $(st files open)"

# The summary and the attribute itself.
out=$("$SNAPFS" mount-status "$T/mnt")
grep -q 'hit rate' <<<"$out" || soft_fail "no hit rate in: $out"
grep -q "served .* reads, 16.0 MiB" <<<"$out" || soft_fail "no served bytes in: $out"
getfattr --only-values -n user.snapfs.stats "$T/mnt" 2>/dev/null | grep -q '"served"' ||
	python3 -c 'import os,sys; sys.exit(b"served" not in os.getxattr(sys.argv[1], "user.snapfs.stats"))' "$T/mnt" ||
	soft_fail "the root has no user.snapfs.stats"
# Only the root has it, and other attributes are absent, not unsupported.
python3 - "$T/mnt" <<'PY' || soft_fail "xattrs of other inodes"
import errno, os, sys
for p, name in ((sys.argv[1] + "/snapshots", "user.snapfs.stats"), (sys.argv[1], "user.other")):
    try:
        os.getxattr(p, name)
        sys.exit(f"{p} has {name}")
    except OSError as e:
        if e.errno != errno.ENODATA:
            sys.exit(f"{p} {name}: {e}")
PY
expect_error 1 "$SNAPFS" mount-status "$T"
[[ $ERR == *"not the root of a snapfs mount"* ]] || soft_fail "mount-status of a plain directory: $ERR"
expect_error 1 "$SNAPFS" mount-status "$T/mnt/snapshots"
[[ $ERR == *"not the root of a snapfs mount"* ]] || soft_fail "mount-status of a subdirectory: $ERR"
expect_error 2 "$SNAPFS" mount-status

# SIGUSR1: one log line with the figures, the mount goes on serving.
mkdir -p "$T/mnt2"
"$SNAPFS" mount "$T/mnt2" -f 2>"$T/fg.log" &
fg=$!
track_pid $fg
for _ in $(seq 100); do mountpoint -q "$T/mnt2" && break; sleep 0.1; done
mountpoint -q "$T/mnt2" || fail "foreground mount did not come up: $(cat "$T/fg.log")"
track_mount "$T/mnt2"
cat "$T/mnt2/snapshots/$A.img" >/dev/null
kill -USR1 $fg
for _ in $(seq 50); do grep -q 'figures of' "$T/fg.log" && break; sleep 0.1; done
grep 'figures of' "$T/fg.log" | grep -q 'served [1-9][0-9]* reads, 8388608 bytes' ||
	soft_fail "no figures logged on SIGUSR1: $(cat "$T/fg.log")"
kill -0 $fg 2>/dev/null || fail "the mount died of SIGUSR1"
assert_same_file "$T/mnt2/snapshots/$B.img" "$T/d" "reads after SIGUSR1"
umount "$T/mnt2"
wait $fg || soft_fail "foreground mount exited $?"

# A damaged pack: the failures are counted, the read errors too.
umount "$T/mnt"
pack=$(ls "$STORE"/packs/*.pack | head -1)
python3 - "$pack" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    for off in range(200000, 6000000, 300000):
        f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))
PY
"$SNAPFS" mount "$T/mnt" -o readahead=0 || fail "mount of the damaged store"
cat "$T/mnt/snapshots/$A.img" >/dev/null 2>&1 && soft_fail "a damaged snapshot read cleanly"
[ "$(st packs verification_failures)" -gt 0 ] || soft_fail "no verification failures counted"
[ "$(st served read_errors)" -gt 0 ] || soft_fail "no read errors counted"
log "damaged: $(st packs verification_failures) verification failures, $(st served read_errors) read errors"
