"""Demanded bits of a block's local temps: which bits of each value some use reads.

RV64's W instructions compute in 64 bits and sign-extend the low 32 (``add; ext32s``),
and code such as SHA-256 chains them: the result of one ``addw`` feeds the next one,
which reads only its low 32 bits again. When every use of an extension's result reads
only bits the extension does not change, the extension can be left out (the value
stays congruent to the extended one, the backend's "L" form) - three Python
operations saved per W instruction in such chains.

The analysis is one backward pass over the ops. A local's demand is the union over all
its uses, whatever the path (code only runs forward, and a local is defined before it
is read, so that union covers every read of every definition). Globals are always
fully demanded: their values are visible at exits and to helpers.
"""

from __future__ import annotations

from ...ir import Kind, Op, Temp

FULL = (1 << 64) - 1
_ARITH = {"add", "sub", "mul", "neg"}  # low k bits of the result need low k bits only
_BITWISE = {"and", "or", "xor", "not", "andc", "orc", "eqv", "mov"}
_EXT_BITS = {"ext8s": 8, "ext16s": 16, "ext32s": 32, "ext8u": 8, "ext16u": 16, "ext32u": 32}


def _low(k: int) -> int:
    return (1 << k) - 1


def input_demand(op: Op, d: int, i: int) -> int:
    """Bits of input i that bits d of op's result depend on."""
    n = op.name
    if n in _ARITH:
        return _low(d.bit_length())
    if n in _BITWISE:
        other = op.ins[1 - i] if len(op.ins) == 2 else None
        if n == "and" and other is not None and other.kind == Kind.CONST:
            return d & other.value
        return d
    if n in _EXT_BITS:
        m = _low(_EXT_BITS[n])
        if n.endswith("u"):
            return d & m
        return d if d & ~m == 0 else m  # the upper bits copy bit N-1
    c = op.ins[1] if len(op.ins) == 2 else None
    if n == "shl":
        if i == 1:
            return FULL
        k = d.bit_length()
        if c.kind == Kind.CONST:
            k = max(k - c.value, 0)
        return _low(k)
    if n in ("shr", "sar") and i == 0 and c.kind == Kind.CONST and c.value < 64:
        m = (d << c.value) & FULL
        if n == "sar" and d >> (64 - c.value):
            m |= 1 << 63  # result bits above 63 - c are copies of the sign bit
        return m
    if n == "st" and i == 0:
        return _low(op.aux[0].size * 8)
    return FULL


LOW32 = (1 << 32) - 1


def local_demands(ops: list[Op], low_globals: frozenset[int] = frozenset()
                  ) -> dict[Temp, int]:
    """Demanded bits of every local temp that some op reads (absent: never read).
    Registers in low_globals are demanded in their low 32 bits only (zform.py)."""
    dem: dict[Temp, int] = {}
    for op in reversed(ops):
        if not op.ins:
            continue
        d = output_demand(op, dem, low_globals)
        for i, t in enumerate(op.ins):
            if t.kind == Kind.LOCAL:
                dem[t] = dem.get(t, 0) | input_demand(op, d, i)
    return dem


def output_demand(op: Op, dem: dict[Temp, int], low_globals: frozenset[int]) -> int:
    """Demanded bits of op's result: its local's demand so far, a Z register's low 32
    bits, all bits of any other register (and of ops without one result)."""
    out = op.outs[0] if len(op.outs) == 1 else None
    if out is None:
        return FULL
    if out.kind == Kind.LOCAL:
        return dem.get(out, 0)
    if out.kind == Kind.GLOBAL and out.index in low_globals:
        return LOW32
    return FULL
