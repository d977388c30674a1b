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

from ...ir import Helper, Kind, Op
from ...optimize import COND_EVAL, FOLD

MASK = (1 << 64) - 1
_GLOBAL, _CONST = Kind.GLOBAL, Kind.CONST
_FOLDS = FOLD
_CONDS = {int(c): f for c, f in COND_EVAL.items()}  # by number: plain data

# Op codes of the prepared program (the commonest first: the loop tests them in order).
(_FOLD2, _PC, _FOLD1, _LD, _ST, _BRCOND, _SETCOND, _MOVCOND, _CALL, _GOTO, _EXIT,
 _LOOKUP) = range(12)
# (_PC no longer appears in programs: the program's last entry, (_PC, None, starts,
# pcs), says where each guest instruction's ops begin, for a fault's pc. A third of a
# block's IR ops are instruction starts, which the loop would otherwise step through.)


def prepare(ops: list[Op], shared: dict | None = None
            ) -> tuple[list[tuple], list[int], dict[str, Helper]]:
    """A block's program for the interpreter: (program, initial slots, helpers by name).

    The program names what it uses (a fold by its op's name, a view by its runtime
    name, a condition by its number, a helper by its name) instead of holding the
    objects: so it is plain data that marshal can keep across runs (the persistent
    cache), and the interpreter looks the names up as it goes, which costs less than
    binding them here, as most ops of a cold block run only a few times.

    shared: equal instructions of all blocks made one object (marshal then writes a
    repeat as a reference: the cache file is a third smaller and loads twice as fast).
    """
    # An operand is one int: ~index (negative) for a global, else a slot of the list
    # that holds locals and constants (constants preset). Preparing a block costs
    # about what running it does (most blocks run a few times only): it is one pass
    # with no per-operand calls.
    slots: dict[object, int] = {}  # local Temp or constant value (as ("c", v)) -> slot
    labels: dict[int, int] = {}
    helpers: dict[str, Helper] = {}
    prog: list[tuple] = []
    emit = prog.append
    starts: list[int] = []
    pcs: list[int] = []
    for op in ops:
        n = op.name
        if n == "insn_start":
            starts.append(len(prog))
            pcs.append(op.aux[0])
            continue
        if n == "set_label":
            labels[op.aux[0].id] = len(prog)
            continue
        ins = []
        for t in op.ins:
            k = t.kind
            if k == _GLOBAL:
                ins.append(~t.index)
                continue
            key = ("c", t.value) if k == _CONST else t
            s = slots.get(key)
            if s is None:
                s = slots[key] = len(slots)
            ins.append(s)
        outs = []
        for t in op.outs:
            if t.kind == _GLOBAL:
                outs.append(~t.index)
                continue
            s = slots.get(t)
            if s is None:
                s = slots[t] = len(slots)
            outs.append(s)
        if n in _FOLDS:
            emit((_FOLD2 if len(ins) == 2 else _FOLD1, outs[0], tuple(ins), n))
        elif n == "ld":
            mo = op.aux[0]
            view = ("s" if mo.signed else "m") + str(mo.size * 8)
            emit((_LD, outs[0], tuple(ins), (view, mo.size, int(mo.signed))))
        elif n == "st":
            mo = op.aux[0]
            emit((_ST, None, tuple(ins), (f"m{mo.size * 8}", mo.size)))
        elif n == "brcond":
            emit((_BRCOND, op.aux[1].id, tuple(ins), int(op.aux[0])))
        elif n == "setcond":
            emit((_SETCOND, outs[0], tuple(ins), int(op.aux[0])))
        elif n == "movcond":
            emit((_MOVCOND, outs[0], tuple(ins), int(op.aux[0])))
        elif n == "call":
            h = op.aux[0]
            helpers[h.name] = h
            emit((_CALL, tuple(outs), tuple(ins), h.name))
        elif n == "goto_tb":
            emit((_GOTO, None, (), op.aux[0]))
        elif n == "exit_tb":
            emit((_EXIT, None, (), int(op.aux[0])))
        elif n == "lookup_and_goto_ptr":
            emit((_LOOKUP, None, (), None))
        else:
            raise NotImplementedError(n)
    # Branch targets as program indices (labels are forward: resolved after the pass).
    prog = [(c, labels[o], i, x) if c == _BRCOND else (c, o, i, x) for c, o, i, x in prog]
    if shared is not None:
        get = shared.setdefault
        prog = [get(t, t) for t in ((c, o, get(i, i), x) for c, o, i, x in prog)]
    prog.append((_PC, None, tuple(starts), tuple(pcs)))
    init = [0] * len(slots)
    for key, k in slots.items():
        if isinstance(key, tuple):
            init[k] = key[1]
    return prog, init, helpers


SEEN_MAX = 4  # indirect-jump targets recorded per block


def make_interpreter(ops: list[Op], pc: int, ns: dict, jumps: list, low: int, hmask: int,
                     pc_index: int) -> Callable:
    """A block function that interprets ops (see interpreter)."""
    return interpreter(*prepare(ops), pc, ns, jumps, low, hmask, pc_index)


def interpreter(prog: list[tuple], init: list[int], helpers: dict[str, Helper],
                pc: int, ns: dict, jumps: list, low: int, hmask: int,
                pc_index: int, seen: set | None = None) -> Callable:
    """A block function that interprets a prepared program. ns: the runtime names
    generated code uses (views m8.., s8.., ld_slow, st_slow, EXIT, LOOKUP). seen: the
    targets of the block's indirect jump are added to it (a few: regions follow them)."""
    ld_slow, st_slow = ns["ld_slow"], ns["st_slow"]
    exits, lookup = ns["EXIT"], ns["LOOKUP"]
    folds, conds = _FOLDS, _CONDS
    end = len(prog) - 1
    starts, pcs = prog[end][2], prog[end][3]

    def insn_pc(i: int) -> int:
        """The guest pc of the instruction whose ops include op i."""
        k = 0
        while k + 1 < len(starts) and starts[k + 1] <= i:
            k += 1
        return pcs[k] if pcs else pc

    def interpret(q):
        r = init[:]
        i = 0
        try:
            while i < end:
                code, out, ins, x = prog[i]
                i += 1
                if code == _FOLD2:
                    a, b = ins
                    res = folds[x](q[~a] if a < 0 else r[a], q[~b] if b < 0 else r[b])
                    if out < 0:
                        q[~out] = res
                    else:
                        r[out] = res
                    continue
                if code == _FOLD1:
                    a = ins[0]
                    res = folds[x](q[~a] if a < 0 else r[a])
                elif code == _BRCOND:
                    a, b = ins
                    if conds[x](q[~a] if a < 0 else r[a], q[~b] if b < 0 else r[b]):
                        i = out
                    continue
                elif code == _LD:
                    a = ins[0]
                    vname, size, signed = x
                    view = ns[vname]
                    h = ((q[~a] if a < 0 else r[a]) - low) & hmask
                    if size == 1:
                        res = view[h]
                    elif h & (size - 1):
                        res = ld_slow(h, size, signed)
                    else:
                        res = view[h >> (size.bit_length() - 1)]
                    res &= MASK
                elif code == _ST:
                    a, b = ins
                    vname, size = x
                    view = ns[vname]
                    h = ((q[~b] if b < 0 else r[b]) - low) & hmask
                    v = (q[~a] if a < 0 else r[a]) & ((1 << (size * 8)) - 1)
                    if size == 1:
                        view[h] = v
                    elif h & (size - 1):
                        st_slow(h, size, v)
                    else:
                        view[h >> (size.bit_length() - 1)] = v
                    continue
                elif code == _SETCOND:
                    a, b = ins
                    res = 1 if conds[x](q[~a] if a < 0 else r[a], q[~b] if b < 0 else r[b]) else 0
                elif code == _MOVCOND:
                    a, b, c, d = ins
                    if conds[x](q[~a] if a < 0 else r[a], q[~b] if b < 0 else r[b]):
                        res = q[~c] if c < 0 else r[c]
                    else:
                        res = q[~d] if d < 0 else r[d]
                elif code == _CALL:
                    vals = [q[~v] if v < 0 else r[v] for v in ins]
                    h = helpers[x]
                    if h.state:
                        vals.insert(0, q)
                    res = h.func(*vals)
                    if not out:
                        continue
                    if len(out) == 1:
                        res = (res,)
                    for o, val in zip(out, res, strict=True):
                        if o < 0:
                            q[~o] = val
                        else:
                            r[o] = val
                    continue
                elif code == _GOTO:
                    return jumps[x]
                elif code == _EXIT:
                    return exits[x]
                else:
                    if seen is not None and len(seen) < SEEN_MAX:
                        seen.add(q[pc_index])
                    return lookup(q)
                if out < 0:
                    q[~out] = res
                else:
                    r[out] = res
        except BaseException:
            q[pc_index] = insn_pc(i - 1)
            raise
        raise RuntimeError(f"block {pc:#x} ran off its end")

    return interpret
