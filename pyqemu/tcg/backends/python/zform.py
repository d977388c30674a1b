"""Form Z: a loop's 32-bit registers held zero-extended.

RV64 keeps the result of a W instruction (addw, slliw, srliw...) sign-extended, and so
do the generated loops: a sign extension of a value that may be anywhere in 64 bits
costs CPython three two-digit operations, and a negative value makes every later
and/or/xor convert both operands to two's complement first. Hashing code (SHA-256's
rounds) is made of nothing else.

When every use of such a register inside a loop reads only its low 32 bits (demand.py),
the loop may hold it as those 32 bits, zero-extended: the value in [0, 2**32) whose
sign extension is the register's value ("Z"). A W result then costs one mask
(``& 0xffffffff``), srliw is one shift, and/or/xor of Z values are Z values without
any mask. The register is converted where the loop publishes it: at its exits
(forms.u_of_z) and, for a guest fault, by the fault handler (runtime.fault, from
``line_fo`` entries ``(index, name, 32)``).

A register qualifies when every write to it in the loop (before its last back-edge)
makes a W value (ext32s, a sign-extending 32-bit load, a copy or and/or/xor of W
values, a constant in 32-bit signed range) and every read takes only its low 32 bits.
Only the loop proper of a peeled loop uses the form (codegen.peeled_loop): its
iterations start with the registers as the previous iteration's writes left them, W
values all. The peeled first iteration converts them at its back-edge; a register it
has not written (SHA-256 rotates its eight variables through registers) is tested to
be a W value there; while one is not, the peeled iteration's generic code is what
the loop runs, which only costs speed. After the last back-edge (the way out of the
loop) reads take the register's value sign-extended and writes are ordinary ones; a
join there that meets such a write with a Z value makes the loop go without form Z.
"""

from __future__ import annotations

from ...ir import Kind, Op, Temp
from .demand import LOW32, input_demand, local_demands, output_demand

_W_BITWISE = {"mov", "and", "or", "xor", "not"}
_S31 = 1 << 31
_M64 = (1 << 64) - 1


def _w_const(v: int) -> bool:
    """A constant that is a 32-bit value sign-extended."""
    return v < _S31 or v > _M64 - _S31


def z_registers(ops: list[Op], candidates: set[int], loop_end: int) -> frozenset[int]:
    """The registers (state indexes) among candidates that may be held in form Z;
    loop_end: the index of the loop's last back-edge (what the ops after it write
    leaves the loop: the writes there need not be W values)."""
    cands = set(candidates)
    while cands:
        bad = _unqualified(ops, frozenset(cands), loop_end)
        if not bad:
            break
        cands -= bad
    return frozenset(cands)


def _unqualified(ops: list[Op], cands: frozenset[int], loop_end: int) -> set[int]:
    """Candidates that some write or read in ops disqualifies, assuming the others
    qualify."""
    bad: set[int] = set()
    w_locals: set[Temp] = set()  # locals holding W values at their definition
    for op in ops[:loop_end]:
        w = _makes_w(op, cands, w_locals)
        for t in op.outs:
            if t.kind == Kind.LOCAL:
                if w:
                    w_locals.add(t)
                else:
                    w_locals.discard(t)
            elif t.kind == Kind.GLOBAL and t.index in cands and not w:
                bad.add(t.index)
    dem = local_demands(ops, cands)
    for op in ops[:loop_end]:
        d = output_demand(op, dem, cands)
        for i, t in enumerate(op.ins):
            if t.kind == Kind.GLOBAL and t.index in cands and input_demand(op, d, i) & ~LOW32:
                bad.add(t.index)
    return bad


def _makes_w(op: Op, cands: frozenset[int], w_locals: set[Temp]) -> bool:
    n = op.name
    if n == "ext32s" or n == "setcond":
        return True
    if n == "ld":
        mo = op.aux[0]
        return mo.signed and mo.size == 4
    if n in _W_BITWISE:
        return all(_is_w(t, cands, w_locals) for t in op.ins)
    return False


def _is_w(t: Temp, cands: frozenset[int], w_locals: set[Temp]) -> bool:
    if t.kind == Kind.CONST:
        return _w_const(t.value)
    if t.kind == Kind.GLOBAL:
        return t.index in cands
    return t in w_locals
