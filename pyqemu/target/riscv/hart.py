"""A system-mode RISC-V hart: architectural state plus what the board drives
(interrupt lines, the time source), as hw/riscv/hart_interface.py describes.

The state buffer is the user-mode one extended with the privileged CSRs (cpu_state).
Interrupt lines from devices set bits of ``hw_mip`` from any thread and raise the
hart's exit request, so the vCPU loop leaves generated code at the next block
boundary and looks at mip (privileged ISA ch. 3.1.9).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from . import cpu_state as cs
from . import trap as t
from .cpu_state import RiscvCPU
from .csr import CsrFile

TIMEBASE_HZ = 10_000_000


class RiscvSystemHart(RiscvCPU):
    def __init__(self, hartid: int, wakeup: threading.Event | None = None) -> None:
        super().__init__()
        self.hartid = hartid
        self._irq_lock = threading.Lock()
        self.exit_request = [0]
        self.wakeup = wakeup or threading.Event()
        self.waiting = False  # in wfi
        self.csrs = CsrFile(self)
        self._t0 = time.monotonic_ns()
        self.read_mtime: Callable[[], int] = self._host_mtime
        self.on_state_change: Callable[[], None] = lambda: None
        self.on_tlb_flush: Callable[[bool], None] = lambda keep_global: None
        self.on_kick: Callable[[RiscvSystemHart], None] = lambda hart: None
        self.insns_base = 0

    # ------------------------------------------------------------------ board interface
    @property
    def hw_mip(self) -> int:
        """The interrupt-pending bits devices drive (a word of the state buffer)."""
        return self.q[cs.HW_MIP]

    @hw_mip.setter
    def hw_mip(self, value: int) -> None:
        self.q[cs.HW_MIP] = value

    def set_interrupt(self, mip_bit: int, level: bool) -> None:
        # Devices call this from their own threads (a timer, the main loop): the
        # read-modify-write of the word must not lose another line's change.
        with self._irq_lock:
            if level:
                self.hw_mip |= 1 << mip_bit
            else:
                self.hw_mip &= ~(1 << mip_bit)
        self.kick()

    def kick(self) -> None:
        self.exit_request[0] = 1
        self.wakeup.set()
        self.on_kick(self)

    def set_time_source(self, read_mtime: Callable[[], int]) -> None:
        self.read_mtime = read_mtime

    def _host_mtime(self) -> int:
        return (time.monotonic_ns() - self._t0) // 100

    # ------------------------------------------------------------------ state
    def reset(self, pc: int) -> None:
        q = self.q
        with self._irq_lock:
            hw_mip = self.hw_mip
            for i in range(cs.NUM_WORDS):
                q[i] = 0
            self.hw_mip = hw_mip & ((1 << t.IRQ_M_EXT) | (1 << t.IRQ_S_EXT)
                                    | (1 << t.IRQ_M_TIMER) | (1 << t.IRQ_M_SOFT))
        q[cs.LR_ADDR] = cs.RESERVATION_NONE
        q[cs.PRIV] = t.PRV_M
        q[cs.PC] = pc
        q[cs.MHARTID] = self.hartid
        self.waiting = False
        self.flush_tlb()
        self.state_changed()

    def mip(self) -> int:
        return self.q[cs.MIP] | self.hw_mip

    def q_priv(self) -> int:
        return self.q[cs.PRIV]

    def data_mode(self) -> tuple[int, bool, bool]:
        """Privilege, SUM and MXR that loads and stores use now (MPRV: M-mode
        accesses as MPP, ch. 3.1.6.3)."""
        q = self.q
        st = q[cs.MSTATUS]
        priv = q[cs.PRIV]
        if priv == t.PRV_M and st & t.MSTATUS_MPRV:
            priv = (st & t.MSTATUS_MPP) >> t.MSTATUS_MPP_SHIFT
        return priv, bool(st & t.MSTATUS_SUM), bool(st & t.MSTATUS_MXR)

    def tb_flags(self) -> int:
        """What translated code depends on besides the physical pc: privilege, the data
        access mode and the FP state (off / on but clean / dirty)."""
        dpriv, sum_, mxr = self.data_mode()
        fs = (self.q[cs.MSTATUS] & t.MSTATUS_FS) >> 13
        return self.q[cs.PRIV] | (dpriv << 2) | (sum_ << 4) | (mxr << 5) | (fs << 6)

    def instret(self) -> int:
        # Counted coarsely from the host clock, as QEMU's icount-less TCG does.
        return (time.monotonic_ns() - self._t0)

    def state_changed(self) -> None:
        """mstatus/mie/mip/satp... changed: re-evaluate flags and interrupts."""
        self.exit_request[0] = 1
        self.on_state_change()

    def flush_tlb(self, keep_global: bool = False) -> None:
        """Forget cached translations; keep_global keeps those of global mappings (a
        satp write: they are the same in every address space, privileged ISA 4.3.1)."""
        self.on_tlb_flush(keep_global)
