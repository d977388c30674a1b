"""A pyqemu-system-riscv64 (or qemu-system-riscv64) process driven over QMP in tests.

The guest's serial output goes to a file, so tests can wait for text and compare
positions in it; QMP is qemu.qmp's synchronous client (QEMUMonitorProtocol), the
same library QEMU's own tests use.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from qemu.qmp.legacy import QEMUMonitorProtocol

ROOT = Path(__file__).resolve().parents[2]
PYQEMU = str(ROOT / ".venv" / "bin" / "pyqemu-system-riscv64")


class QmpMachine:
    def __init__(self, tmp: Path, args: list[str], binary: str = PYQEMU,
                 name: str = "vm", machine: str = "virt") -> None:
        self.sock = tmp / f"{name}.qmp"
        self.serial = tmp / f"{name}.serial"
        self.stderr_path = tmp / f"{name}.stderr"
        self.serial.write_bytes(b"")
        self.stderr_file = open(self.stderr_path, "wb")
        cmd = [binary, "-M", machine, "-display", "none", "-serial", f"file:{self.serial}",
               "-qmp", f"unix:{self.sock},server=on,wait=off", *args]
        if binary == PYQEMU:
            cmd.remove("-display")
            cmd.remove("none")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr_file)
        deadline = time.monotonic() + 20
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no QMP socket: {self.stderr()}")
            time.sleep(0.02)
        self.qmp = QEMUMonitorProtocol(str(self.sock))
        self.qmp.connect(negotiate=True)

    def stderr(self) -> str:
        self.stderr_file.flush()
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return self.serial.read_bytes().decode(errors="replace")

    def wait_output(self, text: str, start: int = 0, timeout: float = 20) -> int:
        """Wait until text appears at or after offset start; returns where it ends."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.output()
            i = out.find(text, start)
            if i >= 0:
                return i + len(text)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen after {start}; output tail "
                                     f"{out[-300:]!r}; stderr {self.stderr()!r}")
            time.sleep(0.02)

    def cmd(self, _command: str, **args: object) -> dict:
        return self.qmp.cmd_obj({"execute": _command, **({"arguments": args} if args else {})})

    def hmp(self, line: str) -> str:
        r = self.cmd("human-monitor-command", **{"command-line": line})
        assert "return" in r, r
        return r["return"]

    def quit(self, timeout: float = 20) -> int:
        try:
            self.cmd("quit")
        except (OSError, EOFError):
            pass
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        try:
            self.qmp.close()
        except (OSError, EOFError):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr_file.close()
        if self.sock.exists():
            os.unlink(self.sock)


def snapshot_list(disk: Path) -> str:
    return subprocess.run(["qemu-img", "snapshot", "-l", str(disk)], capture_output=True,
                          text=True, check=True).stdout


def qemu_img_check(disk: Path) -> None:
    r = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No errors were found on the image." in r.stdout
