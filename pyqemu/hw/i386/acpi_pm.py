"""ACPI fixed hardware at ports 0x600-0x60B: PM1a event/control blocks and PM timer.

ACPI 6.x section 4.8: PM1_STS (0x600, write 1 to clear; TMR_STS bit 0, PWRBTN_STS
bit 8, WAK_STS bit 15), PM1_EN (0x602), PM1_CNT (0x604: SCI_EN bit 0, SLP_TYPx bits
12:10, SLP_EN bit 13) and the 24-bit PM timer at 3.579545 MHz (0x608).  Writing SLP_EN
with the S5 sleep type powers the machine off; the power button raises the SCI (IRQ 9)
when enabled.  SCI_EN reads as set: with no SMI command port, the system is always in
ACPI mode.
"""

from __future__ import annotations

from collections.abc import Callable

from pyqemu.hw.irq import IrqLine
from pyqemu.qom.device import Device
from pyqemu.sysemu import clock_ns

PM_BASE = 0x600
PM_SIZE = 12
SLP_TYP_S5 = 5
PM_TIMER_HZ = 3_579_545

SCI_EN = 1 << 0
SLP_EN = 1 << 13
PWRBTN_STS = 1 << 8
WAK_STS = 1 << 15


class AcpiPm(Device):
    type_name = "acpi-pm"
    vmstate = ("sts", "en", "cnt")

    def __init__(self, sci: IrqLine, poweroff: Callable[[], None]) -> None:
        super().__init__()
        self.sci = sci
        self.poweroff = poweroff
        self.reset()

    def reset(self) -> None:
        self.sts = 0
        self.en = 0
        self.cnt = SCI_EN
        self.sci.set(False)

    def post_load(self) -> None:
        self._update_sci()

    def _update_sci(self) -> None:
        self.sci.set(bool(self.sts & self.en & PWRBTN_STS))

    def press_power_button(self) -> None:
        self.sts |= PWRBTN_STS
        self._update_sci()

    def read(self, offset: int, size: int) -> int:
        if offset < 4:
            value = self.sts | (self.en << 16)
            return (value >> (8 * offset)) & ((1 << (8 * size)) - 1)
        if offset < 6:
            return (self.cnt >> (8 * (offset - 4))) & ((1 << (8 * size)) - 1)
        if 8 <= offset < 12:
            ticks = clock_ns() * PM_TIMER_HZ // 1_000_000_000
            return ((ticks & 0xFF_FFFF) >> (8 * (offset - 8))) & ((1 << (8 * size)) - 1)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset < 4:
            word = (value << (8 * offset)) & ((1 << (8 * (offset + size))) - 1)
            if offset < 2:
                self.sts &= ~(word & 0xFFFF)            # write 1 to clear
            if offset + size > 2:
                self.en = (word >> 16) & 0xFFFF
            self._update_sci()
        elif offset < 6:
            word = (value << (8 * (offset - 4))) & 0xFFFF
            if word & SLP_EN and (word >> 10) & 7 == SLP_TYP_S5:
                self.poweroff()
            self.cnt = (word & ~SLP_EN) | SCI_EN
