"""The remote protocol's framing on its own: checksums, escapes, split reads, noise."""

from __future__ import annotations

from pyqemu.gdbstub.packets import (
    PACKET_SIZE,
    Ack,
    BadPacket,
    Interrupt,
    Packet,
    PacketReader,
    frame,
    unescape,
)


def test_frame_escapes_what_framing_reserves() -> None:
    assert frame(b"OK") == b"$OK#9a"
    assert frame(b"a$b#c}d*") == b"$a}\x04b}\x03c}]d}\x0a#" + b"%02x" % (
        sum(b"a}\x04b}\x03c}]d}\x0a") & 0xFF)
    assert unescape(b"a}\x04b}\x03c}]d}\x0a") == b"a$b#c}d*"


def test_reader_handles_split_reads_noise_and_interrupts() -> None:
    r = PacketReader()
    stream = b"+junk\x03$m1000,4#" + b"%02x" % (sum(b"m1000,4") & 0xFF) + b"-$g#67"
    events = []
    for b in stream:  # one byte at a time, as a slow link delivers it
        events += r.feed(bytes([b]))
    assert events == [Ack(True), Interrupt(), Packet(b"m1000,4"), Ack(False), Packet(b"g")]


def test_reader_rejects_bad_checksums_and_oversized_packets() -> None:
    r = PacketReader()
    assert r.feed(b"$g#00") == [BadPacket("bad checksum")]
    assert r.feed(b"$g#xy") == [BadPacket("checksum is not hex")]
    assert r.feed(b"$" + b"A" * (PACKET_SIZE + 10) + b"#00$g#67") == [
        BadPacket("packet too long"), Packet(b"g")]
    assert r.feed(b"$ab$g#67") == [BadPacket("truncated packet"), Packet(b"g")]
