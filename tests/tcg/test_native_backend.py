"""Backend conformance for the native x86-64 backend: the same random IR as the Python
backend's conformance test, checked against the reference semantics, and extra cases
for what only a register-allocating backend can get wrong (register pressure, values
live across branches and helper calls, faults, exits)."""

from __future__ import annotations

import platform

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from native_harness import NativeRunner
from test_python_backend import MEM_BASE, N_REGS, build, op_strategy, reference, values

from pyqemu.tcg.backends.x86_64 import regs as R
from pyqemu.tcg.ir import MASK64, Cond, ExitReason, Helper, Kind, MemOp, TCGContext, Temp
from pyqemu.tcg.optimize import optimize

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the native backend generates x86-64 code")


_RUNNER: list = []


def _runner() -> NativeRunner:
    if not _RUNNER:
        _RUNNER.append(NativeRunner(64, MEM_BASE))
    return _RUNNER[0]


@settings(max_examples=1500, deadline=None)
@given(st.lists(op_strategy, min_size=1, max_size=16), st.lists(values, min_size=N_REGS,
                                                               max_size=N_REGS),
       st.booleans(), st.booleans(), st.binary(min_size=64, max_size=64))
@example([("brcond", 0, 1, 2, Cond.EQ, False, 0, 5), ("ext32s", 0, 1, 0, Cond.EQ, False, 0, 0)],
         [1, 0x80000000, 3, 4, 5, 6], True, False, bytes(64))
@example([("ld", 3, 0, 0, Cond.EQ, False, 6, 8), ("st", 0, 3, 0, Cond.EQ, False, 3, 16)],
         [1, 2, 3, 4, 5, 6], True, True, bytes([0xFF] * 64))
@example([("mulsuh", 0, 1, 2, Cond.EQ, False, 0, 0)], [MASK64, 3, 5, 0, 0, 0], False, False,
         bytes(64))
def test_random_ir_matches_reference(program, regs, use_const, opt, data):
    ctx = build(program, use_const)
    if opt:
        optimize(ctx)
    mem = bytearray(data)
    got, code = _runner().run(ctx.ops, regs, mem)
    ref_mem = bytearray(data)
    assert (got, mem) == (reference(program, regs, use_const, ref_mem), ref_mem)
    assert code & 0xFF == R.EXIT_TB


def _ctx(n_globals: int = 8) -> tuple[TCGContext, dict[int, Temp]]:
    g = {i: Temp(Kind.GLOBAL, i, f"r{i}") for i in range(n_globals)}
    g[64] = Temp(Kind.GLOBAL, 64, "pc")
    return TCGContext(g), g


@given(st.lists(values, min_size=8, max_size=8), st.integers(10, 40))
@settings(max_examples=200, deadline=None)
def test_register_pressure_spills(regs, n):
    """More live locals than host registers: values go to stack slots and come back."""
    ctx, g = _ctx()
    temps = []
    for k in range(n):
        t = ctx.op2("add", g[k % 8], ctx.const(k * 0x1234567))
        temps.append(t)
    acc = temps[0]
    for k, t in enumerate(temps[1:], 1):
        acc = ctx.op2("xor" if k % 2 else "sub", acc, t)
    ctx.mov(g[0], acc)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    got, _ = _runner().run(ctx.ops, regs, bytearray(64))
    ts = [(regs[k % 8] + k * 0x1234567) & MASK64 for k in range(n)]
    want = ts[0]
    for k, t in enumerate(ts[1:], 1):
        want = (want ^ t) if k % 2 else (want - t) & MASK64
    assert got[0] == want
    assert got[1:] == regs[1:]


CALLS: list = []


def _helper3(a: int, b: int, c: int) -> int:
    CALLS.append((a, b, c))
    return (a * 3 + b - c) & MASK64


def _helper_pair(a: int) -> tuple[int, int]:
    return a + 1, a ^ 0xFF


H3 = Helper("h3", _helper3, 1)
HPAIR = Helper("pair", _helper_pair, 2)


@given(st.lists(values, min_size=8, max_size=8))
@settings(max_examples=100, deadline=None)
def test_values_survive_helper_calls(regs):
    """Locals live across a call are saved from the caller-saved registers."""
    ctx, g = _ctx()
    live = [ctx.op2("add", g[k], ctx.const(k + 1)) for k in range(8)]
    (r,) = ctx.call(H3, [g[1], g[2], live[3]])
    a, b = ctx.call(HPAIR, [r])
    acc = ctx.op2("add", a, b)
    for t in live:
        acc = ctx.op2("add", acc, t)
    ctx.mov(g[0], acc)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    got, _ = _runner().run(ctx.ops, regs, bytearray(64))
    rr = (regs[1] * 3 + regs[2] - (regs[3] + 4)) & MASK64
    want = ((rr + 1) + (rr ^ 0xFF)) & MASK64
    for k in range(8):
        want = (want + regs[k] + k + 1) & MASK64
    assert got[0] == want


def _raise(a: int) -> int:
    raise ValueError("guest exception")


def test_helper_exception_leaves_through_the_raised_exit():
    ctx, g = _ctx()
    ctx.emit("insn_start", [], [], 0x2000, 4)
    ctx.mov(g[1], ctx.const(7))
    ctx.emit("insn_start", [], [], 0x2004, 4)
    ctx.call(Helper("boom", _raise, 1, can_raise=True), [g[0]])
    ctx.mov(g[2], ctx.const(9))
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    r = _runner()
    got, code = r.run(ctx.ops, [1, 2, 3], bytearray(64))
    assert code & 0xFF == R.EXIT_RAISED
    assert got == [1, 7, 3]  # the write before the call happened, the one after did not
    assert r.q[64] == 0x2004
    env = next(iter(r.states))
    assert isinstance(r.helpers.pending.pop(env), ValueError)


@pytest.mark.parametrize("addr", [0, MEM_BASE - 1, MEM_BASE + 4096, MEM_BASE + 4089, MASK64,
                                  1 << 40])
def test_access_outside_guest_memory_takes_the_fault_exit(addr):
    """The harness maps one page (native_harness.py): an access that starts past it, or
    that starts in its last bytes and runs past it, leaves through the fault exit."""
    ctx, g = _ctx()
    ctx.emit("insn_start", [], [], 0x3000, 4)
    t = ctx.new_temp()
    ctx.emit("ld", [t], [g[0]], MemOp(8))
    ctx.mov(g[1], t)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    r = _runner()
    got, code = r.run(ctx.ops, [addr, 5], bytearray(64))
    assert code & 0xFF == R.EXIT_FAULT and got[1] == 5 and r.q[64] == 0x3000


def test_access_in_the_last_bytes_of_a_page_runs():
    """An aligned access in a page's last bytes runs (its successor, which refuses it,
    is not looked at)."""
    ctx, g = _ctx()
    ctx.emit("insn_start", [], [], 0x3000, 4)
    t = ctx.new_temp()
    ctx.emit("ld", [t], [g[0]], MemOp(8))
    ctx.mov(g[1], t)
    ctx.emit("st", [], [g[2], g[0]], MemOp(8))
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    r = _runner()
    got, code = r.run(ctx.ops, [MEM_BASE + 4088, 5, 0x1122334455667788], bytearray(64))
    assert code & 0xFF == R.EXIT_TB and got[1] == 0
    assert bytes(r.mem)[4088:4096] == (0x1122334455667788).to_bytes(8, "little")


def test_direct_exits_name_their_slot():
    ctx, g = _ctx()
    lab = ctx.new_label()
    ctx.emit("brcond", [], [g[0], ctx.const(0)], Cond.EQ, lab)
    ctx.emit("goto_tb", [], [], 0, 0x4000)
    ctx.emit("set_label", [], [], lab)
    ctx.emit("goto_tb", [], [], 1, 0x5000)
    r = _runner()
    assert r.run(ctx.ops, [1], bytearray(64))[1] & 0xFF == 0
    assert r.run(ctx.ops, [0], bytearray(64))[1] & 0xFF == 1


# ---------------------------------------------------------------- floating point inline
def _fp_values(double: bool):
    import struct

    if double:
        specials = [0.0, -0.0, 1.0, -1.5, 1e308, -1e308, 5e-324, 2.2250738585072014e-308,
                    float("inf"), float("-inf"), 3.0, 0.1]
        pats = [struct.unpack("<Q", struct.pack("<d", v))[0] for v in specials]
        pats += [0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000123]
        return st.one_of(st.sampled_from(pats), st.integers(0, MASK64),
                         st.floats(allow_nan=False).map(
                             lambda f: struct.unpack("<Q", struct.pack("<d", f))[0]))
    specials = [0.0, -0.0, 1.0, -1.5, 3.4e38, 1e-45, 1.1754943508222875e-38,
                float("inf"), 3.0, 0.1]
    pats = [0xFFFFFFFF00000000 | struct.unpack("<I", struct.pack("<f", v))[0] for v in specials]
    pats += [0xFFFFFFFF7FC00000, 0xFFFFFFFF7F800001, 0x000000003F800000]
    return st.one_of(st.sampled_from(pats), st.integers(0, 0xFFFFFFFF).map(
        lambda v: 0xFFFFFFFF00000000 | v), st.floats(width=32, allow_nan=False).map(
        lambda f: 0xFFFFFFFF00000000 | struct.unpack("<I", struct.pack("<f", f))[0]))


FP_OPS = [f"{op}_{p}" for op in ("fadd", "fsub", "fmul", "fdiv", "fsqrt") for p in "sd"]
FP_CMPS = [f"{op}_{p}" for op in ("feq", "flt", "fle") for p in "sd"]


@pytest.mark.parametrize("name", FP_CMPS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_inline_fp_compares_match_the_helpers(name, data):
    from pyqemu.target.riscv import fpu
    from pyqemu.target.riscv.trans_rvf import _helper

    double = name.endswith("_d")
    x = data.draw(_fp_values(double))
    y = data.draw(st.one_of(_fp_values(double), st.just(x)))
    ctx, g = _ctx()
    r, flags = ctx.call(_helper(name), [g[0], g[1]])
    ctx.mov(g[2], r)
    ctx.mov(g[3], flags)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    got, _ = _runner().run(ctx.ops, [x, y, 9, 9], bytearray(64))
    want = getattr(fpu, name)(x, y)
    assert (got[2], got[3]) == (want[0] & MASK64, want[1]), (hex(x), hex(y))


@pytest.mark.parametrize("name", FP_OPS)
@settings(max_examples=300, deadline=None)
@given(data=st.data(), rm=st.integers(0, 4), dynamic=st.booleans())
def test_inline_fp_matches_the_helpers(name, data, rm, dynamic):
    from pyqemu.target.riscv import fpu
    from pyqemu.target.riscv.trans_rvf import _helper

    double = name.endswith("_d")
    x = data.draw(_fp_values(double))
    y = data.draw(_fp_values(double))
    unary = name.startswith("fsqrt")
    ctx, g = _ctx()
    args = [g[0]] if unary else [g[0], g[1]]
    r, flags = ctx.call(_helper(name), args + [g[4] if dynamic else ctx.const(rm)])
    ctx.mov(g[2], r)
    ctx.mov(g[3], flags)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    got, _ = _runner().run(ctx.ops, [x, y, 0, 0, rm], bytearray(64))
    fn = getattr(fpu, name)
    want = fn(x, rm) if unary else fn(x, y, rm)
    assert (got[2], got[3]) == (want[0] & MASK64, want[1]), (hex(x), hex(y), rm)


def test_reserved_frm_is_illegal():
    from pyqemu.target.riscv.trans_rvf import CHECK_FRM

    ctx, g = _ctx()
    ctx.emit("insn_start", [], [], 0x6000, 4)
    ctx.call(CHECK_FRM, [g[4]])
    ctx.mov(g[0], ctx.const(1))
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    r = _runner()
    got, code = r.run(ctx.ops, [0, 0, 0, 0, 5], bytearray(64))
    assert code & 0xFF == R.EXIT_TB and r.q[72] == ExitReason.ILLEGAL and got[0] == 0
    assert r.q[64] == 0x6000
    got, code = r.run(ctx.ops, [0, 0, 0, 0, 4], bytearray(64))
    assert r.q[72] == ExitReason.LOOKUP and got[0] == 1


DIV_NAMES = ["div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw"]
div_values = st.one_of(st.integers(0, MASK64), st.sampled_from(
    [0, 1, MASK64, 1 << 63, (1 << 63) - 1, 0x80000000, 0xFFFFFFFF, 0x7FFFFFFF,
     0xFFFFFFFF80000000, 2, 3, 0x100000000]))


@pytest.mark.parametrize("name", DIV_NAMES)
@settings(max_examples=300, deadline=None)
@given(x=div_values, y=div_values, local=st.booleans())
def test_inline_division_matches_the_helpers(name, x, y, local):
    from pyqemu.target.riscv import helpers

    ctx, g = _ctx()
    h = helpers.DIV[name]
    a = ctx.op1("mov", g[0]) if local else g[0]
    (r,) = ctx.call(h, [a, g[1]])
    ctx.mov(g[2], r)
    ctx.emit("exit_tb", [], [], ExitReason.LOOKUP)
    got, _ = _runner().run(ctx.ops, [x, y, 0], bytearray(64))
    assert got == [x, y, h.func(x, y) & MASK64]
