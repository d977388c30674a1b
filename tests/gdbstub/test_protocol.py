"""The gdb protocol by hand, for what gdb itself never sends: line noise, bad
checksums, oversized packets, unknown requests, bad addresses, Ctrl-C, and a debugger
that vanishes. The stub answers as the protocol says and the guest runs on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from .gdbutil import GUESTS, PYQEMU_USER, RawGdb, finish, free_port, start_user

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from guestlib import build_guest  # noqa: E402


@pytest.fixture(scope="module")
def debugme() -> Path:
    return build_guest(GUESTS / "debugme.c", "static", ("-O0", "-g"))


def _symbol(binary: Path, name: str) -> int:
    out = subprocess.run(["riscv64-linux-gnu-nm", str(binary)], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts[-1] == name:
            return int(parts[0], 16)
    raise AssertionError(f"{name} not in {binary}")


def test_bad_input_gets_protocol_answers(debugme: Path) -> None:
    port = free_port()
    proc = start_user(debugme, port, ("spin",))
    g = RawGdb(port)
    try:
        g.send_raw(b"hello, noise between packets\r\n")
        g.send_raw(b"$qSupported#00")
        assert g.read_byte() == b"-"  # bad checksum: resend
        g.send_raw(b"$" + b"A" * 0x5000 + b"#00")
        assert g.read_byte() == b"-"  # too long for PacketSize: dropped
        g.send_raw(b"$m0,4#zz")
        assert g.read_byte() == b"-"  # checksum that is not hex
        assert g.ask("qSupported:swbreak+").startswith("PacketSize=4000;")
        assert g.ask("?").startswith("T05thread:")
        assert g.ask("qNoSuchQuery") == ""  # unknown: the empty reply
        assert g.ask("Z9,1000,4") == ""
        assert g.ask("m0,4") == "E0e"  # unmapped guest memory
        assert g.ask("mzz,4") == "E01"
        assert g.ask("M10000,4:00") == "E01"  # length and data disagree
        assert g.ask("Hg999999") == "E01"
        assert g.ask("p2000") == "E45"
        assert g.ask("G00") == "E01"
        assert g.ask("qXfer:features:read:nope.xml:0,100") == "E00"
        xml = g.ask("qXfer:features:read:target.xml:0,3000")
        assert xml.startswith("l<?xml") and "org.gnu.gdb.riscv.fpu" in xml
        assert len(g.ask("g")) == 33 * 16
        assert g.ask("vCont?") == "vCont;c;C;s;S"
        assert g.ask("vCont;x") == "E01"
        assert g.ask("QStartNoAckMode") == "OK"
        # No acks from here on: a packet's reply comes with no '+' before it.
        g.send("qC")
        assert g.read_byte() == b"$"
        g.buf = b"$" + g.buf
        assert g.packet().startswith("QC")
        g.send("c")
        time.sleep(2)  # start-up, then main's loop
        g.send_raw(b"\x03")  # Ctrl-C while the guest spins
        assert g.packet().startswith("T02thread:")
        counter = _symbol(debugme, "counter")
        assert int.from_bytes(bytes.fromhex(g.ask(f"m{counter:x},8")), "little") > 0
        # X: binary data, with the bytes framing reserves escaped ('}' + byte ^ 0x20).
        raw = bytes([0x23, 0x24, 0x7D, 0x2A, 0, 1, 2, 3])
        esc = b"".join(b"}" + bytes([b ^ 0x20]) if b in b"#$}*" else bytes([b]) for b in raw)
        assert g.ask(b"X%x,8:" % counter + esc) == "OK"
        assert bytes.fromhex(g.ask(f"m{counter:x},8")) == raw
        assert g.ask(f"X{counter:x},0:") == "OK"  # gdb's probe for X support
        g.send("k")
    finally:
        g.close()
    status, _ = finish(proc)
    assert status == 0


def test_vanished_debugger_lets_the_guest_finish(debugme: Path) -> None:
    port = free_port()
    proc = start_user(debugme, port)
    g = RawGdb(port)
    assert g.ask("?").startswith("T05")
    assert g.ask(f"Z0,{_symbol(debugme, 'bump'):x},2") == "OK"
    g.send("c")
    assert g.packet().startswith("T05")  # at bump
    g.sock.close()  # no detach: the connection just goes away
    status, stdout = finish(proc)
    assert (status, stdout) == (10, "total 10\n")


def test_detach_lets_the_guest_finish(debugme: Path) -> None:
    port = free_port()
    proc = start_user(debugme, port)
    g = RawGdb(port)
    assert g.ask(f"Z0,{_symbol(debugme, 'bump'):x},2") == "OK"
    assert g.ask("D") == "OK"
    g.close()
    status, stdout = finish(proc)
    assert (status, stdout) == (10, "total 10\n")


def test_port_in_use_is_one_line_and_status_1(debugme: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([*PYQEMU_USER, "-g", str(port), str(debugme)], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert r.stderr == f"pyqemu-riscv64: could not open gdbserver on {port}\n"


def test_ctrl_c_stops_a_guest_blocked_in_a_read(debugme: Path) -> None:
    port = free_port()
    proc = start_user(debugme, port, ("read",), stdin=subprocess.PIPE)
    g = RawGdb(port)
    g.send("c")
    time.sleep(1.5)  # start-up, then read(0) waits for input that does not come
    g.send_raw(b"\x03")
    assert g.packet().startswith("T02thread:")
    g.send("c")  # the read is made again and waits again
    time.sleep(0.5)
    proc.stdin.write(b"A")
    proc.stdin.flush()
    assert g.packet() == "W4d"  # counter starts at 'A': total 205, exit status 205 & 0x7f
    g.close()
    status, stdout = finish(proc)
    assert (status, stdout) == (0x4D, "total 205\n")


def test_garbage_connections_in_a_row_leak_nothing(debugme: Path) -> None:
    port = free_port()
    proc = start_user(debugme, port, ("spin",))
    fds = Path(f"/proc/{proc.pid}/fd")
    g = RawGdb(port)
    assert g.ask("?").startswith("T05")
    g.close()  # the guest runs on
    time.sleep(0.5)
    before = len(list(fds.iterdir()))
    for _ in range(10):
        g = RawGdb(port)  # stops the guest...
        g.send_raw(b"\x00\xff$#zz" + b"$" + b"B" * 0x4100 + b"#00")
        assert g.read_byte() == b"-"
        assert g.ask("qC").startswith("QC")
        g.sock.close()  # ...which runs on once the client vanishes
    time.sleep(0.5)
    assert len(list(fds.iterdir())) == before
    g = RawGdb(port)
    counter = _symbol(debugme, "counter")
    first = int.from_bytes(bytes.fromhex(g.ask(f"m{counter:x},8")), "little")
    g.send("c")
    time.sleep(0.5)
    g.send_raw(b"\x03")
    assert g.packet().startswith("T02")
    assert int.from_bytes(bytes.fromhex(g.ask(f"m{counter:x},8")), "little") > first
    g.send("k")
    g.close()
    assert finish(proc)[0] == 0
