#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package snapfs needs to build, test and demo.
# Idempotent: packages already present are left alone by apt-get.
set -euo pipefail

PKGS=(
	build-essential pkg-config meson ninja-build
	libfuse3-dev fuse3
	liblmdb-dev lmdb-utils
	libzstd-dev zstd
	# the read path's record sums (XXH3)
	libxxhash-dev
	libssl-dev
	# the tests' SHA-256 of large files and their incompressible volumes
	openssl
	libjansson-dev
	libcriterion-dev
	# files/: ext2/3/4 read through e2fsprogs' library, partition tables
	# through util-linux's, instead of parsers of our own
	libext2fs-dev libblkid-dev
	clang libclang-rt-14-dev
	e2fsprogs util-linux kmod python3
	# the files/ test: partitioned disks, extended attributes, fuse2fs to compare
	fdisk attr acl fuse2fs
	# man pages (test_man renders them), bash completion (installed into its
	# completionsdir, driven by test_completion)
	man-db groff-base bash-completion
	# renders the report page in test_report (and its README screenshot)
	chromium
	# the VM boot test: a Debian kernel, a static busybox initramfs (QEMU
	# comes from backports, below)
	linux-image-amd64 busybox-static cpio gzip file
	# test_libvirt: defines and starts launch-config's domain. Debian 12's
	# libvirt 9.0 drives the QEMU 10 from backports (domcapabilities,
	# define, start under TCG), so it comes from bookworm itself.
	libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu
	# the RADOS backend (librados) and the throwaway cluster its tests run
	# against (scripts/ceph-test-cluster.sh)
	librados-dev ceph-mon ceph-osd ceph-mgr ceph-common
)

# QEMU from bookworm-backports (10.x): hibernation resumes a VM with its RAM
# mapped straight from the read-only mount (memory-backend-file with
# readonly=on, share=off), which QEMU before 8.2 cannot do: it opens the
# RAM file read-write. Debian 12's own 7.2 stays usable through the
# copy-out fallback, but the lazy path needs the newer one.
BPO_SUITE=bookworm-backports
BPO_LIST=/etc/apt/sources.list.d/snapfs-backports.sources
BPO_PKGS=(qemu-system-x86 qemu-utils)
BPO_MIN=8.2

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

# qemu_ok PKG: PKG is installed at BPO_MIN or newer.
qemu_ok() {
	local v
	v=$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null) || return 1
	case "$v" in *"ok installed"*) ;; *) return 1 ;; esac
	v=${v##* }
	v=${v#*:}
	dpkg --compare-versions "$v" ge "$BPO_MIN"
}
bpo_missing=()
for p in "${BPO_PKGS[@]}"; do
	qemu_ok "$p" || bpo_missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ] && [ "${#bpo_missing[@]}" -eq 0 ]; then
	echo "deps: all $((${#PKGS[@]} + ${#BPO_PKGS[@]})) packages present"
	exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ "${#bpo_missing[@]}" -gt 0 ] && [ ! -f "$BPO_LIST" ]; then
	echo "deps: adding $BPO_SUITE"
	printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" \
		"Suites: $BPO_SUITE" "Components: main" \
		"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
		$SUDO tee "$BPO_LIST" >/dev/null
fi
$SUDO apt-get update -q
# A machine without Debian's kernel package does not boot from one: the
# kernel is installed only for the VM tests, which boot it with an
# initramfs of their own (tests/integration/vm_lib.sh). INITRD=No spares
# building the host's initramfs for it, twice, about 70 s each here.
# Where the kernel package is present, nothing of this applies.
initrd=()
for p in "${missing[@]}"; do
	[ "$p" = linux-image-amd64 ] && initrd=(INITRD=No)
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	$SUDO env "${initrd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "${#bpo_missing[@]}" -gt 0 ]; then
	echo "deps: installing ${bpo_missing[*]} from $BPO_SUITE"
	$SUDO apt-get install -y -q --no-install-recommends -t "$BPO_SUITE" "${bpo_missing[@]}"
fi
