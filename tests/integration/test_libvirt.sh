#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libvirt boots an image straight off a snapfs mount: the domain XML that
# `image launch-config --format libvirt --overlay DIR` prints is defined
# on qemu:///system and started; QEMU runs as libvirt-qemu and reads the
# mount's file through a qcow2 overlay (the mount stays read-only), and the
# busybox initramfs of the VM boot test prints the root volume's marker
# on the serial console (a file) and powers off. It also shows what that
# user needs: with a mount made with -o allow_other but no launch
# permission for libvirt-qemu, the start fails with "Permission denied";
# with `image permission add --user libvirt-qemu` it boots; on a mount
# without allow_other, the permission is not enough. Without --accel the
# domain is type 'kvm' only where /dev/kvm works (checked with /dev/kvm
# hidden in a private mount namespace); the boot itself is under TCG.
#
# libvirtd (and virtlogd) are started here when not running (containers
# have no systemd) and stopped again. Needs libvirt-daemon-system and
# libvirt-clients (installed when missing, as the VM boot test installs
# its kernel); skips (77) only when /dev/fuse is missing or libvirt
# cannot be installed.
. "$(dirname "$0")/lib.sh" "$@"

[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }
need_root
TIMEOUT=${SNAPFS_VM_TIMEOUT:-180}
URI=qemu:///system
. "$(dirname "$0")/vm_lib.sh"

lv_pkgs=()
command -v virsh >/dev/null || lv_pkgs+=(libvirt-clients)
command -v libvirtd >/dev/null || lv_pkgs+=(libvirt-daemon-system libvirt-daemon-driver-qemu)
if [ ${#lv_pkgs[@]} -gt 0 ]; then
	vm_packages "${lv_pkgs[@]}" || true
	command -v virsh >/dev/null && command -v libvirtd >/dev/null || {
		echo "SKIP: libvirt could not be installed: $(tail -2 "$T/apt.log" | tr '\n' ' ')" >&2
		exit 77
	}
fi
vm_packages || fail "apt-get install failed: $(tail -3 "$T/apt.log")"
getent passwd libvirt-qemu >/dev/null || fail "libvirt is installed but has no libvirt-qemu user"

# ---- libvirtd, ours when none runs; the domain goes before the mount ----
DOM=""
STARTED=()
# libvirt-qemu must reach the kernel, the overlay and the mount: the
# test's own directory may lie under one it cannot search (a build tree
# in /root), so these go to a directory of their own in /tmp.
LV=$(mktemp -d /tmp/snapfs-libvirt.XXXXXX)
chmod 711 "$LV"
lv_cleanup() {
	set +e
	if [ -n "$DOM" ]; then
		virsh -c "$URI" destroy "$DOM" >/dev/null 2>&1
		virsh -c "$URI" undefine "$DOM" >/dev/null 2>&1
	fi
	mountpoint -q "$LV/mnt" && { umount "$LV/mnt" 2>/dev/null || umount -l "$LV/mnt"; }
	mountpoint -q "$LV/mnt" || rm -rf "$LV"
	for p in "${STARTED[@]}"; do
		kill "$p" 2>/dev/null && timeout 10 tail --pid="$p" -f /dev/null
	done
}
trap 'rc=$?; lv_cleanup; (exit $rc); cleanup' EXIT

# start_daemon NAME PIDFILE: runs NAME -d unless it runs already.
start_daemon() {
	local pid
	pid=$(cat "$2" 2>/dev/null) || true
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		return 0
	fi
	(cd / && "$1" -d) || fail "$1 -d failed"
	for _ in $(seq 50); do
		pid=$(cat "$2" 2>/dev/null) || true
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && break
		sleep 0.1
	done
	[ -n "$pid" ] || fail "$1 started but wrote no $2"
	STARTED+=("$pid")
	log "started $1 (pid $pid)"
}
if ! virsh -c "$URI" version >/dev/null 2>&1; then
	start_daemon virtlogd /run/virtlogd.pid
	start_daemon libvirtd /run/libvirtd.pid
fi
for _ in $(seq 100); do
	virsh -c "$URI" version >/dev/null 2>&1 && break
	sleep 0.1
done
virsh -c "$URI" version >"$T/version" 2>&1 || fail "libvirtd does not answer: $(cat "$T/version")"
log "$(grep -E 'Using library|Running hypervisor' "$T/version" | tr -s ' \n' ' ')"

# ---- the guest ----
{
	vm_init_start /dev/vda
	cat <<'EOF'
if mount -t ext4 -o ro /dev/vda /mnt/root; then
	echo "root marker: $(cat /mnt/root/marker)"
else
	echo "mount failed"; ls -l /dev/vd* 2>&1
fi
poweroff -f
EOF
} >"$T/init"
VM=$LV/vm
mkdir -p "$VM"
chmod 755 "$VM"
vm_initrd "$T/init" "$VM/initrd.gz"
cp "$VMLINUZ" "$VM/vmlinuz"
chmod 644 "$VM/vmlinuz" "$VM/initrd.gz"

log "volume and image"
MARK="root-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$T/rootfs"
echo "$MARK" >"$T/rootfs/marker"
truncate -s 32M "$T/root.ext4"
mkfs.ext4 -q -F -d "$T/rootfs" "$T/root.ext4"
sfs init >/dev/null
SNAP=$(sfs snapshot create lv-root "$T/root.ext4" --no-progress)
NAME="snapfs-test-lv-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
sfs image create "$NAME" --device vda="$SNAP" --root-device vda --arch x86_64 --boot-mode bios \
	--no-progress >/dev/null || fail "image create"

MNT=$LV/mnt
mount_snapfs "$MNT" "images/$NAME/vda.img" allow_other
grep -q " $MNT fuse.snapfs ro," /proc/mounts || fail "the mount is not read-only"

# ---- the domain's type follows /dev/kvm ----
launch() {
	sfs image launch-config "$NAME" --mount "$MNT" --format libvirt --overlay "$VM" "$@"
}
hidden=$(unshare -m sh -c ': >"$1/nokvm"; mount --bind "$1/nokvm" /dev/kvm 2>/dev/null ||
	{ [ -e /dev/kvm ] && exit 3; }; "$2" --store "$3" image launch-config "$4" --mount "$5" \
	--format libvirt' _ "$T" "$SNAPFS" "$STORE" "$NAME" "$MNT") || fail "launch-config without /dev/kvm"
grep -q "<domain type='qemu'>" <<<"$hidden" || fail "without /dev/kvm the domain is not type 'qemu'"
kvm_works() {
	python3 -c 'import fcntl, os; fd = os.open("/dev/kvm", os.O_RDWR); assert fcntl.ioctl(fd, 0xAE00) == 12' \
		2>/dev/null
}
if kvm_works; then
	launch | grep -q "<domain type='kvm'>" || fail "KVM works here but the domain is not 'kvm'"
else
	launch | grep -q "<domain type='qemu'>" || fail "no KVM here but the domain is not 'qemu'"
fi

log "domain XML (TCG)"
launch --accel tcg --kernel "$VM/vmlinuz" --initrd "$VM/initrd.gz" \
	--append "console=ttyS0 panic=-1 quiet" --memory 256 --serial "$VM/serial.log" \
	>"$T/domain.xml" || fail "launch-config --format libvirt"
grep -q "<domain type='qemu'>" "$T/domain.xml" || fail "--accel tcg is not type 'qemu'"
# The overlays, as the XML's comment says to make them.
sed -n 's/^ *\(qemu-img create .*\)$/\1/p' "$T/domain.xml" >"$T/overlays.sh"
[ -s "$T/overlays.sh" ] || fail "the XML names no overlay to create"
sh -e "$T/overlays.sh" >"$T/overlays.log" || fail "creating the overlays: $(cat "$T/overlays.sh")"
OV=$VM/$NAME-vda.qcow2
[ -f "$OV" ] || fail "no overlay $OV"
qemu-img info "$OV" | grep -q "backing file: $MNT/images/$NAME/vda.img" ||
	fail "the overlay is not backed by the mount's file"

virsh -c "$URI" define "$T/domain.xml" >"$T/define.log" 2>&1 || fail "virsh define: $(cat "$T/define.log")"
DOM=$NAME

# start_vm: starts the domain; 0 when it started.
start_vm() {
	rm -f "$VM/serial.log"
	virsh -c "$URI" start "$DOM" >"$T/start.log" 2>&1
}

log "no launch permission for libvirt-qemu: the start fails"
start_vm && fail "the domain started although libvirt-qemu may not open the image's files"
grep -q "Permission denied" "$T/start.log" || fail "the failed start is not EACCES: $(cat "$T/start.log")"
log "refused: $(grep -o 'Could not open.*Permission denied' "$T/start.log" || true)"

log "with the permission: boots (TCG, timeout ${TIMEOUT}s)"
sfs image permission add "$NAME" --user libvirt-qemu >/dev/null || fail "permission add"
before=$(sha "$MNT/images/$NAME/vda.img")
start=$(date +%s)
start_vm || fail "virsh start: $(cat "$T/start.log")"
state=""
while [ $(($(date +%s) - start)) -lt "$TIMEOUT" ]; do
	state=$(virsh -c "$URI" domstate "$DOM" 2>/dev/null) || true
	state=${state%%$'\n'*}
	[ "$state" = "shut off" ] && break
	sleep 1
done
[ "$state" = "shut off" ] || fail "the VM did not power off within ${TIMEOUT}s; serial: $(tail -5 "$VM/serial.log")"
grep -q "root marker: $MARK" "$VM/serial.log" ||
	fail "no root marker on the console: $(tail -20 "$VM/serial.log")"
log "booted and powered off in $(($(date +%s) - start))s"
[ "$(sha "$MNT/images/$NAME/vda.img")" = "$before" ] || fail "the image's file changed"
grep -q " $MNT fuse.snapfs ro," /proc/mounts || fail "the mount is no longer read-only"

log "a mount without allow_other: the permission is not enough"
umount "$MNT" || fail "umount"
mount_snapfs "$MNT" "images/$NAME/vda.img"
start_vm && fail "the domain started from a mount without allow_other"
grep -q "Permission denied" "$T/start.log" || fail "the failed start is not EACCES: $(cat "$T/start.log")"
exit 0
