#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# snapfs report: for a real store (volumes with shared, compressible and
# zero data, a policy's snapshot, an image), the HTML page is well-formed,
# self-contained (no script, no external reference), has its four SVG
# charts, a timeline dot per snapshot (the policy's marked), a mark per
# policy run (the failed one with its error listed), the last check's
# result (recorded by `check`, passed and failed), the images
# and what they map, and figures equal to what `info --json` and the
# listings say; --json gives the same figures; bad input fails cleanly.
. "$(dirname "$0")/lib.sh" "$@"
MIB=$((1 << 20))

sfs init --block-size 65536 >/dev/null
# Shared (dedup), text (compresses) and zeros (skipped).
head -c $((2 * MIB)) /dev/urandom >"$T/rand"
{ cat "$T/rand"; seq 1 300000 | head -c $((2 * MIB)); head -c $((1 * MIB)) /dev/zero; } >"$T/a"
cp "$T/a" "$T/b"
sfs snapshot create alpha "$T/a" >/dev/null
sfs snapshot create beta "$T/b" >/dev/null
printf 'changed' | dd of="$T/a" bs=1 seek=100 conv=notrunc status=none
sfs snapshot create alpha "$T/a" >/dev/null
sfs volume tag beta tier=gold
sfs volume set-source beta "$T/b"
sfs policy create hourly-gold --target-tag tier=gold --schedule hourly --retain-count 5 >/dev/null
# A policy whose volume's source is gone: its runs fail, and the report
# shows them with the error.
sfs volume tag alpha tier=lead
cp "$T/a" "$T/gone.img"
sfs volume set-source alpha "$T/gone.img"
rm "$T/gone.img"
sfs policy create daily-lead --target-tag tier=lead --schedule "daily 03:00" --retain-count 2 >/dev/null
rc=0
sfs policy run --now "$(date -u -d '+1 hour' +%Y-%m-%dT%H:00:00Z)" >"$T/run.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a policy run with a failure exited 0"
grep -q gone.img "$T/run.log" || fail "the failed run did not say why: $(cat "$T/run.log")"
ami=$(sfs image create web --device sda="$T/rand")
nsnap=$(sfs snapshot list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$nsnap" -eq 5 ] || fail "expected 5 snapshots, have $nsnap"

# Before any check: the report says none was recorded.
sfs report --json >"$T/nocheck.json" || fail "report"
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["last_check"] is not None)' \
	"$T/nocheck.json" || soft_fail "last_check is set before any check"
sfs check --read-data --no-progress >/dev/null || fail "check"
sfs report --html "$T/report.html" --json >"$T/report.json" || fail "report"
sfs info --json >"$T/info.json"
sfs snapshot list --json >"$T/snaps.json"
sfs volume list --json >"$T/vols.json"
[ -s "$T/report.html" ] || fail "no page written"
ls "$T" | grep -q 'report.html.tmp' && soft_fail "a temporary file was left"

python3 - "$T" "$ami" <<'PY' || soft_fail "the page"
import json, sys
from html.parser import HTMLParser

T, ami = sys.argv[1], sys.argv[2]
page = open(f"{T}/report.html", encoding="utf-8").read()
fig = json.load(open(f"{T}/report.json"))
info = json.load(open(f"{T}/info.json"))
snaps = json.load(open(f"{T}/snaps.json"))
vols = json.load(open(f"{T}/vols.json"))
VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "wbr", "source"}
SVG_VOID = {"line", "polyline", "rect", "circle", "path"}  # may self-close

class Check(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.svgs, self.figures = [], [], [], {}
        self.circles, self.text, self.tags = [], [], set()
        self.runs, self.ids = [], {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        for k, v in attrs:
            if k in ("src", "href") or (v or "").lower().startswith(("http:", "https:", "//")):
                self.errors.append(f"external reference {k}={v}")
        if tag == "svg":
            self.svgs.append(a.get("id"))
        if tag == "circle":
            self.circles.append(a.get("class"))
        if tag == "path" and "run" in (a.get("class") or "").split():
            self.runs.append(a.get("class").split()[1])
        if a.get("id"):
            self.ids[a["id"]] = a
        if "data-figure" in a:
            self.figures[a["data-figure"]] = a.get("data-bytes")
            self.cur_fig = a["data-figure"]
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        if tag not in VOID | SVG_VOID:
            self.errors.append(f"<{tag}/> self-closed")
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()
    def handle_data(self, d):
        self.text.append(d)

p = Check()
p.feed(page)
p.close()
bad = []
if p.errors:
    bad += p.errors[:5]
if p.stack:
    bad.append(f"unclosed: {p.stack}")
if not page.startswith("<!DOCTYPE html>"):
    bad.append("no doctype")
if "script" in p.tags or "link" in p.tags or "iframe" in p.tags:
    bad.append("script, link or iframe in a self-contained page")
for c in ("growth", "savings", "volumes", "timeline"):
    if c not in p.svgs:
        bad.append(f"no {c} chart (svgs: {p.svgs})")
if len(p.circles) != len(snaps):
    bad.append(f"{len(p.circles)} timeline dots for {len(snaps)} snapshots")
npol = sum(1 for s in snaps if "snapfs:policy" in s["tags"])
if npol != 1 or p.circles.count("policy") != npol:
    bad.append(f"policy dots {p.circles.count('policy')}, policy snapshots {npol}")
text = " ".join(p.text)
for name in ("alpha", "beta", "hourly-gold", "web", ami):
    if name not in text:
        bad.append(f"{name} not on the page")
img_snap = [s["id"] for s in snaps if s["volume"] == "web-sda"]
if not img_snap or img_snap[0] not in text:
    bad.append("the image's snapshot is not on the page")

# Figures: the page's, the JSON's and the store's agree.
t, st = fig["totals"], fig["settings"]
want = {
    "packs_bytes": info["packs_bytes"], "catalog_bytes": info["catalog_bytes"],
    "logical_bytes": sum(s["size"] for s in snaps),
    "zero_bytes_skipped": sum(s["size"] - s["data_bytes"] for s in snaps),
}
for k, v in want.items():
    if str(v) != p.figures.get(k):
        bad.append(f"page {k} = {p.figures.get(k)}, store says {v}")
for k in ("dedup_saved_bytes", "compression_saved_bytes", "logical_bytes"):
    if str(t[k]) != p.figures.get(k):
        bad.append(f"page {k} = {p.figures.get(k)}, --json says {t[k]}")
checks = [
    (t["snapshots"], len(snaps), "snapshots"), (t["volumes"], len(vols), "volumes"),
    (t["images"], 1, "images"), (t["chunks"], info["chunks"], "chunks"),
    (st["packs_bytes"], info["packs_bytes"], "packs_bytes"),
    (st["block_size"], info["block_size"], "block size"),
    (t["data_bytes"], sum(s["data_bytes"] for s in snaps), "data_bytes"),
    (fig["growth"][-1]["stored_bytes"], sum(s["new_bytes"] for s in snaps), "growth end"),
]
for got, exp, what in checks:
    if got != exp:
        bad.append(f"--json {what} = {got}, expected {exp}")
for k in ("snapshots", "volumes", "images", "chunks"):
    if p.figures.get(k) is None and f'data-figure="{k}">{t[k]}<' not in page:
        bad.append(f"page {k} is not {t[k]}")
# The data: 5 MiB logical per snapshot of a/b, 1 MiB of it zeros, the
# random 2 MiB shared by all, the text compressible.
if not (t["dedup_saved_bytes"] >= 6 * 2**20):
    bad.append(f"dedup saved only {t['dedup_saved_bytes']}")
if not (t["compression_saved_bytes"] > 2**20):
    bad.append(f"compression saved only {t['compression_saved_bytes']}")
if not (t["unique_bytes"] < t["data_bytes"] and t["stored_data_bytes"] < t["unique_bytes"]):
    bad.append("unique and stored bytes out of order")
# Policy runs: one per policy, the failed one with its error line, in
# --json, on the timeline and in the failures table.
runs = {r["policy"]: r for r in fig["policy_runs"]}
if len(fig["policy_runs"]) != 2 or set(runs) != {"hourly-gold", "daily-lead"}:
    bad.append(f"policy_runs {fig['policy_runs']}")
else:
    if runs["hourly-gold"]["outcome"] != "ok" or runs["hourly-gold"]["error"] is not None:
        bad.append(f"hourly-gold run {runs['hourly-gold']}")
    lead = runs["daily-lead"]
    if lead["outcome"] != "failed" or lead["failures"] != 1 or "gone.img" not in (lead["error"] or ""):
        bad.append(f"daily-lead run {lead}")
    elif lead["error"] not in text:
        bad.append("the failed run's error is not on the page")
if sorted(p.runs) != ["run-failed", "run-ok"]:
    bad.append(f"timeline run marks {p.runs}")
if "policy-failures" not in p.ids:
    bad.append("no policy failures table")
# The last check: the one just run, with --read-data, passed.
c = fig["last_check"]
if not c or not c["ok"] or not c["read_data"] or c["problems"] != 0 or c["snapshots"] != len(snaps):
    bad.append(f"last_check {c}")
if p.ids.get("last-check", {}).get("data-check") != "passed":
    bad.append(f"the page's last check: {p.ids.get('last-check')}")
if p.figures.get("check_read_data") is not None or "every chunk read and verified" not in text:
    bad.append("the page does not say the check read the data")
vol = {v["volume"]: v for v in fig["volumes"]}
if vol.get("alpha", {}).get("snapshots") != 2 or vol.get("beta", {}).get("snapshots") != 2:
    bad.append(f"volume rows {vol}")
for b in bad:
    print("page:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
log "page: $(wc -c <"$T/report.html") bytes"

# Rendered by a browser, when one is installed (scripts/deps.sh adds
# Debian's chromium): its DOM has the four charts and its console no error.
if command -v chromium >/dev/null; then
	timeout 120 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
		--dump-dom "file://$T/report.html" >"$T/dom.html" 2>"$T/chromium.log" ||
		soft_fail "chromium could not render the page: $(tail -3 "$T/chromium.log")"
	for c in growth savings volumes timeline; do
		grep -q "<svg[^>]*id=\"$c\"" "$T/dom.html" || soft_fail "chromium's DOM has no $c chart"
	done
	grep -q 'class="run run-failed"' "$T/dom.html" || soft_fail "chromium's DOM has no failed run"
	grep -q 'id="policy-failures"' "$T/dom.html" || soft_fail "chromium's DOM has no failures table"
	grep -q 'id="last-check" data-check="passed"' "$T/dom.html" ||
		soft_fail "chromium's DOM has no last check"
	grep -q 'CONSOLE' "$T/chromium.log" &&
		soft_fail "console messages: $(grep CONSOLE "$T/chromium.log" | head -3)"
	log "chromium rendered the page ($(grep -c '<circle' "$T/dom.html") timeline dots)"
else
	log "chromium not installed: page checked by the parser only"
fi

# The summary without --html names the volumes, the runs and the check.
sfs report >"$T/summary"
grep -q '^  alpha' "$T/summary" || soft_fail "summary lacks volume alpha"
grep -q '^policy runs recorded: 2, 1 with failures' "$T/summary" || soft_fail "summary lacks the runs"
grep -q '^last check: .*, passed, 0 problems, data read' "$T/summary" || soft_fail "summary lacks the check"
# A check that finds damage is recorded as failed.
pack=$(find "$STORE/packs" -type f -name '*.pack' | head -n 1)
printf 'XXXXXXXX' | dd of="$pack" bs=1 seek=$(($(stat -c %s "$pack") / 2)) conv=notrunc status=none
sfs check --read-data --no-progress >/dev/null 2>&1 && soft_fail "check passed over a damaged pack"
sfs report --json | python3 -c 'import json,sys; c = json.load(sys.stdin)["last_check"]; sys.exit(not (c["problems"] > 0 and not c["ok"]))' ||
	soft_fail "the failed check is not recorded"
# Bad input: one line, the right status, nothing written.
expect_error 2 "$SNAPFS" report --html
expect_error 2 "$SNAPFS" report --bogus
expect_error 1 "$SNAPFS" report --html "$T/no/such/dir/r.html"
[ ! -e "$T/no" ] || soft_fail "report created directories"
expect_error 1 "$SNAPFS" --store "$T/nostore" report
