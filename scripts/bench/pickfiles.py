#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Pick a deterministic set of regular files from source trees.

Walks the given roots in sorted order, shuffles the list with a PRNG seeded
from --seed and takes files until --bytes is reached.  Prints one path per
line (NUL-separated with -0).  Files listed in --exclude are skipped, so a
second pick (the files added by generation 2) never repeats the first.
"""
import argparse
import os
import random
import sys


def walk(roots, max_file):
    out = []
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if not os.path.isfile(p) or os.path.islink(p):
                    continue
                if st.st_size == 0 or st.st_size > max_file:
                    continue
                if not os.access(p, os.R_OK):
                    continue
                out.append((p, st.st_size))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exclude", help="file with paths to skip")
    ap.add_argument("--max-file", type=int, default=64 << 20)
    ap.add_argument("-0", dest="nul", action="store_true")
    ap.add_argument("roots", nargs="+")
    a = ap.parse_args()
    skip = set()
    if a.exclude:
        with open(a.exclude, "rb") as fh:
            data = fh.read()
        sep = b"\0" if b"\0" in data else b"\n"
        skip = {x.decode("utf-8", "surrogateescape") for x in data.split(sep) if x}
    files = [f for f in walk(a.roots, a.max_file) if f[0] not in skip]
    random.Random(a.seed).shuffle(files)
    total = 0
    picked = []
    for p, sz in files:
        if total >= a.bytes:
            break
        # account for ext4 block rounding
        total += (sz + 4095) // 4096 * 4096
        picked.append(p)
    picked.sort()
    end = "\0" if a.nul else "\n"
    w = sys.stdout.buffer
    for p in picked:
        w.write(p.encode("utf-8", "surrogateescape") + end.encode())
    print(f"picked {len(picked)} files, {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
