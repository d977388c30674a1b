"""High Precision Event Timer (IA-PC HPET Specification 1.0a), memory-mapped at
0xFED00000 on a PC.

Section 2.3 register map: general capabilities and ID (0x000, read-only: revision 1,
three comparators, 64-bit counter, legacy-replacement capable, vendor 0x8086, period
10 ns = 10^7 fs), general configuration (0x010: ENABLE_CNF, LEG_RT_CNF), general
interrupt status (0x020, write 1 to clear), main counter (0x0F0, writable while
halted) and per timer N at 0x100 + 0x20*N: configuration/capabilities, comparator,
FSB route.  Registers are 64-bit and may be accessed as two 32-bit halves.

The main counter is derived from the host monotonic clock at 100 MHz while enabled.
A timer with Tn_INT_ENB_CNF raises its IRQ when the counter reaches the comparator
(one-shot, or periodic adding the last written period): IRQ 2 / IRQ 8 for timers 0 / 1
in legacy-replacement mode, otherwise the IOAPIC pin in Tn_INT_ROUTE_CNF.
"""

from __future__ import annotations

from collections.abc import Callable

from pyqemu.hw.irq import IrqLine
from pyqemu.qom.device import Device
from pyqemu.sysemu import MainLoop, Timer, clock_ns

HPET_BASE = 0xFED0_0000
HPET_SIZE = 0x400
NUM_TIMERS = 3
PERIOD_FS = 10_000_000            # 10 ns per tick
NS_PER_TICK = PERIOD_FS // 1_000_000

CAP_ID = (PERIOD_FS << 32) | (0x8086 << 16) | (1 << 15) | (1 << 13) | \
    ((NUM_TIMERS - 1) << 8) | 0x01

CFG_ENABLE, CFG_LEGACY = 1 << 0, 1 << 1
TN_INT_TYPE_LEVEL = 1 << 1
TN_INT_ENB = 1 << 2
TN_TYPE_PERIODIC = 1 << 3
TN_PER_INT_CAP = 1 << 4
TN_SIZE_CAP = 1 << 5
TN_VAL_SET = 1 << 6
TN_32MODE = 1 << 8
TN_ROUTE_SHIFT = 9
TN_WRITABLE = TN_INT_TYPE_LEVEL | TN_INT_ENB | TN_TYPE_PERIODIC | TN_VAL_SET | \
    TN_32MODE | (0x1F << TN_ROUTE_SHIFT) | (1 << 14)
# Which IOAPIC inputs a comparator may be routed to: 8 and the PCI-free 16-23.
ROUTE_CAP = (1 << 8) | (0xFF << 16)
M64 = (1 << 64) - 1


class HpetTimer:
    def __init__(self, index: int) -> None:
        self.index = index
        self.reset()

    def reset(self) -> None:
        cap = TN_SIZE_CAP | (TN_PER_INT_CAP if self.index == 0 else 0)
        self.config = (ROUTE_CAP << 32) | cap
        self.comparator = M64
        self.period = 0
        self.fsb = 0


class Hpet(Device):
    type_name = "hpet"
    # The main counter's value, not the host-clock origin it runs from (start_ns): a
    # snapshot restored in another process must continue from the same count.
    vmstate = ("config", "isr", "main_counter", "timer_state")

    def __init__(self, main_loop: MainLoop, irq_for_pin: Callable[[int], IrqLine]) -> None:
        super().__init__()
        self.main_loop = main_loop
        self.irq_for_pin = irq_for_pin
        self.timers = [HpetTimer(i) for i in range(NUM_TIMERS)]
        self._alarms = [Timer(main_loop, lambda i=i: self._fire(i)) for i in range(NUM_TIMERS)]
        self.reset()

    def reset(self) -> None:
        self.config = 0
        self.isr = 0
        self.counter_base = 0           # counter value when last (re)started or written
        self.start_ns = 0
        for t in self.timers:
            t.reset()
        for a in self._alarms:
            a.cancel()

    # --- the main counter ----------------------------------------------------------------
    def counter(self) -> int:
        if self.config & CFG_ENABLE:
            return (self.counter_base + (clock_ns() - self.start_ns) // NS_PER_TICK) & M64
        return self.counter_base

    @property
    def main_counter(self) -> int:
        return self.counter()

    @main_counter.setter
    def main_counter(self, value: int) -> None:
        self.counter_base = value & M64
        self.start_ns = clock_ns()

    @property
    def timer_state(self) -> list[list[int]]:
        return [[t.config, t.comparator, t.period, t.fsb] for t in self.timers]

    @timer_state.setter
    def timer_state(self, values: list[list[int]]) -> None:
        for t, (config, comparator, period, fsb) in zip(self.timers, values, strict=True):
            t.config, t.comparator, t.period, t.fsb = config, comparator, period, fsb

    def post_load(self) -> None:
        """After loadvm: level interrupts still asserted, alarms re-armed."""
        for i in range(NUM_TIMERS):
            if self.isr & (1 << i):
                self._irq(i).raise_()
            self._arm(i)

    # --- registers ---------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        reg, shift = offset & ~7, (offset & 4) * 8
        value = self._read64(reg)
        value >>= shift
        return value & ((1 << (8 * size)) - 1)

    def _read64(self, reg: int) -> int:
        if reg == 0x000:
            return CAP_ID
        if reg == 0x010:
            return self.config
        if reg == 0x020:
            return self.isr
        if reg == 0x0F0:
            return self.counter()
        if 0x100 <= reg < 0x100 + 0x20 * NUM_TIMERS:
            t = self.timers[(reg - 0x100) >> 5]
            field = reg & 0x1F
            if field == 0x00:
                return t.config
            if field == 0x08:
                return t.comparator & (0xFFFF_FFFF if t.config & TN_32MODE else M64)
            if field == 0x10:
                return t.fsb
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        reg = offset & ~7
        old = self._read64(reg)
        if size == 8:
            new = value & M64
        else:
            shift = (offset & 4) * 8
            mask = ((1 << (8 * size)) - 1) << shift
            new = (old & ~mask) | ((value << shift) & mask)
        if reg == 0x010:
            self._write_config(new & (CFG_ENABLE | CFG_LEGACY))
        elif reg == 0x020:
            cleared = new & self.isr
            self.isr &= ~cleared
            for i in range(NUM_TIMERS):
                if cleared & (1 << i):
                    self._irq(i).lower()
        elif reg == 0x0F0:
            if not self.config & CFG_ENABLE:      # writable only while halted
                self.counter_base = new
        elif 0x100 <= reg < 0x100 + 0x20 * NUM_TIMERS:
            self._write_timer(self.timers[(reg - 0x100) >> 5], reg & 0x1F, new, offset)

    def _write_config(self, value: int) -> None:
        was_enabled = self.config & CFG_ENABLE
        if was_enabled and not value & CFG_ENABLE:
            self.counter_base = self.counter()
        elif value & CFG_ENABLE and not was_enabled:
            self.start_ns = clock_ns()
        self.config = value
        for i in range(NUM_TIMERS):
            self._arm(i)

    def _write_timer(self, t: HpetTimer, field: int, value: int, offset: int) -> None:
        if field == 0x00:
            t.config = (t.config & ~TN_WRITABLE) | (value & TN_WRITABLE)
            if not t.config & TN_INT_TYPE_LEVEL:
                self.isr &= ~(1 << t.index)
        elif field == 0x08:
            if t.config & TN_32MODE:
                value &= 0xFFFF_FFFF
            if t.config & TN_TYPE_PERIODIC and not t.config & TN_VAL_SET:
                t.period = value            # periodic: the write sets the period too
                t.comparator = value if t.comparator == M64 else t.comparator
            t.comparator = value
            if t.config & TN_VAL_SET:
                t.period = value
                t.config &= ~TN_VAL_SET
        elif field == 0x10:
            t.fsb = value
        self._arm(t.index)

    # --- interrupts ------------------------------------------------------------------
    def _irq(self, i: int) -> IrqLine:
        if self.config & CFG_LEGACY and i < 2:
            return self.irq_for_pin(0 if i == 0 else 8)   # GSI 0 reaches IOAPIC pin 2
        return self.irq_for_pin((self.timers[i].config >> TN_ROUTE_SHIFT) & 0x1F)

    def _arm(self, i: int) -> None:
        t = self.timers[i]
        alarm = self._alarms[i]
        if not (self.config & CFG_ENABLE and t.config & TN_INT_ENB):
            alarm.cancel()
            return
        now = self.counter()
        delta = (t.comparator - now) & (0xFFFF_FFFF if t.config & TN_32MODE else M64)
        alarm.mod(clock_ns() + delta * NS_PER_TICK)

    def _fire(self, i: int) -> None:
        t = self.timers[i]
        if not (self.config & CFG_ENABLE and t.config & TN_INT_ENB):
            return
        line = self._irq(i)
        if t.config & TN_INT_TYPE_LEVEL:
            self.isr |= 1 << i
            line.raise_()
        else:
            line.pulse()
        if t.config & TN_TYPE_PERIODIC and t.period:
            t.comparator = (t.comparator + t.period) & M64
            self._arm(i)
