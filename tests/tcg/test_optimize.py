"""The block optimizer on small hand-built blocks: folding, copy propagation, the
localization of overwritten globals (and the barriers that stop it), dead locals."""

from __future__ import annotations

from pyqemu.tcg.ir import (
    CONST,
    GLOBAL,
    LOCAL,
    Cond,
    ExitReason,
    Kind,
    MemOp,
    TCGContext,
    Temp,
    format_ops,
)
from pyqemu.tcg.optimize import optimize

X1, X2, X3 = (Temp(Kind.GLOBAL, i, f"x{i}") for i in (1, 2, 3))


def _ctx() -> TCGContext:
    return TCGContext({1: X1, 2: X2, 3: X3})


def _ops(ctx: TCGContext) -> list[str]:
    optimize(ctx)
    return format_ops(ctx.ops).splitlines()


def test_constants_fold_through_locals():
    ctx = _ctx()
    t = ctx.op2("add", ctx.const(2), ctx.const(3))
    ctx.op2("shl", t, ctx.const(4), X1)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    assert _ops(ctx) == [" mov x1,$0x50", " exit_tb lookup"]


def test_identities_and_the_zext_idiom():
    ctx = _ctx()
    ctx.op2("add", X2, ctx.const(0), X1)  # x1 = x2
    ctx.op2("and", X2, ctx.const(0), X3)  # x3 = 0
    t = ctx.op2("shl", X2, ctx.const(32))
    ctx.op2("shr", t, ctx.const(32), X2)  # zext.w: x2 & 0xffffffff
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    assert _ops(ctx) == [" mov x1,x2", " mov x3,$0x0", " and x2,x2,$0xffffffff",
                         " exit_tb lookup"]


def test_an_overwritten_global_gets_a_local_until_a_barrier():
    ctx = _ctx()
    ctx.op2("add", X1, ctx.const(1), X1)  # first value of x1: only read below
    ctx.op2("add", X1, X2, X3)
    ctx.op2("add", X1, ctx.const(2), X1)  # overwrites it with no barrier between
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    ops = ctx.ops
    optimize(ctx)
    first, reader, second = ops[0], ops[1], ops[2]
    assert first.outs[0].kind == LOCAL and reader.ins[0] is first.outs[0]
    assert second.ins[0] is first.outs[0] and second.outs[0] is X1

    ctx = _ctx()
    ctx.op2("add", X1, ctx.const(1), X1)
    ctx.emit("ld", [X3], [X2], MemOp(8))  # may fault: x1 must be exact here
    ctx.op2("add", X1, ctx.const(2), X1)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    optimize(ctx)
    assert ctx.ops[0].outs[0] is X1 and ctx.ops[0].outs[0].kind == GLOBAL


def test_dead_locals_go_and_live_ones_stay_across_a_branch():
    ctx = _ctx()
    dead = ctx.op2("add", X1, X2)
    ctx.op2("add", dead, ctx.const(1))
    live = ctx.op2("sub", X1, X2)
    label = ctx.new_label()
    ctx.emit("brcond", [], [X3, ctx.const(0)], Cond.EQ, label)
    ctx.mov(X3, ctx.const(7))
    ctx.emit("set_label", [], [], label)
    ctx.mov(X1, live)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    names = [op.name for op in (optimize(ctx), ctx.ops)[1]]
    assert names == ["sub", "brcond", "mov", "set_label", "mov", "exit_tb"]
    assert all(t.kind != CONST or t.value == 7 or t.value == 0
               for op in ctx.ops for t in op.ins)
