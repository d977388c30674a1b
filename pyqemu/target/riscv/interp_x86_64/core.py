"""The interpreter's skeleton: entry, block start (exit flag, jump cache, tier-up
counter), fetch and decode, write-back and exits, and the operand helpers that the
instruction groups (rv64im.py, rva_fp.py) share. See the package docstring."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from ....linux_user.guest_memory import PAGE_BITS, PERM_READ, PERM_WRITE
from ....tcg.backends.x86_64 import asm as A
from ....tcg.backends.x86_64 import codebuf as CB
from ....tcg.backends.x86_64.asm import (
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
from ....tcg.backends.x86_64.regs import EXIT_FAULT, EXIT_REQUEST
from .. import cpu_state as cs

# Visits of a branch target before its block is translated, in user and in system mode
# (1..65536; PYQEMU_TIER_UP overrides both, for measurements). A Linux boot runs much
# more code a few hundred times than a user program does: its translation cost weighs
# more than the slower interpretation up to a higher threshold.
TIER_UP = 256
SYSTEM_TIER_UP = 4096


def tier_up(system: bool) -> int:
    forced = os.environ.get("PYQEMU_TIER_UP")
    n = int(forced) if forced else SYSTEM_TIER_UP if system else TIER_UP
    return min(max(n, 1), 0x10000)


def counter_increment(system: bool) -> int:
    """What a visit adds to its 16-bit counter: the counter wraps (the tier-up) after
    tier_up(system) visits; a counter set to 0x10000 - this wraps at the next visit."""
    return 0x10000 // tier_up(system)
INTERP_ID = 0xFFFFFF  # the "tb_id" of interpreter exits: (INTERP_ID << 8) | kind
I_TIERUP = 0x90  # translate the block at pc (hot, or found by a jump-cache collision)
I_UNSUPPORTED = 0x91  # translate the block at pc: its first instruction is not ours
I_PAGE = 0x92  # pc is on a page not in the checked-page cache
I_SYSCALL = 0x93  # ecall: pc holds the next instruction
# System mode: a load (or store, or AMO) missed the data TLB. The address and the tag
# compared are in the words va_word and va_word + 1: the loop fills the TLB (or raises
# the page fault) and lets the interpreter run the instruction again.
I_TLB_READ = 0x94
I_TLB_WRITE = 0x95
PAGE_CACHE_MASK = CB.INTERP_PAGE_ENTRIES - 1
COUNTER_MASK = CB.INTERP_COUNTERS - 1
PC_OFF = 8 * cs.PC
F0_OFF = 8 * cs.F0
BOX = 0xFFFFFFFF00000000  # NaN-boxing of a single in a 64-bit f register
PLACEHOLDER = 0x7FFFFFF0  # a disp32 patched once the tables are placed



class Asm(A.Assembler):
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


class SystemLayout:
    """Where system mode keeps what the interpreter reads: word indices in the hart's
    state of the exit request, the jump cache's address, the TB flags, the data TLB of
    the current mode and the fetch-page cache; the softmmu's entry layout."""

    def __init__(self, exit_word: int, jc_word: int, flags_word: int, tlb_word: int,
                 fetch_word: int, jc_mask: int, jc_flags_shift: int, tlb_mask: int,
                 tag_read: int, tag_write: int, addend: int, entry_shift: int,
                 va_word: int, walk_read: int = 0, walk_write: int = 0) -> None:
        self.exit_word = exit_word
        self.jc_word = jc_word
        self.flags_word = flags_word
        self.tlb_word = tlb_word
        self.fetch_word = fetch_word
        self.jc_mask = jc_mask
        self.jc_flags_shift = jc_flags_shift
        self.tlb_mask = tlb_mask
        self.tag_read = tag_read
        self.tag_write = tag_write
        self.addend = addend
        self.entry_shift = entry_shift
        self.va_word = va_word
        # Buffer offsets of the page-table walker's entries (0: none), which a TLB miss
        # asks first (tcg/backends/x86_64/ptw.py).
        self.walk_read = walk_read
        self.walk_write = walk_write


class Core:
    def __init__(self, at: int, epilogue: int, low: int,
                 system: SystemLayout | None = None) -> None:
        self.a = Asm()
        self.at = at
        self.low = low
        self.sys = system
        self.epilogue = epilogue
        self.tables: list[tuple[int, list[A.Label]]] = []  # (disp32 offset, entries)
        a = self.a
        self.new_block = a.label()
        self.unsupported = a.label()
        self.fault = a.label()
        self.request = a.label()
        self.tier_up = a.label()
        self.page_check = a.label()
        self.fetch = a.label()
        self.tlb_miss = (a.label(), a.label())  # (read, write)

    # ------------------------------------------------------------ small pieces
    def dispatch(self, idx: int, entries: list[A.Label]) -> None:
        """Jump through a table of buffer offsets indexed by register idx."""
        a = self.a
        a.load(RAX, Mem(R11, PLACEHOLDER, idx, 4), 4, signed=True)
        self.tables.append((a.pos() - 4, entries))
        a.alu_rr(A.ADD, RAX, R11)
        a.jmp_r(RAX)

    def exit_(self, kind: int) -> None:
        """Store the pc and leave through the epilogue with (INTERP_ID << 8) | kind."""
        a = self.a
        a.store(Mem(RBP, PC_OFF), RBX)
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

    def imm_s(self) -> None:
        """rdx = the S-type immediate: imm[11:5] = insn[31:25], imm[4:0] = insn[11:7]."""
        self.sign_bit(RDX, 0)
        self.a.shift_ri(A.SHL, RDX, 12)
        self.or_bits(RDX, 25, 0x7F, 5)
        self.or_bits(RDX, 7, 31, 0)

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

    def mem_offset(self, size: int, write: bool, indexed: bool = True) -> Mem:
        """The host operand for an access of size bytes at rsi + rdx (rsi alone when not
        indexed), in rax. User mode: the guest-space offset, bounds-checked (the fault
        exit). System mode: the data TLB of the current mode, as translated code checks
        it; a miss (or a misaligned access, MMIO, a code page) leaves for the translator,
        whose block takes the slow path with a precise trap."""
        a = self.a
        if self.sys is None:
            # The page permission table, as translated code tests it (usermem.py):
            # the page, then for a misaligned access the page it may run into.
            bit = PERM_WRITE if write else PERM_READ
            a.lea(RAX, Mem(RSI, -self.low, RDX if indexed else None, 1))
            a.alu_rr(A.AND, RAX, R14)
            a.mov_rr(RCX, RAX)
            a.shift_ri(A.SHR, RCX, PAGE_BITS)
            a.test_mi8(Mem(R13, 0, RCX, 1), bit)
            a.jcc(A.CC_E, self.fault)
            if size > 1:
                ok = a.label()
                a.mov_rr32(RCX, RAX)
                a.alu_ri(A.AND, RCX, (1 << PAGE_BITS) - 1)
                a.alu_ri(A.CMP, RCX, (1 << PAGE_BITS) - size)
                a.jcc(A.CC_BE, ok)
                a.mov_rr(RCX, RAX)
                a.shift_ri(A.SHR, RCX, PAGE_BITS)
                a.test_mi8(Mem(R13, 1, RCX, 1), bit)
                a.jcc(A.CC_E, self.fault)
                a.bind(ok)
            return Mem(R15, 0, RAX, 1)
        sy = self.sys
        if indexed:
            a.lea(RAX, Mem(RSI, 0, RDX, 1))
        else:
            a.mov_rr(RAX, RSI)
        a.mov_rr(RCX, RAX)
        a.shift_ri(A.SHR, RCX, 12)
        a.alu_ri(A.AND, RCX, sy.tlb_mask)
        a.shift_ri(A.SHL, RCX, sy.entry_shift)
        a.alu_rr(A.ADD, RCX, R14)
        a.mov_rr(RDI, RAX)
        a.alu_ri(A.AND, RDI, -4096 | (size - 1))
        a.alu_rm(A.CMP, RDI, Mem(RCX, sy.tag_write if write else sy.tag_read))
        a.jcc(A.CC_NE, self.tlb_miss[write])
        a.alu_rm(A.ADD, RAX, Mem(RCX, sy.addend))
        return Mem(RAX, 0)

    def jump_cache_lookup(self, miss: A.Label) -> None:
        """Enter the translated block of pc rbx if the jump cache has it, else go to miss.
        System mode: the hart's jump cache, {virtual pc, TB flags, host} at a hash of
        both (as translated code's lookup computes it)."""
        a = self.a
        sy = self.sys
        if sy is None:
            a.mov_rr32(RAX, RBX)
            a.shift_ri(A.SHR, RAX, 1)
            a.alu_ri(A.AND, RAX, CB.JC_ENTRIES - 1)
            a.shift_ri(A.SHL, RAX, 4)
            a.alu_rm(A.CMP, RBX, Mem(R11, CB.JUMP_CACHE, RAX, 1))
            a.jcc(A.CC_NE, miss)
            a.jmp_r(Mem(R11, CB.JUMP_CACHE + 8, RAX, 1))
            return
        a.load(RDI, Mem(RBP, 8 * sy.flags_word))
        a.mov_rr(RAX, RDI)
        a.shift_ri(A.SHL, RAX, sy.jc_flags_shift)
        a.alu_rr(A.XOR, RAX, RBX)
        a.shift_ri(A.SHR, RAX, 1)
        a.alu_ri(A.AND, RAX, sy.jc_mask)
        a.shift_ri(A.SHL, RAX, 5)
        a.alu_rm(A.ADD, RAX, Mem(RBP, 8 * sy.jc_word))
        a.alu_rm(A.CMP, RBX, Mem(RAX, 0))
        a.jcc(A.CC_NE, miss)
        a.alu_rm(A.CMP, RDI, Mem(RAX, 8))
        a.jcc(A.CC_NE, miss)
        a.jmp_r(Mem(RAX, 16))

    def split(self, prologue: Callable[[], None], labels: list[A.Label]) -> None:
        """The entries of the current opcode, one per funct3: each decodes the operands
        (prologue) and goes to its label (unsupported: no entry)."""
        for f3, lab in enumerate(labels):
            if lab is self.unsupported:
                continue
            self.table[f3 << 5 | self.opcode] = self.bind_new()
            prologue()
            self.a.jmp(lab)

    def entry_for(self, funct3s: tuple[int, ...] = tuple(range(8))) -> None:
        """One entry, here, of the current opcode for these funct3 values."""
        lab = self.bind_new()
        for f3 in funct3s:
            self.table[f3 << 5 | self.opcode] = lab

    # Threaded code: every handler ends with its own copy of the block start or of the
    # fetch and dispatch, so that each indirect jump predicts from its own history (one
    # shared dispatch is mispredicted most of the time).
    def block_start(self, count: A.Label | None = None) -> None:
        """A block starts at rbx (a taken branch or jump): leave on the exit request,
        enter its translation if the jump cache has one, count a visit (tier-up), then
        fetch and dispatch."""
        a = self.a
        sy = self.sys
        if sy is None:
            a.cmp16_mi(Mem(R11, CB.EXIT_FLAG), 0)
        else:
            a.alu_ri(A.CMP, Mem(RBP, 8 * sy.exit_word), 0)
        a.jcc(A.CC_NE, self.request)
        count = count or a.label()
        self.jump_cache_lookup(count)
        a.bind(count)
        a.mov_rr32(RAX, RBX)
        a.shift_ri(A.SHR, RAX, 1)
        a.alu_ri(A.AND, RAX, COUNTER_MASK)
        a.load(RDI, Mem(R11, CB.INTERP_RW_BASE))  # the executable mapping is read-only
        a.add16_mi(Mem(RDI, CB.INTERP_COUNTER_TABLE, RAX, 2),
                   counter_increment(sy is not None))
        a.jcc(A.CC_B, self.tier_up)  # the counter wrapped
        self.fetch_and_dispatch()

    def fetch_and_dispatch(self) -> None:
        """Fetch the instruction at rbx from a page the loop checked as executable,
        expand it if compressed, and jump to its handler; r12 = the next pc."""
        a = self.a
        shared = self.fetch.pos is None  # the first copy is the one page checks return to
        a.mov_rr(RAX, RBX)
        a.shift_ri(A.SHR, RAX, 12)
        a.alu_rr(A.CMP, RAX, R10)
        a.jcc(A.CC_NE, self.page_check)
        if shared:
            a.bind(self.fetch)
        if self.sys is None:
            a.lea(RDI, Mem(RBX, -self.low))
            a.alu_rr(A.AND, RDI, R14)
            insn = Mem(R15, 0, RDI, 1)
        else:
            insn = Mem(R15, 0, RBX, 1)  # r15: host address minus virtual, for this page
        a.load(RCX, insn, 2)
        a.mov_rr32(RAX, RCX)
        a.alu_ri(A.AND, RAX, 3)
        a.alu_ri(A.CMP, RAX, 3)
        full, dispatch = a.label(), a.label()
        a.jcc(A.CC_E, full)
        a.load(RCX, Mem(R11, CB.RVC_TABLE, RCX, 4), 4)  # compressed: its expansion
        a.test_rr(RCX, RCX)
        a.jcc(A.CC_E, self.unsupported)
        a.lea(R12, Mem(RBX, 2))
        a.jmp(dispatch)
        a.bind(full)
        # A 32-bit instruction in a page's last halfword straddles two pages: the
        # translator handles it, checking both. (Only pc's page is known to be mapped
        # by r15 in system mode: pages adjacent in virtual memory need not be in RAM.)
        a.mov_rr32(RAX, RBX)
        a.alu_ri(A.AND, RAX, 0xFFF)
        a.alu_ri(A.CMP, RAX, 0xFFE)
        a.jcc(A.CC_E, self.unsupported)
        a.load(RCX, insn, 4)
        a.lea(R12, Mem(RBX, 4))
        # One dispatch on opcode[6:2] and funct3 together: (funct3 << 5) | opcode[6:2].
        a.bind(dispatch)
        self.field(RAX, 7, 0xE0)
        self.field(RDX, 2, 31)
        a.alu_rr(A.OR, RAX, RDX)
        self.dispatch(RAX, self.table)

    def write_back(self) -> None:
        """x[rd] = rax (x0 is written like any register and cleared again); go on."""
        a = self.a
        a.store(Mem(RBP, 0, R8, 8), RAX)
        a.store_imm(Mem(RBP, 0), 0)
        self.retire()

    def retire(self) -> None:
        self.a.mov_rr(RBX, R12)
        self.fetch_and_dispatch()

    def branch_taken(self) -> None:
        self.a.alu_rr(A.ADD, RBX, R9)
        self.block_start()

    def bind_new(self) -> A.Label:
        lab = self.a.label()
        self.a.bind(lab)
        return lab

    # ------------------------------------------------------------ the core loop
    def core(self) -> int:
        """Entry, block start, fetch and decode; returns the entry's offset."""
        a = self.a
        sy = self.sys
        count = a.label()
        entries = {}
        for then in (count, self.new_block):  # the second falls through to new_block
            # Two entries: the usual one, and one for jump-cache entries that lead here
            # (a cold target of translated code's lookup), which must not look again.
            entries[then] = a.pos()
            a.lea_buffer_start(self.at)
            a.load(RBX, Mem(RBP, PC_OFF))
            a.mov_ri(R10, -1)
            if sy is not None:  # r13-r15 are free in system mode (no guest_base)
                a.load(R14, Mem(RBP, 8 * sy.tlb_word))
                a.load(R13, Mem(RBP, 8 * sy.fetch_word))
            if then is count:
                a.jmp(count)
        entry, self.entry_counted = entries[self.new_block], entries[count]
        # A block starts at rbx: the exit flag, the jump cache, the tier-up counter.
        a.bind(self.new_block)
        self.block_start(count)
        a.bind(self.page_check)
        a.mov_rr32(RDI, RAX)
        a.alu_ri(A.AND, RDI, PAGE_CACHE_MASK)
        page_miss = a.label()
        if sy is None:
            a.alu_rm(A.CMP, RAX, Mem(R11, CB.INTERP_PAGE_CACHE, RDI, 8))
            a.jcc(A.CC_NE, page_miss)
        else:  # the hart's {virtual page, host address - virtual address} pairs
            a.shift_ri(A.SHL, RDI, 4)
            a.alu_rm(A.CMP, RAX, Mem(R13, 0, RDI, 1))
            a.jcc(A.CC_NE, page_miss)
            a.load(R15, Mem(R13, 8, RDI, 1))
        a.mov_rr(R10, RAX)
        a.jmp(self.fetch)
        # An instruction for the translator: its block may exist already (translated
        # the first time the interpreter stopped here), else leave for it.
        a.bind(self.unsupported)
        to_translator = a.label()
        self.jump_cache_lookup(to_translator)
        # Exits.
        if sy is not None:
            # A TLB miss at a pc that has a block (an MMIO access has a one-instruction
            # block once its first miss was found not to be RAM) runs the block, whose
            # slow path does the access; else the loop fills the TLB.
            for lab, kind, walker in zip(self.tlb_miss, (I_TLB_READ, I_TLB_WRITE),
                                         (sy.walk_read, sy.walk_write), strict=True):
                a.bind(lab)
                if walker:
                    # An aligned access whose page the walker finds: run the
                    # instruction again (it hits now).
                    slow = a.label()
                    a.mov_rr(RDX, RAX)
                    a.alu_ri(A.AND, RDX, -4096)
                    a.alu_rr(A.CMP, RDX, RDI)
                    a.jcc(A.CC_NE, slow)
                    a.buf.append(0xE8)  # call rel32
                    a.buf += struct.pack("<i", walker - (self.at + a.pos() + 4))
                    a.test_rr(RDX, RDX)
                    a.jcc(A.CC_NE, self.fetch)
                    a.bind(slow)
                a.store(Mem(RBP, 8 * sy.va_word), RAX)
                a.store(Mem(RBP, 8 * sy.va_word + 8), RDI)
                leave = a.label()
                self.jump_cache_lookup(leave)
                a.bind(leave)
                self.exit_(kind)
        for lab, kind in ((self.request, EXIT_REQUEST), (self.tier_up, I_TIERUP),
                          (page_miss, I_PAGE), (to_translator, I_UNSUPPORTED),
                          (self.fault, EXIT_FAULT if sy is None else I_UNSUPPORTED)):
            a.bind(lab)
            self.exit_(kind)
        return entry

    # ------------------------------------------------------------ instruction groups
    def build(self) -> int:
        a = self.a
        self.table = [self.unsupported] * 256  # (funct3 << 5) | opcode[6:2]
        entry = self.core()
        groups = [(0x00, self.load), (0x08, self.store), (0x04, self.op_imm),
                  (0x0B, self.amo), (0x06, self.op_imm32), (0x0C, self.op), (0x0E, self.op32),
                  (0x0D, self.lui), (0x05, self.auipc), (0x18, self.branch),
                  (0x1B, self.jal), (0x19, self.jalr), (0x03, self.misc_mem)]
        # FP loads, stores and moves; in system mode only while mstatus.FS is Dirty.
        groups += [(0x01, self.load_fp), (0x09, self.store_fp), (0x14, self.op_fp)]
        if self.sys is None:
            groups.append((0x1C, self.system))  # a trap in system mode (interp_sysinsn)
        for opcode, gen in groups:
            self.opcode = opcode
            gen()
        a.nop_to_align(4)
        placed: dict[int, int] = {}  # id(entries) -> the table's buffer offset
        for disp_at, entries in self.tables:  # one copy of each table, however many uses
            at = placed.get(id(entries))
            if at is None:
                at = placed[id(entries)] = self.at + a.pos()
                for lab in entries:
                    a.buf += struct.pack("<i", self.at + lab.pos)
            struct.pack_into("<i", a.buf, disp_at, at)
        return entry

