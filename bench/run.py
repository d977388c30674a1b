#!/usr/bin/env python3
"""User-mode CPU benchmarks: pyqemu-riscv64 and qemu-riscv64 side by side, same run.

For each program (bench/programs/*.c, built static for riscv64 with -O2
-ffp-contract=off) it reports wall time under both emulators, the exact guest
instruction count (from a QEMU TCG plugin when one is available: $PYQEMU_INSNCOUNT or
../shared/tools/insncount), MIPS for both, the ratio QEMU time / pyqemu time, and
pyqemu's translation cost in microseconds per translated guest instruction. Outputs
must match exactly; a mismatch is reported, not timed.

Both backends keep translations across runs (the persistent translation caches:
accel/tcg/tb_persist.py for native code, tb_persist_python.py for the Python backend's
interpreter programs and compiled code), so pyqemu is timed twice per program: cold
(an empty cache: every block translated) and warm (a second run reusing the first
one's blocks). Translation cost comes from the cold run.

    python bench/run.py [--size small|medium|default] [--only fib,sieve] [--repeat N]
                        [--backend native|python]

The default size is medium for the native backend and small for the Python backend, as
the suite's README suggests. Each time is the least of --repeat runs (3 by default):
these machines' speed swings by a third within minutes, and the least of a few runs is
the figure that least depends on what else the machine was doing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "bench" / "programs"
OUT = ROOT / ".cache" / "bench"
SIZES = {
    "small": {"fib": "24", "sieve": "2", "sort": "1", "nbody": "300", "sha256": "20",
              "strmem": "8000"},
    "medium": {"fib": "30", "sieve": "8", "sort": "4", "nbody": "2000", "sha256": "80",
               "strmem": "40000"},
    # The programs' own defaults (1 to 17 G guest instructions; QEMU takes 1-4 s each).
    "default": {"fib": "40", "sieve": "200", "sort": "100", "nbody": "40000",
                "sha256": "3000", "strmem": "1500000"},
}
# The suite's README: small sizes are for the Python backend, "sizes between small and
# default suit a native-code backend" (at small sizes, process start-up is most of
# QEMU's time as well).
DEFAULT_SIZE = {"python": "small", "native": "medium"}
ENV = {"PATH": "/usr/bin:/bin"}


def build(name: str) -> Path:
    src = PROGRAMS / f"{name}.c"
    out = OUT / name
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-ffp-contract=off", "-static", "-o",
                        str(out), str(src), "-lm"], check=True)
    return out


def find_plugin() -> Path | None:
    cands = [os.environ.get("PYQEMU_INSNCOUNT", ""), str(ROOT / ".cache/insncount/insncount.so")]
    for c in cands:
        if c and Path(c).is_file():
            return Path(c)
    script = ROOT.parent / "shared/tools/insncount/build.sh"
    if script.exists():
        r = subprocess.run(["bash", str(script), str(ROOT / ".cache/insncount")],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return ROOT / ".cache/insncount/insncount.so"
    return None


def count_insns(plugin: Path | None, binary: Path, args: list[str]) -> int | None:
    """Exact guest instruction count (cached per binary and arguments: the plugin run
    of a default-size program takes a while)."""
    if plugin is None:
        return None
    st = binary.stat()
    memo = OUT / "insns.json"
    key = f"{binary.name}:{st.st_size}:{st.st_mtime_ns}:{' '.join(args)}"
    counts = json.loads(memo.read_text()) if memo.exists() else {}
    if key in counts:
        return counts[key]
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        subprocess.run(["qemu-riscv64", "-plugin", f"{plugin},out={f.name}", "-d", "plugin",
                        str(binary), *args], env=ENV, capture_output=True, check=True)
        text = Path(f.name).read_text()
    for tok in text.split():
        if tok.startswith("insns="):
            counts[key] = int(tok[6:])
            memo.write_text(json.dumps(counts, indent=0))
            return counts[key]
    return None


def timed(cmd: list[str], env: dict) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} exited {r.returncode}: {r.stderr.decode()[-300:]}")
    return dt, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", choices=list(SIZES), default=None,
                    help="default: small for the Python backend, medium for native code")
    ap.add_argument("--only", default="")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", choices=["native", "python"], default=None,
                    help="the TCG backend (default: pyqemu's own choice)")
    a = ap.parse_args()
    if a.size is None:
        a.size = DEFAULT_SIZE[a.backend or "native"]
    print(f"size: {a.size}")
    names = [n for n in SIZES[a.size] if not a.only or n in a.only.split(",")]
    plugin = find_plugin()
    pyqemu = pyqemu_command()
    if a.backend:
        pyqemu += ["-accel", f"tcg,backend={a.backend}"]
    rows = []
    print(f"{'program':<10}{'insns':>12}{'qemu s':>9}{'cold s':>9}{'warm s':>9}{'qemu MIPS':>11}"
          f"{'warm MIPS':>11}{'cold ratio':>11}{'warm ratio':>11}{'xlate us/insn':>15}")
    for name in names:
        binary = build(name)
        args = [SIZES[a.size][name]]
        insns = count_insns(plugin, binary, args)
        tq = min(timed(["qemu-riscv64", str(binary), *args], ENV)[0] for _ in range(a.repeat))
        ref_out = timed(["qemu-riscv64", str(binary), *args], ENV)[1]
        cold = warm = math.inf
        stats = {}
        for _ in range(a.repeat):
            with tempfile.TemporaryDirectory() as cache:
                dt, out, stats = run_pyqemu(pyqemu, binary, args, cache)
                cold = min(cold, dt)
                check(name, ref_out, out)
                dt, out, _ = run_pyqemu(pyqemu, binary, args, cache)
                warm = min(warm, dt)
                check(name, ref_out, out)
        xl = (stats.get("translate_ns", 0) / 1000 / stats["translated_insns"]
              if stats.get("translated_insns") else float("nan"))
        mq = insns / tq / 1e6 if insns else float("nan")
        mp = insns / warm / 1e6 if insns else float("nan")
        rows.append((name, tq / cold, tq / warm, mp))
        print(f"{name:<10}{insns or 0:>12}{tq:>9.3f}{cold:>9.3f}{warm:>9.3f}{mq:>11.1f}"
              f"{mp:>11.2f}{tq / cold:>11.4f}{tq / warm:>11.4f}{xl:>15.1f}")
    geo = [math.exp(sum(math.log(r[k]) for r in rows) / len(rows)) for k in (1, 2)]
    mips = [r[3] for r in rows if not math.isnan(r[3])]
    geo_mips = math.exp(sum(math.log(m) for m in mips) / len(mips)) if mips else float("nan")
    print(f"geomean ratio (qemu time / pyqemu time): cold {geo[0]:.4f}  warm {geo[1]:.4f}   "
          f"geomean pyqemu MIPS (warm): {geo_mips:.2f}")


def pyqemu_command() -> list[str]:
    """What a user runs: the console script installed beside this Python (the venv's
    pyqemu-riscv64), else the module through -m (runpy adds some 5 ms of imports)."""
    script = Path(sys.executable).parent / "pyqemu-riscv64"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pyqemu.cli.riscv64_user"]


def run_pyqemu(pyqemu: list[str], binary: Path, args: list[str],
               cache: str) -> tuple[float, bytes, dict]:
    """One timed run with its own translation-cache directory; (seconds, stdout, stats)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as sf:
        env = dict(ENV, PYQEMU_STATS=sf.name, XDG_CACHE_HOME=cache)
        dt, out = timed([*pyqemu, str(binary), *args], env)
        try:
            stats = json.loads(Path(sf.name).read_text() or "{}")
        except ValueError:
            stats = {}
    return dt, out, stats


def check(name: str, ref_out: bytes, out: bytes) -> None:
    if out != ref_out:
        print(f"{name}: OUTPUT MISMATCH\n qemu:   {ref_out!r}\n pyqemu: {out!r}")


if __name__ == "__main__":
    main()
