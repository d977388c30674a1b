"""Guest accesses off a base register in the Python backend (memory.py's base groups):
several accesses off one register value share one computed index, which must be made
afresh when the register changes, not be used past the end of the "if" it was made
in, fall back to the general path for a misaligned or too low register, and fault
(IndexError) where the general path would."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pystate import state_words

from pyqemu.tcg.backends.python import codegen
from pyqemu.tcg.backends.python.runtime import ExitRequest
from pyqemu.tcg.ir import MASK64, Cond, Helper, Kind, MemOp, TCGContext, Temp

LOW = 0x10000  # guest address of host offset 0 (the test memory's start)
HMASK = (1 << 38) - 1
MEM = 512
PC = 0x1000
N_REGS = 6
BASES = (1, 2)  # registers that hold addresses
DATA = (0, 3, 4, 5)  # registers loaded into and stored from

item = st.one_of(
    st.tuples(st.just("ld"), st.sampled_from(BASES), st.integers(-16, 48),
              st.sampled_from([1, 2, 4, 8]), st.booleans(), st.sampled_from(DATA)),
    st.tuples(st.just("st"), st.sampled_from(BASES), st.integers(-16, 48),
              st.sampled_from([1, 2, 4, 8]), st.booleans(), st.sampled_from(DATA)),
    st.tuples(st.just("set"), st.sampled_from(BASES), st.integers(16, 96)),
    st.tuples(st.just("add"), st.sampled_from(BASES), st.integers(0, 16)),
    st.tuples(st.just("if"), st.sampled_from(DATA), st.integers(0, 3)),
    st.tuples(st.just("copy"), st.sampled_from(BASES), st.sampled_from(BASES),
              st.integers(0, 16)),
)


def _aligned(program):
    """Make most offsets multiples of their size (the grouped case); keep some odd."""
    out = []
    for k, it in enumerate(program):
        if it[0] in ("ld", "st") and k % 4:
            it = (it[0], it[1], it[2] - it[2] % it[3], *it[3:])
        out.append(it)
    return out


def _memop(size: int, signed: bool) -> MemOp:
    # (RV64 has no sign-extending 64-bit load: a signed 8-byte MemOp is not generated.)
    return MemOp(size, signed and size < 8)


def build(program) -> TCGContext:
    g = {i: Temp(Kind.GLOBAL, i, f"x{i}") for i in range(N_REGS)}
    g[64] = Temp(Kind.GLOBAL, 64, "pc")
    ctx = TCGContext(g)
    open_labels: list = []  # (index of the last item inside, label), innermost last
    for pos, it in enumerate(program):
        while open_labels and open_labels[-1][0] < pos:
            ctx.emit("set_label", [], [], open_labels.pop()[1])
        ctx.emit("insn_start", [], [], PC + 4 * pos, 4)
        name = it[0]
        if name in ("ld", "st"):
            _, b, off, size, signed, r = it
            addr = ctx.op2("add", g[b], ctx.const(off & MASK64)) if off else g[b]
            if name == "ld":
                ctx.emit("ld", [g[r]], [addr], _memop(size, signed))
            else:
                ctx.emit("st", [], [g[r], addr], MemOp(size))
        elif name == "set":
            ctx.mov(g[it[1]], ctx.const(LOW + it[2]))
        elif name == "add":
            ctx.op2("add", g[it[1]], ctx.const(it[2]), g[it[1]])
        elif name == "copy":
            ctx.op2("add", g[it[2]], ctx.const(it[3]), g[it[1]])
        else:
            end = min(pos + it[2], open_labels[-1][0] if open_labels else len(program) - 1)
            lab = ctx.new_label()
            ctx.emit("brcond", [], [g[it[1]], ctx.const(0x80)], Cond.LTU, lab)
            open_labels.append((end, lab))
    while open_labels:
        ctx.emit("set_label", [], [], open_labels.pop()[1])
    ctx.emit("exit_tb", [], [], 0)
    return ctx


def reference(program, regs, mem):
    r = list(regs)
    skip_to = -1
    labels: list[int] = []
    for pos, it in enumerate(program):
        while labels and labels[-1] < pos:
            labels.pop()
        if pos <= skip_to:
            continue
        name = it[0]
        if name in ("ld", "st"):
            _, b, off, size, signed, d = it
            h = r[b] + off - LOW
            if name == "ld":
                r[d] = int.from_bytes(mem[h:h + size], "little", signed=signed and size < 8) \
                    & MASK64
            else:
                mem[h:h + size] = (r[d] & ((1 << 8 * size) - 1)).to_bytes(size, "little")
        elif name == "set":
            r[it[1]] = LOW + it[2]
        elif name == "add":
            r[it[1]] = (r[it[1]] + it[2]) & MASK64
        elif name == "copy":
            r[it[1]] = (r[it[2]] + it[3]) & MASK64
        else:
            end = min(pos + it[2], labels[-1] if labels else len(program) - 1)
            labels.append(end)
            if r[it[1]] < 0x80:
                skip_to = end
    return r


def run(ops, regs, mem: bytearray, info=None):
    info = info or codegen.BlockInfo(PC, 2, False)
    gen, helpers = codegen.generate(ops, info, LOW, HMASK)
    q = state_words(list(regs) + [0] * 80)
    m8 = memoryview(mem)

    def ld_slow(h, size, signed):
        if h + size > len(m8):
            raise IndexError("past the end")
        return int.from_bytes(m8[h:h + size], "little", signed=bool(signed))

    def st_slow(h, size, value):
        if h + size > len(m8):
            raise IndexError("past the end")
        m8[h:h + size] = value.to_bytes(size, "little")

    ns = {"EXIT": [lambda q: "exit"], "J": [lambda q: "j0", lambda q: "j1"], "__builtins__": ExitRequest().builtins,
          "LINE_PC": gen.line_pc, "LINE_FO": gen.line_fo, "WB": gen.writeback,
          "FAULT": codegen.fault, "ld_slow": ld_slow, "st_slow": st_slow, **helpers}
    for bits in (8, 16, 32, 64):
        ns[f"m{bits}"] = m8.cast("BHIQ"[(bits // 8).bit_length() - 1])
        ns[f"s{bits}"] = m8.cast("bhiq"[(bits // 8).bit_length() - 1])
    exec(compile(gen.source, "<test>", "exec"), ns)
    ns[f"tb_{PC:x}"](q)
    return list(q[:N_REGS]), gen.source


@settings(max_examples=600, deadline=None)
@given(st.lists(item, min_size=1, max_size=16),
       st.lists(st.integers(0, 0xFF), min_size=len(DATA), max_size=len(DATA)),
       st.tuples(st.integers(16, 96), st.integers(16, 96)),
       st.binary(min_size=MEM, max_size=MEM))
# Two accesses share a base; the register changes; two more must use the new value.
@example([("ld", 1, 0, 8, False, 3), ("ld", 1, 8, 8, False, 4), ("add", 1, 8),
          ("ld", 1, 0, 8, False, 5), ("st", 1, 8, 8, False, 3)], [0, 0, 0, 0], (16, 32),
         bytes(range(256)) * 2)
# A base made inside an "if" that did not run must not be used after it.
@example([("if", 0, 1), ("ld", 1, 0, 4, True, 3), ("ld", 1, 4, 4, True, 4),
          ("ld", 1, 8, 4, True, 5), ("ld", 1, 12, 4, True, 0)], [0, 0, 0, 0], (17, 32),
         bytes(range(256)) * 2)
# A register set from another inside an "if" that did not run: its accesses are not
# off the other register after the "if".
@example([("if", 0, 1), ("copy", 2, 1, 8), ("ld", 2, 0, 8, False, 3), ("ld", 2, 8, 8, False, 4),
          ("ld", 1, 0, 8, False, 5)], [0, 0, 0, 0], (16, 64), bytes(range(256)) * 2)
# ... nor after the other register changed.
@example([("copy", 2, 1, 8), ("add", 1, 16), ("ld", 2, 0, 8, False, 3),
          ("ld", 2, 8, 8, False, 4)], [0, 0, 0, 0], (16, 64), bytes(range(256)) * 2)
def test_accesses_off_registers_match_reference(program, data, bases, mem):
    program = _aligned(program)
    regs = [0] * N_REGS
    for r, v in zip(DATA, data, strict=True):
        regs[r] = v
    regs[1], regs[2] = LOW + bases[0], LOW + bases[1]
    got_mem, ref_mem = bytearray(mem), bytearray(mem)
    got, src = run(build(program).ops, regs, got_mem)
    assert (got, got_mem) == (reference(program, regs, ref_mem), ref_mem), src


def _frame_block(base_reg_value: int) -> tuple[list, list[int]]:
    """Four loads off x1 (a base group) summed into x3."""
    prog = [("ld", 1, 8 * k, 8, False, 3 + (k & 1)) for k in range(4)]
    regs = [0] * N_REGS
    regs[1] = base_reg_value
    return build(prog).ops, regs


def test_grouped_accesses_share_one_base():
    ops, regs = _frame_block(LOW + 64)
    _, src = run(ops, regs, bytearray(MEM))
    assert src.count(" is not None") == 4 and src.count(">> 3 if") == 1, src


@pytest.mark.parametrize("value", [8, LOW - 8, LOW + MEM - 16, 1 << 63])
def test_a_base_outside_the_space_faults(value: int):
    """Below the space (NULL + small offsets), past its end, and negative as a signed
    value: IndexError, the guest fault, and the faulting instruction's pc."""
    ops, regs = _frame_block(value)
    with pytest.raises(IndexError):
        run(ops, regs, bytearray(MEM))


def test_a_misaligned_base_takes_the_general_path():
    mem = bytearray(range(256)) * 2
    ops, regs = _frame_block(LOW + 3)
    got, src = run(ops, regs, mem)
    want = [int.from_bytes(mem[3 + 8 * k:11 + 8 * k], "little") for k in range(4)]
    assert got[3:5] == [want[2], want[3]], src


def test_a_loop_keeps_the_base_of_a_register_it_never_writes():
    """A self-loop: x1 never written (its base is made before the loop), x2 advances
    by 8 each iteration; x0 counts down. mem[x1] += mem[x2] for each x2."""
    g = {i: Temp(Kind.GLOBAL, i, f"x{i}") for i in range(N_REGS)}
    g[64] = Temp(Kind.GLOBAL, 64, "pc")
    ctx = TCGContext(g)
    ctx.emit("insn_start", [], [], PC, 4)
    a = ctx.new_temp()
    ctx.emit("ld", [a], [g[1]], MemOp(8, False))
    b = ctx.new_temp()
    ctx.emit("ld", [b], [g[2]], MemOp(8, False))
    s = ctx.op2("add", a, b)
    ctx.emit("st", [], [s, g[1]], MemOp(8))
    ctx.emit("ld", [g[3]], [ctx.op2("add", g[1], ctx.const(8))], MemOp(8, False))
    ctx.op2("add", g[2], ctx.const(8), g[2])
    ctx.op2("sub", g[0], ctx.const(1), g[0])
    lab = ctx.new_label()
    ctx.emit("brcond", [], [g[0], ctx.const(0)], Cond.EQ, lab)
    ctx.emit("goto_tb", [], [], 0, PC)
    ctx.emit("set_label", [], [], lab)
    ctx.emit("goto_tb", [], [], 1, PC + 4)
    mem = bytearray(MEM)
    for k in range(10):
        mem[64 + 8 * k] = k + 1
    regs = [5, LOW + 16, LOW + 64, 0, 0, 0]
    got, src = run(ctx.ops, regs, mem, codegen.BlockInfo(PC, 2, True))
    assert "k1 = " in src.split("try:")[0], src
    assert int.from_bytes(mem[16:24], "little") == 1 + 2 + 3 + 4 + 5, src
    assert got[2] == LOW + 64 + 40 and got[0] == 0, src


def test_a_helper_that_takes_the_state_ends_a_group():
    """Two loads off x1, a helper that moves x1 in the state buffer, two more loads."""
    def bump(q):
        q[1] += 16

    g = {i: Temp(Kind.GLOBAL, i, f"x{i}") for i in range(N_REGS)}
    g[64] = Temp(Kind.GLOBAL, 64, "pc")
    ctx = TCGContext(g)
    ctx.emit("insn_start", [], [], PC, 4)
    for k, r in enumerate((3, 4)):
        ctx.emit("ld", [g[r]], [ctx.op2("add", g[1], ctx.const(8 * k))], MemOp(8, False))
    ctx.emit("call", [], [], Helper("bump", bump, 0, state=True))
    for k, r in enumerate((5, 0)):
        ctx.emit("ld", [g[r]], [ctx.op2("add", g[1], ctx.const(8 * k))], MemOp(8, False))
    ctx.emit("exit_tb", [], [], 0)
    mem = bytearray(MEM)
    for k in range(8):
        mem[8 * k] = k + 1
    got, src = run(ctx.ops, [0, LOW, 0, 0, 0, 0], mem)
    assert got[3:6] + got[:1] == [1, 2, 3, 4], src


LOOP_DATA = (0, 3, 4)  # x5 counts the iterations
loop_item = st.one_of(
    st.tuples(st.just("ld"), st.sampled_from(BASES), st.sampled_from([-16, -8, 0, 8, 16, 24]),
              st.sampled_from([1, 4, 8]), st.booleans(), st.sampled_from(LOOP_DATA)),
    st.tuples(st.just("st"), st.sampled_from(BASES), st.sampled_from([-16, -8, 0, 8, 16, 24]),
              st.sampled_from([1, 4, 8]), st.booleans(), st.sampled_from(LOOP_DATA)),
    st.tuples(st.just("add"), st.sampled_from(BASES), st.sampled_from([-16, -8, 8, 24])),
    st.tuples(st.just("set"), st.sampled_from(BASES), st.sampled_from([16, 64, 128])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(loop_item, min_size=1, max_size=10), st.lists(loop_item, max_size=4),
       st.integers(1, 6),
       st.tuples(st.sampled_from([16, 17, 64, 200]), st.sampled_from([24, 96, 100, 300])),
       st.binary(min_size=MEM, max_size=MEM))
# Moving down past the region's start: the base must give way to the general path.
@example([("add", 1, -16), ("ld", 1, 0, 8, False, 3), ("ld", 1, 8, 8, False, 4)], [], 3,
         (64, 96), bytes(MEM))
# A register the loop sets otherwise (not stepped): no base before the loop.
@example([("ld", 1, 0, 1, False, 3), ("set", 1, 128)], [], 2, (64, 96),
         bytes(range(256)) * 2)
# After the loop: the stepped register set otherwise (its base is dropped), then the
# first accesses off a register never written (a new base, with a name of its own).
@example([("ld", 1, 0, 8, False, 3), ("add", 1, 8)], [("set", 1, 16), ("ld", 1, 0, 8, False, 0),
         ("ld", 2, 0, 8, False, 4), ("ld", 1, 8, 8, False, 3)], 2, (64, 96),
         bytes(range(256)) * 2)
def test_a_loop_moves_the_base_of_a_register_it_steps(program, tail, count, bases, mem):
    """The items as a self-loop's body run count times (x5 counts down), then the tail
    items once on the way out: registers stepped by constants keep a base made before
    the loop."""
    g = {i: Temp(Kind.GLOBAL, i, f"x{i}") for i in range(N_REGS)}
    g[64] = Temp(Kind.GLOBAL, 64, "pc")
    ctx = TCGContext(g)
    ctx.emit("insn_start", [], [], PC, 4)
    program = [(*it[:4], False, *it[5:]) if it[0] == "ld" else it for it in program]
    body = build(program).ops[:-1]  # without its exit_tb
    ctx.ops.extend(op for op in body if op.name != "insn_start")
    ctx.op2("sub", g[5], ctx.const(1), g[5])
    lab = ctx.new_label()
    ctx.emit("brcond", [], [g[5], ctx.const(0)], Cond.EQ, lab)
    ctx.emit("goto_tb", [], [], 0, PC)
    ctx.emit("set_label", [], [], lab)
    # (Unsigned loads only: a register loaded signed in the body and written back or
    # stored after the loop's exit branch is mishandled by the form tracking, a bug
    # older than base groups; see the report of the session that added this test.)
    program, tail = ([(*it[:4], False, *it[5:]) if it[0] == "ld" else it for it in items]
                     for items in (program, tail))
    ctx.ops.extend(op for op in build(tail).ops[:-1] if op.name != "insn_start")
    ctx.emit("goto_tb", [], [], 1, PC + 4)
    regs = [7, LOW + bases[0], LOW + bases[1], 0, 0, count]
    ref_regs, ref_mem = list(regs), bytearray(mem)
    fault = False
    try:
        for _ in range(count):
            for it in program:
                if it[0] in ("ld", "st") and not 0 <= ref_regs[it[1]] + it[2] - LOW <= MEM - it[3]:
                    raise IndexError
                ref_regs = reference([it], ref_regs, ref_mem)
        ref_regs[5] = 0
        for it in tail:
            if it[0] in ("ld", "st") and not 0 <= ref_regs[it[1]] + it[2] - LOW <= MEM - it[3]:
                raise IndexError
            ref_regs = reference([it], ref_regs, ref_mem)
    except IndexError:
        fault = True
    got_mem = bytearray(mem)
    if fault:
        with pytest.raises(IndexError):
            run(ctx.ops, regs, got_mem, codegen.BlockInfo(PC, 2, True))
        return
    got, src = run(ctx.ops, regs, got_mem, codegen.BlockInfo(PC, 2, True))
    assert (got, got_mem) == (ref_regs, ref_mem), src

