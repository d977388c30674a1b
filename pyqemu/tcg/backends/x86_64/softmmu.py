"""System-mode loads, stores and indirect jumps in native code (DESIGN.md section 3,
"Softmmu").

Each hart has a direct-mapped TLB per data-access mode: 32-byte entries
{read tag, write tag, addend, page}. A tag is the virtual page address, or an odd
value that no access can match; the access compares ``va & (~0xfff | (size - 1))``
with it, so a misaligned access misses as well and takes the slow path. On a hit
``va + addend`` is the host address of the guest RAM byte.

A miss leaves the inline path for a short out-of-line one that calls a thunk (one per
access size and signedness, emitted once per code buffer by ``emit_thunks``): the
thunk saves the caller-saved registers, calls the softmmu's Python slow path (page
walk, TLB refill, MMIO, page faults), restores them and returns; the block's path
then jumps back, so the register allocation is the same after either path. The
out-of-line path stores the instruction's pc first (the Python side sees where the
access is; the pc word means nothing else inside a block): a guest exception in the
slow path then leaves through the block's one EXIT_RAISED exit. Out-of-line paths
are short and have few shapes; their bytes are assembled once per shape.

Indirect jumps use the hart's jump cache: 32-byte entries {virtual pc, TB flags,
host address}, so that a block translated for another privilege or data mode is
never entered.
"""

from __future__ import annotations

import struct

from ...ir import GLOBAL, Kind, Op
from . import asm as A
from .asm import RAX, RBP, RCX, RDX, Mem
from .regs import CALLER_SAVED, EXIT_LOOKUP, EXIT_RAISED
from .reloc import RELOC_REL32

ENTRY_SHIFT = 5
JC_FLAGS_SHIFT = 6  # jump cache index: ((pc ^ (flags << 6)) >> 1) & mask
TAG_READ, TAG_WRITE, ADDEND = 0, 8, 16
_SAVED = sorted(CALLER_SAVED)
MASK = (1 << 64) - 1
_pack_i32 = struct.Struct("<i").pack
_pack_u32 = struct.Struct("<I").pack


def _va_into_rax(cg, addr, busy: set[int], i: int) -> None:
    a = cg.a
    folded = cg.fold.get(addr)
    base, disp = folded if folded is not None else (addr, 0)
    if base.kind == Kind.CONST:
        a.mov_ri(RAX, (base.value + disp) & MASK)
        return
    rb = cg.in_reg(base, busy, i)
    if disp:
        a.lea64(RAX, rb, disp)
    else:
        a.mov_rr(RAX, rb)


# The fixed instruction sequences of an access, assembled once per shape (size, store
# or load, the value's register, signedness, and the hart's TLB layout): the fast path
# (TLB check, the branch to the slow path with its rel32 patched when that is placed,
# the access itself) uses only rax, rcx, rdx, rbp and the value's register, so its
# bytes depend on nothing else; so do the fixed parts of the out-of-line slow path.
# Each entry: (fast path bytes, offset of the end of its branch's rel32 in them,
# slow path bytes up to the thunk call's rel32, from there up to the raised exit
# branch's rel32, from there up to the jmp back's rel32, the thunk's key).
_SHAPES: dict[tuple, tuple] = {}
_PC_STORES: dict[int, tuple[bytes, bytes]] = {}  # pc word offset -> its two store forms


def _shape(key: tuple) -> tuple:
    size, write, reg, signed, tlb_mask, tlb_word, tlb_off, raised = key
    a = A.Assembler()
    a.mov_rr(RCX, RAX)
    a.shift_ri(A.SHR, RCX, 12)
    a.alu_ri(A.AND, RCX, tlb_mask)
    a.shift_ri(A.SHL, RCX, ENTRY_SHIFT)
    a.alu_rm(A.ADD, RCX, Mem(RBP, 8 * tlb_word))
    a.mov_rr(RDX, RAX)
    a.alu_ri(A.AND, RDX, -4096 | (size - 1))
    a.alu_rm(A.CMP, RDX, Mem(RCX, tlb_off + (TAG_WRITE if write else TAG_READ)))
    a.buf += b"\x0F\x85\0\0\0\0"  # jne to the slow path
    fixup = len(a.buf)
    a.alu_rm(A.ADD, RAX, Mem(RCX, tlb_off + ADDEND))
    if write:
        a.store(Mem(RAX, 0), reg, size)
    else:
        a.load(reg, Mem(RAX, 0), size, signed)
    fast = bytes(a.buf)
    a = A.Assembler()
    if write:
        a.mov_rr(RCX, reg)
    a.buf.append(0xE8)  # call rel32 to the thunk
    before = bytes(a.buf)
    a = A.Assembler()
    a.alu_ri(A.CMP, Mem(RBP, 8 * raised), 0)  # did the slow path raise a guest exception?
    a.buf += b"\x0F\x85"  # jne to the block's raised exit
    check = bytes(a.buf)
    a = A.Assembler()
    if not write and reg != RAX:
        a.mov_rr(reg, RAX)
    a.buf.append(0xE9)  # jmp back
    thunk = ("st", size, 0) if write else ("ld", size, int(signed) if size < 8 else 0)
    shape = _SHAPES[key] = (fast, fixup, before, check, bytes(a.buf), thunk)
    return shape


def _access(cg, size: int, write: bool, reg: int, signed: bool) -> None:
    """rax = va: the fast path of a load into reg or a store of reg, and its slow path
    to emit at the end of the block."""
    st = cg.t.system
    key = (size, write, reg, signed, st.tlb_mask, st.tlb_word, st.tlb_off,
           cg.t.env.helper_raised)
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _shape(key)
    buf = cg.a.buf
    miss = len(buf) + shape[1]
    buf += shape[0]
    cg.slow_paths.append((miss, len(buf), shape, cg.cur_pc))


def gen_ld(cg, op: Op, i: int) -> None:
    mo = op.aux[0]
    busy = cg.busy_of(op)
    _va_into_rax(cg, op.ins[0], busy, i)
    d = op.outs[0]
    # The destination is chosen before the branch: any spill it causes happens on
    # both paths.
    r = cg.dest(d, busy, i) if d in cg.last_use or d.kind is GLOBAL else RAX
    if r == RCX or r == RDX:
        r = RAX
    _access(cg, mo.size, False, r, mo.signed)
    cg.release_dead(op, i)
    cg.define(d, r)


def gen_st(cg, op: Op, i: int) -> None:
    mo = op.aux[0]
    val, addr = op.ins
    busy = cg.busy_of(op)
    # The value must survive the TLB check (rax, rcx, rdx): an allocatable register.
    rv = cg.in_reg(val, busy, i)
    busy.add(rv)
    _va_into_rax(cg, addr, busy, i)
    _access(cg, mo.size, True, rv, False)
    cg.release_dead(op, i)


def emit_slow_paths(cg) -> None:
    """The out-of-line TLB-miss paths: store the instruction's pc (where a guest
    exception is taken; nothing in a block reads the pc word before it leaves), call
    the thunk, leave the block if the access raised, else go back to after it. The
    exit is one per block: its pc is already stored."""
    if not cg.slow_paths:
        return
    a = cg.a
    buf = a.buf
    pack_into = struct.pack_into
    thunks = cg.t.system.thunks
    pc_disp = 8 * cg.t.env.pc
    relocs = cg.out.relocs
    code_at = cg.t.at
    # mov qword [rbp + pc], simm32 / mov edx, imm32; mov [rbp + pc], rdx
    pc_stores = _PC_STORES.get(pc_disp)
    if pc_stores is None:
        pc_stores = _PC_STORES[pc_disp] = (a._encoding(b"\xC7", 0, Mem(RBP, pc_disp)),
                                           a._encoding(b"\x89", RDX, Mem(RBP, pc_disp)))
    store_imm, store_rdx = pc_stores
    exits = []
    for miss, back, shape, pc in cg.slow_paths:
        pack_into("<i", buf, miss - 4, len(buf) - miss)
        if pc < (1 << 31) or pc >= MASK + 1 - (1 << 31):
            buf += store_imm
            buf += _pack_i32(pc - (MASK + 1) if pc >> 63 else pc)
        elif pc < (1 << 32):
            buf += b"\xBA"  # mov edx, imm32
            buf += _pack_u32(pc)
            buf += store_rdx
        else:
            a.mov_ri(RDX, pc)
            buf += store_rdx
        buf += shape[2]
        thunk = thunks[shape[5]]
        at = len(buf)
        relocs.append((RELOC_REL32, at, (thunk, 4)))
        buf += _pack_i32(thunk - (code_at + at + 4))
        buf += shape[3]
        buf += b"\0\0\0\0"
        exits.append(len(buf))
        buf += shape[4]
        buf += _pack_i32(back - (len(buf) + 4))
    at = len(buf)
    for f in exits:
        pack_into("<i", buf, f - 4, at - f)
    cg._exit_now(EXIT_RAISED)


def emit_thunks(a: A.Assembler, helper_address, load, store,
                walker: tuple[int, int] | None = None) -> dict:
    """The slow-path thunks, appended to ``a``: key (kind, size, signed) -> offset in a.

    In: rax = virtual address, rcx = value (stores), rbp = state. Out: rax = value
    (loads). Every register a block may hold a value in survives the call.

    ``walker``: the offsets in ``a`` of the page-table walker's load and store entries
    (ptw.py). An access within one page first asks it; when it finds the page (and
    fills the TLB), the thunk makes the access itself, misaligned or not.
    """
    offsets = {}
    for kind in ("ld", "st"):
        for size in (1, 2, 4, 8):
            for signed in ((0, 1) if kind == "ld" and size < 8 else (0,)):
                a.nop_to_align(16)
                offsets[(kind, size, signed)] = a.pos()
                if walker is not None:
                    slow = a.label()
                    if size > 1:  # across two pages: the slow path checks both
                        a.mov_rr32(RDX, RAX)
                        a.alu_ri(A.AND, RDX, 0xFFF)
                        a.alu_ri(A.CMP, RDX, 4096 - size)
                        a.jcc(A.CC_A, slow)
                    a.buf.append(0xE8)  # call rel32 to the walker
                    a.buf += _pack_i32(walker[kind == "st"] - (a.pos() + 4))
                    a.test_rr(RDX, RDX)
                    a.jcc(A.CC_E, slow)
                    if kind == "ld":
                        a.load(RAX, Mem(RDX, 0), size, bool(signed))
                    else:
                        a.store(Mem(RDX, 0), RCX, size)
                    a.ret()
                    a.bind(slow)
                for r in _SAVED:
                    a.push(r)
                a.alu_ri(A.SUB, A.RSP, 8)  # return address + 6 pushes + 8: 16-aligned
                if kind == "ld":
                    a.mov_ri(RCX, signed)
                a.mov_rr(A.RSI, RAX)
                a.mov_ri(RDX, size)
                a.mov_rr(A.RDI, RBP)
                a.mov_ri(RAX, helper_address(load if kind == "ld" else store, 3))
                a.call_r(RAX)
                a.alu_ri(A.ADD, A.RSP, 8)
                for r in reversed(_SAVED):
                    a.pop(r)
                a.ret()
    return offsets


_LOOKUPS: dict[tuple, bytes] = {}


def gen_lookup(cg) -> None:
    t = cg.t
    st = t.system
    key = (t.env.pc, st.flags_word, st.jc_word, t.jc_mask)
    seq = _LOOKUPS.get(key)
    if seq is None:  # position-independent: its only branches stay inside it
        seq = _LOOKUPS[key] = _lookup_bytes(t)
    cg.a.buf += seq
    cg._exit_now(EXIT_LOOKUP)  # the miss
    cg.reachable = False


def _lookup_bytes(t) -> bytes:
    a = A.Assembler()
    st = t.system
    # Entry index: (pc >> 1) ^ (flags << 5), so that code run under several flags
    # (SUM toggled around user accesses, privilege changes) keeps one entry for each.
    a.load(RAX, Mem(RBP, 8 * t.env.pc))
    a.load(RDX, Mem(RBP, 8 * st.flags_word))
    a.mov_rr(RCX, RDX)
    a.shift_ri(A.SHL, RCX, JC_FLAGS_SHIFT)
    a.alu_rr(A.XOR, RCX, RAX)
    a.shift_ri(A.SHR, RCX, 1)
    a.alu_ri(A.AND, RCX, t.jc_mask)
    a.shift_ri(A.SHL, RCX, 5)
    a.alu_rm(A.ADD, RCX, Mem(RBP, 8 * st.jc_word))
    miss = a.label()
    a.alu_rm(A.CMP, RAX, Mem(RCX, 0))
    a.jcc(A.CC_NE, miss)
    a.alu_rm(A.CMP, RDX, Mem(RCX, 8))
    a.jcc(A.CC_NE, miss)
    a.jmp_r(Mem(RCX, 16))
    a.bind(miss)
    return bytes(a.buf)
