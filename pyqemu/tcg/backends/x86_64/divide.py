"""RISC-V division inline (unprivileged ISA ch. 8.2): x86 div/idiv plus the two cases
RISC-V defines where x86 would trap.

* Division by zero: the quotient is all ones, the remainder is the dividend.
* Signed overflow (most negative / -1): the quotient is the dividend, the remainder
  zero; x86 idiv raises #DE there, so a divisor of -1 never reaches it (the quotient
  is then the negated dividend, which wraps to itself in the overflow case).

The 32-bit forms work on operands sign- (or zero-) extended to 64 bits, where no
overflow is possible, and sign-extend the low 32 bits of the result, which yields
exactly the 32-bit results RISC-V specifies, the special cases included.
"""

from __future__ import annotations

from ...ir import Op
from . import asm as A
from .asm import RAX, RCX, RDX

_FORMS = {  # name -> (signed, want remainder, 32-bit)
    "div": (True, False, False), "divu": (False, False, False),
    "rem": (True, True, False), "remu": (False, True, False),
    "divw": (True, False, True), "divuw": (False, False, True),
    "remw": (True, True, True), "remuw": (False, True, True),
}


def gen_divide(cg, op: Op, i: int) -> None:
    signed, want_rem, word = _FORMS[op.aux[0].name]
    a = cg.a
    x, y = op.ins
    busy = cg.busy_of(op)
    cg._load_into(RCX, cg.operand(y, busy, i))
    cg._load_into(RAX, cg.operand(x, busy, i))
    if word:
        if signed:
            a.movsxd(RCX, RCX)
            a.movsxd(RAX, RAX)
        else:
            a.mov_rr32(RCX, RCX)
            a.mov_rr32(RAX, RAX)
    by_zero, done = a.label(), a.label()
    a.test_rr(RCX, RCX)
    a.jcc(A.CC_E, by_zero)
    if signed:
        normal = a.label()
        a.alu_ri(A.CMP, RCX, -1)
        a.jcc(A.CC_NE, normal)
        if want_rem:
            a.alu_rr(A.XOR, RDX, RDX, w=False)
        else:
            a.neg(RAX)
        a.jmp(done)
        a.bind(normal)
        a.cqo()
    else:
        a.alu_rr(A.XOR, RDX, RDX, w=False)
    a.div_r(RCX, signed)
    a.jmp(done)
    a.bind(by_zero)
    if want_rem:
        a.mov_rr(RDX, RAX)  # the dividend
    else:
        a.mov_ri(RAX, (1 << 64) - 1)
    a.bind(done)
    res = RDX if want_rem else RAX
    if word:
        a.movsxd(res, res)
    cg.release_dead(op, i)
    d = op.outs[0]
    r = cg.dest(d, set(), i)
    a.mov_rr(r, res)
    cg.define(d, r)


INLINE = {name: gen_divide for name in _FORMS}
