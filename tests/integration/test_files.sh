#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# files/: the files inside snapshots, read through libext2fs from the
# store. A real ext4 image made by mkfs.ext4 -d from real files (nested
# directories, symlinks short and long, hard links, a sparse file of
# several GiB, xattrs, modes and owners) plus a directory of 20,000
# entries that the kernel fills, hashed as ext4 keeps a large directory,
# is snapshotted and every file under files/<id>/ is compared with the
# loop-mounted original: content, mode, owner, size, mtime to the
# nanosecond, nlink, link targets, which paths share an inode, xattrs,
# and SEEK_DATA/SEEK_HOLE. A GPT disk with two ext4 partitions and a swap
# shows p1/ and p2/ only, each equal to its original. On an allow_other
# mount an unprivileged user is refused by the snapshot's gate until
# granted the volume, then reads a 0644 file and is refused a 0600 file
# of another owner (the files' own modes). A volume with no filesystem
# and one with a zeroed superblock show empty directories, one log line
# each, and the rest of the mount keeps working. Last, the figures: cold
# ls -l, find and tar through files/ against a loop mount of the same
# snapshot's image through snapfs (and, with SNAPFS_TEST_FUSE2FS=1,
# fuse2fs on the image file).
. "$(dirname "$0")/lib.sh" "$@"

[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }
need_root
for p in mkfs.ext4 sfdisk setfattr getfattr setfacl mkswap python3; do
	command -v "$p" >/dev/null || fail "$p is missing (scripts/deps.sh installs it)"
done

U=sffu$$   # granted volume web: reads what others may read
OWN=sffo$$ # owns home/alice in the image
# set +e: errexit would end the trap at (exit $rc), before cleanup.
trap 'rc=$?; set +e; userdel "$U" >/dev/null 2>&1; userdel "$OWN" >/dev/null 2>&1; (exit $rc); cleanup' EXIT
for u in "$U" "$OWN"; do
	useradd -M -N -g nogroup -s /bin/sh "$u" 2>/dev/null || useradd -M -s /bin/sh "$u" || fail "useradd $u"
done

# ---- the source tree ----
SRC=$T/src
mkdir -p "$SRC/etc/nginx/conf.d" "$SRC/home/alice/.ssh" "$SRC/deep/a/b/c/d/e/f/g" "$SRC/big"
printf 'user www-data;\nworker_processes auto;\n' >"$SRC/etc/nginx/nginx.conf"
echo 'server { listen 80; }' >"$SRC/etc/nginx/conf.d/site.conf"
echo 'ssh-ed25519 AAAA alice' >"$SRC/home/alice/.ssh/id_ed25519"
chmod 0600 "$SRC/home/alice/.ssh/id_ed25519"
chmod 0700 "$SRC/home/alice/.ssh"
chown -R "$OWN:nogroup" "$SRC/home/alice"
echo public >"$SRC/etc/motd"
# An ACL that shuts the owning group out while its mask (the group bits
# shown by stat) says r--, and lets $OWN in.
echo acl >"$SRC/etc/acl.txt"
chown root:nogroup "$SRC/etc/acl.txt"
chmod 0640 "$SRC/etc/acl.txt"
setfacl -m g::---,u:"$OWN":r--,m::r-- "$SRC/etc/acl.txt"
setfacl -d -m u:"$OWN":rwx "$SRC/deep"
chmod 0644 "$SRC/etc/motd"
echo deep >"$SRC/deep/a/b/c/d/e/f/g/leaf"
head -c 20000000 /dev/urandom >"$SRC/random.bin"
head -c 3000 /dev/urandom >"$SRC/small.bin"
ln -s nginx/nginx.conf "$SRC/etc/rel-link"
ln -s /etc/nginx/conf.d/site.conf "$SRC/etc/abs-link"
ln -s "$(printf 'x%.0s' $(seq 200))/target" "$SRC/etc/long-link" # a slow symlink: in a block
ln -s dangling "$SRC/etc/dangling"
ln "$SRC/etc/motd" "$SRC/etc/motd.hard"
ln "$SRC/etc/motd" "$SRC/deep/motd.hard2"
# Sparse: 5 GiB with data at 0, 1 GiB and just before the end.
truncate -s 5G "$SRC/sparse.img"
printf head | dd of="$SRC/sparse.img" conv=notrunc status=none
printf middle | dd of="$SRC/sparse.img" bs=1M seek=1024 conv=notrunc status=none
printf tail | dd of="$SRC/sparse.img" bs=1 seek=$((5 * 1024 * 1024 * 1024 - 4)) conv=notrunc status=none
setfattr -n user.color -v blue "$SRC/etc/motd"
setfattr -n user.empty "$SRC/small.bin"
setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' z)" "$SRC/random.bin"
setfattr -n trusted.t -v 0x00ff10 "$SRC/etc/nginx"
mkfifo "$SRC/fifo"
touch -h -d '2021-03-04 05:06:07.123456789' "$SRC/etc/rel-link" "$SRC/etc/nginx/nginx.conf"
touch -d '1999-12-31 23:59:59.5' "$SRC/deep"

IMG=$T/fs.img
# 256-byte inodes keep nanoseconds; -N leaves room for the 20,000 entries.
mkfs.ext4 -q -F -I 256 -N 40000 -b 4096 -d "$SRC" "$IMG" 400M || fail "mkfs.ext4 -d"
# big/'s entries through a loop mount: the kernel indexes the directory
# (htree), as on a real volume, where mkfs -d would build a linear one
# and take some 20 s at it.
mount_loop "$IMG" "$T/fill"
python3 - "$T/fill/big" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(20000):
    with open(os.path.join(d, "entry-%05d" % i), "w") as f:
        if i % 1000 == 0:
            f.write("entry %d\n" % i)
EOF
# The kernel indexed it (lsattr's I flag), so files/ reads the hashed form.
lsattr -d "$T/fill/big" | cut -d' ' -f1 | grep -q I || fail "big/ is not an indexed directory"
umount "$T/fill"

# ---- a GPT disk: two ext4 partitions and a swap ----
P1=$T/p1.img P2=$T/p2.img
mkdir -p "$T/p1src/conf" "$T/p2src/data"
echo one >"$T/p1src/conf/one.txt"
ln -s conf/one.txt "$T/p1src/link"
head -c 1000000 /dev/urandom >"$T/p2src/data/blob"
setfattr -n user.p -v two "$T/p2src/data/blob"
mkfs.ext4 -q -F -d "$T/p1src" "$P1" 16M
mkfs.ext4 -q -F -d "$T/p2src" "$P2" 24M
# p2 carries SELinux labels (set as stored bytes: no SELinux needed here).
for p in / /data/blob; do
	debugfs -w -R "ea_set $p security.selinux system_u:object_r:etc_t:s0" "$P2" >/dev/null 2>&1 ||
		fail "debugfs ea_set on $p"
done
DISK=$T/disk.img
truncate -s 64M "$DISK"
printf 'label: gpt\n start=2048, size=32768\n size=49152\n size=16384, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\n' |
	sfdisk -q "$DISK" >/dev/null || fail "sfdisk"
dd if="$P1" of="$DISK" bs=512 seek=2048 conv=notrunc status=none
dd if="$P2" of="$DISK" bs=512 seek=$((2048 + 32768)) conv=notrunc status=none
head -c $((16384 * 512)) /dev/zero >"$T/swap.img"
mkswap -q "$T/swap.img" >/dev/null
dd if="$T/swap.img" of="$DISK" bs=512 seek=$((2048 + 32768 + 49152)) conv=notrunc status=none

# ---- a GPT made on a disk of 4096-byte sectors: its header at byte 4096 ----
DISK4K=$T/disk4k.img
truncate -s 64M "$DISK4K"
L4=$(losetup -b 4096 -f --show "$DISK4K") || fail "losetup -b 4096"
_LOOPS+=("$L4")
printf 'label: gpt\n start=256, size=4096\n' | sfdisk -q "$L4" >/dev/null 2>&1 || true
losetup -d "$L4"
[ "$(xxd -s 4096 -l 8 -p "$DISK4K")" = "4546492050415254" ] || fail "no 4K-sector GPT header at byte 4096"
dd if="$P1" of="$DISK4K" bs=4096 seek=256 conv=notrunc status=none

# ---- an ext4 whose journal needs recovery: copied while mounted ----
cp "$P1" "$T/live.img"
mount_loop "$T/live.img" "$T/live"
echo after >"$T/live/conf/after.txt"
sync
cp --sparse=always "$T/live.img" "$T/crashed.img"
umount "$T/live"
[ -n "$(dumpe2fs -h "$T/crashed.img" 2>/dev/null | grep -i 'features:.*needs_recovery')" ] ||
	fail "the copy of a mounted ext4 does not need journal recovery"

# ---- volumes with nothing to show ----
head -c $((32 << 20)) /dev/urandom >"$T/noise.img"
cp "$P1" "$T/zeroed.img"
dd if=/dev/zero of="$T/zeroed.img" bs=1024 seek=1 count=1 conv=notrunc status=none

sfs init >/dev/null
ID=$(sfs snapshot create web "$IMG" --no-progress) || fail "snapshot of the image"
DID=$(sfs snapshot create disk "$DISK" --no-progress) || fail "snapshot of the disk"
D4ID=$(sfs snapshot create disk4k "$DISK4K" --no-progress) || fail "snapshot of the 4K disk"
CID=$(sfs snapshot create crashed "$T/crashed.img" --no-progress) || fail "snapshot of the crashed ext4"
NID=$(sfs snapshot create noise "$T/noise.img" --no-progress) || fail "snapshot of noise"
ZID=$(sfs snapshot create zeroed "$T/zeroed.img" --no-progress) || fail "snapshot of zeroed"

chmod 755 "$T"
MNT=$T/mnt
mkdir -p "$MNT"
track_mount "$MNT"
# In the foreground, so that its log lines can be checked.
"$SNAPFS" --store "$STORE" mount "$MNT" -f -o allow_other 2>"$T/mount.log" &
track_pid $!
for _ in $(seq 100); do
	mountpoint -q "$MNT" && break
	sleep 0.1
done
mountpoint -q "$MNT" || fail "the mount did not come up: $(cat "$T/mount.log")"

ORIG=$T/orig
mount_loop "$IMG" "$ORIG" ro,noload

# compare A B: every path under A and B, by lstat fields, content, link
# target, xattrs, hard-link groups and holes.
compare() {
	python3 - "$1" "$2" <<'EOF'
import os, stat, sys
a, b = sys.argv[1], sys.argv[2]
bad = []
def walk(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = p
    return out
A, B = walk(a), walk(b)
if set(A) != set(B):
    bad.append("paths differ: only in original %s, only in files/ %s" %
               (sorted(set(A) - set(B))[:5], sorted(set(B) - set(A))[:5]))
groups_a, groups_b = {}, {}
for rel in sorted(set(A) & set(B)):
    pa, pb = A[rel], B[rel]
    sa, sb = os.lstat(pa), os.lstat(pb)
    for f in ("st_mode", "st_uid", "st_gid", "st_size", "st_nlink", "st_mtime_ns"):
        if getattr(sa, f) != getattr(sb, f):
            bad.append("%s: %s %s != %s" % (rel, f, getattr(sa, f), getattr(sb, f)))
    groups_a.setdefault(sa.st_ino, []).append(rel)
    groups_b.setdefault(sb.st_ino, []).append(rel)
    xa = {k: os.getxattr(pa, k, follow_symlinks=False) for k in os.listxattr(pa, follow_symlinks=False)}
    xb = {k: os.getxattr(pb, k, follow_symlinks=False) for k in os.listxattr(pb, follow_symlinks=False)}
    if xa != xb:
        bad.append("%s: xattrs %s != %s" % (rel, sorted(xa), sorted(xb)))
    if stat.S_ISLNK(sa.st_mode):
        if os.readlink(pa) != os.readlink(pb):
            bad.append("%s: link %s != %s" % (rel, os.readlink(pa), os.readlink(pb)))
    elif stat.S_ISREG(sa.st_mode):
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    bad.append("%s: content differs" % rel)
                    break
                if not x:
                    break
            # Holes: the same data/hole boundaries at the block level.
            if sa.st_blocks * 512 < sa.st_size:
                for whence in (os.SEEK_DATA, os.SEEK_HOLE):
                    for off in (0, 4096, 1 << 30, (1 << 30) + 4096, sa.st_size - 1):
                        if off >= sa.st_size:
                            continue
                        try:
                            ra = os.lseek(fa.fileno(), off, whence)
                        except OSError as e:
                            ra = e.errno
                        try:
                            rb = os.lseek(fb.fileno(), off, whence)
                        except OSError as e:
                            rb = e.errno
                        if ra != rb:
                            bad.append("%s: lseek(%d, %d) %s != %s" % (rel, off, whence, ra, rb))
ga = sorted(sorted(g) for g in groups_a.values())
gb = sorted(sorted(g) for g in groups_b.values())
if ga != gb:
    bad.append("hard-link groups differ: %s" % [g for g in ga if g not in gb][:3])
for line in bad[:20]:
    print(line)
print("compared %d paths, %d problems" % (len(A), len(bad)))
sys.exit(1 if bad else 0)
EOF
}

FILES=$MNT/files/$ID
log "the image's files: $(ls "$FILES" | tr '\n' ' ')"
compare "$ORIG" "$FILES" >"$T/cmp.out" || { cat "$T/cmp.out"; soft_fail "files/$ID differs from the loop mount"; }
log "$(tail -n 1 "$T/cmp.out")"
[ "$(ls "$FILES/big" | wc -l)" = 20000 ] || soft_fail "big/ does not list 20,000 entries"
cmp "$FILES/random.bin" "$SRC/random.bin" || soft_fail "random.bin differs from its source"
# Holes stay holes: reading 5 GiB of a sparse file is fast, and du
# through files/ counts only its data blocks.
[ "$(du -k "$FILES/sparse.img" | cut -f1)" -lt 1024 ] || soft_fail "sparse.img's holes are counted as data"
[ "$(stat -c %i "$FILES/etc/motd")" = "$(stat -c %i "$FILES/deep/motd.hard2")" ] ||
	soft_fail "hard links have different inode numbers"
[ "$(readlink "$MNT/volumes/web/latest.files")" = "../../files/$ID" ] || soft_fail "latest.files target"
cmp "$MNT/volumes/web/latest.files/etc/nginx/nginx.conf" "$SRC/etc/nginx/nginx.conf" ||
	soft_fail "volumes/web/latest.files/ does not show the newest snapshot's files"
if (: >"$FILES/etc/new") 2>/dev/null || (echo x >>"$FILES/etc/motd") 2>/dev/null; then
	soft_fail "files/ accepted a write"
fi

# ---- the GPT disk ----
got=$(ls "$MNT/files/$DID" | tr '\n' ' ')
[ "$got" = "p1 p1.img p2 p2.img p3.img " ] || soft_fail "the disk shows '$got', not 'p1 p1.img p2 p2.img p3.img '"
# p<N>.img: each partition's bytes, as a loop device over the original
# disk shows them at the offsets sfdisk (libfdisk, not libblkid) reads.
# (losetup -P makes no partition devices in every kernel: -o/--sizelimit.)
for n in 1 2 3; do
	read -r start size < <(sfdisk -J "$DISK" | python3 -c "import json,sys; p=json.load(sys.stdin)['partitiontable']['partitions'][$n-1]; print(p['start'], p['size'])")
	lp=$(losetup -r -f --show -o $((start * 512)) --sizelimit $((size * 512)) "$DISK") || fail "losetup p$n"
	_LOOPS+=("$lp")
	cmp "$lp" "$MNT/files/$DID/p$n.img" || soft_fail "p$n.img differs from the partition on the loop device"
	[ "$(stat -c %s "$MNT/files/$DID/p$n.img")" = $((size * 512)) ] || soft_fail "p$n.img's size"
	losetup -d "$lp"
done
# The swap is a header and zeros: st_blocks counts the header only.
[ "$(stat -c %b "$MNT/files/$DID/p3.img")" -lt 1024 ] || soft_fail "p3.img's zeros counted as data"
[ "$(file -b -s "$MNT/files/$DID/p3.img" | cut -c1-4)" = "Linu" ] || soft_fail "p3.img is not the swap"
mount_loop "$P1" "$T/o1" ro,noload
mount_loop "$P2" "$T/o2" ro,noload
compare "$T/o1" "$MNT/files/$DID/p1" >"$T/cmp1.out" || { cat "$T/cmp1.out"; soft_fail "p1/ differs"; }
compare "$T/o2" "$MNT/files/$DID/p2" >"$T/cmp2.out" || { cat "$T/cmp2.out"; soft_fail "p2/ differs"; }
grep -q "$DID p3: no ext2/3/4 filesystem (partition type 0657fd6d" "$T/mount.log" ||
	soft_fail "no log line for the swap partition"
[ -e "$MNT/files/$DID/p3" ] && soft_fail "the swap partition is shown"

# ---- the 4K-sector GPT: p1 at byte 256 * 4096 ----
got=$(ls "$MNT/files/$D4ID" | tr '\n' ' ')
[ "$got" = "p1 p1.img " ] || soft_fail "the 4K-sector disk shows '$got', not 'p1 p1.img '"
compare "$T/o1" "$MNT/files/$D4ID/p1" >"$T/cmp4.out" || { cat "$T/cmp4.out"; soft_fail "4K p1/ differs"; }

# ---- a journal that needs recovery: the last checkpoint, one log line ----
cmp "$MNT/files/$CID/conf/one.txt" "$T/p1src/conf/one.txt" || soft_fail "the crashed ext4's files"
grep -q "$CID: the journal needs recovery and is not replayed" "$T/mount.log" ||
	soft_fail "no log line for the journal not replayed"

# ---- SELinux labels: none in these filesystems, and tools are told so ----
if getfattr -n security.selinux "$FILES/etc/motd" >/dev/null 2>"$T/err"; then
	soft_fail "an SELinux label where there is none"
elif ! grep -q "Operation not supported" "$T/err"; then
	soft_fail "security.selinux not answered 'not supported': $(cat "$T/err")"
fi

# A labelled filesystem shows its labels, and "no such attribute" where
# a file has none.
[ "$(getfattr --only-values -n security.selinux "$MNT/files/$DID/p2/data/blob" 2>/dev/null)" = \
	"system_u:object_r:etc_t:s0" ] || soft_fail "p2's SELinux label"
got=$(getfattr -n security.selinux "$MNT/files/$DID/p2/data" 2>&1 || true)
case "$got" in
*"No such attribute"*) ;;
*) soft_fail "an unlabelled file of a labelled filesystem: $got" ;;
esac

# ---- nothing to show ----
for z in "$NID" "$ZID"; do
	[ -d "$MNT/files/$z" ] || soft_fail "files/$z is not a directory"
	[ -z "$(ls -A "$MNT/files/$z")" ] || soft_fail "files/$z is not empty"
	[ "$(grep -c "$z" "$T/mount.log")" = 1 ] || soft_fail "not one log line for $z: $(grep "$z" "$T/mount.log")"
done
cmp "$FILES/etc/motd" "$SRC/etc/motd" || soft_fail "the mount broke after the empty volumes"
cmp "$MNT/snapshots/$ZID.img" "$T/zeroed.img" || soft_fail "snapshots/ broke after the empty volumes"

# ---- an unprivileged user ----
as() { runuser -u "$U" -- "$@"; }
if as cat "$FILES/etc/motd" >/dev/null 2>"$T/err"; then
	soft_fail "$U read a file of a snapshot it has no grant on"
elif ! grep -q "Permission denied" "$T/err"; then
	soft_fail "$U refused, not with EACCES: $(cat "$T/err")"
fi
sfs volume permission add web --user "$U" || fail "permission add"
as cmp "$FILES/etc/motd" "$SRC/etc/motd" 2>"$T/err" || soft_fail "$U cannot read a 0644 file: $(cat "$T/err")"
as ls "$FILES/big" >/dev/null || soft_fail "$U cannot list big/"
if as cat "$FILES/home/alice/.ssh/id_ed25519" >/dev/null 2>"$T/err"; then
	soft_fail "$U read a 0600 file of $OWN"
elif ! grep -q "Permission denied" "$T/err"; then
	soft_fail "$U refused the 0600 file, not with EACCES: $(cat "$T/err")"
fi
sfs volume permission add web --user "$OWN" || fail "permission add"
if as cat "$FILES/etc/acl.txt" >/dev/null 2>&1; then
	soft_fail "$U (group nogroup) read a file whose ACL shuts that group out"
fi
runuser -u "$OWN" -- cat "$FILES/etc/acl.txt" >/dev/null 2>"$T/err" ||
	soft_fail "$OWN cannot read a file its ACL entry lets it read: $(cat "$T/err")"
runuser -u "$OWN" -- cmp "$FILES/home/alice/.ssh/id_ed25519" "$SRC/home/alice/.ssh/id_ed25519" 2>"$T/err" ||
	soft_fail "$OWN cannot read its own 0600 file: $(cat "$T/err")"
if as ls "$MNT/files/$DID" >/dev/null 2>&1; then
	soft_fail "$U listed a snapshot of another volume"
fi
if as cat "$MNT/files/$DID/p1.img" >/dev/null 2>&1; then
	soft_fail "$U read a partition of a snapshot of another volume"
fi

# ---- a machine image: images/<name>/<device>.files/, gated as the image ----
sfs image create box --device sda="$DID" --device sdb="$ID" >/dev/null || fail "image create"
got=$(ls "$MNT/images/box" | tr '\n' ' ')
[ "$got" = "image.json sda.files sda.img sdb.files sdb.img " ] || soft_fail "images/box/ shows '$got'"
compare "$T/o1" "$MNT/images/box/sda.files/p1" >"$T/cmpi.out" || { cat "$T/cmpi.out"; soft_fail "images/box/sda.files/p1/ differs"; }
cmp "$MNT/images/box/sda.files/p2.img" "$MNT/files/$DID/p2.img" || soft_fail "images/box/sda.files/p2.img"
cmp "$MNT/images/box/sdb.files/etc/motd" "$SRC/etc/motd" || soft_fail "images/box/sdb.files/ of an unpartitioned volume"
if as ls "$MNT/images/box/sda.files" >/dev/null 2>&1; then
	soft_fail "$U listed an image's device files without launch permission"
fi
sfs image permission add box --user "$U" || fail "image permission add"
as cmp "$MNT/images/box/sda.files/p1/conf/one.txt" "$T/p1src/conf/one.txt" 2>"$T/err" ||
	soft_fail "$U cannot read an image's device files with launch permission: $(cat "$T/err")"
if as ls "$MNT/files/$DID" >/dev/null 2>&1; then
	soft_fail "launch permission on an image let $U into files/ of its snapshot"
fi
sfs image permission remove box --user "$U" || fail "image permission remove"
if as cat "$MNT/images/box/sda.files/p1/conf/one.txt" >/dev/null 2>&1; then
	soft_fail "$U still reads an image's device files after its permission was removed"
fi

[ "$FAILURES" -eq 0 ] || exit 1

# ---- figures ----
# Cold means the store's files out of the page cache (each remount empties
# the mount's own): only those, so that nothing else running on the machine
# loses its cache.
ms() { # ms CMD...: wall time in milliseconds
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
fresh_mount() {
	umount "$MNT"
	wait 2>/dev/null || true
	"$SNAPFS" --store "$STORE" mount "$MNT" || fail "remount"
}
figures() { # figures LABEL DIR
	local d=$2 a b c
	uncache "$STORE"
	a=$(ms ls -l "$d/big")
	b=$(ms sh -c "find '$d' | wc -l")
	# --sparse: holes found with SEEK_HOLE, not read as 5 GiB of zeros.
	c=$(ms sh -c "tar cf - --sparse -C '$d' . | wc -c")
	log "$(printf '%-26s ls -l big/ (20,000) %6s ms   find %6s ms   tar c --sparse %6s ms' "$1" "$a" "$b" "$c")"
}
umount "$T/o1"
umount "$T/o2"
umount "$ORIG"

# What a listing costs in requests, from the mount's counters: ls -l and
# find of 20,000 entries on a fresh mount come with their attributes in
# READDIRPLUS (no lookup, no getattr each), and one "not supported" for
# SELinux labels stops ls asking per entry: one request per entry left
# (its POSIX ACL, which the kernel then keeps).
requests() { # requests KEY: the count of KEY since the mount
	getfattr --only-values -n user.snapfs.stats "$MNT" |
		json_at requests "$1"
}
fresh_mount
ls -l "$FILES/big" >/dev/null
find "$FILES" >/dev/null
lk=$(requests lookups) ga=$(requests getattrs) gx=$(requests getxattrs)
log "ls -l big/ and find on a fresh mount: $lk lookups, $ga getattrs, $gx getxattrs"
[ "$((lk + ga))" -lt 2000 ] || soft_fail "$lk lookups and $ga getattrs for 22,000 entries listed"
[ "$gx" -lt 21000 ] || soft_fail "$gx getxattrs for 20,000 entries listed"
# On a mount others reach, only files/<id>/ is looked up again per walk.
umount "$MNT"
wait 2>/dev/null || true
"$SNAPFS" --store "$STORE" mount "$MNT" -o allow_other || fail "remount allow_other"
ls -l "$FILES/big" >/dev/null
lk=$(requests lookups) ga=$(requests getattrs)
log "ls -l big/ on a fresh allow_other mount: $lk lookups, $ga getattrs"
[ "$((lk + ga))" -lt 45000 ] || soft_fail "$lk lookups and $ga getattrs for 20,000 entries (allow_other)"
[ "$FAILURES" -eq 0 ] || exit 1
fresh_mount
figures "files/ (fresh mount)" "$MNT/files/$ID"
fresh_mount
mount_loop "$MNT/snapshots/$ID.img" "$T/lm" ro,noload
figures "loop of snapshots/<id>.img" "$T/lm"
umount "$T/lm"
# fuse2fs takes minutes over big/ (one lock, linear lookups): on request.
if [ -n "${SNAPFS_TEST_FUSE2FS:-}" ] && command -v fuse2fs >/dev/null; then
	mkdir -p "$T/f2"
	fuse2fs -o ro,fakeroot "$IMG" "$T/f2" >/dev/null 2>&1 && track_mount "$T/f2" &&
		figures "fuse2fs on the image file" "$T/f2"
fi
