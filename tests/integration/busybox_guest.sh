# SPDX-License-Identifier: MIT
# The busybox guest of the hibernation test and benchmark, sourced:
# busybox_guest DIR builds DIR/initrd.gz (busybox, the virtio and ext4
# modules of the newest Debian kernel installed) and sets VMLINUZ. The
# guest mounts /dev/vda, writes the marker=... of its command line there,
# and prints "tick N boot BOOT_ID up UPTIME" every second; with fill=MIB
# on its command line it first keeps that much random data in RAM (a
# file in its initramfs). Needs `fail`.

busybox_guest() {
	local INITRD=$1/root p
	VMLINUZ=$(ls -v /boot/vmlinuz-*-amd64 2>/dev/null | tail -n 1)
	[ -n "$VMLINUZ" ] || fail "no Debian kernel (scripts/deps.sh installs linux-image-amd64)"
	local KVER=${VMLINUZ#/boot/vmlinuz-}
	local MODDIR=/lib/modules/$KVER
	mkdir -p "$INITRD"/{bin,dev,proc,sys,mnt/root,lib/modules}
	cp /bin/busybox "$INITRD/bin/busybox"
	declare -A _seen=()
	_guest_modules() {
		local m path deps d
		for m in "$@"; do
			path=$(grep -E "^([^:]*/)?${m}\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | head -n 1) || true
			[ -n "$path" ] || continue
			deps=${path#*:}
			path=${path%%:*}
			[ -n "${_seen[$path]:-}" ] && continue
			_seen[$path]=1
			for d in $deps; do
				d=$(basename "$d")
				_guest_modules "${d%%.ko*}"
			done
			echo "$path"
		done
	}
	local -a MODS
	mapfile -t MODS < <(_guest_modules virtio_pci virtio_blk crc32c_generic ext4)
	: >"$INITRD/modules.list"
	for p in "${MODS[@]}"; do
		case "$p" in
		*.ko) cp "$MODDIR/$p" "$INITRD/lib/modules/" ;;
		*.ko.xz) xz -dc "$MODDIR/$p" >"$INITRD/lib/modules/$(basename "${p%.xz}")" ;;
		*.ko.zst) zstd -qdc "$MODDIR/$p" >"$INITRD/lib/modules/$(basename "${p%.zst}")" ;;
		esac
		basename "${p%.ko*}.ko" >>"$INITRD/modules.list"
	done
	cat >"$INITRD/init" <<'GUEST'
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
	chmod +x "$INITRD/init"
	(cd "$INITRD" && find . | cpio -o -H newc --quiet | gzip -1) >"$1/initrd.gz"
}
