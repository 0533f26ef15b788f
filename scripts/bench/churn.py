#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Apply deterministic, realistic churn to a mounted generation-1 tree.

Deletes, edits in place and appends to a seeded selection of files, and
rewrites scattered 4 KiB pages inside the big incompressible file.  New
files are added by the caller (copied from the host), as is a new
incompressible file.  Every choice comes from a PRNG seeded by --seed.
"""
import argparse
import os
import random


def files_under(root, skip):
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            if os.path.abspath(p) in skip:
                continue
            out.append(p)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--big", required=True, help="big incompressible file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--delete-frac", type=float, default=0.03)
    ap.add_argument("--edit-frac", type=float, default=0.02)
    ap.add_argument("--append-frac", type=float, default=0.02)
    ap.add_argument("--page-rewrites", type=int, default=256)
    a = ap.parse_args()

    rng = random.Random(a.seed * 7919 + 17)
    big = os.path.abspath(a.big)
    files = files_under(a.root, {big})
    rng.shuffle(files)
    n = len(files)
    nd = int(n * a.delete_frac)
    ne = int(n * a.edit_frac)
    na = int(n * a.append_frac)
    deleted = files[:nd]
    edited = files[nd:nd + ne]
    appended = files[nd + ne:nd + ne + na]

    for p in deleted:
        os.unlink(p)

    edit_bytes = 0
    for p in edited:
        sz = os.path.getsize(p)
        if sz == 0:
            continue
        ln = min(sz, rng.randint(16, 8192))
        off = rng.randint(0, sz - ln)
        with open(p, "r+b") as fh:
            fh.seek(off)
            fh.write(rng.randbytes(ln))
        edit_bytes += ln

    app_bytes = 0
    for p in appended:
        ln = rng.randint(64, 65536)
        with open(p, "ab") as fh:
            fh.write(rng.randbytes(ln))
        app_bytes += ln

    bsz = os.path.getsize(big)
    pages = bsz // 4096
    with open(big, "r+b") as fh:
        for _ in range(a.page_rewrites):
            pg = rng.randrange(pages)
            fh.seek(pg * 4096)
            fh.write(rng.randbytes(4096))

    print(f"churn: {n} files; deleted {nd}, edited {ne} ({edit_bytes} B), "
          f"appended {na} ({app_bytes} B), {a.page_rewrites} 4 KiB pages rewritten in big file")


if __name__ == "__main__":
    main()
