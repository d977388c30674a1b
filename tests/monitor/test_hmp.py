"""The human monitor on a terminal: ``-monitor stdio``, and Ctrl-A c on the ``-nographic``
mux, driven through pipes; x/xp output compared with qemu-system-riscv64's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from monitor.qmp_machine import PYQEMU

QEMU = shutil.which("qemu-system-riscv64")
ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")


def run_hmp(cmd: list[str], lines: list[str], settle: float = 0.3,
            first: bytes = b"(qemu) ") -> tuple[int, str]:
    """Wait for `first` in the output, then type lines one at a time; returns
    (exit status, output)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = bytearray()

    def read() -> None:
        while chunk := os.read(proc.stdout.fileno(), 4096):
            out.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while first not in out and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        for line in lines:
            proc.stdin.write(line.encode())
            proc.stdin.flush()
            time.sleep(settle)
        proc.stdin.close()
        proc.wait(timeout=30)
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, ANSI.sub(b"", bytes(out)).decode(errors="replace").replace("\r", "")


def answers(output: str) -> list[str]:
    """Monitor output without the banner, the prompts and the echoed commands."""
    return [ln for ln in output.splitlines()
            if ln and not ln.startswith(("(qemu)", "QEMU "))]


def test_monitor_stdio_run_control() -> None:
    status, out = run_hmp([PYQEMU, "-M", "virt", "-bios", "default", "-serial", "null",
                           "-monitor", "stdio"],
                          ["info status\n", "stop\n", "info status\n", "info registers\n",
                           "cont\n", "info status\n", "bogus\n", "info bogus\n",
                           "x/2i $pc\n", "xp/4x 0x1000\n", "help stop\n", "quit\n"])
    assert status == 0, out
    assert out.startswith("QEMU 7.2.0 monitor - type 'help' for more information\n(qemu) ")
    assert re.findall(r"VM status: \w+", out) == ["VM status: running", "VM status: paused",
                                                  "VM status: running"]
    assert re.search(r" pc       [0-9a-f]{16}\n", out)
    assert "unknown command: 'bogus'" in out and "unknown command: 'info bogus'" in out
    assert "0000000000001000: 0x00000297 0x02828613 0xf1402573 0x0202b583" in out
    assert "stop -- stop emulation" in out
    assert "(qemu) quit\n" in out


@pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 is not installed")
def test_memory_dump_matches_qemu() -> None:
    # The first words of the boot ROM are the same reset vector in both machines.
    lines = ["stop\n", "xp/8x 0x1000\n", "xp/3c 0x1000\n", "xp/20bx 0x1000\n",
             "xp/3o 0x1000\n", "xp/2hu 0x1000\n", "xp/3gd 0x1000\n", "x/2wd 0x1000\n",
             "xp/2c 0x1000\n", "x 0x1000\n", "xp/2i 0x1000\n", "quit\n"]
    common = ["-M", "virt", "-bios", "default", "-serial", "null", "-monitor", "stdio"]
    _, ours = run_hmp([PYQEMU, *common], lines, settle=0.15)
    _, theirs = run_hmp([QEMU, "-display", "none", *common], lines, settle=0.15)
    ours_a, theirs_a = answers(ours), answers(theirs)
    # x/i goes through each emulator's disassembler: compare addresses and encodings.
    insn = re.compile(r"^(0x[0-9a-f]{16}:  [0-9a-f]+)")
    norm = [insn.sub(r"\1", ln).split("  ")[0:2] if ln.startswith("0x") else ln
            for ln in ours_a]
    want = [insn.sub(r"\1", ln).split("  ")[0:2] if ln.startswith("0x") else ln
            for ln in theirs_a]
    assert norm == want


def test_ctrl_a_c_on_nographic() -> None:
    status, out = run_hmp([PYQEMU, "-M", "virt", "-bios", "default", "-nographic"],
                          ["\x01c", "info status\r", "stop\r", "info status\r",
                           "\x01c", "\x01c", "cont\r", "info status\r", "quit\r"],
                          first=b"OpenSBI")
    assert status == 0, out
    assert "OpenSBI" in out                      # the serial console came first
    assert "QEMU 7.2.0 monitor - type 'help' for more information" in out
    assert re.findall(r"VM status: \w+", out) == ["VM status: running", "VM status: paused",
                                                  "VM status: running"]


def test_monitor_stdio_conflicts_with_serial_stdio() -> None:
    r = subprocess.run([PYQEMU, "-M", "virt", "-serial", "stdio", "-monitor", "stdio"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert "cannot use stdio by multiple character devices" in r.stderr
