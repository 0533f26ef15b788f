#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Random bytes flipped in every file of a store (packs, the catalog's LMDB
# files, the config), the adversarial rule: every command either answers
# or fails with a short error and status 1 or 2, never dies of a signal;
# a restore that exits 0 gives the snapshot's exact bytes; and nothing
# removes or shortens a pack, not even the recovery a writer runs.
# LMDB trusts its pages, so damage to data.mdb can make it fault: the
# command line turns that into one line (fs/guard.c).
. "$(dirname "$0")/lib.sh" "$@"

TRIALS=${SNAPFS_FLIP_TRIALS:-40}
sfs init --block-size 4096 >/dev/null
# Enough chunks (12k) that the catalog has branch pages worth damaging.
head -c 48M /dev/urandom >"$T/a"
IDA=$(sfs snapshot create a "$T/a" --no-progress)
SUMA=$(sha "$T/a")
dd if=/dev/urandom of="$T/a" bs=4k count=200 seek=3000 conv=notrunc status=none
IDA2=$(sfs snapshot create a "$T/a" --no-progress)
SUMA2=$(sha "$T/a")
seq 1 300000 >"$T/b"
IDB=$(sfs snapshot create b "$T/b" --no-progress)
SUMB=$(sha "$T/b")
declare -A WANT=([$IDA]=$SUMA [$IDA2]=$SUMA2 [$IDB]=$SUMB)
head -c 1M /dev/urandom >"$T/new"

# What a trial must never lose: every pack file and its length.
pack_sizes() { (cd "$1/packs" && stat -c '%n %s' -- *.pack | sort); }
PACKS=$(pack_sizes "$STORE")

flip() { # FILE SEED COUNT
	python3 - "$@" <<'PY'
import os, random, sys
path, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
size = os.path.getsize(path)
with open(path, "r+b") as f:
    for _ in range(count):
        f.seek(rng.randrange(size))
        f.write(bytes([rng.randrange(256)]))
PY
}

# run SEED WHAT ARGS...: one command against the damaged copy; records
# anything but a clean answer or a short error.
run() {
	local seed=$1 what=$2 rc=0
	shift 2
	timeout 120 "$SNAPFS" --store "$D" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	if [ $rc -gt 2 ]; then
		soft_fail "seed $seed ($what): '$*' ended with status $rc: $(head -c 300 "$T/err")"
	elif [ "$(wc -l <"$T/err")" -gt 20 ]; then
		soft_fail "seed $seed ($what): '$*' printed more than a short error"
	fi
	grep -q crashed "$T/err" && guarded=$((guarded + 1))
	return $rc
}

FILES=(catalog/data.mdb catalog/data.mdb catalog/lock.mdb config)
for p in "$STORE"/packs/*.pack; do FILES+=("packs/$(basename "$p")"); done
guarded=0 served=0 refused=0
D=$T/trial
for seed in $(seq 1 "$TRIALS"); do
	f=${FILES[$((seed % ${#FILES[@]}))]}
	rm -rf "$D"
	cp -a "$STORE" "$D"
	flip "$D/$f" "$seed" $((1 + seed % 8))
	what="$f"
	run "$seed" "$what" check --read-data || true
	run "$seed" "$what" snapshot list || true
	run "$seed" "$what" volume list || true
	run "$seed" "$what" gc --dry-run || true
	for id in "${!WANT[@]}"; do
		rm -f "$T/restored"
		if run "$seed" "$what" snapshot restore "$id" "$T/restored"; then
			served=$((served + 1))
			[ "$(sha "$T/restored")" = "${WANT[$id]}" ] ||
				soft_fail "seed $seed ($what): restore of $id exited 0 with wrong bytes"
		else
			refused=$((refused + 1))
		fi
	done
	# A writer runs recovery on the damaged store; it may refuse, but it
	# must not remove or shorten a pack that was there.
	run "$seed" "$what" snapshot create new "$T/new" --no-progress || true
	after=$(pack_sizes "$D")
	while read -r name size; do
		got=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$after")
		[ -n "$got" ] || soft_fail "seed $seed ($what): pack $name was removed"
		[ -z "$got" ] || [ "$got" -ge "$size" ] ||
			soft_fail "seed $seed ($what): pack $name shrank from $size to $got"
	done <<<"$PACKS"
done
log "$TRIALS trials: $served restores exact, $refused refused with an error, $guarded faults reported as a damaged catalog"
