#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 of `checkpoint create` at each of its points: with the VM
# paused and nothing saved, while the device state is being written,
# with the RAM stored and the rest not, and with every part and the
# record in the writer session but not committed (the command stops
# itself there, SNAPFS_CKPT_STOP_AT, so the kill lands for certain), and
# at random moments of a whole run. After every kill nothing is half
# registered (checkpoint list shows no checkpoint, or one complete with
# all its parts), check --read-data passes, and the VM is not lost: QEMU
# still answers query-status, paused or running, and runs on after
# `cont`. A killed create leaves its temporary directory, and the next
# create removes it (it is locked only while its create lives); a create
# after all of them completes and leaves none. The VM needs no guest: a
# q35 machine with RAM in a shared file and one raw disk, sitting in its
# firmware; part of its RAM is filled with random bytes so that storing
# it takes long enough for the random kills to land in it.
. "$(dirname "$0")/lib.sh" "$@"

command -v qemu-system-x86_64 >/dev/null || fail "no qemu-system-x86_64 (scripts/deps.sh installs it)"
RANDOM_KILLS=${SNAPFS_CKPT_KILLS:-4}

sfs init >/dev/null
truncate -s 16M "$T/disk.raw"
head -c 4M /dev/urandom | dd of="$T/disk.raw" conv=notrunc status=none
mkdir -p "$T/tmp"

QMP=$T/vm.qmp
qemu-system-x86_64 -machine q35,memory-backend=mem -accel tcg -m 128 -display none \
	-monitor none -name crashvm \
	-object "memory-backend-file,id=mem,size=128M,mem-path=$T/ram.img,share=on" \
	-drive "id=sda,file=$T/disk.raw,format=raw,if=virtio" \
	-qmp "unix:$QMP,server=on,wait=off" >"$T/qemu.out" 2>&1 &
VM=$!
track_pid $VM
# The socket file appears at bind(), a moment before QEMU listens: wait
# until it takes a connection.
listening() {
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' \
		"$QMP" 2>/dev/null
}
for _ in $(seq 100); do listening && break; sleep 0.1; done
listening || fail "QEMU did not start: $(cat "$T/qemu.out")"
# Above what the firmware touches: guest RAM the ingest must read.
head -c 48M /dev/urandom | dd of="$T/ram.img" bs=1M seek=64 conv=notrunc status=none

# qmp CMD: runs one QMP command on the VM's socket (free again once
# create is gone) and prints its "return" as JSON.
qmp() {
	python3 - "$QMP" "$1" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
for _ in range(50):
    try:
        s.connect(sys.argv[1]); break
    except OSError:
        time.sleep(0.1)
f = s.makefile("rw")
def cmd(c):
    f.write(json.dumps({"execute": c}) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m:
            return m
json.loads(f.readline())  # greeting
cmd("qmp_capabilities")
m = cmd(sys.argv[2])
if "error" in m:
    sys.exit("QMP %s: %s" % (sys.argv[2], m["error"]["desc"]))
print(json.dumps(m["return"]))
PY
}
status() { qmp query-status | json_at status; }

# after_kill WHAT: the store and the VM after a create was killed.
after_kill() {
	local what=$1 st list n
	st=$(status) || fail "$what: QEMU does not answer query-status: the VM is lost"
	case "$st" in
	running | paused | postmigrate | finish-migrate) ;;
	*) fail "$what: the VM is $st, neither paused nor running" ;;
	esac
	list=$(sfs checkpoint list --json) || fail "$what: checkpoint list"
	n=$(echo "$list" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
	if [ "$n" != 0 ]; then
		# Only a whole one: every part's snapshot is there and completed.
		sfs checkpoint show k --json >"$T/k.json" || fail "$what: a listed checkpoint cannot be shown"
		python3 - "$T/k.json" <<'PY' || fail "$what: a half-registered checkpoint"
import json, sys
c = json.load(open(sys.argv[1]))
assert c["ram"]["snapshot"] and c["state"]["snapshot"] and len(c["devices"]) == 1, c
PY
		for id in $(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["ram"]["snapshot"], c["state"]["snapshot"], c["devices"][0]["snapshot"])' "$T/k.json"); do
			sfs snapshot show "$id" >/dev/null 2>&1 || fail "$what: part $id is missing"
		done
	fi
	sfs check --read-data >"$T/check.out" 2>&1 || fail "$what: check --read-data: $(tail -5 "$T/check.out")"
	log "$what: VM $st, $n checkpoint(s), check passes"
	# Wherever it was left, the VM goes on.
	if [ "$st" != running ]; then
		qmp cont >/dev/null || fail "$what: cont refused"
	fi
	assert_eq "$(status)" running "$what: the VM after cont"
	if [ "$n" != 0 ]; then
		sfs checkpoint delete k >/dev/null || fail "$what: delete"
	fi
}

# ---- at each point, for certain ----
for point in paused migrating snapshotting committing; do
	SNAPFS_CKPT_STOP_AT=$point "$SNAPFS" --store "$STORE" checkpoint create k --qmp "$QMP" \
		--keep-running --tmp-dir "$T/tmp" >"$T/create.out" 2>&1 &
	P=$!
	stopped=
	for _ in $(seq 600); do
		state=$(awk '{print $3}' "/proc/$P/stat" 2>/dev/null) || break
		[ "$state" = T ] && { stopped=1; break; }
		sleep 0.1
	done
	[ -n "$stopped" ] || fail "create did not reach point $point: $(cat "$T/create.out")"
	case $point in
	paused | migrating) [ "$(sfs checkpoint list --json | tr -d '[] \n')" = "" ] || fail "listed too early" ;;
	esac
	kill -9 $P
	wait $P 2>/dev/null || true
	after_kill "kill at $point"
	[ -z "$(sfs checkpoint list --json | tr -d '[] \n')" ] || fail "kill at $point left a checkpoint"
done

# ---- killed creates leave their temporary directory; the next create removes it ----
[ -n "$(ls -A "$T/tmp")" ] || fail "the kills left no temporary directory: nothing to clean"
t0=$(date +%s%N)
sfs checkpoint create k --qmp "$QMP" --keep-running --tmp-dir "$T/tmp" >/dev/null ||
	fail "create (timing run)"
[ -z "$(ls -A "$T/tmp")" ] || fail "the temporary directories of killed creates are left: $(ls -A "$T/tmp")"

# ---- at random moments of a whole run ----
FULL_MS=$((($(date +%s%N) - t0) / 1000000))
log "a whole create takes ${FULL_MS} ms"
sfs checkpoint delete k >/dev/null || fail "delete"
for i in $(seq "$RANDOM_KILLS"); do
	ms=$((RANDOM % (FULL_MS + 1)))
	"$SNAPFS" --store "$STORE" checkpoint create k --qmp "$QMP" --keep-running \
		--tmp-dir "$T/tmp" >/dev/null 2>&1 &
	P=$!
	sleep "$((ms / 1000)).$(printf "%03d" $((ms % 1000)))"
	kill -9 $P 2>/dev/null || true
	wait $P 2>/dev/null || true
	after_kill "random kill $i at ${ms} ms"
done

# ---- and then a create completes ----
sfs checkpoint create done --qmp "$QMP" --tmp-dir "$T/tmp" >/dev/null || fail "create after the kills"
sfs checkpoint list | grep -q "^done " || fail "the last checkpoint is not listed"
for _ in $(seq 100); do kill -0 $VM 2>/dev/null || break; sleep 0.1; done
kill -0 $VM 2>/dev/null && fail "the VM still runs after a create without --keep-running"
sfs check --read-data >/dev/null 2>&1 || fail "check --read-data at the end"
[ -z "$(ls -A "$T/tmp")" ] || fail "temporary directories left at the end: $(ls -A "$T/tmp")"
exit 0
