#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Restore destroys nothing it did not create: a character device, a fifo,
# a directory or a symlink is refused and left in place (with --force
# too), a failed restore over an existing file leaves that file intact
# and no temporary file behind, and a block device is written in place
# only with --force. A sparse snapshot restores to a file with its holes
# and to standard output (- through a pipe) with every byte, never to a
# terminal.
. "$(dirname "$0")/lib.sh" "$@"
need_root

sfs init >/dev/null
head -c 3M /dev/urandom >"$T/v.src"
ID=$(sfs snapshot create v "$T/v.src" --no-progress)
mkdir "$T/out"

# no_temp_left: the destination directory holds nothing restore made.
no_temp_left() {
	local left
	left=$(find "$T/out" -name '.*restore-*' | head -n 1)
	[ -z "$left" ] || soft_fail "$1: restore left its temporary file $left"
}

log "a character device node is refused, with and without --force, and survives"
mknod "$T/out/null" c 1 3
expect_error 1 timeout 60 "$SNAPFS" --store "$STORE" snapshot restore "$ID" "$T/out/null"
expect_error 1 timeout 60 "$SNAPFS" --store "$STORE" snapshot restore "$ID" "$T/out/null" --force
case "$ERR" in *"is a character device"*"nothing was written") ;; *) soft_fail "char device: $ERR" ;; esac
[ -c "$T/out/null" ] || fail "restore --force removed the character device node"
assert_eq "$(stat -c '%t,%T' "$T/out/null")" "1,3" "the node's major,minor"

log "a fifo, a directory and symlinks are refused and left alone"
mkfifo "$T/out/fifo"
expect_error 1 timeout 60 "$SNAPFS" --store "$STORE" snapshot restore "$ID" "$T/out/fifo" --force
[ -p "$T/out/fifo" ] || soft_fail "restore --force removed the fifo"
mkdir "$T/out/dir"
expect_error 1 sfs snapshot restore "$ID" "$T/out/dir" --force
[ -d "$T/out/dir" ] || soft_fail "restore --force removed the directory"
echo keep >"$T/target"
ln -s "$T/target" "$T/out/link"
expect_error 1 sfs snapshot restore "$ID" "$T/out/link" --force
[ -L "$T/out/link" ] || soft_fail "restore --force replaced the symlink"
assert_eq "$(cat "$T/target")" "keep" "a symlink's target"
ln -s "$T/out/null" "$T/out/link-null"
expect_error 1 sfs snapshot restore "$ID" "$T/out/link-null" --force
[ -c "$T/out/null" ] && [ -L "$T/out/link-null" ] || soft_fail "a link to a char device was touched"
no_temp_left "refused destinations"

log "a restore over an existing file: refused without --force, atomic with it"
echo old >"$T/out/file"
chmod 0640 "$T/out/file"
expect_error 1 sfs snapshot restore "$ID" "$T/out/file"
assert_eq "$(cat "$T/out/file")" "old" "restore without --force"
sfs snapshot restore "$ID" "$T/out/file" --force --no-progress
cmp -s "$T/out/file" "$T/v.src" || fail "restore --force over a file differs from the source"
assert_eq "$(stat -c %a "$T/out/file")" "640" "the replaced file's mode"
no_temp_left "a restore --force"

log "a restore that fails halfway leaves the old file intact and no temporary file"
cp -a "$STORE" "$T/pristine"
for p in "$STORE"/packs/*.pack; do
	# Garbage over the middle of every pack: the chunks there fail their hash.
	size=$(stat -c %s "$p")
	[ "$size" -gt 2097152 ] || continue
	head -c 65536 /dev/urandom | dd of="$p" bs=65536 seek=16 conv=notrunc status=none
done
echo old >"$T/out/file"
rc=0
sfs snapshot restore "$ID" "$T/out/file" --force --no-progress 2>"$T/err" || rc=$?
[ $rc -ne 0 ] || fail "restore of a damaged snapshot succeeded"
log "failed as it should: $(head -n 1 "$T/err")"
[ -f "$T/out/file" ] || fail "a failed restore --force removed the existing file"
assert_eq "$(cat "$T/out/file")" "old" "the file a failed restore --force was aimed at"
rc=0
sfs snapshot restore "$ID" "$T/out/new" --no-progress 2>/dev/null || rc=$?
[ $rc -ne 0 ] || fail "restore of a damaged snapshot succeeded"
[ ! -e "$T/out/new" ] || soft_fail "a failed restore left $T/out/new behind"
no_temp_left "a failed restore"
rm -rf "$STORE"
mv "$T/pristine" "$STORE"

log "a sparse snapshot: holes stay holes in a file, and - streams every byte"
head -c 2M /dev/urandom >"$T/sparse.src"
truncate -s 5M "$T/sparse.src"
head -c 1M /dev/urandom >>"$T/sparse.src"
truncate -s 8M "$T/sparse.src"
SID=$(sfs snapshot create sparse "$T/sparse.src" --no-progress)
sfs snapshot restore "$SID" "$T/out/sparse" --no-progress
cmp -s "$T/out/sparse" "$T/sparse.src" || fail "the sparse restore differs from the source"
alloc=$(du -k "$T/out/sparse" | cut -f1)
[ "$alloc" -lt 4096 ] || fail "the sparse restore allocates $alloc KiB: its holes were written"
sfs snapshot restore "$SID" - --no-progress | cmp -s - "$T/sparse.src" ||
	fail "restore to standard output through a pipe differs from the source"
sfs snapshot restore "$ID" - >"$T/out/stdout.img" 2>"$T/err" || fail "restore - failed: $(cat "$T/err")"
cmp -s "$T/out/stdout.img" "$T/v.src" || fail "restore - into a redirected file differs"
[ ! -s "$T/err" ] || soft_fail "restore - without a terminal printed: $(cat "$T/err")"
rc=0
script -qec "$SNAPFS --store $STORE snapshot restore $SID - --no-progress" /dev/null \
	>"$T/tty.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "restore - to a terminal exited $rc, expected 1"
grep -q "standard output is a terminal" "$T/tty.out" || soft_fail "restore - to a terminal: $(cat "$T/tty.out")"
[ "$(wc -c <"$T/tty.out")" -lt 4096 ] || fail "restore - wrote the snapshot to a terminal"
no_temp_left "a restore to standard output"

log "a restore to a file is written past the page cache, its odd-sized tail included"
# 6 MiB and 777 bytes: the last, partial block cannot go O_DIRECT and is
# written through the cache; the rest must not be left there.
head -c 6M /dev/urandom >"$T/odd.src"
head -c 777 /dev/urandom >>"$T/odd.src"
OID=$(sfs snapshot create odd "$T/odd.src" --no-progress)
sfs snapshot restore "$OID" "$T/out/odd" --no-progress
if dd if=/dev/zero of="$T/out/direct.probe" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	cached=$(fincore --bytes --noheadings --output RES "$T/out/odd")
	[ "$cached" -lt $((1 << 20)) ] || fail "a restore left $cached bytes of its file in the page cache"
else
	log "O_DIRECT is not available on $T: the page cache check is skipped"
fi
cmp -s "$T/out/odd" "$T/odd.src" || fail "the restore of a 6 MiB + 777-byte volume differs"
rm -f "$T/out/direct.probe" "$T/out/odd"

log "a block device: only with --force, written in place, through a by-id style link"
truncate -s 4M "$T/disk"
head -c 4M /dev/urandom >"$T/disk"
LOOP=$(losetup --find --show "$T/disk") || { log "no loop device; block device part skipped"; exit 0; }
track_loop "$LOOP"
expect_error 1 sfs snapshot restore "$ID" "$LOOP"
sfs snapshot restore "$ID" "$LOOP" --force --no-progress
[ -b "$LOOP" ] || fail "restore removed the block device $LOOP"
cmp -s -n 3145728 "$LOOP" "$T/v.src" || fail "restore to $LOOP differs from the source"
ln -s "$LOOP" "$T/out/by-id"
dd if=/dev/zero of="$LOOP" bs=1M count=3 conv=notrunc status=none
sfs snapshot restore "$ID" "$T/out/by-id" --force --no-progress
cmp -s -n 3145728 "$LOOP" "$T/v.src" || fail "restore through a link to $LOOP differs"
[ -L "$T/out/by-id" ] || fail "restore replaced the link to the device"
