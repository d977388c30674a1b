"""Random RISC-V instruction sequences through both TCG backends: the whole CPU state,
the data memory and the way the sequence ends (ebreak, a fault, an illegal
instruction) must be the same. The Python backend is the reference.

Sequences run in a real user-mode guest address space, through the real engines
(translation, optimization, chaining, the exec loop); an OS stub stops the run at the
first trap or system call.
"""

from __future__ import annotations

import platform
import signal
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyqemu.linux_user.guest_memory import LOW, SPAN, GuestMemory
from pyqemu.target.riscv import cpu_state as cs
from pyqemu.target.riscv.cpu_state import RiscvCPU

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the native backend generates x86-64 code")

CODE = 0x10000
DATA = 0x20000
DATA_SIZE = 256
BASE = 31  # x31 holds DATA and is never written

R_OPS = {  # name: (opcode, funct7, funct3)
    "add": (0x33, 0, 0), "sub": (0x33, 0x20, 0), "sll": (0x33, 0, 1), "slt": (0x33, 0, 2),
    "sltu": (0x33, 0, 3), "xor": (0x33, 0, 4), "srl": (0x33, 0, 5), "sra": (0x33, 0x20, 5),
    "or": (0x33, 0, 6), "and": (0x33, 0, 7), "mul": (0x33, 1, 0), "mulh": (0x33, 1, 1),
    "mulhsu": (0x33, 1, 2), "mulhu": (0x33, 1, 3), "div": (0x33, 1, 4), "divu": (0x33, 1, 5),
    "rem": (0x33, 1, 6), "remu": (0x33, 1, 7), "andn": (0x33, 0x20, 7), "orn": (0x33, 0x20, 6),
    "xnor": (0x33, 0x20, 4), "min": (0x33, 5, 4), "minu": (0x33, 5, 5), "max": (0x33, 5, 6),
    "maxu": (0x33, 5, 7), "rol": (0x33, 0x30, 1), "ror": (0x33, 0x30, 5),
    "sh1add": (0x33, 0x10, 2), "sh3add": (0x33, 0x10, 6),
    "addw": (0x3B, 0, 0), "subw": (0x3B, 0x20, 0), "sllw": (0x3B, 0, 1), "srlw": (0x3B, 0, 5),
    "sraw": (0x3B, 0x20, 5), "mulw": (0x3B, 1, 0), "divw": (0x3B, 1, 4), "divuw": (0x3B, 1, 5),
    "remw": (0x3B, 1, 6), "remuw": (0x3B, 1, 7), "add.uw": (0x3B, 4, 0), "rolw": (0x3B, 0x30, 1),
}
I_OPS = {"addi": (0x13, 0), "slti": (0x13, 2), "sltiu": (0x13, 3), "xori": (0x13, 4),
         "ori": (0x13, 6), "andi": (0x13, 7), "addiw": (0x1B, 0)}
SHIFT_I = {"slli": (0x13, 1, 0, 63), "srli": (0x13, 5, 0, 63), "srai": (0x13, 5, 0x400, 63),
           "slliw": (0x1B, 1, 0, 31), "srliw": (0x1B, 5, 0, 31), "sraiw": (0x1B, 5, 0x400, 31)}
UNARY = {"clz": (0x13, 1, 0x600), "ctz": (0x13, 1, 0x601), "cpop": (0x13, 1, 0x602),
         "sext.b": (0x13, 1, 0x604), "sext.h": (0x13, 1, 0x605), "rev8": (0x13, 5, 0x6B8),
         "orc.b": (0x13, 5, 0x287), "clzw": (0x1B, 1, 0x600)}
LOADS = {"lb": 0, "lh": 1, "lw": 2, "ld": 3, "lbu": 4, "lhu": 5, "lwu": 6}
STORES = {"sb": 0, "sh": 1, "sw": 2, "sd": 3}
BRANCHES = {"beq": 0, "bne": 1, "blt": 4, "bge": 5, "bltu": 6, "bgeu": 7}
FP_ARITH = {"fadd.d": 0x01, "fsub.d": 0x05, "fmul.d": 0x09, "fdiv.d": 0x0D, "fadd.s": 0x00,
            "fmul.s": 0x08, "fdiv.s": 0x0C}
FP_CMP = {"feq.d": (0x51, 2), "flt.d": (0x51, 1), "fle.d": (0x51, 0), "flt.s": (0x50, 1)}

reg = st.integers(0, 30)
rd = st.integers(1, 30)


def _r(op, f7, f3, d, s1, s2):
    return f7 << 25 | s2 << 20 | s1 << 15 | f3 << 12 | d << 7 | op


def _i(op, f3, d, s1, imm):
    return (imm & 0xFFF) << 20 | s1 << 15 | f3 << 12 | d << 7 | op


r_type = st.builds(lambda n, d, a, b: _r(*R_OPS[n], d, a, b), st.sampled_from(sorted(R_OPS)),
                  rd, reg, reg)
i_type = st.builds(lambda n, d, a, imm: _i(*I_OPS[n], d, a, imm), st.sampled_from(sorted(I_OPS)),
                   rd, reg, st.integers(-2048, 2047))
shift_i = st.builds(lambda n, d, a, sh: _i(SHIFT_I[n][0], SHIFT_I[n][1], d, a,
                                           SHIFT_I[n][2] | (sh & SHIFT_I[n][3])),
                    st.sampled_from(sorted(SHIFT_I)), rd, reg, st.integers(0, 63))
loads = st.builds(lambda n, d, off: _i(0x03, LOADS[n], d, BASE, off),
                  st.sampled_from(sorted(LOADS)), rd, st.integers(0, DATA_SIZE - 8))
stores = st.builds(lambda n, s, off: (off >> 5) << 25 | s << 20 | BASE << 15 | STORES[n] << 12
                   | (off & 31) << 7 | 0x23, st.sampled_from(sorted(STORES)), reg,
                   st.integers(0, DATA_SIZE - 8))
lui = st.builds(lambda d, imm: (imm & 0xFFFFF) << 12 | d << 7 | 0x37, rd, st.integers(0, 0xFFFFF))
auipc = st.builds(lambda d, imm: (imm & 0xFFFFF) << 12 | d << 7 | 0x17, rd,
                  st.integers(0, 0xFFFFF))
insn = st.one_of(
    r_type, i_type, shift_i,
    st.builds(lambda n, d, a: _i(UNARY[n][0], UNARY[n][1], d, a, UNARY[n][2]),
              st.sampled_from(sorted(UNARY)), rd, reg),
    loads, stores, lui, auipc,
    st.builds(lambda d, a: 0x79 << 25 | a << 15 | d << 7 | 0x53, st.integers(0, 31), reg),
    st.builds(lambda n, d, a, b, rm: _r(0x53, FP_ARITH[n], rm, d, a, b),
              st.sampled_from(sorted(FP_ARITH)), st.integers(0, 31), st.integers(0, 31),
              st.integers(0, 31), st.sampled_from([0, 1, 2, 3, 4, 7])),
    st.builds(lambda n, d, a, b: _r(0x53, FP_CMP[n][0], FP_CMP[n][1], d, a, b),
              st.sampled_from(sorted(FP_CMP)), rd, st.integers(0, 31), st.integers(0, 31)),
    st.builds(lambda d, a: 0x71 << 25 | a << 15 | d << 7 | 0x53, rd, st.integers(0, 31)),
)
# What the native engine's interpreter runs itself: RV64IMA, FP loads, stores and moves
# (the mixed programs above mostly leave it for the translator at their first FP
# arithmetic or Zb instruction).
BASE_R_OPS = sorted(n for n, (_, f7, _) in R_OPS.items() if f7 in (0, 1, 0x20)
                    and n not in ("andn", "orn", "xnor"))
AMO_F5 = {"lr": 0x02, "sc": 0x03, "amoswap": 0x01, "amoadd": 0x00, "amoxor": 0x04,
          "amoand": 0x0C, "amoor": 0x08, "amomin": 0x10, "amomax": 0x14, "amominu": 0x18,
          "amomaxu": 0x1C}
# AMOs, LR and SC on the data area (x31); LR's rs2 is 0.
amo = st.builds(lambda n, w, d, b, aqrl: _r(0x2F, AMO_F5[n] << 2 | aqrl, w, d, BASE,
                                            0 if n == "lr" else b),
                st.sampled_from(sorted(AMO_F5)), st.sampled_from([2, 3]), rd, reg,
                st.integers(0, 3))
fp_mem = st.one_of(
    st.builds(lambda w, d, off: _i(0x07, w, d, BASE, off), st.sampled_from([2, 3]),
              st.integers(0, 31), st.integers(0, DATA_SIZE - 8)),
    st.builds(lambda w, s, off: (off >> 5) << 25 | s << 20 | BASE << 15 | w << 12
              | (off & 31) << 7 | 0x27, st.sampled_from([2, 3]), st.integers(0, 31),
              st.integers(0, DATA_SIZE - 8)))
fp_moves = st.builds(lambda f7, d, a: _r(0x53, f7, 0, d, a, 0), st.sampled_from([0x70, 0x71]),
                     rd, st.integers(0, 31)) | \
    st.builds(lambda f7, d, a: _r(0x53, f7, 0, d, a, 0), st.sampled_from([0x78, 0x79]),
              st.integers(0, 31), reg)
base_insn = st.one_of(
    st.builds(lambda n, d, a, b: _r(*R_OPS[n], d, a, b), st.sampled_from(BASE_R_OPS), rd,
              reg, reg),
    i_type, shift_i, loads, stores, lui, auipc, amo, fp_mem, fp_moves)
# LR then SC of the same width, with what lies between: the success path of SC.
lr_sc = st.builds(lambda w, d, between, e, b: [_r(0x2F, 0x02 << 2, w, d, BASE, 0), *between,
                                               _r(0x2F, 0x03 << 2, w, e, BASE, b)],
                  st.sampled_from([2, 3]), rd, st.lists(base_insn, max_size=2), rd, reg)


def _flatten(items: list) -> list:
    return [x for it in items for x in (it if isinstance(it, list) else [it])]
# A branch is (kind, rs1, rs2, k): it skips forward over k instructions.
# Comparing a register with itself makes the equal case (beq, bge, bgeu taken) common.
branch = st.one_of(
    st.tuples(st.just("branch"), st.sampled_from(sorted(BRANCHES)), reg, reg,
              st.integers(1, 4)),
    reg.flatmap(lambda a: st.tuples(st.just("branch"), st.sampled_from(sorted(BRANCHES)),
                                    st.just(a), st.just(a), st.integers(1, 4))))
program = st.lists(st.one_of(insn, insn, insn, branch), min_size=1, max_size=40)
EBREAK = 0x00100073


def assemble(items) -> bytes:
    words = []
    n = len(items)
    for k, it in enumerate(items):
        if isinstance(it, tuple):
            _, name, a, b, skip = it
            off = 4 * min(skip + 1, n - k)  # never past the final ebreak
            words.append((off >> 12 & 1) << 31 | (off >> 5 & 0x3F) << 25 | b << 20 | a << 15
                         | BRANCHES[name] << 12 | (off >> 1 & 0xF) << 8 | (off >> 11 & 1) << 7
                         | 0x63)
        else:
            words.append(it)
    words.append(EBREAK)
    return struct.pack(f"<{len(words)}I", *words)


class Stop(Exception):
    pass


class OsStub:
    """Ends the run at the first guest trap or system call, recording what happened."""

    def __init__(self) -> None:
        self.exit_request = [0]
        self.event = None

    def guest_fault(self, cpu, signo, code, addr):
        self.event = (signal.Signals(signo).name, code, addr)
        raise Stop()

    def syscall(self, cpu):
        self.event = ("syscall", cpu.q[17])
        raise Stop()

    def deliver_signals(self, cpu):
        pass


class Rig:
    def __init__(self) -> None:
        from pyqemu.accel.tcg.cpu_exec import UserEngine
        from pyqemu.accel.tcg.native_user import NativeUserEngine

        self.mem = GuestMemory()
        # No MemoryMap here: record protections for native code directly. The Python
        # backend does not test them (unmapped pages read as zero there), so the whole
        # space is mapped: random register values, taken modulo the space's size,
        # land anywhere in it (128 MiB of permission table, once per test run).
        self.mem.set_prot(LOW, SPAN, 7)
        can = lambda a: CODE <= a < CODE + 0x1000  # noqa: E731
        self.os_py, self.os_native = OsStub(), OsStub()
        self.py = UserEngine(self.mem, can, self.os_py.exit_request, self.os_py)
        self.native = NativeUserEngine(self.mem, can, self.os_native, self.os_native)
        # The same backend without its interpreter tier: every block is translated.
        self.translated = NativeUserEngine(self.mem, can, self.os_native, self.os_native,
                                           interp=False)

    def run(self, engine, os_stub, code: bytes, regs: list[int], data: bytes):
        self.mem.fill(CODE, 0x1000)
        self.mem.write(CODE, code)
        self.mem.write(DATA, data)
        if engine is self.py:
            engine.tbc.flush()
        else:
            engine.flush()
        cpu = RiscvCPU()
        for i, v in enumerate(regs, 1):
            cpu.set_x(i, v)
        cpu.set_x(BASE, DATA)
        for i in range(32):
            cpu.set_f(i, regs[i % len(regs)] ^ (0xFFFFFFFF00000000 if i & 1 else 0))
        cpu.pc = CODE
        os_stub.event = None
        with pytest.raises(Stop):
            engine.run(cpu)
        return list(cpu.q[:cs.INSTRET]), os_stub.event, self.mem.read(DATA, DATA_SIZE)


_RIG: list[Rig] = []


def rig() -> Rig:
    if not _RIG:
        _RIG.append(Rig())
    return _RIG[0]


values = st.one_of(st.integers(0, (1 << 64) - 1), st.sampled_from(
    [0, 1, (1 << 64) - 1, 1 << 63, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, DATA, 0x3FF0000000000000,
     SPAN - 4, SPAN - 8]))  # (accesses that straddle the space's end fault in both)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program, st.lists(values, min_size=30, max_size=30), st.binary(min_size=DATA_SIZE,
                                                                      max_size=DATA_SIZE))
def test_random_sequences_agree(items, regs, data):
    r = rig()
    code = assemble(items)
    want = r.run(r.py, r.os_py, code, regs, data)
    words = [f"{w:08x}" for w in struct.unpack(f"<{len(code) // 4}I", code)]
    # Run once, straight-line code stays in the native engine's interpreter (up to the
    # first instruction it leaves to the translator); without it, all is translated.
    assert r.run(r.native, r.os_native, code, regs, data) == want, words
    assert r.run(r.translated, r.os_native, code, regs, data) == want, words


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(base_insn, base_insn, branch, lr_sc), min_size=1, max_size=40),
       st.lists(values, min_size=30, max_size=30),
       st.binary(min_size=DATA_SIZE, max_size=DATA_SIZE))
def test_random_integer_sequences_agree(items, regs, data):
    r = rig()
    code = assemble(_flatten(items))
    want = r.run(r.py, r.os_py, code, regs, data)
    words = [f"{w:08x}" for w in struct.unpack(f"<{len(code) // 4}I", code)]
    assert r.run(r.native, r.os_native, code, regs, data) == want, words
    assert r.run(r.translated, r.os_native, code, regs, data) == want, words


def _plain_rvc(h: int) -> bool:
    """A compressed instruction that neither jumps nor stores (stores could rewrite the
    code, jumps leave it), nor touches FP state; reserved encodings are kept (SIGILL)."""
    from pyqemu.target.riscv.decode_rvc import expand_rvc

    if h & 3 == 3:
        return False
    w = expand_rvc(h)
    return w & 0x7F not in (0x63, 0x67, 0x6F, 0x23, 0x27, 0x07, 0x73)


rvc = st.integers(0, 0xFFFF).filter(_plain_rvc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rvc, min_size=1, max_size=40), st.lists(values, min_size=30, max_size=30),
       st.binary(min_size=DATA_SIZE, max_size=DATA_SIZE))
def test_random_compressed_sequences_agree(halves, regs, data):
    """The C extension: the interpreter expands through its table, the translator
    through its decoder; loads at random addresses mostly fault, at the same pc."""
    r = rig()
    code = struct.pack(f"<{len(halves)}H", *halves) + struct.pack("<I", EBREAK)
    want = r.run(r.py, r.os_py, code, regs, data)
    text = [f"{h:04x}" for h in halves]
    assert r.run(r.native, r.os_native, code, regs, data) == want, text
    assert r.run(r.translated, r.os_native, code, regs, data) == want, text


CORNERS = [0, 1, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 0xFFFFFFFF80000000, 0x7FFFFFFF,
           0xFFFFFFFF, 7, (1 << 64) - 7]


@pytest.mark.parametrize("name", BASE_R_OPS)
def test_register_ops_on_corner_values_agree(name):
    """Each base and M register-register op on every pair of corner values (division by
    zero, MIN / -1, shift counts past the width, sign boundaries): x1..x10 hold the
    corners, x11..x20 receive op(x_i, x_j) for one i at a time."""
    r = rig()
    n = len(CORNERS)
    for i in range(1, n + 1):
        code = assemble([_r(*R_OPS[name], 10 + j, i, j) for j in range(1, n + 1)])
        regs = CORNERS + [0] * (30 - n)
        want = r.run(r.py, r.os_py, code, regs, bytes(DATA_SIZE))
        assert r.run(r.native, r.os_native, code, regs, bytes(DATA_SIZE)) == want, i
        assert r.run(r.translated, r.os_native, code, regs, bytes(DATA_SIZE)) == want, i
