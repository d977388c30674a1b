"""RV64I and M in the interpreter: loads, stores, register and immediate ALU ops,
multiplication and division (which never trap on RISC-V), branches and jumps, fence and
ecall."""

from __future__ import annotations

from ....tcg.backends.x86_64 import asm as A
from ....tcg.backends.x86_64.asm import (
    R8,
    R9,
    R12,
    RAX,
    RBP,
    RBX,
    RCX,
    RDI,
    RDX,
    RSI,
    Mem,
)
from .core import I_SYSCALL, Core


class IntegerOps(Core):
    def load(self) -> None:
        a = self.a
        forms = [(1, True), (2, True), (4, True), (8, False), (1, False), (2, False),
                 (4, False)]
        labels = [a.label() for _ in forms] + [self.unsupported]
        self.split(self._rd_rs1_imm, labels)
        for lab, (size, signed) in zip(labels, forms, strict=False):
            a.bind(lab)
            a.load(RAX, self.mem_offset(size, False), size, signed)
            self.write_back()

    def store(self) -> None:
        a = self.a

        def operands() -> None:
            self.reg(RSI, 15)
            self.reg(R9, 20)
            self.imm_s()

        labels = [a.label() for _ in range(4)] + [self.unsupported] * 4
        self.split(operands, labels)
        for lab, size in zip(labels, (1, 2, 4, 8), strict=False):
            a.bind(lab)
            a.store(self.mem_offset(size, True), R9, size)
            self.retire()

    def _rd_rs1_imm(self) -> None:
        self.rd()
        self.reg(RSI, 15)
        self.imm_i()

    def _setcc(self, cc: int) -> None:
        a = self.a
        a.alu_rr(A.XOR, RAX, RAX, w=False)
        a.alu_rr(A.CMP, RSI, RDX)
        a.setcc(cc, RAX)
        self.write_back()

    def _alu(self, op: int) -> None:
        a = self.a
        a.mov_rr(RAX, RSI)
        a.alu_rr(op, RAX, RDX)
        self.write_back()

    def _shift(self, op: int, w32: bool = False) -> None:
        a = self.a
        a.mov_rr(RAX, RSI)
        a.mov_rr(RCX, RDX)
        if w32:
            a.shift32_cl(op, RAX)
            a.movsxd(RAX, RAX)
        else:
            a.shift_cl(op, RAX)
        self.write_back()

    def _require_top(self, shift: int, value: int, ok: A.Label) -> None:
        """Go to ok when insn >> shift == value (a funct6/funct7 check)."""
        a = self.a
        a.mov_rr32(RDI, RCX)
        a.shift_ri(A.SHR, RDI, shift)
        a.alu_ri(A.CMP, RDI, value)
        a.jcc(A.CC_E, ok)

    def op_imm(self) -> None:
        a = self.a
        labels = [a.label() for _ in range(8)]
        self.split(self._rd_rs1_imm, labels)
        addi, slli, slti, sltiu, xori, sr, ori, andi = labels
        a.bind(addi)
        a.lea(RAX, Mem(RSI, 0, RDX, 1))
        self.write_back()
        a.bind(slti)
        self._setcc(A.CC_L)
        a.bind(sltiu)
        self._setcc(A.CC_B)
        for lab, op in ((xori, A.XOR), (ori, A.OR), (andi, A.AND)):
            a.bind(lab)
            self._alu(op)
        a.bind(slli)
        ok = a.label()
        self._require_top(26, 0, ok)
        a.jmp(self.unsupported)
        a.bind(ok)
        self._shift(A.SHL)
        a.bind(sr)
        srai = a.label()
        self._require_top(26, 0x10, srai)
        srli = a.label()
        self._require_top(26, 0, srli)
        a.jmp(self.unsupported)
        a.bind(srli)
        self._shift(A.SHR)
        a.bind(srai)
        self._shift(A.SAR)

    def op_imm32(self) -> None:
        a = self.a
        labels = [a.label(), a.label()] + [self.unsupported] * 3 + [a.label()] + \
            [self.unsupported] * 2
        self.split(self._rd_rs1_imm, labels)
        addiw, slliw, sr = labels[0], labels[1], labels[5]
        a.bind(addiw)
        a.lea(RAX, Mem(RSI, 0, RDX, 1))
        a.movsxd(RAX, RAX)
        self.write_back()
        a.bind(slliw)
        ok = a.label()
        self._require_top(25, 0, ok)
        a.jmp(self.unsupported)
        a.bind(ok)
        self._shift(A.SHL, True)
        a.bind(sr)
        sraiw = a.label()
        self._require_top(25, 0x20, sraiw)
        srliw = a.label()
        self._require_top(25, 0, srliw)
        a.jmp(self.unsupported)
        a.bind(srliw)
        self._shift(A.SHR, True)
        a.bind(sraiw)
        self._shift(A.SAR, True)

    def _rr_operands(self) -> None:
        self.rd()
        self.reg(RSI, 15)
        self.reg(RDX, 20)

    def _funct7_split(self, groups: dict[int, list[A.Label]]) -> None:
        """The entries of a register-register opcode: per funct3, the operands, then
        a comparison per funct7 value (of the listed ones) that has this funct3."""
        a = self.a
        for f3 in range(8):
            targets = [(f7, labels[f3]) for f7, labels in groups.items()
                       if labels[f3] is not self.unsupported]
            if not targets:
                continue
            self.entry_for((f3,))
            self._rr_operands()
            a.mov_rr32(RDI, RCX)
            a.shift_ri(A.SHR, RDI, 25)
            for f7, lab in targets:
                a.alu_ri(A.CMP, RDI, f7)
                a.jcc(A.CC_E, lab)
            a.jmp(self.unsupported)

    def op(self) -> None:
        a = self.a
        self._rr_operands()
        base = [a.label() for _ in range(8)]
        alt = [a.label()] + [self.unsupported] * 4 + [a.label()] + [self.unsupported] * 2
        mul = [a.label() for _ in range(8)]
        self._funct7_split({0: base, 0x20: alt, 1: mul})
        add, sll, slt, sltu, xor, srl, or_, and_ = base
        a.bind(add)
        a.lea(RAX, Mem(RSI, 0, RDX, 1))
        self.write_back()
        for lab, op in ((xor, A.XOR), (or_, A.OR), (and_, A.AND), (alt[0], A.SUB)):
            a.bind(lab)
            self._alu(op)
        a.bind(slt)
        self._setcc(A.CC_L)
        a.bind(sltu)
        self._setcc(A.CC_B)
        for lab, op in ((sll, A.SHL), (srl, A.SHR), (alt[5], A.SAR)):
            a.bind(lab)
            self._shift(op)
        self.muldiv(mul)

    def muldiv(self, labels: list[A.Label]) -> None:
        a = self.a
        mul, mulh, mulhsu, mulhu, div, divu, rem, remu = labels
        a.bind(mul)
        a.mov_rr(RAX, RSI)
        a.imul_rr(RAX, RDX)
        self.write_back()
        for lab, signed in ((mulh, True), (mulhu, False)):
            a.bind(lab)
            a.mov_rr(RAX, RSI)
            a.mul_r(RDX, signed)
            a.mov_rr(RAX, RDX)
            self.write_back()
        a.bind(mulhsu)  # signed x unsigned: the unsigned high half, less rs2 if rs1 < 0
        a.mov_rr(RAX, RSI)
        a.mov_rr(RDI, RDX)
        a.mul_r(RDI, False)
        a.mov_rr(RAX, RDX)
        a.test_rr(RSI, RSI)
        done = a.label()
        a.jcc(A.CC_NS, done)
        a.alu_rr(A.SUB, RAX, RDI)
        a.bind(done)
        self.write_back()
        self._divide(div, rem, divu, remu, w32=False)

    def _divide(self, div: A.Label, rem: A.Label, divu: A.Label, remu: A.Label,
                w32: bool) -> None:
        """RISC-V division never traps: x/0 is all ones (quotient) or x (remainder);
        the signed overflow MIN/-1 is MIN (quotient) or 0 (remainder). The 32-bit forms
        divide the sign- or zero-extended operands with 64-bit instructions, where
        MIN32/-1 cannot overflow, and sign-extend the low word of the result."""
        a = self.a
        for lab, signed, want_rem in ((div, True, False), (rem, True, True),
                                      (divu, False, False), (remu, False, True)):
            a.bind(lab)
            if w32:
                if signed:
                    a.movsxd(RSI, RSI)
                    a.movsxd(RDI, RDX)
                else:
                    a.mov_rr32(RSI, RSI)
                    a.mov_rr32(RDI, RDX)
            else:
                a.mov_rr(RDI, RDX)
            by_zero = a.label()
            done = a.label()
            a.test_rr(RDI, RDI)
            a.jcc(A.CC_E, by_zero)
            a.mov_rr(RAX, RSI)
            if signed and not w32:
                normal = a.label()
                a.alu_ri(A.CMP, RDI, -1)
                a.jcc(A.CC_NE, normal)
                if want_rem:
                    a.alu_rr(A.XOR, RAX, RAX, w=False)
                else:
                    a.neg(RAX)
                self.write_back()
                a.bind(normal)
            if signed:
                a.cqo()
            else:
                a.alu_rr(A.XOR, RDX, RDX, w=False)
            a.div_r(RDI, signed)
            if want_rem:
                a.mov_rr(RAX, RDX)
            a.jmp(done)
            a.bind(by_zero)
            if want_rem:
                a.mov_rr(RAX, RSI)
            else:
                a.mov_ri(RAX, -1)
            a.bind(done)
            if w32:
                a.movsxd(RAX, RAX)
            self.write_back()

    def op32(self) -> None:
        a = self.a
        self._rr_operands()
        u = self.unsupported
        base = [a.label(), a.label(), u, u, u, a.label(), u, u]
        alt = [a.label(), u, u, u, u, a.label(), u, u]
        mul = [a.label(), u, u, u, a.label(), a.label(), a.label(), a.label()]
        self._funct7_split({0: base, 0x20: alt, 1: mul})
        a.bind(base[0])
        a.lea(RAX, Mem(RSI, 0, RDX, 1))
        a.movsxd(RAX, RAX)
        self.write_back()
        a.bind(alt[0])
        a.mov_rr(RAX, RSI)
        a.alu_rr(A.SUB, RAX, RDX)
        a.movsxd(RAX, RAX)
        self.write_back()
        for lab, op in ((base[1], A.SHL), (base[5], A.SHR), (alt[5], A.SAR)):
            a.bind(lab)
            self._shift(op, True)
        a.bind(mul[0])
        a.mov_rr(RAX, RSI)
        a.imul_rr(RAX, RDX)
        a.movsxd(RAX, RAX)
        self.write_back()
        self._divide(mul[4], mul[6], mul[5], mul[7], w32=True)

    def lui(self) -> None:
        a = self.a
        self.entry_for()
        self.rd()
        a.movsxd(RAX, RCX)
        a.alu_ri(A.AND, RAX, -4096)
        self.write_back()

    def auipc(self) -> None:
        a = self.a
        self.entry_for()
        self.rd()
        a.movsxd(RAX, RCX)
        a.alu_ri(A.AND, RAX, -4096)
        a.alu_rr(A.ADD, RAX, RBX)
        self.write_back()

    def branch(self) -> None:
        a = self.a

        def operands() -> None:
            self.reg(RSI, 15)
            self.reg(RDX, 20)
            # imm[12] = insn[31], imm[10:5] = insn[30:25], imm[4:1] = insn[11:8],
            # imm[11] = insn[7]
            self.sign_bit(R9, 12)
            self.or_bits(R9, 25, 0x3F, 5)
            self.or_bits(R9, 8, 0xF, 1)
            self.or_bits(R9, 7, 1, 11)

        ccs = (A.CC_E, A.CC_NE, None, None, A.CC_L, A.CC_GE, A.CC_B, A.CC_AE)
        labels = [a.label() if cc is not None else self.unsupported for cc in ccs]
        self.split(operands, labels)
        for lab, cc in zip(labels, ccs, strict=True):
            if cc is None:
                continue
            a.bind(lab)
            a.alu_rr(A.CMP, RSI, RDX)
            taken = a.label()
            a.jcc(cc, taken)
            self.retire()
            a.bind(taken)
            self.branch_taken()

    def jal(self) -> None:
        a = self.a
        self.entry_for()
        self.rd()
        # imm[20] = insn[31], imm[10:1] = insn[30:21], imm[11] = insn[20], imm[19:12] as is
        self.sign_bit(R9, 20)
        self.or_bits(R9, 21, 0x3FF, 1)
        self.or_bits(R9, 20, 1, 11)
        self.or_bits(R9, 12, 0xFF, 12)
        a.store(Mem(RBP, 0, R8, 8), R12)
        a.store_imm(Mem(RBP, 0), 0)
        self.branch_taken()

    def jalr(self) -> None:
        a = self.a
        self.entry_for((0,))
        self.rd()
        self.reg(RSI, 15)
        self.imm_i()
        a.lea(RBX, Mem(RSI, 0, RDX, 1))  # the target, before rd (which may be rs1) changes
        a.alu_ri(A.AND, RBX, -2)
        a.store(Mem(RBP, 0, R8, 8), R12)
        a.store_imm(Mem(RBP, 0), 0)
        self.block_start()

    def misc_mem(self) -> None:
        self.entry_for((0,))  # fence.i and the rest: the translator's
        self.retire()  # fence: one hart at a time, in program order

    def system(self) -> None:
        a = self.a
        self.entry_for((0,))
        a.alu_ri(A.CMP, RCX, 0x73)  # ecall; csr*, ebreak, wfi...: the translator's
        a.jcc(A.CC_NE, self.unsupported)
        a.mov_rr(RBX, R12)
        self.exit_(I_SYSCALL)


