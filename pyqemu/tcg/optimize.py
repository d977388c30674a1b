"""Block-local IR optimizer: constant folding, copy propagation, dead-temp elimination.

Knowledge is forward and block-local: it is dropped at every label, because a label
is a merge point of forward branches. Global writes are never removed (the state is
visible at every exit and to helpers), locals that nobody reads are.
"""

from __future__ import annotations

from collections.abc import Callable

from .ir import CONST, GLOBAL, LOCAL, MASK64, Cond, Op, TCGContext, Temp


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


_ZERO_RIGHT_IDENTITY = frozenset(("add", "or", "xor", "sub", "shl", "shr", "sar"))
_ZERO_LEFT_IDENTITY = frozenset(("add", "or", "xor"))
_ZERO_ABSORBS = frozenset(("and", "mul"))
_NOTHING: frozenset = frozenset()


_EXTS = frozenset(("ext8s", "ext16s", "ext32s", "ext8u", "ext16u", "ext32u"))


def optimize(ctx: TCGContext) -> None:
    """Rewrite ctx.ops in place."""
    ctx.ops = _dead_code(_forward(ctx, ctx.ops))


# Ops after which the architectural state must be exact: they may fault (the handler
# publishes every global), leave the block, or merge control flow.
_BARRIERS = frozenset(("ld", "st", "call", "brcond", "set_label", "goto_tb", "exit_tb",
                       "lookup_and_goto_ptr"))


def _forward(ctx: TCGContext, ops: list[Op]) -> list[Op]:
    """Constant folding and copy propagation, and, on the ops as they come out, the
    localization of overwritten globals: a global written and then written again with
    no barrier in between never has its first value observed, so that value gets a
    local temp instead, which the backend can keep in a register (native) or inline
    into an expression (Python). One pass: the cost is per op, and blocks are short
    lived."""
    copies: dict[Temp, Temp] = {}  # temp -> the const or temp it currently equals
    copied_to: dict[Temp, set[Temp]] = {}  # value -> the temps copies maps to it
    shl_of: dict[Temp, tuple[Temp, int]] = {}  # t -> (x, k) while t == x << k holds
    # (ext op, x) -> the local holding that extension of x, while both hold: RV64's W
    # shifts each zero-extend their input (srlw: ext32u; shr), and SHA-256 shifts one
    # register three times; the second and third reuse the first extension.
    ext_of: dict[tuple[str, Temp], Temp] = {}
    # Globals written since the last barrier: global -> its defining op, and the ops
    # that read that value so far.
    open_defs: dict[Temp, Op] = {}
    readers_of: dict[Temp, list[Op]] = {}
    const = ctx.const
    out: list[Op] = []
    append = out.append

    def kill(t: Temp) -> None:
        """t gets a new value: forget what it equals and what equals it."""
        v = copies.pop(t, None)
        if v is not None:
            copied_to[v].discard(t)
        ks = copied_to.pop(t, None)
        if ks:
            for k in ks:
                if copies.get(k) is t:
                    del copies[k]
        if shl_of:
            shl_of.pop(t, None)
            for k in [k for k, v in shl_of.items() if v[0] is t]:
                del shl_of[k]
        if ext_of:
            for k in [k for k, v in ext_of.items() if v is t or k[1] is t]:
                del ext_of[k]

    for op in ops:
        name = op.name
        if name == "insn_start":
            append(op)
            continue
        ins = op.ins
        outs = op.outs
        if not ins and not outs and name != "call":
            if name == "set_label":
                copies.clear()
                copied_to.clear()
                shl_of.clear()
                ext_of.clear()
            if open_defs:
                open_defs.clear()  # every other op without operands is a barrier
                readers_of.clear()
            append(op)
            continue
        if copies:
            for t in ins:
                if t in copies:  # a new list only when something is substituted
                    ins = op.ins = [copies.get(t, t) for t in ins]
                    break
        n_in = len(ins)
        if n_in == 2:
            x, y = ins
            if y.kind is CONST:
                if x.kind is CONST:
                    fold = FOLD.get(name)
                    if fold is not None:
                        op = Op("mov", outs, [const(fold(x.value, y.value))])
                        name = "mov"
                    elif name == "setcond":
                        v = int(COND_EVAL[op.aux[0]](x.value, y.value))
                        op = Op("mov", outs, [const(v)])
                        name = "mov"
                    elif name == "brcond":
                        if not COND_EVAL[op.aux[0]](x.value, y.value):
                            continue  # never taken
                        # Always taken: everything up to the label is unreachable only
                        # if nothing else jumps in between; keep it simple and leave it.
                elif y.value == 0:
                    if name in _ZERO_RIGHT_IDENTITY:
                        op = Op("mov", outs, [x])
                        name = "mov"
                    elif name in _ZERO_ABSORBS:
                        op = Op("mov", outs, [const(0)])
                        name = "mov"
                elif name == "shr" and x in shl_of and shl_of[x][1] == y.value:
                    # (x << k) >> k keeps the low 64-k bits: RV64's zext.w (slli; srli).
                    x, k = shl_of[x]
                    op = Op("and", outs, [x, const((1 << (64 - k)) - 1)])
                    name = "and"
            elif x.kind is CONST and x.value == 0 and name in _ZERO_LEFT_IDENTITY:
                op = Op("mov", outs, [y])
                name = "mov"
        elif n_in == 1 and ins[0].kind is CONST and name != "mov":
            fold = FOLD.get(name)
            if fold is not None:
                op = Op("mov", outs, [const(fold(ins[0].value))])
                name = "mov"
        elif n_in == 1 and name in _EXTS and (name, ins[0]) in ext_of:
            op = Op("mov", outs, [ext_of[(name, ins[0])]])
            name = "mov"
        for d in outs:
            if d in copies or d in copied_to or shl_of or ext_of:
                kill(d)
        ins = op.ins
        if name == "mov":
            d, src = outs[0], ins[0]
            if d is src:
                continue
            # Only locals are substituted: a global read must see the global's value.
            if d.kind is LOCAL or src.kind is CONST:
                copies[d] = src
                ks = copied_to.get(src)
                if ks is None:
                    copied_to[src] = {d}
                else:
                    ks.add(d)
        elif name == "shl":
            if ins[1].kind is CONST and outs[0] is not ins[0]:
                shl_of[outs[0]] = (ins[0], ins[1].value)
        elif name in _EXTS:
            if outs[0].kind is LOCAL and outs[0] is not ins[0] and ins[0].kind is not CONST:
                ext_of[(name, ins[0])] = outs[0]
        elif name == "call" and op.aux[0].state:
            # The helper may rewrite any global: forget what we knew about globals.
            for k in [k for k, v in copies.items()
                      if k.kind is GLOBAL or v.kind is GLOBAL]:
                copied_to[copies.pop(k)].discard(k)
            for k in [k for k in ext_of if k[1].kind is GLOBAL]:
                del ext_of[k]
        append(op)
        # Localization of overwritten globals, on the op as it comes out.
        if name in _BARRIERS:
            if open_defs:
                open_defs.clear()
                readers_of.clear()
            continue
        if open_defs:
            for t in ins:
                if t in open_defs:
                    readers = readers_of.get(t)
                    if readers is None:
                        readers_of[t] = [op]
                    else:
                        readers.append(op)
        for d in outs:
            if d.kind is not GLOBAL:
                continue
            def_op = open_defs.get(d)
            if def_op is not None:
                local = ctx.new_temp()
                def_op.outs = [local if t is d else t for t in def_op.outs]
                for r in readers_of.pop(d, ()):
                    r.ins = [local if t is d else t for t in r.ins]
            open_defs[d] = op
    return out


def _dead_code(ops: list[Op]) -> list[Op]:
    live: set[Temp] = set()
    live_at_label: dict[int, set[Temp]] = {}
    kept: list[Op] = []
    keep = kept.append
    for op in reversed(ops):
        outs = op.outs
        if op.name == "insn_start":
            keep(op)
            continue
        if outs:
            if op.name in SIDE_EFFECT_FREE:
                for d in outs:
                    if d.kind is not LOCAL or d in live:
                        break
                else:
                    continue  # every result is a dead local
            for d in outs:
                live.discard(d)
        else:
            name = op.name
            if name == "set_label":
                live_at_label[op.aux[0].id] = set(live)
            elif name == "brcond":
                live |= live_at_label.get(op.aux[1].id, _NOTHING)
        for t in op.ins:
            if t.kind is LOCAL:
                live.add(t)
        keep(op)
    kept.reverse()
    return kept
