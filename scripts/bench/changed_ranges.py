#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Emit the byte ranges where two images differ, at block granularity.

Compares OLD and NEW block by block (default 64 KiB) and prints merged
"OFFSET LENGTH" lines (bytes) for every run of differing blocks.  If NEW is
longer than OLD, the tail counts as changed.  A summary goes to stderr.
"""
import argparse
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--block-size", type=int, default=65536)
    ap.add_argument("--batch", type=int, default=256, help="blocks per read")
    a = ap.parse_args()
    bs = a.block_size
    size = os.path.getsize(a.new)
    osize = os.path.getsize(a.old)
    step = bs * a.batch
    out = sys.stdout
    run_start = None
    changed = 0
    with open(a.old, "rb", buffering=0) as fo, open(a.new, "rb", buffering=0) as fn:
        off = 0
        while off < size:
            nb = fn.read(step)
            ob = fo.read(step) if off < osize else b""
            if nb == ob:
                if run_start is not None:
                    out.write(f"{run_start} {off - run_start}\n")
                    changed += off - run_start
                    run_start = None
                off += len(nb)
                continue
            for i in range(0, len(nb), bs):
                n = nb[i:i + bs]
                o = ob[i:i + bs]
                pos = off + i
                if n != o:
                    if run_start is None:
                        run_start = pos
                elif run_start is not None:
                    out.write(f"{run_start} {pos - run_start}\n")
                    changed += pos - run_start
                    run_start = None
            off += len(nb)
        if run_start is not None:
            out.write(f"{run_start} {size - run_start}\n")
            changed += size - run_start
    print(f"changed {changed} of {size} bytes ({100.0 * changed / max(size, 1):.2f}%)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
