#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Libraries loaded on first use. librados (and the Ceph libraries under
# it) is loaded only when a store on RADOS is opened: a local store's mount
# and CLI never map it, a RADOS store spec loads it, and without it a RADOS
# store fails in one line naming the package while local stores work as
# before. Needs no cluster (test_rados.sh checks that a RADOS mount has it
# mapped). libcrypto is loaded for SHA-256 ids and encryption only: a
# mount of a plain store that reads every byte never maps it, and works
# without it; a snapshot without it stops in one line, the store as it
# was.
. "$(dirname "$0")/lib.sh" "$@"
need_root
if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "SKIP: no /dev/fuse" >&2
	exit 77
fi

sfs init >/dev/null
head -c 1M /dev/urandom >"$T/d"
S=$(sfs snapshot create alpha "$T/d")
mount_snapfs "$T/mnt" "snapshots/$S.img"
assert_same_file "$T/mnt/snapshots/$S.img" "$T/d" "read through the mount"
pid=$("$SNAPFS" mount-status "$T/mnt" --json | json_field pid)
[ -n "$pid" ] && [ -r "/proc/$pid/maps" ] || fail "no mount process (pid '$pid')"
# The maps are read for real: the mount maps libfuse.
grep -q 'libfuse3' "/proc/$pid/maps" || fail "the mount's maps show no libfuse3"
if grep '/librados' "/proc/$pid/maps" >"$T/maps"; then
	fail "the mount of a local store maps librados: $(head -n 1 "$T/maps")"
fi
if grep '/libcrypto' "/proc/$pid/maps" >"$T/maps"; then
	fail "the mount of a plain store maps libcrypto: $(head -n 1 "$T/maps")"
fi
umount_tracked "$T/mnt"
if readelf -d "$SNAPFS" | grep 'NEEDED.*libcrypto' >"$T/needed"; then
	fail "the binary links libcrypto at start-up: $(cat "$T/needed")"
fi
# A snapshot hashes its blocks: that loads it.
LD_DEBUG=files sfs snapshot create alpha "$T/d" >/dev/null 2>"$T/ld" || fail "snapshot create"
grep -q 'file=libcrypto\.so\.3 .*dynamically loaded' "$T/ld" ||
	fail "a snapshot did not load libcrypto: $(grep -c file= "$T/ld") loads"

# libcrypto unreadable (bind-mounted over in a mount namespace of its own):
# a plain store still lists and mounts and serves every byte; a snapshot
# stops with one line before it changes the store.
CRYPTO=$(readlink -f "$(ldconfig -p | sed -n 's/.*libcrypto\.so\.3 .*=> //p' | head -n 1)")
[ -f "$CRYPTO" ] || fail "libcrypto.so.3 not found by ldconfig"
before=$(store_state)
unshare -m bash -c 'mount --bind /dev/null "$1" || exit 9
	"$2" --store "$3" mount "$4" || exit 10
	cmp "$4/snapshots/$5.img" "$6"; rc=$?
	fusermount3 -u "$4"; exit $rc' _ "$CRYPTO" "$SNAPFS" "$STORE" "$T/mnt" "$S" "$T/d" ||
	fail "without libcrypto a plain store's mount did not serve the snapshot (exit $?)"
expect_error 127 unshare -m bash -c 'mount --bind /dev/null "$1" && exec "$2" --store "$3" snapshot create alpha "$4"' \
	_ "$CRYPTO" "$SNAPFS" "$STORE" "$T/d"
case "$ERR" in
*"cannot load libcrypto.so.3, which snapfs needs: "*) ;;
*) fail "missing libcrypto: $ERR" ;;
esac
[ "$(store_state)" = "$before" ] || fail "a snapshot without libcrypto changed the store"

# The dynamic linker's own account of what a CLI run loads.
LD_DEBUG=files sfs snapshot list >/dev/null 2>"$T/ld" || fail "snapshot list"
grep -q 'file=libc\.so' "$T/ld" || fail "LD_DEBUG=files shows nothing"
if grep -q 'librados' "$T/ld"; then
	fail "snapshot list on a local store loads librados"
fi

SPEC="rados:nopool?conf=$T/none.conf"
export SNAPFS_CACHE_DIR=$T/cache
if ! ldconfig -p | grep -q 'librados\.so\.2 '; then
	log "librados is not installed: the checks of a RADOS spec are skipped"
	exit 0
fi
out=$(LD_DEBUG=files "$SNAPFS" --store "$SPEC" snapshot list 2>&1 >/dev/null) &&
	fail "a RADOS store without a ceph conf opened"
if grep -q 'built without RADOS support' <<<"$out"; then
	log "snapfs is built without RADOS: the checks of a RADOS spec are skipped"
	exit 0
fi
grep -q 'file=librados\.so\.2 .*dynamically loaded' <<<"$out" ||
	fail "opening a RADOS store did not load librados"

# librados unreadable (bind-mounted over in a mount namespace of its own).
LIB=$(readlink -f "$(ldconfig -p | sed -n 's/.*librados\.so\.2 .*=> //p' | head -n 1)")
expect_error 1 unshare -m bash -c 'mount --bind /dev/null "$1" && exec "$2" --store "$3" snapshot list' \
	_ "$LIB" "$SNAPFS" "$SPEC"
case "$ERR" in
*"RADOS store needs librados (Debian package librados2): "*) ;;
*) fail "missing librados: $ERR" ;;
esac
# Local stores are untouched by it.
unshare -m bash -c 'mount --bind /dev/null "$1" && exec "$2" --store "$3" snapshot list' \
	_ "$LIB" "$SNAPFS" "$STORE" | grep -q alpha || fail "a local store without librados"
