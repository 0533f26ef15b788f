#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Encrypted stores end to end: a distinctive pattern and the plain SHA-256
# of its block appear in a plain store's files and nowhere in an encrypted
# one's; mount and restore are byte-exact with the key and refused clearly
# without it or with a wrong one (changing nothing); a flipped byte is EIO
# on the mount and an error in restore and check; plain -> encrypted copy
# survives the source's deletion; a passphrase change rewrites no pack and
# leaves exactly the new passphrase working, and a kill -9 in the middle
# of one always leaves one of the two working.
#
# Usage: test_encrypt.sh /path/to/snapfs
. "$(dirname "$0")/lib.sh" "$@"

unset SNAPFS_KEY_FILE
have_fuse=1
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	have_fuse=0
	log "no /dev/fuse: the mount checks are skipped"
fi

# No controlling terminal, so that nothing can stop to ask for a passphrase.
nt() { setsid -w "$@"; }

# contains FILE_OF_BYTES DIR: whether any file under DIR holds those bytes.
contains() {
	python3 - "$1" "$2" <<'PY'
import os, sys
needle = open(sys.argv[1], 'rb').read()
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        p = os.path.join(root, f)
        if os.path.isfile(p) and not os.path.islink(p):
            if needle in open(p, 'rb').read():
                print(p)
                sys.exit(0)
sys.exit(1)
PY
}

# The source: 8 MiB of incompressible bytes (so that a plain store keeps
# them as they are) with a distinctive 4 KiB pattern inside block 37.
BS=32768
head -c $((8 << 20)) /dev/urandom >"$T/src"
# (hash output: distinctive, and too random for zstd to shrink its block)
python3 -c 'import hashlib,sys; sys.stdout.buffer.write(b"".join(hashlib.sha256(b"snapfs pattern %d" % i).digest() for i in range(128)))' >"$T/pattern"
dd if="$T/pattern" of="$T/src" bs=1 seek=$((37 * BS + 1000)) conv=notrunc status=none
dd if="$T/src" of="$T/block37" bs=$BS skip=37 count=1 status=none
python3 -c 'import hashlib,sys; sys.stdout.buffer.write(hashlib.sha256(open(sys.argv[1],"rb").read()).digest())' "$T/block37" >"$T/block37.sha"
head -c 32 /dev/urandom >"$T/key"
head -c 32 /dev/urandom >"$T/wrong"

log "1. the pattern is in a plain store's files"
P=$T/plain
"$SNAPFS" --store "$P" init >/dev/null
PID_=$("$SNAPFS" --store "$P" snapshot create vol "$T/src")
contains "$T/pattern" "$P" >/dev/null || fail "the pattern is not in the plain store: the check below proves nothing"
contains "$T/block37.sha" "$P" >/dev/null || fail "the block's SHA-256 is not in the plain store's index"

log "2. ... and nowhere in an encrypted store's files"
"$SNAPFS" --store "$STORE" init --encrypt --key-file "$T/key" >/dev/null
grep -q '^encryption = aes-256-gcm$' "$STORE/config" || fail "config does not say the store is encrypted"
[ "$(stat -c %a "$STORE/keys")" = 600 ] || fail "the keys file is not 0600"
ID=$(sfs --key-file "$T/key" snapshot create vol "$T/src")
if f=$(contains "$T/pattern" "$STORE"); then fail "the pattern is in encrypted store file $f"; fi
if f=$(contains "$T/block37.sha" "$STORE"); then fail "the block's plain SHA-256 is in encrypted store file $f"; fi
sfs --key-file "$T/key" check --read-data >/dev/null || fail "check of the encrypted store"

log "3. restore with the key is byte-exact; without it or with a wrong one, one clear line and no change"
SNAPFS_KEY_FILE=$T/key restore_check "$ID" "$T/src"
before=$(cd "$STORE" && find . -type f ! -name lock ! -name lock.mdb -exec sha256sum {} + | sort -k2)
expect_error 1 nt "$SNAPFS" --store "$STORE" snapshot restore "$ID" "$T/out"
case "$ERR" in *"is encrypted"*) ;; *) soft_fail "no-key error does not say so: $ERR" ;; esac
expect_error 1 nt "$SNAPFS" --store "$STORE" --key-file "$T/wrong" snapshot restore "$ID" "$T/out"
case "$ERR" in *"wrong key or passphrase"*) ;; *) soft_fail "wrong-key error does not say so: $ERR" ;; esac
expect_error 1 nt "$SNAPFS" --store "$STORE" --key-file "$T/wrong" snapshot delete "$ID"
expect_error 1 nt "$SNAPFS" --store "$STORE" --key-file "$T/wrong" gc
[ ! -e "$T/out" ] || fail "a refused restore left a file"
after=$(cd "$STORE" && find . -type f ! -name lock ! -name lock.mdb -exec sha256sum {} + | sort -k2)
assert_eq "$after" "$before" "a refused key changed the store"

if [ $have_fuse = 1 ]; then
	log "4. mount with the key is byte-exact; without one or with a wrong one it is refused"
	mkdir -p "$T/mnt"
	rc=0
	nt "$SNAPFS" --store "$STORE" mount "$T/mnt" 2>"$T/m.err" || rc=$?
	[ $rc -ne 0 ] && ! mountpoint -q "$T/mnt" || fail "a mount without a key succeeded"
	grep -q "is encrypted" "$T/m.err" || soft_fail "mount without a key: $(cat "$T/m.err")"
	rc=0
	nt "$SNAPFS" --store "$STORE" mount "$T/mnt" -o key_file="$T/wrong" 2>"$T/m.err" || rc=$?
	[ $rc -ne 0 ] && ! mountpoint -q "$T/mnt" || fail "a mount with a wrong key succeeded"
	grep -q "wrong key or passphrase" "$T/m.err" || soft_fail "mount with a wrong key: $(cat "$T/m.err")"
	"$SNAPFS" --store "$STORE" mount "$T/mnt" -o key_file="$T/key" || fail "mount with the key"
	track_mount "$T/mnt"
	assert_same_file "$T/mnt/snapshots/$ID.img" "$T/src" "the encrypted snapshot through the mount"
	umount "$T/mnt"
fi

log "5. a flipped byte in a pack: EIO on the mount, an error in restore and check"
cp -a "$STORE" "$T/damaged"
PACK=$(ls "$T/damaged"/packs/*.pack | head -n 1)
# A byte in the middle of the pack: inside some sealed record.
SIZE=$(stat -c %s "$PACK")
OFF=$((SIZE / 2))
B=$(od -An -tu1 -j "$OFF" -N1 "$PACK" | tr -d ' ')
printf "$(printf '\\%03o' $((B ^ 0x01)))" | dd of="$PACK" bs=1 seek="$OFF" conv=notrunc status=none
rc=0
"$SNAPFS" --store "$T/damaged" --key-file "$T/key" check --read-data >"$T/check.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "check of a flipped byte exited $rc: $(cat "$T/check.out")"
rc=0
"$SNAPFS" --store "$T/damaged" --key-file "$T/key" snapshot restore "$ID" "$T/out" 2>"$T/r.err" || rc=$?
[ $rc -ne 0 ] || fail "restore of a damaged encrypted store succeeded"
[ ! -e "$T/out" ] || fail "a failed restore left a file"
log "restore says: $(head -n 1 "$T/r.err")"
if [ $have_fuse = 1 ]; then
	"$SNAPFS" --store "$T/damaged" mount "$T/mnt" -o key_file="$T/key" || fail "mount of the damaged store"
	track_mount "$T/mnt"
	rc=0
	dd if="$T/mnt/snapshots/$ID.img" of=/dev/null bs=1M 2>"$T/dd.err" || rc=$?
	[ $rc -ne 0 ] || fail "reading a damaged encrypted snapshot through the mount succeeded"
	grep -q "Input/output error" "$T/dd.err" || fail "the mount's error is not EIO: $(cat "$T/dd.err")"
	umount "$T/mnt"
fi

log "6. plain -> encrypted copy, the source deleted, the copy restores byte-exact"
E2=$T/enc2
"$SNAPFS" --store "$E2" init --encrypt --key-file "$T/key" >/dev/null
CID=$("$SNAPFS" --store "$P" snapshot copy "$PID_" --to-store "$E2" --to-key-file "$T/key")
rm -rf "$P"
if f=$(contains "$T/pattern" "$E2"); then fail "the pattern is in the copy's file $f"; fi
if f=$(contains "$T/block37.sha" "$E2"); then fail "the plain SHA-256 is in the copy's file $f"; fi
SNAPFS_KEY_FILE=$T/key STORE=$E2 restore_check "$CID" "$T/src"
# And back, encrypted -> plain, which must decrypt on the way.
P2=$T/plain2
"$SNAPFS" --store "$P2" init >/dev/null
BID=$("$SNAPFS" --store "$E2" --key-file "$T/key" snapshot copy "$CID" --to-store "$P2")
STORE=$P2 restore_check "$BID" "$T/src"

log "7. --same-key-as: the same master key, stored bytes sent as they are"
E3=$T/enc3
"$SNAPFS" --store "$E3" init --encrypt --key-file "$T/key" --same-key-as "$STORE" >/dev/null
assert_eq "$(grep key_id "$E3/config")" "$(grep key_id "$STORE/config")" "key ids"
SID=$(sfs --key-file "$T/key" snapshot copy "$ID" --to-store "$E3")
SNAPFS_KEY_FILE=$T/key STORE=$E3 restore_check "$SID" "$T/src"
expect_error 1 nt "$SNAPFS" --store "$T/enc4" init --encrypt --key-file "$T/wrong" --same-key-as "$STORE"

log "8. passphrase change: old refused, new works, no pack rewritten"
PS=$T/pstore
echo "old secret" | "$SNAPFS" --store "$PS" init --encrypt --passphrase-fd 0 >/dev/null
PSID=$("$SNAPFS" --store "$PS" --passphrase-fd 3 snapshot create vol "$T/src" 3<<<"old secret")
packs_before=$(cd "$PS/packs" && stat -c '%n %Y %s' * && sha256sum *)
"$SNAPFS" --store "$PS" --passphrase-fd 3 key change-passphrase --new-passphrase-fd 4 \
	3<<<"old secret" 4<<<"new secret" >/dev/null || fail "change-passphrase"
expect_error 1 nt "$SNAPFS" --store "$PS" --passphrase-fd 3 snapshot list 3<<<"old secret"
"$SNAPFS" --store "$PS" --passphrase-fd 3 snapshot restore "$PSID" "$T/out" 3<<<"new secret" >/dev/null ||
	fail "restore with the new passphrase"
assert_same_file "$T/out" "$T/src" "restore after the passphrase change"
rm -f "$T/out"
assert_eq "$(cd "$PS/packs" && stat -c '%n %Y %s' * && sha256sum *)" "$packs_before" "packs after change-passphrase"
# A key file added beside it works too; the last key cannot be removed.
KID=$("$SNAPFS" --store "$PS" --passphrase-fd 3 key add-key-file "$T/key" 3<<<"new secret")
"$SNAPFS" --store "$PS" --key-file "$T/key" snapshot list >/dev/null || fail "the added key file does not unlock"
PWID=$("$SNAPFS" --store "$PS" key list --json | grep -B3 '"passphrase"' | json_field id)
"$SNAPFS" --store "$PS" --key-file "$T/key" key remove "$PWID" >/dev/null || fail "key remove"
expect_error 1 nt "$SNAPFS" --store "$PS" --passphrase-fd 3 snapshot list 3<<<"new secret"
expect_error 1 "$SNAPFS" --store "$PS" --key-file "$T/key" key remove "$KID"
"$SNAPFS" --store "$PS" --key-file "$T/key" key add-passphrase --new-passphrase-fd 3 3<<<"pw-0" >/dev/null

log "9. kill -9 during key change-passphrase leaves one of the two passphrases working"
works() { nt "$SNAPFS" --store "$PS" --passphrase-fd 3 snapshot list 3<<<"$1" >/dev/null 2>>"$T/works.err"; }
cur=pw-0
olds=0
news=0
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	next=pw-$i
	# Not under setsid, which may fork: the kill must reach snapfs itself.
	"$SNAPFS" --store "$PS" --passphrase-fd 3 key change-passphrase --new-passphrase-fd 4 \
		3<<<"$cur" 4<<<"$next" >/dev/null 2>&1 &
	pid=$!
	# 0.12 s to 1.44 s: from the first scrypt to past the rename.
	ms=$((i * 120))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	if works "$next"; then
		news=$((news + 1))
		works "$cur" && fail "trial $i: both the old and the new passphrase work"
		cur=$next
	elif works "$cur"; then
		olds=$((olds + 1))
	else
		fail "trial $i: neither '$cur' nor '$next' unlocks the store"
	fi
done
log "kill -9 trials: $olds left the old passphrase, $news the new one"
[ $olds -gt 0 ] && [ $news -gt 0 ] || soft_fail "the kill points did not cover both outcomes ($olds old, $news new)"
"$SNAPFS" --store "$PS" --key-file "$T/key" check --read-data >/dev/null || fail "check after the kills"
