#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Damage a store three ways (a data record in a pack, a map page record,
# a snapshot record in the LMDB file): `check --read-data` reports each
# with a non-zero exit and a line that names the problem, and restore of
# the affected snapshot fails without leaving wrong bytes behind. A
# catalog that lost pack.active is reported, and no pack is removed.
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

log "5. the catalog loses pack.active: check reports it and removes no pack"
# A store of its own with 1 MiB packs, so that there are several packs
# above any number recovery could wrongly start from.
command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null ||
	fail "mdb_dump/mdb_load (lmdb-utils, scripts/deps.sh) are needed"
rm -rf "$STORE"
sfs init >/dev/null
sed -i 's/^pack_size = .*/pack_size = 1048576/' "$STORE/config"
head -c 3M /dev/urandom >"$T/c.src"
head -c 2M /dev/urandom >"$T/d.src"
IDC=$(sfs snapshot create c "$T/c.src" --no-progress)
IDD=$(sfs snapshot create d "$T/d.src" --no-progress)
(cd "$STORE/packs" && stat -c '%n %s' -- *.pack) >"$T/packs.before"
[ "$(wc -l <"$T/packs.before")" -ge 4 ] || fail "expected several packs: $(cat "$T/packs.before")"
# Drop the key: dump the catalog, leave out pack.active, load it afresh.
KEY=" $(printf 'pack.active' | od -An -tx1 | tr -d ' \n')"
mdb_dump -a "$STORE/catalog" >"$T/cat.dump"
awk -v k="$KEY" 'skip { skip = 0; next } $0 == k { skip = 1; next } { print }' \
	"$T/cat.dump" >"$T/cat.dump2"
[ "$(wc -l <"$T/cat.dump2")" -eq $(($(wc -l <"$T/cat.dump") - 2)) ] ||
	fail "pack.active not found in the catalog dump"
mkdir "$T/newcat"
mdb_load -f "$T/cat.dump2" "$T/newcat" 2>/dev/null
mv "$T/newcat/data.mdb" "$STORE/catalog/data.mdb"
rm -f "$STORE/catalog/lock.mdb"

rc=0
sfs check >"$T/check.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || soft_fail "lost pack.active: check exited $rc: $(cat "$T/check.out")"
grep -q "meta key pack.active is missing" "$T/check.out" ||
	soft_fail "lost pack.active: check does not name it: $(cat "$T/check.out")"
log "lost pack.active: check reports: $(grep "meta key pack.active" "$T/check.out" | head -n 1)"
(cd "$STORE/packs" && stat -c '%n %s' -- *.pack) >"$T/packs.after"
diff "$T/packs.before" "$T/packs.after" >/dev/null ||
	fail "lost pack.active: check removed or truncated packs: $(diff "$T/packs.before" "$T/packs.after" | tr '\n' ' ')"
# The same through an ordinary writer, which then records a committed end
# above every pack again.
head -c 1M /dev/urandom >"$T/e.src"
sfs snapshot create e "$T/e.src" --no-progress >/dev/null ||
	soft_fail "lost pack.active: snapshot create fails"
(cd "$STORE/packs" && stat -c '%n %s' -- *.pack) >"$T/packs.after"
[ -z "$(comm -23 "$T/packs.before" "$T/packs.after")" ] ||
	fail "lost pack.active: snapshot create changed existing packs: $(comm -23 "$T/packs.before" "$T/packs.after" | tr '\n' ' ')"
for pair in "$IDC:c" "$IDD:d"; do
	rm -f "$T/out"
	sfs snapshot restore "${pair%%:*}" "$T/out" >/dev/null ||
		fail "lost pack.active: restore of ${pair%%:*} fails"
	cmp -s "$T/out" "$T/${pair#*:}.src" || fail "lost pack.active: ${pair%%:*} restores other bytes"
done
sfs check --read-data >"$T/check.out" 2>&1 ||
	soft_fail "after the next snapshot the store should check clean: $(cat "$T/check.out")"
