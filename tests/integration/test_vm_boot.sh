#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A VM boots straight off a snapfs mount: an ext4 root volume holding a
# marker file and a second data volume are registered as an image (the
# root from an existing snapshot, shown larger than it is; the data disk
# snapshotted at create), the store is mounted, and the QEMU command from
# `image launch-config` boots the Debian kernel under TCG with a busybox
# initramfs whose /init mounts both disks read-only, prints the markers to
# the serial console and powers off. A third disk, not in the image, is
# added at launch from a snapshot (`launch-config --device vdc=snap-...`)
# and the guest prints its marker too. The boot must finish within
# SNAPFS_VM_TIMEOUT seconds (180 by default).
#
# Needs linux-image-amd64, busybox-static and qemu-system-x86; they are
# installed here when missing (they are large and only this test uses
# them). Skips (77) only when /dev/fuse is missing.
. "$(dirname "$0")/lib.sh" "$@"

[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }
TIMEOUT=${SNAPFS_VM_TIMEOUT:-180}

. "$(dirname "$0")/vm_lib.sh"
vm_packages || fail "apt-get install failed: $(tail -3 "$T/apt.log")"

{
	vm_init_start /dev/vdc
	cat <<'EOF'
if mount -t ext4 -o ro /dev/vda /mnt/root && mount -t ext4 -o ro /dev/vdb /mnt/data &&
	mount -t ext4 -o ro /dev/vdc /mnt/extra; then
	echo "root marker: $(cat /mnt/root/marker)"
	echo "data marker: $(cat /mnt/data/marker)"
	echo "extra marker: $(cat /mnt/extra/marker)"
	# The launch line attaches the mount's files read-only.
	echo "vda ro=$(cat /sys/block/vda/ro)"
else
	echo "mount failed"; ls -l /dev/vd* 2>&1
fi
poweroff -f
EOF
} >"$T/init"
vm_initrd "$T/init" "$T/initrd.gz"

log "volumes"
MARK_ROOT="root-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
MARK_DATA="data-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
MARK_EXTRA="extra-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$T/rootfs" "$T/datafs" "$T/extrafs"
echo "$MARK_ROOT" >"$T/rootfs/marker"
echo "$MARK_DATA" >"$T/datafs/marker"
echo "$MARK_EXTRA" >"$T/extrafs/marker"
head -c 4M /dev/urandom >"$T/rootfs/payload"
truncate -s 64M "$T/root.ext4"
truncate -s 16M "$T/data.ext4"
mkfs.ext4 -q -F -d "$T/rootfs" "$T/root.ext4"
mkfs.ext4 -q -F -d "$T/datafs" "$T/data.ext4"
truncate -s 16M "$T/extra.ext4"
mkfs.ext4 -q -F -d "$T/extrafs" "$T/extra.ext4"

sfs init >/dev/null
SNAP=$(sfs snapshot create vm-root "$T/root.ext4" --no-progress)
sfs image create vmtest --device sda="$SNAP:96M" --device sdb="$T/data.ext4" \
	--root-device sda --arch x86_64 --boot-mode bios --no-progress >/dev/null ||
	fail "image create"
EXTRA=$(sfs snapshot create vm-extra "$T/extra.ext4" --no-progress)

log "mount"
MNT=$T/mnt
mkdir -p "$MNT"
track_mount "$MNT"
"$SNAPFS" --store "$STORE" mount "$MNT" || fail "mount failed"
for _ in $(seq 100); do
	[ -e "$MNT/images/vmtest/sda.img" ] && break
	sleep 0.1
done
[ -e "$MNT/images/vmtest/sda.img" ] || fail "no images/vmtest/sda.img in the mount"
[ "$(stat -c %s "$MNT/images/vmtest/sda.img")" = $((96 << 20)) ] || fail "sda.img size"
cmp -n $((64 << 20)) "$MNT/images/vmtest/sda.img" "$T/root.ext4" || fail "sda.img bytes"

log "boot (TCG, timeout ${TIMEOUT}s)"
sfs image launch-config vmtest --mount "$MNT" --kernel "$VMLINUZ" --initrd "$T/initrd.gz" \
	--append "console=ttyS0 panic=-1 quiet" --accel tcg --memory 512 \
	--serial "$T/serial.log" --device "vdc=$EXTRA" >"$T/launch.sh" || fail "launch-config"
grep -q "snapshots/$EXTRA.img" "$T/launch.sh" || fail "the added disk is not in the launch line"
start=$(date +%s.%N)
rc=0
timeout "$TIMEOUT" sh "$T/launch.sh" -no-reboot >"$T/qemu.out" 2>&1 || rc=$?
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc 2>/dev/null || python3 -c "print(round($end - $start, 1))")
[ $rc -ne 124 ] || fail "the VM did not power off within ${TIMEOUT}s; serial: $(tail -5 "$T/serial.log")"
[ $rc -eq 0 ] || fail "qemu exited $rc: $(cat "$T/qemu.out")"
grep -q "root marker: $MARK_ROOT" "$T/serial.log" || fail "no root marker on the console: $(tail -20 "$T/serial.log")"
grep -q "data marker: $MARK_DATA" "$T/serial.log" || fail "no data marker on the console"
grep -q "extra marker: $MARK_EXTRA" "$T/serial.log" ||
	fail "the disk added with --device vdc=$EXTRA did not show its marker: $(tail -20 "$T/serial.log")"
grep -q "vda ro=1" "$T/serial.log" || fail "the root drive is not read-only in the guest"
log "booted and powered off in ${secs}s"
exit 0
