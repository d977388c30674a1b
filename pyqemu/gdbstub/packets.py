"""The gdb remote serial protocol's framing (gdb manual, "Overview" of Appendix E).

A packet is ``$data#cs`` with cs the modulo-256 sum of data as two hex digits; the
receiver answers ``+`` (good) or ``-`` (resend) until both sides enter no-ack mode.
Inside data, ``}`` escapes the byte that follows (xored with 0x20); ``*`` starts a
run-length repeat, which only the stub's replies may use and which we never send.
A lone 0x03 outside a packet is gdb's interrupt (Ctrl-C). Anything else between
packets is line noise and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

# The largest packet we accept (advertised in qSupported as PacketSize). gdb never
# sends more; a longer one is garbage and is dropped with a nack.
PACKET_SIZE = 0x4000
INTERRUPT = 0x03


@dataclass(frozen=True)
class Packet:
    data: bytes


@dataclass(frozen=True)
class Ack:
    good: bool


@dataclass(frozen=True)
class Interrupt:
    pass


@dataclass(frozen=True)
class BadPacket:
    """A packet with a wrong checksum or too long: the protocol's answer is a nack."""

    reason: str


Event = Packet | Ack | Interrupt | BadPacket


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(data: bytes) -> bytes:
    """``$data#cs`` with the bytes the protocol reserves escaped."""
    out = bytearray()
    for b in data:
        if b in b"$#}*":
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return b"$" + bytes(out) + b"#%02x" % checksum(out)


def unescape(data: bytes) -> bytes:
    """Binary payloads (X packets) escape ``}#$*`` as ``}`` + (byte ^ 0x20)."""
    if b"}" not in data:
        return data
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            nxt = next(it, None)
            if nxt is None:
                raise ValueError("escape at the end of the data")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


class PacketReader:
    """Splits a byte stream into protocol events; keeps at most one partial packet."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.in_packet = False
        self.pending_cs: bytearray | None = None  # checksum digits being read

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for b in data:
            if self.pending_cs is not None:
                self.pending_cs.append(b)
                if len(self.pending_cs) == 2:
                    events.append(self._finish())
                continue
            if self.in_packet:
                if b == ord("#"):
                    self.pending_cs = bytearray()
                elif b == ord("$"):
                    # A new packet starts before the old one ended: gdb gave up on it.
                    self.buf.clear()
                    events.append(BadPacket("truncated packet"))
                elif len(self.buf) >= PACKET_SIZE:
                    self.in_packet = False
                    self.buf.clear()
                    events.append(BadPacket("packet too long"))
                else:
                    self.buf.append(b)
                continue
            if b == ord("$"):
                self.in_packet = True
                self.buf.clear()
            elif b == ord("+"):
                events.append(Ack(True))
            elif b == ord("-"):
                events.append(Ack(False))
            elif b == INTERRUPT:
                events.append(Interrupt())
            # anything else: noise between packets
        return events

    def _finish(self) -> Event:
        digits = bytes(self.pending_cs or b"")
        data = bytes(self.buf)
        self.pending_cs = None
        self.in_packet = False
        self.buf.clear()
        try:
            cs = int(digits, 16)
        except ValueError:
            return BadPacket("checksum is not hex")
        if cs != checksum(data):
            return BadPacket("bad checksum")
        return Packet(data)
