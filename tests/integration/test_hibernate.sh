#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hibernation of a QEMU VM into the store and its resume from the mount.
# A busybox guest (Debian kernel, TCG) launched with hibernation enabled
# (image launch-config --hibernation) mounts its disk, writes a marker it
# got on its command line, and prints a counter, its boot id and uptime
# every second. It is checkpointed live (--keep-running), then again after
# a few seconds (which must add only a few percent of its RAM to the
# store), which stops it; larger snapshots of the VM's state and RAM
# volumes taken between the two make the second's device state and RAM
# the shorter ones, padded in the store and shown at their own lengths;
# resumed from the mount, the counter goes on,
# the boot id is the same and the uptime did not restart, and the marker
# is on the checkpoint's disk. The resumed VM (RAM mapped privately from
# the mount) is hibernated again a few seconds later, through a mapped-ram
# migration, adding only a few percent of its RAM; that checkpoint resumes
# lazily and, with --copy-ram (the fallback of QEMU older than 8.2,
# forced), from a copy with one line saying why that is slower: both go on
# counting with the same boot id. A VM launched with a private RAM file is
# checkpointed the same way. Bad input: a socket that is not QEMU, a VM
# without file-backed RAM, a name in use. The checkpoint shows on the mount as checkpoints/<name>/
# (checkpoint.json, ram.img, state.bin, one file per disk), which the
# resume reads; on the allow_other mount a user without launch permission
# on the checkpoint's image can neither list nor read it, root can, and a
# launch permission opens it. A resume with another machine shape (more
# memory or CPUs, asked of launch-config or given to its script) is refused
# with one clear line. Prints the resume time and the resumed QEMU's RSS a second after
# it runs. Needs QEMU 8.2 or newer for the lazy path (scripts/deps.sh);
# skips (77) only when /dev/fuse is missing.
. "$(dirname "$0")/lib.sh" "$@"

[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }
need_root
MEM=${SNAPFS_HIB_MEM:-256}
TIMEOUT=${SNAPFS_VM_TIMEOUT:-180}
command -v qemu-system-x86_64 >/dev/null || fail "no qemu-system-x86_64 (scripts/deps.sh installs it)"
. "$(dirname "$0")/busybox_guest.sh"
busybox_guest "$T/guest"
MARK="m-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
truncate -s 32M "$T/root.ext4"
mkfs.ext4 -q -F "$T/root.ext4"
sfs init >/dev/null
sfs image create hib --device sda="$T/root.ext4" --root-device sda --arch x86_64 \
	--boot-mode bios --no-progress >/dev/null || fail "image create"

# An unprivileged user, to check who may read a checkpoint's RAM.
U=sfhib$$
trap 'rc=$?; set +e; userdel "$U" >/dev/null 2>&1; (exit $rc); cleanup' EXIT
useradd -M -N -g nogroup -s /bin/sh "$U" 2>/dev/null || useradd -M -s /bin/sh "$U" ||
	fail "useradd $U"
as_user() { runuser -u "$U" -- "$@"; }

chmod 755 "$T"
MNT=$T/mnt
mkdir -p "$MNT"
track_mount "$MNT"
"$SNAPFS" --store "$STORE" mount "$MNT" -o allow_other || fail "mount failed"
for _ in $(seq 100); do [ -e "$MNT/images/hib/sda.img" ] && break; sleep 0.1; done

# wait_for FILE PATTERN SECONDS
wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# ---- bad input before any VM ----
python3 - "$T/notqemu.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
end = time.time() + 60
while time.time() < end:
    c, _ = s.accept(); c.sendall(b"hello, I am not QEMU\n"); time.sleep(0.2); c.close()
PY
track_pid $!
for _ in $(seq 50); do [ -S "$T/notqemu.sock" ] && break; sleep 0.1; done
expect_error 1 sfs checkpoint create c0 --qmp "$T/notqemu.sock"
case "$ERR" in *"not a QEMU QMP socket"*) ;; *) soft_fail "not-QEMU socket: $ERR" ;; esac
expect_error 1 sfs checkpoint create c0 --qmp "$T/nothing.sock"
expect_error 2 sfs checkpoint create c0
expect_error 2 sfs checkpoint create 'bad/name' --qmp "$T/notqemu.sock"

# A VM whose RAM is plain anonymous memory, and one whose RAM file is not shared.
qemu-system-x86_64 -machine q35 -accel tcg -m 64 -S -display none -monitor none \
	-qmp "unix:$T/plain.qmp,server=on,wait=off" >/dev/null 2>&1 &
track_pid $!
qemu-system-x86_64 -machine q35,memory-backend=mem -accel tcg -m 64 -S -display none -monitor none \
	-object "memory-backend-file,id=mem,size=64M,mem-path=$T/private.ram,share=off" \
	-qmp "unix:$T/private.qmp,server=on,wait=off" >/dev/null 2>&1 &
track_pid $!
# A socket file appears at bind(), a moment before QEMU listens.
listening() {
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' \
		"$1" 2>/dev/null
}
for _ in $(seq 100); do listening "$T/plain.qmp" && listening "$T/private.qmp" && break; sleep 0.1; done
expect_error 1 sfs checkpoint create c0 --qmp "$T/plain.qmp"
case "$ERR" in *"launch it with hibernation enabled"*) ;; *) soft_fail "plain RAM: $ERR" ;; esac
[ -z "$(sfs checkpoint list --json | tr -d '[] \n')" ] || fail "a refused create registered something"
# A private RAM file is saved through a mapped-ram migration (QEMU 9.0+).
sfs checkpoint create p0 --qmp "$T/private.qmp" --json >"$T/p0.json" || fail "create of a VM with private RAM"
grep -q '"state_format": "mapped-ram"' "$T/p0.json" || fail "private RAM not recorded as mapped-ram"
sfs checkpoint delete p0 >/dev/null || fail "delete p0"

# ---- launch with hibernation enabled ----
log "boot (TCG, ${MEM} MiB)"
sfs image launch-config hib --mount "$MNT" --overlay "$T/ov" --hibernation --ram-dir "$T/run" \
	--kernel "$VMLINUZ" --initrd "$T/guest/initrd.gz" --append "console=ttyS0 quiet marker=$MARK" \
	--accel tcg --memory "$MEM" --serial "$T/serial1.log" >"$T/launch.sh" || fail "launch-config"
grep -q "share=on" "$T/launch.sh" || fail "--hibernation did not put RAM in a shared file"
sh "$T/launch.sh" >"$T/qemu1.out" 2>&1 &
VM1=$!
track_pid $VM1
wait_for "$T/serial1.log" "tick 3 " "$TIMEOUT" || fail "the guest did not start: $(tail -5 "$T/serial1.log")"
grep -q "marker written: $MARK" "$T/serial1.log" || fail "no marker written: $(cat "$T/serial1.log")"

log "checkpoint 1 (live)"
sfs checkpoint create c1 --qmp "$T/run/hib.qmp" --keep-running --json >"$T/c1.json" ||
	fail "checkpoint create c1"
NEW1=$(json_field new_bytes <"$T/c1.json")
kill -0 $VM1 2>/dev/null || fail "--keep-running stopped the VM"
expect_error 1 sfs checkpoint create c1 --qmp "$T/run/hib.qmp"
case "$ERR" in *"already exists"*) ;; *) soft_fail "name in use: $ERR" ;; esac
kill -0 $VM1 2>/dev/null || fail "a refused create stopped the VM"
sleep 4
before=$(grep -c "^tick" "$T/serial1.log")
sleep 2
[ "$(grep -c "^tick" "$T/serial1.log")" -gt "$before" ] || fail "the VM does not run after create --keep-running"

# A volume never shrinks, but a device state can come out shorter than
# the last one, and a VM launched again with less memory has less RAM:
# larger snapshots of the VM's state volume (zeros) and RAM volume (c1's
# RAM and 4 MiB of zeros) make c2's the shorter ones, padded to the
# volumes' sizes in the store while the record, state.bin and ram.img
# keep their own lengths. The resume below reads them.
VMNAME=$(json_field vm <"$T/c1.json")
[ -n "$VMNAME" ] || fail "c1's record names no VM"
PADDED=$((4 << 20))
truncate -s "$PADDED" "$T/bigstate"
sfs snapshot create "$VMNAME-state" "$T/bigstate" --no-progress >/dev/null ||
	fail "a larger snapshot of volume $VMNAME-state"
RAM1=$(json_at ram snapshot <"$T/c1.json")
sfs snapshot restore "$RAM1" "$T/bigram" >/dev/null || fail "restore of c1's RAM"
truncate -s "+$PADDED" "$T/bigram"
sfs snapshot create "$VMNAME-ram" "$T/bigram" --no-progress >/dev/null ||
	fail "a larger snapshot of volume $VMNAME-ram"
rm -f "$T/bigram"

log "checkpoint 2 (hibernate)"
sfs checkpoint create c2 --qmp "$T/run/hib.qmp" --json >"$T/c2.json" || fail "checkpoint create c2"
NEW2=$(json_field new_bytes <"$T/c2.json")
for _ in $(seq 100); do kill -0 $VM1 2>/dev/null || break; sleep 0.1; done
kill -0 $VM1 2>/dev/null && fail "the VM still runs after checkpoint create"
LAST=$(grep "^tick" "$T/serial1.log" | tail -n 1)
log "last before hibernation: $LAST"
RAMB=$((MEM << 20))
log "bytes added: first $NEW1, second $NEW2 (RAM $RAMB)"
[ "$NEW2" -lt $((RAMB / 20)) ] || fail "the second checkpoint added $NEW2 bytes, over 5% of $RAMB"

sfs checkpoint list | grep -q "^c2 " || fail "c2 not listed"
sfs checkpoint show c2 --json >"$T/show.json" || fail "checkpoint show"
grep -q '"image": "hib"' "$T/show.json" || fail "the checkpoint does not record its image"
CKID=$(json_at id <"$T/show.json")
sfs checkpoint show "$CKID" --json | grep -q '"name": "c2"' || fail "checkpoint show by id $CKID"
DISK=$(json_at devices 0 snapshot <"$T/show.json")
debugfs -R "cat /marker" "$MNT/snapshots/$DISK.img" 2>/dev/null | grep -qx "$MARK" ||
	fail "the marker is not on the checkpoint's disk"

# ---- checkpoints/ on the mount ----
CK=$MNT/checkpoints/c2
assert_eq "$(ls "$CK" | tr '\n' ' ')" "checkpoint.json ram.img sda.img state.bin " "checkpoints/c2/"
python3 - "$CK/checkpoint.json" "$T/show.json" <<'PY' || fail "checkpoint.json is not the record"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a == b, (a, b)
PY
RAMSNAP=$(json_at ram snapshot <"$T/show.json")
STATESIZE=$(json_at state size <"$T/show.json")
assert_eq "$(stat -c %s "$CK/state.bin")" "$STATESIZE" "state.bin's size"
STATESNAP=$(json_at state snapshot <"$T/show.json")
[ "$STATESIZE" -lt "$PADDED" ] || fail "c2's device state ($STATESIZE bytes) was not the shorter one"
assert_eq "$(stat -c %s "$MNT/snapshots/$STATESNAP.img")" "$PADDED" "the padded state snapshot's size"
cmp -n "$STATESIZE" "$CK/state.bin" "$MNT/snapshots/$STATESNAP.img" ||
	fail "state.bin differs from its snapshot"
cmp -s -i "$STATESIZE:0" -n "$((PADDED - STATESIZE))" "$MNT/snapshots/$STATESNAP.img" /dev/zero ||
	fail "the state snapshot's padding is not zeros"
assert_eq "$(stat -c %s "$CK/ram.img")" "$RAMB" "ram.img's size"
assert_eq "$(stat -c %s "$MNT/snapshots/$RAMSNAP.img")" "$((RAMB + PADDED))" "the padded RAM snapshot's size"
cmp -n "$RAMB" "$CK/ram.img" "$MNT/snapshots/$RAMSNAP.img" || fail "ram.img differs from the RAM snapshot"
cmp -s -i "$RAMB:0" -n "$PADDED" "$MNT/snapshots/$RAMSNAP.img" /dev/zero ||
	fail "the RAM snapshot's padding is not zeros"
cmp "$CK/sda.img" "$MNT/snapshots/$DISK.img" || fail "sda.img differs from the disk snapshot"
# RAM holds secrets: only root, the store's owner and the image's users.
head -c 4096 "$CK/ram.img" >/dev/null || fail "root cannot read ram.img"
as_user head -c 4096 "$CK/ram.img" >/dev/null 2>"$T/deny.err" &&
	fail "a user without launch permission read ram.img"
grep -q "Permission denied" "$T/deny.err" || fail "not EACCES: $(cat "$T/deny.err")"
as_user cat "$CK/checkpoint.json" >/dev/null 2>&1 && fail "a user without permission read checkpoint.json"
as_user ls "$MNT/checkpoints" | grep -q . && fail "checkpoints/ lists c2 to a user without permission"
sfs image permission add hib --user "$U" || fail "image permission add"
as_user head -c 4096 "$CK/ram.img" >/dev/null || fail "the image's user cannot read ram.img"
as_user ls "$MNT/checkpoints" | grep -qx c2 || fail "checkpoints/ hides c2 from the image's user"
sfs image permission remove hib --user "$U" || fail "image permission remove"
as_user head -c 4096 "$CK/ram.img" >/dev/null 2>&1 && fail "a revoked user still reads ram.img"

expect_error 1 sfs snapshot delete "$DISK"
case "$ERR" in *"checkpoint c"*) ;; *) soft_fail "deleting a checkpoint's snapshot: $ERR" ;; esac

# ---- resume from the mount ----
log "resume"
CPUS=$(json_at machine cpus <"$T/show.json")
sfs checkpoint launch-config c2 --mount "$MNT" --overlay "$T/ov2" --serial "$T/serial2.log" \
	--qmp "$T/run/resume.qmp" --memory "$MEM" --cpus "$CPUS" >"$T/resume.sh" ||
	fail "checkpoint launch-config with the recorded shape"
# Another shape is refused: asked of launch-config, or given to the script.
expect_error 1 sfs checkpoint launch-config c2 --mount "$MNT" --memory $((MEM * 2))
case "$ERR" in *"made with $MEM MiB of RAM, not --memory $((MEM * 2))"*"shape it had") ;;
*) soft_fail "--memory: $ERR" ;; esac
expect_error 1 sfs checkpoint launch-config c2 --mount "$MNT" --cpus $((CPUS + 1))
case "$ERR" in *"made with $CPUS CPUs"*"shape it had") ;; *) soft_fail "--cpus: $ERR" ;; esac
grep -q -- "--memory $RAMB --cpus $CPUS --machine " "$T/resume.sh" || fail "the script does not check the shape"
sh "$T/resume.sh" -smp $((CPUS + 1)) >"$T/shape.out" 2>&1 && fail "resumed with $((CPUS + 1)) CPUs"
grep -q "snapfs: the VM has $((CPUS + 1)) CPUs and the checkpoint was made with $CPUS: a hibernated VM resumes only with the shape it had" "$T/shape.out" ||
	fail "another shape given to the script: $(cat "$T/shape.out")"
grep -q "readonly=on,rom=off" "$T/resume.sh" || fail "RAM is not mapped read-only from the mount"
grep -q "$MNT/checkpoints/c2/ram.img" "$T/resume.sh" || fail "the resume does not map checkpoints/c2/ram.img"
grep -q "$MNT/checkpoints/c2/state.bin" "$T/resume.sh" || fail "the resume does not read checkpoints/c2/state.bin"
grep -q "$MNT/checkpoints/c2/sda.img" "$T/resume.sh" || fail "the resume's disk is not checkpoints/c2/sda.img"
grep -q "$MNT/snapshots/" "$T/resume.sh" && fail "the resume still reads snapshots/"
sh "$T/resume.sh" >"$T/qemu2.out" 2>&1 &
VM2=$!
track_pid $VM2
wait_for "$T/qemu2.out" "VM resumed in" 60 || fail "no resume: $(cat "$T/qemu2.out")"
RESUME=$(sed -n 's/.*VM resumed in \([0-9.]*\) s.*/\1/p' "$T/qemu2.out")
sleep 1
QPID=$(pgrep -f -- "unix:$T/run/resume.qmp" | head -n 1)
RSS=$(ps -o rss= -p "$QPID" 2>/dev/null | tr -d ' ')
log "resumed in ${RESUME}s; QEMU RSS a second later: ${RSS} KiB (guest RAM ${MEM} MiB)"
wait_for "$T/serial2.log" "^tick" 30 || fail "the resumed guest prints nothing: $(cat "$T/qemu2.out")"
sleep 2
FIRST=$(grep "^tick" "$T/serial2.log" | head -n 1)
log "first after resume: $FIRST"
n1=$(echo "$LAST" | awk '{print $2}'); n2=$(echo "$FIRST" | awk '{print $2}')
b1=$(echo "$LAST" | awk '{print $4}'); b2=$(echo "$FIRST" | awk '{print $4}')
u1=$(echo "$LAST" | awk '{print $6}'); u2=$(echo "$FIRST" | awk '{print $6}')
[ "$n2" -gt "$n1" ] && [ "$n2" -le $((n1 + 3)) ] || fail "the counter did not go on: $n1 then $n2"
assert_eq "$b2" "$b1" "boot id after resume"
awk -v a="$u1" -v b="$u2" 'BEGIN { exit !(b >= a) }' || fail "uptime restarted: $u1 then $u2"
grep -q "Linux version" "$T/serial2.log" && fail "the resumed guest booted again"
[ -n "$RSS" ] && [ "$RSS" -lt $((MEM * 1024)) ] || fail "resumed RSS $RSS KiB is not under the guest's RAM"

# ---- hibernate the resumed VM again ----
# Its RAM is the mount's ram.img mapped privately: create saves it through
# a mapped-ram migration, and the pages it did not change dedup against c2.
sleep 3
log "checkpoint 3 (of the resumed VM)"
sfs checkpoint create c3 --qmp "$T/run/resume.qmp" --json >"$T/c3.json" || fail "checkpoint create c3"
NEW3=$(json_field new_bytes <"$T/c3.json")
grep -q '"state_format": "mapped-ram"' "$T/c3.json" || fail "c3 is not recorded as a mapped-ram state"
sfs checkpoint show c3 | grep -q "^state: .*, mapped-ram)" || fail "checkpoint show does not say c3's state is mapped-ram"
for _ in $(seq 100); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$QPID" 2>/dev/null && fail "the resumed VM still runs after checkpoint create"
wait $VM2 2>/dev/null || true
LAST2=$(grep "^tick" "$T/serial2.log" | tail -n 1)
log "last before the second hibernation: $LAST2; c3 added $NEW3 bytes"
[ "$NEW3" -lt $((RAMB / 20)) ] || fail "the checkpoint of the resumed VM added $NEW3 bytes, over 5% of $RAMB"

# resume_check SERIAL: the guest in SERIAL goes on from LAST2.
resume_check() {
	local first n1 n2
	wait_for "$1" "^tick" 30 || fail "the resumed guest prints nothing ($1)"
	first=$(grep "^tick" "$1" | head -n 1)
	log "first after resume ($1): $first"
	n1=$(echo "$LAST2" | awk '{print $2}'); n2=$(echo "$first" | awk '{print $2}')
	[ "$n2" -gt "$n1" ] && [ "$n2" -le $((n1 + 3)) ] || fail "the counter did not go on: $n1 then $n2"
	assert_eq "$(echo "$first" | awk '{print $4}')" "$b1" "boot id after the second resume"
	grep -q "Linux version" "$1" && fail "the guest booted again ($1)"
	return 0
}

log "resume c3 (lazily)"
sfs checkpoint launch-config c3 --mount "$MNT" --overlay "$T/ov3" --serial "$T/serial3.log" \
	--qmp "$T/run/resume3.qmp" >"$T/resume3.sh" || fail "launch-config c3"
grep -q -- "--mapped-ram" "$T/resume3.sh" || fail "the resume of c3 does not feed a mapped-ram state"
sh "$T/resume3.sh" >"$T/qemu3.out" 2>&1 &
VM3=$!
track_pid $VM3
wait_for "$T/qemu3.out" "VM resumed in" 60 || fail "no resume of c3: $(cat "$T/qemu3.out")"
RESUME3=$(sed -n 's/.*VM resumed in \([0-9.]*\) s.*/\1/p' "$T/qemu3.out")
sleep 1
QPID3=$(pgrep -f -- "unix:$T/run/resume3.qmp" | head -n 1)
RSS3=$(ps -o rss= -p "$QPID3" 2>/dev/null | tr -d ' ')
log "c3 resumed in ${RESUME3}s; RSS a second later ${RSS3} KiB"
[ -n "$RSS3" ] && [ "$RSS3" -lt $((MEM * 1024)) ] || fail "RSS $RSS3 KiB after resuming c3 is not under the guest's RAM"
resume_check "$T/serial3.log"
kill "$QPID3" 2>/dev/null || true
wait $VM3 2>/dev/null || true

# The copy-out fallback of QEMU older than 8.2, forced.
log "resume c3 (--copy-ram)"
sfs checkpoint launch-config c3 --mount "$MNT" --serial "$T/serial4.log" --copy-ram \
	--qmp "$T/run/resume4.qmp" >"$T/resume4.sh" || fail "launch-config c3 --copy-ram"
sh "$T/resume4.sh" >"$T/qemu4.out" 2>&1 &
VM4=$!
track_pid $VM4
wait_for "$T/qemu4.out" "VM resumed in" 60 || fail "no resume with --copy-ram: $(cat "$T/qemu4.out")"
assert_eq "$(grep -c "copying the RAM image out first, which is slower" "$T/qemu4.out")" 1 \
	"the line that says why --copy-ram is slower"
resume_check "$T/serial4.log"
QPID4=$(pgrep -f -- "unix:$T/run/resume4.qmp" | head -n 1)
grep -q "$MNT/checkpoints" "/proc/$QPID4/maps" && fail "the --copy-ram resume maps the mount"
kill "$QPID4" 2>/dev/null || true
wait $VM4 2>/dev/null || true

log "delete"
sfs checkpoint delete c1 >/dev/null || fail "checkpoint delete"
sfs checkpoint list --json | grep -q '"c1"' && fail "c1 still listed"
expect_error 1 sfs checkpoint show c1
echo "hibernate: ram ${MEM}MiB resume ${RESUME}s rss ${RSS}KiB added1 $NEW1 added2 $NEW2 added3 $NEW3 resume3 ${RESUME3}s rss3 ${RSS3}KiB"
exit 0
