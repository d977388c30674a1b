"""Benchmark pyqemu-img against qemu-img in the same run (DESIGN.md section 5).

Cases: convert raw->qcow2 of a 1 GiB image that is half zeros, the same with -c
(zlib), and sequential / random 4 KiB writes into a fresh qcow2 image (pyqemu through
its Python BlockDriver API, qemu through `qemu-img bench -w`).  Prints a table of
times and ratios (qemu time / pyqemu time: above 1.0 means pyqemu is faster).

    .venv/bin/python bench/img_bench.py [--size-mib 1024] [--writes 65536]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pyqemu.block.chain import open_image  # noqa: E402
from pyqemu.block.qcow2.create import Qcow2Options, create_qcow2  # noqa: E402

PYIMG = [sys.executable, "-m", "pyqemu.cli.img"]


def make_source(path: str, size: int) -> None:
    """Half random-ish data (compressible text and random bytes), half zeros."""
    rnd = random.Random(0)
    chunk = 1 << 20
    text = (b"pyqemu block layer benchmark " * 40000)[:chunk]
    with open(path, "wb") as f:
        for i in range(size // chunk):
            if i % 2:
                f.write(bytes(chunk))
            elif i % 4 == 0:
                f.write(text)
            else:
                f.write(rnd.randbytes(chunk // 4) + text[: 3 * chunk // 4])


def timed(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def py_writes(path: str, size: int, count: int, sequential: bool) -> float:
    create_qcow2(path, size, Qcow2Options())
    rnd = random.Random(1)
    offsets = ([i * 4096 for i in range(count)] if sequential else
               [rnd.randrange(0, size // 4096) * 4096 for _ in range(count)])
    data = os.urandom(4096)
    t = time.perf_counter()
    img = open_image(path, read_only=False)
    write = img.write
    for off in offsets:
        write(off, data)
    img.flush()
    img.close()
    return time.perf_counter() - t


def qemu_writes(path: str, size: int, count: int, sequential: bool) -> float:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, str(size)], check=True)
    argv = ["qemu-img", "bench", "-w", "-t", "writeback", "-d", "1", "-s", "4096", "-c",
            str(count), "-f", "qcow2"]
    if not sequential:
        # qemu-img bench has no random mode: a large step gives scattered clusters
        argv += ["-S", str(4096 * 4099 % size)]
    return timed(argv + [path])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--writes", type=int, default=65536)
    args = ap.parse_args()
    size = args.size_mib << 20
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        src = os.path.join(d, "src.raw")
        make_source(src, size)
        for label, extra in (("convert raw->qcow2", []), ("convert -c (zlib)", ["-c"])):
            q = timed(["qemu-img", "convert", *extra, "-f", "raw", "-O", "qcow2", src,
                       os.path.join(d, "q.qcow2")])
            p = timed(PYIMG + ["convert", *extra, "-f", "raw", "-O", "qcow2", src,
                               os.path.join(d, "p.qcow2")])
            rows.append((label, q, p))
        os.unlink(src)
        for label, seq in (("seq 4k writes", True), ("random 4k writes", False)):
            q = qemu_writes(os.path.join(d, "qw.qcow2"), size, args.writes, seq)
            p = py_writes(os.path.join(d, "pw.qcow2"), size, args.writes, seq)
            rows.append((label, q, p))
    print(f"{'case':<22}{'qemu-img s':>12}{'pyqemu s':>12}{'ratio':>8}")
    for label, q, p in rows:
        print(f"{label:<22}{q:>12.3f}{p:>12.3f}{q / p:>8.2f}")


if __name__ == "__main__":
    main()
