"""Blocks that loop on themselves in the Python backend: values computed once before
the loop (loop-invariant expressions, registers in S form) must stay what they were
for every iteration, in user mode and with the softmmu's own temporaries (system
mode) around them."""

from __future__ import annotations

import re

import pytest

from pyqemu.tcg.backends.python import codegen
from pyqemu.tcg.ir import Cond, Kind, MemOp, TCGContext, Temp

PC = 0x1000


def _loop_block() -> list:
    """r1 += mem[r2 + 16] (r2 never written: r2 + 16 is invariant) while r1 < r3
    (signed; r3 never written), then exit."""
    g = {i: Temp(Kind.GLOBAL, i, f"x{i}") for i in range(1, 5)}
    g[64] = Temp(Kind.GLOBAL, 64, "pc")
    ctx = TCGContext(g)
    ctx.emit("insn_start", [], [], PC, 4)
    addr = ctx.op2("add", g[2], ctx.const(16))
    v = ctx.new_temp()
    ctx.emit("ld", [v], [addr], MemOp(8, False))
    ctx.op2("add", g[1], v, g[1])
    ctx.emit("insn_start", [], [], PC + 4, 4)
    addr2 = ctx.op2("and", g[4], ctx.const(0xFF8))
    w = ctx.new_temp()
    ctx.emit("ld", [w], [addr2], MemOp(8, False))
    ctx.op2("add", g[4], w, g[4])
    lab = ctx.new_label()
    ctx.emit("brcond", [], [g[1], g[3]], Cond.GE, lab)
    ctx.emit("goto_tb", [], [], 0, PC)
    ctx.emit("set_label", [], [], lab)
    ctx.emit("goto_tb", [], [], 1, PC + 8)
    return ctx.ops


@pytest.mark.parametrize("softmmu", [False, True])
def test_values_computed_before_the_loop_are_not_reassigned_inside(softmmu: bool):
    info = codegen.BlockInfo(PC, 2, True, softmmu=softmmu)
    gen, _ = codegen.generate(_loop_block(), info, 0x10000, (1 << 38) - 1)
    src = gen.source
    head, body = src.split("    try:\n", 1)
    assert "while True:" in body, src
    before = set(re.findall(r"^    (\w+) = ", head, re.M))
    inside = set(re.findall(r"^\s+(\w+) = ", body.split("except BaseException")[0], re.M))
    hoisted = {n for n in before if not re.fullmatch(r"x\d+|pc|F_\w+", n)}
    assert hoisted, src  # the invariant address (and the S-form bound) are hoisted
    assert not hoisted & inside, src
