#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Random bytes flipped in the catalog's LMDB file: every command either
# answers or fails with a clear line and status 1, never dies of a signal,
# and a restore either fails or gives the snapshot's exact bytes. LMDB
# trusts its pages, so some of these damages make it read out of bounds:
# the command line runs each command in a guarded child (fs/guard.c).
. "$(dirname "$0")/lib.sh" "$@"

TRIALS=${SNAPFS_FLIP_TRIALS:-40}
sfs init --block-size 4096 >/dev/null
# Enough chunks (12k) that the catalog has branch pages worth damaging.
head -c 48M /dev/urandom >"$T/src"
ID=$(sfs snapshot create v "$T/src" --no-progress)
dd if=/dev/urandom of="$T/src" bs=4k count=200 seek=3000 conv=notrunc status=none
ID2=$(sfs snapshot create v "$T/src" --no-progress)
SUM=$(sha256sum <"$T/src" | cut -d' ' -f1)

flip_catalog() { # FILE SEED: 8 random bytes, deterministic per seed
	python3 - "$1" "$2" <<'PY'
import os, random, sys
path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
size = os.path.getsize(path)
with open(path, "r+b") as f:
    for _ in range(8):
        f.seek(rng.randrange(size))
        f.write(bytes([rng.randrange(256)]))
PY
}

guarded=0
for seed in $(seq 1 "$TRIALS"); do
	D=$T/trial
	rm -rf "$D"
	cp -a "$STORE" "$D"
	flip_catalog "$D/catalog/data.mdb" "$seed"
	for cmd in "check" "volume list" "snapshot list" "gc --dry-run" "snapshot restore $ID2 $T/out --force"; do
		rc=0
		timeout 120 "$SNAPFS" --store "$D" $cmd >/dev/null 2>"$T/err" </dev/null || rc=$?
		if [ $rc -gt 1 ] && ! { [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -le 2 ]; }; then
			soft_fail "seed $seed: '$cmd' ended with status $rc: $(head -c 300 "$T/err")"
		fi
		if grep -q crashed "$T/err"; then
			guarded=$((guarded + 1))
			[ "$(wc -l <"$T/err")" -le 3 ] || soft_fail "seed $seed: '$cmd': more than a short error"
		fi
		if [ "${cmd%% *}" = snapshot ] && [ "${cmd#snapshot restore}" != "$cmd" ] && [ $rc -eq 0 ]; then
			[ "$(sha256sum <"$T/out" | cut -d' ' -f1)" = "$SUM" ] ||
				soft_fail "seed $seed: restore exited 0 with wrong bytes"
		fi
		rm -f "$T/out"
	done
done
log "$TRIALS trials, $guarded commands stopped by a crash in LMDB and reported as such"
