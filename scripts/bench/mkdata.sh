#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the benchmark volumes: two generations of a sparse ext4 image and
# the changed-ranges list between them.
#
#   mkdata.sh --out DIR [--size BYTES] [--seed N] [--block-size BYTES]
#
# DIR/gen1.img     ext4, ~60% real files from /usr and /etc, ~10% an
#                  incompressible file, the rest free (holes)
# DIR/gen2.img     gen1 with churn: files deleted, edited, appended and added,
#                  scattered 4 KiB rewrites in the big file, a new
#                  incompressible file
# DIR/gen2.ranges  "OFFSET LENGTH" lines where gen2 differs from gen1
# DIR/small.img    64 MiB image for the snapshot-count scaling test
# DIR/*.sha256     digests of the images
# Everything is chosen from sorted file lists and PRNGs seeded by --seed.
# Needs root (loop mount).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out="" size=$((2 << 30)) seed=1 bs=65536
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--size)
		case "$2" in
		*[kK]) size=$((${2%?} << 10)) ;;
		*[mM]) size=$((${2%?} << 20)) ;;
		*[gG]) size=$((${2%?} << 30)) ;;
		*) size=$2 ;;
		esac
		shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--block-size) bs=$2; shift 2 ;;
	*) echo "mkdata: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] || { echo "mkdata: --out DIR is required" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
mnt="$out/mnt"
mkdir -p "$mnt"

umount_retry() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		umount "$1" 2>/dev/null && return 0
		sleep 0.5
	done
	umount "$1"
}

cleanup() {
	if mountpoint -q "$mnt"; then umount_retry "$mnt" || umount -l "$mnt" || true; fi
}
trap cleanup EXIT

# PRNG stream: AES-CTR keyed by a pass phrase derived from the seed.
prng() { # prng TAG BYTES
	{ openssl enc -aes-128-ctr -pass "pass:snapfs-bench-$seed-$1" -nosalt -pbkdf2 -iter 1 \
		</dev/zero 2>/dev/null || true; } | head -c "$2"
}

uuid_from_seed() {
	printf '%s' "snapfs-bench-$seed-$1" | sha256sum |
		sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/'
}

copy_list() { # copy_list LISTFILE(NUL) DEST
	tar --null -C / -cf - --files-from="$1" 2>/dev/null | tar -C "$2" -xf - 2>/dev/null || true
}

mb=$((1 << 20))
files_bytes=$((size * 60 / 100))
big_bytes=$((size * 10 / 100 / mb * mb))
export E2FSPROGS_FAKE_TIME=1700000000

echo "mkdata: gen1 ($((size / mb)) MiB, seed $seed)"
rm -f "$out/gen1.img" "$out/gen2.img"
truncate -s "$size" "$out/gen1.img"
u=$(uuid_from_seed fs)
mkfs.ext4 -q -F -b 4096 -U "$u" -E "hash_seed=$(uuid_from_seed hash),lazy_itable_init=0,lazy_journal_init=0" \
	-L snapbench "$out/gen1.img"
mount -o loop,noatime "$out/gen1.img" "$mnt"
mkdir -p "$mnt/data" "$mnt/files"
python3 "$here/pickfiles.py" -0 --seed "$seed" --bytes "$files_bytes" /usr /etc >"$out/gen1.files"
copy_list "$out/gen1.files" "$mnt/files"
prng big1 "$big_bytes" >"$mnt/data/big.bin"
sync
umount_retry "$mnt"
sha256sum "$out/gen1.img" | cut -d' ' -f1 >"$out/gen1.sha256"

echo "mkdata: gen2 (churn)"
cp --sparse=always "$out/gen1.img" "$out/gen2.img"
mount -o loop,noatime "$out/gen2.img" "$mnt"
# scale the 4 KiB rewrites with the volume: 256 per 2 GiB, at least 16
pages=$((size / (8 << 20)))
[ "$pages" -ge 16 ] || pages=16
python3 "$here/churn.py" --root "$mnt/files" --big "$mnt/data/big.bin" --seed "$seed" --page-rewrites "$pages"
# new files: ~1.5% of the volume, none of them in gen1
python3 "$here/pickfiles.py" -0 --seed "$((seed + 1000))" --bytes "$((size * 15 / 1000))" \
	--exclude "$out/gen1.files" /usr /etc >"$out/gen2.files"
mkdir -p "$mnt/files2"
copy_list "$out/gen2.files" "$mnt/files2"
# a new incompressible file: ~1% of the volume
prng big2 "$((size / 100 / mb * mb))" >"$mnt/data/new.bin"
sync
df -B1 --output=used,size "$mnt" | tail -1 | awk '{printf "mkdata: gen2 uses %d of %d MiB\n", $1/1048576, $2/1048576}'
umount "$mnt"
sha256sum "$out/gen2.img" | cut -d' ' -f1 >"$out/gen2.sha256"

echo "mkdata: changed ranges"
python3 "$here/changed_ranges.py" --block-size "$bs" "$out/gen1.img" "$out/gen2.img" >"$out/gen2.ranges"

echo "mkdata: small image for the scaling test"
rm -f "$out/small.img"
truncate -s $((64 * mb)) "$out/small.img"
# half compressible text-like data, a quarter random, a quarter hole
{ while :; do cat "$out/gen1.files" || exit 0; done 2>/dev/null | tr '\0' '\n' || true; } | head -c $((32 * mb)) |
	dd of="$out/small.img" conv=notrunc status=none
prng small $((16 * mb)) | dd of="$out/small.img" bs=1M seek=32 conv=notrunc status=none
rmdir "$mnt" 2>/dev/null || true
ls -ls "$out"/*.img
echo "mkdata: done"
