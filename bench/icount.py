#!/usr/bin/env python3
"""Host instructions of warm Python-backend runs, counted by callgrind: an A/B that
repeats on a noisy machine.

Wall-clock figures on the shared CI machines swing by a third within minutes (QEMU's
own times with them), so two trees timed in turn disagree run to run. The number of
host instructions CPython executes for a guest run does not: it is the measure to
judge a change of the generated code by (it does not see cache misses, so confirm
large changes with bench/run.py).

Each tree runs each program twice with one fresh translation cache: once to fill it,
once under ``valgrind --tool=callgrind`` (warm: what bench/run.py's MIPS measure).
Valgrind cannot reserve pyqemu's 2**38-byte guest region, so the runs reserve 2**32
bytes instead (the bench programs fit; both trees alike). Sizes are reduced: valgrind
runs some fifty times slower.

    python bench/icount.py TREE_A [TREE_B] [--only fib,nbody]

TREE: a checkout of pyqemu (``git worktree add --detach /tmp/a REV``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from run import build

SIZES = {"fib": "20", "nbody": "30", "sha256": "2", "strmem": "800", "sieve": "1", "sort": "1"}
# Runs the user-mode CLI with a 2**32-byte guest region (see the docstring), and
# gives the guest only the environment count() sets: valgrind adds variables
# (LD_PRELOAD...), and a longer environment sends glibc's start-up down paths the run
# that filled the cache did not take (the measured run then translated them anew).
WRAPPER = """
import os
import sys
import pyqemu.linux_user.guest_memory as gm
gm.SPAN_BITS = 32
gm.SPAN = 1 << 32
gm.HMASK = gm.SPAN - 1
gm.REGION_SIZE = gm.SPAN - gm.LOW
import pyqemu.cli.riscv64_user as cli
cli._host_environment = lambda: {k: os.environ[k] for k in ("PATH", "XDG_CACHE_HOME",
                                                          "PYTHONPATH")}
sys.argv[0] = "pyqemu-riscv64"
cli.main()
"""


def count(tree: Path, binary: Path, arg: str) -> int:
    with tempfile.TemporaryDirectory() as cache:
        env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": cache, "PYTHONPATH": str(tree)}
        cmd = [sys.executable, "-c", WRAPPER, "-accel", "tcg,backend=python", str(binary),
               arg]
        subprocess.run(cmd, env=env, cwd=tree, capture_output=True, check=True)
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                            *cmd], env=env, cwd=tree, capture_output=True, text=True,
                           check=True)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if m is None:
        raise RuntimeError(f"no callgrind total for {binary.name}: {r.stderr[-300:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trees", nargs="+", type=Path)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    names = [n for n in SIZES if not a.only or n in a.only.split(",")]
    print(f"{'program':<10}" + "".join(f"{t.name[-14:]:>16}" for t in a.trees) +
          ("    change" if len(a.trees) == 2 else ""))
    with ThreadPoolExecutor(2) as pool:  # (one run per core)
        for name in names:
            binary = build(name)
            jobs = [pool.submit(count, t.resolve(), binary, SIZES[name]) for t in a.trees]
            counts = [j.result() for j in jobs]
            line = f"{name:<10}" + "".join(f"{c / 1e6:15.1f}M" for c in counts)
            if len(counts) == 2:
                line += f"  {100 * (counts[1] / counts[0] - 1):+7.1f}%"
            print(line, flush=True)


if __name__ == "__main__":
    main()
