# SPDX-License-Identifier: MIT
# Shared by the lifecycle integration tests (sourced, not run): lib.sh's
# scratch directory, cleanup trap and assertions, plus volume files with
# changes and checks against a store other than $STORE.

. "$(dirname "$0")/lib.sh" "$@"

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
