#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/bench.sh: measure snapfs side by side with the tools a user would
# pick instead (borg, restic, casync, bup, qcow2 + qemu-storage-daemon,
# squashfs + squashfuse_ll) and with physical references (the raw image read
# directly and through libfuse's passthrough_ll, SHA-256 and zstd speed of
# one core), as ratios in one run.
#
# Usage: scripts/bench.sh [--out DIR] [--workdir DIR] [--size BYTES|N{M,G}]
#                         [--peers a,b,c] [--reps N] [--quick] [--seed N]
#                         [--keep] [--fio-runtime S] [--scale-count N]
#                         [--snapfs PATH] [--no-install] [--block-size N{K,M}]
#                         [--hold-page-reporting]
#
# --block-size (default 32K, as snapfs init) is snapfs's block size (snapfs init --block-size),
# the granularity of the changed-ranges list and the chunk size of borg's
# fixed chunker (borg, borg-zstd).
#
# --hold-page-reporting: on a virtual machine whose balloon device reports
# free memory to the host, unbind the balloon driver for the run (bound
# again on exit) so that no tool's cold figures include the host faulting
# back memory it took while the page cache stood empty (see README.md).
#
# Writes DIR/results.tsv (peer, metric, rep, value, unit), DIR/results.md
# (medians, ratios, targets, tool versions, load average per section) and
# logs.  Needs root: loop mounts for the test volume, drop_caches for cold
# reads, FUSE mounts.  Every mount it makes is unmounted on exit; it only
# signals processes it started itself.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
helpers="$here/bench"

all_peers="borg,borg-buzhash,borg-zstd,restic,casync,bup,qcow2,squashfs,snapfs,raw,passthrough,cpu"
out="$repo/results" workdir="" size="" peers="$all_peers" reps=3 quick=0 seed=1 keep=0
fio_runtime=10 scale_count=1000 snapfs_bin="" install=1 cache_size=256M
block_size=32768 hold_reporting=0

usage() { sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; }

parse_size() { # 2G, 256M, 1048576
	local v=$1
	case "$v" in
	*[kK]) echo $((${v%?} << 10)) ;;
	*[mM]) echo $((${v%?} << 20)) ;;
	*[gG]) echo $((${v%?} << 30)) ;;
	*) echo "$v" ;;
	esac
}

while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--workdir) workdir=$2; shift 2 ;;
	--size) size=$(parse_size "$2"); shift 2 ;;
	--peers) peers=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--seed) seed=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--fio-runtime) fio_runtime=$2; shift 2 ;;
	--scale-count) scale_count=$2; shift 2 ;;
	--snapfs) snapfs_bin=$2; shift 2 ;;
	--no-install) install=0; shift ;;
	--block-size) block_size=$(parse_size "$2"); shift 2 ;;
	--hold-page-reporting) hold_reporting=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
if [ "$quick" = 1 ]; then
	[ -n "$size" ] || size=$((256 << 20))
	reps=1
fi
[ -n "$size" ] || size=$((2 << 30))
case "$block_size" in
'' | *[!0-9]*) echo "bench: invalid --block-size" >&2; exit 2 ;;
esac
if [ "$block_size" -lt 4096 ] || [ "$block_size" -gt $((4 << 20)) ] ||
	[ $((block_size & (block_size - 1))) != 0 ]; then
	echo "bench: --block-size must be a power of two from 4K to 4M" >&2; exit 2
fi
[ "$(id -u)" = 0 ] || { echo "bench: must run as root (loop mounts, drop_caches, FUSE)" >&2; exit 2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -n "$workdir" ] || workdir="${TMPDIR:-/var/tmp}/snapfs-bench.$$"
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
data="$workdir/data"
logs="$out/logs"
mkdir -p "$logs"
tsv="$out/results.tsv"
notes="$out/notes.txt"
loadtsv="$out/loadavg.tsv"
printf 'peer\tmetric\trep\tvalue\tunit\n' >"$tsv"
: >"$notes"
printf 'section\tload1_start\tload1_end\tseconds\n' >"$loadtsv"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$logs/bench.log" >&2; }
note() { printf '%s\n' "$*" >>"$notes"; log "note: $*"; }
rec() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$tsv"; }
# stamp VAR: nanoseconds since the epoch into VAR, from bash's own clock.
# On a small virtual machine a fork costs 4-5 ms and running date 7-10 ms;
# `t1=$(date +%s%N)` put one of each into every interval it ended.
stamp() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		printf -v "$1" '%s000' "${EPOCHREALTIME//[!0-9]/}"
	else
		printf -v "$1" '%s' "$(date +%s%N)" # bash before 5.0
	fi
}
load1() { cut -d' ' -f1 /proc/loadavg; }
# ms / MB/s from nanosecond stamps (MB = 10^6 bytes)
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b-a)/1e6}'; }
mbps() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN{t=(b-a)/1e9; if(t<=0)t=1e-9; printf "%.1f", n/1e6/t}'; }

sec_name="" sec_t0=0 sec_l0=0
section() { # section NAME  (ends the previous one)
	if [ -n "$sec_name" ]; then
		printf '%s\t%s\t%s\t%s\n' "$sec_name" "$sec_l0" "$(load1)" \
			"$(stamp t; awk -v a="$sec_t0" -v b="$t" 'BEGIN{printf "%.1f",(b-a)/1e9}')" >>"$loadtsv"
	fi
	sec_name=$1 sec_l0=$(load1)
	stamp sec_t0
	[ -z "$1" ] || log "=== $1"
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || note "drop_caches not writable: cold figures are not cold"
}

# ---------------------------------------------------------------- cleanup
mounts=()     # mount points we made (directories or files)
our_pids=()   # daemons we started and must stop by pid
# is_mounted PATH: read by bash itself, without a process of its own (the
# first byte's interval contains one check).
is_mounted() {
	local dev mnt rest
	while read -r dev mnt rest; do
		[ "$mnt" = "$1" ] && return 0
	done </proc/mounts
	return 1
}
unmount() {
	local m=$1 i
	is_mounted "$m" || return 0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || true
		is_mounted "$m" || return 0
		sleep 0.3
	done
	umount -l "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
}
stop_pid() { # stop a daemon we started, wait for it
	local p=$1 i
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
	kill "$p" 2>/dev/null
	for i in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.05; done
	kill -9 "$p" 2>/dev/null || true
}
# Free page reporting (virtio balloon feature bit 5): memory the guest
# leaves free for a few seconds goes back to the host, and the guest's next
# first touch of it waits for the host to fault it in again. Here 2 GiB of
# huge pages freed just before took 0.13 s to touch, the same freed 10 s
# before 5.4-6.0 s. Every cold figure allocates page cache right after
# drop_caches freed the previous tool's, so what it pays depends on how
# long the previous figure took.
balloon_drv=/sys/bus/virtio/drivers/virtio_balloon
reporting_devs() {
	local d f
	for d in "$balloon_drv"/virtio*; do
		[ -e "$d/features" ] || continue
		f=$(cat "$d/features")
		[ "${f:5:1}" = 1 ] && basename "$d"
	done
	return 0
}
held_devs=()
hold_page_reporting() {
	local d
	for d in $(reporting_devs); do
		if echo "$d" >"$balloon_drv/unbind" 2>/dev/null; then
			held_devs+=("$d")
			note "free page reporting held off for the run: balloon $d unbound, bound again at exit"
		else
			note "free page reporting: cannot unbind balloon $d; cold figures vary with it"
		fi
	done
}
release_page_reporting() {
	local d
	for d in "${held_devs[@]}"; do
		echo "$d" >"$balloon_drv/bind" 2>/dev/null ||
			log "cannot bind balloon $d again: echo $d > $balloon_drv/bind"
	done
	held_devs=()
}

cleanup() {
	local m p
	release_page_reporting
	for m in "${mounts[@]}"; do unmount "$m"; done
	for p in "${our_pids[@]}"; do stop_pid "$p"; done
	for m in "$data/mnt"; do is_mounted "$m" && umount "$m"; done
	if [ "$keep" = 0 ]; then rm -rf "$workdir"; else log "work dir kept: $workdir"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
if [ "$hold_reporting" = 1 ]; then
	hold_page_reporting
elif reporting=$(reporting_devs | tr '\n' ' ') && [ -n "$reporting" ]; then
	note "free page reporting is on (balloon $reporting): cold figures include the host faulting memory back, more the longer it was free; --hold-page-reporting holds it off"
fi

# /usr/bin/time -v wrapper: run CMD, record wall, CPU, peak RSS and MB/s of
# LOGICAL bytes under PEER PHASE_* for REP.  Stdout of CMD goes to $last_out.
last_out="$workdir/last.out"
timed() { # timed PEER PHASE REP LOGICAL -- CMD...
	local peer=$1 phase=$2 rep=$3 logical=$4; shift 5
	local tf="$workdir/time.$$" t0 t1 rc
	stamp t0
	/usr/bin/time -v -o "$tf" bash -c '"$@"' bench "$@" >"$last_out" 2>>"$logs/$peer.log"
	rc=$?
	stamp t1
	if [ "$rc" != 0 ]; then
		log "$peer $phase failed (exit $rc): $*"
		note "$peer: $phase failed (exit $rc), see logs/$peer.log"
		rec "$peer" "${phase}_failed" "$rep" 1 flag
		return "$rc"
	fi
	local u s r
	u=$(awk -F': ' '/User time/{print $2}' "$tf")
	s=$(awk -F': ' '/System time/{print $2}' "$tf")
	r=$(awk -F': ' '/Maximum resident/{print $2}' "$tf")
	rec "$peer" "${phase}_wall_s" "$rep" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f",(b-a)/1e9}')" s
	rec "$peer" "${phase}_cpu_s" "$rep" "$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f",u+s}')" s
	rec "$peer" "${phase}_rss_MiB" "$rep" "$(awk -v r="$r" 'BEGIN{printf "%.1f",r/1024}')" MiB
	[ "$logical" -gt 0 ] && rec "$peer" "${phase}_MBps" "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
	rm -f "$tf"
	return 0
}

store_bytes() { du -scB1 "$@" 2>/dev/null | tail -1 | cut -f1; }

# ---------------------------------------------------------------- peers
peer_on() { case ",$peers," in *",$1,"*) return 0 ;; esac; return 1; }

declare -A peer_cmds=(
	[borg]="borg" [borg-buzhash]="borg" [borg-zstd]="borg" [restic]="restic"
	[casync]="casync" [bup]="bup" [qcow2]="qemu-img qemu-storage-daemon"
	[squashfs]="mksquashfs squashfuse_ll" [passthrough]="cc pkg-config" [cpu]="openssl zstd"
	[raw]="" [snapfs]="meson ninja"
)
declare -A cmd_pkg=(
	[borg]=borgbackup [restic]=restic [casync]=casync [bup]=bup [qemu-img]=qemu-utils
	[qemu-storage-daemon]=qemu-system-common [mksquashfs]=squashfs-tools
	[squashfuse_ll]=squashfuse [fio]=fio [cc]=gcc [pkg-config]=pkg-config [openssl]=openssl
	[zstd]=zstd [meson]=meson [ninja]=ninja-build [fusermount3]=fuse3 [mkfs.ext4]=e2fsprogs
)

ensure_tools() {
	local need=() c p
	for c in fusermount3 fio mkfs.ext4; do need+=("$c"); done
	[ -x /usr/bin/time ] || need+=(time)
	for p in ${peers//,/ }; do for c in ${peer_cmds[$p]:-}; do need+=("$c"); done; done
	local pkgs=()
	for c in "${need[@]}"; do
		if [ "$c" = time ]; then pkgs+=(time); continue; fi
		command -v "$c" >/dev/null 2>&1 || pkgs+=("${cmd_pkg[$c]:-$c}")
	done
	if peer_on borg || peer_on borg-buzhash || peer_on borg-zstd; then
		python3_sys=/usr/bin/python3
		$python3_sys -c 'import pyfuse3' 2>/dev/null || $python3_sys -c 'import llfuse' 2>/dev/null ||
			pkgs+=(python3-pyfuse3)
	fi
	[ -d /usr/share/doc/libfuse3-dev/examples ] || ! peer_on passthrough || pkgs+=(libfuse3-dev)
	if [ "${#pkgs[@]}" -gt 0 ]; then
		if [ "$install" = 1 ]; then
			mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
			log "installing missing packages: ${pkgs[*]}"
			export DEBIAN_FRONTEND=noninteractive
			apt-get update -q >>"$logs/apt.log" 2>&1
			apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"$logs/apt.log" 2>&1 ||
				note "apt-get install of ${pkgs[*]} failed; see logs/apt.log"
		else
			note "missing tools and --no-install: ${pkgs[*]}"
		fi
	fi
	local keep_peers=() miss
	for p in ${peers//,/ }; do
		miss=""
		for c in ${peer_cmds[$p]:-}; do command -v "$c" >/dev/null 2>&1 || miss="$miss $c"; done
		if [ -n "$miss" ]; then
			note "peer $p unavailable: missing$miss"
		else
			keep_peers+=("$p")
		fi
	done
	peers=$(IFS=,; echo "${keep_peers[*]}")
	command -v fio >/dev/null || note "fio missing: no random-read figures"
}

build_snapfs() {
	if [ -n "$snapfs_bin" ]; then
		[ -x "$snapfs_bin" ] && return 0
		note "peer snapfs unavailable: $snapfs_bin is not executable"; return 1
	fi
	local b="$repo/build-release"
	if [ ! -x "$b/fs/snapfs" ]; then
		log "building snapfs (release) in $b"
		if [ ! -d "$b" ]; then
			meson setup --buildtype=release "$b" "$repo" >>"$logs/build.log" 2>&1 || true
		fi
		ninja -C "$b" >>"$logs/build.log" 2>&1 || true
	fi
	if [ -x "$b/fs/snapfs" ]; then
		snapfs_bin="$b/fs/snapfs"
	elif [ -x "$repo/build/fs/snapfs" ]; then
		snapfs_bin="$repo/build/fs/snapfs"
		note "release build failed; using $snapfs_bin (not a release build)"
	else
		note "peer snapfs unavailable: build failed, see logs/build.log"
		return 1
	fi
	ninja -C "$(dirname "$(dirname "$snapfs_bin")")" >>"$logs/build.log" 2>&1 || true
	return 0
}

versions() {
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "kernel: $(uname -r)"
		echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo) x $(nproc)"
		echo "memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
		echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
		echo "work dir fs: $(df -T "$workdir" | awk 'NR==2{print $2}')"
		[ -n "$snapfs_bin" ] && echo "snapfs: $(git -C "$repo" describe --always --dirty 2>/dev/null) ($(basename "$(dirname "$(dirname "$snapfs_bin")")"))"
		command -v borg >/dev/null && echo "borg: $(borg --version 2>/dev/null)"
		command -v restic >/dev/null && echo "restic: $(restic version 2>/dev/null)"
		command -v casync >/dev/null && echo "casync: $(casync --version 2>/dev/null | head -1)"
		command -v bup >/dev/null && echo "bup: $(bup --version 2>/dev/null)"
		command -v qemu-img >/dev/null && echo "qemu-img: $(qemu-img --version | head -1)"
		command -v qemu-storage-daemon >/dev/null && echo "qemu-storage-daemon: $(qemu-storage-daemon --version | head -1)"
		command -v mksquashfs >/dev/null && echo "mksquashfs: $(mksquashfs -version 2>&1 | head -1)"
		command -v squashfuse_ll >/dev/null && echo "squashfuse: $(dpkg-query -W -f='${Version}' squashfuse 2>/dev/null)"
		command -v fio >/dev/null && echo "fio: $(fio --version)"
		echo "libfuse3: $(pkg-config --modversion fuse3 2>/dev/null || dpkg-query -W -f='${Version}' libfuse3-3)"
		echo "openssl: $(openssl version)"
		echo "zstd: $(zstd --version)"
		echo "e2fsprogs: $(dpkg-query -W -f='${Version}' e2fsprogs 2>/dev/null)"
	} >"$out/versions.txt" 2>/dev/null
}

# ---------------------------------------------------------------- mount reads
# Every peer with a mount provides mount_PEER GEN MNTDIR, which mounts and
# sets IMG (the image file of generation GEN) and either MPID (the FUSE
# process) or MPID_MNT (the mount point whose daemon read_bench looks up
# once the first byte is timed: pgrep's scan of /proc is not the peer's).
IMG="" MPID="" MPID_MNT=""
pid_of_mount() { # the daemon whose command line names mount point $1
	pgrep -n -f -- " $1( |\$)" 2>/dev/null || true
}
mount_peer() { # mount_peer PEER GEN MNTDIR: mount_PEER, MPID set after it
	MPID= MPID_MNT=
	"mount_$1" "$2" "$3" || return 1
	[ -n "$MPID" ] || [ -z "$MPID_MNT" ] || MPID=$(pid_of_mount "$MPID_MNT")
}
wait_mounted() { # wait_mounted PATH [seconds]
	local i n=$(( ${2:-30} * 20 ))
	for ((i = 0; i < n; i++)); do is_mounted "$1" && return 0; sleep 0.05; done
	return 1
}

fio_iops() { # fio_iops FILE JOBS -> IOPS
	local j="$workdir/fio.json"
	fio --name=rr --filename="$1" --readonly --rw=randread --bs=4k --ioengine=psync \
		--numjobs="$2" --time_based --runtime="$fio_runtime" --invalidate=1 \
		--group_reporting --output-format=json >"$j" 2>>"$logs/fio.log" || { echo 0; return 1; }
	python3 -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"])' "$j"
}

cpu_ticks() { # user+system and system clock ticks of pid $1 (nothing without one)
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 0
	awk '{sub(/^.*\) /, ""); print $12 + $13, $13}' "/proc/$1/stat"
}

ticks_per_gib() { # ticks_per_gib T0 T1 BYTES -> CPU seconds per GiB of BYTES
	awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" \
		'BEGIN{printf "%.2f", (b-a)/hz/(n/2^30)}'
}

vmhwm_mib() { awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null; }

# After the caches are dropped, dd (the first byte's reader) is read in
# again and the mount point made before the clock starts, and nothing the
# harness does inside the interval starts a process (stamp and is_mounted
# are bash's own): the figure is the peer's start and one dd of 4 KiB.
warm_harness() { # warm_harness MNTDIR
	mkdir -p "$1"
	dd if=/dev/zero of=/dev/null bs=4k count=1 status=none
}

read_bench() { # read_bench PEER REP GEN  (mount-based peers and raw)
	local peer=$1 rep=$2 gen=$3 m="$workdir/mnt-$1" t0 t1 rss=0 r
	MPID= MPID_MNT=
	local logical
	logical=$(stat -c %s "$data/gen$gen.img")
	drop_caches
	warm_harness "$m"
	stamp t0
	"mount_$peer" "$gen" "$m" || { note "$peer: mount failed"; rec "$peer" mount_failed "$rep" 1 flag; return 1; }
	dd if="$IMG" of=/dev/null bs=4k count=1 status=none || { note "$peer: first read failed"; "umount_$peer" "$m"; return 1; }
	stamp t1
	rec "$peer" first_byte_ms "$rep" "$(ms_between "$t0" "$t1")" ms
	[ -n "$MPID" ] || [ -z "$MPID_MNT" ] || MPID=$(pid_of_mount "$MPID_MNT")
	drop_caches
	local c0 c1 k0 k1
	read -r c0 k0 < <(cpu_ticks "$MPID")
	stamp t0; dd if="$IMG" of=/dev/null bs=1M status=none; stamp t1
	read -r c1 k1 < <(cpu_ticks "$MPID")
	rec "$peer" cold_read_MBps "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
	# the daemon's user+system CPU for that cold read, and the system
	# part of it, per GiB read
	if [ -n "$c0" ] && [ -n "$c1" ]; then
		rec "$peer" cold_read_cpu_s_GiB "$rep" "$(ticks_per_gib "$c0" "$c1" "$logical")" s/GiB
		rec "$peer" cold_read_sys_s_GiB "$rep" "$(ticks_per_gib "$k0" "$k1" "$logical")" s/GiB
	fi
	stamp t0; dd if="$IMG" of=/dev/null bs=1M status=none; stamp t1
	rec "$peer" warm_read_MBps "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
	[ -n "$MPID" ] && rss=$(vmhwm_mib "$MPID")
	"umount_$peer" "$m"
	if command -v fio >/dev/null; then
		local j
		for j in 1 4; do
			drop_caches
			mount_peer "$peer" "$gen" "$m" || break
			rec "$peer" "rand4k_iops_j$j" "$rep" "$(fio_iops "$IMG" "$j")" IOPS
			if [ -n "$MPID" ]; then
				r=$(vmhwm_mib "$MPID")
				rss=$(awk -v a="${rss:-0}" -v b="${r:-0}" 'BEGIN{print (b>a)?b:a}')
			fi
			"umount_$peer" "$m"
		done
	fi
	[ "$peer" = raw ] || rec "$peer" mount_rss_MiB "$rep" "${rss:-0}" MiB
}

verify_bench() { # verify_bench PEER REP: sha256 of both generations via the mount
	local peer=$1 rep=$2 m="$workdir/mnt-$1" g sum ok=1
	for g in 1 2; do
		"mount_$peer" "$g" "$m" || { ok=0; continue; }
		sum=$(sha256sum "$IMG" | cut -d' ' -f1)
		"umount_$peer" "$m"
		if [ "$sum" = "$(cat "$data/gen$g.sha256")" ]; then
			rec "$peer" "verify_gen$g" "$rep" 1 ok
		else
			rec "$peer" "verify_gen$g" "$rep" 0 ok
			note "$peer FAILED: gen$g read back with sha256 $sum"
			ok=0
		fi
	done
	[ "$ok" = 1 ]
}

# SHA-256 of standard input, in hex: openssl's uses the CPU's SHA
# instructions, coreutils' sha256sum does not and at some 200-250 MB/s
# would be what a restore to a pipe measures.
sum_stdin() {
	if command -v openssl >/dev/null; then
		openssl dgst -sha256 -r | cut -d' ' -f1
	else
		sha256sum | cut -d' ' -f1
	fi
}

extract_bench() { # extract_bench PEER REP: restore both generations to a pipe, timed and checked
	local peer=$1 rep=$2 g t0 t1 sum logical
	for g in 1 2; do
		logical=$(stat -c %s "$data/gen$g.img")
		drop_caches
		stamp t0
		sum=$("extract_$peer" "$g" 2>>"$logs/$peer.log" | sum_stdin)
		stamp t1
		[ "$g" = 2 ] && rec "$peer" restore_MBps "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
		if [ "$sum" = "$(cat "$data/gen$g.sha256")" ]; then
			rec "$peer" "verify_gen$g" "$rep" 1 ok
		else
			rec "$peer" "verify_gen$g" "$rep" 0 ok
			note "$peer FAILED: gen$g restored with sha256 $sum"
		fi
	done
}

# Every stored byte read back and checked once gen2 is in, cold: what a
# scheduled scrub of the store costs (snapfs check --read-data, borg
# check --verify-data, restic check --read-data, bup fsck; casync has no
# such command).
storecheck_bench() { # storecheck_bench PEER REP
	drop_caches
	timed "$1" storecheck "$2" 0 -- "check_$1" || true
}

# Volume source path shared by every peer: the same file name for both
# generations (a hard link swapped between them), as a volume would be.
vol="$workdir/vol/volume.img"
set_gen() { mkdir -p "$workdir/vol"; ln -f "$data/gen$1.img" "$vol"; }

ingest_pair() { # ingest_pair PEER REP: init, gen1, gen2 (+ store sizes)
	local peer=$1 rep=$2 s1 s2 l1 l2
	l1=$(stat -c %s "$data/gen1.img"); l2=$(stat -c %s "$data/gen2.img")
	"init_$peer" >>"$logs/$peer.log" 2>&1 || { note "$peer: init failed"; return 1; }
	set_gen 1; drop_caches
	timed "$peer" ingest1 "$rep" "$l1" -- "ingest_$peer" 1 || return 1
	s1=$(store_bytes $("store_$peer"))
	rec "$peer" store1_bytes "$rep" "$s1" B
	"after1_$peer" 2>>"$logs/$peer.log" || true
	set_gen 2; drop_caches
	timed "$peer" ingest2 "$rep" "$l2" -- "ingest_$peer" 2 || return 1
	s2=$(store_bytes $("store_$peer"))
	rec "$peer" store2_bytes "$rep" "$s2" B
	rec "$peer" added2_bytes "$rep" $((s2 - s1)) B
	return 0
}
after1_default() { :; }

# ---------------------------------------------------------------- snapfs
sf() { "$snapfs_bin" --store "$workdir/snapfs/store" "$@"; }
init_snapfs() { rm -rf "$workdir/snapfs"; mkdir -p "$workdir/snapfs"; sf init --block-size "$block_size"; }
ingest_snapfs() { sf snapshot create vol "$vol" --no-progress; }
check_snapfs() { sf check --read-data --no-progress; }
store_snapfs() { echo "$workdir/snapfs/store"; }
# What a snapfs store's bytes are: packs, the catalog (LMDB file, its
# compacted copy, lock) and the space reserve (store/FORMAT.md "Space
# reserves"), so that a store's growth can be told apart from its data's.
snapfs_parts() { # snapfs_parts GEN REP
	local st="$workdir/snapfs/store"
	rec snapfs "store$1_packs_bytes" "$2" "$(store_bytes "$st/packs")" B
	rec snapfs "store$1_catalog_bytes" "$2" "$(store_bytes "$st/catalog")" B
	rec snapfs "store$1_reserve_bytes" "$2" "$(store_bytes "$st/reserve")" B
}
after1_snapfs() {
	sf_id1=$(tail -1 "$last_out")
	snapfs_parts 1 "$rep"
	# a copy of the one-generation store for the changed-ranges run
	rm -rf "$workdir/snapfs/store-cr"
	cp -a "$workdir/snapfs/store" "$workdir/snapfs/store-cr"
}
mount_snapfs() {
	local st=${2%/}
	[ -d "$2" ] || mkdir -p "$2"
	"$snapfs_bin" --store "$workdir/snapfs/store" mount "$2" -o "cache_size=$cache_size" \
		>>"$logs/snapfs.log" 2>&1 || return 1
	mounts+=("$2")
	wait_mounted "$2" 10 || return 1
	if [ "$1" = 1 ]; then IMG="$2/snapshots/$sf_id1.img"; else IMG="$2/snapshots/$sf_id2.img"; fi
	MPID_MNT=$st
}
umount_snapfs() { unmount "$1"; }

run_snapfs() {
	local rep=$1
	ingest_pair snapfs "$rep" || return 1
	sf_id2=$(tail -1 "$last_out")
	snapfs_parts 2 "$rep"
	sf snapshot show "$sf_id2" --json >"$logs/snapfs-show-gen2.json" 2>&1
	python3 - "$logs/snapfs-show-gen2.json" "$rep" >>"$tsv" <<'EOF' || true
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("new_bytes", "new_chunks", "data_bytes"):
    if k in j:
        print(f"snapfs\tgen2_{k}\t{sys.argv[2]}\t{j[k]}\t{'B' if 'bytes' in k else 'n'}")
EOF
	sf info --json >"$logs/snapfs-info.json" 2>&1
	# incremental from the gen1-only copy, reading only the changed ranges
	local l2 s1
	l2=$(stat -c %s "$data/gen2.img")
	drop_caches
	timed snapfs ingest2cr "$rep" "$l2" -- "$snapfs_bin" --store "$workdir/snapfs/store-cr" \
		snapshot create vol "$vol" --changed-ranges "$data/gen2.ranges" --no-progress || true
	rm -rf "$workdir/snapfs/store-cr"
	storecheck_bench snapfs "$rep"
	if [ "$rep" = 1 ]; then verify_bench snapfs "$rep"; fi
	read_bench snapfs "$rep" 2
	restore_bench_snapfs "$rep"
	if [ "$rep" = 1 ]; then
		profile_read snapfs 2
		profile_restore
	fi
}

# snapfs's own restore of generation 2, cold like the cold read: to a pipe
# (standard output into sum_stdin, as the peers' restore row is measured),
# into /dev/null (standard output, as the cold read's dd writes: the
# target's figure), through a pipe into cat >/dev/null (what a pipe adds),
# and to a file on the work dir's disk (sparse, synced before it returns),
# beside the copy a user would make instead: cp out of a fresh mount, synced.
restore_bench_snapfs() { # restore_bench_snapfs REP
	local rep=$1 logical t0 t1 sum o="$workdir/snapfs/restore.img"
	logical=$(stat -c %s "$data/gen2.img")
	drop_caches
	stamp t0
	sum=$(sf snapshot restore "$sf_id2" - --no-progress 2>>"$logs/snapfs.log" | sum_stdin)
	stamp t1
	if [ "$sum" = "$(cat "$data/gen2.sha256")" ]; then
		rec snapfs restore_MBps "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
	else
		rec snapfs restore_failed "$rep" 1 flag
		note "snapfs FAILED: gen2 restored to a pipe with sha256 $sum"
	fi
	drop_caches
	stamp t0
	if sf snapshot restore "$sf_id2" - --no-progress >/dev/null 2>>"$logs/snapfs.log"; then
		stamp t1
		rec snapfs restore_null_MBps "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
	else
		rec snapfs restore_null_failed "$rep" 1 flag
		note "snapfs: restore of gen2 into /dev/null failed, see logs/snapfs.log"
	fi
	drop_caches
	stamp t0
	if sf snapshot restore "$sf_id2" - --no-progress 2>>"$logs/snapfs.log" | cat >/dev/null; then
		stamp t1
		rec snapfs restore_cat_MBps "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
	else
		rec snapfs restore_cat_failed "$rep" 1 flag
		note "snapfs: restore of gen2 through a pipe into cat failed, see logs/snapfs.log"
	fi
	rm -f "$o"
	drop_caches
	stamp t0
	if sf snapshot restore "$sf_id2" "$o" --no-progress 2>>"$logs/snapfs.log"; then
		stamp t1
		sum=$(sha256sum "$o" | cut -d' ' -f1)
		if [ "$sum" = "$(cat "$data/gen2.sha256")" ]; then
			rec snapfs restore_file_MBps "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
		else
			rec snapfs restore_file_failed "$rep" 1 flag
			note "snapfs FAILED: gen2 restored to a file with sha256 $sum"
		fi
	else
		rec snapfs restore_file_failed "$rep" 1 flag
		note "snapfs: restore of gen2 to a file failed, see logs/snapfs.log"
	fi
	rm -f "$o"
	copy_out_bench snapfs "$rep" "$o"
}

# The restore's alternative: the image copied out of a fresh mount to a
# file on the work dir's disk and synced, caches dropped first.
copy_out_bench() { # copy_out_bench PEER REP DEST
	local peer=$1 rep=$2 o=$3 m="$workdir/mnt-$1" logical t0 t1 sum
	logical=$(stat -c %s "$data/gen2.img")
	"mount_$peer" 2 "$m" || { note "$peer: mount for the copy failed"; return 1; }
	rm -f "$o"
	drop_caches
	stamp t0
	if cp --sparse=always "$IMG" "$o" && sync "$o"; then
		stamp t1
		sum=$(sha256sum "$o" | cut -d' ' -f1)
		if [ "$sum" = "$(cat "$data/gen2.sha256")" ]; then
			rec "$peer" copy_file_MBps "$rep" "$(mbps "$logical" "$t0" "$t1")" MB/s
		else
			rec "$peer" copy_file_failed "$rep" 1 flag
			note "$peer FAILED: gen2 copied out of the mount with sha256 $sum"
		fi
	else
		rec "$peer" copy_file_failed "$rep" 1 flag
		note "$peer: copy of gen2 out of the mount failed"
	fi
	"umount_$peer" "$m"
	rm -f "$o"
}

# A perf profile of the mount daemon over one more cold sequential read
# (not timed: the figures above come from unprofiled runs), so that the
# next change to the read path starts from where its time goes.
profile_read() { # profile_read PEER GEN
	local m="$workdir/mnt-$1" pd="$workdir/perf-read.data" pp
	command -v perf >/dev/null || { note "no perf: read profile skipped"; return 0; }
	drop_caches
	mount_peer "$1" "$2" "$m" || return 1
	perf record -g -p "$MPID" -o "$pd" >>"$logs/perf.log" 2>&1 &
	pp=$!
	sleep 0.2
	dd if="$IMG" of=/dev/null bs=1M status=none
	kill -INT "$pp"; wait "$pp"
	"umount_$1" "$m"
	{
		echo "# perf record -g of the $1 mount daemon, one cold sequential read of gen$2 (dd bs=1M)"
		echo "## by shared object"
		perf report -i "$pd" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -15
		echo "## by symbol"
		perf report -i "$pd" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -40
	} >"$out/profile-read.txt"
	rm -f "$pd"
}

# The same for one more cold restore of generation 2 to a pipe, so that
# a change to the restore path starts from where its time goes.
profile_restore() {
	local pd="$workdir/perf-restore.data"
	command -v perf >/dev/null || { note "no perf: restore profile skipped"; return 0; }
	drop_caches
	perf record -g -o "$pd" -- "$snapfs_bin" --store "$workdir/snapfs/store" snapshot restore \
		"$sf_id2" - --no-progress 2>>"$logs/perf.log" | cat >/dev/null
	{
		echo "# perf record -g of snapfs snapshot restore, one cold restore of gen2 to a pipe"
		echo "## by shared object"
		perf report -i "$pd" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -15
		echo "## by symbol"
		perf report -i "$pd" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep '%' | head -40
	} >"$out/profile-restore.txt"
	rm -f "$pd"
}

# ---------------------------------------------------------------- borg
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=NO BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=NO
borg_flags() {
	case "$1" in
	borg) echo "--chunker-params fixed,$block_size --compression lz4" ;;
	borg-buzhash) echo "--compression lz4" ;;
	borg-zstd) echo "--chunker-params fixed,$block_size --compression zstd,3" ;;
	esac
}
borg_init() { rm -rf "$workdir/$1"; mkdir -p "$workdir/$1"; BORG_BASE_DIR="$workdir/$1/base" borg init -e none "$workdir/$1/repo"; }
borg_ingest() { # PEER GEN
	(cd "$workdir/vol" && BORG_BASE_DIR="$workdir/$1/base" borg create $(borg_flags "$1") "$workdir/$1/repo::gen$2" volume.img)
}
borg_check() { BORG_BASE_DIR="$workdir/$1/base" borg check --verify-data "$workdir/$1/repo"; }
borg_mount() { # PEER GEN MNT
	mkdir -p "$3"
	if /usr/bin/python3 -c 'import pyfuse3' 2>/dev/null; then export BORG_FUSE_IMPL=pyfuse3; fi
	BORG_BASE_DIR="$workdir/$1/base" borg mount "$workdir/$1/repo::gen$2" "$3" >>"$logs/$1.log" 2>&1 || return 1
	mounts+=("$3")
	wait_mounted "$3" 30 || return 1
	IMG="$3/volume.img"
	MPID_MNT=$3
}
for p in borg borg-buzhash borg-zstd; do
	f=${p//-/_}
	eval "init_$p() { borg_init $p; }
ingest_$p() { borg_ingest $p \"\$1\"; }
check_$p() { borg_check $p; }
store_$p() { echo \"$workdir/$p/repo\"; }
after1_$p() { :; }
mount_$p() { borg_mount $p \"\$1\" \"\$2\"; }
umount_$p() { unmount \"\$1\"; }
run_$p() { ingest_pair $p \"\$1\" || return 1; storecheck_bench $p \"\$1\"; [ \"\$1\" != 1 ] || verify_bench $p \"\$1\"; read_bench $p \"\$1\" 2; }"
done

# ---------------------------------------------------------------- restic
export RESTIC_PASSWORD=snapfs-bench
init_restic() {
	rm -rf "$workdir/restic"; mkdir -p "$workdir/restic"
	RESTIC_CACHE_DIR="$workdir/restic/cache" restic -r "$workdir/restic/repo" init
}
ingest_restic() {
	(cd "$workdir/vol" && RESTIC_CACHE_DIR="$workdir/restic/cache" restic -r "$workdir/restic/repo" \
		backup --quiet --tag "gen$1" volume.img)
}
store_restic() { echo "$workdir/restic/repo"; }
check_restic() { RESTIC_CACHE_DIR="$workdir/restic/cache" restic -r "$workdir/restic/repo" check --read-data; }
after1_restic() { :; }
restic_pid=""
mount_restic() {
	[ -d "$2" ] || mkdir -p "$2"
	RESTIC_CACHE_DIR="$workdir/restic/cache" restic -r "$workdir/restic/repo" mount "$2" \
		>>"$logs/restic.log" 2>&1 &
	restic_pid=$!
	our_pids+=("$restic_pid")
	mounts+=("$2")
	wait_mounted "$2" 30 || return 1
	local id
	id=$(RESTIC_CACHE_DIR="$workdir/restic/cache" restic -r "$workdir/restic/repo" snapshots \
		--tag "gen$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["short_id"])')
	IMG=$(find "$2/ids/$id" -name volume.img | head -1)
	MPID=$restic_pid
	[ -n "$IMG" ]
}
umount_restic() { unmount "$1"; stop_pid "$restic_pid"; wait "$restic_pid" 2>/dev/null; restic_pid=""; }
run_restic() { ingest_pair restic "$1" || return 1; storecheck_bench restic "$1"; [ "$1" != 1 ] || verify_bench restic "$1"; read_bench restic "$1" 2; }

# ---------------------------------------------------------------- casync
init_casync() { rm -rf "$workdir/casync"; mkdir -p "$workdir/casync"; }
ingest_casync() { casync make --store="$workdir/casync/store.castr" "$workdir/casync/gen$1.caibx" "$vol" >/dev/null; }
store_casync() { echo "$workdir/casync/store.castr" "$workdir/casync/"*.caibx; }
after1_casync() { :; }
extract_casync() { # casync writes blobs to a file only
	local o="$workdir/casync/extract.img"
	rm -f "$o"
	casync extract --store="$workdir/casync/store.castr" "$workdir/casync/gen$1.caibx" "$o" >&2 && cat "$o"
	rm -f "$o"
}
run_casync() { ingest_pair casync "$1" || return 1; extract_bench casync "$1"; }

# ---------------------------------------------------------------- bup
init_bup() { rm -rf "$workdir/bup"; mkdir -p "$workdir/bup"; BUP_DIR="$workdir/bup/repo" bup init; }
ingest_bup() { BUP_DIR="$workdir/bup/repo" bup split -q -n "gen$1" "$vol"; }
store_bup() { echo "$workdir/bup/repo"; }
check_bup() { BUP_DIR="$workdir/bup/repo" bup fsck; }
after1_bup() { :; }
extract_bup() { BUP_DIR="$workdir/bup/repo" bup join "gen$1"; }
run_bup() { ingest_pair bup "$1" || return 1; storecheck_bench bup "$1"; extract_bench bup "$1"; }

# ---------------------------------------------------------------- qcow2
# gen1: qemu-img convert.  gen2 plain: an overlay on gen1 made by a safe
# rebase (compares every block).  gen2 with changed ranges: an empty overlay
# on gen1 into which the changed ranges are written through a writable
# qemu-storage-daemon FUSE export.  Reads: a read-only FUSE export.
init_qcow2() { rm -rf "$workdir/qcow2"; mkdir -p "$workdir/qcow2"; }
ingest_qcow2() {
	local d="$workdir/qcow2"
	if [ "$1" = 1 ]; then
		qemu-img convert -O qcow2 "$vol" "$d/gen1.qcow2"
	else
		qemu-img create -q -f qcow2 -b "$vol" -F raw "$d/gen2.qcow2" &&
			qemu-img rebase -f qcow2 -b "$d/gen1.qcow2" -F qcow2 "$d/gen2.qcow2"
	fi
}
store_qcow2() { echo "$workdir/qcow2/gen1.qcow2" "$workdir/qcow2/gen2.qcow2"; }
after1_qcow2() { :; }
qsd_start() { # qsd_start QCOW2 MOUNTFILE writable
	local pidf="$workdir/qcow2/qsd.pid"
	rm -f "$pidf"; touch "$2"
	qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$1" \
		--blockdev "driver=qcow2,node-name=q,file=f" \
		--export "type=fuse,id=e,node-name=q,mountpoint=$2,writable=$3" \
		--daemonize --pidfile "$pidf" >>"$logs/qcow2.log" 2>&1 || return 1
	MPID=$(cat "$pidf")
	our_pids+=("$MPID")
	mounts+=("$2")
	wait_mounted "$2" 10
}
qsd_stop() { local p=$MPID; unmount "$1"; stop_pid "$p"; }
ingest_cr_qcow2() {
	local d="$workdir/qcow2" m="$workdir/qcow2/export-w"
	qemu-img create -q -f qcow2 -b "$d/gen1.qcow2" -F qcow2 "$d/gen2cr.qcow2" || return 1
	qsd_start "$d/gen2cr.qcow2" "$m" on || return 1
	python3 "$helpers/apply_ranges.py" "$vol" "$m" "$data/gen2.ranges"
	local rc=$?
	qsd_stop "$m"
	return $rc
}
mount_qcow2() { IMG="$workdir/qcow2/export-r"; qsd_start "$workdir/qcow2/gen$1.qcow2" "$IMG" off; }
umount_qcow2() { qsd_stop "$workdir/qcow2/export-r"; }
# The same generation as one image of its own (qemu-img convert), read
# through the same export: the set-up that measures qcow2 without a
# backing chain, beside the overlay set-up above.
mount_qcow2-flat() { IMG="$workdir/qcow2/export-r"; qsd_start "$workdir/qcow2/gen$1-flat.qcow2" "$IMG" off; }
umount_qcow2-flat() { qsd_stop "$workdir/qcow2/export-r"; }
run_qcow2() {
	ingest_pair qcow2 "$1" || return 1
	drop_caches
	timed qcow2 ingest2cr "$1" "$(stat -c %s "$data/gen2.img")" -- ingest_cr_qcow2 || true
	rm -f "$workdir/qcow2/gen2cr.qcow2"
	[ "$1" != 1 ] || verify_bench qcow2 "$1"
	read_bench qcow2 "$1" 2
	qemu-img convert -O qcow2 "$data/gen2.img" "$workdir/qcow2/gen2-flat.qcow2" &&
		read_bench qcow2-flat "$1" 2
	rm -f "$workdir/qcow2/gen2-flat.qcow2"
}

# ---------------------------------------------------------------- squashfs
# One read-only image per generation (no increments): store = both images.
init_squashfs() { rm -rf "$workdir/squashfs"; mkdir -p "$workdir/squashfs"; }
ingest_squashfs() {
	mksquashfs "$vol" "$workdir/squashfs/gen$1.sqfs" -noappend -comp zstd -Xcompression-level 3 \
		-quiet -no-progress >/dev/null
}
store_squashfs() { echo "$workdir/squashfs/"*.sqfs; }
after1_squashfs() { :; }
mount_squashfs() {
	[ -d "$2" ] || mkdir -p "$2"
	squashfuse_ll "$workdir/squashfs/gen$1.sqfs" "$2" >>"$logs/squashfs.log" 2>&1 || return 1
	mounts+=("$2")
	wait_mounted "$2" 10 || return 1
	IMG="$2/volume.img"
	MPID_MNT=$2
}
umount_squashfs() { unmount "$1"; }
run_squashfs() { ingest_pair squashfs "$1" || return 1; [ "$1" != 1 ] || verify_bench squashfs "$1"; read_bench squashfs "$1" 2; }

# ---------------------------------------------------------------- raw and passthrough_ll
mount_raw() { IMG="$data/gen$1.img"; MPID=""; }
umount_raw() { :; }
run_raw() { read_bench raw "$1" 2; }

pll_bin=""
build_passthrough() {
	local src=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
	[ -f "$src" ] || { note "peer passthrough unavailable: $src not shipped"; return 1; }
	pll_bin="$workdir/passthrough_ll"
	cc -O2 -o "$pll_bin" "$src" $(pkg-config --cflags --libs fuse3) >>"$logs/passthrough.log" 2>&1 ||
		{ note "peer passthrough unavailable: passthrough_ll did not build (logs/passthrough.log)"; return 1; }
}
mount_passthrough() {
	[ -d "$2" ] || mkdir -p "$2"
	"$pll_bin" -o "source=$data" "$2" >>"$logs/passthrough.log" 2>&1 || return 1
	mounts+=("$2")
	wait_mounted "$2" 10 || return 1
	IMG="$2/gen$1.img"
	MPID_MNT=$2
}
umount_passthrough() { unmount "$1"; }
run_passthrough() { [ -n "$pll_bin" ] || build_passthrough || return 1; read_bench passthrough "$1" 2; }

# ---------------------------------------------------------------- CPU references
run_cpu() {
	local rep=$1 v
	v=$(openssl speed -seconds 3 -bytes 65536 -evp sha256 2>/dev/null |
		awk '/^sha256/{v=$NF; sub(/k$/,"",v); printf "%.1f", v*1000/1e6}')
	[ -n "$v" ] && rec cpu sha256_1core_MBps "$rep" "$v" MB/s
	# payload: the files of generation 1 (no free space), at most 256 MiB
	local sample="$workdir/zstd.sample" l line
	{ tar --null -C / -cf - --files-from="$data/gen1.files" 2>/dev/null || true; } |
		head -c $((256 << 20)) >"$sample"
	for l in 1 3; do
		line=$(zstd -b$l -T1 -i3 "$sample" 2>&1 | tr '\r' '\n' | grep 'MB/s,' | tail -1)
		set -- $(echo "$line" | grep -oE '[0-9.]+ MB/s' | awk '{print $1}')
		[ $# -ge 2 ] || continue
		rec cpu "zstd${l}_compress_1core_MBps" "$rep" "$1" MB/s
		rec cpu "zstd${l}_decompress_1core_MBps" "$rep" "$2" MB/s
	done
	rm -f "$sample"
}

# ---------------------------------------------------------------- scaling
run_scaling() {
	local marks="1,100,$scale_count"
	[ "$scale_count" -ge 100 ] || marks="1,$scale_count"
	python3 "$helpers/scaling.py" --snapfs "$snapfs_bin" --store "$workdir/scale/store" \
		--image "$data/small.img" --work "$workdir/scale" --count "$scale_count" --marks "$marks" \
		--seed "$seed" --cache-size "$cache_size" --block-size "$block_size" >>"$tsv" 2>>"$logs/scaling.log" ||
		note "snapfs scaling run failed; see logs/scaling.log"
	rm -rf "$workdir/scale"
}

# ---------------------------------------------------------------- main
# timed runs its command under /usr/bin/time in a child bash: hand it the
# functions and the variables they use.
export workdir vol data logs helpers snapfs_bin last_out cache_size block_size
export -f $(declare -F | awk '{print $3}')
section setup
log "out $out, work dir $workdir, size $((size >> 20)) MiB, reps $reps, seed $seed, block size $((block_size >> 10)) KiB, peers $peers"
ensure_tools
if peer_on snapfs; then build_snapfs || peers=$(echo ",$peers," | sed 's/,snapfs,/,/; s/^,//; s/,$//'); fi
versions

section data
"$helpers/mkdata.sh" --out "$data" --size "$size" --seed "$seed" --block-size "$block_size" >>"$logs/mkdata.log" 2>&1 ||
	{ log "test data failed: see $logs/mkdata.log"; exit 1; }
rec data logical_bytes 0 "$size" B
rec data gen1_allocated_bytes 0 "$(store_bytes "$data/gen1.img")" B
rec data gen2_allocated_bytes 0 "$(store_bytes "$data/gen2.img")" B
rec data gen2_changed_bytes 0 "$(awk '{s+=$2} END{print s+0}' "$data/gen2.ranges")" B
grep -E '^(changed|churn|picked|mkdata: gen2 uses)' "$logs/mkdata.log" >>"$notes" 2>/dev/null || true

# Rep r of every tool, then rep r+1: a shared machine's load drifts over
# a run of half an hour, and each tool's median should see the same
# drift, not the part of the run its turn happened to fall in.
for ((r = 1; r <= reps; r++)); do
	for p in ${peers//,/ }; do
		section "$p rep $r"
		"run_$p" "$r" || note "$p: rep $r incomplete"
	done
done
if peer_on snapfs; then
	section "snapfs scaling"
	run_scaling
fi
section ""
python3 "$helpers/report.py" --tsv "$tsv" --versions "$out/versions.txt" --loadavg "$loadtsv" \
	--notes "$notes" --size "$size" --reps "$reps" --cache-size "$cache_size" \
	--block-size "$block_size" >"$out/results.md" ||
	log "report failed"
log "done: $out/results.md"
