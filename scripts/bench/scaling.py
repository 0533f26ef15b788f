#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""snapfs cost per operation against the number of snapshots in a store.

Creates COUNT snapshots of a small image, each after a few scattered 4 KiB
rewrites (passed with --changed-ranges).  When the store holds N snapshots
for N in --marks it measures: `snapshot show` of the oldest and the newest
snapshot (lookup), mount + first 4 KiB of the newest snapshot after
drop_caches (first byte), and the next five creates (create).  Prints
results.tsv rows (peer, metric, rep, value, unit) on stdout.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import time


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


def is_mounted(path):
    with open("/proc/mounts") as fh:
        return any(line.split()[1] == path for line in fh)


def drop_caches():
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
    except OSError:
        pass


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--snapfs", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--marks", default="1,100,1000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache-size", default="256M")
    ap.add_argument("--pages", type=int, default=4, help="4 KiB rewrites per snapshot")
    ap.add_argument("--block-size", type=int, default=65536)
    a = ap.parse_args()

    marks = sorted({int(x) for x in a.marks.split(",") if x})
    os.makedirs(a.work, exist_ok=True)
    img = os.path.join(a.work, "small.img")
    ranges = os.path.join(a.work, "ranges")
    mnt = os.path.join(a.work, "mnt")
    os.makedirs(mnt, exist_ok=True)
    shutil.copyfile(a.image, img)
    size = os.path.getsize(img)
    rng = random.Random(a.seed * 104729 + 3)
    sf = [a.snapfs, "--store", a.store]
    run(sf + ["init", "--block-size", str(a.block_size)])
    ids = []
    out = sys.stdout

    def emit(metric, rep, value, unit):
        out.write(f"snapfs\t{metric}\t{rep}\t{value:.2f}\t{unit}\n")
        out.flush()

    def create(first=False):
        cmd = sf + ["snapshot", "create", "small", img, "--no-progress"]
        if not first:
            touched = set()
            with open(img, "r+b") as fh:
                for _ in range(a.pages):
                    pg = rng.randrange(size // 4096)
                    fh.seek(pg * 4096)
                    fh.write(rng.randbytes(4096))
                    touched.add(pg * 4096 // a.block_size)
            with open(ranges, "w") as fh:
                for b in sorted(touched):
                    fh.write(f"{b * a.block_size} {a.block_size}\n")
            cmd += ["--changed-ranges", ranges]
        t0 = time.perf_counter()
        r = run(cmd)
        dt = (time.perf_counter() - t0) * 1000
        ids.append(r.stdout.strip().splitlines()[-1])
        return dt

    def lookup(sid):
        t0 = time.perf_counter()
        run(sf + ["snapshot", "show", sid, "--json"])
        return (time.perf_counter() - t0) * 1000

    def first_byte(sid):
        drop_caches()
        t0 = time.perf_counter()
        r = subprocess.run(sf + ["mount", mnt, "-o", f"cache_size={a.cache_size}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print(f"scaling: mount failed: {r.stderr.strip()}", file=sys.stderr)
            return None
        try:
            path = os.path.join(mnt, "snapshots", sid + ".img")
            # the mount call returns once the daemon is ready
            with open(path, "rb", buffering=0) as fh:
                fh.read(4096)
            return (time.perf_counter() - t0) * 1000
        finally:
            for _ in range(50):
                subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL)
                if not is_mounted(mnt):
                    break
                time.sleep(0.1)

    create(first=True)
    t_start = time.perf_counter()
    for n in marks:
        while len(ids) < n:
            create()
        print(f"scaling: {len(ids)} snapshots after {time.perf_counter() - t_start:.1f} s",
              file=sys.stderr)
        old = [lookup(ids[0]) for _ in range(5)]
        new = [lookup(ids[-1]) for _ in range(5)]
        fb = [first_byte(ids[-1]) for _ in range(5)]
        fb = [v for v in fb if v is not None]
        cr = [create() for _ in range(5)]
        for i, v in enumerate(old, 1):
            emit(f"scale_lookup_oldest_ms_n{n}", i, v, "ms")
        for i, v in enumerate(new, 1):
            emit(f"scale_lookup_newest_ms_n{n}", i, v, "ms")
        for i, v in enumerate(fb, 1):
            emit(f"scale_first_byte_ms_n{n}", i, v, "ms")
        for i, v in enumerate(cr, 1):
            emit(f"scale_create_ms_n{n}", i, v, "ms")
        print(f"scaling n={n}: lookup {median(old):.1f}/{median(new):.1f} ms, "
              f"first byte {median(fb) if fb else float('nan'):.1f} ms, create {median(cr):.1f} ms", file=sys.stderr)
    du = run(["du", "-sB1", a.store]).stdout.split()[0]
    out.write(f"snapfs\tscale_store_bytes_n{len(ids)}\t1\t{du}\tB\n")


if __name__ == "__main__":
    main()
