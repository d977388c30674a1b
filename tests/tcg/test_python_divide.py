"""Inline division in the Python backend (tcg/backends/python/intdiv.py): every M
extension div/rem form, on corner values (division by zero, the signed overflow,
operands of each sign, 32-bit values with junk in the upper half), with its operands
in each of the generator's value forms (a register as loaded, a sign-extended W
result, an unmasked sum), must give what the frontend's helpers give."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pystate import state_words

from pyqemu.target.riscv import helpers
from pyqemu.tcg.backends.python import codegen
from pyqemu.tcg.backends.python.runtime import ExitRequest
from pyqemu.tcg.ir import Kind, TCGContext, Temp

M64 = (1 << 64) - 1
CORNERS = [0, 1, 2, 3, 7, M64, M64 - 1, M64 - 6, 1 << 63, (1 << 63) - 1, (1 << 63) + 1,
           0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF80000000, 0x1FFFFFFFF,
           0x123456789ABCDEF0, 0xFFFFFFFF00000000, 0x100000000, 0x8000000080000000]
FORMS = ["reg", "w", "sum"]


def _operand(ctx: TCGContext, r: Temp, form: str) -> Temp:
    if form == "w":  # a W result: S form, small (the register holds a sext32 value)
        return ctx.op1("ext32s", r)
    if form == "sum":  # an L value: r + 1 - 1, left unmasked
        return ctx.op2("sub", ctx.op2("add", r, ctx.const(1)), ctx.const(1))
    return r


@functools.cache
def _block(name: str, fa: str, fb: str):
    """The compiled block x3 = name(x1, x2) with the operands in forms fa, fb."""
    g = {i: Temp(Kind.GLOBAL, i, f"x{i}") for i in range(1, 4)}
    ctx = TCGContext(g)
    ctx.emit("insn_start", [], [], 0x1000, 4)
    (r,) = ctx.call(helpers.DIV[name], [_operand(ctx, g[1], fa), _operand(ctx, g[2], fb)])
    ctx.mov(g[3], r)
    ctx.emit("exit_tb", [], [], 0)
    gen, hs = codegen.generate(ctx.ops, codegen.BlockInfo(0x1000, 0, False), 0x10000,
                               (1 << 38) - 1)
    assert "H_" not in gen.source, gen.source  # inline, no helper call
    ns = {"EXIT": ["exit"], "J": [], "__builtins__": ExitRequest().builtins, "LINE_PC": gen.line_pc,
          "LINE_FO": gen.line_fo, "WB": gen.writeback, "FAULT": codegen.fault,
          **codegen.RUNTIME, **hs}
    exec(compile(gen.source, "<test>", "exec"), ns)
    return ns["tb_1000"]


def run_divide(name: str, a: int, b: int, fa: str, fb: str) -> int:
    q = state_words([0, a, b, 0] + [0] * 80)
    assert _block(name, fa, fb)(q) == "exit"
    return q[3]


def _expected(name: str, a: int, b: int, fa: str, fb: str) -> int:
    # A "w" operand is the register sign-extended from 32 bits first.
    a = helpers._s32(a) & M64 if fa == "w" else a
    b = helpers._s32(b) & M64 if fb == "w" else b
    return helpers.DIV[name].func(a, b)


@pytest.mark.parametrize("name", sorted(helpers.DIV))
def test_corner_values(name: str):
    for fa in FORMS:
        for fb in FORMS:
            for a in CORNERS:
                for b in CORNERS:
                    got = run_divide(name, a, b, fa, fb)
                    assert got == _expected(name, a, b, fa, fb), (name, hex(a), hex(b), fa, fb)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(helpers.DIV)), st.integers(0, M64),
       st.one_of(st.integers(0, M64), st.integers(0, 0xFFFF), st.sampled_from(CORNERS)),
       st.sampled_from(FORMS), st.sampled_from(FORMS))
def test_random_values(name: str, a: int, b: int, fa: str, fb: str):
    assert run_divide(name, a, b, fa, fb) == _expected(name, a, b, fa, fb)
