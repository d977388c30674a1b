"""Helpers for the KVM tests: guests assembled with GNU as, run under both VMMs.

Each guest under tests/kvm/guests/*.S is a 64 KiB raw BIOS image built with the host's
binutils (``as --64`` + ``ld -T guest.ld``) and cached in .cache/kvm-guests by the hash
of its sources.  ``run_both`` runs the same command line under
``qemu-system-x86_64 -accel kvm`` and ``pyqemu-system-x86_64 -accel kvm``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUESTS = Path(__file__).resolve().parent / "guests"
CACHE = ROOT / ".cache" / "kvm-guests"
QEMU = "qemu-system-x86_64"
PYQEMU = [sys.executable, "-m", "pyqemu.cli.system_x86_64"]
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def kvm_usable() -> str | None:
    """None if /dev/kvm can run guests here, else the reason to skip."""
    if not os.path.exists("/dev/kvm"):
        return "no /dev/kvm on this host"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible to this user"
    return None


def require_tools() -> None:
    for tool in ("as", "ld", QEMU):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run scripts/setup.sh (binutils, qemu-system-x86)")


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def build_guest(name: str, script: str = "guest.ld", suffix: str = ".bin") -> Path:
    """Assemble and link tests/kvm/guests/<name>.S into a flat image (cached): a BIOS
    image with guest.ld, a bzImage with kernel.ld."""
    src = GUESTS / f"{name}.S"
    # Guests include each other (virtio_bad_ring.S is virtio_blk.S plus a symbol):
    # the cache key covers every source file.
    deps = [src, *sorted(GUESTS.glob("*.inc")), *sorted(GUESTS.glob("*.S")), GUESTS / script]
    out = CACHE / f"{name}-{_digest(*deps)}{suffix}"
    if out.exists():
        return out
    require_tools()
    CACHE.mkdir(parents=True, exist_ok=True)
    obj = out.with_suffix(".o")
    subprocess.run(["as", "--64", "-I", str(GUESTS), "-o", str(obj), str(src)], check=True)
    tmp = out.with_suffix(".tmp")
    subprocess.run(["ld", "-m", "elf_x86_64", "-T", str(GUESTS / script), "-o", str(tmp),
                    str(obj)], check=True)
    obj.unlink()
    tmp.rename(out)
    return out


def run_vmm(cmd: list[str], timeout: float = 120, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(cmd, input=b"", capture_output=True, timeout=timeout, cwd=ROOT,
                          env=full_env)


def qemu_cmd(args: list[str]) -> list[str]:
    return [QEMU, "-accel", "kvm", "-M", "pc", "-nographic", *args]


def pyqemu_cmd(args: list[str]) -> list[str]:
    return [*PYQEMU, "-accel", "kvm", "-M", "pc", "-nographic", *args]


def run_both(args: list[str], timeout: float = 120
             ) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    ref = run_vmm(qemu_cmd(args), timeout)
    ours = run_vmm(pyqemu_cmd(args), timeout)
    return ref, ours


def assert_same(ref: subprocess.CompletedProcess, ours: subprocess.CompletedProcess) -> None:
    assert ours.stdout.decode(errors="replace") == ref.stdout.decode(errors="replace"), \
        f"stderr of pyqemu:\n{ours.stderr.decode(errors='replace')}"
    assert ours.returncode == ref.returncode, ours.stderr.decode(errors="replace")
