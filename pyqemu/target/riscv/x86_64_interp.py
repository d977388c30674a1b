"""A RISC-V (RV64IMC) interpreter in x86-64 machine code: tier 0 of native user mode.

Translating a block costs 25-40 µs per guest instruction in Python, and most blocks of a
program run only a few times (start-up code, error paths): a first run of a short
program spends most of its time translating. This interpreter, assembled once by our own
assembler and placed in the code buffer next to the prologue, runs such code without
translating it. It fetches and decodes each instruction from guest memory, works on the
same CPU state buffer as translated blocks, and at every taken branch or jump:

* leaves for the loop when the exit flag is raised (signals, another thread), with the
  exact pc;
* looks the target up in the jump cache and jumps into its translated block on a hit;
* counts the target in a table of 16-bit counters indexed by pc; a counter that wraps
  (after ``TIER_UP`` visits) asks the loop to translate the block there (tier-up).

Compressed instructions are expanded through a 64 Ki-entry table (``rvc_table``) built
from ``decode_rvc.expand_rvc``: every halfword's 32-bit equivalent, 0 for a reserved
encoding. Whatever the interpreter does not implement (F/D, A, CSRs, fence.i, ebreak,
illegal encodings, a 32-bit instruction straddling a page) leaves with the exact pc and
the loop translates a block starting there: the translator stays the single authority on
the rest of the ISA, including which encodings are illegal.

Instruction fetch is allowed from pages the loop has checked as executable; a direct-mapped
cache of 256 checked page numbers lives in the data area, and a miss leaves for the loop
(which checks, fills, or delivers SIGSEGV). Loads and stores are bounds-checked exactly as
translated code does (guest_base + offset, offset masked and compared with the limit).

Registers (inside the prologue's frame; rbp, r13-r15 as for translated code):
  r11 the code buffer's start as executed (data area, tables; read-only), rbx the pc, r12 the next pc,
  rcx the instruction, r10 the last checked page, r8 rd, rsi/rdx operands, r9 the
  branch offset or store value; rax, rdi scratch.
"""

from __future__ import annotations

import struct

from ...tcg.backends.x86_64 import asm as A
from ...tcg.backends.x86_64 import codebuf as CB
from ...tcg.backends.x86_64.asm import (
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
    RAX,
    RBP,
    RBX,
    RCX,
    RDI,
    RDX,
    RSI,
    Mem,
)
from ...tcg.backends.x86_64.regs import EXIT_FAULT, EXIT_REQUEST
from . import cpu_state as cs

TIER_UP = 64  # visits of a branch target before its block is translated
INTERP_ID = 0xFFFFFF  # the "tb_id" of interpreter exits: (INTERP_ID << 8) | kind
I_TIERUP = 0x90  # translate the block at pc (hot, or found by a jump-cache collision)
I_UNSUPPORTED = 0x91  # translate the block at pc: its first instruction is not ours
I_PAGE = 0x92  # pc is on a page not in the checked-page cache
I_SYSCALL = 0x93  # ecall: pc holds the next instruction
PAGE_CACHE_MASK = CB.INTERP_PAGE_ENTRIES - 1
COUNTER_MASK = CB.INTERP_COUNTERS - 1
_PC = 8 * cs.PC
_F0 = 8 * cs.F0
_BOX = 0xFFFFFFFF00000000  # NaN-boxing of a single in a 64-bit f register
_PLACEHOLDER = 0x7FFFFFF0  # a disp32 patched once the tables are placed


class _Asm(A.Assembler):
    """The assembler plus the forms only the interpreter needs: 32-bit ALU and shifts,
    and a RIP-relative lea."""

    def alu32_rr(self, op: int, dst: int, src: int) -> None:
        self._op(bytes([op * 8 + 1]), src, dst, w=False)

    def shift32_cl(self, op: int, r: int) -> None:
        self._op(b"\xD3", op, r, w=False)

    def shift32_ri(self, op: int, r: int, n: int) -> None:
        self._op(b"\xC1", op, r, w=False)
        self.buf.append(n & 31)

    def add16_mi(self, m: Mem, imm: int) -> None:
        """add word [m], imm16 (sets CF on unsigned overflow)."""
        self._op(b"\x81", A.ADD, m, w=False, prefix=b"\x66")
        self.buf += struct.pack("<H", imm & 0xFFFF)

    def cmp16_mi(self, m: Mem, imm: int) -> None:
        self._op(b"\x83", A.CMP, m, w=False, prefix=b"\x66")
        self.buf.append(imm & 0xFF)

    def lea_buffer_start(self, at: int) -> None:
        """lea r11, [rip + disp32]: the code buffer's offset 0, for code placed at at."""
        self.buf += b"\x4C\x8D\x1D"
        self.buf += struct.pack("<i", -(at + len(self.buf) + 4))


class _Builder:
    def __init__(self, at: int, epilogue: int, low: int) -> None:
        self.a = _Asm()
        self.at = at
        self.low = low
        self.epilogue = epilogue
        self.tables: list[tuple[int, list[A.Label]]] = []  # (disp32 offset, entries)
        a = self.a
        self.next = a.label()
        self.new_block = a.label()
        self.wb = a.label()  # rax -> x[rd], then the next instruction
        self.unsupported = a.label()
        self.fault = a.label()
        self.taken = a.label()

    # ------------------------------------------------------------ small pieces
    def dispatch(self, idx: int, entries: list[A.Label]) -> None:
        """Jump through a table of buffer offsets indexed by register idx."""
        a = self.a
        a.load(RAX, Mem(R11, _PLACEHOLDER, idx, 4), 4, signed=True)
        self.tables.append((a.pos() - 4, entries))
        a.alu_rr(A.ADD, RAX, R11)
        a.jmp_r(RAX)

    def exit_(self, kind: int) -> None:
        """Store the pc and leave through the epilogue with (INTERP_ID << 8) | kind."""
        a = self.a
        a.store(Mem(RBP, _PC), RBX)
        a.buf.append(0xB8)
        a.buf += struct.pack("<I", (INTERP_ID << 8) | kind)
        a.buf.append(0xE9)
        a.buf += struct.pack("<i", self.epilogue - (self.at + a.pos() + 4))

    def field(self, dst: int, shift: int, mask: int) -> None:
        a = self.a
        a.mov_rr32(dst, RCX)
        if shift:
            a.shift_ri(A.SHR, dst, shift)
        if mask is not None:
            a.alu_ri(A.AND, dst, mask)

    def rd(self) -> None:
        self.field(R8, 7, 31)

    def reg(self, dst: int, shift: int) -> None:
        """dst = x[insn >> shift & 31]."""
        self.field(RAX, shift, 31)
        self.a.load(dst, Mem(RBP, 0, RAX, 8))

    def imm_i(self, dst: int = RDX) -> None:
        self.a.movsxd(dst, RCX)
        self.a.shift_ri(A.SAR, dst, 20)

    def funct3(self) -> None:
        self.field(RAX, 12, 7)

    def or_bits(self, dst: int, shift: int, mask: int, to: int) -> None:
        """dst |= ((insn >> shift) & mask) << to."""
        a = self.a
        self.field(RAX, shift, mask)
        if to:
            a.shift_ri(A.SHL, RAX, to)
        a.alu_rr(A.OR, dst, RAX)

    def sign_bit(self, dst: int, to: int) -> None:
        """dst = -(insn >> 31) << to: the sign of an immediate whose top bit is bit 31."""
        a = self.a
        a.movsxd(dst, RCX)
        a.shift_ri(A.SAR, dst, 31)
        a.shift_ri(A.SHL, dst, to)

    def mem_offset(self, indexed: bool = True) -> None:
        """rax = guest-space offset of rsi + rdx (of rsi alone when not indexed); leave
        through the fault exit if outside."""
        a = self.a
        a.lea(RAX, Mem(RSI, -self.low, RDX if indexed else None, 1))
        a.alu_rr(A.AND, RAX, R14)
        a.alu_rr(A.CMP, RAX, R13)
        a.jcc(A.CC_A, self.fault)

    def retire(self) -> None:
        self.a.mov_rr(RBX, R12)
        self.a.jmp(self.next)

    def bind_new(self) -> A.Label:
        lab = self.a.label()
        self.a.bind(lab)
        return lab

    # ------------------------------------------------------------ the core loop
    def core(self) -> int:
        """Entry, block start, fetch and decode; returns the entry's offset."""
        a = self.a
        entry = a.pos()
        a.lea_buffer_start(self.at)
        a.load(RBX, Mem(RBP, _PC))
        a.mov_ri(R10, -1)
        # A block starts at rbx: the exit flag, the jump cache, the tier-up counter.
        a.bind(self.new_block)
        a.cmp16_mi(Mem(R11, CB.EXIT_FLAG), 0)
        request = a.label()
        a.jcc(A.CC_NE, request)
        a.mov_rr32(RAX, RBX)
        a.shift_ri(A.SHR, RAX, 1)
        a.alu_ri(A.AND, RAX, CB.JC_ENTRIES - 1)
        a.shift_ri(A.SHL, RAX, 4)
        a.alu_rm(A.CMP, RBX, Mem(R11, CB.JUMP_CACHE, RAX, 1))
        count = a.label()
        a.jcc(A.CC_NE, count)
        a.jmp_r(Mem(R11, CB.JUMP_CACHE + 8, RAX, 1))
        a.bind(count)
        a.mov_rr32(RAX, RBX)
        a.shift_ri(A.SHR, RAX, 1)
        a.alu_ri(A.AND, RAX, COUNTER_MASK)
        a.load(RDI, Mem(R11, CB.INTERP_RW_BASE))  # the executable mapping is read-only
        a.add16_mi(Mem(RDI, CB.INTERP_COUNTER_TABLE, RAX, 2), 0x10000 // TIER_UP)
        tier_up = a.label()
        a.jcc(A.CC_B, tier_up)  # the counter wrapped
        # Fetch: the page must be one the loop checked as executable.
        a.bind(self.next)
        a.mov_rr(RAX, RBX)
        a.shift_ri(A.SHR, RAX, 12)
        a.alu_rr(A.CMP, RAX, R10)
        page_check = a.label()
        a.jcc(A.CC_NE, page_check)
        fetch = self.bind_new()
        a.lea(RDI, Mem(RBX, -self.low))
        a.alu_rr(A.AND, RDI, R14)
        a.load(RCX, Mem(R15, 0, RDI, 1), 2)
        a.mov_rr32(RAX, RCX)
        a.alu_ri(A.AND, RAX, 3)
        a.alu_ri(A.CMP, RAX, 3)
        compressed = a.label()
        a.jcc(A.CC_NE, compressed)
        a.mov_rr32(RAX, RBX)
        a.alu_ri(A.AND, RAX, 0xFFF)
        a.alu_ri(A.CMP, RAX, 0xFFE)
        a.jcc(A.CC_E, self.unsupported)  # straddles a page: the translator checks both
        a.load(RCX, Mem(R15, 0, RDI, 1), 4)
        a.lea(R12, Mem(RBX, 4))
        dispatch32 = self.bind_new()
        self.field(RAX, 2, 31)
        self.dispatch(RAX, self.major)
        a.bind(compressed)
        a.load(RCX, Mem(R11, CB.RVC_TABLE, RCX, 4), 4)
        a.test_rr(RCX, RCX)
        a.jcc(A.CC_E, self.unsupported)
        a.lea(R12, Mem(RBX, 2))
        a.jmp(dispatch32)
        a.bind(page_check)
        a.mov_rr32(RDI, RAX)
        a.alu_ri(A.AND, RDI, PAGE_CACHE_MASK)
        a.alu_rm(A.CMP, RAX, Mem(R11, CB.INTERP_PAGE_CACHE, RDI, 8))
        page_miss = a.label()
        a.jcc(A.CC_NE, page_miss)
        a.mov_rr(R10, RAX)
        a.jmp(fetch)
        # Write-back: x0 is written like any register and cleared again.
        a.bind(self.wb)
        a.store(Mem(RBP, 0, R8, 8), RAX)
        a.store_imm(Mem(RBP, 0), 0)
        self.retire()
        a.bind(self.taken)
        a.alu_rr(A.ADD, RBX, R9)
        a.jmp(self.new_block)
        # Exits.
        for lab, kind in ((request, EXIT_REQUEST), (tier_up, I_TIERUP),
                          (page_miss, I_PAGE), (self.unsupported, I_UNSUPPORTED),
                          (self.fault, EXIT_FAULT)):
            a.bind(lab)
            self.exit_(kind)
        return entry

    # ------------------------------------------------------------ instruction groups
    def build(self) -> int:
        a = self.a
        self.major = [self.unsupported] * 32
        entry = self.core()
        for opcode, gen in ((0x00, self.load), (0x08, self.store), (0x04, self.op_imm),
                            (0x01, self.load_fp), (0x09, self.store_fp), (0x14, self.op_fp),
                            (0x0B, self.amo),
                            (0x06, self.op_imm32), (0x0C, self.op), (0x0E, self.op32),
                            (0x0D, self.lui), (0x05, self.auipc), (0x18, self.branch),
                            (0x1B, self.jal), (0x19, self.jalr), (0x03, self.misc_mem),
                            (0x1C, self.system)):
            self.major[opcode] = self.bind_new()
            gen()
        a.nop_to_align(4)
        for disp_at, entries in self.tables:
            struct.pack_into("<i", a.buf, disp_at, self.at + a.pos())
            for lab in entries:
                a.buf += struct.pack("<i", self.at + lab.pos)
        return entry

    def load(self) -> None:
        a = self.a
        self.rd()
        self.reg(RSI, 15)
        self.imm_i()
        self.funct3()
        forms = [(1, True), (2, True), (4, True), (8, False), (1, False), (2, False),
                 (4, False)]
        labels = [a.label() for _ in forms] + [self.unsupported]
        self.dispatch(RAX, labels)
        for lab, (size, signed) in zip(labels, forms, strict=False):
            a.bind(lab)
            self.mem_offset()
            a.load(RAX, Mem(R15, 0, RAX, 1), size, signed)
            a.jmp(self.wb)

    def store(self) -> None:
        a = self.a
        self.reg(RSI, 15)
        self.reg(R9, 20)
        self.sign_bit(RDX, 0)
        a.shift_ri(A.SHL, RDX, 12)  # imm[11:5] = insn[31:25], imm[4:0] = insn[11:7]
        self.or_bits(RDX, 25, 0x7F, 5)
        self.or_bits(RDX, 7, 31, 0)
        self.funct3()
        labels = [a.label() for _ in range(4)] + [self.unsupported] * 4
        self.dispatch(RAX, labels)
        for lab, size in zip(labels, (1, 2, 4, 8), strict=False):
            a.bind(lab)
            self.mem_offset()
            a.store(Mem(R15, 0, RAX, 1), R9, size)
            self.retire()

    def load_fp(self) -> None:
        """flw (NaN-boxed: the upper 32 bits all ones) and fld; no FP state changes."""
        a = self.a
        self.rd()
        self.reg(RSI, 15)
        self.imm_i()
        self.funct3()
        flw, fld = a.label(), a.label()
        self.dispatch(RAX, [self.unsupported] * 2 + [flw, fld] + [self.unsupported] * 4)
        a.bind(flw)
        self.mem_offset()
        a.load(RAX, Mem(R15, 0, RAX, 1), 4)
        a.mov_ri(RDX, _BOX)
        a.alu_rr(A.OR, RAX, RDX)
        f_wb = self.bind_new()
        a.store(Mem(RBP, _F0, R8, 8), RAX)
        self.retire()
        a.bind(fld)
        self.mem_offset()
        a.load(RAX, Mem(R15, 0, RAX, 1), 8)
        a.jmp(f_wb)
        self.f_wb = f_wb

    def store_fp(self) -> None:
        a = self.a
        self.reg(RSI, 15)
        self.field(RAX, 20, 31)
        a.load(R9, Mem(RBP, _F0, RAX, 8))
        self.sign_bit(RDX, 0)
        a.shift_ri(A.SHL, RDX, 12)
        self.or_bits(RDX, 25, 0x7F, 5)
        self.or_bits(RDX, 7, 31, 0)
        self.funct3()
        fsw, fsd = a.label(), a.label()
        self.dispatch(RAX, [self.unsupported] * 2 + [fsw, fsd] + [self.unsupported] * 4)
        for lab, size in ((fsw, 4), (fsd, 8)):
            a.bind(lab)
            self.mem_offset()
            a.store(Mem(R15, 0, RAX, 1), R9, size)
            self.retire()

    def op_fp(self) -> None:
        """Only the moves between x and f registers (no rounding, no flags): fmv.x.w,
        fmv.w.x, fmv.x.d, fmv.d.x. funct7 | rs2 | funct3 must match exactly."""
        a = self.a
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
                a.load(RAX, Mem(RBP, _F0, RAX, 8))
                if gen == "x_w":
                    a.movsxd(RAX, RAX)
                a.jmp(self.wb)
            else:
                a.load(RAX, Mem(RBP, 0, RAX, 8))
                if gen == "w_x":
                    a.mov_rr32(RAX, RAX)
                    a.mov_ri(RDX, _BOX)
                    a.alu_rr(A.OR, RAX, RDX)
                a.jmp(self.f_wb)
            a.bind(nxt)
        a.jmp(self.unsupported)

    def amo(self) -> None:
        """LR/SC and the AMOs, as the translator does them (trans_rva): one hart runs at
        a time, so a read-modify-write is atomic; SC succeeds when the reservation is
        this address and memory still holds what LR loaded."""
        a = self.a
        self.rd()
        self.reg(RSI, 15)
        self.reg(R9, 20)
        self.funct3()
        a.alu_ri(A.SUB, RAX, 2)
        a.alu_ri(A.CMP, RAX, 1)
        a.jcc(A.CC_A, self.unsupported)  # neither .w nor .d
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
        self.mem_offset(indexed=False)
        a.load(RAX, Mem(R15, 0, RAX, 1), size, size == 4)
        a.store(Mem(RBP, 8 * cs.LR_ADDR), RSI)
        a.store(Mem(RBP, 8 * cs.LR_VALUE), RAX)
        a.jmp(self.wb)

    def _sc(self, size: int) -> None:
        a = self.a
        fail = a.label()
        a.alu_rm(A.CMP, RSI, Mem(RBP, 8 * cs.LR_ADDR))
        a.jcc(A.CC_NE, fail)
        self.mem_offset(indexed=False)
        a.load(RDX, Mem(R15, 0, RAX, 1), size, size == 4)
        a.alu_rm(A.CMP, RDX, Mem(RBP, 8 * cs.LR_VALUE))
        a.jcc(A.CC_NE, fail)
        a.store(Mem(R15, 0, RAX, 1), R9, size)
        a.store_imm(Mem(RBP, 8 * cs.LR_ADDR), -1)  # RESERVATION_NONE
        a.alu_rr(A.XOR, RAX, RAX, w=False)
        a.jmp(self.wb)
        a.bind(fail)
        a.store_imm(Mem(RBP, 8 * cs.LR_ADDR), -1)
        a.mov_ri(RAX, 1)
        a.jmp(self.wb)

    def _amo_op(self, op: int | None, minmax: bool, size: int) -> None:
        """rax = old value (sign-extended for .w), memory = op(old, rs2)."""
        a = self.a
        self.mem_offset(indexed=False)
        a.load(RDI, Mem(R15, 0, RAX, 1), size, size == 4)
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
        a.store(Mem(R15, 0, RAX, 1), RDX, size)
        a.mov_rr(RAX, RDI)
        a.jmp(self.wb)

    def _setcc(self, cc: int) -> None:
        a = self.a
        a.alu_rr(A.XOR, RAX, RAX, w=False)
        a.alu_rr(A.CMP, RSI, RDX)
        a.setcc(cc, RAX)
        a.jmp(self.wb)

    def _alu(self, op: int) -> None:
        a = self.a
        a.mov_rr(RAX, RSI)
        a.alu_rr(op, RAX, RDX)
        a.jmp(self.wb)

    def _shift(self, op: int, w32: bool = False) -> None:
        a = self.a
        a.mov_rr(RAX, RSI)
        a.mov_rr(RCX, RDX)
        if w32:
            a.shift32_cl(op, RAX)
            a.movsxd(RAX, RAX)
        else:
            a.shift_cl(op, RAX)
        a.jmp(self.wb)

    def _require_top(self, shift: int, value: int, ok: A.Label) -> None:
        """Go to ok when insn >> shift == value (a funct6/funct7 check)."""
        a = self.a
        a.mov_rr32(RDI, RCX)
        a.shift_ri(A.SHR, RDI, shift)
        a.alu_ri(A.CMP, RDI, value)
        a.jcc(A.CC_E, ok)

    def op_imm(self) -> None:
        a = self.a
        self.rd()
        self.reg(RSI, 15)
        self.imm_i()
        self.funct3()
        labels = [a.label() for _ in range(8)]
        self.dispatch(RAX, labels)
        addi, slli, slti, sltiu, xori, sr, ori, andi = labels
        a.bind(addi)
        a.lea(RAX, Mem(RSI, 0, RDX, 1))
        a.jmp(self.wb)
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
        self.rd()
        self.reg(RSI, 15)
        self.imm_i()
        self.funct3()
        labels = [a.label(), a.label()] + [self.unsupported] * 3 + [a.label()] + \
            [self.unsupported] * 2
        self.dispatch(RAX, labels)
        addiw, slliw, sr = labels[0], labels[1], labels[5]
        a.bind(addiw)
        a.lea(RAX, Mem(RSI, 0, RDX, 1))
        a.movsxd(RAX, RAX)
        a.jmp(self.wb)
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
        """Dispatch on funct7 (from the listed values) then funct3."""
        a = self.a
        for f7, labels in groups.items():
            nxt = a.label()
            a.mov_rr32(RDI, RCX)
            a.shift_ri(A.SHR, RDI, 25)
            a.alu_ri(A.CMP, RDI, f7)
            a.jcc(A.CC_NE, nxt)
            self.funct3()
            self.dispatch(RAX, labels)
            a.bind(nxt)
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
        a.jmp(self.wb)
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
        a.jmp(self.wb)
        for lab, signed in ((mulh, True), (mulhu, False)):
            a.bind(lab)
            a.mov_rr(RAX, RSI)
            a.mul_r(RDX, signed)
            a.mov_rr(RAX, RDX)
            a.jmp(self.wb)
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
        a.jmp(self.wb)
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
                a.jmp(self.wb)
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
            a.jmp(self.wb)

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
        a.jmp(self.wb)
        a.bind(alt[0])
        a.mov_rr(RAX, RSI)
        a.alu_rr(A.SUB, RAX, RDX)
        a.movsxd(RAX, RAX)
        a.jmp(self.wb)
        for lab, op in ((base[1], A.SHL), (base[5], A.SHR), (alt[5], A.SAR)):
            a.bind(lab)
            self._shift(op, True)
        a.bind(mul[0])
        a.mov_rr(RAX, RSI)
        a.imul_rr(RAX, RDX)
        a.movsxd(RAX, RAX)
        a.jmp(self.wb)
        self._divide(mul[4], mul[6], mul[5], mul[7], w32=True)

    def lui(self) -> None:
        a = self.a
        self.rd()
        a.movsxd(RAX, RCX)
        a.alu_ri(A.AND, RAX, -4096)
        a.jmp(self.wb)

    def auipc(self) -> None:
        a = self.a
        self.rd()
        a.movsxd(RAX, RCX)
        a.alu_ri(A.AND, RAX, -4096)
        a.alu_rr(A.ADD, RAX, RBX)
        a.jmp(self.wb)

    def branch(self) -> None:
        a = self.a
        self.reg(RSI, 15)
        self.reg(RDX, 20)
        # imm[12] = insn[31], imm[10:5] = insn[30:25], imm[4:1] = insn[11:8], imm[11] = insn[7]
        self.sign_bit(R9, 12)
        self.or_bits(R9, 25, 0x3F, 5)
        self.or_bits(R9, 8, 0xF, 1)
        self.or_bits(R9, 7, 1, 11)
        self.funct3()
        ccs = (A.CC_E, A.CC_NE, None, None, A.CC_L, A.CC_GE, A.CC_B, A.CC_AE)
        labels = [a.label() if cc is not None else self.unsupported for cc in ccs]
        self.dispatch(RAX, labels)
        for lab, cc in zip(labels, ccs, strict=True):
            if cc is None:
                continue
            a.bind(lab)
            a.alu_rr(A.CMP, RSI, RDX)
            a.jcc(cc, self.taken)
            self.retire()

    def jal(self) -> None:
        a = self.a
        self.rd()
        # imm[20] = insn[31], imm[10:1] = insn[30:21], imm[11] = insn[20], imm[19:12] as is
        self.sign_bit(R9, 20)
        self.or_bits(R9, 21, 0x3FF, 1)
        self.or_bits(R9, 20, 1, 11)
        self.or_bits(R9, 12, 0xFF, 12)
        a.store(Mem(RBP, 0, R8, 8), R12)
        a.store_imm(Mem(RBP, 0), 0)
        a.jmp(self.taken)

    def jalr(self) -> None:
        a = self.a
        self.funct3()
        a.test_rr(RAX, RAX)
        a.jcc(A.CC_NE, self.unsupported)
        self.rd()
        self.reg(RSI, 15)
        self.imm_i()
        a.lea(RBX, Mem(RSI, 0, RDX, 1))  # the target, before rd (which may be rs1) changes
        a.alu_ri(A.AND, RBX, -2)
        a.store(Mem(RBP, 0, R8, 8), R12)
        a.store_imm(Mem(RBP, 0), 0)
        a.jmp(self.new_block)

    def misc_mem(self) -> None:
        a = self.a
        self.funct3()
        a.test_rr(RAX, RAX)
        a.jcc(A.CC_NE, self.unsupported)  # fence.i and the rest: the translator's
        self.retire()  # fence: one hart at a time, in program order

    def system(self) -> None:
        a = self.a
        a.alu_ri(A.CMP, RCX, 0x73)  # ecall; csr*, ebreak, wfi...: the translator's
        a.jcc(A.CC_NE, self.unsupported)
        a.mov_rr(RBX, R12)
        self.exit_(I_SYSCALL)


class Interpreter:
    """The assembled interpreter: ``code`` to place at buffer offset ``at``, entered at
    ``at + entry`` with the pc in the state buffer. low: the guest address at offset 0
    of the guest space (translated code's convention)."""

    def __init__(self, at: int, epilogue: int, low: int) -> None:
        b = _Builder(at, epilogue, low)
        self.entry = b.build()
        self.code = bytes(b.a.buf)
        self.at = at


def rvc_table() -> bytes:
    """Every halfword's 32-bit equivalent (0: reserved, or not a compressed encoding)."""
    from array import array

    from .decode_rvc import expand_rvc

    return array("I", [0 if (h & 3) == 3 else expand_rvc(h) for h in range(1 << 16)]).tobytes()
