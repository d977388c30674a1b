"""The A extension, and the F/D instructions that only move bits (loads, stores,
x<->f moves), in the interpreter: no rounding and no flags, so no host FP state."""

from __future__ import annotations

from ....tcg.backends.x86_64 import asm as A
from ....tcg.backends.x86_64.asm import (
    R8,
    R9,
    RAX,
    RBP,
    RCX,
    RDI,
    RDX,
    RSI,
    Mem,
)
from .. import cpu_state as cs
from .core import BOX, F0_OFF, Core


class AtomicFpOps(Core):
    def fs_dirty(self) -> None:
        """System mode: FP state moves only while mstatus.FS is Dirty (3), where they
        change nothing else; Off makes them illegal and Initial/Clean must become Dirty
        (privileged ISA 3.1.6.6), which the translator does."""
        sy = self.sys
        if sy is None:
            return
        a = self.a
        a.load(RDI, Mem(RBP, 8 * sy.flags_word))
        a.alu_ri(A.AND, RDI, 3 << 6)  # the TB flags' FS field
        a.alu_ri(A.CMP, RDI, 3 << 6)
        a.jcc(A.CC_NE, self.unsupported)

    def load_fp(self) -> None:
        """flw (NaN-boxed: the upper 32 bits all ones) and fld; no FP state changes."""
        a = self.a
        flw, fld = a.label(), a.label()

        def operands() -> None:
            self.fs_dirty()
            self.rd()
            self.reg(RSI, 15)
            self.imm_i()

        self.split(operands, [self.unsupported] * 2 + [flw, fld] + [self.unsupported] * 4)
        a.bind(flw)
        a.load(RAX, self.mem_offset(4, False), 4)
        a.mov_ri(RDX, BOX)
        a.alu_rr(A.OR, RAX, RDX)
        f_wb = self.bind_new()
        a.store(Mem(RBP, F0_OFF, R8, 8), RAX)
        self.retire()
        a.bind(fld)
        a.load(RAX, self.mem_offset(8, False), 8)
        a.jmp(f_wb)
        self.f_wb = f_wb

    def store_fp(self) -> None:
        a = self.a
        fsw, fsd = a.label(), a.label()

        def operands() -> None:
            self.fs_dirty()
            self.reg(RSI, 15)
            self.field(RAX, 20, 31)
            a.load(R9, Mem(RBP, F0_OFF, RAX, 8))
            self.imm_s()

        self.split(operands, [self.unsupported] * 2 + [fsw, fsd] + [self.unsupported] * 4)
        for lab, size in ((fsw, 4), (fsd, 8)):
            a.bind(lab)
            a.store(self.mem_offset(size, True), R9, size)
            self.retire()

    def op_fp(self) -> None:
        """Only the moves between x and f registers (no rounding, no flags): fmv.x.w,
        fmv.w.x, fmv.x.d, fmv.d.x. funct7 | rs2 | funct3 must match exactly."""
        a = self.a
        self.entry_for((0,))
        self.fs_dirty()
        self.rd()
        self.field(RAX, 15, 31)
        a.mov_rr32(RDI, RCX)
        a.shift_ri(A.SHR, RDI, 12)
        a.alu_ri(A.AND, RDI, 0xFFF07)  # funct7, rs2 and funct3 (bits 31:20, 14:12)
        for f7, gen in ((0x70, "x_w"), (0x78, "w_x"), (0x71, "x_d"), (0x79, "d_x")):
            nxt = a.label()
            a.alu_ri(A.CMP, RDI, f7 << 13)
            a.jcc(A.CC_NE, nxt)
            if gen[0] == "x":  # to an x register, from f[rs1]
                a.load(RAX, Mem(RBP, F0_OFF, RAX, 8))
                if gen == "x_w":
                    a.movsxd(RAX, RAX)
                self.write_back()
            else:
                a.load(RAX, Mem(RBP, 0, RAX, 8))
                if gen == "w_x":
                    a.mov_rr32(RAX, RAX)
                    a.mov_ri(RDX, BOX)
                    a.alu_rr(A.OR, RAX, RDX)
                a.jmp(self.f_wb)
            a.bind(nxt)
        a.jmp(self.unsupported)

    def amo(self) -> None:
        """LR/SC and the AMOs, as the translator does them (trans_rva): one hart runs at
        a time, so a read-modify-write is atomic; SC succeeds when the reservation is
        this address and memory still holds what LR loaded."""
        a = self.a
        self.entry_for((2, 3))  # .w and .d
        self.rd()
        self.reg(RSI, 15)
        self.reg(R9, 20)
        self.funct3()
        a.alu_ri(A.SUB, RAX, 2)
        a.mov_rr32(RDX, RCX)
        a.shift_ri(A.SHR, RDX, 27)
        a.alu_rr(A.ADD, RDX, RDX)
        a.alu_rr(A.OR, RAX, RDX)  # funct5 * 2 + (0: .w, 1: .d)
        table = [self.unsupported] * 64
        ops = {0x00: A.ADD, 0x01: None, 0x04: A.XOR, 0x0C: A.AND, 0x08: A.OR,
               0x10: A.CC_L, 0x14: A.CC_G, 0x18: A.CC_B, 0x1C: A.CC_A}
        handlers = []
        for f5 in (0x02, 0x03, *ops):
            for d in (0, 1):
                lab = table[f5 * 2 + d] = a.label()
                handlers.append((lab, f5, 8 if d else 4))
        self.dispatch(RAX, table)
        for lab, f5, size in handlers:
            a.bind(lab)
            if f5 == 0x02:
                self._lr(size)
            elif f5 == 0x03:
                self._sc(size)
            else:
                self._amo_op(ops[f5], f5 >= 0x10, size)

    def _lr(self, size: int) -> None:
        a = self.a
        a.mov_rr32(RDI, RCX)
        a.shift_ri(A.SHR, RDI, 20)
        a.alu_ri(A.AND, RDI, 31)
        a.jcc(A.CC_NE, self.unsupported)  # rs2 must be 0
        a.load(RAX, self.mem_offset(size, False, indexed=False), size, size == 4)
        a.store(Mem(RBP, 8 * cs.LR_ADDR), RSI)
        a.store(Mem(RBP, 8 * cs.LR_VALUE), RAX)
        self.write_back()

    def _sc(self, size: int) -> None:
        a = self.a
        fail = a.label()
        a.alu_rm(A.CMP, RSI, Mem(RBP, 8 * cs.LR_ADDR))
        a.jcc(A.CC_NE, fail)
        m = self.mem_offset(size, True, indexed=False)
        a.load(RDX, m, size, size == 4)
        a.alu_rm(A.CMP, RDX, Mem(RBP, 8 * cs.LR_VALUE))
        a.jcc(A.CC_NE, fail)
        a.store(m, R9, size)
        a.store_imm(Mem(RBP, 8 * cs.LR_ADDR), -1)  # RESERVATION_NONE
        a.alu_rr(A.XOR, RAX, RAX, w=False)
        self.write_back()
        a.bind(fail)
        a.store_imm(Mem(RBP, 8 * cs.LR_ADDR), -1)
        a.mov_ri(RAX, 1)
        self.write_back()

    def _amo_op(self, op: int | None, minmax: bool, size: int) -> None:
        """rax = old value (sign-extended for .w), memory = op(old, rs2)."""
        a = self.a
        m = self.mem_offset(size, True, indexed=False)
        a.load(RDI, m, size, size == 4)
        if op is None:
            a.mov_rr(RDX, R9)
        elif minmax:  # keep old where the condition holds, compared at the access width
            a.mov_rr(RDX, R9)
            if size == 4:
                a.alu32_rr(A.CMP, RDI, R9)
            else:
                a.alu_rr(A.CMP, RDI, R9)
            a.cmov(op, RDX, RDI)
        else:
            a.mov_rr(RDX, RDI)
            a.alu_rr(op, RDX, R9)
        a.store(m, RDX, size)
        a.mov_rr(RAX, RDI)
        self.write_back()

