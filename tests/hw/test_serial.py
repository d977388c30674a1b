"""16550A behaviour through an AddressSpace, with a real chardev and a real main loop."""

import os
import time

import pytest

from pyqemu.chardev import FdChardev, RingbufChardev
from pyqemu.hw.char.serial import Serial16550A
from pyqemu.hw.irq import IrqLine
from pyqemu.memory import AddressSpace, IoPortSpace
from pyqemu.sysemu import MainLoop

BASE = 0x1000_0000


def make(regshift=0, chardev=None, space=None, base=BASE):
    levels = []
    irq = IrqLine(levels.append)
    ch = chardev if chardev is not None else RingbufChardev("s")
    uart = Serial16550A(ch, irq, regshift=regshift)
    space = space if space is not None else AddressSpace()
    space.map_mmio(base, 8 << regshift, uart, "serial")
    return uart, space, ch, irq


def rd(space, reg, shift=0):
    return space.load(BASE + (reg << shift), 1)


def wr(space, reg, v, shift=0):
    space.store(BASE + (reg << shift), 1, v)


def test_reset_values():
    uart, a, _, irq = make()
    assert rd(a, 1) == 0          # IER
    assert rd(a, 2) == 0x01       # IIR: nothing pending, FIFOs off
    assert rd(a, 3) == 0          # LCR
    assert rd(a, 5) == 0x60       # LSR: THRE | TEMT
    assert rd(a, 6) == 0xB0       # MSR: DCD DSR CTS
    assert not irq.level


def test_transmit_and_thre_interrupt():
    uart, a, ch, irq = make()
    for b in b"hi\n":
        wr(a, 0, b)
    assert bytes(ch.data) == b"hi\n"
    assert not irq.level
    wr(a, 1, 0x02)                # ETBEI with THR empty: interrupt at once
    assert irq.level and rd(a, 2) == 0x02
    assert not irq.level          # reading IIR cleared the THRE source
    wr(a, 0, ord("x"))
    assert irq.level              # THR emptied again


def test_divisor_latch_and_scratch():
    uart, a, _, _ = make()
    wr(a, 3, 0x83)                # DLAB, 8N1
    wr(a, 0, 0x01)
    wr(a, 1, 0x00)
    assert rd(a, 0) == 1 and rd(a, 1) == 0 and uart.baud == 115200
    wr(a, 3, 0x03)
    assert rd(a, 1) == 0          # IER untouched by divisor writes
    wr(a, 7, 0x5A)
    assert rd(a, 7) == 0x5A


def test_receive_fifo_trigger_and_timeout():
    uart, a, _, irq = make()
    wr(a, 2, 0x81)                # FIFO on, trigger 8
    wr(a, 1, 0x01)
    assert rd(a, 2) == 0xC1
    uart.receive(b"abc")
    assert rd(a, 5) & 0x01
    assert rd(a, 2) == 0xCC       # below trigger: character timeout
    uart.receive(b"defgh")
    assert rd(a, 2) == 0xC4       # at the trigger level
    assert irq.level
    got = bytes(rd(a, 0) for _ in range(8))
    assert got == b"abcdefgh"
    assert not (rd(a, 5) & 0x01) and not irq.level


def test_overrun():
    uart, a, _, irq = make()
    wr(a, 1, 0x05)                # RDI | RLSI
    uart.receive(b"1")
    assert uart.can_receive() == 0    # no FIFO: a single holding register
    uart._push_rx(b"2")               # the line keeps sending regardless
    assert rd(a, 2) == 0x06           # line status first
    assert rd(a, 5) & 0x02            # OE, cleared by the read
    assert not rd(a, 5) & 0x02
    assert rd(a, 0) == ord("1")
    assert not irq.level


def test_loopback():
    uart, a, ch, _ = make()
    wr(a, 4, 0x10 | 0x0B)         # LOOP + DTR RTS OUT2
    wr(a, 0, 0x42)
    assert bytes(ch.data) == b""
    assert rd(a, 5) & 0x01 and rd(a, 0) == 0x42
    msr = rd(a, 6)
    assert msr & 0xF0 == 0xB0     # CTS=RTS, DSR=DTR, DCD=OUT2, RI=OUT1(0)
    wr(a, 4, 0x10 | 0x04)         # OUT1 only: RI up, others down
    assert rd(a, 6) & 0xF0 == 0x40
    assert uart.can_receive() == 0


def test_stride_and_bad_accesses():
    uart, a, ch, _ = make(regshift=2)
    a.store(BASE + 0, 4, 0x41)
    a.store(BASE + 1, 1, 0x42)    # not on a register boundary: ignored
    assert bytes(ch.data) == b"A"
    assert a.load(BASE + 5 * 4, 4) == 0x60
    assert a.load(BASE + 3, 1) == 0


def test_port_io_uart():
    io = IoPortSpace()
    ch = RingbufChardev("s")
    uart = Serial16550A(ch, IrqLine())
    io.map_mmio(0x3F8, 8, uart, "serial")
    io.outp(0x3F8, 1, ord("Z"))
    assert bytes(ch.data) == b"Z" and io.inp(0x3FD, 1) == 0x60


def test_input_from_pipe_paces_to_the_guest():
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    ch = FdChardev("c", r_in, w_out)
    ml = MainLoop()
    uart, a, _, irq = make(chardev=ch)
    wr(a, 2, 0x01)
    ch.open(ml)
    text = b"The quick brown fox jumps over the lazy dog" * 3
    os.write(w_in, text)
    got = bytearray()
    end = time.monotonic() + 3
    while len(got) < len(text) and time.monotonic() < end:
        ml.run_briefly(0.002)
        while rd(a, 5) & 0x01:
            got.append(rd(a, 0))
    assert bytes(got) == text
    assert not (rd(a, 5) & 0x02)  # never overran: the chardev waited for FIFO room
    ch.close()
    ml.close()


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_wide_accesses_use_low_byte(size):
    uart, a, ch, _ = make()
    a.store(BASE, size, 0x4243)
    assert bytes(ch.data) == b"C"
