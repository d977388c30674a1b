"""Counted loops in the Python backend (ivbound.py): the step of an induction register
is written without its wrap test while a test made before the loop says it cannot
wrap. Loops stepping a register by c until it equals (or, unsigned, reaches) a limit,
entered with values on both sides of the limit, near 2**64 and not a whole number of
steps away, must leave the registers the IR interpreter leaves."""

from __future__ import annotations

import threading

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pystate import state_words

from pyqemu.tcg.backends.python import codegen
from pyqemu.tcg.backends.python.interp import make_interpreter
from pyqemu.tcg.backends.python.ivbound import bounded_steps
from pyqemu.tcg.backends.python.runtime import ExitRequest
from pyqemu.tcg.ir import Cond, Kind, TCGContext, Temp
from pyqemu.tcg.optimize import optimize

PC = 0x1000
PC_INDEX = 64
MASK64 = (1 << 64) - 1
MAX_ITERATIONS = 60


def build(c: int, cond: Cond, limit_const: int | None = None, d: int = 0) -> list:
    """r0 += c; r1 += r0; r3 += d when d (when r1 is odd if d is odd); loop while not
    cond(r0, limit) (limit: r2, or a constant)."""
    g = {i: Temp(Kind.GLOBAL, i, f"r{i}") for i in range(4)}
    g[PC_INDEX] = Temp(Kind.GLOBAL, PC_INDEX, "pc")
    ctx = TCGContext(g)
    ctx.emit("insn_start", [], [], PC, 4)
    ctx.op2("add", g[0], ctx.const(c & MASK64), g[0])
    ctx.emit("insn_start", [], [], PC + 4, 4)
    ctx.op2("add", g[1], g[0], g[1])
    if d:
        skip = ctx.new_label()
        if d % 2:  # (a step not made in every iteration)
            ctx.emit("brcond", [], [ctx.op2("and", g[1], ctx.const(1)), ctx.const(0)],
                     Cond.EQ, skip)
        ctx.op2("add", g[3], ctx.const(d & MASK64), g[3])
        ctx.emit("set_label", [], [], skip)
    ctx.emit("insn_start", [], [], PC + 8, 4)
    done = ctx.new_label()
    limit = g[2] if limit_const is None else ctx.const(limit_const)
    ctx.emit("brcond", [], [g[0], limit], cond, done)
    ctx.emit("goto_tb", [], [], 0, PC)
    ctx.emit("set_label", [], [], done)
    ctx.emit("goto_tb", [], [], 1, PC + 12)
    optimize(ctx)
    return ctx.ops


def _ns() -> dict:
    return {"EXIT": ["exit"], "LOOKUP": lambda q: "lookup", "ld_slow": None, "st_slow": None}


def compiled(ops: list, q) -> tuple[object, str]:
    """The compiled block run to its exit; a loop that runs on (a step that passed its
    limit) is stopped by an exit request after a few seconds and returns "again"."""
    gen, helpers = codegen.generate(ops, codegen.BlockInfo(PC, 2, True), 0x10000,
                                    (1 << 38) - 1)
    xr = ExitRequest(0)
    ns = {**_ns(), "J": ["again", "out"], "__builtins__": xr.builtins,
          "LINE_PC": gen.line_pc, "LINE_FO": gen.line_fo, "WB": gen.writeback,
          "FAULT": codegen.fault, **codegen.RUNTIME, **helpers}
    exec(compile(gen.source, "<test>", "exec"), ns)
    watchdog = threading.Timer(3.0, xr.__setitem__, (0, 1))
    watchdog.start()
    try:
        return ns[f"tb_{PC:x}"](q), gen.source
    finally:
        watchdog.cancel()


def interpreted(ops: list, q) -> int:
    """The number of iterations the loop makes (the state is left in q)."""
    fn = make_interpreter(ops, PC, _ns(), ["again", "out"], 0x10000, (1 << 38) - 1,
                          PC_INDEX)
    for n in range(1, MAX_ITERATIONS + 1):
        if fn(q) == "out":
            return n
    return 0  # (runs on: not a case the compiled loop can be compared on)


def _check(c: int, cond: Cond, r0: int, r1: int, r2: int, d: int = 0, r3: int = 0) -> None:
    ops = build(c, cond, d=d)
    regs = [r0, r1, r2, r3] + [0] * 80
    q_ref, q = state_words(regs), state_words(regs)
    if not interpreted(ops, q_ref):
        return
    out, src = compiled(ops, q)
    assert "if lv" in src, src  # (the step is the guarded one)
    assert src.count("if lv") == (2 if d and cond == Cond.EQ else 1), src
    assert out == "out", src
    assert list(q[:4]) == list(q_ref[:4]), src


step = st.sampled_from([1, 2, 4, 8, 56, 1000, -1, -4, -8])
value = st.one_of(st.integers(0, MASK64), st.integers(0, 1000),
                  st.integers(MASK64 - 1000, MASK64), st.integers(0x3FFFFF00, 0x40000100))


@example(2, MASK64 - 3, 0, 5)           # wraps past 2**64 to reach the limit
@example(-4, 8, 0, MASK64 - 3)          # wraps below 0 to reach the limit
@example(2, 0x3FFFFFFE, 0, 0x40000010)  # crosses SMALL on the way
@example(8, 0, 0, 64)
@settings(max_examples=300, deadline=None)
@given(step, value, value, st.integers(1, MAX_ITERATIONS))
def test_step_until_equal_matches_interpreter(c, r0, r1, k):
    """A limit a whole number of steps away (possibly across 2**64 or 0)."""
    _check(c, Cond.EQ, r0, r1, (r0 + k * c) & MASK64)


@example(2, 4, 10, 8, MASK64 - 15)      # the other register reaches 2**64 - 1 exactly
@example(2, 4, 10, 8, MASK64 - 14)      # ... and passes it: its test fails
@example(2, 4, 10, -8, 40)              # steps down to 0 exactly
@example(1, 0, 30, -3, 40)              # steps down (every other iteration) past 0
@settings(max_examples=300, deadline=None)
@given(step, value, st.integers(1, MAX_ITERATIONS), st.sampled_from([1, 3, 8, -1, -8, -5]),
       value)
def test_register_stepped_beside_a_count_matches_interpreter(c, r0, k, d, r3):
    """Another register stepped in a loop counted by r0 (it may wrap only when the
    entry test says it may)."""
    _check(c, Cond.EQ, r0, 0, (r0 + k * c) & MASK64, d, r3)


@example(2, MASK64 - 1, 0, 10)          # wraps to small values below the limit
@example(8, 0x3FFFFFF0, 0, 0x40000040)  # limit above SMALL: the entry test fails
@example(4, 5, 0, 0)                    # starts at the limit: one step, then out
@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2, 4, 8, 1000]), value, value, value)
def test_step_while_below_matches_interpreter(c, r0, r1, r2):
    """Unsigned r0 < limit keeps the loop going."""
    _check(c, Cond.GEU, r0, r1, r2)


@pytest.mark.parametrize("cond", [Cond.NE, Cond.LT, Cond.LTU])
def test_other_exit_tests_keep_the_wrapped_step(cond):
    """A loop that goes round while r0 == limit, or leaves when r0 < limit, may step
    past any limit: its step stays wrapped."""
    assert not bounded_steps(build(4, cond), PC, {2})


def test_a_constant_limit_counts():
    ops = build(1, Cond.EQ, limit_const=100)
    assert list(bounded_steps(ops, PC, set()).values())[0][1].value == 100
    q_ref, q = state_words([3, 0, 0] + [0] * 80), state_words([3, 0, 0] + [0] * 80)
    assert interpreted(ops, q_ref) == 0 or True  # (97 iterations: past the cap)
    out, src = compiled(ops, q)
    assert out == "out" and q[0] == 100 and q[1] == sum(range(4, 101)), src


def build_indexed(base_first: bool, mask: int) -> list:
    """r1 = r2 + ((r0 & mask) << 3) (or the sum the other way round), r3 += r1;
    r0 += 1 until r0 == r4: an array's base (r2, never written) plus a bounded index."""
    g = {i: Temp(Kind.GLOBAL, i, f"r{i}") for i in range(5)}
    g[PC_INDEX] = Temp(Kind.GLOBAL, PC_INDEX, "pc")
    ctx = TCGContext(g)
    ctx.emit("insn_start", [], [], PC, 4)
    idx = ctx.op2("shl", ctx.op2("and", g[0], ctx.const(mask)), ctx.const(3))
    ctx.op2("add", *((g[2], idx) if base_first else (idx, g[2])), g[1])
    ctx.emit("insn_start", [], [], PC + 4, 4)
    ctx.op2("add", g[3], g[1], g[3])
    ctx.op2("add", g[0], ctx.const(1), g[0])
    done = ctx.new_label()
    ctx.emit("brcond", [], [g[0], g[4]], Cond.EQ, done)
    ctx.emit("goto_tb", [], [], 0, PC)
    ctx.emit("set_label", [], [], done)
    ctx.emit("goto_tb", [], [], 1, PC + 8)
    optimize(ctx)
    return ctx.ops


@example(True, 0xFF, 0, MASK64 - 8, 0, 5)       # the base near 2**64: the sum wraps
@example(False, 0xFF, 250, 0x3FFFFFFF, 0, 10)   # the base at SMALL
@example(True, (1 << 62) - 1, 5, 0x10000, MASK64, 3)  # an index too wide for the test
@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.sampled_from([0xFF, 0xFFFF, (1 << 62) - 1]), value, value, value,
       st.integers(1, MAX_ITERATIONS))
def test_base_plus_index_matches_interpreter(base_first, mask, r0, r2, r3, k):
    """A sum of a register the loop keeps and a bounded index is written as it is only
    while the register passed its test before the loop."""
    ops = build_indexed(base_first, mask)
    regs = [r0, 0, r2, r3, (r0 + k) & MASK64] + [0] * 80
    q_ref, q = state_words(regs), state_words(regs)
    assert interpreted(ops, q_ref)
    out, src = compiled(ops, q)
    assert out == "out", src
    assert list(q[:5]) == list(q_ref[:5]), src
