"""The PC's PCI host bridge: configuration mechanism #1 on ports 0xCF8-0xCFF.

PCI Local Bus Specification 3.0, section 3.2.2.3.2: software writes CONFIG_ADDRESS
(0xCF8, 32-bit: enable bit 31, bus 23:16, device 15:11, function 10:8, register 7:2)
and then reads or writes CONFIG_DATA (0xCFC-0xCFF, any width, the byte lane chosen by
the port).  A function that does not exist reads as all ones.  Only 32-bit accesses
reach CONFIG_ADDRESS; a byte access to 0xCF9 is the PIIX reset control register.

Bus 0 holds the i440FX host bridge itself at 00:00.0 and the PIIX3 PCI-to-ISA bridge
at 00:01.0, like a PC; other devices take the next free slots.
"""

from __future__ import annotations

from typing import Any

from pyqemu.hw.pci.pci_device import PCI_INTERRUPT_LINE, PciDevice
from pyqemu.memory import AddressSpace, IoPortSpace

CONFIG_ENABLE = 1 << 31


class I440fxHostBridge(PciDevice):
    type_name = "i440FX-pcihost"
    vendor_id, device_id, class_code, revision = 0x8086, 0x1237, 0x060000, 0x02
    interrupt_pin = 0


class Piix3IsaBridge(PciDevice):
    type_name = "PIIX3"
    vendor_id, device_id, class_code = 0x8086, 0x7000, 0x060100
    header_type = 0x80               # multi-function, as on the real chip
    interrupt_pin = 0


class PciBus:
    """Bus 0: up to 32 devices (function 0 each), and the spaces their BARs decode in."""

    def __init__(self, mem: AddressSpace, io: IoPortSpace, gsi_line: Any,
                 msi: Any = None) -> None:
        self.mem = mem
        self.io = io
        self.gsi_line = gsi_line         # gsi -> IrqLine
        self.msi = msi                   # msi(address, data) -> None
        self.slots: list[PciDevice | None] = [None] * 32

    def intx_gsi(self, slot: int, pin: int) -> int:
        """INTx swizzle onto IOAPIC inputs 16-19 (the pins no ISA device uses)."""
        return 16 + ((slot + pin - 1) & 3)

    def plug(self, dev: PciDevice, slot: int | None = None) -> int:
        if slot is None:
            slot = next((i for i, d in enumerate(self.slots) if d is None), None)
            if slot is None:
                raise ValueError("PCI bus 0 is full")
        if self.slots[slot] is not None:
            raise ValueError(f"PCI slot {slot} is already in use")
        self.slots[slot] = dev
        dev.bus = self
        dev.devfn = slot << 3
        if dev.interrupt_pin:
            gsi = self.intx_gsi(slot, dev.interrupt_pin)
            dev.default_irq_line = gsi
            dev.config[PCI_INTERRUPT_LINE] = gsi
            line = self.gsi_line(gsi)
            dev.irq.connect(lambda level, line=line: line.set(level))
        return slot

    def device(self, bus: int, devfn: int) -> PciDevice | None:
        if bus != 0 or devfn & 7:
            return None
        return self.slots[devfn >> 3]


class PciHost:
    """The 0xCF8-0xCFF port window (mapped as one 8-port region)."""

    def __init__(self, bus: PciBus, reset_control: Any = None) -> None:
        self.bus = bus
        self.reset_control = reset_control
        self.config_address = 0

    def reset(self) -> None:
        self.config_address = 0

    def read(self, offset: int, size: int) -> int:
        if offset < 4:
            if offset == 0 and size == 4:
                return self.config_address
            if offset == 1 and size == 1 and self.reset_control is not None:
                return self.reset_control.read(0, 1)
            return (1 << (8 * size)) - 1
        dev, reg = self._target(offset)
        if dev is None:
            return (1 << (8 * size)) - 1
        return dev.config_read(reg, size)

    def write(self, offset: int, size: int, value: int) -> None:
        if offset < 4:
            if offset == 0 and size == 4:
                self.config_address = value & 0x80FF_FFFC
            elif offset == 1 and size == 1 and self.reset_control is not None:
                self.reset_control.write(0, 1, value)
            return
        dev, reg = self._target(offset)
        if dev is not None:
            dev.config_write(reg, size, value)

    def _target(self, offset: int) -> tuple[PciDevice | None, int]:
        addr = self.config_address
        if not addr & CONFIG_ENABLE:
            return None, 0
        dev = self.bus.device((addr >> 16) & 0xFF, (addr >> 8) & 0xFF)
        return dev, (addr & 0xFC) + (offset - 4)
