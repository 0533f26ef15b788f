#!/bin/bash
# SPDX-License-Identifier: MIT
# Guards where user input enters the CLI, each a defect once seen:
# a policy copying into its own store, text that is not UTF-8, tags in
# the reserved snapfs: namespace that retention trusts, an id named
# twice to delete, writers meeting a store locked by another writer.
# Usage: test_input_guards.sh /path/to/snapfs
set -euo pipefail
. "$(dirname "$0")/lifecycle_lib.sh"
S=$STORE
"$SNAPFS" init --block-size 4K >/dev/null
"$SNAPFS" --store "$T/other" init --block-size 4K >/dev/null
mkvol "$T/web.img" 1 web
"$SNAPFS" volume set-source web "$T/web.img"
"$SNAPFS" volume tag web env=prod
BAD=$(printf 'a\xff\xfeb')

# ---- a policy's copy target is not its own store ----
# Refused at create, by identity (a symlink and a path with .. name the
# same directory)...
ln -s "$S" "$T/alias"
expect_error 2 "$SNAPFS" policy create p1 --target-tag env=prod --schedule "daily 03:00" \
	--retain-count 2 --copy-to "$T/alias"
case "$ERR" in *"is this store"*) ;; *) soft_fail "unclear error: $ERR" ;; esac
expect_error 2 "$SNAPFS" policy create p1 --target-tag env=prod --schedule "daily 03:00" \
	--retain-count 2 --copy-to "$T/other/../store"
"$SNAPFS" policy show p1 >/dev/null 2>&1 && soft_fail "refused policy was stored"
# ...and at run, when the target became this store after the create: the
# run reports it at once instead of waiting for its own lock.
"$SNAPFS" --store "$T/later" init --block-size 4K >/dev/null
"$SNAPFS" policy create p2 --target-tag env=prod --schedule "daily 03:00" --retain-count 2 \
	--copy-to "$T/later" >/dev/null
rm -rf "$T/later"
ln -s "$S" "$T/later"
rc=0
start=$(date +%s)
timeout 60 "$SNAPFS" policy run --now 2026-12-01T03:00:00Z --json >"$T/run.json" 2>"$T/run.err" || rc=$?
took=$(($(date +%s) - start))
[ "$rc" -ne 124 ] || soft_fail "policy run waited for its own lock (killed after 60 s)"
[ "$took" -lt 30 ] || soft_fail "policy run took $took s"
[ "$rc" -eq 1 ] || soft_fail "policy run exited $rc, expected 1 (a failed step)"
grep -q "is this store" "$T/run.json" || soft_fail "no clear event: $(cat "$T/run.json")"
grep -q '"action": "created"' "$T/run.json" || soft_fail "the snapshot itself was not made"
"$SNAPFS" policy delete p2 >/dev/null

# ---- text that is not UTF-8: one clear line, exit 2, nothing stored ----
before=$(store_state)
expect_error 2 "$SNAPFS" snapshot create web "$T/web.img" --tag "k=$BAD" --no-progress
case "$ERR" in *"not valid UTF-8"*) ;; *) soft_fail "unclear error: $ERR" ;; esac
expect_error 2 "$SNAPFS" snapshot create web "$T/web.img" --tag "$BAD=v" --no-progress
expect_error 2 "$SNAPFS" snapshot create web "$T/web.img" --description "$BAD" --no-progress
case "$ERR" in *"--description is not valid UTF-8"*) ;; *) soft_fail "unclear error: $ERR" ;; esac
expect_error 2 "$SNAPFS" volume tag web "k=$BAD"
expect_error 2 "$SNAPFS" policy create p3 --target-tag "env=$BAD" --schedule "daily 03:00" \
	--retain-count 2
mkdir "$T/$BAD"
cp "$T/web.img" "$T/$BAD/src.img"
expect_error 2 "$SNAPFS" volume set-source web "$T/$BAD/src.img"
(cd "$T/$BAD" && expect_error 2 "$SNAPFS" volume set-source web src.img)
case "$ERR" in *"source path is not valid UTF-8"*) ;; *) soft_fail "unclear error: $ERR" ;; esac
[ "$(store_state)" = "$before" ] || soft_fail "a refused command changed the store"
A=$("$SNAPFS" snapshot create web "$T/web.img" --no-progress)
expect_error 2 "$SNAPFS" snapshot copy "$A" --to-store "$T/other" --description "$BAD"
# valid UTF-8 that is not ASCII is kept, not refused
U=$("$SNAPFS" snapshot create web "$T/web.img" --tag "ort=Zürich" --description "Ärger" --no-progress)
"$SNAPFS" snapshot show "$U" --json | grep -q '"ort": "Zürich"' || soft_fail "UTF-8 tag lost"

# ---- launch-config: a path with a control character never reaches the script ----
"$SNAPFS" image create vm --device sda="$A" >/dev/null
NL=$'d\ntouch INJECTED #'
mkdir -p "$T/$NL"
cd "$T/$NL"
expect_error 2 "$SNAPFS" image launch-config vm --mount mnt
cd "$T"
case "$ERR" in *"--mount path contains a control character"*) ;; *) soft_fail "unclear: $ERR" ;; esac
[ -s "$T/.out" ] && soft_fail "a script was printed: $(head -c 300 "$T/.out")"
expect_error 2 "$SNAPFS" image launch-config vm --mount "$T/m" --overlay "$T/$NL"
expect_error 2 "$SNAPFS" image launch-config vm --mount "$T/m" --format libvirt \
	--kernel "$T/$NL/vmlinuz"
# A quote in a path is quoted, and the script only names the mount.
mkdir -p "$T/it's"
(cd "$T/it's" && "$SNAPFS" image launch-config vm --mount mnt >"$T/launch.sh")
sh -n "$T/launch.sh" || soft_fail "launch script does not parse"
grep -qF "it'\\''s/mnt/images/vm/sda.img" "$T/launch.sh" || soft_fail "path not quoted: $(cat "$T/launch.sh")"

# ---- reserved tags: a user cannot forge a policy's marks ----
for cmd in "snapshot create web $T/web.img --no-progress" \
	"policy create p4 --target-tag env=prod --schedule hourly --retain-count 1"; do
	# shellcheck disable=SC2086
	expect_error 2 "$SNAPFS" $cmd --tag snapfs:policy=nightly
done
expect_error 2 "$SNAPFS" volume tag web snapfs:policy=nightly
case "$ERR" in *"reserved"*) ;; *) soft_fail "unclear error: $ERR" ;; esac
# A hand-made snapshot survives retention of a policy keeping one.
"$SNAPFS" policy create nightly --target-tag env=prod --schedule "daily 03:00" \
	--retain-count 1 >/dev/null
H=$("$SNAPFS" snapshot create web "$T/web.img" --tag keep=me --no-progress)
for d in 02 03 04; do
	"$SNAPFS" policy run --now "2026-12-${d}T03:00:00Z" --json >/dev/null
done
"$SNAPFS" snapshot show "$H" >/dev/null 2>&1 || soft_fail "retention deleted a hand-made snapshot"

# ---- an id named twice is deleted once ----
D=$("$SNAPFS" snapshot create web "$T/web.img" --no-progress)
out=$("$SNAPFS" snapshot delete "$D" "$D" 2>&1) || soft_fail "delete X X failed: $out"
[ "$(echo "$out" | grep -c "deleted $D")" -eq 1 ] || soft_fail "delete X X said: $out"
"$SNAPFS" snapshot show "$D" >/dev/null 2>&1 && soft_fail "snapshot $D still there"

# ---- every writer waits for another writer (gc here), as --help says ----
for cmd in "snapshot create web $T/web.img --no-progress" "volume tag web wait=yes" \
	"volume set-source web $T/web.img" "snapshot delete $U"; do
	rm -f "$T/held"
	flock "$S/lock" -c "touch '$T/held'; sleep 2" &
	holder=$!
	track_pid "$holder"
	while [ ! -e "$T/held" ]; do sleep 0.05; done
	rc=0
	# shellcheck disable=SC2086
	"$SNAPFS" $cmd >/dev/null 2>"$T/wait.err" || rc=$?
	[ "$rc" -eq 0 ] || soft_fail "'$cmd' beside a writer exited $rc: $(cat "$T/wait.err")"
	grep -q "waiting for the writer lock" "$T/wait.err" ||
		soft_fail "'$cmd' did not say it waits: $(cat "$T/wait.err")"
	wait "$holder" || true
done
"$SNAPFS" volume show web --json | grep -q '"wait": "yes"' || soft_fail "tag after the wait lost"

check_store "$S"
