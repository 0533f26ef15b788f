#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every bad input gets one line on stderr ("snapfs: ...") and a non-zero
# exit (2 for usage errors), and leaves the store as it was.
. "$(dirname "$0")/lib.sh" "$@"

sfs init >/dev/null
head -c 2M /dev/urandom >"$T/src"
ID1=$(sfs snapshot create vol "$T/src" --no-progress)
BEFORE=$(store_state)

# unchanged: the store must look exactly as before.
unchanged() {
	local now
	now=$(store_state)
	[ "$now" = "$BEFORE" ] || {
		diff <(echo "$BEFORE") <(echo "$now") >&2 || true
		fail "the store changed after: $*"
	}
}

log "usage errors exit 2"
expect_error 2 sfs frobnicate
expect_error 2 sfs --no-such-option snapshot list
# A command group without a subcommand prints its usage (many lines).
rc=0
sfs snapshot >/dev/null 2>"$T/.err" || rc=$?
[ $rc -eq 2 ] || soft_fail "'snapfs snapshot' exited $rc, expected 2"
[ -s "$T/.err" ] || soft_fail "'snapfs snapshot' printed nothing on stderr"
expect_error 2 sfs snapshot frobnicate
expect_error 2 sfs snapshot list --no-such-option
expect_error 2 sfs snapshot create vol
expect_error 2 sfs snapshot create
expect_error 2 sfs snapshot create vol "$T/src" extra-argument
expect_error 2 sfs snapshot restore "$ID1"
expect_error 2 sfs snapshot show
expect_error 2 sfs snapshot create vol "$T/src" --tag novalue
expect_error 2 sfs volume tag vol notatag
unchanged "usage errors"
"$SNAPFS" --help >/dev/null || fail "--help exits non-zero"
sfs snapshot --help >/dev/null || fail "snapshot --help exits non-zero"

log "bad sources"
expect_error 1 sfs snapshot create vol "$T/does-not-exist" --no-progress
grep -q "does-not-exist" <<<"$ERR" || fail "error does not name the source: $ERR"
unchanged "missing source"
expect_error 1 sfs snapshot create vol "$T" --no-progress
unchanged "directory source"
expect_error 1 sfs snapshot create vol /dev/null/x --no-progress
unchanged "source under a file"

# An unreadable source: as root, drop to an unprivileged user, since
# root reads anything.
head -c 1M /dev/urandom >"$T/secret"
chmod 000 "$T/secret"
if [ "$(id -u)" -eq 0 ]; then
	chmod 755 "$T"
	chmod -R a+rwX "$STORE"
	BEFORE=$(store_state)
	expect_error 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$SNAPFS" --store "$STORE" snapshot create vol "$T/secret" --no-progress
	grep -qi "permission\|denied\|access" <<<"$ERR" || fail "error does not say why: $ERR"
else
	expect_error 1 sfs snapshot create vol "$T/secret" --no-progress
fi
unchanged "unreadable source"

log "a source that shrank"
head -c 1M "$T/src" >"$T/small"
expect_error 1 sfs snapshot create vol "$T/small" --no-progress
unchanged "shrunk source"

log "numbers and sizes are strict (usage, 2)"
for bs in 64kb 64KB 64k4 " 64K" +64K -64K 8388608T 0x; do
	expect_error 2 "$SNAPFS" --store "$T/newstore" init --block-size "$bs"
done
[ ! -e "$T/newstore/config" ] || fail "a store was made with a bad --block-size"
for lvl in " 3" +3 3x "" 99999999999999999999; do
	expect_error 2 "$SNAPFS" --store "$T/newstore" init --compression-level "$lvl"
done
# 2^63 bytes once went into an image record and broke every listing.
for size in 8388608T 1gb 1GB 16777216T 18446744073709551616 -1 " 1G"; do
	expect_error 2 sfs image create big --device sda="$ID1:$size"
done
sfs image list --json >/dev/null || fail "image list fails after refused sizes"
for pct in " 50" +50 50% 0x; do
	expect_error 2 sfs gc --rewrite-below "$pct"
done
unchanged "bad numbers"

log "bad volume names (argument errors: usage, 2)"
expect_error 2 sfs snapshot create "../evil" "$T/src" --no-progress
expect_error 2 sfs snapshot create "" "$T/src" --no-progress
unchanged "bad volume names"

log "malformed changed-ranges files"
for bad in "not a number" "0 0x" "-5 10" "10" "0 4096 junk" "[[1,2]" '[{"offset":1}]' \
	'[["a","b"]]' "99999999999999999999999 1" "+5 10" "5 +10" "0x 10" "08x 10"; do
	printf '%s\n' "$bad" >"$T/ranges"
	rc=0
	sfs snapshot create vol "$T/src" --changed-ranges "$T/ranges" --no-progress \
		>"$T/.out" 2>"$T/.err" || rc=$?
	ERR=$(cat "$T/.err")
	[ $rc -ne 0 ] || fail "ranges '$bad' accepted"
	[ "$(wc -l <"$T/.err")" -eq 1 ] || fail "ranges '$bad': not one line: $ERR"
	case "$ERR" in "snapfs: "*) ;; *) fail "ranges '$bad': $ERR" ;; esac
	log "ok ($rc): ranges '$bad' -> $ERR"
	unchanged "ranges '$bad'"
done
expect_error 1 sfs snapshot create vol "$T/src" --changed-ranges "$T/no-such-ranges" --no-progress
unchanged "missing ranges file"
# A range past the end of the source.
echo "$((64 << 20)) 4096" >"$T/ranges"
rc=0
sfs snapshot create vol "$T/src" --changed-ranges "$T/ranges" --no-progress >/dev/null 2>"$T/.err" || rc=$?
[ $rc -ne 0 ] || fail "a range past the end of the source was accepted"
unchanged "range past the end"

log "unknown ids"
expect_error 1 sfs snapshot show snap-0123456789abcdef0
expect_error 1 sfs snapshot restore snap-0123456789abcdef0 "$T/out"
[ ! -e "$T/out" ] || fail "a failed restore left $T/out"
expect_error 1 sfs snapshot diff "$ID1" snap-0123456789abcdef0
expect_error 2 sfs snapshot show not-an-id
expect_error 1 sfs volume show no-such-volume
unchanged "unknown ids"

log "stores that are not usable"
expect_error 1 "$SNAPFS" --store "$T/no-such-store" snapshot list
[ ! -e "$T/no-such-store" ] || fail "a read command created a store"
mkdir "$T/notastore"
echo hello >"$T/notastore/file"
expect_error 1 "$SNAPFS" --store "$T/notastore" snapshot list
expect_error 1 "$SNAPFS" --store "$T/notastore" snapshot create vol "$T/src" --no-progress
assert_eq "$(ls "$T/notastore")" file "a non-store directory was modified"
expect_error 1 "$SNAPFS" --store "$T/src" info
expect_error 1 sfs init
unchanged "init over an existing store"
env -u SNAPFS_STORE "$SNAPFS" snapshot list >/dev/null 2>"$T/.err" && fail "no store given, yet success"
[ "$(wc -l <"$T/.err")" -eq 1 ] || fail "no store: $(cat "$T/.err")"

cp "$STORE/config" "$T/config.orig"
sed -i 's/^format_version = .*/format_version = 99/' "$STORE/config"
grep -q "format_version = 99" "$STORE/config" || fail "could not edit config"
expect_error 1 sfs snapshot list
grep -qi "version\|newer" <<<"$ERR" || fail "newer format: the error does not say so: $ERR"
expect_error 1 sfs snapshot create vol "$T/src" --no-progress
cp "$T/config.orig" "$STORE/config"
unchanged "newer format version"

log "a full disk during ingest"
if [ "$(id -u)" -eq 0 ]; then
	FULL=$T/full
	mkdir -p "$FULL"
	mount -t tmpfs -o size=20m tmpfs "$FULL"
	track_mount "$FULL"
	FSTORE=$FULL/store
	"$SNAPFS" --store "$FSTORE" init >/dev/null
	head -c 4M /dev/urandom >"$T/small-src"
	IDF=$("$SNAPFS" --store "$FSTORE" snapshot create small "$T/small-src" --no-progress)
	head -c 64M /dev/urandom >"$T/big-src"
	rc=0
	"$SNAPFS" --store "$FSTORE" snapshot create big "$T/big-src" --no-progress \
		>"$T/.out" 2>"$T/.err" || rc=$?
	ERR=$(cat "$T/.err")
	[ $rc -eq 1 ] || fail "ENOSPC ingest exited $rc: $ERR"
	[ "$(wc -l <"$T/.err")" -eq 1 ] || fail "ENOSPC ingest: not one line: $ERR"
	grep -qi "space" <<<"$ERR" || fail "ENOSPC ingest: the error does not say so: $ERR"
	log "ok: full disk -> $ERR"
	"$SNAPFS" --store "$FSTORE" check --read-data >"$T/.out" 2>"$T/.err" ||
		fail "check after ENOSPC: $(cat "$T/.out" "$T/.err")"
	out=$T/restored-small
	"$SNAPFS" --store "$FSTORE" snapshot restore "$IDF" "$out"
	cmp -s "$out" "$T/small-src" || fail "earlier snapshot differs after ENOSPC"
	rm -f "$out"
	"$SNAPFS" --store "$FSTORE" snapshot list --json | grep -q '"big"' &&
		fail "the failed snapshot is listed"
	# After space is freed the store takes new snapshots again.
	head -c 4M /dev/urandom >"$T/small2"
	"$SNAPFS" --store "$FSTORE" snapshot create small "$T/small2" --no-progress >/dev/null ||
		fail "the store does not recover after ENOSPC"
	"$SNAPFS" --store "$FSTORE" check --read-data >/dev/null || fail "check after recovery"
	umount "$FULL"
else
	log "skipping the full-disk case: needs root for a small tmpfs"
fi
