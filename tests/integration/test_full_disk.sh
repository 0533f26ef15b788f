#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A store on a disk with no free byte left can always be shrunk: the
# create that filled it fails with one line, delete still commits (the
# catalog keeps space allocated ahead), gc frees the packs of deleted
# snapshots without needing room for a new pack (the active pack is
# emptied in place), and afterwards everything kept restores byte-exact.
. "$(dirname "$0")/lib.sh" "$@"
need_root

# The space reserve grows with the packs as a writer adds them, not at
# the next open: after a first snapshot of 160 MiB of random data into an
# empty store, a 1/64 of its packs (within a quarter pack, the default
# pack size allows it), not the 1 MiB floor an empty store starts with.
RS=$T/grows
"$SNAPFS" --store "$RS" init >/dev/null
head -c 160M /dev/urandom >"$T/big"
"$SNAPFS" --store "$RS" snapshot create big "$T/big" --no-progress >/dev/null || fail "snapshot of 160 MiB"
packs=$(du -s -B1 "$RS/packs" | cut -f1)
reserve=$(du -s -B1 "$RS/reserve" | cut -f1)
log "after one snapshot: packs $packs bytes, reserve $reserve bytes"
[ "$reserve" -ge $((packs / 64 - 4096)) ] || fail "reserve $reserve bytes for $packs bytes of packs"
rm -rf "$RS" "$T/big"

FULL=$T/full
mkdir -p "$FULL"
mount -t tmpfs -o size=64m tmpfs "$FULL"
track_mount "$FULL"
FS=$FULL/store
f() { "$SNAPFS" --store "$FS" "$@"; }
f init >/dev/null
# Small packs, so that a deleted snapshot's data has packs of its own.
sed -i 's/^pack_size = .*/pack_size = 2097152/' "$FS/config"

head -c 6M /dev/urandom >"$T/keep"
KEEP=$(f snapshot create keep "$T/keep" --no-progress)
n=0 rc=0
while [ $n -lt 20 ]; do
	head -c 6M /dev/urandom >"$T/src"
	f snapshot create "v$n" "$T/src" --no-progress >/dev/null 2>"$T/err" || { rc=$?; break; }
	n=$((n + 1))
done
[ $rc -eq 1 ] || fail "the create that filled the disk exited $rc (after $n snapshots)"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "a full disk is more than one line: $(cat "$T/err")"
grep -qi "space" "$T/err" || fail "the error does not say the disk is full: $(cat "$T/err")"
log "disk full after $n more snapshots: $(cat "$T/err")"
# Whatever is left goes to another user of the disk.
dd if=/dev/zero of="$FULL/filler" bs=64k status=none 2>/dev/null || true
[ "$(df --output=avail -B1 "$FULL" | tail -1)" -lt 65536 ] || fail "the disk is not full"

IDS=$(f snapshot list --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin) if s["volume"] != "keep"))')
f snapshot delete $IDS >/dev/null 2>"$T/err" || fail "delete on a full disk: $(cat "$T/err")"
before=$(df --output=avail -B1 "$FULL" | tail -1)
f gc >"$T/out" 2>"$T/err" || fail "gc on a full disk: $(cat "$T/out" "$T/err")"
after=$(df --output=avail -B1 "$FULL" | tail -1)
log "gc on a full disk: $(tail -1 "$T/out"); free $before -> $after bytes"
[ $((after - before)) -ge $((4 << 20)) ] || fail "gc freed only $((after - before)) bytes"
f check --read-data >"$T/out" 2>&1 || fail "check after gc on a full disk: $(cat "$T/out")"
f snapshot restore "$KEEP" "$T/restored" || fail "restore of the kept snapshot"
cmp -s "$T/restored" "$T/keep" || fail "the kept snapshot differs after gc on a full disk"
rm -f "$T/restored" "$FULL/filler"
head -c 2M /dev/urandom >"$T/new"
f snapshot create new "$T/new" --no-progress >/dev/null || fail "no snapshot after space came back"
f check --read-data >/dev/null || fail "final check"
