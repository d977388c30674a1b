"""Monitors on chardevs: QMP on ``-chardev socket`` + ``-mon chardev=ID,mode=control``
(one client at a time; a new client is greeted and negotiates again), and HMP on a
``-monitor unix:...`` socket."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from monitor.qmp_machine import PYQEMU
from monitor.test_qmp_bad_input import RawQmp


def wait_path(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)


def read_until(s: socket.socket, marker: bytes, timeout: float = 10) -> bytes:
    s.settimeout(timeout)
    buf = b""
    while marker not in buf:
        data = s.recv(4096)
        assert data, buf
        buf += data
    return buf


def test_mon_control_and_hmp_socket(tmp_path: Path) -> None:
    qmp_path, hmp_path = tmp_path / "qmp.sock", tmp_path / "hmp.sock"
    proc = subprocess.Popen([PYQEMU, "-M", "virt", "-bios", "default", "-nographic",
                             "-serial", "null",
                             "-chardev", f"socket,id=mon0,path={qmp_path},server=on,wait=off",
                             "-mon", "chardev=mon0,mode=control",
                             "-monitor", f"unix:{hmp_path},server=on,wait=off"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_path(qmp_path, proc)
        wait_path(hmp_path, proc)
        for _ in range(2):                     # a second client starts from the greeting
            c = RawQmp(str(qmp_path))
            c.negotiate()
            assert c.execute("query-status")["return"]["status"] == "running"
            c.close()
            time.sleep(0.2)
        h = socket.socket(socket.AF_UNIX)
        h.connect(str(hmp_path))
        banner = read_until(h, b"(qemu) ")
        assert banner.startswith(b"QEMU 7.2.0 monitor")
        h.sendall(b"stop\r\ninfo status\r\n")
        out = read_until(h, b"VM status: paused")
        assert b"stop\r\n" in out
        h.sendall(b"cont\r\nquit\r\n")
        assert proc.wait(20) == 0
        h.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_qmp_on_stdio() -> None:
    """-qmp stdio (no -nographic): the monitor owns stdio, the serial port goes to an
    invisible console as with QEMU, and the output is pure QMP."""
    r = subprocess.run([PYQEMU, "-M", "virt", "-bios", "default", "-qmp", "stdio"],
                       input=b'{"execute": "qmp_capabilities"}\n{"execute": "stop"}\n'
                             b'{"execute": "query-status"}\n{"execute": "quit"}\n',
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    msgs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert "QMP" in msgs[0]
    assert [m.get("event") for m in msgs if "event" in m] == ["STOP", "SHUTDOWN"]
    replies = [m for m in msgs[1:] if "event" not in m]
    assert replies[2]["return"]["status"] == "paused"
