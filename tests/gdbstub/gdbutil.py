"""Helpers for driving the real gdb-multiarch against pyqemu (and qemu) gdbstubs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUESTS = Path(__file__).resolve().parent / "guests"
GDB = shutil.which("gdb-multiarch")
PYQEMU_USER = [sys.executable, "-m", "pyqemu.cli.riscv64_user"]


def need_gdb() -> str:
    if GDB is None:
        pytest.fail("gdb-multiarch is missing: run scripts/setup.sh")
    return GDB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Until something listens on port (the emulator is up) or the process died."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited early with {proc.returncode}")
        if _listening(port):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def _listening(port: int) -> bool:
    """Is a socket listening on port? (/proc, so that we do not use up the stub's one
    connection by probing it.)"""
    hexport = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    parts = line.split()
                    if parts[1].endswith(hexport) and parts[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def run_gdb(commands: list[str], port: int, binary: Path | None = None,
            arch: str = "riscv:rv64", timeout: float = 120) -> str:
    """gdb-multiarch in batch mode: connect, run commands, return what it printed."""
    args = [need_gdb(), "-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off",
            "-ex", f"set architecture {arch}"]
    if binary is not None:
        args += ["-ex", f"file {binary}"]
    args += ["-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", c]
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.stdout + r.stderr


def start_user(binary: Path, port: int, args: tuple[str, ...] = (), qemu: bool = False,
               env: dict | None = None, prefix: bool = False,
               stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
    """The emulator waiting for gdb on port; with prefix, args go before the program
    (emulator options) instead of after it."""
    cmd = ["qemu-riscv64"] if qemu else list(PYQEMU_USER)
    if env is None:
        cmd += ["-g", str(port)]
    argv = [*args, str(binary)] if prefix else [str(binary), *args]
    proc = subprocess.Popen(cmd + argv, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=stdin,
                            env={"PATH": "/usr/bin:/bin", "LANG": "C", **(env or {})})
    STARTED.append(proc)
    wait_port(port, proc)
    return proc


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out.decode(errors="replace")



# Emulators the running test started: an autouse fixture (conftest.py) kills what is
# still running at teardown, so a failed test never leaves a guest spinning.
STARTED: list[subprocess.Popen] = []


def kill_started() -> None:
    while STARTED:
        p = STARTED.pop()
        if p.poll() is None:
            p.kill()
            p.communicate()


class RawGdb:
    """A hand-driven protocol client, for what gdb itself never sends."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, payload: str | bytes) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        self.sock.sendall(b"$" + data + b"#%02x" % (sum(data) & 0xFF))

    def read_byte(self) -> bytes:
        while not self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("stub closed the connection")
            self.buf += chunk
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def packet(self) -> str:
        """The next packet's data (acknowledging it), skipping acks before it."""
        while self.read_byte() != b"$":
            pass
        data = b""
        while (b := self.read_byte()) != b"#":
            data += b
        cs = self.read_byte() + self.read_byte()
        assert int(cs, 16) == sum(data) & 0xFF
        self.sock.sendall(b"+")
        return data.decode()

    def ask(self, payload: str | bytes) -> str:
        self.send(payload)
        return self.packet()

    def close(self) -> None:
        self.sock.close()
