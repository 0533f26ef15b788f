#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test run, as CI does it:
#   1. dependencies (scripts/deps.sh)
#   2. build with -Werror and run every test (unit + integration)
#   3. build with AddressSanitizer + UBSan and run the unit tests
#   4. build the libFuzzer targets with clang and run each for a while
# Once 2's build is done, its integration tests run in the foreground and
# the rest (2's unit tests, 3 and 4) beside them at low priority.
# Every step runs even when an earlier one failed (unless the build it
# needs failed); the last line is a summary and the exit status is
# non-zero when anything failed.
#
# Environment:
#   SNAPFS_FUZZ_SECONDS  seconds per fuzz target (default 20; 0 skips fuzzing)
#   SNAPFS_SKIP_DEPS=1   do not run scripts/deps.sh
#   SNAPFS_SKIP_ASAN=1   skip the sanitizer pass
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${SNAPFS_FUZZ_SECONDS:-20}
# Per-run test logs, counted in the summary; never last run's. The unit
# tests run under meson's --wrapper (below), and meson then names their
# logs after the wrapper's program too: unit-sh.json, unit-sh.txt.
UNIT_LOGS=(build/meson-logs/unit-sh build-asan/meson-logs/unit-sh)
for f in build/meson-logs/integration "${UNIT_LOGS[@]}"; do
	rm -f "$f.json" "$f.txt"
done
T0=$(date +%s)
declare -a SUMMARY=()
FAILED=0

note() { printf '\n==> %s\n' "$*"; }

# step NAME COMMAND...: runs it, records PASS/FAIL and the time taken.
step() {
	local name=$1 t=$SECONDS rc
	shift
	note "$name"
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		SUMMARY+=("PASS  $name ($((SECONDS - t))s)")
	else
		SUMMARY+=("FAIL  $name (exit $rc, $((SECONDS - t))s)")
		FAILED=1
	fi
	return $rc
}

skip() {
	SUMMARY+=("SKIP  $1: $2")
	note "skipping $1: $2"
}

# setup DIR OPTIONS...: configure a build tree, reusing it when it exists.
setup() {
	local dir=$1
	shift
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null || meson setup --wipe "$dir" "$@"
	else
		meson setup "$dir" "$@"
	fi
}

build() {
	local dir=$1
	shift
	setup "$dir" "$@" && $LOW ninja -C "$dir"
}

if [ "${SNAPFS_SKIP_DEPS:-0}" != 1 ]; then
	step "dependencies" bash scripts/deps.sh
fi

# The Ceph cluster the RADOS tests run against: started once for the run,
# stopped however the run ends (a RADOS test run alone starts its own).
CEPH_DIR=
stop_ceph() {
	[ -n "$CEPH_DIR" ] && scripts/ceph-test-cluster.sh stop "$CEPH_DIR"
	[ -n "$CEPH_DIR" ] && rm -rf "$CEPH_DIR"
	CEPH_DIR=
}
trap stop_ceph EXIT
if command -v ceph-mon >/dev/null; then
	CEPH_DIR=$(mktemp -d /tmp/snapfs-ceph.XXXXXX)
	# --netns: test_rados's second host has a network of its own.
	if SNAPFS_TEST_CEPH_CONF=$(scripts/ceph-test-cluster.sh start "$CEPH_DIR" --netns); then
		# The one RADOS test may kill an OSD of this cluster: nothing
		# after it uses the cluster.
		export SNAPFS_TEST_CEPH_CONF SNAPFS_TEST_CEPH_KILL_OSD=1
	else
		SUMMARY+=("FAIL  the Ceph test cluster did not start")
		FAILED=1
	fi
fi

# The sanitizer pass (3).
sanitizer_pass() {
	if [ "${SNAPFS_SKIP_ASAN:-0}" = 1 ]; then
		skip "sanitizer build" "SNAPFS_SKIP_ASAN=1"
	elif step "build (address,undefined)" build build-asan -Dwerror=true \
		-Db_sanitize=address,undefined -Db_lundef=false; then
		step "unit tests under ASan+UBSan" env UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			CRITERION_JOBS=1 \
			meson test -C build-asan --suite unit --print-errorlogs --logbase unit --timeout-multiplier 4 \
			--wrapper "$LOW_TEST"
		# CRITERION_JOBS=1: Criterion's own runner leaks 48 bytes when it runs
		# tests in parallel (seen with test_reader's threaded tests), which
		# would hide ours among its reports; one at a time it leaks nothing.
		# Criterion runs each test in a child that has already reported success
		# when LeakSanitizer speaks at its exit, so read the log for reports.
		step "no sanitizer reports in the unit tests" no_sanitizer_reports "${UNIT_LOGS[1]}.txt"
	fi
}

# no_sanitizer_reports LOG: LOG exists and holds no sanitizer report.
no_sanitizer_reports() {
	[ -s "$1" ] || { echo "no test log at $1"; return 1; }
	! grep -n -A12 "Sanitizer:\|runtime error:" "$1"
}

# Fuzzing, bounded (4).
run_fuzzers() {
	local ok=0 f corpus tmp
	for f in pack_record map_page catalog ranges parse; do
		corpus=tests/fuzz/corpus/$f
		tmp=$(mktemp -d)
		echo "fuzz_$f: ${FUZZ_SECONDS}s"
		# New inputs go to a scratch directory; the checked-in seeds are
		# only read. Crash reproducers land in build-fuzz/.
		if ! $LOW build-fuzz/tests/fuzz_$f -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
			-timeout=10 -print_final_stats=1 -artifact_prefix=build-fuzz/crash-$f- \
			"$tmp" "$corpus" 2>&1 | tail -n 12; then
			echo "fuzz_$f FAILED (reproducer under build-fuzz/crash-$f-*)"
			ok=1
		fi
		rm -rf "$tmp"
	done
	return $ok
}

fuzz_pass() {
	if [ "$FUZZ_SECONDS" = 0 ]; then
		skip "fuzzing" "SNAPFS_FUZZ_SECONDS=0"
	elif ! command -v clang >/dev/null; then
		skip "fuzzing" "clang not installed"
	elif step "build fuzz targets (clang)" $LOW env CC=clang bash -c \
		'f() { if [ -f build-fuzz/meson-private/coredata.dat ]; then meson setup --reconfigure build-fuzz -Dfuzz=true >/dev/null; else meson setup build-fuzz -Dfuzz=true; fi; }; f && ninja -C build-fuzz tests/fuzz_pack_record tests/fuzz_map_page tests/fuzz_catalog tests/fuzz_ranges tests/fuzz_parse'; then
		step "fuzzing (${FUZZ_SECONDS}s per target)" run_fuzzers
	fi
}

# The integration tests are the run's longest path and keep about one of
# the two cores busy (one command at a time, much of it waiting on
# mounts, disks and guests). The unit tests, the sanitizer pass and the
# fuzzing pass run beside them, into a log of their own printed after
# them, and their summary lines join this run's. SIDE_LOG is kept for a
# reader of CI. The integration tests that can share the machine
# (paired_tests in tests/meson.build) come last, two at a time.
#
# The side passes take the CPU the integration tests leave, not a share
# of it. Nice alone does not do that: where the kernel groups tasks by
# session (autogroup), it shares the CPU between sessions first, and
# meson runs every test in a session of its own. So the side passes' heavy
# commands run in sessions of their own whose groups are at nice 19 too:
# `low` for builds and fuzzers, meson's --wrapper "$LOW_TEST" for tests.
SIDE_LOG=build/side-passes.log
SIDE_SUMMARY=$(mktemp)
LOW=
LOW_SH='echo 19 >/proc/self/autogroup 2>/dev/null; exec nice -n 19 "$0" "$@"'
LOW_TEST="sh -c '$LOW_SH'"
low() { # low PROGRAM ARGS...
	setsid -w sh -c "$LOW_SH" "$@"
}
side_passes() { # side_passes [unit]: with "unit", the normal build's unit tests first
	LOW=low
	SUMMARY=()
	FAILED=0
	if [ "${1:-}" = unit ]; then
		step "unit tests" meson test -C build --suite unit --no-rebuild --print-errorlogs \
			--logbase unit --wrapper "$LOW_TEST"
	fi
	sanitizer_pass
	fuzz_pass
	printf '%s\n' "${SUMMARY[@]}" >"$SIDE_SUMMARY"
	return $FAILED
}

# The normal build, then every test (2), with the side passes beside them.
SIDE_PID=
if step "build (-Werror)" build build -Dwerror=true; then
	side_passes unit >"$SIDE_LOG" 2>&1 &
	SIDE_PID=$!
	step "integration tests" meson test -C build --suite integration --no-rebuild \
		--print-errorlogs --logbase integration
else
	mkdir -p build
	side_passes >"$SIDE_LOG" 2>&1 &
	SIDE_PID=$!
fi
# Nothing after the integration tests uses the cluster: its daemons would
# only take CPU from the side passes.
stop_ceph
note "unit tests, sanitizer and fuzzing passes (beside the tests above; $SIDE_LOG)"
wait "$SIDE_PID" || FAILED=1
cat "$SIDE_LOG"
mapfile -t -O "${#SUMMARY[@]}" SUMMARY <"$SIDE_SUMMARY"
rm -f "$SIDE_SUMMARY"

printf '\n==== summary ====\n'
printf '%s\n' "${SUMMARY[@]}"
# Test counts over every meson test run (normal and sanitizer builds).
python3 - build/meson-logs/integration.json "${UNIT_LOGS[@]/%/.json}" <<'PY' || true
import json, sys
n = {"OK": 0, "FAIL": 0, "SKIP": 0}
for path in sys.argv[1:]:
    try:
        for line in open(path):
            r = json.loads(line).get("result", "")
            if r in ("OK", "EXPECTEDFAIL"):
                n["OK"] += 1
            elif r == "SKIP":
                n["SKIP"] += 1
            else:
                n["FAIL"] += 1
    except OSError:
        pass
print(f"tests: {n['OK']} passed, {n['FAIL']} failed, {n['SKIP']} skipped")
PY
if [ $FAILED -eq 0 ]; then
	echo "test.sh: ALL PASSED in $(($(date +%s) - T0))s"
else
	echo "test.sh: FAILED (see FAIL lines above) after $(($(date +%s) - T0))s"
fi
exit $FAILED
