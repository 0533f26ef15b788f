#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A store on a Ceph cluster (RADOS), against a real single-host cluster:
# the one scripts/test.sh started ($SNAPFS_TEST_CEPH_CONF) or one of this
# test's own. Each run uses a pool of its own. Host A writes with its
# state in a directory; host B runs in a network namespace of its own
# (when the cluster was started with --netns, as here and in test.sh),
# with an empty cache directory of its own and no access to A's files: it
# mounts the store from the pool alone, reads every snapshot, and sees A's
# next snapshot without a remount. A third host's damaged chunk cache is
# read again from the cluster. Then: a second writer refused naming the holder,
# break-lock, kill -9 of a writer mid-ingest and the next writers (on both
# hosts) recovering, bad input, and last an OSD killed during an ingest.
. "$(dirname "$0")/lib.sh" "$@"
need_root
[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }
CLUSTER=$(cd "$(dirname "$0")/../../scripts" && pwd)/ceph-test-cluster.sh

OWN_CLUSTER=
CONF=${SNAPFS_TEST_CEPH_CONF:-}
if [ -z "$CONF" ]; then
	command -v ceph-mon >/dev/null || { echo "SKIP: no ceph-mon (scripts/deps.sh)" >&2; exit 77; }
	OWN_CLUSTER=$T/ceph
	CONF=$("$CLUSTER" start "$OWN_CLUSTER" --netns) || fail "cannot start the test cluster"
fi
CEPH_DIR=$(dirname "$CONF")
# Host B's network: its own namespace when the cluster has one.
HOST_B=()
if [ -f "$CEPH_DIR/netns" ]; then
	HOST_B=(nsenter --net="/run/netns/$(cat "$CEPH_DIR/netns")")
	log "host B runs in network namespace $(cat "$CEPH_DIR/netns")"
fi
POOL=snapfs-t$$-$RANDOM

# The cleanup trap of lib.sh, then the pool (or our own cluster).
rados_cleanup() {
	local rc=$?
	set +e
	for m in "$T/mnt-b"; do
		mountpoint -q "$m" && umount -l "$m"
	done
	if [ -n "$OWN_CLUSTER" ]; then
		"$CLUSTER" stop "$OWN_CLUSTER"
	else
		timeout 20 ceph -c "$CONF" osd pool rm "$POOL" "$POOL" --yes-i-really-really-mean-it \
			>/dev/null 2>&1
	fi
	(exit $rc)
	cleanup
}
trap rados_cleanup EXIT

timeout 30 ceph -c "$CONF" osd pool create "$POOL" 8 8 replicated >/dev/null 2>&1 ||
	fail "cannot create pool $POOL"
timeout 30 ceph -c "$CONF" osd pool set "$POOL" size 2 >/dev/null 2>&1
timeout 30 ceph -c "$CONF" osd pool set "$POOL" min_size 1 >/dev/null 2>&1
timeout 30 ceph -c "$CONF" osd pool application enable "$POOL" snapfs >/dev/null 2>&1
SPEC="rados:$POOL?conf=$CONF"
objects() { timeout 20 rados -c "$CONF" -p "$POOL" ls | sort; }

A=$T/host-a
B=$T/host-b
sfs_a() { SNAPFS_CACHE_DIR=$T/cache-a "$SNAPFS" --store "$A" "$@"; }
sfs_b() { SNAPFS_CACHE_DIR=$B "${HOST_B[@]}" "$SNAPFS" --store "$SPEC" "$@"; }

# ---- 1. full and incremental snapshots into the pool ----
log "init on pool $POOL"
sfs_a init --backend rados --pool "$POOL" --ceph-conf "$CONF" >/dev/null || fail "init"
objects | grep -qx snapfs.config || fail "no config object in the pool"
objects | grep -qx snapfs.head || fail "no head object in the pool"
expect_error 1 "$SNAPFS" --store "$T/other" init --backend rados --pool "$POOL" --ceph-conf "$CONF"
case "$ERR" in *"already holds a snapfs store"*) ;; *) soft_fail "second init: $ERR" ;; esac

head -c 20M /dev/urandom >"$T/img1"
head -c 4M /dev/zero >>"$T/img1"
cp "$T/img1" "$T/img2"
printf 'incremental change' | dd of="$T/img2" bs=1 seek=5000000 conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$T/img2" bs=1M seek=12 conv=notrunc status=none
S1=$(sfs_a snapshot create vol "$T/img1") || fail "full snapshot"
S2=$(sfs_a snapshot create vol "$T/img2") || fail "incremental snapshot"
objects | grep -q '^pack\.' || fail "no pack objects in the pool"
[ -z "$(ls "$A"/packs 2>/dev/null)" ] || fail "packs written locally on a RADOS store"
for s in "$S1:img1" "$S2:img2"; do
	sfs_a snapshot restore --force "${s%%:*}" "$T/out" >/dev/null || fail "restore ${s%%:*}"
	assert_same_file "$T/out" "$T/${s#*:}" "restore of ${s%%:*}"
done
sfs_a check --read-data >/dev/null || fail "check --read-data on host A"

# ---- 2. host B: nothing but the pool ----
mkdir -p "$T/mnt-b"
SNAPFS_CACHE_DIR= "${HOST_B[@]}" "$SNAPFS" --store "$SPEC" mount "$T/mnt-b" -o cache_dir="$B" ||
	fail "host B cannot mount from the pool alone"
track_mount "$T/mnt-b"
assert_same_file "$T/mnt-b/snapshots/$S1.img" "$T/img1" "host B reads $S1"
assert_same_file "$T/mnt-b/snapshots/$S2.img" "$T/img2" "host B reads $S2"
sfs_b check --read-data >/dev/null || fail "check --read-data on host B"
# librados is loaded when a store on RADOS is opened (a local store's
# processes never map it: test_librados_lazy.sh).
pid=$("$SNAPFS" mount-status "$T/mnt-b" --json | json_field pid)
grep -q '/librados\.so' "/proc/$pid/maps" || fail "the mount of a store on RADOS has no librados mapped"
# Every 4 MiB range of every pack object read once (plus the head and the
# catalog), not once per chunk: counted by the process itself.
segs=0
for o in $(objects | grep '^pack\.'); do
	size=$(timeout 10 rados -c "$CONF" -p "$POOL" stat "$o" | sed 's/.*size //')
	segs=$((segs + (size + 4194303) / 4194304))
done
SNAPFS_RADOS_OPS_FILE=$T/ops SNAPFS_CACHE_DIR=$T/cache-c "${HOST_B[@]}" "$SNAPFS" --store "$SPEC" \
	check --read-data >/dev/null || fail "check --read-data on a third host"
# One line per backend closed, each the process's running total.
ops=$(awk 'END { print $2 }' "$T/ops")
log "check --read-data: $ops RADOS reads for $segs ranges of 4 MiB"
[ "$ops" -le $((segs + 6)) ] || soft_fail "check --read-data made $ops reads for $segs ranges"
ls "$B"/*/cache >/dev/null || fail "host B has no chunk cache directory"

cp "$T/img2" "$T/img3"
head -c 2M /dev/urandom | dd of="$T/img3" bs=1M seek=3 conv=notrunc status=none
S3=$(sfs_a snapshot create vol "$T/img3") || fail "third snapshot"
for _ in $(seq 50); do
	[ -e "$T/mnt-b/snapshots/$S3.img" ] && break
	sleep 0.2
done
[ -e "$T/mnt-b/snapshots/$S3.img" ] || fail "host B's mount does not show $S3 without a remount"
assert_same_file "$T/mnt-b/snapshots/$S3.img" "$T/img3" "host B reads $S3 without a remount"
assert_same_file "$T/mnt-b/snapshots/$S1.img" "$T/img1" "host B still reads $S1"

# A host's chunk cache is a copy, not the store. Only sealed packs are
# cached on disk: a snapshot of 72 MiB of random bytes fills and seals a
# 64 MiB pack. With host C's cache files of it damaged on that host's disk
# (every other one flipped in its middle, the others cut to half), the
# records that fail their checks are fetched again from the cluster, and
# a restore and check --read-data on that host still succeed.
head -c 72M /dev/urandom >"$T/img-big"
SBIG=$(sfs_a snapshot create big "$T/img-big") || fail "snapshot of 72 MiB"
sfs_c() { SNAPFS_CACHE_DIR=$T/cache-c "${HOST_B[@]}" "$SNAPFS" --store "$SPEC" "$@"; }
sfs_c check --read-data >/dev/null || fail "check --read-data on host C"
n=0
for f in "$T"/cache-c/*/cache/*; do
	[ -f "$f" ] || continue
	size=$(stat -c %s "$f")
	if [ $((n % 2)) = 0 ]; then
		printf '\377\377\377\377' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
	else
		truncate -s $((size / 2)) "$f"
	fi
	n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "host C cached $n segments"
sfs_c snapshot restore --force "$SBIG" "$T/out-c" >/dev/null 2>"$T/err-c" ||
	fail "restore over a damaged chunk cache: $(cat "$T/err-c")"
assert_same_file "$T/out-c" "$T/img-big" "restore over a damaged chunk cache"
rm -f "$T/out-c"
sfs_c check --read-data >/dev/null || fail "check --read-data over a damaged chunk cache"
log "$n damaged chunk cache files on host C: read again from the cluster"

# ---- 3. one writer across hosts ----
mkfifo "$T/slow"
(exec 3>"$T/slow"; head -c 6M /dev/urandom >&3; sleep 60) &
FEED=$!
track_pid "$FEED"
SNAPFS_CACHE_DIR=$T/cache-a "$SNAPFS" --store "$A" snapshot create slow - <"$T/slow" \
	>/dev/null 2>"$T/slow.err" &
WRITER=$!
track_pid "$WRITER"
for _ in $(seq 50); do
	timeout 10 rados -c "$CONF" -p "$POOL" lock info snapfs.lock writer 2>/dev/null |
		grep -q "pid $WRITER" && break
	sleep 0.2
done
expect_error 1 sfs_b gc --no-wait
case "$ERR" in
*"locked by another snapfs writer"*"host $(hostname) pid $WRITER"*) ;;
*) soft_fail "second writer's error does not name the holder (pid $WRITER): $ERR" ;;
esac

# kill -9 mid-ingest: the completed snapshots stay, the next writer
# (on this host: the dead holder's lock is replaced) recovers.
kill -9 "$WRITER"
wait "$WRITER" 2>/dev/null || true
kill "$FEED" 2>/dev/null || true
S4=$(sfs_a snapshot create vol "$T/img1") || fail "the writer after a kill -9"
sfs_a snapshot list | grep -q "slow.*completed" && fail "the killed ingest shows as completed"
# Host B writes (taking the catalog from the pool), then A again (its own
# catalog is older than the pool's now).
S5=$(sfs_b snapshot create volb "$T/img3") || fail "host B as writer"
S6=$(sfs_a snapshot create vol "$T/img2") || fail "host A after host B wrote"
sfs_a snapshot list | grep -q "$S5" || fail "host A does not see host B's $S5"
for s in "$S1:img1" "$S2:img2" "$S3:img3" "$S4:img1" "$S5:img3" "$S6:img2"; do
	sfs_b snapshot restore --force "${s%%:*}" "$T/out" >/dev/null || fail "restore ${s%%:*} on B"
	assert_same_file "$T/out" "$T/${s#*:}" "restore of ${s%%:*} after the kill -9"
done
sfs_a check --read-data >/dev/null || fail "check after kill -9 and host changes"

# break-lock: a held lock is broken naming its holder; an unheld one is said.
expect_error 1 sfs_b break-lock
case "$ERR" in *"not held"*) ;; *) soft_fail "break-lock of a free lock: $ERR" ;; esac
timeout 10 rados -c "$CONF" -p "$POOL" lock get snapfs.lock writer --lock-cookie "host gone pid 1" \
	>/dev/null 2>&1 || fail "cannot plant a lock"
expect_error 1 sfs_a gc --no-wait
case "$ERR" in *"host gone pid 1"*) ;; *) soft_fail "planted holder not named: $ERR" ;; esac
out=$(sfs_b break-lock) || fail "break-lock"
case "$out" in *"host gone pid 1"*) ;; *) soft_fail "break-lock says: $out" ;; esac
sfs_a gc >/dev/null || fail "gc after break-lock"

# ---- gc and copy on the pool ----
# Only img7-free data so far: delete what only S5/S3 hold and gc; objects
# go only after the catalog without them is published, and host B's mount
# (which polls the head) keeps reading what remains.
head -c 8M /dev/urandom >"$T/img8"
S8=$(sfs_a snapshot create tmp "$T/img8") || fail "snapshot for gc"
before=$(objects | grep -c '^pack\.')
sfs_a snapshot delete "$S8" >/dev/null || fail "delete $S8"
sfs_a gc --rewrite-below 90 >/dev/null || fail "gc on the pool"
head=$(timeout 10 rados -c "$CONF" -p "$POOL" get snapfs.head -)
sfs_b snapshot list | grep -q "$S8" && fail "host B still lists $S8 after gc (head: $head)"
after=$(objects | grep -c '^pack\.')
log "pack objects: $before before gc, $after after"
[ "$after" -le "$before" ] || soft_fail "gc added pack objects"
assert_same_file "$T/mnt-b/snapshots/$S1.img" "$T/img1" "host B reads $S1 after gc"
sfs_b check --read-data >/dev/null || fail "check --read-data after gc"
POOL2=$POOL-dr
timeout 30 ceph -c "$CONF" osd pool create "$POOL2" 8 8 replicated >/dev/null 2>&1 ||
	fail "cannot create pool $POOL2"
SPEC2="rados:$POOL2?conf=$CONF"
SNAPFS_CACHE_DIR=$T/cache-dr "$SNAPFS" --store "$SPEC2" init >/dev/null || fail "init on $POOL2"
C1=$(sfs_a snapshot copy "$S3" --to-store "$SPEC2") || fail "copy to another pool"
SNAPFS_CACHE_DIR=$T/cache-dr2 "$SNAPFS" --store "$SPEC2" snapshot restore --force "$C1" "$T/out" \
	>/dev/null || fail "restore of the copy from the other pool"
assert_same_file "$T/out" "$T/img3" "copy of $S3 in $POOL2"
timeout 20 ceph -c "$CONF" osd pool rm "$POOL2" "$POOL2" --yes-i-really-really-mean-it >/dev/null 2>&1

# ---- 4. bad input: one line each, in bounded time ----
expect_error 1 "$SNAPFS" --store "rados:no-such-pool?conf=$CONF" snapshot list
case "$ERR" in *"pool 'no-such-pool' does not exist"*) ;; *) soft_fail "unknown pool: $ERR" ;; esac
expect_error 1 "$SNAPFS" --store "rados:$POOL?conf=$T/no.conf" snapshot list
case "$ERR" in *"cannot read ceph conf"*) ;; *) soft_fail "bad conf path: $ERR" ;; esac
expect_error 1 "$SNAPFS" --store "rados:$POOL?conf=$CONF&user=client.nobody" snapshot list
case "$ERR" in *"refused user client.nobody"*) ;; *) soft_fail "bad user: $ERR" ;; esac
sed -e 's/^mon host = .*/mon host = v1:127.0.0.1:9/' -e 's/^client mount timeout = .*/client mount timeout = 3/' \
	"$CONF" >"$T/unreachable.conf"
t0=$SECONDS
expect_error 1 "$SNAPFS" --store "rados:$POOL?conf=$T/unreachable.conf" snapshot list
case "$ERR" in *"cannot reach the ceph cluster"*) ;; *) soft_fail "unreachable: $ERR" ;; esac
[ $((SECONDS - t0)) -lt 40 ] || soft_fail "an unreachable cluster took $((SECONDS - t0))s"
expect_error 2 "$SNAPFS" --store "$T/x" init --backend rados --pool "$POOL"

# ---- the cluster stopped while a mount reads ----
# Reads of what the host has not cached fail with EIO in bounded time, the
# mount stays up, and reads work again once the cluster is back.
if [ -n "$OWN_CLUSTER" ] || [ -n "${SNAPFS_TEST_CEPH_KILL_OSD:-}" ]; then
	head -c 12M /dev/urandom >"$T/img9"
	S9=$(sfs_a snapshot create vol9 "$T/img9") || fail "snapshot before the pause"
	for _ in $(seq 50); do
		[ -e "$T/mnt-b/snapshots/$S9.img" ] && break
		sleep 0.2
	done
	"$CLUSTER" pause "$CEPH_DIR"
	t0=$SECONDS
	rc=0
	timeout 120 dd if="$T/mnt-b/snapshots/$S9.img" of=/dev/null bs=1M status=none 2>"$T/dd.err" ||
		rc=$?
	"$CLUSTER" resume "$CEPH_DIR"
	log "read with the cluster stopped: exit $rc after $((SECONDS - t0))s: $(cat "$T/dd.err")"
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || soft_fail "a read with the cluster stopped: exit $rc"
	grep -q "Input/output error" "$T/dd.err" || soft_fail "not EIO: $(cat "$T/dd.err")"
	mountpoint -q "$T/mnt-b" || fail "the mount went away while the cluster was stopped"
	ok=
	for _ in $(seq 30); do
		if cmp -s "$T/mnt-b/snapshots/$S9.img" "$T/img9"; then
			ok=1
			break
		fi
		sleep 1
	done
	[ -n "$ok" ] || fail "reads do not work again after the cluster came back"
fi

# ---- 5. an OSD killed during an ingest (pool size 2) ----
if [ -n "$OWN_CLUSTER" ] || [ -n "${SNAPFS_TEST_CEPH_KILL_OSD:-}" ]; then
	head -c 40M /dev/urandom >"$T/img7"
	SNAPFS_CACHE_DIR=$T/cache-a "$SNAPFS" --store "$A" snapshot create vol "$T/img7" \
		>"$T/s7" 2>"$T/s7.err" &
	ING=$!
	sleep 0.5
	"$CLUSTER" kill-osd "$CEPH_DIR" 2
	rc=0
	wait "$ING" || rc=$?
	# Reads of the dead OSD's placement groups wait for the monitor to
	# mark it down (seconds; a read meanwhile is a clean EIO).
	for _ in $(seq 60); do
		timeout 10 ceph -c "$CONF" osd dump 2>/dev/null | grep -q '^osd.2 down' && break
		sleep 0.5
	done
	if [ $rc -eq 0 ]; then
		S7=$(cat "$T/s7")
		sfs_b snapshot restore --force "$S7" "$T/out" >/dev/null || fail "restore after the OSD loss"
		assert_same_file "$T/out" "$T/img7" "the snapshot taken while an OSD died"
	else
		log "the ingest failed cleanly with an OSD gone: $(head -n 1 "$T/s7.err")"
	fi
	for s in "$S1:img1" "$S3:img3" "$S6:img2"; do
		sfs_b snapshot restore --force "${s%%:*}" "$T/out" >/dev/null || fail "restore ${s%%:*} with an OSD gone"
		assert_same_file "$T/out" "$T/${s#*:}" "${s%%:*} with an OSD gone"
	done
	sfs_a check >/dev/null || fail "check with an OSD gone"

	# The chunk cache keeps sealed packs' ranges within its bound.
	sealed=0
	for o in $(objects | grep '^pack\.'); do
		timeout 10 rados -c "$CONF" -p "$POOL" listxattr "$o" | grep -qx snapfs.sealed &&
			sealed=$((sealed + 1))
	done
	if [ "$sealed" -gt 0 ]; then
		SNAPFS_CACHE_SIZE=8M SNAPFS_CACHE_DIR=$T/cache-small "$SNAPFS" --store "$SPEC" \
			check --read-data >/dev/null || fail "check --read-data with a small chunk cache"
		used=$(find "$T"/cache-small/*/cache -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }')
		log "chunk cache bounded to 8 MiB holds $used bytes ($sealed sealed packs)"
		[ "$used" -gt 0 ] && [ "$used" -le $((8 << 20)) ] ||
			soft_fail "chunk cache of 8 MiB holds $used bytes"
	fi
fi
umount "$T/mnt-b"
