"""RISC-V ACLINT MSWI and MTIMER devices in the SiFive CLINT-compatible layout.

riscv-aclint spec, chapters "MSWI" and "MTIMER"; the CLINT layout that QEMU's virt
board uses (``sifive,clint0`` at 0x2000000, 64 KiB) puts them side by side:

    0x0000 + 4*h    msip[h]      bit 0 drives the hart's MSIP (mip bit 3)
    0x4000 + 8*h    mtimecmp[h]  MTIP (mip bit 7) = mtime >= mtimecmp[h]
    0xBFF8          mtime        64-bit, counting at timebase-frequency (10 MHz)

mtime counts from the host monotonic clock, so guest time advances in real time
whether or not the vCPUs run; writing it only shifts the offset.  A pending compare
is a :class:`Timer` on the main loop, which raises MTIP and kicks the hart out of wfi.
All registers accept 32-bit accesses to either half as well as 64-bit ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyqemu.qom.device import Device
from pyqemu.sysemu.main_loop import MainLoop, Timer, clock_ns

MSIP_BASE = 0x0
MTIMECMP_BASE = 0x4000
MTIME_OFFSET = 0xBFF8
CLINT_SIZE = 0x10000
TIMEBASE_FREQ = 10_000_000

MIP_MSIP = 3
MIP_MTIP = 7

MASK64 = (1 << 64) - 1


def _merge(old: int, offset_in_reg: int, size: int, value: int) -> int:
    """Write size bytes of value into the 64-bit register old at byte offset_in_reg."""
    shift = offset_in_reg * 8
    mask = ((1 << (size * 8)) - 1) << shift
    return (old & ~mask | (value << shift) & mask) & MASK64


class Aclint(Device):
    """MSWI + MTIMER for num_harts harts (CLINT-compatible layout)."""

    type_name = "riscv.aclint"
    # mtime, not the host-clock offset behind it: a snapshot restored in another
    # process (another host clock origin) must give the guest the same time.
    vmstate = ("msip", "mtimecmp", "mtime")

    def __init__(self, num_harts: int, main_loop: MainLoop | None,
                 harts: Sequence[Any] | None = None, timebase_freq: int = TIMEBASE_FREQ) -> None:
        super().__init__()
        self.num_harts = num_harts
        self.main_loop = main_loop
        self.freq = timebase_freq
        self.harts: list[Any] = list(harts) if harts is not None else []
        self.size = CLINT_SIZE
        self.timers = [Timer(main_loop, self._timer_callback(h)) for h in range(num_harts)] \
            if main_loop is not None else []
        self.time_offset = 0          # mtime = ticks(host clock) - time_offset
        self.msip = [0] * num_harts
        self.mtimecmp = [MASK64] * num_harts
        self._mtip = [False] * num_harts
        self._msip_out = [False] * num_harts
        self.reset()

    def connect_harts(self, harts: Sequence[Any]) -> None:
        self.harts = list(harts)
        # None equals no level: every line is driven to its computed level (inverting the
        # cached levels would skip a line whose level changed meanwhile).
        self._mtip = [None] * self.num_harts
        self._msip_out = [None] * self.num_harts
        for h in range(self.num_harts):
            self._set_msip_line(h)
            self._check_timer(h)

    def reset(self) -> None:
        # mtime restarts from 0 on a system reset; mtimecmp resets to "never".
        self.time_offset = self._ticks()
        self.msip = [0] * self.num_harts
        self.mtimecmp = [MASK64] * self.num_harts
        for h in range(self.num_harts):
            self._set_msip_line(h)
            self._check_timer(h)

    @property
    def mtime(self) -> int:
        return self.read_mtime()

    @mtime.setter
    def mtime(self, value: int) -> None:
        self.time_offset = self._ticks() - (value & MASK64)

    def post_load(self) -> None:
        """After loadvm: re-drive MSIP/MTIP (None never equals a level, so each line is
        driven whatever the hart had before) and re-arm the compare timers."""
        self._mtip = [None] * self.num_harts
        self._msip_out = [None] * self.num_harts
        for h in range(self.num_harts):
            self._set_msip_line(h)
            self._check_timer(h)

    # --- the time base ------------------------------------------------------------------
    def _ticks(self) -> int:
        return clock_ns() * self.freq // 1_000_000_000

    def read_mtime(self) -> int:
        """The current mtime; also what the harts' ``time`` CSR returns."""
        return (self._ticks() - self.time_offset) & MASK64

    def _ns_for_mtime(self, mtime: int) -> int:
        """Host clock_ns() at which mtime reaches the given value."""
        ticks = mtime + self.time_offset
        return -(-ticks * 1_000_000_000 // self.freq)

    # --- outputs ------------------------------------------------------------------------
    def _deliver(self, h: int, bit: int, level: bool) -> None:
        if h < len(self.harts):
            hart = self.harts[h]
            hart.set_interrupt(bit, level)
            if level:
                kick = getattr(hart, "kick", None)
                if kick is not None:
                    kick()

    def _set_msip_line(self, h: int) -> None:
        level = bool(self.msip[h] & 1)
        if level != self._msip_out[h]:
            self._msip_out[h] = level
            self._deliver(h, MIP_MSIP, level)

    def _set_mtip(self, h: int, level: bool) -> None:
        if level != self._mtip[h]:
            self._mtip[h] = level
            self._deliver(h, MIP_MTIP, level)

    def _check_timer(self, h: int) -> None:
        cmp = self.mtimecmp[h]
        now = self.read_mtime()
        if now >= cmp:
            self._set_mtip(h, True)
            if self.timers:
                self.timers[h].cancel()
            return
        self._set_mtip(h, False)
        if self.timers:
            if cmp == MASK64:
                self.timers[h].cancel()
            else:
                self.timers[h].mod(self._ns_for_mtime(cmp))

    def _timer_callback(self, h: int):
        def fire() -> None:
            self._check_timer(h)
        return fire

    # --- registers ----------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if size not in (4, 8) or offset & (size - 1):
            return 0
        if offset < MTIMECMP_BASE:
            h = offset >> 2
            return self.msip[h] if size == 4 and h < self.num_harts else 0
        if MTIMECMP_BASE <= offset < MTIMECMP_BASE + 8 * self.num_harts:
            h, sub = divmod(offset - MTIMECMP_BASE, 8)
            return (self.mtimecmp[h] >> (sub * 8)) & ((1 << (size * 8)) - 1)
        if MTIME_OFFSET <= offset < MTIME_OFFSET + 8:
            sub = offset - MTIME_OFFSET
            return (self.read_mtime() >> (sub * 8)) & ((1 << (size * 8)) - 1)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if size not in (4, 8) or offset & (size - 1):
            return
        if offset < MTIMECMP_BASE:
            h = offset >> 2
            if size == 4 and h < self.num_harts:
                self.msip[h] = value & 1          # the other 31 bits are hardwired zero
                self._set_msip_line(h)
            return
        if MTIMECMP_BASE <= offset < MTIMECMP_BASE + 8 * self.num_harts:
            h, sub = divmod(offset - MTIMECMP_BASE, 8)
            self.mtimecmp[h] = _merge(self.mtimecmp[h], sub, size, value)
            self._check_timer(h)
            return
        if MTIME_OFFSET <= offset < MTIME_OFFSET + 8:
            sub = offset - MTIME_OFFSET
            new = _merge(self.read_mtime(), sub, size, value)
            self.time_offset = self._ticks() - new
            for h in range(self.num_harts):
                self._check_timer(h)
