"""RV64I base integer instructions, Zicsr, Zifencei, ecall/ebreak (unprivileged ISA ch. 2, 4, 6, 7)."""

from __future__ import annotations

from ...tcg.ir import INVERT_COND, Cond, ExitReason
from . import cpu_state as cs
from . import helpers
from .translate import DisasContext, mark_fs_dirty, translator

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: start-up time)
if TYPE_CHECKING:
    from .decode import Insn  # (annotations only: the decoder loads when first used)

# ---------------------------------------------------------------- upper immediates, jumps


@translator()
def trans_lui(dc: DisasContext, i: Insn) -> None:
    dc.mov(dc.xd(i.rd), dc.const(i.imm))


@translator()
def trans_auipc(dc: DisasContext, i: Insn) -> None:
    dc.mov(dc.xd(i.rd), dc.const(dc.pc + i.imm))


@translator()
def trans_jal(dc: DisasContext, i: Insn) -> None:
    dc.mov(dc.xd(i.rd), dc.const(dc.next_pc))
    dc.goto(dc.pc + i.imm)
    dc.ended = True


@translator()
def trans_jalr(dc: DisasContext, i: Insn) -> None:
    # The target is computed before rd is written: rd may be rs1.
    t = dc.op2("add", dc.x(i.rs1), dc.const(i.imm))
    dc.op2("and", t, dc.const(~1), dc.g[cs.PC])
    dc.mov(dc.xd(i.rd), dc.const(dc.next_pc))
    dc.ctx.emit("lookup_and_goto_ptr", [], [])
    dc.ended = True


_BRANCH = {"beq": Cond.EQ, "bne": Cond.NE, "blt": Cond.LT, "bge": Cond.GE,
           "bltu": Cond.LTU, "bgeu": Cond.GEU}


@translator(*_BRANCH)
def trans_branch(dc: DisasContext, i: Insn) -> None:
    cond = _BRANCH[i.name]
    target = dc.pc + i.imm
    a, b = dc.x(i.rs1), dc.x(i.rs2)
    if dc.can_nest_forward(target):
        # Taken: skip forward inside the block (the translator places the label).
        label = dc.label()
        dc.ctx.emit("brcond", [], [a, b], cond, label)
        dc.pending.append((target, label))
        return
    if dc.extend:
        # Taken: leave through an exit of its own; not taken: go on translating.
        stay = dc.label()
        dc.ctx.emit("brcond", [], [a, b], INVERT_COND[cond], stay)
        dc.goto(target)
        dc.ctx.emit("set_label", [], [], stay)
        return
    taken = dc.label()
    dc.ctx.emit("brcond", [], [a, b], cond, taken)
    dc.goto(dc.next_pc)
    dc.ctx.emit("set_label", [], [], taken)
    dc.goto(target)
    dc.ended = True


# ---------------------------------------------------------------- loads and stores

_LOADS = {"lb": (1, True), "lh": (2, True), "lw": (4, True), "ld": (8, False),
          "lbu": (1, False), "lhu": (2, False), "lwu": (4, False)}
_STORES = {"sb": 1, "sh": 2, "sw": 4, "sd": 8}


@translator(*_LOADS)
def trans_load(dc: DisasContext, i: Insn) -> None:
    size, signed = _LOADS[i.name]
    dc.ld(dc.addr(i.rs1, i.imm), size, signed, dc.xd(i.rd))


@translator(*_STORES)
def trans_store(dc: DisasContext, i: Insn) -> None:
    dc.st(dc.x(i.rs2), dc.addr(i.rs1, i.imm), _STORES[i.name])


# ---------------------------------------------------------------- ALU

_IMM_OPS = {"addi": "add", "xori": "xor", "ori": "or", "andi": "and",
            "slli": "shl", "srli": "shr", "srai": "sar"}
_REG_OPS = {"add": "add", "sub": "sub", "xor": "xor", "or": "or", "and": "and"}
_SHIFT_OPS = {"sll": "shl", "srl": "shr", "sra": "sar"}


@translator(*_IMM_OPS)
def trans_alu_imm(dc: DisasContext, i: Insn) -> None:
    if i.rd == 0:
        return  # hints (nop and friends)
    dc.op2(_IMM_OPS[i.name], dc.x(i.rs1), dc.const(i.imm), dc.xd(i.rd))


@translator("slti", "sltiu")
def trans_slti(dc: DisasContext, i: Insn) -> None:
    cond = Cond.LT if i.name == "slti" else Cond.LTU
    dc.ctx.emit("setcond", [dc.xd(i.rd)], [dc.x(i.rs1), dc.const(i.imm)], cond)


@translator(*_REG_OPS)
def trans_alu_reg(dc: DisasContext, i: Insn) -> None:
    dc.op2(_REG_OPS[i.name], dc.x(i.rs1), dc.x(i.rs2), dc.xd(i.rd))


@translator(*_SHIFT_OPS)
def trans_shift_reg(dc: DisasContext, i: Insn) -> None:
    n = dc.op2("and", dc.x(i.rs2), dc.const(63))
    dc.op2(_SHIFT_OPS[i.name], dc.x(i.rs1), n, dc.xd(i.rd))


@translator("slt", "sltu")
def trans_slt(dc: DisasContext, i: Insn) -> None:
    cond = Cond.LT if i.name == "slt" else Cond.LTU
    dc.ctx.emit("setcond", [dc.xd(i.rd)], [dc.x(i.rs1), dc.x(i.rs2)], cond)


# ---------------------------------------------------------------- RV64 word ops
# Results are the low 32 bits sign-extended to 64 (ch. 4.2).


@translator()
def trans_addiw(dc: DisasContext, i: Insn) -> None:
    t = dc.op2("add", dc.x(i.rs1), dc.const(i.imm))
    dc.op1("ext32s", t, dc.xd(i.rd))


@translator("addw", "subw")
def trans_addw(dc: DisasContext, i: Insn) -> None:
    t = dc.op2(i.name[:3], dc.x(i.rs1), dc.x(i.rs2))
    dc.op1("ext32s", t, dc.xd(i.rd))


def _shift_w(dc: DisasContext, name: str, rd: int, rs1: int, amount) -> None:
    if name.startswith("sll"):
        t = dc.op2("shl", dc.x(rs1), amount)
    elif name.startswith("srl"):
        t = dc.op2("shr", dc.op1("ext32u", dc.x(rs1)), amount)
    else:
        t = dc.op2("sar", dc.op1("ext32s", dc.x(rs1)), amount)
    dc.op1("ext32s", t, dc.xd(rd))


@translator("slliw", "srliw", "sraiw")
def trans_shift_w_imm(dc: DisasContext, i: Insn) -> None:
    _shift_w(dc, i.name, i.rd, i.rs1, dc.const(i.imm))


@translator("sllw", "srlw", "sraw")
def trans_shift_w(dc: DisasContext, i: Insn) -> None:
    _shift_w(dc, i.name, i.rd, i.rs1, dc.op2("and", dc.x(i.rs2), dc.const(31)))


# ---------------------------------------------------------------- system


@translator()
def trans_fence(dc: DisasContext, i: Insn) -> None:
    pass  # one hart at a time runs in this loop; host stores are already ordered


@translator()
def trans_fence_i(dc: DisasContext, i: Insn) -> None:
    dc.exit_to_loop(ExitReason.FENCE_I, dc.next_pc)


@translator()
def trans_ecall(dc: DisasContext, i: Insn) -> None:
    # User mode: the loop runs the Linux syscall and goes on after the ecall. System
    # mode: an environment-call exception at the ecall itself.
    dc.exit_to_loop(ExitReason.SYSCALL, dc.pc if dc.system else dc.next_pc)


@translator()
def trans_ebreak(dc: DisasContext, i: Insn) -> None:
    dc.exit_to_loop(ExitReason.EBREAK, dc.pc)


_CSR_OPS = {"csrrw": 0, "csrrs": 1, "csrrc": 2, "csrrwi": 0, "csrrsi": 1, "csrrci": 2}


@translator(*_CSR_OPS)
def trans_csr(dc: DisasContext, i: Insn) -> None:
    kind = _CSR_OPS[i.name]
    src = dc.const(i.rs1) if i.name.endswith("i") else dc.x(i.rs1)
    # csrrs/csrrc with x0 (or uimm 0) do not write; csrrw always writes.
    writes = kind == 0 or i.rs1 != 0
    if i.csr in (0x001, 0x002, 0x003):
        if dc.system:
            # FS Off makes them illegal; a write marks the FP state dirty.
            if not (dc.flags >> 6) & 3:
                dc.exit_to_loop(ExitReason.ILLEGAL, dc.pc)
                return
            if writes and (dc.flags >> 6) & 3 != 3:
                mark_fs_dirty(dc)
        _fp_csr(dc, i, kind, src, writes)
        return
    if dc.system:
        from .trans_priv import system_csr

        system_csr(dc, i, kind, src, writes)
        return
    (old,) = dc.ctx.call(helpers.CSR_ACCESS, [dc.const(i.csr), src, dc.const(kind),
                                               dc.const(int(writes))])
    dc.mov(dc.xd(i.rd), old)


def _fp_csr(dc: DisasContext, i: Insn, kind: int, src, writes: bool) -> None:
    """fflags, frm and fcsr (F ch. 13.2) inline: glibc brackets quiet FP compares with
    frflags/fsflags, so these sit in hot loops and must not cost a helper call (which
    spills every cached register)."""
    ff, frm = dc.g[cs.FFLAGS], dc.g[cs.FRM]
    if i.csr == 0x001:
        old = dc.op2("or", ff, dc.const(0))
    elif i.csr == 0x002:
        old = dc.op2("or", frm, dc.const(0))
    else:
        old = dc.op2("or", dc.op2("shl", frm, dc.const(5)), ff)
    if writes:
        if kind == 0:
            new = src
        elif kind == 1:
            new = dc.op2("or", old, src)
        else:
            new = dc.op2("andc", old, src)
        if i.csr == 0x001:
            dc.op2("and", new, dc.const(0x1F), ff)
        elif i.csr == 0x002:
            dc.op2("and", new, dc.const(7), frm)
            dc.frm_checked_from = None
        else:
            dc.op2("and", new, dc.const(0x1F), ff)
            dc.op2("and", dc.op2("shr", new, dc.const(5)), dc.const(7), frm)
            dc.frm_checked_from = None
    dc.mov(dc.xd(i.rd), old)
