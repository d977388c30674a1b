"""A conventional PCI function: type-0 configuration header, BARs, capabilities, INTx.

PCI Local Bus Specification 3.0, section 6: the 256-byte configuration space with the
type-0 header (vendor/device ID, command, status, class code, six BARs, subsystem IDs,
capabilities pointer, interrupt line/pin).  Which bits software may change is kept in
a write mask next to the bytes; a BAR's low bits are hard-wired to its type and to
zero below its size, which is how software sizes it by writing all ones (6.2.5.1).
A BAR is decoded only while its enable bit in the command register is set and its
address is sane; the device's region then appears in the memory or I/O space.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from pyqemu.hw.irq import IrqLine
from pyqemu.qom.device import Device

PCI_VENDOR_ID, PCI_DEVICE_ID, PCI_COMMAND, PCI_STATUS = 0x00, 0x02, 0x04, 0x06
PCI_REVISION_ID, PCI_CLASS_PROG, PCI_HEADER_TYPE = 0x08, 0x09, 0x0E
PCI_BAR0 = 0x10
PCI_SUBSYSTEM_VENDOR_ID, PCI_SUBSYSTEM_ID = 0x2C, 0x2E
PCI_CAPABILITY_LIST = 0x34
PCI_INTERRUPT_LINE, PCI_INTERRUPT_PIN = 0x3C, 0x3D

PCI_COMMAND_IO, PCI_COMMAND_MEMORY, PCI_COMMAND_MASTER = 0x1, 0x2, 0x4
PCI_COMMAND_INTX_DISABLE = 0x400
PCI_STATUS_INTERRUPT, PCI_STATUS_CAP_LIST = 0x08, 0x10

BAR_IO, BAR_MEM32, BAR_MEM64 = "io", "mem32", "mem64"


@dataclass
class Bar:
    index: int
    size: int
    kind: str
    region: Any
    prefetch: bool = False
    mapped_at: int | None = None
    section: Any = None


class PciDevice(Device):
    vendor_id = 0xFFFF
    device_id = 0xFFFF
    class_code = 0xFF0000          # class << 16 | subclass << 8 | prog-if
    revision = 0
    subsystem_vendor_id = 0
    subsystem_id = 0
    header_type = 0
    interrupt_pin = 1              # INTA#
    vmstate = ("config",)          # the 256-byte header: BARs, command, capabilities

    def __init__(self, **props: Any) -> None:
        super().__init__(**props)
        self.config = bytearray(256)
        self.wmask = bytearray(256)
        self.bars: dict[int, Bar] = {}
        self.bus: Any = None
        self.devfn = -1
        self.irq = IrqLine()
        self._last_cap = 0
        self._init_header()

    def _init_header(self) -> None:
        c = self.config
        struct.pack_into("<HH", c, 0, self.vendor_id, self.device_id)
        c[PCI_REVISION_ID] = self.revision
        c[PCI_CLASS_PROG:PCI_CLASS_PROG + 3] = self.class_code.to_bytes(3, "little")
        c[PCI_HEADER_TYPE] = self.header_type
        struct.pack_into("<HH", c, PCI_SUBSYSTEM_VENDOR_ID, self.subsystem_vendor_id,
                         self.subsystem_id)
        c[PCI_INTERRUPT_PIN] = self.interrupt_pin
        struct.pack_into("<H", self.wmask, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
                         PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)
        self.wmask[PCI_INTERRUPT_LINE] = 0xFF
        self.wmask[0x0C] = 0xFF          # cache line size
        self.wmask[0x0D] = 0xFF          # latency timer

    # --- building ---------------------------------------------------------------------
    def add_bar(self, index: int, size: int, region: Any, kind: str = BAR_MEM32,
                prefetch: bool = False) -> None:
        """size is a power of two (at least 16 bytes for memory, 4 for I/O)."""
        bar = Bar(index, size, kind, region, prefetch)
        self.bars[index] = bar
        off = PCI_BAR0 + 4 * index
        if kind == BAR_IO:
            low_flags = 0x1
        else:
            low_flags = (0x4 if kind == BAR_MEM64 else 0) | (0x8 if prefetch else 0)
        struct.pack_into("<I", self.config, off, low_flags)
        struct.pack_into("<I", self.wmask, off, ~(size - 1) & 0xFFFF_FFFF & ~0xF
                         if kind != BAR_IO else ~(size - 1) & 0xFFFF_FFFC)
        if kind == BAR_MEM64:
            struct.pack_into("<I", self.wmask, off + 4, 0xFFFF_FFFF)

    def add_capability(self, cap_id: int, body: bytes, wmask: bytes | None = None,
                       offset: int | None = None) -> int:
        """Append a capability (ID, next pointer, then body); returns its offset."""
        if offset is None:
            offset = 0x40 if not self._last_cap else (self._last_cap + self._cap_len + 3) & ~3
        self._cap_len = 2 + len(body)
        self.config[offset] = cap_id
        self.config[offset + 1] = 0
        self.config[offset + 2:offset + 2 + len(body)] = body
        if wmask:
            self.wmask[offset + 2:offset + 2 + len(wmask)] = wmask
        if self._last_cap:
            self.config[self._last_cap + 1] = offset
        else:
            self.config[PCI_CAPABILITY_LIST] = offset
            struct.pack_into("<H", self.config, PCI_STATUS,
                             struct.unpack_from("<H", self.config, PCI_STATUS)[0]
                             | PCI_STATUS_CAP_LIST)
        self._last_cap = offset
        return offset

    # --- configuration space access (bus side) ---------------------------------------
    def config_read(self, offset: int, size: int) -> int:
        if offset < 0 or offset + size > 256:
            return (1 << (8 * size)) - 1
        return int.from_bytes(self.config[offset:offset + size], "little")

    def config_write(self, offset: int, size: int, value: int) -> None:
        if offset < 0 or offset + size > 256:
            return
        old_cmd = self.command
        for i in range(size):
            b = (value >> (8 * i)) & 0xFF
            m = self.wmask[offset + i]
            self.config[offset + i] = (self.config[offset + i] & ~m) | (b & m)
        if offset < PCI_BAR0 + 24 and offset + size > PCI_BAR0 or \
                (offset <= PCI_COMMAND < offset + size and self.command != old_cmd):
            self.update_mappings()
        if offset <= PCI_COMMAND < offset + size:
            self._update_intx()
        self.config_written(offset, size)

    def config_written(self, offset: int, size: int) -> None:
        """Hook for capabilities with side effects (MSI-X enable, mask)."""

    @property
    def command(self) -> int:
        return struct.unpack_from("<H", self.config, PCI_COMMAND)[0]

    def bus_master(self) -> bool:
        return bool(self.command & PCI_COMMAND_MASTER)

    # --- BAR decoding -----------------------------------------------------------------------
    def bar_address(self, bar: Bar) -> int | None:
        off = PCI_BAR0 + 4 * bar.index
        low = struct.unpack_from("<I", self.config, off)[0]
        cmd = self.command
        if bar.kind == BAR_IO:
            if not cmd & PCI_COMMAND_IO:
                return None
            addr = low & ~0x3
            limit = 0x10000
        else:
            if not cmd & PCI_COMMAND_MEMORY:
                return None
            addr = low & ~0xF
            limit = 1 << 32
            if bar.kind == BAR_MEM64:
                addr |= struct.unpack_from("<I", self.config, off + 4)[0] << 32
                limit = 1 << 64
        # Zero, or the all-ones sizing pattern still in place, decodes nothing.
        if addr == 0 or addr + bar.size > limit or addr & (bar.size - 1):
            return None
        if bar.kind != BAR_IO and addr + bar.size > 0xFEC0_0000 and addr < 1 << 32:
            return None          # would shadow the APICs and the BIOS
        return addr

    def update_mappings(self) -> None:
        if self.bus is None:
            return
        for bar in self.bars.values():
            addr = self.bar_address(bar)
            if addr == bar.mapped_at:
                continue
            space = self.bus.io if bar.kind == BAR_IO else self.bus.mem
            if bar.section is not None:
                space.unmap(bar.section)
                bar.section, bar.mapped_at = None, None
                self.bar_unmapped(bar)
            if addr is not None:
                try:
                    bar.section = space.map_mmio(addr, bar.size, bar.region,
                                                 f"{self.type_name} BAR{bar.index}")
                    bar.mapped_at = addr
                    self.bar_mapped(bar)
                except ValueError:
                    pass            # overlaps another region: the guest's mistake, ignore

    def bar_mapped(self, bar: Bar) -> None:
        """Hook: a BAR now decodes at bar.mapped_at."""

    def bar_unmapped(self, bar: Bar) -> None:
        """Hook: a BAR stopped decoding."""

    def post_load(self) -> None:
        """After loadvm: the BARs decode where the restored header says."""
        self.update_mappings()
        self._update_intx()

    # --- INTx -------------------------------------------------------------------------
    def set_intx(self, level: bool) -> None:
        self._intx_level = bool(level)
        self._update_intx()

    def _update_intx(self) -> None:
        level = getattr(self, "_intx_level", False)
        status = struct.unpack_from("<H", self.config, PCI_STATUS)[0]
        status = (status | PCI_STATUS_INTERRUPT) if level else (status & ~PCI_STATUS_INTERRUPT)
        struct.pack_into("<H", self.config, PCI_STATUS, status)
        self.irq.set(level and not self.command & PCI_COMMAND_INTX_DISABLE)

    def pci_reset(self) -> None:
        """Power-on state of the header: decoding off, BARs zero."""
        struct.pack_into("<H", self.config, PCI_COMMAND, 0)
        for bar in self.bars.values():
            off = PCI_BAR0 + 4 * bar.index
            low = struct.unpack_from("<I", self.config, off)[0]
            keep = low & (0x3 if bar.kind == BAR_IO else 0xF)
            struct.pack_into("<I", self.config, off, keep)
            if bar.kind == BAR_MEM64:
                struct.pack_into("<I", self.config, off + 4, 0)
        self.config[PCI_INTERRUPT_LINE] = getattr(self, "default_irq_line", 0)
        self._intx_level = False
        self.update_mappings()
        self._update_intx()
