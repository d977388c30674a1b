"""System instructions the interpreter tier leaves on, carried out by the loop itself.

The interpreter (target/riscv/interp_x86_64) runs no privileged instruction: it leaves
with the exact pc, and the loop used to translate a block for it. Yet ecall, mret,
sret, wfi and sfence.vma end their translated block with an exit to the loop anyway,
and most CSR accesses a boot makes run a handful of times each. So the loop does what
their translation would (the same system_exits handlers, the same CSR file access) at
no translation cost; a CSR access that keeps coming back to one pc gets its
one-instruction block after CSR_VISITS visits. FP CSRs (FS gating) and everything else
still go to the translator.
"""

from __future__ import annotations

from ...target.riscv import cpu_state as cs
from ...target.riscv import trap as t
from . import system_exits as sx

CSR_VISITS = 32
_ECALL, _EBREAK, _MRET, _SRET, _WFI = 0x00000073, 0x00100073, 0x30200073, 0x10200073, 0x10500073
_SFENCE_VMA = 0x09  # funct7


def run(runner, pc: int, visits: dict[int, int]) -> bool:
    """Carry out the instruction at pc (q's pc) if it is one of these, as its translated
    block would; False when it is not (translate it). Raises the instruction's trap.
    ``visits`` counts CSR accesses per pc."""
    if pc & 0xFFF == 0xFFE:
        return False  # across two pages: the translator checks both
    q = runner.q
    off = runner.tlb.fetch_offset(q[cs.PRIV], pc)
    ram = runner.ram_view
    if 0 <= off <= len(ram) - 4:
        insn = int.from_bytes(ram[off:off + 4], "little")
        if insn & 3 != 3:
            return False  # compressed: none of these (c.ebreak is the translator's)
    else:
        insn = sx.insn_bits(runner.smmu, pc)
    if insn & 0x7F != 0x73:
        return False
    funct3 = (insn >> 12) & 7
    rd, rs1 = (insn >> 7) & 31, (insn >> 15) & 31
    priv = q[cs.PRIV]
    if funct3 == 0:
        if insn == _ECALL:
            raise sx.ecall(q)
        if insn == _EBREAK:
            raise sx.ebreak()
        if insn == _MRET or insn == _SRET:
            if priv < (3 if insn == _MRET else 1):
                raise sx.illegal(runner)
            (sx.mret if insn == _MRET else sx.sret)(runner)
            runner._state_changed()
            return True
        if insn == _WFI:
            sx.wfi(runner)
            return True
        if insn >> 25 == _SFENCE_VMA and not rd:
            if priv < t.PRV_S:
                raise sx.illegal(runner)
            rs2 = (insn >> 20) & 31
            q[cs.SFENCE_VA] = q[rs1] if rs1 else sx.ALL
            q[cs.SFENCE_ASID] = q[rs2] if rs2 else sx.ALL
            sx.sfence_vma(runner)
            return True
        return False
    csr = insn >> 20
    if funct3 == 4 or csr in (0x001, 0x002, 0x003):
        return False
    n = visits.get(pc, 0) + 1
    if n > CSR_VISITS:
        return False
    visits[pc] = n
    kind = (funct3 & 3) - 1  # csrrw(i) 0, csrrs(i) 1, csrrc(i) 2
    src = rs1 if funct3 & 4 else q[rs1]
    writes = kind == 0 or rs1 != 0  # csrrs/csrrc of x0 (or uimm 0) do not write
    old = runner.hart.csrs.access(csr, src, kind, int(writes), insn)
    if rd:
        q[rd] = old
    q[cs.PC] = pc + 4
    if writes:
        runner._state_changed()  # flags, TLB mode, a now-deliverable interrupt
    return True
