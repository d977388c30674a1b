"""Fixtures for savevm/loadvm tests: the counter guest, qcow2 images, a pyqemu under QMP."""

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


def build_guest(name: str) -> Path:
    """Assemble a bare-metal riscv64 guest at 0x80000000 (cached by source hash)."""
    src = (GUESTS / f"{name}.S").read_bytes() + (COMMON / "common.inc").read_bytes()
    out = CACHE / f"{name}-{hashlib.sha256(src).hexdigest()[:12]}.bin"
    if not out.exists():
        if shutil.which("riscv64-linux-gnu-gcc") is None:
            pytest.skip("riscv64-linux-gnu-gcc is not installed")
        CACHE.mkdir(parents=True, exist_ok=True)
        elf = out.with_suffix(".elf")
        subprocess.run(["riscv64-linux-gnu-gcc", "-nostdlib", "-static", "-no-pie",
                        "-march=rv64gc", "-mabi=lp64d", "-Wl,-Ttext=0x80000000",
                        "-Wl,--build-id=none", f"-I{COMMON}", "-o", str(elf),
                        str(GUESTS / f"{name}.S")], check=True)
        subprocess.run(["riscv64-linux-gnu-objcopy", "-O", "binary", str(elf), str(out)],
                       check=True)
    return out


@pytest.fixture(scope="session")
def counter_guest() -> Path:
    return build_guest("counter")


@pytest.fixture
def qcow2_disk(tmp_path: Path) -> Path:
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "8M"], check=True)
    return disk
