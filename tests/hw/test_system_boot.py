"""End to end on pyqemu-system-riscv64 -M virt: OpenSBI, U-Boot, Linux to a shell.

The console is driven through pipes exactly as a user's terminal would: output is read
from stdout, commands are typed on stdin, Ctrl-A x quits.  These boot real firmware on
the TCG vCPUs, so they take minutes.
"""

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyqemu.accel.tcg.system") is None,
                                reason="no TCG accelerator for RISC-V system emulation")
UBOOT = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"
QEMU = shutil.which("qemu-system-riscv64")


class Console:
    """A running emulator with its serial console on pipes."""

    def __init__(self, argv, prog=None):
        cmd = prog or [sys.executable, "-m", "pyqemu.cli.system_riscv64"]
        self.p = subprocess.Popen(cmd + argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.out = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            data = os.read(self.p.stdout.fileno(), 4096)
            if not data:
                return
            with self.lock:
                self.out += data

    def text(self):
        with self.lock:
            return self.out.decode(errors="replace")

    def expect(self, needle, timeout, start=0):
        """Wait until needle appears at or after offset start; returns its end offset."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = self.text()
            i = t.find(needle, start)
            if i >= 0:
                return i + len(needle)
            if self.p.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"{needle!r} not seen in {timeout}s; output tail:\n{self.text()[-3000:]}")

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"did not exit in {timeout}s; tail:\n{self.text()[-3000:]}") from None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


BANNER_FIELDS = ("Platform Name", "Platform HART Count", "Platform IPI Device",
                 "Platform Timer Device", "Platform Console Device", "Platform Reboot Device",
                 "Platform Shutdown Device", "Firmware Base", "Domain0 Next Address",
                 "Domain0 Next Arg1", "Domain0 Next Mode", "Boot HART PMP Count")


def banner(text):
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in BANNER_FIELDS:
            fields[key.strip()] = value.strip()
    return fields


BACKENDS = ["native", "python"] if platform.machine() == "x86_64" else ["python"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_opensbi_banner_matches_qemu_and_ctrl_a_x_quits(backend):
    args = ["-M", "virt", "-m", "256M", "-smp", "2", "-nographic", "-bios", "default",
            "-kernel", UBOOT]
    c = Console(args + ["-accel", f"tcg,backend={backend}"])
    c.expect("Boot HART MEDELEG", 300)
    c.send(b"\x01x")
    assert c.wait(60) == 0
    ours = banner(c.text())
    assert "QEMU: Terminated" in c.text()
    if QEMU is not None:
        q = Console(args, prog=[QEMU])
        q.expect("Boot HART MEDELEG", 60)
        q.send(b"\x01x")
        q.wait(30)
        assert ours == banner(q.text())
    assert ours["Platform Name"] == "riscv-virtio,qemu" and ours["Platform HART Count"] == "2"


@pytest.mark.parametrize("backend", BACKENDS)
def test_uboot_prompt(backend):
    c = Console(["-M", "virt", "-m", "256M", "-nographic", "-bios", "default", "-kernel", UBOOT,
                 "-accel", f"tcg,backend={backend}"])
    c.expect("Hit any key to stop autoboot", 600)
    c.send(b" ")
    at = c.expect("=> ", 120)
    c.send(b"echo pyqemu-$((40+2))\n")
    c.expect("pyqemu-", 120, at)
    c.send(b"\x01x")
    assert c.wait(60) == 0


def linux_args(guest, *extra):
    return ["-M", "virt", "-m", "256M", "-nographic", "-bios", "default",
            "-kernel", str(guest / "Image"), "-initrd", str(guest / "initramfs.cpio.gz"),
            "-append", "console=ttyS0", *extra]


def test_linux_shell_commands_and_poweroff(riscv64_guest):
    c = Console(linux_args(riscv64_guest, "-smp", "2"))
    at = c.expect("pyqemu-guest-ready", 900)
    time.sleep(1)
    c.send(b"echo answer=$((6*7)); grep -c processor /proc/cpuinfo\n")
    at = c.expect("answer=42", 300, at)
    c.expect("2", 120, at)
    c.send(b"poweroff -f\n")
    assert c.wait(300) == 0
    assert "reboot: Power down" in c.text()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
def test_virtio_disk_write_survives_reboot(riscv64_guest, tmp_path):
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    c = Console(linux_args(riscv64_guest, "-drive", f"file={disk},if=none,id=hd0",
                           "-device", "virtio-blk-device,drive=hd0"))
    at = c.expect("pyqemu-guest-ready", 900)
    time.sleep(1)
    c.send(b"echo pyqemu-persist > /dev/vda; sync; reboot -f\n")
    at = c.expect("pyqemu-guest-ready", 900, at)     # the second boot
    time.sleep(1)
    c.send(b"head -c 14 /dev/vda; echo; poweroff -f\n")
    c.expect("pyqemu-persist", 300, at)
    assert c.wait(300) == 0
    r = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -v 0 16", str(disk)],
                       capture_output=True, text=True)
    # qemu-io's hex dump: "pyqemu-persist\n" on the image itself (it shows '-' as '.').
    assert "70 79 71 65 6d 75 2d 70 65 72 73 69 73 74 0a" in r.stdout, r.stdout
    subprocess.run(["qemu-img", "check", str(disk)], check=True, capture_output=True)
