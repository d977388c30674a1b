"""The peeled first iteration of a self-loop in the Python backend (codegen.peeled_loop).

Random loops of RV64 "W"-style operations (a sum or shift sign-extended from 32 bits),
copies between registers, 64-bit operations and conditionally skipped steps, entered
with full 64-bit register values: the compiled block (first iteration peeled off, the
loop proper assuming the registers its back-edges leave sign-extended) must leave the
registers the IR interpreter leaves, after all iterations and after one (an exit
request). Plus a C program against qemu-riscv64: such loops in inline assembly, a
SHA-like loop under a timer signal, and a fault in either part of a peeled loop with
the registers the signal handler sees."""

from __future__ import annotations

import re
from pathlib import Path

from guestlib import build_guest, run_both
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pystate import state_words

from pyqemu.tcg.backends.python import codegen
from pyqemu.tcg.backends.python.interp import make_interpreter
from pyqemu.tcg.backends.python.runtime import ExitRequest
from pyqemu.tcg.ir import Cond, Kind, TCGContext, Temp
from pyqemu.tcg.optimize import optimize

PC = 0x1000
N = 6  # registers r0..r5; r6 counts the iterations down
COUNT = 6
PC_INDEX = 64
MASK64 = (1 << 64) - 1

reg = st.integers(0, N - 1)
step = st.one_of(
    st.tuples(st.just("addw"), reg, reg, reg),
    st.tuples(st.just("subw"), reg, reg, reg),
    st.tuples(st.just("sllw"), reg, reg, st.integers(0, 31)),
    st.tuples(st.just("sraw"), reg, reg, st.integers(0, 31)),
    st.tuples(st.just("sextw"), reg, reg, st.just(0)),
    st.tuples(st.just("mov"), reg, reg, st.just(0)),
    st.tuples(st.just("add"), reg, reg, reg),
    st.tuples(st.just("xor"), reg, reg, reg),
    # What hashing code does to W values (held zero-extended in the loop: zform.py).
    st.tuples(st.just("and"), reg, reg, reg),
    st.tuples(st.just("or"), reg, reg, reg),
    st.tuples(st.just("srlw"), reg, reg, st.integers(0, 31)),
    st.tuples(st.just("not"), reg, reg, st.just(0)),
    st.tuples(st.just("andi"), reg, reg, st.sampled_from([1, 0x7FF, -16, -1])),
    st.tuples(st.just("slli"), reg, reg, st.integers(0, 63)),
    st.tuples(st.just("if"), reg, st.integers(1, 3), st.just(0)),
    # Constants added (U + c and ext32s of a register plus c compare before they mask).
    st.tuples(st.just("addiw"), reg, reg, st.integers(-2048, 2047)),
    st.tuples(st.just("addi"), reg, reg, st.sampled_from([-2048, -1, 1, 8, 2047])),
)
value = st.one_of(st.integers(0, MASK64), st.sampled_from(
    [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x8000000000000000, 0xFFFFFFFF80000000,
     MASK64]))


def build(program: list[tuple]) -> list:
    g = {i: Temp(Kind.GLOBAL, i, f"r{i}") for i in range(COUNT + 1)}
    g[PC_INDEX] = Temp(Kind.GLOBAL, PC_INDEX, "pc")
    ctx = TCGContext(g)
    open_until: list[tuple[int, object]] = []  # (step index where it ends, label)
    for i, (name, d, a, b) in enumerate(program):
        while open_until and open_until[-1][0] <= i:
            ctx.emit("set_label", [], [], open_until.pop()[1])
        ctx.emit("insn_start", [], [], PC + 4 * i, 4)
        if name == "if":
            # Skip the next a steps when r_d is odd (nested inside any open skip).
            lab = ctx.new_label()
            end = min(i + 1 + a, open_until[-1][0] if open_until else len(program))
            bit = ctx.op2("and", g[d], ctx.const(1))
            ctx.emit("brcond", [], [bit, ctx.const(0)], Cond.NE, lab)
            open_until.append((end, lab))
        elif name in ("addw", "subw", "sllw", "sraw"):
            if name == "sraw":
                t = ctx.op1("ext32s", g[a])
                t = ctx.op2("sar", t, ctx.const(b))
            else:
                t = ctx.op2({"addw": "add", "subw": "sub", "sllw": "shl"}[name], g[a],
                            ctx.const(b) if name == "sllw" else g[b])
            ctx.op1("ext32s", t, g[d])
        elif name == "srlw":
            t = ctx.op2("shr", ctx.op1("ext32u", g[a]), ctx.const(b))
            ctx.op1("ext32s", t, g[d])
        elif name == "not":
            ctx.op2("xor", g[a], ctx.const(MASK64), g[d])
        elif name == "andi":
            ctx.op2("and", g[a], ctx.const(b & MASK64), g[d])
        elif name == "sextw":
            ctx.op1("ext32s", g[a], g[d])
        elif name == "mov":
            ctx.op1("mov", g[a], g[d])
        elif name == "slli":
            ctx.op2("shl", g[a], ctx.const(b), g[d])
        elif name in ("addiw", "addi"):
            c = ctx.const(b & MASK64)
            if name == "addi":
                ctx.op2("add", g[a], c, g[d])
            else:
                ctx.op1("ext32s", ctx.op2("add", g[a], c), g[d])
        else:
            ctx.op2(name, g[a], g[b], g[d])
    while open_until:
        ctx.emit("set_label", [], [], open_until.pop()[1])
    ctx.emit("insn_start", [], [], PC + 4 * len(program), 4)
    ctx.op2("sub", g[COUNT], ctx.const(1), g[COUNT])
    done = ctx.new_label()
    ctx.emit("brcond", [], [g[COUNT], ctx.const(0)], Cond.EQ, done)
    ctx.emit("goto_tb", [], [], 0, PC)
    ctx.emit("set_label", [], [], done)
    ctx.emit("goto_tb", [], [], 1, PC + 0x100)
    optimize(ctx)
    return ctx.ops


def _ns() -> dict:
    return {"EXIT": ["exit"], "LOOKUP": lambda q: "lookup", "ld_slow": None, "st_slow": None}


def compiled(ops: list, q, exit_request: int) -> tuple[object, str]:
    gen, helpers = codegen.generate(ops, codegen.BlockInfo(PC, 2, True), 0x10000,
                                    (1 << 38) - 1)
    ns = {**_ns(), "J": ["again", "out"], "__builtins__": ExitRequest(exit_request).builtins, "LINE_PC": gen.line_pc,
          "LINE_FO": gen.line_fo, "WB": gen.writeback, "FAULT": codegen.fault,
          **codegen.RUNTIME, **helpers}
    exec(compile(gen.source, "<test>", "exec"), ns)
    return ns[f"tb_{PC:x}"](q), gen.source


def interpreted(ops: list, q, iterations: int) -> object:
    jumps: list = ["again", "out"]
    fn = make_interpreter(ops, PC, _ns(), jumps, 0x10000, (1 << 38) - 1, PC_INDEX)
    for _ in range(iterations):
        r = fn(q)
        if r != "again":
            return r
    return r


def _state(regs: list[int], n: int):
    return state_words(list(regs) + [n] + [0] * 80)


# A rotation through registers as SHA-256's rounds make it (peeled: registers 0..2
# enter as 64-bit values and leave every iteration sign-extended).
@example([("mov", 3, 0, 0), ("addw", 0, 1, 2), ("sraw", 1, 3, 3), ("sextw", 2, 3, 0)],
         [0x123456789ABCDEF0, 0xFEDCBA9876543210, 0x7FFFFFFFFF, 0, 0, 0], 5)
# Wrapping past 0 and 2**64 with constants; addiw of values at the 32-bit edges.
@example([("addi", 0, 0, -1), ("addi", 1, 1, 1), ("addiw", 2, 2, 1), ("addiw", 3, 3, -1)],
         [0, MASK64, 0x7FFFFFFF, 0xFFFFFFFF80000000, 0, 0], 3)
# A register sign-extended on one path only.
@example([("if", 2, 1, 0), ("addw", 0, 0, 1), ("slli", 4, 0, 13), ("sextw", 5, 0, 0),
          ("xor", 1, 1, 5)], [0xDEADBEEFCAFEBABE, 0x1234567890, 3, 0, 0, 0], 7)
@settings(max_examples=400, deadline=None)
@given(st.lists(step, min_size=1, max_size=10), st.lists(value, min_size=N, max_size=N),
       st.integers(1, 6))
def test_peeled_loop_matches_interpreter(program, regs, n):
    ops = build(program)
    q_ref, q = _state(regs, n), _state(regs, n)
    assert interpreted(ops, q_ref, n) == "out"
    out, src = compiled(ops, q, 0)
    assert out == "out", src
    assert list(q[:N + 1]) == list(q_ref[:N + 1]), src
    # An exit request: one iteration (the peeled one, when there is one), then J[0].
    q_ref, q = _state(regs, n + 1), _state(regs, n + 1)
    assert interpreted(ops, q_ref, 1) == "again"
    out, src = compiled(ops, q, 1)
    assert out == "again", src
    assert list(q[:N + 1]) == list(q_ref[:N + 1]), src


def test_sha_like_rotation_is_peeled_and_its_loop_has_no_extensions():
    ops = build([("mov", 3, 0, 0), ("addw", 0, 1, 2), ("sraw", 1, 3, 3),
                 ("sextw", 2, 3, 0), ("addw", 4, 4, 0)])
    _, src = compiled(ops, _state([1, 2, 3, 4, 5, 6], 3), 0)
    peel, loop = src.split("        while True:\n")[1:]
    assert "break" in peel, src
    # The loop proper holds the rotated W values zero-extended (zform.py): a W result
    # costs one mask there, where the peeled iteration sign-extends in three steps.
    def sign_extends(text):
        return re.search(r"\+ 0x80000000\) & 0xffffffff\) - 0x80000000", text)
    assert sign_extends(peel) and not sign_extends(loop), src
    assert re.search(r"^ *r0 = \(r1 \+ r2\) & 0xffffffff$", loop, re.M), src


def test_sha_round_holds_its_words_zero_extended():
    """SHA-256's round functions on W values: rotations (srlw | sllw), and, xor, not
    and addw. The loop proper keeps every word in [0, 2**32): no sign extension, no
    conversion for the logical shifts."""
    ops = build([("srlw", 4, 0, 6), ("sllw", 5, 0, 26), ("or", 4, 4, 5),
                 ("and", 5, 0, 1), ("not", 3, 0, 0), ("and", 3, 3, 2), ("xor", 5, 5, 3),
                 ("addw", 5, 5, 4), ("mov", 2, 1, 0), ("mov", 1, 0, 0), ("addw", 0, 5, 0)])
    regs = [0x6A09E667, 0xFFFFFFFFBB67AE85, 0x3C6EF372, 0, 0, 0]
    q_ref, q = _state(regs, 5), _state(regs, 5)
    assert interpreted(ops, q_ref, 5) == "out"
    out, src = compiled(ops, q, 0)
    assert out == "out" and list(q[:N + 1]) == list(q_ref[:N + 1]), src
    body = src.split("        while True:\n")[2].split("if not XR")[0]
    assert "0x80000000" not in body, src
    assert "0x100000000 " not in body, src  # (no zero extension: it is the value)


def test_peeled_loops_same_as_qemu(tmp_path: Path):
    binary = build_guest(Path(__file__).parent / "peel_loops.c", "static")
    ref_dir, our_dir = tmp_path / "ref", tmp_path / "ours"
    ref_dir.mkdir()
    our_dir.mkdir()
    ref, ours = run_both(binary, [], ref_dir, our_dir, dynamic=False, backend="python")
    assert ours.stdout.decode() == ref.stdout.decode()
    assert ours.returncode == ref.returncode == 0
    assert "fault stop=100" in ref.stdout.decode()
