#!/bin/bash
# SPDX-License-Identifier: MIT
# snapshot copy through the CLI: two successive snapshots of a volume are
# copied to a store with another compression level; the second copy sends
# at most about the changed bytes; copies restore byte-exact with their
# record (copied_from, description); a store with another block size is
# refused with one clear line. Usage: test_copy.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$T/src
D=$T/dst
"$SNAPFS" --store "$S" init --block-size 64K >/dev/null
"$SNAPFS" --store "$D" init --block-size 64K --compression-level 6 >/dev/null
"$SNAPFS" --store "$T/small" init --block-size 4K >/dev/null
export SNAPFS_STORE=$S

mkvol "$T/v1" 64 v1
cp "$T/v1" "$T/v2"
change "$T/v2" 10 2 v2a
change "$T/v2" 40 1 v2b
changed=$((3 << 20))
S1=$("$SNAPFS" snapshot create web "$T/v1" --tag app=web --no-progress)
S2=$("$SNAPFS" snapshot create web "$T/v2" --no-progress)
"$SNAPFS" volume tag web env=prod

"$SNAPFS" snapshot copy "$S1" --to-store "$D" --description "first copy" --json >"$T/c1.json"
"$SNAPFS" snapshot copy "$S2" --to-store "$D" --json >"$T/c2.json"
sent1=$(json_field sent_bytes <"$T/c1.json")
sent2=$(json_field sent_bytes <"$T/c2.json")
# changed blocks (random: stored ~ raw) + record headers + the map pages
# on their paths (two 32 KiB leaves and a root at most)
bound=$((changed + changed / 32 + 3 * 32768 + 65536))
echo "copy: first sent $sent1 bytes, second sent $sent2 bytes for $changed changed (bound $bound)"
[ "$sent2" -le "$bound" ] || fail "second copy sent $sent2 bytes, more than $bound"
[ "$sent2" -ge "$changed" ] || fail "second copy sent $sent2 bytes, less than the change"

C1=$(json_field id <"$T/c1.json")
C2=$(json_field id <"$T/c2.json")
[ "$C1" != "$S1" ] || fail "the copy kept the source id"
restore_eq "$D" "$C1" "$T/v1"
restore_eq "$D" "$C2" "$T/v2"
"$SNAPFS" --store "$D" snapshot show "$C2" --json >"$T/show.json"
[ "$(json_field copied_from <"$T/show.json")" = "$S2" ] || fail "copied_from"
[ "$(json_field state <"$T/show.json")" = completed ] || fail "copy not completed"
"$SNAPFS" --store "$D" snapshot show "$C1" | grep -q "description:  first copy" ||
	fail "description not set"
"$SNAPFS" --store "$D" snapshot show "$C1" --json | grep -q '"app": "web"' || fail "tags"
"$SNAPFS" --store "$D" volume show web | grep -q "tag: *env=prod" || fail "volume tags"
check_store "$D"

# a copy already there sends nothing
"$SNAPFS" snapshot copy "$S2" --to-store "$D" --json | json_field sent_bytes | grep -qx 0 ||
	fail "copy of a snapshot already there sent data"

# errors: one line, non-zero exit
out=$("$SNAPFS" snapshot copy "$S1" --to-store "$T/small" 2>&1) && fail "block size mismatch accepted"
[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "more than one line: $out"
echo "$out" | grep -q "block sizes must match" || fail "unclear error: $out"
out=$("$SNAPFS" snapshot copy snap-0123456789abcdef0 --to-store "$D" 2>&1) && fail "missing id accepted"
echo "$out" | grep -q "no snapshot" || fail "unclear error: $out"
set +e
"$SNAPFS" snapshot copy "$S1" >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --to-store is not a usage error"
set -e
echo "copy: PASS"
