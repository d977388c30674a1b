"""Bare-metal guests on the virt board, side by side with qemu-system-riscv64: the same
console output and exit status. They exercise the privileged architecture directly:
M-mode traps (illegal, ecall, ebreak, access faults, a jump to unmapped memory), PMP,
Sv39 translation with A/D updates and delegated page faults, S-mode, an ecall from S,
a CLINT timer interrupt taken after wfi, and the test device's exit codes."""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUESTS = Path(__file__).resolve().parent / "guests"
CACHE = ROOT / ".cache" / "guests" / "system"
PYQEMU = [str(ROOT / ".venv" / "bin" / "pyqemu-system-riscv64")]
QEMU = shutil.which("qemu-system-riscv64")


def build(name: str) -> Path:
    src = (GUESTS / f"{name}.S").read_bytes() + (GUESTS / "common.inc").read_bytes()
    out = CACHE / f"{name}-{hashlib.sha256(src).hexdigest()[:12]}.bin"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        elf = out.with_suffix(".elf")
        subprocess.run(["riscv64-linux-gnu-gcc", "-nostdlib", "-static", "-no-pie",
                        "-march=rv64gc", "-mabi=lp64d", "-Wl,-Ttext=0x80000000",
                        "-Wl,--build-id=none", f"-I{GUESTS}", "-o", str(elf),
                        str(GUESTS / f"{name}.S")], check=True)
        subprocess.run(["riscv64-linux-gnu-objcopy", "-O", "binary", str(elf), str(out)],
                       check=True)
    return out


def run(cmd: list[str], image: Path) -> tuple[int, str]:
    r = subprocess.run(cmd + ["-M", "virt", "-nographic", "-bios", str(image)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout


BACKENDS = ["native", "python"] if platform.machine() == "x86_64" else ["python"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, status", [("traps", 7), ("sv39", 0), ("asid", 0), ("smc", 0),
                                          ("pages", 0), ("tlbfill", 0),
                                          ("sysinsn", 0), ("ptw", 0), ("fs", 0),
                                          ("smc_hot", 0)])
def test_baremetal_matches_qemu(name: str, status: int, backend: str) -> None:
    if QEMU is None:
        pytest.skip("qemu-system-riscv64 is not installed")
    image = build(name)
    want = run([QEMU], image)
    # tb-cache=off: every run is a first run (translations kept from an earlier run
    # would hide what the interpreter tier and a first translation do).
    got = run(PYQEMU + ["-accel", f"tcg,backend={backend},tb-cache=off"], image)
    assert want[0] == status
    assert got == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_code_written_by_a_device(tmp_path: Path, backend: str) -> None:
    """A disk read (DMA) over a page of translated code, then fence.i: the new code runs."""
    if QEMU is None:
        pytest.skip("qemu-system-riscv64 is not installed")
    disk = tmp_path / "disk.raw"
    disk.write_bytes((0x04200513).to_bytes(4, "little") + (0x00008067).to_bytes(4, "little")
                     + bytes(4096 - 8))
    blk = ["-drive", f"file={disk},format=raw,if=none,id=hd0",
           "-device", "virtio-blk-device,drive=hd0"]
    image = build("dma_code")
    # QEMU's virtio-mmio is legacy (version 1) unless told otherwise; pyqemu's is 2.
    want = run([QEMU, "-global", "virtio-mmio.force-legacy=false", *blk], image)
    got = run(PYQEMU + ["-accel", f"tcg,backend={backend}", *blk], image)
    assert want == (0, "0000000000000001\n0000000000000000\n0000000000000042\n")
    assert got == want
