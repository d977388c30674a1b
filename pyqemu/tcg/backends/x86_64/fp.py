"""RISC-V floating point inline with SSE2, where the hardware computes the same thing.

The frontend calls bit-exact helpers ``f<op>_<s|d>(a, [b,] rm) -> (result, fflags)``.
For add, sub, mul, div and sqrt the native backend computes the result with one scalar
SSE2 instruction instead, with the rounding mode loaded into MXCSR and the exception
flags read back from it (IEEE 754 makes the results identical). It falls back to the
helper, in the same block, wherever x86 and RISC-V differ or might:

* a NaN result: RISC-V returns the canonical NaN, x86 propagates an operand's payload;
* the invalid flag: same reason (and 0/0, inf-inf, sqrt(-x) produce NaNs);
* the underflow flag: x86 may detect tininess before rounding, RISC-V does it after;
* RMM (round to nearest, ties to max magnitude): x86 has no such mode;
* a single whose 64-bit register is not NaN-boxed (it reads as the canonical NaN).

MXCSR is set back to its default after an op that changed the rounding mode: C and
Python code running later in this thread must see round-to-nearest.
``check_frm`` (an frm holding a reserved value makes the instruction illegal) becomes a
compare and an out-of-line exit.
"""

from __future__ import annotations

from ...ir import ExitReason, Kind, Op
from . import asm as A
from . import codebuf as CB
from .asm import RAX, RBP, RCX, RDX, Mem
from .regs import EXIT_TB

_SSE = {"fadd": 0x58, "fsub": 0x5C, "fmul": 0x59, "fdiv": 0x5E, "fsqrt": 0x51}
_BOX = 0xFFFFFFFF00000000
# Reading MXCSR: IE (bit 0) and UE (bit 4) send the op to the helper.
_SLOW_FLAGS = 0x11


def _nanbox_check(cg, reg: int, slow: A.Label) -> None:
    """A single's register must hold all ones in its upper half."""
    a = cg.a
    a.mov_rr(RCX, reg)
    a.shift_ri(A.SAR, RCX, 32)
    a.alu_ri(A.CMP, RCX, -1)
    a.jcc(A.CC_NE, slow)


def gen_fp_arith(cg, op: Op, i: int) -> None:
    helper = op.aux[0]
    name = helper.name
    double = name.endswith("_d")
    opcode = _SSE[name[:-2]]
    ins = op.ins
    rm = ins[-1]
    operands = ins[:-1]
    a = cg.a
    env = cg.t.env
    scratch = Mem(RBP, 8 * env.scratch)
    cg.prepare_call(op, i, helper)
    slow, done = a.label(), a.label()
    if rm.kind == Kind.CONST and rm.value == 4:
        a.jmp(slow)  # RMM
    else:
        for x, t in zip((0, 1), operands, strict=False):
            cg.arg_into(RAX, t)
            if not double:
                _nanbox_check(cg, RAX, slow)
            a.movq_xr(x, RAX)
        if rm.kind == Kind.CONST:
            if rm.value:
                cg.rip_insn(b"", b"\x0F\xAE", 2, CB.MXCSR_TABLE + 4 * rm.value)  # ldmxcsr
            else:
                cg.rip_insn(b"", b"\x0F\xAE", 2, CB.MXCSR_TABLE)
        else:
            cg.arg_into(RCX, rm)
            a.alu_ri(A.CMP, RCX, 4)
            a.jcc(A.CC_AE, slow)
            cg.rip_insn(b"\x48", b"\x8D", RDX, CB.MXCSR_TABLE)  # lea rdx, [rip + table]
            a.ldmxcsr(Mem(RDX, 0, RCX, 4))
        if opcode == 0x51:
            a.sse(opcode, double, 0, 0)
        else:
            a.sse(opcode, double, 0, 1)
        a.stmxcsr(scratch)
        if not (rm.kind == Kind.CONST and rm.value == 0):
            cg.rip_insn(b"", b"\x0F\xAE", 2, CB.MXCSR_DEFAULT)
        a.test_mi8(scratch, _SLOW_FLAGS)
        a.jcc(A.CC_NE, slow)
        a.movq_rx(RAX, 0)
        # A NaN result: |x| above the infinity pattern.
        if double:
            a.mov_rr(RCX, RAX)
            a.shift_ri(A.SHL, RCX, 1)
            a.mov_ri(RDX, 0xFFE0000000000000)
        else:
            a.mov_rr32(RAX, RAX)
            a.mov_rr(RCX, RAX)
            a.shift_ri(A.SHL, RCX, 33)
            a.mov_ri(RDX, 0xFF00000000000000)
        a.alu_rr(A.CMP, RCX, RDX)
        a.jcc(A.CC_A, slow)
        if not double:
            a.mov_ri(RDX, _BOX)
            a.alu_rr(A.OR, RAX, RDX)
        a.load(RCX, scratch, 1)
        a.alu_ri(A.AND, RCX, 0x3F)
        cg.rip_insn(b"\x48", b"\x8D", RDX, CB.FFLAGS_TABLE)  # lea rdx, [rip + table]
        a.load(RCX, Mem(RDX, 0, RCX, 1), 1)
        a.jmp(done)
    a.bind(slow)
    cg.emit_call(op, helper)
    a.load(RCX, Mem(RBP, 8 * env.helper_out2))
    a.bind(done)
    cg.release_dead(op, i)
    cg.define_results(op, i, RCX)


def gen_check_frm(cg, op: Op, i: int) -> None:
    """frm above 4 (reserved) makes the instruction illegal: leave through exit_tb."""
    k, v = cg.operand(op.ins[0], set(), i)
    a = cg.a
    if k == "i":
        if v > 4:
            a.jmp(cg._exit_stub(EXIT_TB, cg.cur_pc, ExitReason.ILLEGAL))
        return
    if k == "r":
        a.alu_ri(A.CMP, v, 4)
    else:
        a.alu_ri(A.CMP, v, 4)
    a.jcc(A.CC_A, cg._exit_stub(EXIT_TB, cg.cur_pc, ExitReason.ILLEGAL))
    cg.release_dead(op, i)


_CMP = {"feq": A.CC_E, "flt": A.CC_B, "fle": A.CC_BE}


def gen_fp_compare(cg, op: Op, i: int) -> None:
    """feq/flt/fle: with no NaN operand the compare raises nothing and ucomis gives the
    answer in ZF/CF (operands swapped so that "below" means a < b); an unordered
    compare (PF) goes to the helper, which knows which NaNs signal."""
    helper = op.aux[0]
    name = helper.name
    double = name.endswith("_d")
    a = cg.a
    cg.prepare_call(op, i, helper)
    slow, done = a.label(), a.label()
    for x, t in zip((0, 1), op.ins, strict=False):
        cg.arg_into(RAX, t)
        if not double:
            _nanbox_check(cg, RAX, slow)
        a.movq_xr(x, RAX)
    a.ucomis(double, 0, 1)
    a.jcc(A.CC_P, slow)
    a.setcc(_CMP[name[:-2]], RAX)
    a.movzx8(RAX, RAX)
    a.alu_rr(A.XOR, RCX, RCX, w=False)
    a.jmp(done)
    a.bind(slow)
    cg.emit_call(op, helper)
    a.load(RCX, Mem(RBP, 8 * cg.t.env.helper_out2))
    a.bind(done)
    cg.release_dead(op, i)
    cg.define_results(op, i, RCX)


INLINE = {f"{op}_{p}": gen_fp_arith for op in _SSE for p in "sd"}
INLINE.update({f"{op}_{p}": gen_fp_compare for op in _CMP for p in "sd"})
INLINE["check_frm"] = gen_check_frm
