#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Peak RSS of gc and check --read-data against the number of chunks in a
# store: for each count N, a store of 4 KiB blocks gets a volume of N
# distinct blocks (a counter and zeros: unique ids, cheap to compress),
# then a second generation with the first 10% rewritten; the first is
# deleted, so gc has dead chunks to drop and records to move.
#
#   gc_rss.sh --snapfs BIN [--old BIN] [--dir DIR] [COUNT...]
#
# Prints one TSV line per count and command: chunks, command, binary,
# peak RSS in KiB (GNU time's %M), seconds. --old runs the same checks
# with another binary on the same store, and its gc on a copy of it.
# Default counts: 100000 1000000 5000000. Needs GNU time and python3.
set -euo pipefail

bin="" old="" dir=/var/tmp/snapfs-gc-rss
counts=()
while [ $# -gt 0 ]; do
	case "$1" in
	--snapfs) bin=$(readlink -f "$2"); shift 2 ;;
	--old) old=$(readlink -f "$2"); shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	-h|--help) sed -n 3,16p "$0"; exit 0 ;;
	-*) echo "gc_rss: unknown option $1" >&2; exit 2 ;;
	*) counts+=("$1"); shift ;;
	esac
done
[ -n "$bin" ] || { echo "gc_rss: --snapfs BIN is required" >&2; exit 2; }
[ ${#counts[@]} -gt 0 ] || counts=(100000 1000000 5000000)
command -v /usr/bin/time >/dev/null || { echo "gc_rss: needs GNU time (/usr/bin/time)" >&2; exit 2; }

gen() { # gen COUNT SEED_OF_FIRST_TENTH
	python3 - "$1" "$2" <<'PY'
import os, struct, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
tenth = n // 10
out = sys.stdout.buffer
batch = 256
for base in range(0, n, batch):
    k = min(batch, n - base)
    buf = bytearray(4096 * k)
    for i in range(k):
        b = base + i
        s = seed if b < tenth else 0
        buf[4096 * i:4096 * i + 16] = struct.pack('<QQ', b + 1, s)
    out.write(buf)
PY
}

measure() { # measure LABEL WHICH BIN ARGS...
	local label=$1 which=$2 b=$3 t0 t1 rss
	shift 3
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M' -o "$dir/rss" "$b" --store "$store" "$@" >/dev/null 2>&1 || true
	rss=$(tail -n1 "$dir/rss")
	t1=$(date +%s.%N)
	printf '%s\t%s\t%s\t%s\t%.1f\n' "$n" "$label" "$which" \
		"$rss" "$(echo "$t1 - $t0" | bc)"
}

printf 'chunks\tcommand\tbinary\tpeak_rss_kib\tseconds\n'
for n in "${counts[@]}"; do
	store="$dir/store-$n"
	rm -rf "$store"
	mkdir -p "$dir"
	"$bin" --store "$store" init --block-size 4K >/dev/null
	gen "$n" 1 | "$bin" --store "$store" snapshot create vol - --no-progress >/dev/null
	first=$("$bin" --store "$store" snapshot list --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	gen "$n" 2 | "$bin" --store "$store" snapshot create vol - --no-progress >/dev/null
	"$bin" --store "$store" snapshot delete "$first" --force >/dev/null
	[ -z "$old" ] || measure "check" old "$old" check
	measure "check" new "$bin" check
	[ -z "$old" ] || measure "check --read-data" old "$old" check --read-data
	measure "check --read-data" new "$bin" check --read-data
	if [ -n "$old" ]; then
		# gc changes the store: the old binary collects a copy
		cp -a "$store" "$store.old"
		store="$store.old" measure "gc" old "$old" gc
		rm -rf "$store.old"
	fi
	measure "gc" new "$bin" gc
	measure "check after gc" new "$bin" check
	rm -rf "$store"
done
