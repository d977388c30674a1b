"""``pyqemu-system-x86_64``: the x86-64 PC under KVM, with QEMU's command-line syntax.

    pyqemu-system-x86_64 -accel kvm -M pc -m 512M -smp 2 -nographic \\
        -kernel vmlinuz -initrd initrd.gz -append "console=ttyS0" \\
        -drive file=disk.qcow2,if=virtio -device virtio-rng-pci -serial mon:stdio
    pyqemu-system-x86_64 -accel kvm -M pc -bios fw.bin -device isa-debug-exit -nographic

Parsing is the shared ``pyqemu.cli.system``; errors the user can cause print one line,
``pyqemu-system-x86_64: ...``, and exit 1.
"""

from __future__ import annotations

import os
import sys

from pyqemu.cli.system import run_system
from pyqemu.hw.i386.pc import PcMachine

PROG = "pyqemu-system-x86_64"
BOARDS = {"pc": PcMachine, "pc-i440fx": PcMachine}
# Under KVM the guest sees the host's CPUID (what KVM_GET_SUPPORTED_CPUID offers):
# these -cpu models are accepted and mean just that.
CPU_MODELS = {"host", "max", "qemu64", "kvm64", "base"}


def _filter_cpu(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.lstrip("-") == "cpu" and a.startswith("-") and i + 1 < len(argv):
            model = argv[i + 1].split(",")[0]
            if model not in CPU_MODELS:
                sys.stderr.write(f"{PROG}: -cpu {argv[i + 1]}: unable to find CPU model "
                                 f"'{model}' (use host)\n")
                raise SystemExit(1)
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    args = _filter_cpu(sys.argv[1:] if argv is None else argv)
    if not any(a.lstrip("-") in ("accel", "enable-kvm") for a in args) and \
            not any("accel=" in a for a in args):
        args = ["-accel", "kvm", *args]      # KVM is the only accelerator for x86-64 here
    return run_system(PROG, args, BOARDS, "pc", "x86_64")


def entry() -> None:
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # vCPU threads may still sit in KVM_RUN: leave without waiting for them.
    os._exit(status)


if __name__ == "__main__":
    entry()
