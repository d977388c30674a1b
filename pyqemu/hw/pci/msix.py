"""MSI-X (PCI Local Bus Specification 3.0, section 6.8.2).

The capability (ID 0x11) holds Message Control (table size - 1 in bits 10:0, Function
Mask bit 14, MSI-X Enable bit 15), then the table and PBA locations as BAR index plus
offset.  The table has 16 bytes per vector: Message Address (64-bit), Message Data,
Vector Control (bit 0 masks the vector).  A message for a masked vector sets its
Pending Bit instead, and is sent when the vector is unmasked.
"""

from __future__ import annotations

import struct
from typing import Any

PCI_CAP_ID_MSIX = 0x11
MSIX_ENABLE = 1 << 15
MSIX_FUNCTION_MASK = 1 << 14
ENTRY_SIZE = 16
VECTOR_MASKED = 1


class Msix:
    def __init__(self, dev: Any, nvectors: int, bar: int, table_offset: int,
                 pba_offset: int) -> None:
        self.dev = dev
        self.nvectors = nvectors
        self.table = bytearray(ENTRY_SIZE * nvectors)
        self.pending = 0
        body = struct.pack("<HII", nvectors - 1, table_offset | bar, pba_offset | bar)
        self.cap = dev.add_capability(PCI_CAP_ID_MSIX, body,
                                      wmask=struct.pack("<H", MSIX_ENABLE | MSIX_FUNCTION_MASK))
        self.table_offset = table_offset
        self.pba_offset = pba_offset
        self.reset()

    def reset(self) -> None:
        for v in range(self.nvectors):
            struct.pack_into("<QII", self.table, ENTRY_SIZE * v, 0, 0, VECTOR_MASKED)
        self.pending = 0
        ctl = self.control & ~(MSIX_ENABLE | MSIX_FUNCTION_MASK)
        struct.pack_into("<H", self.dev.config, self.cap + 2, ctl)

    @property
    def control(self) -> int:
        return struct.unpack_from("<H", self.dev.config, self.cap + 2)[0]

    def enabled(self) -> bool:
        return bool(self.control & MSIX_ENABLE)

    def entry(self, vector: int) -> tuple[int, int, int]:
        return struct.unpack_from("<QII", self.table, ENTRY_SIZE * vector)

    def masked(self, vector: int) -> bool:
        return bool(self.control & MSIX_FUNCTION_MASK or self.entry(vector)[2] & VECTOR_MASKED)

    def notify(self, vector: int) -> bool:
        """Send vector's message (or make it pending); False if MSI-X is off."""
        if not self.enabled() or not 0 <= vector < self.nvectors:
            return False
        if self.masked(vector):
            self.pending |= 1 << vector
            return True
        self._send(vector)
        return True

    def _send(self, vector: int) -> None:
        address, data, _ = self.entry(vector)
        if self.dev.bus is not None and self.dev.bus.msi is not None and self.dev.bus_master():
            self.dev.bus.msi(address, data)

    def deliver_pending(self) -> None:
        if not self.enabled():
            return
        for v in range(self.nvectors):
            if self.pending >> v & 1 and not self.masked(v):
                self.pending &= ~(1 << v)
                self._send(v)

    # --- the table and PBA as one MMIO region (in the BAR) ---------------------------------
    def read(self, offset: int, size: int) -> int:
        if self.table_offset <= offset < self.table_offset + len(self.table):
            o = offset - self.table_offset
            return int.from_bytes(self.table[o:o + size], "little")
        if offset >= self.pba_offset:
            o = offset - self.pba_offset
            return (self.pending >> (8 * o)) & ((1 << (8 * size)) - 1)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if not self.table_offset <= offset < self.table_offset + len(self.table):
            return                       # the PBA is read-only
        o = offset - self.table_offset
        self.table[o:o + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        if (o % ENTRY_SIZE) >= 12:
            self.deliver_pending()       # a vector may have been unmasked
