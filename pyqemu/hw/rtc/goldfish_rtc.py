"""The Goldfish RTC (Android emulator's "google,goldfish-rtc"), as on QEMU's virt.

Nanoseconds since the Unix epoch, from the host's wall clock plus a guest-set offset:

    0x00 TIME_LOW        reading it latches TIME_HIGH (read low first)
    0x04 TIME_HIGH
    0x08 ALARM_LOW       writing it arms the alarm at ALARM_HIGH:ALARM_LOW
    0x0C ALARM_HIGH
    0x10 IRQ_ENABLED
    0x14 CLEAR_ALARM
    0x18 ALARM_STATUS    1 while an alarm is armed
    0x1C CLEAR_INTERRUPT

Writing TIME_HIGH then TIME_LOW sets the clock (only the offset changes).  A due
alarm raises the IRQ line while IRQ_ENABLED, until CLEAR_INTERRUPT.
"""

from __future__ import annotations

import time

from pyqemu.hw.irq import IrqLine
from pyqemu.qom.device import Device
from pyqemu.sysemu.main_loop import MainLoop, Timer, clock_ns

TIME_LOW, TIME_HIGH, ALARM_LOW, ALARM_HIGH = 0x00, 0x04, 0x08, 0x0C
IRQ_ENABLED, CLEAR_ALARM, ALARM_STATUS, CLEAR_INTERRUPT = 0x10, 0x14, 0x18, 0x1C
GOLDFISH_RTC_SIZE = 0x1000


class GoldfishRtc(Device):
    type_name = "goldfish_rtc"
    vmstate = ("tick_offset", "alarm_next", "alarm_running", "irq_pending", "irq_enabled")

    def __init__(self, irq: IrqLine, main_loop: MainLoop | None = None) -> None:
        super().__init__()
        self.irq = irq
        self.size = GOLDFISH_RTC_SIZE
        self.timer = Timer(main_loop, self._alarm_fired) if main_loop is not None else None
        self.tick_offset = 0
        self.reset()

    def reset(self) -> None:
        # Guest time = host wall clock; the offset survives a reset like a battery RTC.
        self.time_high = 0
        self.alarm_next = 0
        self.alarm_running = False
        self.irq_pending = False
        self.irq_enabled = False
        if self.timer is not None:
            self.timer.cancel()
        self._update()

    def post_load(self) -> None:
        """After loadvm: the restored alarm runs again, the line follows the flags."""
        if self.timer is not None:
            self.timer.cancel()
        if self.alarm_running:
            self._arm()
        self._update()

    def now_ns(self) -> int:
        return time.time_ns() + self.tick_offset

    def _update(self) -> None:
        self.irq.set(self.irq_pending and self.irq_enabled)

    def _arm(self) -> None:
        delay = self.alarm_next - self.now_ns()
        if delay <= 0:
            self._alarm_fired()
        elif self.timer is not None:
            self.alarm_running = True
            self.timer.mod(clock_ns() + delay)
        else:
            self.alarm_running = True

    def _alarm_fired(self) -> None:
        self.alarm_running = False
        self.irq_pending = True
        self._update()

    def read(self, offset: int, size: int) -> int:
        if size != 4:
            return 0
        if offset == TIME_LOW:
            now = self.now_ns()
            self.time_high = now >> 32
            return now & 0xFFFF_FFFF
        if offset == TIME_HIGH:
            return self.time_high & 0xFFFF_FFFF
        if offset == ALARM_LOW:
            return self.alarm_next & 0xFFFF_FFFF
        if offset == ALARM_HIGH:
            return (self.alarm_next >> 32) & 0xFFFF_FFFF
        if offset == IRQ_ENABLED:
            return int(self.irq_enabled)
        if offset == ALARM_STATUS:
            return int(self.alarm_running)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if size != 4:
            return
        value &= 0xFFFF_FFFF
        if offset == TIME_LOW:
            new = (self.time_high << 32) | value
            self.tick_offset = new - time.time_ns()
        elif offset == TIME_HIGH:
            self.time_high = value
        elif offset == ALARM_LOW:
            self.alarm_next = (self.alarm_next & ~0xFFFF_FFFF) | value
            self._arm()
        elif offset == ALARM_HIGH:
            self.alarm_next = (self.alarm_next & 0xFFFF_FFFF) | value << 32
        elif offset == IRQ_ENABLED:
            self.irq_enabled = bool(value & 1)
            self._update()
        elif offset == CLEAR_ALARM:
            self.alarm_running = False
            if self.timer is not None:
                self.timer.cancel()
        elif offset == CLEAR_INTERRUPT:
            self.irq_pending = False
            self._update()
