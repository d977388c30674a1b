"""``pyqemu-system-riscv64``: whole-machine RISC-V emulation with QEMU's command line.

    pyqemu-system-riscv64 -M virt -m 256M -nographic -bios default -kernel u-boot.bin
    pyqemu-system-riscv64 -M virt -smp 2 -kernel Image -initrd initramfs.cpio.gz \\
        -append console=ttyS0 -drive file=disk.qcow2,if=none,id=hd0 \\
        -device virtio-blk-device,drive=hd0
    pyqemu-system-riscv64 -M virt,dumpdtb=virt.dtb
"""

from __future__ import annotations

import os
import sys

from pyqemu.cli.system import run_system
from pyqemu.hw.riscv.virt import RiscvVirt

PROG = "pyqemu-system-riscv64"
BOARDS = {"virt": RiscvVirt}


def main(argv: list[str] | None = None) -> int:
    return run_system(PROG, sys.argv[1:] if argv is None else argv, BOARDS, "virt", "riscv64")


def entry() -> None:
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # vCPU threads may still be inside guest code: leave without waiting for them.
    os._exit(status)


if __name__ == "__main__":
    entry()
