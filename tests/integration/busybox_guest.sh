# SPDX-License-Identifier: MIT
# The busybox guest of the hibernation test and benchmark, sourced:
# busybox_guest DIR builds DIR/initrd.gz (with vm_lib.sh's vm_initrd:
# busybox, the virtio and ext4 modules of the newest Debian kernel
# installed) and sets VMLINUZ. The guest mounts /dev/vda, writes the
# marker=... of its command line there, and prints "tick N boot BOOT_ID
# up UPTIME" every second; with fill=MIB on its command line it first
# keeps that much random data in RAM (a file in its initramfs). Needs
# `fail`.

. "$(dirname "${BASH_SOURCE[0]}")/vm_lib.sh"

busybox_guest() {
	mkdir -p "$1"
	cat >"$1/init" <<'GUEST'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod /lib/modules/$m 2>/dev/null; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mark=$(sed -n 's/.*marker=\([^ ]*\).*/\1/p' /proc/cmdline)
if mount -t ext4 /dev/vda /mnt/root; then
	echo "$mark" >/mnt/root/marker
	sync
	echo "marker written: $(cat /mnt/root/marker)"
fi
fill=$(sed -n 's/.*fill=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$fill" ]; then
	head -c $((fill * 1048576)) /dev/urandom >/fill
	echo "filled ${fill} MiB"
fi
n=0
while true; do
	n=$((n + 1))
	echo "tick $n boot $(cat /proc/sys/kernel/random/boot_id) up $(cut -d' ' -f1 /proc/uptime)"
	sleep 1
done
GUEST
	vm_initrd "$1/init" "$1/initrd.gz" "$1/root"
}
