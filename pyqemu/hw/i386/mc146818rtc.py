"""The PC's real-time clock and CMOS RAM: a Motorola MC146818 at ports 0x70/0x71.

Port 0x70 selects a register (bit 7 is the NMI mask on a PC), port 0x71 reads or
writes it.  Registers 0-9 hold the time and date (BCD unless register B's DM bit is
set, 24-hour when B's 24/12 bit is set), A-D are the control registers, 0x32 is the
century on a PC, the rest is battery-backed RAM.  The time is the host's UTC clock
plus whatever offset the guest set; update-in-progress (register A bit 7) never reads
as set, so a guest polling it is never kept waiting.
"""

from __future__ import annotations

import calendar
import time

from pyqemu.qom.device import Device

REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
B_DM_BINARY, B_24H, B_SET = 0x04, 0x02, 0x80
CENTURY = 0x32


def _bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


def _from_bcd(v: int) -> int:
    return (v >> 4) * 10 + (v & 0xF)


class Mc146818Rtc(Device):
    type_name = "mc146818rtc"
    vmstate = ("cmos", "offset", "index")

    def __init__(self, ram_below_4g: int = 0, ram_above_4g: int = 0) -> None:
        super().__init__()
        self.cmos = bytearray(128)
        self.offset = 0.0                   # guest time - host time, in seconds
        self.index = 0
        # Memory size in CMOS, where PC firmware looks (64 KiB units above 16 MiB).
        above16 = max(0, min(ram_below_4g, 0xFFFF_0000) - (16 << 20)) >> 16
        self.cmos[0x34], self.cmos[0x35] = above16 & 0xFF, (above16 >> 8) & 0xFF
        high = ram_above_4g >> 16
        self.cmos[0x5B:0x5E] = high.to_bytes(3, "little")
        self.reset()

    def reset(self) -> None:
        self.cmos[REG_A] = 0x26            # 32.768 kHz time base, 1024 Hz rate
        self.cmos[REG_B] = B_24H
        self.cmos[REG_C] = 0
        self.cmos[REG_D] = 0x80            # battery good, RAM valid

    def _now(self) -> time.struct_time:
        return time.gmtime(time.time() + self.offset)

    def _time_reg(self, reg: int) -> int:
        t = self._now()
        values = {0: t.tm_sec, 2: t.tm_min, 4: t.tm_hour, 6: (t.tm_wday + 1) % 7 + 1,
                  7: t.tm_mday, 8: t.tm_mon, 9: t.tm_year % 100, CENTURY: t.tm_year // 100}
        v = values[reg]
        if reg == 4 and not self.cmos[REG_B] & B_24H:
            pm = v >= 12
            v = (v % 12) or 12
            return (v if self.cmos[REG_B] & B_DM_BINARY else _bcd(v)) | (0x80 if pm else 0)
        return v if self.cmos[REG_B] & B_DM_BINARY else _bcd(v)

    def read(self, offset: int, size: int) -> int:
        if offset == 0:
            return 0xFF
        reg = self.index
        if reg in (0, 2, 4, 6, 7, 8, 9, CENTURY) and not self.cmos[REG_B] & B_SET:
            return self._time_reg(reg)
        if reg == REG_A:
            return self.cmos[REG_A] & 0x7F          # UIP clear
        if reg == REG_C:
            value, self.cmos[REG_C] = self.cmos[REG_C], 0
            return value
        return self.cmos[reg]

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        if offset == 0:
            self.index = value & 0x7F
            return
        reg = self.index
        if reg in (REG_C, REG_D):
            return                                 # read-only
        if reg == REG_B and self.cmos[REG_B] & B_SET and not value & B_SET:
            self.cmos[REG_B] = value
            self._commit_time()
            return
        if reg in (0, 2, 4, 6, 7, 8, 9, CENTURY) and not self.cmos[REG_B] & B_SET:
            # Writing the time without SET: take the current time as base first.
            for r in (0, 2, 4, 6, 7, 8, 9, CENTURY):
                self.cmos[r] = self._time_reg(r)
            self.cmos[reg] = value
            self._commit_time()
            return
        if reg == REG_B and value & B_SET and not self.cmos[REG_B] & B_SET:
            for r in (0, 2, 4, 6, 7, 8, 9, CENTURY):
                self.cmos[r] = self._time_reg(r)
        self.cmos[reg] = value

    def _commit_time(self) -> None:
        """The guest set the clock: remember it as an offset from the host's."""
        conv = (lambda v: v) if self.cmos[REG_B] & B_DM_BINARY else _from_bcd
        try:
            hour = self.cmos[4]
            if not self.cmos[REG_B] & B_24H:
                pm = hour & 0x80
                hour = conv(hour & 0x7F) % 12 + (12 if pm else 0)
            else:
                hour = conv(hour)
            year = conv(self.cmos[CENTURY]) * 100 + conv(self.cmos[9])
            guest = calendar.timegm((year, conv(self.cmos[8]), conv(self.cmos[7]), hour,
                                     conv(self.cmos[2]), conv(self.cmos[0]), 0, 0, 0))
            self.offset = guest - time.time()
        except (ValueError, OverflowError):
            pass
