"""Block-local IR optimizer: constant folding, copy propagation, dead-temp elimination.

Knowledge is forward and block-local: it is dropped at every label, because a label
is a merge point of forward branches. Global writes are never removed (the state is
visible at every exit and to helpers), locals that nobody reads are.
"""

from __future__ import annotations

from collections.abc import Callable

from .ir import MASK64, Cond, Kind, Op, TCGContext, Temp


def _sx(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _s64(v: int) -> int:
    return _sx(v, 64)


def _clz(v: int) -> int:
    return 64 - v.bit_length()


def _ctz(v: int) -> int:
    return 64 if v == 0 else (v & -v).bit_length() - 1


def _rotl(a: int, b: int) -> int:
    b &= 63
    return ((a << b) | (a >> (64 - b))) & MASK64


COND_EVAL: dict[Cond, Callable[[int, int], bool]] = {
    Cond.EQ: lambda a, b: a == b,
    Cond.NE: lambda a, b: a != b,
    Cond.LT: lambda a, b: _s64(a) < _s64(b),
    Cond.GE: lambda a, b: _s64(a) >= _s64(b),
    Cond.LE: lambda a, b: _s64(a) <= _s64(b),
    Cond.GT: lambda a, b: _s64(a) > _s64(b),
    Cond.LTU: lambda a, b: a < b,
    Cond.GEU: lambda a, b: a >= b,
    Cond.LEU: lambda a, b: a <= b,
    Cond.GTU: lambda a, b: a > b,
}

# Reference semantics of the pure ops on unsigned 64-bit values. The optimizer folds
# with them; the backend conformance tests compare generated code against them.
FOLD: dict[str, Callable[..., int]] = {
    "mov": lambda a: a,
    "neg": lambda a: -a & MASK64,
    "not": lambda a: ~a & MASK64,
    "add": lambda a, b: (a + b) & MASK64,
    "sub": lambda a, b: (a - b) & MASK64,
    "mul": lambda a, b: (a * b) & MASK64,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
    "xor": lambda a, b: a ^ b,
    "andc": lambda a, b: a & ~b & MASK64,
    "orc": lambda a, b: (a | ~b) & MASK64,
    "eqv": lambda a, b: ~(a ^ b) & MASK64,
    "shl": lambda a, b: (a << b) & MASK64,
    "shr": lambda a, b: a >> b,
    "sar": lambda a, b: (_s64(a) >> b) & MASK64,
    "rotl": _rotl,
    "rotr": lambda a, b: _rotl(a, 64 - (b & 63)),
    "mulsh": lambda a, b: ((_s64(a) * _s64(b)) >> 64) & MASK64,
    "muluh": lambda a, b: (a * b) >> 64,
    "mulsuh": lambda a, b: ((_s64(a) * b) >> 64) & MASK64,
    "ext8s": lambda a: _sx(a, 8) & MASK64,
    "ext16s": lambda a: _sx(a, 16) & MASK64,
    "ext32s": lambda a: _sx(a, 32) & MASK64,
    "ext8u": lambda a: a & 0xFF,
    "ext16u": lambda a: a & 0xFFFF,
    "ext32u": lambda a: a & 0xFFFFFFFF,
    "clz": _clz,
    "ctz": _ctz,
    "ctpop": lambda a: a.bit_count(),
    "bswap64": lambda a: int.from_bytes(a.to_bytes(8, "little"), "big"),
}

SIDE_EFFECT_FREE = set(FOLD) | {"setcond", "movcond", "ld"}


def _is_const(t: Temp) -> bool:
    return t.kind == Kind.CONST


def optimize(ctx: TCGContext) -> None:
    """Rewrite ctx.ops in place."""
    ctx.ops = _forward(ctx, ctx.ops)
    _localize_overwritten_globals(ctx, ctx.ops)
    ctx.ops = _dead_code(ctx.ops)


# Ops after which the architectural state must be exact: they may fault (the handler
# publishes every global), leave the block, or merge control flow.
_BARRIERS = {"ld", "st", "call", "brcond", "set_label", "goto_tb", "exit_tb",
             "lookup_and_goto_ptr"}


def _localize_overwritten_globals(ctx: TCGContext, ops: list[Op]) -> None:
    """A global written and then written again with no barrier in between never has
    its first value observed: give that value a local temp instead, which the backend
    can keep in a register (native) or inline into an expression (Python)."""
    open_defs: dict[Temp, tuple[Op, list[Op]]] = {}
    for op in ops:
        if op.name in _BARRIERS:
            open_defs.clear()
            continue
        for t in op.ins:
            if t in open_defs:
                open_defs[t][1].append(op)
        for d in op.outs:
            if d.kind != Kind.GLOBAL:
                continue
            prev = open_defs.get(d)
            if prev is not None:
                def_op, readers = prev
                local = ctx.new_temp()
                def_op.outs = [local if t is d else t for t in def_op.outs]
                for r in readers:
                    r.ins = [local if t is d else t for t in r.ins]
            open_defs[d] = (op, [])


def _forward(ctx: TCGContext, ops: list[Op]) -> list[Op]:
    copies: dict[Temp, Temp] = {}  # temp -> the const or temp it currently equals
    copied_to: dict[Temp, set[Temp]] = {}  # value -> the temps copies maps to it
    shl_of: dict[Temp, tuple[Temp, int]] = {}  # t -> (x, k) while t == x << k holds
    out: list[Op] = []

    def kill(t: Temp) -> None:
        """t gets a new value: forget what it equals and what equals it."""
        v = copies.pop(t, None)
        if v is not None:
            copied_to[v].discard(t)
        for k in copied_to.pop(t, ()):
            if copies.get(k) is t:
                del copies[k]
        if shl_of:
            shl_of.pop(t, None)
            for k in [k for k, v in shl_of.items() if v[0] is t]:
                del shl_of[k]

    def copy(d: Temp, v: Temp) -> None:
        copies[d] = v
        copied_to.setdefault(v, set()).add(d)

    for op in ops:
        if op.name == "set_label":
            copies.clear()
            copied_to.clear()
            shl_of.clear()
            out.append(op)
            continue
        ins = [copies.get(t, t) for t in op.ins]
        op.ins = ins
        name = op.name
        if name in FOLD and all(_is_const(t) for t in ins):
            op = Op("mov", op.outs, [ctx.const(FOLD[name](*[t.value for t in ins]))])
            name = "mov"
        elif name in ("add", "or", "xor", "sub", "shl", "shr", "sar") and _is_const(ins[1]) \
                and ins[1].value == 0:
            op = Op("mov", op.outs, [ins[0]])
            name = "mov"
        elif name in ("add", "or", "xor") and _is_const(ins[0]) and ins[0].value == 0:
            op = Op("mov", op.outs, [ins[1]])
            name = "mov"
        elif name in ("and", "mul") and (_is_const(ins[1]) and ins[1].value == 0):
            op = Op("mov", op.outs, [ctx.const(0)])
            name = "mov"
        elif name == "setcond" and all(_is_const(t) for t in ins):
            v = int(COND_EVAL[op.aux[0]](ins[0].value, ins[1].value))
            op = Op("mov", op.outs, [ctx.const(v)])
            name = "mov"
        elif name == "brcond" and all(_is_const(t) for t in ins):
            if COND_EVAL[op.aux[0]](ins[0].value, ins[1].value):
                # Always taken: everything up to the label is unreachable only if
                # nothing else jumps in between; keep it simple and leave the branch.
                pass
            else:
                continue  # never taken
        if name == "shr" and _is_const(ins[1]) and ins[0] in shl_of \
                and shl_of[ins[0]][1] == ins[1].value:
            # (x << k) >> k keeps the low 64-k bits: RV64's zext.w idiom (slli; srli).
            x, k = shl_of[ins[0]]
            op = Op("and", op.outs, [x, ctx.const((1 << (64 - k)) - 1)])
            name = "and"
        for d in op.outs:
            kill(d)
        if name == "shl" and _is_const(op.ins[1]) and op.outs[0] is not op.ins[0]:
            shl_of[op.outs[0]] = (op.ins[0], op.ins[1].value)
        if name == "mov":
            d, s = op.outs[0], op.ins[0]
            if d is s:
                continue
            # Only locals are substituted: a global read must see the global's value.
            if d.kind == Kind.LOCAL or s.kind == Kind.CONST:
                copy(d, s)
        if name in ("call",) and op.aux[0].state:
            # The helper may rewrite any global: forget what we knew about globals.
            for k in [k for k, v in copies.items()
                      if k.kind == Kind.GLOBAL or v.kind == Kind.GLOBAL]:
                copied_to[copies.pop(k)].discard(k)
        out.append(op)
    return out


def _dead_code(ops: list[Op]) -> list[Op]:
    live: set[Temp] = set()
    live_at_label: dict[int, set[Temp]] = {}
    kept: list[Op] = []
    for op in reversed(ops):
        name = op.name
        if name == "set_label":
            live_at_label[op.aux[0].id] = set(live)
        elif name == "brcond":
            live |= live_at_label.get(op.aux[1].id, set())
        outs = op.outs
        if name in SIDE_EFFECT_FREE and outs:
            for d in outs:
                if d.kind != Kind.LOCAL or d in live:
                    break
            else:
                continue  # every result is a dead local
        for d in outs:
            live.discard(d)
        for t in op.ins:
            if t.kind == Kind.LOCAL:
                live.add(t)
        kept.append(op)
    kept.reverse()
    return kept
