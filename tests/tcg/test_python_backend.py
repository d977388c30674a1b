"""Backend conformance: random IR through the Python backend must compute what the
reference semantics (tcg/optimize.FOLD, COND_EVAL) say, with and without the optimizer.
The native backend will have to pass the same tests."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyqemu.tcg.backends.python import codegen
from pyqemu.tcg.ir import MASK64, Cond, Kind, TCGContext, Temp
from pyqemu.tcg.optimize import COND_EVAL, FOLD, optimize

BINOPS = ["add", "sub", "mul", "and", "or", "xor", "andc", "orc", "eqv", "mulsh", "muluh",
          "mulsuh"]
SHIFTS = ["shl", "shr", "sar", "rotl", "rotr"]
UNOPS = ["neg", "not", "ext8s", "ext16s", "ext32s", "ext8u", "ext16u", "ext32u", "clz", "ctz",
         "ctpop", "bswap64"]
N_REGS = 6
values = st.one_of(st.integers(0, MASK64), st.sampled_from(
    [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 63, MASK64, MASK64 - 1]))
op_strategy = st.tuples(st.sampled_from(BINOPS + SHIFTS + UNOPS + ["setcond", "movcond"]),
                        st.integers(0, N_REGS - 1), st.integers(0, N_REGS - 1),
                        st.integers(0, N_REGS - 1), st.sampled_from(list(Cond)),
                        st.booleans(), st.integers(0, 63), st.integers(0, MASK64))


def build(program, use_const):
    g = {i: Temp(Kind.GLOBAL, i, f"r{i}") for i in range(N_REGS)}
    g[64] = Temp(Kind.GLOBAL, 64, "pc")
    ctx = TCGContext(g)
    for name, d, a, b, cond, via_local, sh, k in program:
        dst = ctx.new_temp() if via_local else g[d]
        bt = ctx.const(k) if use_const else g[b]
        if name in BINOPS:
            ctx.op2(name, g[a], bt, dst)
        elif name in SHIFTS:
            ctx.op2(name, g[a], ctx.const(sh), dst)
        elif name in UNOPS:
            ctx.op1(name, g[a], dst)
        elif name == "setcond":
            ctx.emit("setcond", [dst], [g[a], bt], cond)
        else:
            ctx.emit("movcond", [dst], [g[a], bt, g[b], g[a]], cond)
        if via_local:
            ctx.mov(g[d], dst)
    ctx.emit("exit_tb", [], [], 0)
    return ctx


def reference(program, regs, use_const):
    r = list(regs)
    for name, d, a, b, cond, _via_local, sh, k in program:
        bv = k if use_const else r[b]
        if name in BINOPS:
            v = FOLD[name](r[a], bv)
        elif name in SHIFTS:
            v = FOLD[name](r[a], sh)
        elif name in UNOPS:
            v = FOLD[name](r[a])
        elif name == "setcond":
            v = int(COND_EVAL[cond](r[a], bv))
        else:
            v = r[b] if COND_EVAL[cond](r[a], bv) else r[a]
        r[d] = v
    return r


def run(ctx, regs):
    info = codegen.BlockInfo(0x1000, 0, False)
    gen, helpers = codegen.generate(ctx.ops, info, 0x10000, (1 << 38) - 1)
    q = list(regs) + [0] * 80
    ns = {"EXIT": [lambda q: None], "rotl": FOLD["rotl"], "rotr": FOLD["rotr"],
          "ctz": FOLD["ctz"], "bswap64": FOLD["bswap64"], "J": [], "LINE_PC": gen.line_pc,
          **helpers}
    exec(compile(gen.source, "<test>", "exec"), ns)
    ns["tb_1000"](q)
    return q[:N_REGS], gen.source


@settings(max_examples=300, deadline=None)
@given(st.lists(op_strategy, min_size=1, max_size=12), st.lists(values, min_size=N_REGS,
                                                               max_size=N_REGS),
       st.booleans(), st.booleans())
def test_random_ir_matches_reference(program, regs, use_const, opt):
    ctx = build(program, use_const)
    if opt:
        optimize(ctx)
    got, src = run(ctx, regs)
    assert got == reference(program, regs, use_const), src
