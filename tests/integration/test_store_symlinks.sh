#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Root over a store another user owns: the owner replaces the store's
# lock, catalog/lock.mdb and a pack with symlinks to a root-owned canary.
# Root's `snapshot list`, `check` and `snapshot create` must leave the
# canary byte-identical, and each either fails with one clear line or
# succeeds without touching it. Needs root (useradd); the user is removed
# by the trap.
. "$(dirname "$0")/lib.sh" "$@"
need_root

OWNER=sfsown$$
add_user "$OWNER"

sfs init >/dev/null
sed -i 's/^pack_size = .*/pack_size = 1048576/' "$STORE/config"
head -c 3M /dev/urandom >"$T/a.src"
head -c 1M /dev/urandom >"$T/b.src"
SNAP=$(sfs snapshot create a "$T/a.src" --no-progress)
# A writer leaves the lock behind; make sure there is one to replace.
[ -e "$STORE/lock" ] || fail "no lock file in a store that was written"
chown -R "$OWNER": "$STORE"
cp -a "$STORE" "$T/pristine"

CANARY=$T/canary
head -c 64K /dev/urandom >"$T/canary.orig"
PACK=$(cd "$STORE/packs" && ls | head -n 1)

# plant NAME...: a fresh copy of the store, then NAME(s) replaced by a
# symlink to a fresh root-owned canary, as the owner would.
plant() {
	local n
	rm -rf "$STORE"
	cp -a "$T/pristine" "$STORE"
	cp "$T/canary.orig" "$CANARY"
	chown root:root "$CANARY"
	chmod 644 "$CANARY"
	for n in "$@"; do
		rm -f "$STORE/$n"
		ln -s "$CANARY" "$STORE/$n"
		chown -h "$OWNER": "$STORE/$n"
	done
}

# run WHAT CMD...: as root; the canary must be unchanged, and the
# command must either succeed or fail with one line that says why.
run() {
	local what=$1 rc=0
	shift
	sfs "$@" >"$T/out" 2>"$T/err" || rc=$?
	if ! cmp -s "$CANARY" "$T/canary.orig"; then
		soft_fail "$what: '$*' as root changed the canary through a planted symlink"
		cp "$T/canary.orig" "$CANARY"
	fi
	if [ $rc -ne 0 ]; then
		[ -s "$T/err" ] || soft_fail "$what: '$*' failed (exit $rc) without saying why"
		log "$what: '${*:1:2}' fails: $(tail -n 1 "$T/err")"
	else
		log "$what: '${*:1:2}' succeeds, canary intact"
	fi
	return 0
}

# expect_refused WHAT CMD...: as run, and the command must fail naming the
# symlink problem.
expect_refused() {
	local what=$1
	run "$@"
	if ! grep -qiE "symlink|not a regular file|not a directory" "$T/err"; then
		soft_fail "$what: '$2' does not refuse the planted link: $(cat "$T/err" "$T/out" | head -n 3)"
	fi
}

log "1. lock, catalog/lock.mdb and a pack, all at once"
plant lock catalog/lock.mdb "packs/$PACK"
expect_refused "all" snapshot list
expect_refused "all" check
expect_refused "all" snapshot create b "$T/b.src" --no-progress

log "2. catalog/lock.mdb alone"
plant catalog/lock.mdb
expect_refused "lock.mdb" snapshot list
expect_refused "lock.mdb" check
expect_refused "lock.mdb" snapshot create b "$T/b.src" --no-progress

log "3. the writer lock alone"
plant lock
run "lock" snapshot list
grep -q "$SNAP" "$T/out" || soft_fail "lock: snapshot list does not list $SNAP"
# check only reads (it never opens the writer lock): it reports the link.
run "lock" check
grep -qi "symlink" "$T/out" "$T/err" ||
	soft_fail "lock: 'check' does not report the planted link: $(cat "$T/err" "$T/out" | head -n 3)"
expect_refused "lock" snapshot create b "$T/b.src" --no-progress

log "4. a pack alone"
plant "packs/$PACK"
run "pack" snapshot list
grep -q "$SNAP" "$T/out" || soft_fail "pack: snapshot list does not list $SNAP"
run "pack" check --read-data
grep -q "$PACK" "$T/out" "$T/err" || soft_fail "pack: check does not name $PACK: $(cat "$T/out")"
run "pack" snapshot create b "$T/b.src" --no-progress
run "pack" snapshot restore "$SNAP" "$T/restored"
[ -L "$STORE/packs/$PACK" ] || soft_fail "pack: the planted link was removed or replaced"

log "5. packs/ and catalog/ themselves replaced by symlinks"
plant
mv "$STORE/packs" "$T/packs.real"
ln -s "$T/packs.real" "$STORE/packs"
expect_refused "packs/" snapshot list
rm "$STORE/packs"
mv "$T/packs.real" "$STORE/packs"
mv "$STORE/catalog" "$T/catalog.real"
ln -s "$T/catalog.real" "$STORE/catalog"
expect_refused "catalog/" snapshot list
rm "$STORE/catalog"
mv "$T/catalog.real" "$STORE/catalog"

log "6. the untouched store still works as root, and new files stay the owner's"
plant
sfs snapshot list >/dev/null || fail "a clean store owned by $OWNER fails for root"
sfs check >/dev/null || fail "a clean store owned by $OWNER does not check clean as root"
rm -f "$STORE/catalog/lock.mdb"
sfs snapshot list >/dev/null || fail "snapshot list without lock.mdb fails"
[ "$(stat -c %U "$STORE/catalog/lock.mdb")" = "$OWNER" ] ||
	soft_fail "root created catalog/lock.mdb as $(stat -c %U "$STORE/catalog/lock.mdb"), not as the store's owner"
