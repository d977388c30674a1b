"""AddressSpace: RAM blocks, MMIO dispatch, bounds-checked DMA, port I/O."""

import ctypes

import pytest

from pyqemu.memory import AddressSpace, GuestMemoryError, IoPortSpace, RamBlock


class Scratch:
    """A small real register file device: 16 bytes of byte-addressable registers."""

    def __init__(self) -> None:
        self.regs = bytearray(16)
        self.log: list[tuple] = []

    def read(self, offset: int, size: int) -> int:
        self.log.append(("r", offset, size))
        return int.from_bytes(self.regs[offset:offset + size], "little")

    def write(self, offset: int, size: int, value: int) -> None:
        self.log.append(("w", offset, size, value))
        self.regs[offset:offset + size] = value.to_bytes(size, "little")


def test_ram_host_address_is_the_mapping():
    a = AddressSpace()
    ram = a.add_ram(0x8000_0000, 1 << 20, "ram")
    a.write(0x8000_0010, b"hello")
    # The host address reaches the very same bytes, no copy.
    assert ctypes.string_at(ram.host_addr + 0x10, 5) == b"hello"
    ctypes.memmove(ram.host_addr + 0x100, b"world", 5)
    assert a.read(0x8000_0100, 5) == b"world"
    assert a.host_address(0x8000_0100) == ram.host_addr + 0x100
    assert ram.host_addr % 4096 == 0


def test_load_store_ram_and_mmio():
    a = AddressSpace()
    a.add_ram(0x1000, 0x1000, "ram")
    dev = Scratch()
    a.map_mmio(0x1000_0000, 16, dev, "scratch")
    a.store(0x1008, 8, 0x1122334455667788)
    assert a.load(0x1008, 4) == 0x55667788
    assert a.load(0x100C, 2) == 0x3344
    a.store(0x1000_0004, 4, 0xDEADBEEF)
    assert dev.log[-1] == ("w", 4, 4, 0xDEADBEEF)
    assert a.load(0x1000_0004, 2) == 0xBEEF
    # Values are truncated to the access width before the device sees them.
    a.store(0x1000_0000, 1, 0x1FF)
    assert dev.log[-1] == ("w", 0, 1, 0xFF)


def test_unassigned_cpu_access_raises():
    a = AddressSpace()
    a.add_ram(0x1000, 0x1000, "ram")
    with pytest.raises(GuestMemoryError):
        a.load(0x5000, 4)
    with pytest.raises(GuestMemoryError):
        a.store(0x0, 4, 1)
    # An access straddling the end of a region is not half-served.
    with pytest.raises(GuestMemoryError):
        a.load(0x1FFE, 4)


def test_dma_is_bounds_checked():
    a = AddressSpace()
    a.add_ram(0x8000_0000, 0x10000, "ram")
    a.map_mmio(0x1000_0000, 16, Scratch(), "scratch")
    for addr, n in [(0x7FFF_FFFF, 2), (0x8000_FFFF, 2), (0x1000_0000, 4), (0, 1),
                    (-1, 1), (0xFFFF_FFFF_FFFF_FFFF, 16), (0x8000_0000, -1)]:
        with pytest.raises(GuestMemoryError):
            a.read(addr, n)
    with pytest.raises(GuestMemoryError):
        a.write(0x8000_FFF0, bytes(32))
    # Nothing was written by the refused DMA.
    assert a.read(0x8000_FFF0, 16) == bytes(16)
    with pytest.raises(GuestMemoryError):
        a.ram_view(0x8001_0000, 1)


def test_dma_spans_adjacent_blocks_and_views():
    a = AddressSpace()
    a.add_ram(0x0, 0x1000, "lo")
    a.add_ram(0x1000, 0x1000, "hi")
    a.write(0xFFE, b"abcd")
    assert a.read(0xFFE, 4) == b"abcd"
    with pytest.raises(GuestMemoryError):
        a.ram_view(0xFFE, 4)
    v = a.ram_view(0x1000, 2, is_write=True)
    v[:] = b"XY"
    assert a.read(0xFFE, 4) == b"abXY"


def test_rom_refuses_dma_writes_and_drops_cpu_stores():
    a = AddressSpace()
    rom = a.add_ram(0x1000, 0x100, "mrom", readonly=True)
    rom.load(0, b"\x13\x00\x00\x00")
    a.store(0x1000, 4, 0xFFFFFFFF)
    assert a.load(0x1000, 4) == 0x13
    with pytest.raises(GuestMemoryError):
        a.write(0x1000, b"x")
    assert a.read(0x1000, 1) == b"\x13"


def test_overlap_refused_and_unmap():
    a = AddressSpace()
    a.add_ram(0x1000, 0x1000, "ram")
    with pytest.raises(ValueError):
        a.map_mmio(0x1800, 0x1000, Scratch(), "x")
    s = a.map_mmio(0x2000, 0x10, Scratch(), "y")
    a.unmap(s)
    assert a.lookup(0x2000) is None


def test_listener_sees_ram():
    a = AddressSpace()
    a.add_ram(0x0, 0x1000, "early")
    seen = []
    a.add_listener(lambda ev, s: seen.append((ev, s.name, s.base)))
    a.add_ram(0x8000_0000, 0x2000, "late")
    assert seen == [("add", "early", 0), ("add", "late", 0x8000_0000)]


def test_alias_shares_bytes():
    a = AddressSpace()
    block = RamBlock("big", 0x2000)
    a.map_ram(0x0, block)
    a.map_ram(0x10000, block, offset=0x1000, size=0x1000, name="alias")
    a.write(0x1004, b"zz")
    assert a.read(0x10004, 2) == b"zz"


def test_port_io_floats_high():
    io = IoPortSpace()
    dev = Scratch()
    io.map_mmio(0x3F8, 8, dev, "serial")
    io.outp(0x3F9, 1, 0x0F)
    assert io.inp(0x3F9, 1) == 0x0F
    assert io.inp(0x80, 1) == 0xFF
    assert io.inp(0x80, 2) == 0xFFFF
    io.outp(0x80, 1, 0)  # unclaimed write: dropped
    with pytest.raises(ValueError):
        io.map_mmio(0xFFFF, 2, dev, "past-the-end")
