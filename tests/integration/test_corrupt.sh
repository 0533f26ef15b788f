#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Damage a store three ways (a data record in a pack, a map page record,
# a snapshot record in the LMDB file): `check --read-data` reports each
# with a non-zero exit and a line that names the problem, and restore of
# the affected snapshot fails without leaving wrong bytes behind.
. "$(dirname "$0")/lib.sh" "$@"

sfs init >/dev/null
# Volume a: text (compresses). Volume b: different random data, so that
# damage to a's chunks leaves b intact.
seq 1 900000 >"$T/a.src"
head -c 3M /dev/urandom >"$T/b.src"
IDA=$(sfs snapshot create a "$T/a.src" --no-progress)
IDB=$(sfs snapshot create b "$T/b.src" --no-progress)
sfs check --read-data >/dev/null || fail "the fresh store does not check clean"
cp -a "$STORE" "$T/pristine"

# u32/u8 little-endian reads from a file.
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
hex32() { od -An -tx1 -j "$2" -N32 "$1" | tr -d ' \n'; }

# find_record PACK TYPE: offset of the first record of TYPE (1 data, 2 map),
# walking the records from the pack header (32 bytes; record headers 48).
find_record() {
	local pack=$1 type=$2 off=32 size stored
	size=$(stat -c %s "$pack")
	while [ $((off + 48)) -le "$size" ]; do
		[ "$(u32 "$pack" "$off")" = 1380140627 ] || fail "no record magic at $off in $pack"
		stored=$(u32 "$pack" $((off + 12)))
		if [ "$(u8 "$pack" $((off + 4)))" = "$type" ]; then
			echo "$off"
			return 0
		fi
		off=$((off + 48 + stored))
	done
	return 1
}

flip() { # FILE OFFSET
	local b
	b=$(u8 "$1" "$2")
	printf "$(printf '\\%03o' $((b ^ 0x55)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# expect_damage WHAT PATTERN ID...: check fails naming PATTERN; each ID's
# restore fails and leaves no file.
expect_damage() {
	local what=$1 pattern=$2 id rc
	shift 2
	rc=0
	sfs check --read-data >"$T/check.out" 2>&1 || rc=$?
	[ $rc -eq 1 ] || soft_fail "$what: check exited $rc: $(cat "$T/check.out")"
	if grep -qiE "$pattern" "$T/check.out"; then
		log "$what: check reports: $(grep -iE "$pattern" "$T/check.out" | head -n 1)"
	else
		soft_fail "$what: check output does not name the problem ($pattern): $(cat "$T/check.out")"
	fi
	for id in "$@"; do
		rc=0
		sfs snapshot restore "$id" "$T/out" >/dev/null 2>"$T/restore.err" || rc=$?
		[ $rc -ne 0 ] || fail "$what: restore of $id succeeded on a damaged store"
		[ ! -e "$T/out" ] || fail "$what: a failed restore of $id left $T/out behind"
		log "$what: restore of $id fails: $(head -n 1 "$T/restore.err")"
	done
}

reset_store() {
	rm -rf "$STORE"
	cp -a "$T/pristine" "$STORE"
}

PACK=$(ls "$STORE"/packs/*.pack | head -n 1)
PACKNAME=$(basename "$PACK")

log "1. a flipped byte inside a data record's payload"
OFF=$(find_record "$PACK" 1) || fail "no data record in $PACK"
CHUNK=$(hex32 "$PACK" $((OFF + 16)))
STORED=$(u32 "$PACK" $((OFF + 12)))
flip "$PACK" $((OFF + 48 + STORED / 2))
# The first data record belongs to volume a (created first).
expect_damage "data record" "$CHUNK|$PACKNAME" "$IDA"
restore_check "$IDB" "$T/b.src"

log "2. a flipped byte inside a map page record"
reset_store
OFF=$(find_record "$PACK" 2) || fail "no map record in $PACK"
CHUNK=$(hex32 "$PACK" $((OFF + 16)))
STORED=$(u32 "$PACK" $((OFF + 12)))
flip "$PACK" $((OFF + 48 + STORED - 1))
expect_damage "map page" "$CHUNK|$PACKNAME|map" "$IDA"

log "3. a flipped byte in a snapshot record inside the LMDB file"
reset_store
DB=$STORE/catalog/data.mdb
OFFS=$(grep -boa "\"id\":\"$IDA\"" "$DB" | cut -d: -f1)
[ -n "$OFFS" ] || fail "snapshot record of $IDA not found in $DB"
for o in $OFFS; do
	# "id":"snap-...: turn the 's' of snap into 't' (no longer an id).
	printf 't' | dd of="$DB" bs=1 seek=$((o + 6)) conv=notrunc status=none
done
expect_damage "catalog record" "$IDA|snapshot|catalog" "$IDA"
restore_check "$IDB" "$T/b.src"
# One damaged record must not lock the whole store: the other volume
# still takes snapshots.
sfs snapshot create b "$T/b.src" --no-progress >/dev/null 2>"$T/create.err" ||
	soft_fail "a damaged snapshot record of volume a blocks snapshots of volume b: $(cat "$T/create.err")"

log "4. a pack truncated in the middle of a record"
reset_store
truncate -s $(($(stat -c %s "$PACK") - 1000)) "$PACK"
rc=0
sfs check --read-data >"$T/check.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "truncated pack: check exited $rc: $(cat "$T/check.out")"
log "truncated pack: check reports: $(head -n 1 "$T/check.out")"
