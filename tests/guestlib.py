"""Shared helpers: cross-compiled riscv64 guest programs, cached by source hash.

Guests are built with Debian's riscv64-linux-gnu-gcc/g++ into .cache/guests/ (static
and dynamic); a rebuild happens only when the source or the flags change.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "guests"
SYSROOT = "/usr/riscv64-linux-gnu"
PYQEMU = [sys.executable, "-m", "pyqemu.cli.riscv64_user"]
# The same small, fixed environment on both sides: glibc's start-up work depends on it.
GUEST_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C"}


def build_guest(src: Path, kind: str = "static", extra: tuple[str, ...] = ()) -> Path:
    """Compile src for riscv64 ('static' or 'dynamic'); returns the cached binary."""
    cxx = src.suffix in (".cc", ".cpp")
    cc = "riscv64-linux-gnu-g++" if cxx else "riscv64-linux-gnu-gcc"
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is missing: run scripts/setup.sh")
    flags = ["-O2", "-ffp-contract=off", "-Wall", "-pthread"]
    if kind == "static":
        flags.append("-static")
    if src.suffix == ".S":
        flags = ["-nostdlib", "-static", "-march=rv64gc_zba_zbb_zbs"]
    flags += list(extra)
    h = hashlib.sha256(src.read_bytes() + " ".join([cc] + flags).encode()).hexdigest()[:16]
    out = CACHE / f"{src.stem}-{kind}-{h}"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        libs = [] if src.suffix == ".S" else ["-lm"]
        subprocess.run([cc, *flags, "-o", str(tmp), str(src), *libs], check=True)
        tmp.rename(out)
    return out


def run_emulator(cmd: list[str], cwd: Path, timeout: float = 600,
                 stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=GUEST_ENV, capture_output=True, timeout=timeout,
                          input=stdin)


def run_both(binary: Path, args: list[str], cwd_ref: Path, cwd_ours: Path, dynamic: bool,
             timeout: float = 600, backend: str | None = None):
    """Run under qemu-riscv64 and pyqemu-riscv64 (with -accel tcg,backend=BACKEND when
    given); returns (reference, ours)."""
    prefix = ["-L", SYSROOT] if dynamic else []
    ref = run_emulator(["qemu-riscv64", *prefix, str(binary), *args], cwd_ref, timeout)
    accel = ["-accel", f"tcg,backend={backend}"] if backend else []
    ours = run_emulator([*PYQEMU, *accel, *prefix, str(binary), *args], cwd_ours, timeout)
    return ref, ours
