# SPDX-License-Identifier: MIT
# Shared by the lifecycle integration tests (sourced, not run): a scratch
# directory removed on exit even when a test fails, failure reporting, JSON
# field extraction without extra tools, and volume files with changes.

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 /path/to/snapfs" >&2
	exit 77
fi
SNAPFS=$(readlink -f "$1")
T=$(mktemp -d "${SNAPFS_TEST_TMP:-${TMPDIR:-/tmp}}/snapfs-lc.XXXXXX")
CLEANUP_PIDS=""
CLEANUP_MOUNTS=""
lc_cleanup() {
	for p in $CLEANUP_PIDS; do kill -9 "$p" 2>/dev/null || true; done
	for m in $CLEANUP_MOUNTS; do fusermount3 -u "$m" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap lc_cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# json_field NAME < json: the first integer or string value of NAME.
json_field() {
	sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -n1
}

# mkvol FILE MIB SEED: MIB MiB of incompressible bytes.
# (CTR mode: as many bytes out as zeros in, so no SIGPIPE under pipefail.)
mkvol() {
	head -c $(($2 * 1048576)) /dev/zero |
		openssl enc -aes-128-ctr -nosalt -pass "pass:$3" -pbkdf2 2>/dev/null >"$1"
}

# change FILE OFFSET_MIB LEN_MIB SEED: overwrite a region with new bytes.
change() {
	head -c $(($3 * 1048576)) /dev/zero |
		openssl enc -aes-128-ctr -nosalt -pass "pass:$4" -pbkdf2 2>/dev/null |
		dd of="$1" bs=1M seek="$2" conv=notrunc iflag=fullblock status=none
}

packs_bytes() {
	du -sB1 "$1/packs" | cut -f1
}

# restore_eq STORE ID FILE: the snapshot restores byte-exact.
restore_eq() {
	rm -f "$T/restore.out"
	"$SNAPFS" --store "$1" snapshot restore "$2" "$T/restore.out" --no-progress ||
		fail "restore of $2 from $1"
	cmp -s "$T/restore.out" "$3" || fail "snapshot $2 in $1 differs from $3"
	rm -f "$T/restore.out"
}

check_store() {
	"$SNAPFS" --store "$1" check --read-data --no-progress >"$T/check.out" 2>&1 ||
		{ cat "$T/check.out" >&2; fail "check --read-data of $1"; }
}
