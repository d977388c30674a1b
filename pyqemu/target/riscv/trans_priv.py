"""Privileged instructions (privileged ISA ch. 3.3, 4.2): mret, sret, wfi, sfence.vma,
and the system-emulation forms of ecall, ebreak and the CSR instructions.

Each ends the block and lets the system loop carry it out: they change the privilege
level, the translation or the interrupt state, all of which the next block's flags and
the loop's interrupt check depend on. In user-mode emulation they are illegal.
"""

from __future__ import annotations

from ...tcg.ir import ExitReason, Helper
from . import cpu_state as cs
from .translate import DisasContext, translator

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: start-up time)
if TYPE_CHECKING:
    from .decode import Insn  # (annotations only: the decoder loads when first used)


def _csr_unbound(*_args) -> int:
    raise RuntimeError("csr_sys is bound per hart by the system accelerator")


# csr_sys(q, csr, src, kind, writes, raw) -> old value; the accelerator binds it to the
# hart running the block (target/riscv/csr.py CsrFile.access).
CSR_SYS = Helper("csr_sys", _csr_unbound, 1, state=True, can_raise=True)


def _illegal(dc: DisasContext) -> None:
    dc.exit_to_loop(ExitReason.ILLEGAL, dc.pc)


@translator()
def trans_mret(dc: DisasContext, i: Insn) -> None:
    if not dc.system or dc.priv < 3:
        return _illegal(dc)
    dc.exit_to_loop(ExitReason.MRET, dc.pc)


@translator()
def trans_sret(dc: DisasContext, i: Insn) -> None:
    if not dc.system or dc.priv < 1:
        return _illegal(dc)
    dc.exit_to_loop(ExitReason.SRET, dc.pc)  # the loop checks mstatus.TSR


@translator()
def trans_wfi(dc: DisasContext, i: Insn) -> None:
    if not dc.system:
        return _illegal(dc)
    dc.exit_to_loop(ExitReason.WFI, dc.pc)  # the loop checks mstatus.TW and U-mode


@translator()
def trans_sfence_vma(dc: DisasContext, i: Insn) -> None:
    if not dc.system or dc.priv < 1:
        return _illegal(dc)
    # The loop flushes one page when rs1 names it, else everything; rs2 names the
    # address space (x0: all of them, global mappings included).
    from . import cpu_state as cs

    va = dc.x(i.rs1) if i.rs1 else dc.const((1 << 64) - 1)
    dc.mov(dc.g[cs.SFENCE_VA], va)
    dc.mov(dc.g[cs.SFENCE_ASID], dc.x(i.rs2) if i.rs2 else dc.const((1 << 64) - 1))
    dc.exit_to_loop(ExitReason.SFENCE_VMA, dc.pc)  # the loop checks mstatus.TVM


# Trap-handler CSRs kept as plain words (csr.py's table): an access the block's
# privilege allows is a load and a masked store of the state word, no helper call.
_INLINE_CSRS = {0x140, 0x141, 0x142, 0x143, 0x340, 0x341, 0x342, 0x343}
_M64 = (1 << 64) - 1


def _inline_csr(dc: DisasContext, i: Insn, kind: int, src, writes: bool) -> bool:
    from .csr import PLAIN_CSRS

    if i.csr == 0xF14 and not writes and dc.priv == 3:  # mhartid
        dc.mov(dc.xd(i.rd), dc.g[cs.MHARTID])
        return True
    if i.csr not in _INLINE_CSRS or dc.priv < (i.csr >> 8) & 3:
        return False  # the helper raises the illegal-instruction trap
    idx, mask = PLAIN_CSRS[i.csr]
    g = dc.g[idx]
    old = dc.op1("mov", g)
    if writes:
        new = src if kind == 0 else dc.op2("or" if kind == 1 else "andc", old, src)
        if mask == _M64:
            dc.mov(g, new)
        else:
            dc.op2("or", dc.op2("and", old, dc.const(~mask & _M64)),
                   dc.op2("and", new, dc.const(mask)), g)
    dc.mov(dc.xd(i.rd), old)
    return True


def _inline_sstatus(dc: DisasContext, i: Insn, kind: int, src, writes: bool) -> bool:
    """sstatus (a view of mstatus) inline in S-mode: Linux reads and writes it around
    every interrupt-disabled section and user access. The block goes on unless the
    write changes what its translation depends on (SUM, MXR, FS) or enables
    interrupts (SIE 0 -> 1) while one is pending: then the loop takes over after the
    instruction, as for
    any state-changing CSR write."""
    from ...tcg.ir import Cond
    from . import trap as t
    from .csr import MSTATUS_WRITABLE, SSTATUS_MASK, UXL_SXL_64

    if i.csr != 0x100 or dc.priv < 1:
        return False
    m = dc.g[cs.MSTATUS]
    old_m = dc.op1("mov", m)
    # The value read: mstatus with SD (set when FS is Dirty) and UXL, seen through
    # the sstatus mask (csr.CsrFile.status).
    fs = dc.op2("and", old_m, dc.const(t.MSTATUS_FS))
    dirty = dc.ctx.new_temp()
    dc.ctx.emit("setcond", [dirty], [fs, dc.const(t.MSTATUS_FS_DIRTY)], Cond.EQ)
    val = dc.op2("or", old_m, dc.op2("shl", dirty, dc.const(63)))
    val = dc.op2("and", dc.op2("or", val, dc.const(UXL_SXL_64)), dc.const(SSTATUS_MASK))
    if writes:
        wmask = SSTATUS_MASK & MSTATUS_WRITABLE
        new = src if kind == 0 else dc.op2("or" if kind == 1 else "andc", val, src)
        new_m = dc.op2("or", dc.op2("and", old_m, dc.const(~wmask & _M64)),
                       dc.op2("and", new, dc.const(wmask)))
        dc.mov(m, new_m)
        flags = dc.op2("and", dc.op2("xor", old_m, new_m),
                       dc.const(t.MSTATUS_SUM | t.MSTATUS_MXR | t.MSTATUS_FS))
        # SIE 0 -> 1 matters only when an enabled interrupt is pending: mip's software
        # bits or the device-driven ones (a device that raises its line later also
        # raises the exit request, so the loop sees it at the next block boundary).
        pending = dc.op2("and", dc.op2("or", dc.g[cs.MIP], dc.g[cs.HW_MIP]), dc.g[cs.MIE])
        any_pending = dc.ctx.new_temp()
        dc.ctx.emit("setcond", [any_pending], [pending, dc.const(0)], Cond.NE)
        enabled = dc.op2("and", dc.op2("andc", new_m, old_m),
                         dc.op2("shl", any_pending, dc.const(1)))  # SIE is bit 1
        go_on = dc.label()
        dc.ctx.emit("brcond", [], [dc.op2("or", flags, enabled), dc.const(0)], Cond.EQ, go_on)
        dc.mov(dc.xd(i.rd), val)
        dc.mov(dc.g[cs.PC], dc.const(dc.next_pc))
        dc.ctx.emit("exit_tb", [], [], ExitReason.STATE_CHANGED)
        dc.ctx.emit("set_label", [], [], go_on)
    dc.mov(dc.xd(i.rd), val)
    return True


def system_csr(dc: DisasContext, i: Insn, kind: int, src, writes: bool) -> None:
    """A CSR instruction in system emulation: the hart's CSR file does it; a write
    ends the block (flags, TLBs or pending interrupts may have changed)."""
    if _inline_csr(dc, i, kind, src, writes) or _inline_sstatus(dc, i, kind, src, writes):
        return
    (old,) = dc.ctx.call(CSR_SYS, [dc.const(i.csr), src, dc.const(kind),
                                    dc.const(int(writes)), dc.const(i.raw)])
    dc.mov(dc.xd(i.rd), old)
    if writes and not _write_keeps_state(i):
        dc.exit_to_loop(ExitReason.STATE_CHANGED, dc.next_pc)


# CSRs whose writes change neither translation nor which interrupts can be taken:
# trap-handler scratch and return registers, vectors, counter enables. Linux writes
# sscratch, sepc... on every trap; those need not end the block.
_PLAIN_CSRS = frozenset({0x105, 0x106, 0x10A, 0x140, 0x141, 0x142, 0x143, 0x305, 0x306,
                         0x30A, 0x320, 0x340, 0x341, 0x342, 0x343}
                        | set(range(0x323, 0x340)) | set(range(0xB00, 0xB20)))
_STATUS_IE = (1 << 1) | (1 << 3)  # sstatus/mstatus SIE and MIE


def _write_keeps_state(i: Insn) -> bool:
    if i.csr in _PLAIN_CSRS:
        return True
    # Clearing SIE/MIE by an immediate (local_irq_disable) enables nothing and leaves
    # the block's flags as they are.
    return i.name == "csrrci" and i.csr in (0x100, 0x300) and not i.rs1 & ~_STATUS_IE
