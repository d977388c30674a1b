"""Building the migration tests' bare-metal guests (cached by source hash)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUESTS = Path(__file__).resolve().parent / "guests"
COMMON = ROOT / "tests" / "system" / "guests"      # common.inc: putc/puthex/exit
CACHE = ROOT / ".cache" / "guests" / "migration"


def build_guest(name: str, directory: Path = GUESTS) -> Path:
    """Assemble a bare-metal riscv64 guest at 0x80000000 (cached by source hash)."""
    src = (directory / f"{name}.S").read_bytes() + (COMMON / "common.inc").read_bytes()
    out = CACHE / f"{name}-{hashlib.sha256(src).hexdigest()[:12]}.bin"
    if not out.exists():
        if shutil.which("riscv64-linux-gnu-gcc") is None:
            pytest.skip("riscv64-linux-gnu-gcc is not installed")
        CACHE.mkdir(parents=True, exist_ok=True)
        elf = out.with_suffix(".elf")
        subprocess.run(["riscv64-linux-gnu-gcc", "-nostdlib", "-static", "-no-pie",
                        "-march=rv64gc", "-mabi=lp64d", "-Wl,-Ttext=0x80000000",
                        "-Wl,--build-id=none", f"-I{COMMON}", "-o", str(elf),
                        str(directory / f"{name}.S")], check=True)
        subprocess.run(["riscv64-linux-gnu-objcopy", "-O", "binary", str(elf), str(out)],
                       check=True)
    return out


KVM_GUESTS = ROOT / "tests" / "kvm" / "guests"   # lib.inc, guest.ld: the x86 BIOS images


def build_x86_guest(name: str) -> Path:
    """Assemble a 64 KiB x86 -bios image the way tests/kvm does (cached by hash)."""
    srcs = [GUESTS / f"{name}.S", KVM_GUESTS / "lib.inc", KVM_GUESTS / "guest.ld"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in srcs)).hexdigest()[:12]
    out = CACHE / f"{name}-{digest}.bin"
    if not out.exists():
        for tool in ("as", "ld"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is not installed")
        CACHE.mkdir(parents=True, exist_ok=True)
        obj = out.with_suffix(".o")
        subprocess.run(["as", "--64", "-I", str(KVM_GUESTS), "-o", str(obj), str(srcs[0])],
                       check=True)
        subprocess.run(["ld", "-m", "elf_x86_64", "-T", str(srcs[2]), "-o", str(out),
                        str(obj)], check=True)
    return out
