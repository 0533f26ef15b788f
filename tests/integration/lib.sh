# SPDX-License-Identifier: MIT
# Helpers for the CLI integration tests. Source it after setting nothing:
#
#   . "$(dirname "$0")/lib.sh" "$@"
#
# $1 is the snapfs binary. Provides a private temporary directory ($T), a
# store path ($STORE), the `sfs` wrapper, assertions, and one cleanup trap
# that unmounts, detaches loop devices, kills background jobs and removes
# $T however the test ends. Exit 77 means "skipped".

set -euo pipefail

SNAPFS=${1:-}
if [ -z "$SNAPFS" ] || [ ! -x "$SNAPFS" ]; then
	# A missing binary is a broken build, not a reason to skip.
	echo "FAIL: snapfs binary '${SNAPFS}' not found" >&2
	exit 1
fi
SNAPFS=$(readlink -f "$SNAPFS")
TEST_NAME=$(basename "$0" .sh)

T=$(mktemp -d "${SNAPFS_TEST_TMP:-${TMPDIR:-/tmp}}/snapfs-${TEST_NAME}.XXXXXX")
STORE=$T/store
export SNAPFS_STORE=$STORE

# Debian's python3 (scripts/deps.sh installs it) for every python3 the
# tests start, when a different one comes first on PATH: such a one may be
# a wrapper that chooses an interpreter at each start, which was measured
# at 0.9 s a start against 0.06 s, and the tests start it many times.
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir "$T/.bin"
	ln -s /usr/bin/python3 "$T/.bin/python3"
	PATH=$T/.bin:$PATH
fi
unset SNAPFS_TEST_KEEP_QUIET 2>/dev/null || true

declare -a _MOUNTS=() _LOOPS=() _PIDS=() _USERS=() _GROUPS=()

FAILURES=0

cleanup() {
	local rc=$? m l p
	set +e
	if [ $rc -eq 0 ] && [ "$FAILURES" -gt 0 ]; then
		rc=1
	fi
	for p in "${_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for ((i = ${#_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${_MOUNTS[$i]}
		mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	for l in "${_LOOPS[@]}"; do
		losetup -d "$l" 2>/dev/null
	done
	for p in "${_USERS[@]}"; do
		userdel "$p" >/dev/null 2>&1
	done
	for p in "${_GROUPS[@]}"; do
		groupdel "$p" >/dev/null 2>&1
	done
	rm -rf "$T"
	if [ $rc -eq 0 ]; then
		echo "PASS: $TEST_NAME"
	elif [ $rc -ne 77 ]; then
		echo "FAIL: $TEST_NAME (exit $rc, $FAILURES checks failed)" >&2
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
fail() {
	printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

# soft_fail MSG: records a failed check and goes on, so that one run shows
# every broken case; the test still fails at the end.
soft_fail() {
	printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
	FAILURES=$((FAILURES + 1))
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: $TEST_NAME needs root (loop devices, mounts)" >&2
		exit 77
	fi
}

# Registers things for the cleanup trap.
track_mount() { _MOUNTS+=("$1"); }
track_loop() { _LOOPS+=("$1"); }
track_pid() { _PIDS+=("$1"); }

# add_user NAME: a real unprivileged user without a home, removed by the
# cleanup trap however the test ends.
add_user() {
	useradd -M -N -g nogroup -s /bin/sh "$1" 2>/dev/null || useradd -M -s /bin/sh "$1" ||
		fail "useradd $1"
	_USERS+=("$1")
}

# add_group NAME [MEMBER...]: a group with these members, removed by the
# cleanup trap.
add_group() {
	local g=$1 u
	shift
	groupadd "$g" || fail "groupadd $g"
	_GROUPS+=("$g")
	for u in "$@"; do
		usermod -a -G "$g" "$u" || fail "usermod -a -G $g $u"
	done
}

# uncache PATH...: writes these files (and every file under a directory
# among them) and drops them from the page cache, leaving the rest of the
# machine's cache alone.
uncache() {
	sync
	find "$@" -type f -exec sh -c 'for f; do dd if="$f" iflag=nocache count=0 status=none; done' sh {} +
}

# as USER CMD...: runs CMD as USER.
as() {
	local u=$1
	shift
	runuser -u "$u" -- "$@"
}

# mount_snapfs DIR PATH [OPTS]: mounts the test's store on DIR (tracked)
# and waits until PATH inside it exists.
mount_snapfs() {
	local mnt=$1 path=$2
	mkdir -p "$mnt"
	track_mount "$mnt"
	"$SNAPFS" --store "$STORE" mount "$mnt" ${3:+-o "$3"} || fail "mount ${3:+-o $3}"
	for _ in $(seq 100); do
		[ -e "$mnt/$path" ] && return 0
		sleep 0.1
	done
	fail "no $path in the mount"
}

# mount_loop IMAGE DIR [OPTS]: loop-mount an image, tracked.
mount_loop() {
	mkdir -p "$2"
	mount -o "loop${3:+,$3}" "$1" "$2"
	track_mount "$2"
}

umount_tracked() {
	umount "$1"
}

# sfs ARGS...: snapfs on the test's store, progress off.
sfs() {
	"$SNAPFS" --store "$STORE" "$@"
}

# json_field FIELD < JSON: the first string or integer value of "FIELD"
# (null and other values print nothing).
json_field() {
	sed -n -e "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" \
		-e "s/.*\"$1\": *\(-\{0,1\}[0-9][0-9]*\).*/\1/p" | head -n 1
}

# json_at KEY... < JSON: the value at that path (object keys, array
# indexes), as Python prints it; a missing step fails.
json_at() {
	python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"
}

# sha FILE: its SHA-256 in hex. openssl's uses the CPU's SHA instructions:
# 0.28 s for 200 MB here, against 0.95 s for coreutils' sha256sum.
sha() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"
}

assert_same_file() {
	cmp -s "$1" "$2" || fail "${3:-files differ}: $1 vs $2"
}

# expect_error CODE CMD...: CMD must exit with CODE and print exactly one
# line on stderr, starting "snapfs: ". Sets ERR to that line. A mismatch
# is a soft failure (reported, and the test goes on).
expect_error() {
	local want=$1 rc=0 lines
	shift
	"$@" >"$T/.out" 2>"$T/.err" || rc=$?
	ERR=$(cat "$T/.err")
	lines=$(wc -l <"$T/.err")
	if [ "$rc" -ne "$want" ]; then
		soft_fail "'$*' exited $rc, expected $want; stderr: $ERR"
	elif [ "$lines" -ne 1 ]; then
		soft_fail "'$*' printed $lines lines on stderr, expected one: $ERR"
	else
		case "$ERR" in
		"snapfs: "*) log "ok ($rc): $* -> $ERR" ;;
		*) soft_fail "'$*': error does not start with 'snapfs: ': $ERR" ;;
		esac
	fi
	return 0
}

# store_state: a fingerprint of the store (catalog listings, pack and
# config bytes) to compare before and after a command that must not
# change it. The writer lock and LMDB's reader table are left out, and the
# catalog and its copy are compared through the listings.
store_state() {
	{
		sfs snapshot list --json
		sfs volume list --json
		(cd "$STORE" && find . -type f ! -name lock ! -name lock.mdb ! -name data.mdb ! -name copy.mdb \
			-exec sha256sum {} + | sort -k2)
	} 2>&1
}

# restore_check ID EXPECTED_FILE: restores ID and compares it byte for byte.
restore_check() {
	local out=$T/restore.$$.$RANDOM
	sfs snapshot restore "$1" "$out" || fail "restore of $1 failed"
	cmp -s "$out" "$2" || fail "restore of $1 differs from $2"
	rm -f "$out"
}
