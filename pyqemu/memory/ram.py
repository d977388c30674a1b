"""Guest RAM blocks: anonymous host mmaps that are never copied.

DESIGN.md section 3 "Memory": a RAM block's host address is what KVM registers with
KVM_SET_USER_MEMORY_REGION and what native TCG code adds to a guest address, so the
block keeps one mapping for its whole life and hands out zero-copy views of it.
"""

from __future__ import annotations

import ctypes
import mmap


class RamBlock:
    """One contiguous piece of guest RAM (or ROM) backed by an anonymous mmap.

    ``host_addr`` is the host virtual address of byte 0 (an int usable with ctypes),
    ``view`` a writable memoryview over the whole block.  ``readonly`` marks a ROM:
    guest stores and device DMA writes are refused, board code loads it with
    :meth:`load` before the guest runs.
    """

    def __init__(self, name: str, size: int, readonly: bool = False) -> None:
        if size <= 0:
            raise ValueError(f"RAM block {name!r}: size must be positive, not {size}")
        # Round up to whole host pages: KVM needs page-aligned slots.
        self.size = size
        self.mapped_size = (size + mmap.PAGESIZE - 1) & ~(mmap.PAGESIZE - 1)
        self.name = name
        self.readonly = readonly
        self.mm = mmap.mmap(-1, self.mapped_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                            prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._anchor = ctypes.c_char.from_buffer(self.mm)
        self.host_addr: int = ctypes.addressof(self._anchor)
        self.view = memoryview(self.mm)[:size]

    def load(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Host-side initialisation (firmware, kernel, device tree): ignores readonly."""
        if offset < 0 or offset + len(data) > self.size:
            raise ValueError(f"{self.name}: {len(data)} bytes at offset {offset:#x} do not fit "
                             f"in {self.size:#x} bytes")
        self.view[offset:offset + len(data)] = data

    def clear(self) -> None:
        """Zero the whole block (machine reset of RAM is not done by QEMU; used by tests)."""
        ctypes.memset(self.host_addr, 0, self.size)

    def close(self) -> None:
        self.view.release()
        del self._anchor
        self.mm.close()

    def __repr__(self) -> str:
        return f"RamBlock({self.name!r}, size={self.size:#x}, host={self.host_addr:#x})"
