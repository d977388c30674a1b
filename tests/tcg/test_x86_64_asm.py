"""Every form the x86-64 assembler emits, checked against capstone's disassembly."""
# ruff: noqa: B023  (each lambda is called at once, inside its loop iteration)

from __future__ import annotations

import capstone
import pytest

from pyqemu.tcg.backends.x86_64 import asm as A
from pyqemu.tcg.backends.x86_64.asm import REG_NAMES as R

CS = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)

REGS = list(range(16))
REGS32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] + [f"r{i}d" for i in range(8, 16)]
REGS16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] + [f"r{i}w" for i in range(8, 16)]
REGS8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + [f"r{i}b" for i in range(8, 16)]
MEMS = [A.Mem(b, d) for b in REGS for d in (0, 8, -8, 0x1234, -0x100000)] + \
    [A.Mem(b, d, i, s) for b in (A.RAX, A.RBP, A.R12, A.R13, A.R15)
     for i in (A.RCX, A.R9) for s in (1, 8) for d in (0, 0x40, 0x12345)]


def mem_text(m: A.Mem, width: str = "qword") -> str:
    s = R[m.base]
    if m.index is not None:
        s += f" + {R[m.index]}" + (f"*{m.scale}" if m.scale != 1 else "")
    if m.disp:
        s += f" {'+' if m.disp > 0 else '-'} {imm(abs(m.disp))}"
    return f"{width} ptr [{s}]"


def imm(v: int) -> str:
    """capstone's immediate format: decimal below 10, hex above."""
    return str(v) if v < 10 else hex(v)


def dis(fn) -> str:
    a = A.Assembler()
    fn(a)
    insns = list(CS.disasm(bytes(a.buf), 0))
    assert sum(i.size for i in insns) == len(a.buf), a.buf.hex()
    return "; ".join(f"{i.mnemonic} {i.op_str}".strip() for i in insns)


@pytest.mark.parametrize("d", REGS)
@pytest.mark.parametrize("s", REGS)
def test_reg_reg_forms(d, s):
    assert dis(lambda a: a.mov_rr(d, s)) == f"mov {R[d]}, {R[s]}"
    for op, name in ((A.ADD, "add"), (A.OR, "or"), (A.AND, "and"), (A.SUB, "sub"),
                     (A.XOR, "xor"), (A.CMP, "cmp")):
        assert dis(lambda a: a.alu_rr(op, d, s)) == f"{name} {R[d]}, {R[s]}"
    assert dis(lambda a: a.imul_rr(d, s)) == f"imul {R[d]}, {R[s]}"
    assert dis(lambda a: a.test_rr(d, s)) == f"test {R[d]}, {R[s]}"
    assert dis(lambda a: a.cmov(A.CC_L, d, s)) == f"cmovl {R[d]}, {R[s]}"
    assert dis(lambda a: a.lzcnt(d, s)) == f"lzcnt {R[d]}, {R[s]}"
    assert dis(lambda a: a.tzcnt(d, s)) == f"tzcnt {R[d]}, {R[s]}"
    assert dis(lambda a: a.popcnt(d, s)) == f"popcnt {R[d]}, {R[s]}"
    assert dis(lambda a: a.movzx8(d, s)) == f"movzx {REGS32[d]}, {REGS8[s]}"
    assert dis(lambda a: a.movzx16(d, s)) == f"movzx {REGS32[d]}, {REGS16[s]}"
    assert dis(lambda a: a.movsx8(d, s)) == f"movsx {R[d]}, {REGS8[s]}"
    assert dis(lambda a: a.movsx16(d, s)) == f"movsx {R[d]}, {REGS16[s]}"
    assert dis(lambda a: a.movsxd(d, s)) == f"movsxd {R[d]}, {REGS32[s]}"
    assert dis(lambda a: a.mov_rr32(d, s)) == f"mov {REGS32[d]}, {REGS32[s]}"


@pytest.mark.parametrize("r", REGS)
def test_single_reg_forms(r):
    assert dis(lambda a: a.neg(r)) == f"neg {R[r]}"
    assert dis(lambda a: a.not_(r)) == f"not {R[r]}"
    assert dis(lambda a: a.mul_r(r, False)) == f"mul {R[r]}"
    assert dis(lambda a: a.mul_r(r, True)) == f"imul {R[r]}"
    assert dis(lambda a: a.bswap(r)) == f"bswap {R[r]}"
    assert dis(lambda a: a.setcc(A.CC_B, r)) == f"setb {REGS8[r]}"
    assert dis(lambda a: a.push(r)) == f"push {R[r]}"
    assert dis(lambda a: a.pop(r)) == f"pop {R[r]}"
    assert dis(lambda a: a.call_r(r)) == f"call {R[r]}"
    assert dis(lambda a: a.jmp_r(r)) == f"jmp {R[r]}"
    for op, name in ((A.SHL, "shl"), (A.SHR, "shr"), (A.SAR, "sar"), (A.ROL, "rol"),
                     (A.ROR, "ror")):
        assert dis(lambda a: a.shift_cl(op, r)) == f"{name} {R[r]}, cl"
        assert dis(lambda a: a.shift_ri(op, r, 13)) == f"{name} {R[r]}, 0xd"
        assert dis(lambda a: a.shift_ri(op, r, 1)) == f"{name} {R[r]}, 1"
    for c in (0, 1, 0x7F, 0x80, 0xFFFFFFFF, 0x100000000, 0x123456789ABCDEF0, -1, -5,
              -(1 << 31), (1 << 64) - (1 << 31) - 1):
        text = dis(lambda a: a.mov_ri(r, c))
        v = c & ((1 << 64) - 1)
        if v == 0:
            assert text == f"xor {REGS32[r]}, {REGS32[r]}"
        elif v < 1 << 32:
            assert text == f"mov {REGS32[r]}, {imm(v)}"
        else:
            assert text in (f"mov {R[r]}, {v:#x}", f"movabs {R[r]}, {v:#x}")
    for v in (1, -1, 0x7F, 0x80, -0x81, 0x12345678, -(1 << 31)):
        text = dis(lambda a: a.alu_ri(A.ADD, r, v))
        mnem, opnd = text.split(", ")
        assert mnem == f"add {R[r]}" and int(opnd, 0) & ((1 << 64) - 1) == v & ((1 << 64) - 1)


@pytest.mark.parametrize("m", MEMS, ids=repr)
def test_memory_forms(m):
    for r in (A.RAX, A.RSI, A.R8, A.R15):
        assert dis(lambda a: a.load(r, m)) == f"mov {R[r]}, {mem_text(m)}"
        assert dis(lambda a: a.load(r, m, 4)) == f"mov {REGS32[r]}, {mem_text(m, 'dword')}"
        assert dis(lambda a: a.load(r, m, 4, True)) == f"movsxd {R[r]}, {mem_text(m, 'dword')}"
        assert dis(lambda a: a.load(r, m, 2)) == f"movzx {REGS32[r]}, {mem_text(m, 'word')}"
        assert dis(lambda a: a.load(r, m, 2, True)) == f"movsx {R[r]}, {mem_text(m, 'word')}"
        assert dis(lambda a: a.load(r, m, 1)) == f"movzx {REGS32[r]}, {mem_text(m, 'byte')}"
        assert dis(lambda a: a.load(r, m, 1, True)) == f"movsx {R[r]}, {mem_text(m, 'byte')}"
        assert dis(lambda a: a.store(m, r)) == f"mov {mem_text(m)}, {R[r]}"
        assert dis(lambda a: a.store(m, r, 4)) == f"mov {mem_text(m, 'dword')}, {REGS32[r]}"
        assert dis(lambda a: a.store(m, r, 2)) == f"mov {mem_text(m, 'word')}, {REGS16[r]}"
        assert dis(lambda a: a.lea(r, m)) == f"lea {R[r]}, {mem_text(m, '')[5:]}"
        assert dis(lambda a: a.alu_rm(A.ADD, r, m)) == f"add {R[r]}, {mem_text(m)}"
        if m.index is None:  # the [base + disp] shortcuts encode what the general forms do
            for short, general in ((lambda a: a.load64(r, m.base, m.disp), lambda a: a.load(r, m)),
                                   (lambda a: a.store64(m.base, m.disp, r), lambda a: a.store(m, r)),
                                   (lambda a: a.lea64(r, m.base, m.disp), lambda a: a.lea(r, m)),
                                   (lambda a: a.store_imm64(m.base, m.disp, -3),
                                    lambda a: a.store_imm(m, -3))):
                assert dis(short) == dis(general)
    for r in (A.RAX, A.RSI, A.RDI, A.RBX, A.R9):
        assert dis(lambda a: a.store(m, r, 1)) == f"mov {mem_text(m, 'byte')}, {REGS8[r]}"
    assert dis(lambda a: a.store_imm(m, -3)) == f"mov {mem_text(m)}, 0xfffffffffffffffd"
    assert dis(lambda a: a.alu_ri(A.CMP, m, 0)) == f"cmp {mem_text(m)}, 0"
    assert dis(lambda a: a.ldmxcsr(m)) == f"ldmxcsr {mem_text(m, 'dword')}"
    assert dis(lambda a: a.stmxcsr(m)) == f"stmxcsr {mem_text(m, 'dword')}"


def test_sse_forms():
    for x in (0, 1, 9, 15):
        for r in (A.RAX, A.R12):
            assert dis(lambda a: a.movq_xr(x, r)) == f"movq xmm{x}, {R[r]}"
            assert dis(lambda a: a.movq_rx(r, x)) == f"movq {R[r]}, xmm{x}"
        for op, name in ((0x58, "add"), (0x59, "mul"), (0x5C, "sub"), (0x5E, "div"),
                         (0x51, "sqrt")):
            assert dis(lambda a: a.sse(op, True, x, 2)) == f"{name}sd xmm{x}, xmm2"
            assert dis(lambda a: a.sse(op, False, 3, x)) == f"{name}ss xmm3, xmm{x}"
        assert dis(lambda a: a.ucomis(True, x, 1)) == f"ucomisd xmm{x}, xmm1"
        assert dis(lambda a: a.ucomis(False, x, 1)) == f"ucomiss xmm{x}, xmm1"


def test_labels_and_jumps():
    a = A.Assembler()
    top = a.label()
    a.bind(top)
    a.alu_ri(A.SUB, A.RAX, 1)
    fwd = a.label()
    a.jcc(A.CC_E, fwd)
    a.jmp(top)
    a.bind(fwd)
    a.ret()
    insns = list(CS.disasm(bytes(a.buf), 0x1000))
    assert [i.mnemonic for i in insns] == ["sub", "je", "jmp", "ret"]
    assert int(insns[1].op_str, 16) == insns[3].address
    assert int(insns[2].op_str, 16) == 0x1000
