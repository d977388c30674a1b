"""Arithmetic, logic, shifts, multiplies, extensions, bit counts, setcond and movcond:
the IR's value ops as x86-64 instructions (codegen.BlockCodegen allocates registers).

Most ops compute in the destination register: ``mov d, x; op d, y``. The care is in
the aliasing: the destination may be the register of an operand, and x86 forms fix
some registers (shift counts in cl, the high half of a product in rdx).
"""

from __future__ import annotations

from ...ir import CONST, LOCAL, Cond, Kind, Op, Temp
from . import asm as A
from .asm import RAX, RBP, RCX, RDX
from .regs import ALLOCATABLE

CC = {Cond.EQ: A.CC_E, Cond.NE: A.CC_NE, Cond.LT: A.CC_L, Cond.GE: A.CC_GE,
      Cond.LE: A.CC_LE, Cond.GT: A.CC_G, Cond.LTU: A.CC_B, Cond.GEU: A.CC_AE,
      Cond.LEU: A.CC_BE, Cond.GTU: A.CC_A}
_ALU_RI = {"add": A.ADD, "sub": A.SUB, "and": A.AND, "or": A.OR, "xor": A.XOR}
SHIFT = {"shl": A.SHL, "shr": A.SHR, "sar": A.SAR, "rotl": A.ROL, "rotr": A.ROR}


def s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def imm32(t: Temp) -> int | None:
    """The constant as a sign-extended imm32, or None when it has no such encoding."""
    if t.kind != Kind.CONST:
        return None
    v = s64(t.value)
    return v if -(1 << 31) <= v < (1 << 31) else None


def gen_alu(cg, op: Op, i: int) -> None:
    n = op.name
    d = op.outs[0]
    if d.kind is LOCAL and (d not in cg.last_use or d in cg.fold):
        return  # dead, or folded into the address of its load/store
    x, y = op.ins
    busy = cg.busy_of(op)
    alu = _ALU_RI.get(n)
    if alu is not None and y.kind is CONST:
        v = y.value
        if v < (1 << 31) or v >= (1 << 64) - (1 << 31):
            # The common case (addi and friends), as the general path below does it.
            sx = cg.operand(x, busy, i)
            k, rx = sx
            if k == "r":
                busy.add(rx)
            cg.release_dead(op, i)
            if k == "r" and (x is d or (x.kind is LOCAL and cg.last_use.get(x) == i)) \
                    and rx in ALLOCATABLE:
                r = rx
            else:
                r = cg.dest(d, busy, i)
            cg._load_into(r, sx)
            cg.a.alu_ri(alu, r, v - (1 << 64) if v >> 63 else v)
            cg.define(d, r)
            return
    if n in SHIFT:
        gen_shift(cg, op, i, busy)
        return
    if n in ("mulsh", "muluh", "mulsuh"):
        gen_mulh(cg, op, i, busy)
        return
    a = cg.a
    if n in ("andc", "orc", "eqv"):
        cg._load_into(RAX, cg.operand(y, busy, i))
        if n == "eqv":
            cg._apply("xor", RAX, cg.operand(x, busy, i))
            a.not_(RAX)
        else:
            a.not_(RAX)
            cg._apply("and" if n == "andc" else "or", RAX, cg.operand(x, busy, i))
        cg.release_dead(op, i)
        r = cg.dest(d, set(), i)
        if r != RAX:
            a.mov_rr(r, RAX)
        cg.define(d, r)
        return
    sx = cg.operand(x, busy, i)
    if sx[0] == "r":
        busy.add(sx[1])
    sy = cg.operand(y, busy, i)
    if sy[0] == "r":
        busy.add(sy[1])
    cg.release_dead(op, i)
    # x's register can take the result when x dies here or x is d itself.
    if sx[0] == "r" and (x is d or (x.kind == Kind.LOCAL and cg.last_use.get(x) == i)) \
            and not (sy[0] == "r" and sy[1] == sx[1]) and sx[1] in ALLOCATABLE:
        r = sx[1]
    else:
        r = cg.dest(d, busy, i)
    if sy[0] == "r" and sy[1] == r and not (sx[0] == "r" and sx[1] == r):
        r = RAX
    cg._load_into(r, sx)
    cg._apply(n, r, sy)
    cg.define(d, r)

def gen_shift(cg, op: Op, i: int, busy: set[int]) -> None:
    a = cg.a
    x, y = op.ins
    d = op.outs[0]
    sx = cg.operand(x, busy, i)
    if y.kind == Kind.CONST:
        cg.release_dead(op, i)
        r = cg.dest(d, set(), i)
        cg._load_into(r, sx)
        a.shift_ri(SHIFT[op.name], r, y.value & 63)
    else:
        cg._load_into(RCX, cg.operand(y, busy, i))
        cg._load_into(RAX, sx)
        a.shift_cl(SHIFT[op.name], RAX)
        cg.release_dead(op, i)
        r = cg.dest(d, set(), i)
        if r != RAX:
            a.mov_rr(r, RAX)
    cg.define(d, r)

def gen_mulh(cg, op: Op, i: int, busy: set[int]) -> None:
    a = cg.a
    x, y = op.ins
    n = op.name
    # The multiplier must not be rax or rdx: keep it in rcx.
    cg._load_into(RCX, cg.operand(y, busy, i))
    cg._load_into(RAX, cg.operand(x, busy, i))
    a.mul_r(RCX, signed=n == "mulsh")
    if n == "mulsuh":
        # hi(signed x * unsigned y) = hi(unsigned) - (y if x < 0 else 0)
        cg._load_into(RAX, cg.operand(x, busy, i))
        a.shift_ri(A.SAR, RAX, 63)
        a.alu_rr(A.AND, RAX, RCX)
        a.alu_rr(A.SUB, RDX, RAX)
    cg.release_dead(op, i)
    r = cg.dest(op.outs[0], set(), i)
    a.mov_rr(r, RDX)
    cg.define(op.outs[0], r)

# Unary ops that are one two-register instruction: IR op -> assembler method.
_REG_UNOPS = {"ext8s": "movsx8", "ext16s": "movsx16", "ext32s": "movsxd", "ext8u": "movzx8",
              "ext16u": "movzx16", "ext32u": "mov_rr32", "clz": "lzcnt", "ctz": "tzcnt",
              "ctpop": "popcnt"}


def gen_mov(cg, op: Op, i: int) -> None:
    d = op.outs[0]
    x = op.ins[0]
    loc = cg.loc
    r = loc.get(x)
    if d.kind is LOCAL:
        if d not in cg.last_use:
            return
        if r is not None and x.kind is LOCAL and cg.last_use.get(x) == i:
            cg._free(r)
            cg._bind(d, r)  # the value moves to d's name: no code
            cg.in_mem.discard(d)
            return
    elif r is None and x.kind is CONST:
        v = x.value
        if v < (1 << 31) or v >= (1 << 64) - (1 << 31):
            cg.a.store_imm64(RBP, 8 * d.index, v - (1 << 64) if v >> 63 else v)
            if d in loc:
                cg._free(loc[d])
            return
    sx = cg.operand(x, set() if r is None else {r}, i)
    cg.release_dead(op, i)
    r = cg.dest(d, set(), i)
    cg._load_into(r, sx)
    cg.define(d, r)


def gen_unop(cg, op: Op, i: int) -> None:
    a = cg.a
    n = op.name
    d = op.outs[0]
    x = op.ins[0]
    if d.kind == Kind.LOCAL and d not in cg.last_use:
        return
    busy = cg.busy_of(op)
    sx = cg.operand(x, busy, i)
    cg.release_dead(op, i)
    r = cg.dest(d, set(), i)
    if n in ("neg", "not"):
        cg._load_into(r, sx)
        a.neg(r) if n == "neg" else a.not_(r)
    elif n == "bswap64":
        cg._load_into(r, sx)
        a.bswap(r)
    else:
        src = sx[1] if sx[0] == "r" else RAX
        if sx[0] != "r":
            cg._load_into(RAX, sx)
        emit = _REG_UNOPS.get(n)
        if emit is None:
            raise NotImplementedError(n)
        getattr(a, emit)(r, src)
    cg.define(d, r)

def gen_setcond(cg, op: Op, i: int) -> None:
    a = cg.a
    x, y = op.ins
    busy = cg.busy_of(op)
    rx = cg.in_reg(x, busy, i, scratch=RAX if x.kind == Kind.CONST else None)
    sy = cg.operand(y, busy | {rx}, i)
    cg._cmp(rx, sy)
    a.setcc(CC[op.aux[0]], RAX)
    a.movzx8(RAX, RAX)
    cg.release_dead(op, i)
    r = cg.dest(op.outs[0], set(), i)
    if r != RAX:
        a.mov_rr(r, RAX)
    cg.define(op.outs[0], r)

def gen_movcond(cg, op: Op, i: int) -> None:
    a = cg.a
    x, y, v1, v2 = op.ins
    busy = cg.busy_of(op)
    r1 = cg.in_reg(v1, busy, i, scratch=RCX if v1.kind == Kind.CONST else None)
    busy.add(r1)
    cg._load_into(RAX, cg.operand(v2, busy, i))
    rx = cg.in_reg(x, busy, i, scratch=RDX if x.kind == Kind.CONST else None)
    busy.add(rx)
    sy = cg.operand(y, busy, i)
    if sy[0] == "r" and sy[1] == RDX and rx == RDX:
        raise RuntimeError("movcond with two wide constants")  # the optimizer folds these
    cg._cmp(rx, sy)
    a.cmov(CC[op.aux[0]], RAX, r1)
    cg.release_dead(op, i)
    r = cg.dest(op.outs[0], set(), i)
    if r != RAX:
        a.mov_rr(r, RAX)
    cg.define(op.outs[0], r)
