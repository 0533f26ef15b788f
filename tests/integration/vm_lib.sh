# SPDX-License-Identifier: MIT
# The guest the VM tests boot: the host's Debian kernel and a busybox
# initramfs holding the modules a virtio disk with ext4 needs and an /init
# the test writes. Source it after lib.sh:
#
#   . "$(dirname "$0")/vm_lib.sh"
#   vm_packages                   # installs what is missing (root) or fails
#   vm_initrd INIT OUT [DIR]      # sets VMLINUZ; OUT: gzipped cpio, INIT as /init
#
# /init runs busybox sh; the modules are listed in /modules.list and live in
# /lib/modules, to be loaded with insmod in that order. Every busybox guest
# of the tests and benchmarks is built here (busybox_guest.sh too), only
# their /init differs. Needs `fail`; uses `log` when there is one.

# vm_packages [PKG...]: installs qemu-system-x86, busybox-static and
# linux-image-amd64 when missing, plus the given packages.
vm_packages() {
	local need=("$@")
	command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
	[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx poweroff &&
		file -L /bin/busybox 2>/dev/null | grep -q static || need+=(busybox-static)
	compgen -G "/boot/vmlinuz-*-amd64" >/dev/null || need+=(linux-image-amd64)
	[ ${#need[@]} -gt 0 ] || return 0
	log "installing ${need[*]}"
	[ "$(id -u)" -eq 0 ] || fail "missing ${need[*]} and not root to install them"
	export DEBIAN_FRONTEND=noninteractive
	# The guests boot with an initramfs of their own: none is built for
	# the host (scripts/deps.sh says why).
	export INITRD=No
	apt-get install -y -q --no-install-recommends "${need[@]}" >"$T/apt.log" 2>&1 || {
		apt-get update -q >>"$T/apt.log" 2>&1
		apt-get install -y -q --no-install-recommends "${need[@]}" >>"$T/apt.log" 2>&1
	}
}

# vm_kernel: picks the newest installed Debian kernel (sets VMLINUZ, KVER,
# MODDIR).
vm_kernel() {
	VMLINUZ=$(ls -v /boot/vmlinuz-*-amd64 2>/dev/null | tail -n 1)
	[ -n "$VMLINUZ" ] || fail "no Debian kernel (scripts/deps.sh installs linux-image-amd64)"
	KVER=${VMLINUZ#/boot/vmlinuz-}
	MODDIR=/lib/modules/$KVER
	[ -f "$MODDIR/modules.dep" ] || fail "no modules for kernel $KVER"
}

# vm_init_start DEVICE: the start of a guest's /init on stdout: busybox's
# applets, /proc, /sys and /dev, the modules loaded, then up to 10 s of
# waiting for DEVICE (the last disk the test attaches). The test appends
# what the guest does.
vm_init_start() {
	cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do
	insmod /lib/modules/$m 2>/dev/null
done
i=0
EOF
	printf 'while [ ! -b %s ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done\n' "$1"
}

# vm_initrd INIT OUT [DIR]: the initramfs, for the newest installed kernel
# (vm_kernel), assembled in DIR (default $T/initrd, emptied first).
vm_initrd() {
	local init=$1 out=$2 dir=${3:-$T/initrd} p
	vm_kernel
	! declare -F log >/dev/null || log "initramfs for $KVER"
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,dev,proc,sys,mnt/root,mnt/data,mnt/extra,lib/modules}
	cp /bin/busybox "$dir/bin/busybox"
	declare -gA _vm_seen=()
	mapfile -t _vm_mods < <(_vm_modules virtio_pci virtio_blk crc32c_generic ext4)
	[ ${#_vm_mods[@]} -gt 0 ] || fail "no modules resolved"
	: >"$dir/modules.list"
	for p in "${_vm_mods[@]}"; do
		case "$p" in
		*.ko) cp "$MODDIR/$p" "$dir/lib/modules/" ;;
		*.ko.xz) xz -dc "$MODDIR/$p" >"$dir/lib/modules/$(basename "${p%.xz}")" ;;
		*.ko.zst) zstd -qdc "$MODDIR/$p" >"$dir/lib/modules/$(basename "${p%.zst}")" ;;
		*) fail "module format of $p" ;;
		esac
		basename "${p%.ko*}.ko" >>"$dir/modules.list"
	done
	cp "$init" "$dir/init"
	chmod +x "$dir/init"
	(cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
}

# _vm_modules MOD...: paths (relative to $MODDIR) of MOD and what it
# needs, dependencies first, each once; built-in modules have no entry.
_vm_modules() {
	local m path deps d
	for m in "$@"; do
		path=$(grep -E "^([^:]*/)?${m}\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | head -n 1) || true
		[ -n "$path" ] || continue
		deps=${path#*:}
		path=${path%%:*}
		[ -n "${_vm_seen[$path]:-}" ] && continue
		_vm_seen[$path]=1
		for d in $deps; do
			d=$(basename "$d")
			_vm_modules "${d%%.ko*}"
		done
		echo "$path"
	done
}
