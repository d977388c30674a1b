"""Traps: synchronous exceptions, interrupts, their delegation, mret and sret
(RISC-V privileged ISA ch. 3.1.6-3.1.9, 3.3.2, 4.1.1).

A trap taken from generated code is a Python exception (:class:`RiscvTrap`) raised by a
helper or a softmmu slow path; the block stores the faulting instruction's pc before
re-raising, and the system loop calls :func:`take_trap`. Interrupts are checked by the
loop between blocks (:func:`pending_interrupt`).
"""

from __future__ import annotations

from . import cpu_state as cs

# mcause exception codes (table 3.6)
INSN_MISALIGNED = 0
INSN_ACCESS_FAULT = 1
ILLEGAL_INSN = 2
BREAKPOINT = 3
LOAD_MISALIGNED = 4
LOAD_ACCESS_FAULT = 5
STORE_MISALIGNED = 6
STORE_ACCESS_FAULT = 7
ECALL_FROM_U = 8
ECALL_FROM_S = 9
ECALL_FROM_M = 11
INSN_PAGE_FAULT = 12
LOAD_PAGE_FAULT = 13
STORE_PAGE_FAULT = 15

# interrupt numbers (mip/mie bits)
IRQ_S_SOFT, IRQ_M_SOFT, IRQ_S_TIMER, IRQ_M_TIMER, IRQ_S_EXT, IRQ_M_EXT = 1, 3, 5, 7, 9, 11
# Priority order when several are pending and enabled (ch. 3.1.9).
IRQ_PRIORITY = (IRQ_M_EXT, IRQ_M_SOFT, IRQ_M_TIMER, IRQ_S_EXT, IRQ_S_SOFT, IRQ_S_TIMER)

# mstatus fields
MSTATUS_SIE = 1 << 1
MSTATUS_MIE = 1 << 3
MSTATUS_SPIE = 1 << 5
MSTATUS_MPIE = 1 << 7
MSTATUS_SPP = 1 << 8
MSTATUS_MPP_SHIFT = 11
MSTATUS_MPP = 3 << 11
MSTATUS_FS = 3 << 13
MSTATUS_FS_DIRTY = 3 << 13
MSTATUS_MPRV = 1 << 17
MSTATUS_SUM = 1 << 18
MSTATUS_MXR = 1 << 19
MSTATUS_TVM = 1 << 20
MSTATUS_TW = 1 << 21
MSTATUS_TSR = 1 << 22
MSTATUS_SD = 1 << 63

PRV_U, PRV_S, PRV_M = 0, 1, 3
INTERRUPT = 1 << 63


class RiscvTrap(Exception):
    """A synchronous exception: cause code and the value for xtval."""

    def __init__(self, cause: int, tval: int = 0) -> None:
        super().__init__(cause, tval)
        self.cause = cause
        self.tval = tval & 0xFFFFFFFFFFFFFFFF


def take_trap(q, cause: int, tval: int, interrupt: bool, pc: int) -> None:
    """Enter the trap handler: M-mode unless delegated to S-mode by medeleg/mideleg
    (only traps from S or U are delegable)."""
    priv = q[cs.PRIV]
    deleg = q[cs.MIDELEG] if interrupt else q[cs.MEDELEG]
    mcause = cause | (INTERRUPT if interrupt else 0)
    st = q[cs.MSTATUS]
    if priv <= PRV_S and (deleg >> cause) & 1:
        q[cs.SEPC] = pc
        q[cs.SCAUSE] = mcause
        q[cs.STVAL] = tval
        st = (st & ~(MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_SPP)) \
            | (MSTATUS_SPIE if st & MSTATUS_SIE else 0) | (MSTATUS_SPP if priv else 0)
        q[cs.MSTATUS] = st
        q[cs.PRIV] = PRV_S
        tvec = q[cs.STVEC]
    else:
        q[cs.MEPC] = pc
        q[cs.MCAUSE] = mcause
        q[cs.MTVAL] = tval
        st = (st & ~(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP)) \
            | (MSTATUS_MPIE if st & MSTATUS_MIE else 0) | (priv << MSTATUS_MPP_SHIFT)
        q[cs.MSTATUS] = st
        q[cs.PRIV] = PRV_M
        tvec = q[cs.MTVEC]
    base = tvec & ~3
    # Vectored mode sends interrupts to base + 4 * cause.
    q[cs.PC] = (base + 4 * cause) if (tvec & 3) == 1 and interrupt else base
    q[cs.LR_ADDR] = cs.RESERVATION_NONE


def pending_interrupt(q, mip: int) -> int | None:
    """The interrupt to take now, or None (ch. 3.1.9: an interrupt for a higher
    privilege is always enabled below it; at the same privilege xIE gates it)."""
    pend = mip & q[cs.MIE]
    if not pend:
        return None
    priv = q[cs.PRIV]
    st = q[cs.MSTATUS]
    mideleg = q[cs.MIDELEG]
    m_pend = pend & ~mideleg
    if m_pend and (priv < PRV_M or st & MSTATUS_MIE):
        for irq in IRQ_PRIORITY:
            if m_pend >> irq & 1:
                return irq
    s_pend = pend & mideleg
    if s_pend and (priv < PRV_S or (priv == PRV_S and st & MSTATUS_SIE)):
        for irq in IRQ_PRIORITY:
            if s_pend >> irq & 1:
                return irq
    return None


def mret(q) -> None:
    st = q[cs.MSTATUS]
    mpp = (st & MSTATUS_MPP) >> MSTATUS_MPP_SHIFT
    st = (st & ~(MSTATUS_MIE | MSTATUS_MPP)) | (MSTATUS_MIE if st & MSTATUS_MPIE else 0) \
        | MSTATUS_MPIE
    if mpp != PRV_M:
        st &= ~MSTATUS_MPRV
    q[cs.MSTATUS] = st
    q[cs.PRIV] = mpp
    q[cs.PC] = q[cs.MEPC]
    q[cs.LR_ADDR] = cs.RESERVATION_NONE


def sret(q) -> None:
    st = q[cs.MSTATUS]
    spp = PRV_S if st & MSTATUS_SPP else PRV_U
    st = (st & ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV)) \
        | (MSTATUS_SIE if st & MSTATUS_SPIE else 0) | MSTATUS_SPIE
    q[cs.MSTATUS] = st
    q[cs.PRIV] = spp
    q[cs.PC] = q[cs.SEPC]
    q[cs.LR_ADDR] = cs.RESERVATION_NONE
