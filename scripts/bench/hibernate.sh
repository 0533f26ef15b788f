#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hibernation figures for the README: for guests of each RAM size (the
# busybox guest of tests/integration/test_hibernate.sh, the same workload
# whatever the size, under TCG), the time and bytes added of a first
# checkpoint (live), a second one 5 s later (which stops the VM) and one
# of the resumed VM 5 s after its resume (its RAM saved through a
# mapped-ram migration); and the resume, lazy (RAM mapped from the mount)
# and copy-out (launch-config --copy-ram, the fallback of QEMU older than
# 8.2), each from a cold mount (unmounted, page cache dropped, mounted
# again) and a warm one (the same run again). Resume time is from the
# start of the launch-config script to `cont` done (its "VM resumed"
# line); RSS is the resumed QEMU's, a second after that. Prints one
# tab-separated line per figure: "SIZE_MIB WHAT SECONDS BYTES|RSS_KIB".
# FILL_PCT=N has the guest first keep N% of its RAM in random data (a
# workload whose RAM grows with the size: what a copy-out has to read).
# Needs root (drop_caches, FUSE) and QEMU 9.0 or newer; a release build:
#
#   [FILL_PCT=25] scripts/bench/hibernate.sh build-release/fs/snapfs [SIZES_MIB...]
set -euo pipefail

[ $# -ge 1 ] && [ -x "$1" ] || { echo "usage: hibernate.sh SNAPFS [SIZE_MIB...]" >&2; exit 2; }
SNAPFS=$(readlink -f "$1")
shift
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(256 1024 2048)
FILL_PCT=${FILL_PCT:-0}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/var/tmp}/snapfs-bench-hib.XXXXXX")
MNT=$W/mnt
mkdir -p "$MNT"
PIDS=()
fail() { echo "hibernate.sh: $*" >&2; exit 1; }
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	mountpoint -q "$MNT" && umount "$MNT"
	rm -rf "$W"
}
trap cleanup EXIT
. "$HERE/../../tests/integration/busybox_guest.sh"
busybox_guest "$W/guest"

sfs() { "$SNAPFS" --store "$W/store" "$@"; }
now() { date +%s.%N; }
wait_for() { # FILE PATTERN SECONDS
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
mount_store() { sfs mount "$MNT"; for _ in $(seq 100); do [ -d "$MNT/checkpoints" ] && break; sleep 0.05; done; }
cold() { umount "$MNT"; sync; echo 3 >/proc/sys/vm/drop_caches; mount_store; }
emit() { printf '%s\t%s\t%s\t%s\n' "$@"; }

# create SIZE WHAT NAME QMP [--keep-running]: times a checkpoint create.
create() {
	local size=$1 what=$2 name=$3 qmp=$4 t0 t1
	shift 4
	t0=$(now)
	sfs checkpoint create "$name" --qmp "$qmp" --json "$@" >"$W/$name.json" || fail "create $name"
	t1=$(now)
	emit "$size" "$what" "$(echo "$t1 - $t0" | bc)" "$(field new_bytes <"$W/$name.json")"
}

# resume SIZE WHAT CKPT [--copy-ram]: starts the resume script, times it
# to the "VM resumed" line, reads RSS a second later, stops the VM.
resume() {
	local size=$1 what=$2 ck=$3 t0 t1 pid qpid rss
	shift 3
	rm -rf "$W/ov" "$W/resume.out" "$W/serial.log"
	sfs checkpoint launch-config "$ck" --mount "$MNT" --overlay "$W/ov" --serial "$W/serial.log" \
		--qmp "$W/resume.qmp" "$@" >"$W/resume.sh" || fail "launch-config $ck"
	t0=$(now)
	sh "$W/resume.sh" >"$W/resume.out" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_for "$W/resume.out" "VM resumed in" 300 || fail "no resume: $(cat "$W/resume.out")"
	t1=$(now)
	sleep 1
	qpid=$(pgrep -f -- "unix:$W/resume.qmp" | head -n 1)
	rss=$(ps -o rss= -p "$qpid" | tr -d ' ')
	wait_for "$W/serial.log" "^tick" 60 || fail "the resumed guest prints nothing"
	emit "$size" "$what" "$(echo "$t1 - $t0" | bc)" "$rss"
	RESUMED_QMP=$W/resume.qmp
	RESUMED_PID=$pid
}
stop_resumed() {
	local qpid
	qpid=$(pgrep -f -- "unix:$W/resume.qmp" | head -n 1)
	[ -n "$qpid" ] && kill "$qpid"
	wait "$RESUMED_PID" 2>/dev/null || true
}

echo "# $(uptime); guest RAM filled ${FILL_PCT}%"
echo "# $(qemu-system-x86_64 --version | head -n 1)"
printf 'size_mib\twhat\tseconds\tbytes_or_rss_kib\n'
for size in "${SIZES[@]}"; do
	rm -rf "$W/store" "$W/run" "$W/root.ext4"
	fill=
	[ "$FILL_PCT" -gt 0 ] && fill=" fill=$((size * FILL_PCT / 100))"
	truncate -s 32M "$W/root.ext4"
	mkfs.ext4 -q -F "$W/root.ext4"
	sfs init >/dev/null
	sfs image create vm --device sda="$W/root.ext4" --root-device sda --arch x86_64 \
		--boot-mode bios --no-progress >/dev/null
	mount_store
	sfs image launch-config vm --mount "$MNT" --overlay "$W/ov0" --hibernation --ram-dir "$W/run" \
		--kernel "$VMLINUZ" --initrd "$W/guest/initrd.gz" --append "console=ttyS0 quiet marker=b$fill" \
		--accel tcg --memory "$size" --serial "$W/boot.log" >"$W/launch.sh"
	rm -f "$W/boot.log"
	sh "$W/launch.sh" >"$W/boot.out" 2>&1 &
	PIDS+=("$!")
	wait_for "$W/boot.log" "tick 3 " 300 || fail "the guest did not start: $(tail -3 "$W/boot.log")"
	create "$size" ckpt1-live c1 "$W/run/vm.qmp" --keep-running
	sleep 5
	create "$size" ckpt2-stop c2 "$W/run/vm.qmp"
	for mode in lazy copy; do
		opt=()
		[ $mode = copy ] && opt=(--copy-ram)
		cold
		resume "$size" "resume-$mode-cold" c2 "${opt[@]}"
		stop_resumed
		resume "$size" "resume-$mode-warm" c2 "${opt[@]}"
		stop_resumed
	done
	resume "$size" resume-lazy-warm-again c2
	sleep 5
	create "$size" ckpt3-of-resumed c3 "$RESUMED_QMP"
	wait "$RESUMED_PID" 2>/dev/null || true
	cold
	resume "$size" resume3-lazy-cold c3
	stop_resumed
	umount "$MNT"
done
