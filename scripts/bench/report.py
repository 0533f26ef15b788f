#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn bench.sh's results.tsv into results.md: medians per peer, the ratio of
snapfs to the best peer and to the physical reference per figure, the issue's
targets, tool versions, load average per section and notes."""
import argparse
import collections
import math
import statistics

# metric, label, better ('hi' or 'lo'), display kind, reference (peer, metric)
FIGURES = [
    ("ingest1_MBps", "full ingest gen1, MB/s of logical size", "hi", "f1", ("raw", "cold_read_MBps")),
    ("ingest1_wall_s", "full ingest gen1, wall s", "lo", "f2", None),
    ("ingest1_cpu_s", "full ingest gen1, CPU user+sys s", "lo", "f2", None),
    ("ingest1_rss_MiB", "full ingest gen1, peak RSS MiB", "lo", "f1", None),
    ("ingest2_MBps", "incremental gen2 (plain), MB/s", "hi", "f1", ("raw", "cold_read_MBps")),
    ("ingest2_wall_s", "incremental gen2 (plain), wall s", "lo", "f2", None),
    ("ingest2_cpu_s", "incremental gen2 (plain), CPU s", "lo", "f2", None),
    ("ingest2_rss_MiB", "incremental gen2 (plain), peak RSS MiB", "lo", "f1", None),
    ("ingest2cr_wall_s", "incremental gen2 with changed ranges, wall s", "lo", "f3", None),
    ("ingest2cr_cpu_s", "incremental gen2 with changed ranges, CPU s", "lo", "f3", None),
    ("store1_bytes", "store after gen1, MB", "lo", "mb", None),
    ("store2_bytes", "store after gen2, MB", "lo", "mb", None),
    ("added2_bytes", "added by gen2, MB", "lo", "mb", None),
    ("first_byte_ms", "mount + first 4 KiB, ms", "lo", "f1", ("passthrough", "first_byte_ms")),
    ("cold_read_MBps", "cold sequential read, MB/s", "hi", "f0", ("passthrough", "cold_read_MBps")),
    ("cold_read_cpu_s_GiB", "mount daemon CPU per GiB of cold read, s", "lo", "f2", ("passthrough", "cold_read_cpu_s_GiB")),
    ("cold_read_sys_s_GiB", "... of it in the kernel (system CPU), s", "lo", "f2", ("passthrough", "cold_read_sys_s_GiB")),
    ("warm_read_MBps", "warm re-read, MB/s", "hi", "f0", ("passthrough", "warm_read_MBps")),
    ("rand4k_iops_j1", "4 KiB random read, 1 job, IOPS", "hi", "f0", ("passthrough", "rand4k_iops_j1")),
    ("rand4k_iops_j4", "4 KiB random read, 4 jobs, IOPS", "hi", "f0", ("passthrough", "rand4k_iops_j4")),
    ("mount_rss_MiB", "mount process peak RSS (VmHWM), MiB", "lo", "f1", None),
    ("restore_MBps", "restore gen2 to a pipe (no mount), MB/s", "hi", "f0", ("raw", "cold_read_MBps")),
    ("restore_null_MBps", "restore gen2 into /dev/null (standard output), MB/s", "hi", "f0", ("raw", "cold_read_MBps")),
    ("restore_cat_MBps", "restore gen2 through a pipe into cat >/dev/null, MB/s", "hi", "f0", ("raw", "cold_read_MBps")),
    ("restore_file_MBps", "restore gen2 to a file on the same disk, MB/s", "hi", "f0", ("raw", "cold_read_MBps")),
    ("copy_file_MBps", "gen2 copied out of a fresh mount to a file on the same disk (cp, sync), MB/s", "hi", "f0", ("raw", "cold_read_MBps")),
    ("storecheck_wall_s", "every stored byte read back and checked after gen2, wall s", "lo", "f2", None),
    ("storecheck_cpu_s", "... of it CPU user+sys, s", "lo", "f2", None),
    ("storecheck_rss_MiB", "... its peak RSS, MiB", "lo", "f1", None),
]
BACKUP_PEERS = ["borg", "borg-buzhash", "borg-zstd", "restic", "casync", "bup"]
REFERENCE_PEERS = {"raw", "passthrough", "cpu", "data"}


def fmt(v, kind):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if kind == "mb":
        return f"{v / 1e6:.1f}"
    if kind == "f0":
        return f"{v:.0f}"
    if kind == "f1":
        return f"{v:.1f}"
    if kind == "f3":
        return f"{v:.3f}"
    return f"{v:.2f}"


def adv(s, o, better):
    """How many times snapfs is better than o (>1 = snapfs better)."""
    if s is None or o is None or s == 0 or o == 0:
        return None
    return s / o if better == "hi" else o / s


def fx(r):
    return "–" if r is None else f"{r:.2f}×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tsv", required=True)
    ap.add_argument("--versions")
    ap.add_argument("--loadavg")
    ap.add_argument("--notes")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--cache-size", default="256M")
    ap.add_argument("--block-size", type=int, default=65536)
    a = ap.parse_args()

    vals = collections.defaultdict(list)
    peers = []
    with open(a.tsv) as fh:
        next(fh)
        for line in fh:
            p = line.rstrip("\n").split("\t")
            if len(p) != 5:
                continue
            peer, metric, rep, value, unit = p
            try:
                v = float(value)
            except ValueError:
                continue
            vals[(peer, metric)].append(v)
            if peer not in peers:
                peers.append(peer)

    def med(peer, metric):
        xs = vals.get((peer, metric))
        return statistics.median(xs) if xs else None

    tools = [p for p in peers if p not in REFERENCE_PEERS and p != "snapfs"]
    w = print
    w("# snapfs benchmark")
    w()
    sz = a.size
    w(f"Volume: {sz / 2**30:.2f} GiB sparse ext4 image (about 60% real files from /usr and /etc, "
      f"10% incompressible, rest free), generation 2 with churn; medians of {a.reps} rep(s). "
      "MB = 10^6 bytes; MB/s are of the logical volume size. Stores are measured as allocated "
      "bytes (du -B1). Ratios are snapfs's advantage: above 1× snapfs is better.")
    w()
    d = {m: med("data", m) for m in ("gen1_allocated_bytes", "gen2_allocated_bytes", "gen2_changed_bytes")}
    if d["gen2_changed_bytes"] is not None:
        w(f"Data: gen1 allocates {fmt(d['gen1_allocated_bytes'], 'mb')} MB, gen2 "
          f"{fmt(d['gen2_allocated_bytes'], 'mb')} MB; gen2 differs from gen1 in "
          f"{fmt(d['gen2_changed_bytes'], 'mb')} MB of {a.block_size >> 10} KiB blocks (the changed-ranges list).")
        w()

    w("## snapfs against the best peer and the physical reference")
    w()
    w("| figure | snapfs | best peer | snapfs vs best | reference | snapfs vs reference |")
    w("|---|---:|---|---:|---|---:|")
    for metric, label, better, kind, ref in FIGURES:
        s = med("snapfs", metric)
        cands = [(p, med(p, metric)) for p in tools if med(p, metric) is not None]
        if s is None and not cands:
            continue
        best = None
        if cands:
            best = (max if better == "hi" else min)(cands, key=lambda x: x[1])
        refv = None
        refs = "–"
        if ref:
            refv = med(*ref)
            if refv is None and ref[0] == "passthrough":
                ref = ("raw", metric)
                refv = med(*ref)
            if refv is not None:
                refs = f"{ref[0]} {fmt(refv, kind)}"
        bests = f"{best[0]} {fmt(best[1], kind)}" if best else "–"
        w(f"| {label} | {fmt(s, kind)} | {bests} | {fx(adv(s, best[1] if best else None, better))} "
          f"| {refs} | {fx(adv(s, refv, better))} |")
    w()

    w("## Every peer (medians)")
    w()
    cols = [p for p in peers if p not in ("cpu", "data")]
    w("| figure | " + " | ".join(cols) + " |")
    w("|---|" + "---:|" * len(cols))
    for metric, label, better, kind, ref in FIGURES:
        row = [med(p, metric) for p in cols]
        if all(v is None for v in row):
            continue
        w(f"| {label} | " + " | ".join(fmt(v, kind) for v in row) + " |")
    ver = []
    for p in cols:
        g = [vals.get((p, f"verify_gen{i}")) for i in (1, 2)]
        if not any(g):
            ver.append("–")
        elif all(x and min(x) == 1 for x in g):
            ver.append("ok")
        else:
            ver.append("**FAILED**")
    w("| sha256 of gen1 and gen2 read back | " + " | ".join(ver) + " |")
    w()
    w(f"Peers: borg = borg 1.2, fixed {a.block_size >> 10} KiB chunks, lz4; borg-buzhash = default buzhash chunker, lz4; "
      f"borg-zstd = fixed {a.block_size >> 10} KiB, zstd 3; restic (zstd auto); casync make/extract of the blob "
      "(it cannot mount a blob index without NBD, so its read figure is a restore); bup split/join "
      "(restore likewise); restores to a pipe are hashed on the way (openssl dgst -sha256); snapfs "
      "restores with snapshot restore ID - and, for the file row, to a file in the work dir; qcow2 = qemu-img convert, gen2 an external overlay on gen1, read through "
      "a qemu-storage-daemon FUSE export (its changed-ranges figure writes the listed ranges into an "
      "empty overlay through a writable export, daemon start and stop included); qcow2-flat = gen2 "
      "converted to a qcow2 image of its own (no backing file), read through the same export; squashfs = one mksquashfs image (zstd 3) per generation, "
      "read with squashfuse_ll; raw = the image file read directly; passthrough = libfuse's "
      "passthrough_ll example over the directory holding the image. The store check reads every stored "
      "byte back, cold, once gen2 is in: snapfs check --read-data, borg check --verify-data, restic "
      "check --read-data, bup fsck (git verify-pack). Reads are of generation 2; "
      "random reads start from a fresh mount after drop_caches (fio psync, --invalidate=1, "
      "time-based).")
    w()

    cpu = [(m, med("cpu", m)) for (p, m) in vals if p == "cpu"]
    if cpu:
        w("## CPU references (one core)")
        w()
        w("| figure | MB/s |")
        w("|---|---:|")
        for m, v in sorted(set(cpu)):
            w(f"| {m.replace('_1core_MBps', '')} | {fmt(v, 'f0')} |")
        w()

    scale = sorted({m for (p, m) in vals if p == "snapfs" and m.startswith("scale_") and "_n" in m
                    and not m.startswith("scale_store")})
    if scale:
        w("## Snapshot count (snapfs)")
        w()
        groups = collections.defaultdict(dict)
        for m in scale:
            base, n = m.rsplit("_n", 1)
            groups[base][int(n)] = med("snapfs", m)
        ns = sorted({n for g in groups.values() for n in g})
        w("| figure (ms, median) | " + " | ".join(f"{n} snapshot{'s' if n != 1 else ''}" for n in ns) + f" | {ns[-1]} vs {ns[0]} |")
        w("|---|" + "---:|" * (len(ns) + 1))
        for base, g in groups.items():
            r = (g.get(ns[-1]) / g[ns[0]]) if g.get(ns[0]) and g.get(ns[-1]) else None
            w(f"| {base.replace('scale_', '').replace('_ms', '')} | "
              + " | ".join(fmt(g.get(n), "f1") for n in ns) + f" | {fx(r)} |")
        w()

    parts = [(g, [med("snapfs", f"store{g}_{k}_bytes") for k in ("packs", "catalog", "reserve")])
             for g in (1, 2)]
    if all(x is not None for _, xs in parts for x in xs):
        w("## snapfs store composition")
        w()
        w("Allocated bytes of the store's parts: the packs hold the chunks; the catalog is the "
          "LMDB file (which keeps the pages a commit copied until later commits reuse them), its "
          "compacted copy and its lock; the reserve is the preallocated file that lets gc finish on "
          "a full disk (a quarter of the pack size, at most 1/64 of the packs).")
        w()
        w("| part | after gen1, MB | after gen2, MB | added by gen2, MB |")
        w("|---|---:|---:|---:|")
        for i, k in enumerate(("packs", "catalog", "reserve")):
            a1, a2 = parts[0][1][i], parts[1][1][i]
            w(f"| {k} | {a1 / 1e6:.1f} | {a2 / 1e6:.1f} | {(a2 - a1) / 1e6:.1f} |")
        w()

    # targets from the issue
    w("## Targets")
    w()
    w("| target | measured | met |")
    w("|---|---|---|")

    def target(name, measured, ok):
        w(f"| {name} | {measured} | {'–' if ok is None else ('yes' if ok else '**no**')} |")

    s = med("snapfs", "ingest1_MBps")
    c = [(p, med(p, "ingest1_MBps")) for p in BACKUP_PEERS if med(p, "ingest1_MBps")]
    if s and c:
        b = max(c, key=lambda x: x[1])
        target("full ingest ≥ 2× the fastest of borg, restic, casync",
               f"{s:.0f} vs {b[0]} {b[1]:.0f} MB/s = {s / b[1]:.2f}×", s >= 2 * b[1])
    cr, pl = med("snapfs", "ingest2cr_wall_s"), med("snapfs", "ingest2_wall_s")
    raw = med("raw", "cold_read_MBps")
    if cr and pl:
        extra = ""
        if raw and a.size:
            rr = a.size / 1e6 / raw
            extra = f"; a cold read of the raw volume takes {rr:.2f} s = {rr / cr:.1f}×"
        target("incremental with changed ranges ≥ 10× faster than a full re-read",
               f"{cr:.3f} s vs {pl:.2f} s plain incremental = {pl / cr:.1f}×{extra}", pl >= 10 * cr)
    s = med("snapfs", "ingest1_MBps")
    for p, what in (("borg", "borg lz4, fixed chunks"), ("borg-buzhash", "borg lz4, buzhash chunks")):
        b = med(p, "ingest1_MBps")
        if s and b:
            target(f"full ingest ≥ 2× {what}", f"{s:.0f} vs {b:.0f} MB/s = {s / b:.2f}×", s >= 2 * b)
    q = med("qcow2", "ingest1_MBps")
    if s and q:
        target("full ingest ≥ qemu-img's qcow2 conversion", f"{s:.0f} vs {q:.0f} MB/s = {s / q:.2f}×", s >= q)
    cr, full, ch = med("snapfs", "ingest2cr_wall_s"), med("snapfs", "ingest1_wall_s"), med("data", "gen2_changed_bytes")
    if cr and full and ch and a.size:
        frac = ch / a.size
        target("changed-ranges snapshot ≤ 1.5 × (changed fraction × full-ingest time)",
               f"{cr:.3f} s vs {frac * 100:.1f}% × {full:.2f} s = {frac * full:.3f} s: "
               f"{cr / (frac * full):.2f}×", cr <= 1.5 * frac * full)
    s, bu = med("snapfs", "added2_bytes"), med("bup", "added2_bytes")
    if s is not None and bu:
        extra = ""
        pk = [med("snapfs", f"store{g}_packs_bytes") for g in (1, 2)]
        if None not in pk:
            extra = f" (packs alone {(pk[1] - pk[0]) / 1e6:.1f} MB = {(pk[1] - pk[0]) / bu:.2f}×)"
        target("added by generation 2 ≤ 1.2× bup's",
               f"{s / 1e6:.1f} vs {bu / 1e6:.1f} MB = {s / bu:.2f}×{extra}", s <= 1.2 * bu)
    s, c, bu = med("snapfs", "added2_bytes"), med("casync", "added2_bytes"), med("bup", "added2_bytes")
    if s is not None and c is not None:
        extra = f", bup {bu / 1e6:.1f} MB" if bu is not None else ""
        target("added by generation 2 ≤ casync's", f"{s / 1e6:.1f} vs {c / 1e6:.1f} MB{extra}", s <= c)
    s = med("snapfs", "store2_bytes")
    c = [(p, med(p, "store2_bytes")) for p in tools if med(p, "store2_bytes")]
    if s and c:
        b = min(c, key=lambda x: x[1])
        target("store after 2 generations ≤ smallest peer's",
               f"{s / 1e6:.1f} vs {b[0]} {b[1] / 1e6:.1f} MB", s <= b[1])
    s, q = med("snapfs", "cold_read_MBps"), med("qcow2", "cold_read_MBps")
    if s and q:
        target("cold sequential read ≥ 1.2× qcow2 export", f"{s:.0f} vs {q:.0f} MB/s = {s / q:.2f}×", s >= 1.2 * q)
    s, q = med("snapfs", "warm_read_MBps"), med("squashfs", "warm_read_MBps")
    if s and q:
        target("warm re-read ≥ squashfuse_ll's", f"{s:.0f} vs {q:.0f} MB/s", s >= q)
    for j in (1, 4):
        for qp, what in (("qcow2", "qcow2 export (overlay)"), ("qcow2-flat", "qcow2 export (flat)"),
                         ("passthrough", "passthrough_ll")):
            s, q = med("snapfs", f"rand4k_iops_j{j}"), med(qp, f"rand4k_iops_j{j}")
            if s and q:
                target(f"4 KiB random read, {j} job(s) ≥ {what}", f"{s:.0f} vs {q:.0f} IOPS", s >= q)
    s, q, r = med("snapfs", "cold_read_MBps"), med("squashfs", "cold_read_MBps"), med("raw", "cold_read_MBps")
    if s and q:
        target("cold sequential read ≥ 1.5× squashfuse_ll", f"{s:.0f} vs {q:.0f} MB/s = {s / q:.2f}×", s >= 1.5 * q)
    if s and r:
        target("cold sequential read ≥ the raw file's", f"{s:.0f} vs {r:.0f} MB/s = {s / r:.2f}×", s >= r)
    s, rn = med("snapfs", "cold_read_MBps"), med("snapfs", "restore_null_MBps")
    rp, rc = med("snapfs", "restore_MBps"), med("snapfs", "restore_cat_MBps")
    rf, cf = med("snapfs", "restore_file_MBps"), med("snapfs", "copy_file_MBps")
    if s and rn:
        extra = "".join(f"; {what} {v:.0f} MB/s = {v / s:.2f}×" for what, v in
                        (("through a pipe into cat", rc), ("hashed on the way", rp)) if v)
        target("restore ≥ cold sequential read through the mount (both into /dev/null)",
               f"{rn:.0f} vs {s:.0f} MB/s = {rn / s:.2f}×{extra}", rn >= s)
    if rf and cf:
        target("restore to a file ≥ the same file copied out of a fresh mount (cp, sync)",
               f"{rf:.0f} vs {cf:.0f} MB/s = {rf / cf:.2f}×", rf >= cf)
    s, q = med("snapfs", "cold_read_cpu_s_GiB"), med("squashfs", "cold_read_cpu_s_GiB")
    if s and q:
        target("mount daemon CPU per GiB read ≤ squashfuse_ll's", f"{s:.2f} vs {q:.2f} s/GiB", s <= q)
    s = med("snapfs", "first_byte_ms")
    if s is not None:
        target("mount first byte ≤ 25 ms", f"{s:.1f} ms", s <= 25)
    s = med("snapfs", "mount_rss_MiB")
    if s is not None:
        cs = a.cache_size.upper()
        mib = float(cs[:-1]) * (1024 if cs.endswith("G") else 1) if cs[-1] in "MG" else float(cs) / 2**20
        target(f"mount peak RSS bounded by the cache size ({a.cache_size}, allowing 64 MiB overhead)",
               f"{s:.0f} MiB", s <= mib + 64)
    if scale:
        for base in ("scale_create_ms", "scale_lookup_newest_ms", "scale_first_byte_ms"):
            g = groups.get(base, {})
            if len(g) >= 2:
                lo, hi = min(g), max(g)
                if g[lo] and g[hi]:
                    target(f"{base.replace('scale_', '').replace('_ms', '')}: {hi} snapshots within 1.5× of {lo}",
                           f"{g[hi]:.1f} vs {g[lo]:.1f} ms = {g[hi] / g[lo]:.2f}×", g[hi] <= 1.5 * g[lo])
    w()

    if a.loadavg:
        w("## Load average per section")
        w()
        w("| section | load (1 min) at start | at end | seconds |")
        w("|---|---:|---:|---:|")
        with open(a.loadavg) as fh:
            next(fh)
            for line in fh:
                p = line.rstrip("\n").split("\t")
                if len(p) == 4:
                    w(f"| {p[0]} | {p[1]} | {p[2]} | {p[3]} |")
        w()
    if a.versions:
        w("## Versions")
        w()
        w("```")
        with open(a.versions) as fh:
            w(fh.read().rstrip())
        w("```")
        w()
    if a.notes:
        with open(a.notes) as fh:
            notes = [x.rstrip() for x in fh if x.strip()]
        if notes:
            w("## Notes")
            w()
            for n in notes:
                w(f"- {n}")
            w()


if __name__ == "__main__":
    main()
