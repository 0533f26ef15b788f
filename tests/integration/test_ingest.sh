#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Snapshots of a real ext4 image: full, incremental after edits, unchanged,
# with --changed-ranges (text and JSON; leading zeros, a grown or shrunk
# volume, an empty list), from a block device and from stdin; every
# snapshot is restored and compared byte for byte.
. "$(dirname "$0")/lib.sh" "$@"
need_root

BS=65536
IMG=$T/vol.img
MNT=$T/mnt

# file_sums DIR: the SHA-256 of every file under DIR, by path (lost+found
# left out), in one form for the source and a restored copy alike.
file_sums() {
	(cd "$1" && find . -type f ! -path './lost+found/*' -exec openssl dgst -sha256 -r {} + | sort -k2)
}

sfs init --block-size $BS >/dev/null

log "building a 256M ext4 image with real files"
truncate -s 256M "$IMG"
mkfs.ext4 -q -F "$IMG"
mount_loop "$IMG" "$MNT"
mkdir -p "$MNT/share" "$MNT/lib"
# Real files: documentation (text, compresses) and shared libraries.
(cd /usr/share && find doc -type f -size +2k 2>/dev/null | sed -n '1,1500p' |
	tar -cf - -T - 2>/dev/null) | tar -C "$MNT/share" -xf -
(cd /usr/lib && find . -type f -name '*.so*' -size +200k -size -6M 2>/dev/null | sed -n '1,60p' |
	tar -cf - -T - 2>/dev/null) | tar -C "$MNT/lib" -xf -
head -c 8M /dev/urandom >"$MNT/random.bin"
head -c 16M /dev/urandom >"$MNT/big.bin"
printf 'line one\nline two\n' >"$MNT/edit.txt"
seq 1 20000 >"$MNT/append.log"
sync
log "source: $(du -sh "$MNT" | cut -f1) in $(find "$MNT" -type f | wc -l) files"
file_sums "$MNT" >"$T/files1.sha"
umount "$MNT"

cp --sparse=always "$IMG" "$T/img1"
SHA1=$(sha "$IMG")

log "snapshot 1 (full)"
ID1=$(sfs snapshot create vol "$IMG" --description first --tag env=test --no-progress)
sfs snapshot show "$ID1" --json >"$T/s1.json"
assert_eq "$(json_field state <"$T/s1.json")" completed "state of $ID1"
assert_eq "$(json_field size <"$T/s1.json")" $((256 << 20)) "size of $ID1"
assert_eq "$(json_field description <"$T/s1.json")" first "description"
grep -q '"env": *"test"' "$T/s1.json" || fail "tag env=test missing: $(cat "$T/s1.json")"

log "changing files"
mount_loop "$IMG" "$MNT"
sed -i 's/two/TWO, edited/' "$MNT/edit.txt"
rm -f "$MNT/random.bin"
seq 20001 60000 >>"$MNT/append.log"
head -c 1M /dev/urandom >"$MNT/new1.bin"
mkdir -p "$MNT/newdir"
head -c 300K /dev/urandom >"$MNT/newdir/new2.bin"
# Scattered 4 KiB rewrites inside a big file.
for i in $(seq 1 20); do
	dd if=/dev/urandom of="$MNT/big.bin" bs=4096 count=1 seek=$((i * 193)) conv=notrunc \
		status=none
done
sync
umount "$MNT"
SHA2=$(sha "$IMG")

# The blocks that really changed, measured independently of snapfs.
cmp -l "$T/img1" "$IMG" | awk -v bs=$BS '{ b = int(($1 - 1) / bs); if (!(b in s)) { s[b] = 1; print b } }' |
	sort -n >"$T/changed.blocks" || true
NCHANGED=$(wc -l <"$T/changed.blocks")
CHANGED_BYTES=$((NCHANGED * BS))
log "$NCHANGED blocks of $BS bytes changed ($CHANGED_BYTES bytes)"
[ "$NCHANGED" -gt 0 ] || fail "the image did not change"

log "snapshot 2 (incremental)"
ID2=$(sfs snapshot create vol "$IMG" --no-progress)
sfs snapshot show "$ID2" --json >"$T/s2.json"
assert_eq "$(json_field parent <"$T/s2.json")" "$ID1" "parent of $ID2"
NEW2=$(json_field new_bytes <"$T/s2.json")
# Bound: a chunk is never stored larger than its block (what does not
# compress is stored raw) plus its 48-byte record header, so at most the
# changed blocks plus headers, plus the map pages on the paths to them (a
# 256M volume has 4 leaves and a root, at most 32 KiB each, and headers).
MAP_ALLOWANCE=$((256 * 1024))
BOUND=$((CHANGED_BYTES + 48 * NCHANGED + MAP_ALLOWANCE))
log "snapshot 2 added $NEW2 bytes; bound $BOUND"
[ "$NEW2" -le "$BOUND" ] || fail "incremental snapshot stored $NEW2 bytes > bound $BOUND"
# At least the 1.3 MiB of new random data had to be stored.
[ "$NEW2" -ge $((1300 * 1024)) ] || fail "incremental snapshot stored only $NEW2 bytes"

log "diff reports the changed blocks"
sfs snapshot diff "$ID1" "$ID2" --json >"$T/diff.json"
DIFF_BYTES=$(json_field changed_bytes <"$T/diff.json")
assert_eq "$DIFF_BYTES" "$CHANGED_BYTES" "changed_bytes of diff"

log "snapshot 3 of the unchanged volume adds nothing"
ID3=$(sfs snapshot create vol "$IMG" --no-progress)
sfs snapshot show "$ID3" --json >"$T/s3.json"
assert_eq "$(json_field new_chunks <"$T/s3.json")" 0 "new_chunks of an unchanged snapshot"
assert_eq "$(json_field new_bytes <"$T/s3.json")" 0 "new_bytes of an unchanged snapshot"
assert_eq "$(json_field root <"$T/s3.json")" "$(json_field root <"$T/s2.json")" "root of unchanged"

log "restoring"
sfs snapshot restore "$ID1" "$T/r1.img"
sfs snapshot restore "$ID2" "$T/r2.img"
assert_eq "$(sha "$T/r1.img")" "$SHA1" "restore of $ID1"
assert_eq "$(sha "$T/r2.img")" "$SHA2" "restore of $ID2"
# Restores are sparse.
ALLOC=$(($(stat -c %b "$T/r1.img") * 512))
DATA1=$(json_field data_bytes <"$T/s1.json")
[ "$ALLOC" -le $((DATA1 + (1 << 20))) ] ||
	fail "restore is not sparse: $ALLOC bytes allocated for $DATA1 data bytes"
# Refuses to overwrite without --force.
expect_error 1 sfs snapshot restore "$ID1" "$T/r2.img"
assert_eq "$(sha "$T/r2.img")" "$SHA2" "restore without --force left the file alone"
sfs snapshot restore "$ID1" "$T/r2.img" --force
assert_eq "$(sha "$T/r2.img")" "$SHA1" "restore --force"
# The files themselves, through a mount of the restored image.
mount_loop "$T/r1.img" "$T/m1" ro
file_sums "$T/m1" >"$T/r1files.sha"
umount "$T/m1"
diff -u "$T/files1.sha" "$T/r1files.sha" >/dev/null || fail "files in restored snapshot 1 differ"
rm -f "$T/r1.img" "$T/r2.img"

log "--changed-ranges (text, with comments, hex and merged ranges)"
sfs snapshot create ranges "$T/img1" --no-progress >/dev/null
{
	echo "# blocks that changed"
	echo
	while read -r b; do
		if [ $((b % 2)) -eq 0 ]; then
			printf '0x%x %d\n' $((b * BS)) $BS
		else
			printf '%d %d\n' $((b * BS)) $BS
		fi
	done <"$T/changed.blocks"
} >"$T/ranges.txt"
IDR=$(sfs snapshot create ranges "$IMG" --changed-ranges "$T/ranges.txt" --no-progress)
restore_check "$IDR" "$IMG"

log "--changed-ranges (JSON)"
sfs snapshot create ranges-json "$T/img1" --no-progress >/dev/null
{
	printf '['
	sep=
	while read -r b; do
		printf '%s{"offset":%d,"length":%d}' "$sep" $((b * BS)) $BS
		sep=,
	done <"$T/changed.blocks"
	printf ']\n'
} >"$T/ranges.json"
IDJ=$(sfs snapshot create ranges-json "$IMG" --changed-ranges "$T/ranges.json" --no-progress)
restore_check "$IDJ" "$IMG"
sfs snapshot show "$IDJ" --json >"$T/sj.json"
NEWJ=$(json_field new_bytes <"$T/sj.json")
[ "$NEWJ" -le "$BOUND" ] || fail "changed-ranges snapshot stored $NEWJ bytes > $BOUND"

log "--changed-ranges: a leading zero is decimal, not octal"
# "0131072 16" once read as octal 45626: create passed, check passed and
# the snapshot silently kept the old bytes at 131072.
head -c 1M /dev/urandom >"$T/oct.img"
sfs snapshot create octal "$T/oct.img" --no-progress >/dev/null
printf 'NEW BYTES 16 LNG' | dd of="$T/oct.img" bs=1 seek=131072 conv=notrunc status=none
printf '0131072 16\n' >"$T/oct.ranges"
IDO=$(sfs snapshot create octal "$T/oct.img" --changed-ranges "$T/oct.ranges" --no-progress)
restore_check "$IDO" "$T/oct.img"

log "--changed-ranges on a volume that grew: the appended part is read"
head -c 3000000 /dev/urandom >"$T/grow.img"
sfs snapshot create grow "$T/grow.img" --no-progress >/dev/null
# One listed change inside the parent; 5 MB appended (starting mid-block)
# that no range mentions.
printf 'in-parent change' | dd of="$T/grow.img" bs=1 seek=70000 conv=notrunc status=none
head -c 5000000 /dev/urandom >>"$T/grow.img"
printf '70000 16\n' >"$T/grow.ranges"
sfs snapshot create grow "$T/grow.img" --changed-ranges "$T/grow.ranges" --json \
	--no-progress >"$T/grow.json"
restore_check "$(json_field id <"$T/grow.json")" "$T/grow.img"
assert_eq "$(json_field changed_ranges <"$T/grow.json")" 1 "listed ranges of the grown volume"

log "--changed-ranges: an empty file means nothing changed"
cp "$T/grow.img" "$T/grow0.img"
# A change no range reports is not seen: nothing is read.
printf 'unreported' | dd of="$T/grow.img" bs=1 seek=200000 conv=notrunc status=none
: >"$T/empty.ranges"
sfs snapshot create grow "$T/grow.img" --changed-ranges "$T/empty.ranges" --json \
	--no-progress >"$T/empty.json"
assert_eq "$(json_field read_bytes <"$T/empty.json")" 0 "bytes read with an empty ranges file"
assert_eq "$(json_field changed_ranges <"$T/empty.json")" 0 "ranges of an empty file"
restore_check "$(json_field id <"$T/empty.json")" "$T/grow0.img"
# ... and with growth, only the grown part is read.
head -c 100000 /dev/urandom >>"$T/grow.img"
sfs snapshot create grow "$T/grow.img" --changed-ranges "$T/empty.ranges" --json \
	--no-progress >"$T/empty2.json"
READ=$(json_field read_bytes <"$T/empty2.json")
[ "$READ" -gt 0 ] && [ "$READ" -le $((100000 + BS)) ] ||
	fail "an empty ranges file on a grown volume read $READ bytes"
cp "$T/grow0.img" "$T/grow1.img"
tail -c 100000 "$T/grow.img" >>"$T/grow1.img"
restore_check "$(json_field id <"$T/empty2.json")" "$T/grow1.img"

log "--changed-ranges on a volume that shrank is refused"
truncate -s 4000000 "$T/grow.img"
expect_error 1 sfs snapshot create grow "$T/grow.img" --changed-ranges "$T/empty.ranges" \
	--no-progress
case "$ERR" in *"never shrink"*) ;; *) soft_fail "shrink error does not say why: $ERR" ;; esac
rm -f "$T/grow.img" "$T/grow0.img" "$T/grow1.img" "$T/oct.img"

log "block device source"
LOOP=$(losetup -f --show -r "$IMG")
track_loop "$LOOP"
IDB=$(sfs snapshot create blockdev "$LOOP" --no-progress)
sfs snapshot show "$IDB" --json >"$T/sb.json"
assert_eq "$(json_field size <"$T/sb.json")" $((256 << 20)) "size of block device snapshot"
restore_check "$IDB" "$IMG"
losetup -d "$LOOP"

log "stdin source"
IDS=$(sfs snapshot create piped - --no-progress <"$IMG")
restore_check "$IDS" "$IMG"
# Piped data dedups against what the store already holds.
sfs snapshot show "$IDS" --json >"$T/ss.json"
[ "$(json_field new_bytes <"$T/ss.json")" -le "$MAP_ALLOWANCE" ] ||
	fail "stdin snapshot of known data stored $(json_field new_bytes <"$T/ss.json") bytes"

log "a whole file is read past the page cache, and sees what is not yet synced"
# 24 MiB and a tail that is not a whole sector; the page cache of the file
# is dropped first, so what is cached afterwards is what the snapshot read.
head -c 24M /dev/urandom >"$T/direct.img"
head -c 1234 /dev/urandom >>"$T/direct.img"
sync "$T/direct.img"
cached() { fincore --bytes --noheadings --output RES "$1"; }
uncache "$T/direct.img"
if dd if="$T/direct.img" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null &&
	[ "$(cached "$T/direct.img")" -lt $((1 << 20)) ]; then
	IDD=$(sfs snapshot create direct "$T/direct.img" --no-progress)
	[ "$(cached "$T/direct.img")" -lt $((1 << 20)) ] ||
		fail "a full snapshot left $(cached "$T/direct.img") bytes of its source cached"
	restore_check "$IDD" "$T/direct.img"
	uncache "$T/direct.img"
	IDD=$(sfs snapshot create direct "$T/direct.img" --buffered --no-progress)
	[ "$(cached "$T/direct.img")" -gt $((20 << 20)) ] ||
		fail "--buffered left only $(cached "$T/direct.img") bytes of its source cached"
	restore_check "$IDD" "$T/direct.img"
	# Without an AIO context (fs.aio-max-nr at 0: io_setup fails) the direct
	# reads are made one at a time, with the same bytes and the same cache.
	AIO_MAX=$(cat /proc/sys/fs/aio-max-nr)
	if echo 0 >/proc/sys/fs/aio-max-nr 2>/dev/null; then
		uncache "$T/direct.img"
		IDD=$(sfs snapshot create direct "$T/direct.img" --no-progress) || {
			echo "$AIO_MAX" >/proc/sys/fs/aio-max-nr
			fail "a snapshot without AIO failed"
		}
		echo "$AIO_MAX" >/proc/sys/fs/aio-max-nr
		[ "$(cached "$T/direct.img")" -lt $((1 << 20)) ] ||
			fail "without AIO a full snapshot left $(cached "$T/direct.img") bytes of its source cached"
		restore_check "$IDD" "$T/direct.img"
	else
		log "fs.aio-max-nr cannot be set here: the snapshot without AIO is skipped"
	fi
	# Changed ranges are read past the page cache too: 150 scattered
	# ranges of 4 KiB, many in flight at once, and the tail that is not a
	# whole sector (a short direct read, finished buffered).
	python3 - "$T/direct.img" "$T/direct.ranges" <<'PY'
import os, random, sys
random.seed(7)
size = os.path.getsize(sys.argv[1])
fd = os.open(sys.argv[1], os.O_WRONLY)
with open(sys.argv[2], "w") as f:
    for blk in sorted(random.sample(range(size // 65536), 150)):
        os.pwrite(fd, os.urandom(4096), blk * 65536 + 8192)
        f.write(f"{blk * 65536 + 8192} 4096\n")
    os.pwrite(fd, os.urandom(1000), size - 1000)
    f.write(f"{size - 1000} 1000\n")
os.fsync(fd)
os.close(fd)
PY
	uncache "$T/direct.img"
	IDD=$(sfs snapshot create direct "$T/direct.img" --changed-ranges "$T/direct.ranges" \
		--no-progress)
	[ "$(cached "$T/direct.img")" -lt $((1 << 20)) ] ||
		fail "a changed-ranges snapshot left $(cached "$T/direct.img") bytes of its source cached"
	restore_check "$IDD" "$T/direct.img"
else
	log "O_DIRECT is not available on $T (or its cache cannot be dropped): cache checks skipped"
fi
# Bytes written and not synced are dirty pages: a direct read sees them.
printf 'NOT SYNCED YET' | dd of="$T/direct.img" bs=1 seek=$((5 << 20)) conv=notrunc status=none
printf 'TAIL' | dd of="$T/direct.img" bs=1 seek=$(((24 << 20) + 1000)) conv=notrunc status=none
IDD=$(sfs snapshot create direct "$T/direct.img" --no-progress)
restore_check "$IDD" "$T/direct.img"
rm -f "$T/direct.img"

log "a restore onto a block device is written in place"
truncate -s 256M "$T/dev.img"
head -c 1M /dev/urandom | dd of="$T/dev.img" bs=1M seek=3 conv=notrunc status=none
LOOP=$(losetup -f --show "$T/dev.img")
track_loop "$LOOP"
# Writing over a device needs --force, as replacing a file does.
expect_error 1 sfs snapshot restore "$ID2" "$LOOP"
sfs snapshot restore "$ID2" "$LOOP" --force
losetup -d "$LOOP"
assert_eq "$(sha "$T/dev.img")" "$SHA2" "restore onto a block device"

log "check --read-data"
sfs check --read-data >"$T/check.out" || fail "check failed: $(cat "$T/check.out")"
