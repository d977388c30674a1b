"""Chardev backends over real pipes and sockets, the Ctrl-A mux, timers, run state."""

import os
import socket
import subprocess
import sys
import time

import pytest

from pyqemu.chardev import (
    CHR_EVENT_BREAK,
    CHR_EVENT_MUX_IN,
    ChardevError,
    FdChardev,
    MuxChardev,
    create_chardev,
    parse_serial_spec,
)
from pyqemu.sysemu import MainLoop, RunState, ShutdownCause, Timer, clock_ns


class Sink:
    """A frontend with a bounded receive buffer, like a UART FIFO."""

    def __init__(self, room: int = 1 << 20) -> None:
        self.room = room
        self.got = bytearray()
        self.events: list[str] = []

    def can_receive(self) -> int:
        return self.room - len(self.got)

    def receive(self, data: bytes) -> None:
        assert len(data) <= self.can_receive()
        self.got += data

    def chr_event(self, event: str) -> None:
        self.events.append(event)


def pump(ml: MainLoop, cond, timeout: float = 2.0) -> None:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        ml.run_briefly(0.01)


@pytest.fixture
def ml():
    loop = MainLoop()
    yield loop
    loop.close()


def test_fd_chardev_in_and_out(ml):
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    ch = FdChardev("c0", r_in, w_out)
    sink = Sink()
    ch.attach(sink)
    ch.open(ml)
    os.write(w_in, b"hello")
    pump(ml, lambda: sink.got == b"hello")
    assert sink.got == b"hello"
    ch.write(b"out!")
    assert os.read(r_out, 10) == b"out!"
    os.close(w_in)
    pump(ml, lambda: "closed" in sink.events)
    assert "closed" in sink.events
    ch.close()


def test_backpressure_keeps_order(ml):
    r_in, w_in = os.pipe()
    ch = FdChardev("c0", r_in, None)
    sink = Sink(room=16)
    ch.attach(sink)
    ch.open(ml)
    payload = bytes(range(256)) * 4
    os.write(w_in, payload)
    received = bytearray()
    end = time.monotonic() + 3
    while len(received) < len(payload) and time.monotonic() < end:
        ml.run_briefly(0.005)
        received += sink.got       # the "guest" drains the FIFO
        sink.got.clear()
        ch.accept_input()
    assert bytes(received) == payload
    ch.close()


def test_mux_escapes(ml):
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    quits = []
    mux = MuxChardev("mux0", FdChardev("b", r_in, w_out), on_quit=lambda: quits.append(1))
    serial, monitor = Sink(), Sink()
    mux.attach(serial)
    mux.attach(monitor)
    mux.open(ml)
    os.write(w_in, b"ab\x01\x01c\x01h")
    pump(ml, lambda: len(serial.got) >= 4)
    assert serial.got == b"ab\x01c"
    out = os.read(r_out, 4096)
    assert b"C-a x    exit emulator" in out
    os.write(w_in, b"\x01cmon")
    pump(ml, lambda: monitor.got == b"mon")
    assert monitor.got == b"mon" and CHR_EVENT_MUX_IN in monitor.events
    os.write(w_in, b"\x01c\x01bX\x01qY")   # back to serial; break; unknown escape passes
    pump(ml, lambda: serial.got.endswith(b"qY"))
    assert serial.got == b"ab\x01cXqY" and CHR_EVENT_BREAK in serial.events
    assert not quits
    os.write(w_in, b"\x01x")
    pump(ml, lambda: quits)
    assert quits == [1]
    assert b"QEMU: Terminated" in os.read(r_out, 4096)
    # Output of both frontends goes to the one backend.
    mux.write(b"from-serial")
    assert os.read(r_out, 100) == b"from-serial"
    mux.close()


def test_socket_server(ml):
    ch = create_chardev({"backend": "socket", "id": "s", "host": "127.0.0.1", "port": "0",
                         "server": "on", "wait": "off"})
    sink = Sink()
    ch.attach(sink)
    ch.open(ml)
    ch.write(b"dropped while nobody listens")
    cli = socket.create_connection(ch.address)
    cli.sendall(b"ping")
    pump(ml, lambda: sink.got == b"ping")
    assert sink.got == b"ping"
    ch.write(b"pong")
    assert cli.recv(10) == b"pong"
    cli.close()
    pump(ml, lambda: "closed" in sink.events)
    ch.close()


def test_file_and_errors(tmp_path):
    p = tmp_path / "log"
    ch = create_chardev({"backend": "file", "id": "f", "path": str(p)})
    ch.write(b"abc")
    ch.close()
    assert p.read_bytes() == b"abc"
    with pytest.raises(ChardevError, match="Could not open"):
        create_chardev({"backend": "file", "id": "f", "path": str(tmp_path / "no/such")})
    with pytest.raises(ChardevError, match="not a valid char driver"):
        create_chardev({"backend": "bogus", "id": "x"})
    with pytest.raises(ChardevError):
        create_chardev({"backend": "null"})


def test_serial_spec():
    assert parse_serial_spec("mon:stdio", 0) == {"backend": "stdio", "id": "serial0", "mux": "on"}
    assert parse_serial_spec("none", 1) is None
    assert parse_serial_spec("tcp:127.0.0.1:4444,server,nowait", 0) == {
        "backend": "socket", "host": "127.0.0.1", "port": "4444", "server": "on",
        "wait": "off", "id": "serial0"}
    assert parse_serial_spec("file:/tmp/x", 2)["path"] == "/tmp/x"
    with pytest.raises(ChardevError):
        parse_serial_spec("bogus", 0)


def test_stdio_over_pipes():
    # stdin/stdout are pipes here: no termios, bytes flow unchanged, EOF is survivable.
    prog = (
        "from pyqemu.chardev import create_chardev\n"
        "from pyqemu.sysemu import MainLoop\n"
        "ml = MainLoop(); got = bytearray()\n"
        "class F:\n"
        "    def can_receive(self): return 1 << 16\n"
        "    def receive(self, d): got.extend(d); ch.write(d.upper())\n"
        "    def chr_event(self, e): pass\n"
        "ch = create_chardev({'backend': 'stdio', 'id': 'c'}); ch.attach(F()); ch.open(ml)\n"
        "ml.run(lambda: b'q' in got)\n"
        "ch.close()\n"
    )
    r = subprocess.run([sys.executable, "-c", prog], input=b"abc\x03q", capture_output=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ABC\x03Q"


def test_timer_fires_on_loop(ml):
    fired = []
    t = Timer(ml, lambda: fired.append(clock_ns()))
    start = clock_ns()
    t.mod(start + 20_000_000)
    pump(ml, lambda: fired)
    assert fired and fired[0] - start >= 20_000_000
    t2 = Timer(ml, lambda: fired.append(-1))
    t2.mod(clock_ns() + 10_000_000)
    t2.cancel()
    ml.run_briefly(0.05)
    assert -1 not in fired and not t2.pending()


def test_runstate():
    rs = RunState()
    kicks = []
    rs.add_notifier(lambda: kicks.append(1))
    rs.request_reset()
    assert rs.reset_requested() and not rs.shutdown_requested()
    assert rs.take_reset() is ShutdownCause.GUEST_RESET and not rs.reset_requested()
    rs.request_shutdown(ShutdownCause.GUEST_SHUTDOWN, 3)
    rs.request_shutdown(ShutdownCause.HOST_UI, 0)   # the first request wins
    assert rs.exit_status == 3 and rs.shutdown_cause is ShutdownCause.GUEST_SHUTDOWN
    assert len(kicks) == 3
    nr = RunState(no_reboot=True)
    nr.request_reset()
    assert nr.shutdown_requested() and nr.exit_status == 0


def test_regular_file_and_devnull_as_input(ml, tmp_path):
    # epoll refuses regular files: they are read from the loop until EOF instead.
    f = tmp_path / "in"
    f.write_bytes(b"from a file")
    sink = Sink()
    fd = os.open(f, os.O_RDONLY)
    ch = FdChardev("c", fd, None)
    ch.attach(sink)
    ch.open(ml)
    pump(ml, lambda: "closed" in sink.events)
    assert sink.got == b"from a file"
    ch.close()
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    sink2 = Sink()
    ch2 = FdChardev("n", null, None)
    ch2.attach(sink2)
    ch2.open(ml)
    pump(ml, lambda: "closed" in sink2.events)
    assert sink2.got == b"" and "closed" in sink2.events
    ch2.close()
    os.close(null)
