"""Hostile QMP clients on raw sockets: garbage, non-objects, oversized messages,
disconnects mid-message, many clients at once.  Each gets the error the QMP spec
defines (GenericError / CommandNotFound with a desc), the machine keeps running, and
no file descriptor is left behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from monitor.qmp_machine import PYQEMU


class RawQmp:
    def __init__(self, addr: str | tuple[str, int]) -> None:
        family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.s = socket.socket(family, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(addr)
        self.buf = b""

    def recv(self) -> dict:
        while b"\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("server closed the connection")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def reply(self) -> dict:
        """The next non-event message."""
        while True:
            msg = self.recv()
            if "event" not in msg:
                return msg

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def execute(self, name: str, **kw: object) -> dict:
        self.send(json.dumps({"execute": name, **kw}).encode())
        return self.reply()

    def negotiate(self) -> None:
        assert "QMP" in self.recv()
        assert self.execute("qmp_capabilities") == {"return": {}}

    def close(self) -> None:
        self.s.close()


@pytest.fixture
def machine(tmp_path: Path):
    sock = tmp_path / "qmp.sock"
    proc = subprocess.Popen([PYQEMU, "-M", "virt", "-bios", "default", "-nographic",
                             "-serial", "null", "-qmp", f"unix:{sock},server=on,wait=off",
                             "-qmp", "tcp:127.0.0.1:0,server=on,wait=off"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    yield proc, str(sock)
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def err(msg: dict) -> tuple[str, str]:
    return msg["error"]["class"], msg["error"]["desc"]


def test_protocol_errors(machine) -> None:
    proc, sock = machine
    c = RawQmp(sock)
    greeting = c.recv()
    assert set(greeting["QMP"]) == {"version", "capabilities"}
    assert err(c.execute("query-status")) == (
        "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'")
    assert c.execute("qmp_capabilities", id="neg") == {"return": {}, "id": "neg"}
    assert err(c.execute("qmp_capabilities"))[0] == "CommandNotFound"
    c.send(b"garbage\n")
    assert err(c.reply()) == ("GenericError", "JSON parse error, invalid keyword 'garbage'")
    c.send(b"[1, 2]")
    assert err(c.reply()) == ("GenericError", "QMP input must be a JSON object")
    c.send(b'"text"')
    assert err(c.reply()) == ("GenericError", "QMP input must be a JSON object")
    c.send(b'{"foo": 1}')
    assert err(c.reply()) == ("GenericError", "QMP input member 'foo' is unexpected")
    c.send(b'{"arguments": {}}')
    assert err(c.reply()) == ("GenericError", "QMP input lacks member 'execute'")
    c.send(b'{"execute": 42}')
    assert err(c.reply())[0] == "GenericError"
    assert err(c.execute("no-such")) == ("CommandNotFound", "The command no-such has not been found")
    assert err(c.execute("query-status", arguments={"x": 1})) == (
        "GenericError", "Parameter 'x' is unexpected")
    assert err(c.execute("human-monitor-command", arguments={"command-line": 5})) == (
        "GenericError", "Invalid parameter type for 'command-line', expected: string")
    assert err(c.execute("human-monitor-command")) == (
        "GenericError", "Parameter 'command-line' is missing")
    # No bus here supports hotplug: device_add/device_del answer with an error.
    assert err(c.execute("device_add", arguments={"driver": "nope"})) == (
        "GenericError", "'nope' is not a valid device model name")
    assert "hotplug" in err(c.execute("device_add", arguments={
        "driver": "virtio-rng-device", "id": "r0"}))[1]
    assert err(c.execute("device_del", arguments={"id": "r0"}))[0] == "DeviceNotFound"
    # Several messages in one write, split across writes, ids of any JSON type.
    c.send(b'{"execute": "query-name", "id": [1]}{"execute": "query-st')
    assert c.reply() == {"return": {}, "id": [1]}
    c.send(b'atus", "id": {"a": "}"}}')
    r = c.reply()
    assert r["id"] == {"a": "}"} and r["return"]["running"] is True
    c.close()


def test_oversized_and_deep_messages(machine) -> None:
    proc, sock = machine
    c = RawQmp(sock)
    c.negotiate()
    c.send(b'{"execute": "query-status", "arguments": {"x": "' + b"A" * (2 << 20) + b'"}}\n')
    cls, desc = err(c.reply())
    assert cls == "GenericError" and desc.startswith("JSON parse error")
    c.send(b"[" * 5000 + b"\n")
    assert err(c.reply())[1].startswith("JSON parse error")
    # The same connection is usable after both.
    assert c.execute("query-status")["return"]["status"] == "running"
    c.close()


def test_disconnects_and_many_clients(machine) -> None:
    proc, sock = machine
    first = RawQmp(sock)
    first.negotiate()
    time.sleep(0.3)  # the previous test's connections finish closing on the server side
    before = open_fds(proc.pid)
    for i in range(20):
        c = RawQmp(sock)
        if i % 3 == 0:
            c.send(b'{"execute": "qmp_capabilities"}{"execute": "query-sta')   # mid-message
        elif i % 3 == 1:
            c.recv()
            c.s.shutdown(socket.SHUT_WR)
        c.close()
    clients = [RawQmp(sock) for _ in range(8)]
    for c in clients:
        c.negotiate()
    assert first.execute("stop") == {"return": {}}
    for c in clients:          # every negotiated client gets the event
        assert c.recv()["event"] == "STOP"
        assert c.execute("query-status")["return"]["status"] == "paused"
    assert first.execute("cont") == {"return": {}}
    for c in clients:
        c.close()
    time.sleep(0.3)
    assert open_fds(proc.pid) <= before          # nothing leaked
    assert first.execute("query-status")["return"]["running"] is True
    assert proc.poll() is None
    assert first.execute("quit") == {"return": {}}
    assert proc.wait(20) == 0


def test_tcp_qmp(machine) -> None:
    proc, sock = machine
    c = RawQmp(sock)
    c.negotiate()
    chardevs = c.execute("query-chardev")["return"]
    tcp = next(ch["filename"] for ch in chardevs if ch["filename"].startswith("tcp:"))
    port = int(tcp.split(":")[2].split(",")[0])
    t = RawQmp(("127.0.0.1", port))
    t.negotiate()
    assert t.execute("query-status", id=7)["id"] == 7
    t.close()
    c.close()


def test_bad_qmp_option() -> None:
    r = subprocess.run([PYQEMU, "-M", "virt", "-qmp", "bogus:thing"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.startswith("pyqemu-system-riscv64: -qmp bogus:thing: ")
    assert len(r.stderr.strip().splitlines()) == 1
