"""An IR interpreter for cold blocks (user mode): the first executions of a block.

Most blocks of a program run a handful of times (C library start-up, I/O paths), and
generating and compiling Python source costs about as much as running a block a
hundred times this way. So a new block is first interpreted, and compiled by the
backend only once it has run often enough (accel/tcg/tb_cache.py decides when).

An interpreted block follows the generated code's contract exactly: ``fn(q) ->
next function`` with the same exits (jump slots J, EXIT, LOOKUP). Globals are read
from and written to the state buffer as the ops go, which is what generated code's
write-back amounts to at every point where the state can be observed (exits, helpers
that take the state, faults); a fault stores the faulting instruction's pc and
re-raises, as the generated code's handler does. Pure ops use the optimizer's
reference semantics (tcg/optimize.FOLD), the ones the backend is tested against.
"""

from __future__ import annotations

from collections.abc import Callable

from ...ir import Kind, Op, Temp
from ...optimize import COND_EVAL, FOLD

MASK = (1 << 64) - 1

# Op codes of the prepared program (the commonest first: the loop tests them in order).
(_FOLD2, _PC, _FOLD1, _LD, _ST, _BRCOND, _SETCOND, _MOVCOND, _CALL, _GOTO, _EXIT,
 _LOOKUP) = range(12)


def make_interpreter(ops: list[Op], pc: int, ns: dict, jumps: list, low: int,
                     hmask: int, pc_index: int) -> Callable:
    """A block function that interprets ops. ns: the runtime names generated code
    uses (views m8.., s8.., ld_slow, st_slow, EXIT, LOOKUP)."""
    # An operand is (1, state index) for a global, else (0, slot): locals and
    # constants live in one list, constants preset.
    slots: dict[object, int] = {}  # local Temp or ("const", value) -> slot

    def arg(t: Temp) -> tuple[int, int]:
        if t.kind == Kind.GLOBAL:
            return 1, t.index
        key = ("const", t.value) if t.kind == Kind.CONST else t
        return 0, slots.setdefault(key, len(slots))

    labels: dict[int, int] = {}
    prog: list[tuple] = []
    for op in ops:
        n = op.name
        if n == "set_label":
            labels[op.aux[0].id] = len(prog)
            continue
        ins = tuple(arg(t) for t in op.ins)
        outs = tuple(arg(t) for t in op.outs)
        if n in FOLD:
            prog.append((_FOLD2 if len(ins) == 2 else _FOLD1, outs[0], ins, FOLD[n]))
        elif n == "setcond":
            prog.append((_SETCOND, outs[0], ins, COND_EVAL[op.aux[0]]))
        elif n == "movcond":
            prog.append((_MOVCOND, outs[0], ins, COND_EVAL[op.aux[0]]))
        elif n == "brcond":
            prog.append((_BRCOND, op.aux[1].id, ins, COND_EVAL[op.aux[0]]))
        elif n == "ld":
            mo = op.aux[0]
            view = ns[("s" if mo.signed else "m") + str(mo.size * 8)]
            prog.append((_LD, outs[0], ins, (view, mo.size, int(mo.signed))))
        elif n == "st":
            mo = op.aux[0]
            prog.append((_ST, None, ins, (ns[f"m{mo.size * 8}"], mo.size)))
        elif n == "call":
            prog.append((_CALL, outs, ins, op.aux[0]))
        elif n == "insn_start":
            prog.append((_PC, None, (), op.aux[0]))
        elif n == "goto_tb":
            prog.append((_GOTO, None, (), op.aux[0]))
        elif n == "exit_tb":
            prog.append((_EXIT, None, (), int(op.aux[0])))
        elif n == "lookup_and_goto_ptr":
            prog.append((_LOOKUP, None, (), None))
        else:
            raise NotImplementedError(n)
    # Branch targets as program indices (labels are forward: resolved after the pass).
    prog = [(c, labels[o], i, x) if c == _BRCOND else (c, o, i, x) for c, o, i, x in prog]
    init = [0] * len(slots)
    for key, k in slots.items():
        if isinstance(key, tuple):
            init[k] = key[1]
    ld_slow, st_slow = ns["ld_slow"], ns["st_slow"]
    exits, lookup = ns["EXIT"], ns["LOOKUP"]
    end = len(prog)

    def interpret(q):
        r = init[:]
        cur = pc
        i = 0
        try:
            while i < end:
                code, out, ins, x = prog[i]
                i += 1
                if code == _FOLD2:
                    (ka, va), (kb, vb) = ins
                    res = x(q[va] if ka else r[va], q[vb] if kb else r[vb])
                    ko, vo = out
                    if ko:
                        q[vo] = res
                    else:
                        r[vo] = res
                    continue
                if code == _PC:
                    cur = x
                    continue
                vals = [q[v] if k else r[v] for k, v in ins]
                if code == _FOLD1:
                    res = x(vals[0])
                elif code == _BRCOND:
                    if x(vals[0], vals[1]):
                        i = out
                    continue
                elif code == _LD:
                    view, size, signed = x
                    h = (vals[0] - low) & hmask
                    if size == 1:
                        res = view[h]
                    elif h & (size - 1):
                        res = ld_slow(h, size, signed)
                    else:
                        res = view[h >> (size.bit_length() - 1)]
                    res &= MASK
                elif code == _ST:
                    view, size = x
                    h = (vals[1] - low) & hmask
                    v = vals[0] & ((1 << (size * 8)) - 1)
                    if size == 1:
                        view[h] = v
                    elif h & (size - 1):
                        st_slow(h, size, v)
                    else:
                        view[h >> (size.bit_length() - 1)] = v
                    continue
                elif code == _SETCOND:
                    res = 1 if x(vals[0], vals[1]) else 0
                elif code == _MOVCOND:
                    res = vals[2] if x(vals[0], vals[1]) else vals[3]
                elif code == _CALL:
                    if x.state:
                        vals.insert(0, q)
                    res = x.func(*vals)
                    if not out:
                        continue
                    if len(out) == 1:
                        res = (res,)
                    for (k, v), val in zip(out, res, strict=True):
                        if k:
                            q[v] = val
                        else:
                            r[v] = val
                    continue
                elif code == _GOTO:
                    return jumps[x]
                elif code == _EXIT:
                    return exits[x]
                else:
                    return lookup(q)
                k, v = out
                if k:
                    q[v] = res
                else:
                    r[v] = res
        except BaseException:
            q[pc_index] = cur
            raise
        raise RuntimeError(f"block {pc:#x} ran off its end")

    return interpret
