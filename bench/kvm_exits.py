#!/usr/bin/env python3
"""Cost of one port-I/O exit: pyqemu-system-x86_64 vs qemu-system-x86_64, both -accel kvm.

A guest (a raw -bios image built here with GNU as) executes N ``out`` instructions to
the 16550's scratch register, each a KVM_EXIT_IO handled in user space, then exits
through isa-debug-exit.  Each VMM runs it for two values of N; the difference of the
wall times divided by the difference of N is the time per exit, free of start-up cost.
The report is the ratio pyqemu / QEMU per exit, then the wall time of each small test
guest of tests/kvm/guests under both VMMs (start-up included).

    python bench/kvm_exits.py [--exits 20000,200000] [--repeat 3] [--no-guests]

This is a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"

GUEST = r"""
    .section .reset, "ax"
    .code16
    ljmp $0xF000, $(start - 0xF0000)
    .fill 11, 1, 0xCC
    .text
    .code16
start:
    mov $0x3FF, %dx
    mov ${count}, %ecx
1:  out %al, %dx                      /* one KVM_EXIT_IO each */
    dec %ecx
    jnz 1b
    mov $0x3F8, %dx
    mov $'.', %al
    out %al, %dx
    mov $1, %al
    out %al, $0xF4
    hlt
"""
LDS = """OUTPUT_FORMAT(binary)
SECTIONS { . = 0xF0000; .text : { *(.text) } . = 0xFFFF0; .reset : { *(.reset) }
           /DISCARD/ : { *(.note*) } }
"""


def build(count: int) -> Path:
    src = GUEST.replace("{count}", str(count))
    digest = hashlib.sha256((src + LDS).encode()).hexdigest()[:12]
    out = CACHE / f"kvm-exits-{count}-{digest}.bin"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    s, o, ld = out.with_suffix(".S"), out.with_suffix(".o"), out.with_suffix(".ld")
    s.write_text(src)
    ld.write_text(LDS)
    subprocess.run(["as", "--64", "-o", str(o), str(s)], check=True)
    subprocess.run(["ld", "-m", "elf_x86_64", "-T", str(ld), "-o", str(out), str(o)], check=True)
    return out


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, input=b"", capture_output=True, timeout=600)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 3 or proc.stdout != b".":
        raise SystemExit(f"unexpected result from {cmd[0]}: status {proc.returncode}, "
                         f"output {proc.stdout[:80]!r} {proc.stderr.decode()[-300:]}")
    return elapsed


def vmm_commands(image: Path) -> dict[str, list[str]]:
    common = ["-M", "pc", "-nographic", "-bios", str(image),
              "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    return {
        "qemu": ["qemu-system-x86_64", "-accel", "kvm", *common],
        "pyqemu": [sys.executable, "-m", "pyqemu.cli.system_x86_64", "-accel", "kvm", *common],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exits", default="20000,200000", help="two loop counts, low,high")
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs each")
    ap.add_argument("--no-guests", action="store_true", help="only the exit loop")
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("no usable /dev/kvm: nothing to measure")
        return 0
    low, high = (int(x) for x in args.exits.split(","))
    images = {n: build(n) for n in (low, high)}
    best: dict[tuple[str, int], float] = {}
    for _ in range(args.repeat):
        for n, image in images.items():
            for name, cmd in vmm_commands(image).items():
                t = run(cmd)
                best[(name, n)] = min(best.get((name, n), t), t)
    per_exit = {name: (best[(name, high)] - best[(name, low)]) / (high - low)
                for name in ("qemu", "pyqemu")}
    print(f"{'':8} {'run ' + str(low):>12} {'run ' + str(high):>12} {'per exit':>10}")
    for name in ("qemu", "pyqemu"):
        print(f"{name:8} {best[(name, low)]:11.3f}s {best[(name, high)]:11.3f}s "
              f"{per_exit[name] * 1e6:8.2f}us")
    ratio = per_exit["pyqemu"] / per_exit["qemu"] if per_exit["qemu"] > 0 else float("inf")
    print(f"pyqemu/qemu time per port-I/O exit: {ratio:.2f}x")
    if not args.no_guests:
        time_guests(args.repeat)
    return 0


def time_guests(repeat: int) -> None:
    """Wall time of the small test guests, best of repeat, both VMMs."""
    sys.path.insert(0, str(ROOT / "tests"))
    from kvm.kvmlib import DEBUG_EXIT, build_guest, pyqemu_cmd, qemu_cmd
    disk = CACHE / "bench-disk.raw"
    CACHE.mkdir(parents=True, exist_ok=True)
    guests = {"realmode": [], "longmode": [], "portio": [], "irq": [], "ioapic": [],
              "smp": ["-smp", "2"], "mmio": [],
              "virtio_blk": ["-drive", f"file={disk},if=virtio,format=raw"],
              "virtio_msix": ["-drive", f"file={disk},if=virtio,format=raw"]}
    print(f"\n{'guest':12} {'qemu':>9} {'pyqemu':>9} {'ratio':>7}")
    for name, extra in guests.items():
        disk.write_bytes(bytes(1 << 20))
        args = ["-bios", str(build_guest(name)), *DEBUG_EXIT, *extra]
        best = {}
        for _ in range(repeat):
            for who, build in (("qemu", qemu_cmd), ("pyqemu", pyqemu_cmd)):
                t0 = time.perf_counter()
                subprocess.run(build(args), input=b"", capture_output=True, timeout=300)
                t = time.perf_counter() - t0
                best[who] = min(best.get(who, t), t)
        print(f"{name:12} {best['qemu']:8.3f}s {best['pyqemu']:8.3f}s "
              f"{best['pyqemu'] / best['qemu']:6.2f}x")


if __name__ == "__main__":
    sys.exit(main())
