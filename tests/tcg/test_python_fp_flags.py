"""The inline FP fast path's precondition in the Python backend (fpinline.py): it holds
while fflags has NX and the rounding mode is RNE, and the block keeps that test in a
variable. A write to fflags or frm between two operations must make the second
operation test afresh: here the block clears fflags between two inexact additions, so
the second must take the helper and set NX again."""

from __future__ import annotations

import struct

import pytest
from pystate import state_words

from pyqemu.target.riscv.fpu_double import fadd_d
from pyqemu.tcg.backends.python import codegen
from pyqemu.tcg.backends.python.runtime import ExitRequest
from pyqemu.tcg.ir import Cond, Helper, Kind, TCGContext, Temp

FFLAGS, FRM = 65, 66
PC = 0x1000
NX = 1


def _bits(d: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", d))[0]


def _block(between: str) -> list:
    """f3 = f1 + f2; <between>; f4 = f1 + f2 (both inexact). "skip first": the first
    addition is inside an "if" that does not run (its test variable is not made)."""
    g = {i: Temp(Kind.GLOBAL, i, f"f{i}") for i in range(1, 5)}
    g[FFLAGS] = Temp(Kind.GLOBAL, FFLAGS, "fflags")
    g[FRM] = Temp(Kind.GLOBAL, FRM, "frm")
    g[64] = Temp(Kind.GLOBAL, 64, "pc")
    ctx = TCGContext(g)
    add = Helper("fadd_d", fadd_d, 2)
    lab = ctx.new_label()
    if between == "skip first":
        ctx.emit("brcond", [], [g[FRM], ctx.const(0)], Cond.EQ, lab)
    for k, dst in enumerate((3, 4)):
        ctx.emit("insn_start", [], [], PC + 4 * k, 4)
        if k == 1 and between == "skip first":
            ctx.emit("set_label", [], [], lab)
        if k == 1 and between == "clear fflags":
            ctx.mov(g[FFLAGS], ctx.const(0))
        if k == 1 and between == "set frm":
            ctx.mov(g[FRM], ctx.const(1))
        fl = ctx.new_temp()
        ctx.emit("call", [g[dst], fl], [g[1], g[2], g[FRM]], add)
        ctx.op2("or", g[FFLAGS], fl, g[FFLAGS])
    ctx.emit("exit_tb", [], [], 0)
    return ctx.ops


@pytest.mark.parametrize("between", ["nothing", "clear fflags", "set frm", "skip first"])
def test_flags_and_rounding_mode_written_between_two_operations(between: str):
    info = codegen.BlockInfo(PC, 0, False, float_views=True)
    gen, helpers = codegen.generate(_block(between), info, 0x10000, (1 << 38) - 1)
    q = state_words([0] * 80)
    a, b = 1.0, 3 * 2.0 ** -54  # inexact: RNE rounds up, RTZ down
    q[1], q[2], q[FFLAGS] = _bits(a), _bits(b), NX
    ns = {"EXIT": ["exit"], "J": [], "__builtins__": ExitRequest().builtins, "LINE_PC": gen.line_pc,
          "LINE_FO": gen.line_fo, "WB": gen.writeback, "FAULT": codegen.fault,
          **codegen.RUNTIME, **helpers}
    exec(compile(gen.source, "<test>", "exec"), ns)
    assert ns[f"tb_{PC:x}"](q) == "exit", gen.source
    want4, flags4 = fadd_d(_bits(a), _bits(b), 1 if between == "set frm" else 0)
    assert q[4] == want4, gen.source
    assert q[FFLAGS] == NX | flags4, gen.source
    assert gen.source.count("fok") >= 2, gen.source  # the test is kept in a variable
