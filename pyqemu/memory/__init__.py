"""Guest memory: RAM blocks (host mmaps), MMIO/port-I/O regions, bounds-checked DMA.

Public API (DESIGN.md section 3 "Memory")::

    from pyqemu.memory import AddressSpace, IoPortSpace, RamBlock, GuestMemoryError

    sysmem = AddressSpace("memory")
    ram = sysmem.add_ram(0x8000_0000, 128 << 20, "riscv_virt_board.ram")
    ram.host_addr              # int, for KVM_SET_USER_MEMORY_REGION / native code
    sysmem.map_mmio(0x1000_0000, 0x100, uart, "serial")   # uart.read/uart.write
    sysmem.load(addr, 4); sysmem.store(addr, 4, v)        # CPU-style, RAM or MMIO
    sysmem.read(addr, n); sysmem.write(addr, data)        # DMA, RAM only, checked
    sysmem.ram_view(addr, n)                              # zero-copy memoryview
"""

from pyqemu.memory.address_space import (
    AddressSpace,
    GuestMemoryError,
    IoPortSpace,
    MmioRegion,
    Section,
)
from pyqemu.memory.ram import RamBlock

__all__ = ["AddressSpace", "GuestMemoryError", "IoPortSpace", "MmioRegion", "RamBlock", "Section"]
