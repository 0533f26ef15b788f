#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libext2fs, libcom_err and libblkid serve only files/, so they are loaded
# by its first use, not at start-up: the binary does not name them, a
# mount maps none of them until files/ is read, and maps them after. On a
# host where one cannot be loaded (bind-mounted over in a mount namespace
# of its own) the mount still starts and serves the snapshots' images;
# files/ fails with an error, one log line names the library, and the
# mount keeps running.
. "$(dirname "$0")/lib.sh" "$@"
need_root
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "SKIP: no /dev/fuse" >&2
	exit 77
fi
for p in mkfs.ext4 sfdisk readelf unshare ldconfig; do
	command -v "$p" >/dev/null || fail "$p is missing (scripts/deps.sh installs it)"
done

readelf -d "$SNAPFS" >"$T/dyn" || fail "readelf -d"
grep -q 'NEEDED.*libc\.so' "$T/dyn" || fail "readelf -d shows no NEEDED entries"
if grep -E 'NEEDED.*(libext2fs|libcom_err|libblkid|libcrypto)' "$T/dyn" >"$T/bad"; then
	fail "the binary names a library it should load on first use: $(head -n 1 "$T/bad")"
fi

# An ext4 image, and a GPT disk with it as p1.
mkdir -p "$T/src"
echo hello >"$T/src/hello.txt"
mkfs.ext4 -q -F -d "$T/src" "$T/fs.img" 8M
truncate -s 16M "$T/disk.img"
printf 'label: gpt\n start=2048, size=16384\n' | sfdisk -q "$T/disk.img" >/dev/null || fail "sfdisk"
dd if="$T/fs.img" of="$T/disk.img" bs=512 seek=2048 conv=notrunc status=none
sfs init >/dev/null
ID=$(sfs snapshot create fs "$T/fs.img" --no-progress) || fail "snapshot of the image"
DID=$(sfs snapshot create disk "$T/disk.img" --no-progress) || fail "snapshot of the disk"

# mapped PID LIB: whether process PID maps a file named LIB*.
mapped() { grep -q "/$2[.-]" "/proc/$1/maps"; }

MNT=$T/mnt
mkdir -p "$MNT"
track_mount "$MNT"
"$SNAPFS" --store "$STORE" mount "$MNT" -f 2>"$T/mount.log" &
pid=$!
track_pid "$pid"
for _ in $(seq 100); do
	mountpoint -q "$MNT" && break
	sleep 0.1
done
mountpoint -q "$MNT" || fail "the mount did not come up: $(cat "$T/mount.log")"
assert_same_file "$MNT/snapshots/$ID.img" "$T/fs.img" "the image through the mount"
mapped "$pid" libfuse3 || fail "the mount's maps show no libfuse3"
for lib in libext2fs libcom_err libblkid; do
	mapped "$pid" "$lib" && fail "the mount maps $lib before files/ is read"
done
assert_eq "$(cat "$MNT/files/$ID/hello.txt")" hello "files/ of the image"
assert_eq "$(cat "$MNT/files/$DID/p1/hello.txt")" hello "files/ of the disk's p1"
for lib in libext2fs libcom_err libblkid; do
	mapped "$pid" "$lib" || fail "files/ was read and the mount does not map $lib"
done
umount_tracked "$MNT"
wait "$pid" || fail "the mount exited $?: $(cat "$T/mount.log")"

# without.sh LIB ...: runs in a mount namespace of its own, where LIB's
# file is /dev/null: mounts, reads through the mount, and prints what it
# saw. After the bind mount only tools that need neither library run
# (util-linux's mount, umount and mountpoint need libblkid).
cat >"$T/without.sh" <<'EOF'
set -u
lib=$1 snapfs=$2 store=$3 mnt=$4 log=$5 id=$6 did=$7 img=$8
mount --bind /dev/null "$lib" || exit 1
"$snapfs" --store "$store" mount "$mnt" -f 2>"$log" &
pid=$!
trap 'fusermount3 -u "$mnt" 2>/dev/null || kill -9 $pid; wait $pid' EXIT
mounted() { grep -q " $mnt fuse" /proc/self/mounts; }
for _ in $(seq 100); do
	mounted && break
	sleep 0.1
done
mounted || { echo "no mount: $(cat "$log")"; exit 1; }
cmp -s "$mnt/snapshots/$id.img" "$img" && echo "image ok"
cat "$mnt/files/$id/hello.txt" >/dev/null 2>&1 && echo "image files readable"
ls "$mnt/files/$did" 2>/dev/null | tr '\n' ' ' | sed 's/^/disk lists: /;s/$/\n/'
cat "$mnt/files/$did/p1/hello.txt" >/dev/null 2>&1 && echo "p1 files readable"
cmp -s "$mnt/snapshots/$id.img" "$img" && echo "image still ok"
exit 0
EOF
soname_path() {
	readlink -f "$(ldconfig -p | sed -n "s/.*$1 .*=> //p" | head -n 1)"
}

for soname in libext2fs.so.2 libblkid.so.1; do
	lib=$(soname_path "$soname")
	[ -f "$lib" ] || fail "no file for $soname"
	mkdir -p "$MNT"
	out=$(unshare -m bash "$T/without.sh" "$lib" "$SNAPFS" "$STORE" "$MNT" "$T/mount.log" \
		"$ID" "$DID" "$T/fs.img") || fail "without $soname: $out"
	log "without $soname: $(tr '\n' ';' <<<"$out")"
	log "its log: $(tr "\n" ";" <"$T/mount.log")"
	grep -qx "image ok" <<<"$out" || soft_fail "without $soname, the image is not served"
	grep -qx "image still ok" <<<"$out" || soft_fail "without $soname, files/ broke the mount"
	grep -qx "image files readable" <<<"$out" && soft_fail "without $soname, files/ of the image read"
	grep -qx "p1 files readable" <<<"$out" && soft_fail "without $soname, files/ of p1 read"
	grep -q "cannot load $soname: " "$T/mount.log" ||
		soft_fail "without $soname, no log line names it: $(cat "$T/mount.log")"
	# libblkid is there: the disk's table is still read.
	if [ "$soname" = libext2fs.so.2 ]; then
		grep -qx "disk lists: p1 p1.img " <<<"$out" || soft_fail "without libext2fs, the disk's partitions"
	fi
done
