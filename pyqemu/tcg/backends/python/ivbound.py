"""Counted loops: induction registers whose steps cannot wrap around 2**64.

A register a loop steps by a constant (``add R, R, c``) is kept in [0, 2**64) with a
compare per step, as any sum of an unbounded value (forms.canon). When the loop goes
round only while the register has not reached an invariant limit X - every back-edge
lies inside the body of a test of R against X made after the step - and R starts on
the right side of X, no step can wrap: the loop leaves before R would pass X.

* ``R != X`` with a step c > 0: R < X at each back-edge (the test saw R != X and R
  only ever moves towards X by exact steps), so R + c <= X. Entry test: R < X and
  (X - R) % c == 0. A step c < 0 mirrors it (R > X, R - |c| >= X >= 0).
* ``R < X`` unsigned with c > 0: R < X at each back-edge, so R + c < X + c. Entry test:
  R and X at most forms.SMALL (then R + c < 2**31 throughout).
* When such an R with an equality limit steps in every iteration, the loop runs at
  most T = (X - R) / c iterations, so any other register S it steps by d (once per
  iteration at most: a pointer walking an array beside the count) stays between S
  and S + T * d. Entry test: R's, and S + T * d within [0, 2**64).

The entry test is computed once before the loop (a region's member computes it at
each entry, as its other loop invariants); while it fails the step is wrapped as
before. What is found here is only a fact about values: the block generator (arith's
add) emits the step as ``R + c if <test> else <wrapped>``.
"""

from __future__ import annotations

from ...ir import Cond, Kind, Op, Temp

_MAX_STEP = 1 << 20


def bounded_steps(ops: list[Op], pc: int, invariant: set[int]
                  ) -> dict[int, tuple[Temp, Temp, int, Cond | Counted]]:
    """id(step op) -> (R, X, c, cond) for the steps of a self-loop at pc that cannot
    wrap while the entry test holds (cond: the limit's test, or Counted for a register
    stepped beside a count); invariant: the registers no iteration writes."""
    backedges = [i for i, op in enumerate(ops) if op.name == "goto_tb" and op.aux[1] == pc]
    if not backedges:
        return {}
    loop_end = backedges[-1]
    writes: dict[int, list[int]] = {}  # register -> op indexes writing it
    for i, op in enumerate(ops[:loop_end]):
        if op.name == "call" and op.aux[0].state:
            return {}  # (a helper that takes the state may write any register)
        for t in op.outs:
            if t.kind == Kind.GLOBAL:
                writes.setdefault(t.index, []).append(i)
    steps: dict[int, tuple[int, Temp, int]] = {}  # register -> (op index, R, c)
    for index, at in writes.items():
        op = ops[at[0]]
        if len(at) != 1 or op.name != "add" or op.ins[0] != op.outs[0] or \
                op.ins[1].kind != Kind.CONST:
            continue
        c = op.ins[1].value
        c = c - (1 << 64) if c >= 1 << 63 else c
        if c and abs(c) < _MAX_STEP:
            steps[index] = (at[0], op.outs[0], c)
    if not steps:
        return {}
    # The tests enclosing each back-edge: (op index of the brcond, the brcond).
    enclosing: list[list[tuple[int, Op]]] = []
    open_ifs: list[tuple[int, Op]] = []
    unconditional: set[int] = set()  # op indexes outside every "if"
    for i, op in enumerate(ops[:loop_end + 1]):
        if not open_ifs:
            unconditional.add(i)
        if op.name == "brcond":
            open_ifs.append((i, op))
        elif op.name == "set_label":
            while open_ifs and open_ifs[-1][1].aux[1].id == op.aux[0].id:
                open_ifs.pop()
        elif op.name == "goto_tb" and op.aux[1] == pc:
            enclosing.append(list(open_ifs))
    found: dict[int, tuple[Temp, Temp, int, Cond | Counted]] = {}
    for at, r, c in steps.values():
        limit = None
        for tests in enclosing:
            lim = _limit(tests, at, r, c, invariant)
            if lim is None or (limit is not None and lim != limit):
                limit = None
                break
            limit = lim
        if limit is not None:
            found[id(ops[at])] = (r, limit[0], c, limit[1])
    # A counted loop whose count register steps in every iteration and stops at equality
    # runs (X - R) / c iterations: the other registers it steps (at most once each per
    # iteration) end within that many steps of where they start.
    counters = [f for at, _, _ in steps.values() if at in unconditional and
                (f := found.get(id(ops[at]))) is not None and f[3] == Cond.EQ]
    if counters:
        r, x, c, _ = counters[0]
        for s_at, s, d in steps.values():
            if id(ops[s_at]) not in found:
                found[id(ops[s_at])] = (s, x, d, Counted(r, c))
    return found


class Counted:
    """The condition of a register stepped in a counted loop (bounded_steps): the
    loop's count register and its step."""

    __slots__ = ("counter", "step")

    def __init__(self, counter: Temp, step: int) -> None:
        self.counter = counter
        self.step = step


def _limit(tests: list[tuple[int, Op]], at: int, r: Temp, c: int, invariant: set[int]
           ) -> tuple[Temp, Cond] | None:
    """The limit (X, cond) of a test among tests, made after the step at op index at,
    whose body (where the back-edge lies) runs only while R has not reached X."""
    for i, op in tests:
        if i < at:
            continue
        cond, a, b = op.aux[0], op.ins[0], op.ins[1]
        if cond == Cond.EQ and r in (a, b):
            x = b if a == r else a
        elif cond == Cond.GEU and a == r and c > 0:
            x = b
        else:
            continue
        if x.kind == Kind.CONST or (x.kind == Kind.GLOBAL and x.index in invariant):
            return x, cond
    return None


def entry_test(r: str, x: str, c: int, cond: Cond | Counted) -> str:
    """The test, made before the loop, under which the step of r cannot wrap."""
    if isinstance(cond, Counted):
        # The count register's own test, and r's value after every iteration's step.
        n, k = cond.counter.name, cond.step
        trips = f"{entry_test(n, x, k, Cond.EQ)} and "
        if k > 0:
            end = f"{r} + ({x} - {n}) // {k} * {c}"
        else:
            end = f"{r} + ({n} - {x}) // {-k} * {c}"
        bound = f"{end} <= 0xffffffffffffffff" if c > 0 else f"{end} >= 0"
        return trips + bound
    if cond == Cond.GEU:
        return f"{r} <= 0x3fffffff and {x} <= 0x3fffffff"
    if c > 0:
        return f"{r} < {x} and not ({x} - {r}) % {c}"
    return f"{r} > {x} and not ({r} - {x}) % {-c}"
