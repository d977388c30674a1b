#!/usr/bin/env python3
"""Start-up: ``pyqemu-riscv64 ./hello`` end to end against ``python3 -c pass`` and
``qemu-riscv64 ./hello``, in the same run (issue 3's criterion: within 3x of the sum of
those two). Best of N wall times, which a busy machine disturbs least.

pyqemu runs cold (``-accel tcg,tb-cache=off``: nothing reused from earlier runs) and
warm (translations cached by an earlier run), for a static and a dynamic hello.

    python bench/startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYQEMU = str(ROOT / ".venv" / "bin" / "pyqemu-riscv64")
SYSROOT = "/usr/riscv64-linux-gnu"
HELLO = r"""
#include <stdio.h>
int main(void) { printf("hello, riscv64\n"); return 0; }
"""


def build(out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / "hello.c"
    src.write_text(HELLO)
    bins = {}
    for kind, flags in (("static", ["-static"]), ("dynamic", [])):
        exe = out_dir / f"hello-{kind}"
        if not exe.exists():
            subprocess.run(["riscv64-linux-gnu-gcc", "-O2", *flags, "-o", str(exe), str(src)],
                           check=True)
        bins[kind] = exe
    return bins


def best(cmd: list[str], n: int, env: dict | None = None) -> float:
    t_best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: exit status {r.returncode}")
        t_best = min(t_best, dt)
    return t_best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()
    bins = build(ROOT / ".cache" / "bench" / "startup")
    n = a.repeat
    py = best(["/usr/bin/python3", "-c", "pass"], n)
    env = dict(os.environ)
    print(f"python3 -c pass: {py * 1e3:.1f} ms")
    print(f"{'program':<16}{'qemu ms':>9}{'limit ms':>10}{'cold ms':>9}{'warm ms':>9}"
          f"{'cold/limit':>12}{'warm/limit':>12}")
    for kind, exe in bins.items():
        prefix = ["-L", SYSROOT] if kind == "dynamic" else []
        q = best(["qemu-riscv64", *prefix, str(exe)], n)
        limit = 3 * (py + q)
        cold = best([PYQEMU, "-accel", "tcg,tb-cache=off", *prefix, str(exe)], n, env)
        subprocess.run([PYQEMU, *prefix, str(exe)], stdout=subprocess.DEVNULL)  # warm up
        warm = best([PYQEMU, *prefix, str(exe)], n, env)
        print(f"hello-{kind:<10}{q * 1e3:9.1f}{limit * 1e3:10.1f}{cold * 1e3:9.1f}"
              f"{warm * 1e3:9.1f}{cold / limit:12.2f}{warm / limit:12.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
