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
then jumps back, so the register allocation is the same after either path. A guest
exception in the slow path leaves the block through its EXIT_RAISED exit with the
instruction's pc.

Indirect jumps use the hart's jump cache: 32-byte entries {virtual pc, TB flags,
host address}, so that a block translated for another privilege or data mode is
never entered.
"""

from __future__ import annotations

from ...ir import Kind, Op
from . import asm as A
from .asm import RAX, RBP, RCX, RDX, Mem
from .regs import CALLER_SAVED, EXIT_LOOKUP, EXIT_RAISED

ENTRY_SHIFT = 5
JC_FLAGS_SHIFT = 6  # jump cache index: ((pc ^ (flags << 6)) >> 1) & mask
TAG_READ, TAG_WRITE, ADDEND = 0, 8, 16
_SAVED = sorted(CALLER_SAVED)
MASK = (1 << 64) - 1


def _va_into_rax(cg, addr, busy: set[int], i: int) -> None:
    a = cg.a
    folded = cg.fold.get(addr)
    base, disp = folded if folded is not None else (addr, 0)
    if base.kind == Kind.CONST:
        a.mov_ri(RAX, (base.value + disp) & MASK)
        return
    rb = cg.in_reg(base, busy, i)
    if disp:
        a.lea(RAX, Mem(rb, disp))
    else:
        a.mov_rr(RAX, rb)


# The fixed instruction sequences of the fast paths, assembled once per shape: they
# use only rax, rcx, rdx and rbp, so their bytes depend on nothing else (translation
# speed: a block has several of them).
_TLB_CHECKS: dict[tuple, tuple[bytes, bytes]] = {}
_RAISED_CHECKS: dict[int, bytes] = {}


def _tlb_check_bytes(size: int, write: bool, st) -> tuple[bytes, bytes]:
    key = (size, write, st.tlb_mask, st.tlb_word, st.tlb_off)
    seq = _TLB_CHECKS.get(key)
    if seq is None:
        a = A.Assembler()
        a.mov_rr(RCX, RAX)
        a.shift_ri(A.SHR, RCX, 12)
        a.alu_ri(A.AND, RCX, st.tlb_mask)
        a.shift_ri(A.SHL, RCX, ENTRY_SHIFT)
        a.alu_rm(A.ADD, RCX, Mem(RBP, 8 * st.tlb_word))
        a.mov_rr(RDX, RAX)
        a.alu_ri(A.AND, RDX, -4096 | (size - 1))
        a.alu_rm(A.CMP, RDX, Mem(RCX, st.tlb_off + (TAG_WRITE if write else TAG_READ)))
        head = bytes(a.buf)
        a = A.Assembler()
        a.alu_rm(A.ADD, RAX, Mem(RCX, st.tlb_off + ADDEND))
        seq = _TLB_CHECKS[key] = (head, bytes(a.buf))
    return seq


def _tlb_check(cg, size: int, write: bool) -> A.Label:
    """rax = va -> rax = host address on a hit; returns the miss label."""
    a = cg.a
    head, hit = _tlb_check_bytes(size, write, cg.t.system)
    a.buf += head
    miss = a.label()
    a.jcc(A.CC_NE, miss)  # to the slow path
    a.buf += hit
    return miss


def gen_ld(cg, op: Op, i: int) -> None:
    mo = op.aux[0]
    a = cg.a
    busy = cg.busy_of(op)
    _va_into_rax(cg, op.ins[0], busy, i)
    d = op.outs[0]
    # The destination is chosen before the branch: any spill it causes happens on
    # both paths.
    r = cg.dest(d, busy, i) if d in cg.last_use or d.kind == Kind.GLOBAL else RAX
    if r in (RCX, RDX):
        r = RAX
    miss = _tlb_check(cg, mo.size, False)
    a.load(r, Mem(RAX, 0), mo.size, mo.signed)
    back = a.label()
    a.bind(back)
    cg.slow_paths.append((miss, back, "ld", r, mo.size, int(mo.signed), cg.cur_pc))
    cg.release_dead(op, i)
    cg.define(d, r)


def gen_st(cg, op: Op, i: int) -> None:
    mo = op.aux[0]
    a = cg.a
    val, addr = op.ins
    busy = cg.busy_of(op)
    # The value must survive the TLB check (rax, rcx, rdx): an allocatable register.
    rv = cg.in_reg(val, busy, i)
    busy.add(rv)
    _va_into_rax(cg, addr, busy, i)
    miss = _tlb_check(cg, mo.size, True)
    a.store(Mem(RAX, 0), rv, mo.size)
    back = a.label()
    a.bind(back)
    cg.slow_paths.append((miss, back, "st", rv, mo.size, 0, cg.cur_pc))
    cg.release_dead(op, i)


def emit_slow_paths(cg) -> None:
    a = cg.a
    st = cg.t.system
    raised = _RAISED_CHECKS.get(cg.t.env.helper_raised)
    if raised is None:
        b = A.Assembler()
        b.alu_ri(A.CMP, Mem(RBP, 8 * cg.t.env.helper_raised), 0)
        raised = _RAISED_CHECKS[cg.t.env.helper_raised] = bytes(b.buf)
    for miss, back, kind, reg, size, signed, pc in cg.slow_paths:
        a.bind(miss)
        if kind == "st":
            a.mov_rr(RCX, reg)
            thunk = st.thunks[("st", size, 0)]
        else:
            thunk = st.thunks[("ld", size, signed if size < 8 else 0)]
        a.buf.append(0xE8)  # call rel32 to the thunk
        cg._rel32(thunk, 0)
        a.buf += raised  # did the slow path raise a guest exception?
        a.jcc(A.CC_NE, cg._exit_stub(EXIT_RAISED, pc))
        if kind == "ld" and reg != RAX:
            a.mov_rr(reg, RAX)
        a.jmp(back)


def emit_thunks(a: A.Assembler, helper_address, load, store) -> dict:
    """The slow-path thunks, appended to ``a``: key (kind, size, signed) -> offset in a.

    In: rax = virtual address, rcx = value (stores), rbp = state. Out: rax = value
    (loads). Every register a block may hold a value in survives the call.
    """
    offsets = {}
    for kind in ("ld", "st"):
        for size in (1, 2, 4, 8):
            for signed in ((0, 1) if kind == "ld" and size < 8 else (0,)):
                a.nop_to_align(16)
                offsets[(kind, size, signed)] = a.pos()
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
