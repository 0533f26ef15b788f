#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `meson install` into a DESTDIR: the binary, the three manual pages, the
# bash completion and the systemd units land where the system looks for
# them, the units run the installed binary, and what was installed works
# from there (the binary runs, man renders the pages, the completion
# completes), and `mount -t fuse.snapfs` and README's fstab line mount a
# store through mount(8) and read a snapshot byte-exact with the installed
# binary. $2 is the build directory, $3 the prefix, $4 bindir, $5
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

# mount -t fuse.snapfs and the README's fstab line, with the installed
# binary. mount(8) starts mount.fuse3 with a PATH of its own, which then
# runs `snapfs STORE MOUNTPOINT -o OPTIONS`, so the binary must be where
# the system's bin directories are: in a private mount namespace, the
# installed bindir is bound over the real one (the host is not touched),
# and so is a scratch fstab over /etc/fstab.
if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ] || ! command -v unshare >/dev/null; then
	log "mount(8) part skipped: needs root, /dev/fuse and unshare"
	exit 0
fi
case $BINDIR in
/usr/local/bin | /usr/bin | /bin | /usr/local/sbin | /usr/sbin | /sbin) ;;
*)
	log "mount(8) part skipped: $BINDIR is not on mount(8)'s helper PATH"
	exit 0
	;;
esac
README=$(dirname "$0")/../../README.md
line=$(sed -n 's|^# /etc/fstab: *\(/var/lib/snapfs .*\)$|\1|p' "$README")
[ -n "$line" ] || fail "README shows no fstab line"
"$D$BINDIR/snapfs" --store "$STORE" init >/dev/null || fail "init with the installed binary"
head -c $((3 << 20)) /dev/urandom >"$T/vol.img"
SNAP=$("$D$BINDIR/snapfs" --store "$STORE" snapshot create vol "$T/vol.img" --no-progress) ||
	fail "snapshot create with the installed binary"
MNT=$T/mnt
mkdir -p "$MNT"
# The README's line with this test's store and mount point.
line=${line/\/var\/lib\/snapfs/$STORE}
line=${line/\/mnt\/snaps/$MNT}
printf '%s\n' "$line" >"$T/fstab"
log "fstab: $line"
unshare -m --propagation private bash -euc '
	D=$1 BINDIR=$2 STORE=$3 MNT=$4 SNAP=$5 T=$6
	trap "mountpoint -q \"\$MNT\" && umount \"\$MNT\"" EXIT
	mount --bind "$D$BINDIR" "$BINDIR"
	[ "$(command -v snapfs)" = "$BINDIR/snapfs" ] || hash -r
	mount -t fuse.snapfs "$STORE" "$MNT" -o ro,nofail,cache_size=16M ||
		{ echo "mount -t fuse.snapfs failed" >&2; exit 1; }
	grep -q " $MNT fuse.snapfs ro," /proc/mounts || { echo "not a read-only fuse.snapfs mount" >&2; exit 1; }
	cmp "$MNT/snapshots/$SNAP.img" "$T/vol.img" || { echo "mount -t: bytes differ" >&2; exit 1; }
	umount "$MNT"
	mount --bind "$T/fstab" /etc/fstab
	mount "$MNT" || { echo "mount MOUNTPOINT with the fstab line failed" >&2; exit 1; }
	cmp "$MNT/volumes/vol/latest.img" "$T/vol.img" || { echo "fstab mount: bytes differ" >&2; exit 1; }
	umount "$MNT"
' _ "$D" "$BINDIR" "$STORE" "$MNT" "$SNAP" "$T" 2>"$T/mount.err" ||
	fail "mount(8) with the installed binary: $(cat "$T/mount.err")"
log "mount -t fuse.snapfs and the fstab line work with the installed $BINDIR/snapfs"
