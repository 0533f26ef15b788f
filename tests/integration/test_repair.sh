#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Repair never destroys: the store keeps a verified copy of its catalog
# (catalog/copy.mdb), and `check --repair` restores a lost or unreadable
# catalog from it, re-indexes from the packs what the index lacks, reports
# what is lost, and never removes or shortens a pack. `check` without
# --repair changes nothing. A writer killed while it writes the copy
# leaves the old copy intact.
. "$(dirname "$0")/lib.sh" "$@"

for t in mdb_dump mdb_load mdb_stat; do
	command -v $t >/dev/null || fail "$t (lmdb-utils, scripts/deps.sh) is needed"
done

CAT=$STORE/catalog
sfs init >/dev/null
# Small packs, so that the store has several and a repair must walk them all.
sed -i 's/^pack_size = .*/pack_size = 1048576/' "$STORE/config"

snap() { # VOLUME FILE: snapshot FILE, keep a copy of its bytes for the restore
	local id
	id=$(sfs snapshot create "$1" "$2" --no-progress) || fail "snapshot of $1 failed"
	cp "$2" "$T/src.$id"
	echo "$id"
}
head -c 3M /dev/urandom >"$T/a"
head -c 2M /dev/urandom >"$T/b"
A1=$(snap a "$T/a")
head -c 256K /dev/urandom | dd of="$T/a" bs=64K seek=5 conv=notrunc status=none
A2=$(snap a "$T/a")
B1=$(snap b "$T/b")
[ -f "$CAT/copy.mdb" ] || fail "no catalog copy after three snapshots"
mdb_stat -n "$CAT/copy.mdb" >/dev/null || fail "the catalog copy does not open"
cp "$CAT/copy.mdb" "$T/copy.early"
EARLY="$A1 $A2 $B1"
head -c 512K /dev/urandom | dd of="$T/b" bs=64K seek=3 conv=notrunc status=none
B2=$(snap b "$T/b")
head -c 2M /dev/urandom >"$T/c"
C1=$(snap c "$T/c")
ALL="$EARLY $B2 $C1"
sfs check --read-data >/dev/null || fail "the fresh store does not check clean"
cp -a "$STORE" "$T/pristine"

reset_store() {
	rm -rf "$STORE"
	cp -a "$T/pristine" "$STORE"
}
packs() { (cd "$STORE/packs" && stat -c '%n %s' -- *.pack) }
# packs_kept WHAT: every pack of the pristine store is there, as long.
packs_kept() {
	packs >"$T/packs.after"
	(cd "$T/pristine/packs" && stat -c '%n %s' -- *.pack) >"$T/packs.before"
	[ -z "$(comm -23 "$T/packs.before" "$T/packs.after")" ] ||
		fail "$1: repair removed or shortened packs: $(comm -23 "$T/packs.before" "$T/packs.after" | tr '\n' ' ')"
}
restores() { # WHAT ID...: every ID restores byte for byte
	local what=$1 id
	shift
	for id in "$@"; do
		rm -f "$T/out"
		sfs snapshot restore "$id" "$T/out" >/dev/null 2>"$T/restore.err" ||
			fail "$what: restore of $id fails: $(cat "$T/restore.err")"
		cmp -s "$T/out" "$T/src.$id" || fail "$what: $id restores other bytes"
	done
}
# store_sums: every file of the store but LMDB's reader table and the
# writer lock's pid, hashed; of the catalog, every database as mdb_dump
# prints it, but for the meta keys check.* (check records its result
# there, and changes nothing else).
store_sums() {
	(cd "$STORE" && find . -type f ! -name lock.mdb ! -name lock ! -name data.mdb -print0 |
		sort -z | xargs -0 sha256sum)
	[ -f "$CAT/data.mdb" ] || return 0
	# (maxreaders is the reader table's, whoever made lock.mdb first)
	mdb_dump -a -p "$CAT" 2>&1 | awk '
		/^maxreaders=/ { next }
		/^database=/ { db = $0 } /^HEADER=END/ { body = 1; n = 0; next } /^DATA=END/ { body = 0 }
		!body { print; next }
		{ n++ } n % 2 == 1 { key = $0 }
		n % 2 == 0 && !(db == "database=meta" && key ~ /^ check\./) { print key; print }'
}
repair() { # WHAT: check --repair must succeed
	local rc=0
	sfs check --repair --no-progress >"$T/repair.out" 2>&1 || rc=$?
	[ $rc -eq 0 ] || fail "$1: check --repair exited $rc: $(cat "$T/repair.out")"
	log "$1: $(grep '^repair:' "$T/repair.out" | tr '\n' ' ')"
}

log "a. catalog/data.mdb deleted: check --repair restores it from the copy"
reset_store
rm "$CAT/data.mdb"
rc=0
sfs snapshot list >/dev/null 2>"$T/err" || rc=$?
[ $rc -ne 0 ] || fail "a store without data.mdb lists as if it were empty"
grep -q -- "--repair" "$T/err" || soft_fail "the error does not point at check --repair: $(cat "$T/err")"
[ ! -e "$CAT/data.mdb" ] || fail "a read of the store made a new, empty catalog"
before=$(store_sums)
rc=0
sfs check >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "check passes on a store without a catalog"
[ "$before" = "$(store_sums)" ] || fail "check without --repair changed the store"
repair "deleted catalog"
grep -q "restored from its copy" "$T/repair.out" || fail "the repair does not say it restored the copy"
restores "deleted catalog" $ALL
packs_kept "deleted catalog"
sfs check --read-data >/dev/null || fail "deleted catalog: check --read-data fails after the repair"
head -c 1M /dev/urandom >"$T/d"
snap d "$T/d" >/dev/null

log "a2. deleted catalog, copy older than the last snapshots: their chunks are re-indexed"
reset_store
cp "$T/copy.early" "$CAT/copy.mdb"
rm "$CAT/data.mdb"
repair "older copy"
restores "older copy" $EARLY
for id in $B2 $C1; do
	sfs snapshot show "$id" >/dev/null 2>&1 && fail "older copy: $id is in a copy made before it"
done
n=$(sed -n 's/.* \([0-9][0-9]*\) chunks re-indexed from packs.*/\1/p' "$T/repair.out")
[ "${n:-0}" -gt 0 ] || fail "older copy: no chunk re-indexed from the packs: $(cat "$T/repair.out")"
grep -q "map trees in the packs belong to no snapshot record" "$T/repair.out" ||
	fail "older copy: the snapshots newer than the copy are not reported"
packs_kept "older copy"
sfs check --read-data >/dev/null || fail "older copy: check --read-data fails after the repair"
# The lost snapshot's data stayed: snapshotting the same bytes stores nothing new.
id=$(sfs snapshot create c "$T/src.$C1" --no-progress)
sfs snapshot show "$id" --json >"$T/show.json"
[ "$(json_field new_chunks <"$T/show.json")" = 0 ] ||
	fail "older copy: a snapshot of c after the repair stored $(json_field new_chunks <"$T/show.json") new chunks"
packs_kept "older copy, then a snapshot"

log "b. catalog/data.mdb overwritten with garbage"
reset_store
head -c "$(stat -c %s "$CAT/data.mdb")" /dev/urandom >"$CAT/data.mdb"
cp "$CAT/data.mdb" "$T/garbage"
repair "garbage catalog"
kept=$(ls "$CAT"/data.mdb.damaged-* 2>/dev/null | head -n 1)
[ -n "$kept" ] || fail "garbage catalog: the damaged file was not kept"
cmp -s "$kept" "$T/garbage" || fail "garbage catalog: the kept file is not the damaged one"
restores "garbage catalog" $ALL
packs_kept "garbage catalog"

log "b2. every page past LMDB's meta pages overwritten: LMDB errs or faults"
reset_store
sz=$(stat -c %s "$CAT/data.mdb")
head -c $((sz - 8192)) /dev/urandom | dd of="$CAT/data.mdb" bs=4096 seek=2 conv=notrunc status=none
rc=0
sfs snapshot list >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "a damaged catalog: snapshot list exited $rc"
repair "damaged pages"
grep -q "restored from its copy" "$T/repair.out" || fail "damaged pages: the copy was not restored"
restores "damaged pages" $ALL
packs_kept "damaged pages"
sfs check --read-data >/dev/null || fail "damaged pages: check --read-data fails after the repair"

log "c. chunk-index entries deleted: check reports them, check --repair re-indexes them"
reset_store
mdb_dump -a "$CAT" >"$T/cat.dump"
# Drop every 4th key/value pair of the chunks database (values are hex lines).
awk '/^database=/ { db = substr($0, 10) }
     /^HEADER=END/ { n = 0; print; next }
     db == "chunks" && /^ / { k = n; n++; if (int(k / 2) % 4 == 0) { dropped++; next } }
     { print }
     END { print (dropped / 2) > "/dev/stderr" }' "$T/cat.dump" >"$T/cat.dump2" 2>"$T/dropped"
dropped=$(cat "$T/dropped")
[ "$dropped" -gt 0 ] || fail "no chunk entry dropped"
mkdir "$T/newcat"
mdb_load -f "$T/cat.dump2" "$T/newcat" 2>/dev/null
mv "$T/newcat/data.mdb" "$CAT/data.mdb"
rm -rf "$T/newcat" "$CAT/lock.mdb"
before=$(store_sums)
rc=0
sfs check >"$T/check.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "missing index entries: check exited $rc"
grep -qE "missing|cannot be read" "$T/check.out" || fail "missing index entries are not reported: $(cat "$T/check.out")"
[ "$before" = "$(store_sums)" ] || fail "check without --repair changed the store"
repair "missing index entries"
grep -q "restored from its copy" "$T/repair.out" && fail "a readable catalog was replaced by its copy"
n=$(sed -n 's/.* \([0-9][0-9]*\) chunks re-indexed from packs.*/\1/p' "$T/repair.out")
[ "$n" = "$dropped" ] || fail "missing index entries: $dropped dropped, ${n:-no} re-indexed"
sfs check --read-data >"$T/check.out" 2>&1 || fail "check fails after the repair: $(cat "$T/check.out")"
restores "missing index entries" $ALL
packs_kept "missing index entries"
log "c2. a healthy store: check --repair re-indexes nothing and changes no pack"
repair "healthy"
grep -q " 0 chunks re-indexed from packs, 0 index entries replaced" "$T/repair.out" ||
	fail "healthy store: $(cat "$T/repair.out")"
packs_kept "healthy"

log "d. kill -9 while a writer writes the copy: the old copy stays"
reset_store
# A catalog big enough that its copy takes a while: 4 KiB blocks, 32k chunks.
rm -rf "$STORE"
sfs init --block-size 4K >/dev/null
python3 -c '
import struct, sys
out = sys.stdout.buffer
for i in range(32768):
    out.write(struct.pack("<Q", i + 1) + bytes(4088))' >"$T/big"
sfs snapshot create big "$T/big" --no-progress >/dev/null
: >"$T/nothing"
hits=0
for try in $(seq 1 40); do
	sha_old=$(sha "$CAT/copy.mdb")
	rm -f "$CAT/copy.mdb.tmp"
	"$SNAPFS" --store "$STORE" snapshot create big "$T/big" --changed-ranges "$T/nothing" \
		--no-progress >/dev/null 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && [ ! -s "$CAT/copy.mdb.tmp" ]; do :; done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	mdb_stat -n "$CAT/copy.mdb" >/dev/null 2>&1 || fail "try $try: the copy does not open after kill -9"
	if [ -e "$CAT/copy.mdb.tmp" ]; then
		[ "$(sha "$CAT/copy.mdb")" = "$sha_old" ] ||
			fail "try $try: killed while writing the copy, yet the old copy changed"
		hits=$((hits + 1))
		[ $hits -ge 3 ] && break
	fi
done
[ $hits -gt 0 ] || fail "no kill landed while the copy was being written"
log "$hits kills landed while the copy was being written; the old copy stayed"
# The killed writer's leftover is the next writer's to clear, and the copy
# it left restores the catalog.
rm "$CAT/data.mdb"
repair "after kill -9"
sfs check --read-data >/dev/null || fail "after kill -9: check --read-data fails after the repair"
sfs snapshot create big "$T/big" --changed-ranges "$T/nothing" --no-progress >/dev/null
[ ! -e "$CAT/copy.mdb.tmp" ] || fail "a writer left the temporary copy behind"

log "f. a catalog with a damaged record never replaces a good copy"
reset_store
sha_old=$(sha "$CAT/copy.mdb")
OFFS=$(grep -boa "\"id\":\"$A1\"" "$CAT/data.mdb" | cut -d: -f1)
[ -n "$OFFS" ] || fail "snapshot record of $A1 not found in data.mdb"
for o in $OFFS; do
	# "id":"snap-...: a 'u' for the 'n' of snap, which the record's sum catches
	printf 'u' | dd of="$CAT/data.mdb" bs=1 seek=$((o + 7)) conv=notrunc status=none
done
head -c 1M /dev/urandom >"$T/e"
sfs snapshot create e "$T/e" --no-progress >/dev/null 2>"$T/err" ||
	fail "damaged record: a snapshot of another volume fails: $(cat "$T/err")"
grep -q "damaged records" "$T/err" || soft_fail "damaged record: no word that the copy was not refreshed: $(cat "$T/err")"
[ "$(sha "$CAT/copy.mdb")" = "$sha_old" ] || fail "a catalog with a damaged record replaced the copy"
