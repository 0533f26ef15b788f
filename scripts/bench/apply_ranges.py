#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Copy the "OFFSET LENGTH" ranges listed in RANGES from SRC into DST in place."""
import os
import sys


def main():
    if len(sys.argv) != 4:
        print("usage: apply_ranges.py SRC DST RANGES", file=sys.stderr)
        sys.exit(2)
    src, dst, ranges = sys.argv[1:]
    fs = os.open(src, os.O_RDONLY)
    fd = os.open(dst, os.O_WRONLY)
    total = 0
    with open(ranges) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) != 2:
                continue
            off, ln = int(parts[0]), int(parts[1])
            while ln > 0:
                n = min(ln, 1 << 20)
                buf = os.pread(fs, n, off)
                if len(buf) != n:
                    sys.exit(f"short read at {off}")
                os.pwrite(fd, buf, off)
                off += n
                ln -= n
                total += n
    os.fsync(fd)
    os.close(fd)
    os.close(fs)
    print(f"wrote {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
