"""The FPU oracle: fpu_oracle.c cross-compiled and run under the real qemu-riscv64.

``build_oracle()`` compiles the program once into .cache/fpu-oracle/ (rebuilt when
the source changes); ``run_cases()`` pushes a whole batch of cases through one
qemu-riscv64 process and returns its (result, flags) pairs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "fpu_oracle.c"
REPO = HERE.parents[2]
CACHE = REPO / ".cache" / "fpu-oracle"
CC = "riscv64-linux-gnu-gcc"
QEMU = "qemu-riscv64"

Case = tuple[str, int, int, int, int]  # op, rm, a, b, c


def missing_tools() -> str | None:
    for tool in (CC, QEMU):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs it)"
    return None


def build_oracle() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    exe = CACHE / f"fpu_oracle-{digest}"
    if not exe.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = exe.with_suffix(".tmp")
        subprocess.run([CC, "-O2", "-static", "-o", str(tmp), str(SOURCE)], check=True)
        tmp.replace(exe)  # atomic: a concurrent run never sees a half-written binary
    return exe


def run_cases(exe: Path, cases: list[Case]) -> list[tuple[int, int]]:
    text = "".join(f"{op} {rm} {a:x} {b:x} {c:x}\n" for op, rm, a, b, c in cases)
    proc = subprocess.run([QEMU, str(exe)], input=text, capture_output=True, text=True,
                          check=True, timeout=600)
    out = []
    for line in proc.stdout.splitlines():
        r, f = line.split()
        out.append((int(r, 16), int(f, 16)))
    if len(out) != len(cases):
        raise RuntimeError(f"oracle answered {len(out)} of {len(cases)} cases: {proc.stderr[-500:]}")
    return out
