"""What the loop does for a system-mode hart's exits to it, whichever backend ran the
block: the privileged instructions' checks and effects (privileged ISA ch. 3.3) and
interrupt delivery between blocks. Both runners (system.HartRunner on the Python
backend, native_system.NativeHartRunner) call these and then look up where to go on.

``runner`` is either: it has ``hart``, ``q``, ``smmu``, ``update_flags()``,
``flush_tlb()`` and ``flush_jump_cache_page(vpn)``.
"""

from __future__ import annotations

from ...target.riscv import cpu_state as cs
from ...target.riscv import trap as t

ALL = 0xFFFFFFFFFFFFFFFF


def insn_bits(smmu, pc: int) -> int:
    """The instruction at pc, for mtval/stval of an illegal-instruction trap (0 if it
    cannot be fetched any more)."""
    try:
        lo = smmu.fetch16(pc)
        if lo & 3 != 3:
            return lo
        return lo | (smmu.fetch16(pc + 2) << 16)
    except t.RiscvTrap:
        return 0


def fetch_trap(smmu, vpc: int) -> t.RiscvTrap:
    """The exception a failed fetch at vpc raises (first or second halfword)."""
    for a in (vpc, vpc + 2):
        try:
            smmu.fetch16(a)
        except t.RiscvTrap as e:
            return e
    return t.RiscvTrap(t.INSN_ACCESS_FAULT, vpc)


def illegal(runner) -> t.RiscvTrap:
    return t.RiscvTrap(t.ILLEGAL_INSN, insn_bits(runner.smmu, runner.q[cs.PC]))


def ecall(q) -> t.RiscvTrap:
    return t.RiscvTrap((t.ECALL_FROM_U, t.ECALL_FROM_S, None, t.ECALL_FROM_M)[q[cs.PRIV]], 0)


def ebreak() -> t.RiscvTrap:
    return t.RiscvTrap(t.BREAKPOINT, 0)  # xtval = 0 is allowed, and what QEMU writes


def mret(runner) -> None:
    t.mret(runner.q)


def sret(runner) -> None:
    q = runner.q
    if q[cs.PRIV] == t.PRV_S and q[cs.MSTATUS] & t.MSTATUS_TSR:
        raise illegal(runner)
    t.sret(q)


def wfi(runner) -> None:
    q = runner.q
    priv = q[cs.PRIV]
    if priv == t.PRV_U or (priv == t.PRV_S and q[cs.MSTATUS] & t.MSTATUS_TW):
        raise illegal(runner)
    q[cs.PC] += 4
    # wfi waits for any interrupt pending and enabled in mie, whatever xIE says.
    if not runner.hart.mip() & q[cs.MIE]:
        runner.hart.waiting = True
        runner.hart.exit_request[0] = 1


def sfence_vma(runner) -> None:
    q = runner.q
    if q[cs.PRIV] == t.PRV_S and q[cs.MSTATUS] & t.MSTATUS_TVM:
        raise illegal(runner)
    q[cs.PC] += 4
    va = q[cs.SFENCE_VA]
    asid = q[cs.SFENCE_ASID]
    if va == ALL:
        if asid == ALL:
            runner.flush_tlb()
        elif asid == (q[cs.SATP] >> 44) & 0xFFFF:
            runner.flush_tlb(keep_global=True)
        # else: another address space, of which nothing is cached (a satp write
        # forgets the non-global translations)
    else:
        runner.smmu.flush_page(va)
        runner.flush_jump_cache_page(va >> 12)


def begin_step(runner) -> bool:
    """A runner's step starts: clear the exit request, take a pending interrupt; False
    while the hart sleeps in wfi (nothing to run)."""
    runner.hart.exit_request[0] = 0
    return take_interrupt(runner)


def enter_trap(runner, e: t.RiscvTrap) -> None:
    """A guest exception raised while a block ran: trap at the instruction's pc, then
    the flags of the privilege the trap entered."""
    q = runner.q
    t.take_trap(q, e.cause, e.tval, False, q[cs.PC])
    runner.update_flags()


def take_interrupt(runner) -> bool:
    """Take a pending enabled interrupt; False while the hart sleeps in wfi."""
    hart = runner.hart
    q = runner.q
    irq = t.pending_interrupt(q, hart.mip())
    if irq is not None:
        hart.waiting = False
        t.take_trap(q, irq, 0, True, q[cs.PC])
        runner.update_flags()
    elif hart.waiting:
        if hart.mip() & q[cs.MIE]:
            hart.waiting = False  # woken by an interrupt it does not take now
        else:
            return False
    return True
