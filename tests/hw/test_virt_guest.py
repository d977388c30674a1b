"""The device tree pyqemu generates boots Linux on the real qemu-system-riscv64.

QEMU's own virt devices sit at the same addresses, so booting the cached guest with
``-dtb <pyqemu's tree>`` checks that the tree describes the board completely enough
for OpenSBI and Linux: console, interrupts, timer, virtio-mmio (disk is /dev/vda),
RTC and power-off.
"""

import re
import shutil
import subprocess
import sys

import pytest

QEMU = shutil.which("qemu-system-riscv64")
pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 not installed")


def test_linux_boots_on_qemu_with_our_device_tree(tmp_path, riscv64_guest):
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"pyqemu-disk-marker" + bytes(1 << 20))
    dtb = tmp_path / "virt.dtb"
    cmd = ("cat+/proc/interrupts;head+-c+18+/dev/vda;echo;cat+/sys/class/rtc/rtc0/name;"
           "cat+/sys/devices/system/cpu/possible")
    append = f"console=ttyS0 pyqemu.run={cmd}"
    common = ["-m", "256M", "-smp", "2", "-kernel", str(riscv64_guest / "Image"),
              "-initrd", str(riscv64_guest / "initramfs.cpio.gz"), "-append", append]
    r = subprocess.run([sys.executable, "-m", "pyqemu.cli.system_riscv64",
                        "-M", f"virt,dumpdtb={dtb}", *common], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([QEMU, "-M", "virt", "-nographic", "-bios", "default", "-dtb", str(dtb),
                        "-drive", f"file={disk},format=raw,if=none,id=hd0",
                        "-device", "virtio-blk-device,drive=hd0", *common],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = r.stdout
    assert r.returncode == 0, out[-3000:]
    assert "pyqemu-guest-ready" in out
    assert "pyqemu-disk-marker" in out          # /dev/vda is the first -device
    # Interrupt wiring from the tree: UART on PLIC 10, the disk on slot 8's PLIC 8.
    assert re.search(r"PLIC\s+10\s+\w+\s+ttyS0", out), out[-3000:]
    assert re.search(r"PLIC\s+8\s+\w+\s+virtio0", out), out[-3000:]
    assert "goldfish_rtc 101000.rtc" in out
    # Both harts are in the tree ("possible" CPUs come from it; whether the second one
    # comes online in time depends on how loaded the machine running QEMU is).
    assert "\n0-1\r" in out or "\n0-1\n" in out
    assert "reboot: Power down" in out
