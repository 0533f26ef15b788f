#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The built manual pages: each renders through man -l (and groff with all
# warnings) without a complaint, and says everything the program's own
# help says: every command of `snapfs --help`, every long option any
# `snapfs COMMAND [SUB] --help` names, every -o option of `snapfs mount
# --help`, every section of store/FORMAT.md. $2 is the directory the
# pages were built in, $3 store/FORMAT.md.
. "$(dirname "$0")/lib.sh" "$@"
MANDIR=$2
FORMAT=$3
unset SNAPFS_STORE

# render PAGE: the page as text, one line per paragraph (no wrapping, so
# no option is hyphenated across lines), with groff's typographic dashes
# turned back into '-'.
render() {
	local err
	err=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$1" 2>&1) ||
		fail "groff failed on $1: $err"
	[ -z "$err" ] || soft_fail "groff warns about $(basename "$1"): $err"
	LC_ALL=C.UTF-8 MANWIDTH=1000 MAN_KEEP_FORMATTING= man -l "$1" 2>/dev/null |
		sed 's/\xe2\x80\x90/-/g; s/\xe2\x88\x92/-/g; s/.\x08//g'
}

for p in snapfs.1 snapfs-mount.8 snapfs-store.5; do
	[ -s "$MANDIR/$p" ] || fail "$p was not built"
done
page1=$(render "$MANDIR/snapfs.1")
page8=$(render "$MANDIR/snapfs-mount.8")
page5=$(render "$MANDIR/snapfs-store.5")
grep -q '^SNAPFS(1)' <<<"$page1" || soft_fail "snapfs(1) has no title line"
grep -q '^SNAPFS-MOUNT(8)' <<<"$page8" || soft_fail "snapfs-mount(8) has no title line"
grep -q '^SNAPFS-STORE(5)' <<<"$page5" || soft_fail "snapfs-store(5) has no title line"

# The commands, as `snapfs --help` lists them.
top=$("$SNAPFS" --help)
cmds=$(sed -n '/^Commands:/,/^$/p' <<<"$top" | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' | sort -u)
[ "$(wc -w <<<"$cmds")" -ge 10 ] || fail "too few commands parsed from --help: $cmds"
checked=0
for c in $cmds; do
	grep -q "^ *snapfs $c\$" <<<"$page1" || soft_fail "snapfs(1) has no section for '$c'"
	helps=$("$SNAPFS" "$c" --help)
	# The subcommands each group names, and their own help when they have one.
	for s in $(sed -n 's/^  \([a-z][a-z|-]*\)\( .*\)\{0,1\}$/\1/p' <<<"$helps" | tr '|' ' '); do
		helps+=$'\n'$("$SNAPFS" "$c" "$s" --help </dev/null 2>/dev/null || true)
	done
	for o in $(grep -o -- '--[a-z][a-z0-9-]*' <<<"$helps" | sort -u); do
		checked=$((checked + 1))
		grep -q -- "$o" <<<"$page1" || soft_fail "snapfs(1) lacks $o of 'snapfs $c'"
	done
done
for o in $(grep -o -- '--[a-z][a-z0-9-]*' <<<"$top" | sort -u); do
	grep -q -- "$o" <<<"$page1" || soft_fail "snapfs(1) lacks global option $o"
done
[ "$checked" -ge 80 ] || fail "only $checked options found in the help texts"
log "snapfs(1): $(wc -w <<<"$cmds") commands, $checked options"

# snapfs-mount(8): each -o option as an entry of its own, and the fstab form.
mopts=$("$SNAPFS" mount --help | grep -o -- '-o [a-z_]*' | grep -v -- '-o $' | sort -u)
[ "$(wc -l <<<"$mopts")" -ge 6 ] || fail "too few mount options parsed: $mopts"
while read -r o; do
	grep -q "^       $o" <<<"$page8" || soft_fail "snapfs-mount(8) has no entry for '$o'"
done <<<"$mopts"
grep -q 'fuse.snapfs' <<<"$page8" || soft_fail "snapfs-mount(8) lacks the fstab type"
grep -q '^FSTAB' <<<"$page8" || soft_fail "snapfs-mount(8) lacks its FSTAB section"

# snapfs-store(5): every heading of the format document.
n=0
while read -r h; do
	n=$((n + 1))
	grep -qiF -- "$h" <<<"$page5" || soft_fail "snapfs-store(5) lacks section '$h'"
done < <(sed -n 's/^##* //p' "$FORMAT")
[ "$n" -ge 10 ] || fail "too few headings in $FORMAT"
log "snapfs-store(5): $n sections"
