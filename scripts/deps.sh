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
	libssl-dev
	libjansson-dev
	libcriterion-dev
	# files/: ext2/3/4 read through e2fsprogs' library, partition tables
	# through util-linux's, instead of parsers of our own
	libext2fs-dev libblkid-dev
	clang libclang-rt-14-dev
	e2fsprogs util-linux kmod python3
	# the files/ test: partitioned disks, extended attributes, fuse2fs to compare
	fdisk attr acl fuse2fs
	qemu-utils
	# the VM boot test: a Debian kernel, a static busybox initramfs, QEMU
	linux-image-amd64 busybox-static qemu-system-x86 cpio gzip file
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
