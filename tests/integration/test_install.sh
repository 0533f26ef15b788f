#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `meson install` into a DESTDIR: the binary, the three manual pages, the
# bash completion and the systemd units land where the system looks for
# them, the units run the installed binary, and what was installed works
# from there (the binary runs, man renders the pages, the completion
# completes). $2 is the build directory, $3 the prefix, $4 bindir, $5
# mandir, $6 datadir (meson's, relative to the prefix or absolute).
. "$(dirname "$0")/lib.sh" "$@"
BUILD=$2
PREFIX=$3
abs() { case $1 in /*) echo "$1" ;; *) echo "$PREFIX/$1" ;; esac; }
BINDIR=$(abs "$4")
MANDIR=$(abs "$5")
DATADIR=$(abs "$6")
D=$T/root

meson install -C "$BUILD" --no-rebuild --destdir "$D" --quiet >"$T/install.log" 2>&1 ||
	fail "meson install: $(tail -5 "$T/install.log")"

expect_file() {
	[ -f "$D$1" ] || soft_fail "not installed: $1"
}
expect_file "$BINDIR/snapfs"
[ -x "$D$BINDIR/snapfs" ] || soft_fail "$BINDIR/snapfs is not executable"
"$D$BINDIR/snapfs" --version | grep -q '^snapfs ' || soft_fail "the installed binary does not run"
for p in man1/snapfs.1 man8/snapfs-mount.8 man5/snapfs-store.5; do
	expect_file "$MANDIR/$p"
	LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$D$MANDIR/$p" 2>&1 | grep -q '^NAME' ||
		soft_fail "man -l $MANDIR/$p does not render"
done
# man finds the pages by name in the installed tree.
MANPATH=$D$MANDIR man -w snapfs-mount 2>/dev/null | grep -q "snapfs-mount.8" ||
	soft_fail "man -w snapfs-mount does not find the installed page"

comp=$(pkg-config --variable=completionsdir bash-completion 2>/dev/null || true)
case $comp in
"$PREFIX"/*) ;;  # bash-completion's own dir is under our prefix
*) comp=$DATADIR/bash-completion/completions ;;
esac
expect_file "$comp/snapfs"
got=$(PATH=$D$BINDIR:$PATH bash --norc -c '. "$1"; COMP_WORDS=(snapfs sn); COMP_CWORD=1;
	_snapfs snapfs sn snapfs; echo "${COMPREPLY[*]}"' _ "$D$comp/snapfs")
[ "$got" = snapshot ] || soft_fail "the installed completion offers '$got' for 'snapfs sn'"

UNITS=$PREFIX/lib/systemd/system
for u in snapfs@.service snapfs-policy.service snapfs-policy.timer; do
	expect_file "$UNITS/$u"
done
for u in snapfs@.service snapfs-policy.service; do
	exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$D$UNITS/$u")
	[ "$exe" = "$BINDIR/snapfs" ] || soft_fail "$u runs '$exe', not $BINDIR/snapfs"
	[ -x "$D$exe" ] || soft_fail "$u runs $exe, which was not installed"
done
grep -q '^OnCalendar=' "$D$UNITS/snapfs-policy.timer" || soft_fail "the timer lost its schedule"
expect_file "$DATADIR/doc/snapfs/examples/mnt-snaps.mount"
if command -v systemd-analyze >/dev/null; then
	# Only the syntax: the units name paths of the real system.
	systemd-analyze verify --man=no "$D$UNITS/snapfs-policy.timer" "$D$UNITS/snapfs-policy.service" \
		>"$T/verify.log" 2>&1 || log "systemd-analyze verify: $(head -3 "$T/verify.log")"
fi
log "installed: $(cd "$D" && find . -type f | sort | tr '\n' ' ')"
