"""User-mode loads and stores in native code (register roles in regs.py).

The host address of a guest address is guest_base + ((addr - LOW) & mask): r15 holds
guest_base, r14 the mask, r13 the page permission table (linux_user/guest_memory.py).
Before the access, the byte of its page says whether the guest may read (or write)
there; an access that is not aligned to its size may run into the next page:

    lea rax, [base + disp - LOW]; and rax, r14      the offset
    mov rcx, rax; shr rcx, 12                         its page
    test byte [r13 + rcx], PERM_READ|PERM_WRITE       may the guest?
    jz miss
    test al, size - 1                                 (size > 1) aligned?
    jnz miss
    mov reg, [r15 + rax]                              the access
  back:

The miss path, out of line, faults if the page refuses the access; else it goes back
when the access does not cross into the next page, or when that page allows it too.
A fault leaves the block through the instruction's fault exit, which stores its pc.
Offsets past the region's end (addresses below LOW) have no access, so the page test
also bounds the offset. The fixed parts are assembled once.
"""

from __future__ import annotations

import struct

from ....linux_user.guest_memory import PAGE_BITS, PERM_READ, PERM_WRITE
from ...ir import CONST, GLOBAL, Op
from . import asm as A
from .asm import R13, R14, R15, RAX, RCX, Mem
from .regs import EXIT_FAULT

MASK = (1 << 64) - 1
PAGE = 1 << PAGE_BITS
_JZ, _JNZ, _JBE = b"\x0F\x84", b"\x0F\x85", b"\x0F\x86"


def _check_bytes(bit: int, size: int) -> tuple[bytes, tuple[int, ...]]:
    """The check: (bytes, the ends of its jumps to the miss path, rel32s to patch)."""
    a = A.Assembler()
    a.alu_rr(A.AND, RAX, R14)
    a.mov_rr(RCX, RAX)
    a.shift_ri(A.SHR, RCX, PAGE_BITS)
    a.test_mi8(Mem(R13, 0, RCX, 1), bit)
    a.buf += _JZ + bytes(4)
    ends = [len(a.buf)]
    if size > 1:
        a.buf += bytes((0xA8, size - 1))  # test al, size - 1
        a.buf += _JNZ + bytes(4)
        ends.append(len(a.buf))
    return bytes(a.buf), tuple(ends)


_CHECKS = {(write, size): _check_bytes(PERM_WRITE if write else PERM_READ, size)
           for write in (False, True) for size in (1, 2, 4, 8)}


def _miss_bytes(bit: int, size: int) -> tuple[bytes, tuple[int, ...], tuple[int, ...]]:
    """The miss path: (bytes, the ends of its jumps to the fault exit, the ends of its
    jumps back); rel32s to patch."""
    a = A.Assembler()
    a.test_mi8(Mem(R13, 0, RCX, 1), bit)
    a.buf += _JZ + bytes(4)  # the page refuses the access
    faults = [len(a.buf)]
    a.mov_rr32(RCX, RAX)
    a.alu_ri(A.AND, RCX, PAGE - 1)
    a.alu_ri(A.CMP, RCX, PAGE - size)
    a.buf += _JBE + bytes(4)  # it does not cross into the next page
    backs = [len(a.buf)]
    a.mov_rr(RCX, RAX)
    a.shift_ri(A.SHR, RCX, PAGE_BITS)
    a.test_mi8(Mem(R13, 1, RCX, 1), bit)
    a.buf += _JZ + bytes(4)  # the next page refuses it
    faults.append(len(a.buf))
    a.buf += b"\xE9" + bytes(4)
    backs.append(len(a.buf))
    return bytes(a.buf), tuple(faults), tuple(backs)


_MISSES = {(write, size): _miss_bytes(PERM_WRITE if write else PERM_READ, size)
           for write in (False, True) for size in (1, 2, 4, 8)}
_LOADS: dict[tuple[int, int, bool], bytes] = {}  # load r, [r15 + rax]
_STORES: dict[tuple[int, int], bytes] = {}  # store [r15 + rax], r


def _host_offset(cg, addr, busy: set[int], i: int, size: int, write: bool) -> None:
    """rax = guest-space offset of addr, checked against the permission table (the miss
    path leaves through the fault exit)."""
    a = cg.a
    folded = cg.fold.get(addr)
    if folded is not None:
        base, disp = folded
    else:
        base, disp = addr, -cg.t.low
    if base.kind is CONST:
        a.mov_ri(RAX, (base.value + disp) & MASK)
    else:
        a.lea64(RAX, cg.in_reg(base, busy, i), disp)
    buf = a.buf
    code, ends = _CHECKS[(write, size)]
    at = len(buf)
    buf += code
    cg.perm_misses.append((tuple(at + e for e in ends), len(buf), size, write, cg.cur_pc))


def emit_perm_misses(cg) -> None:
    """The miss paths of the block's accesses (before the fault exits they jump to)."""
    buf = cg.a.buf
    pack_into = struct.pack_into
    for jumps, back, size, write, pc in cg.perm_misses:
        at = len(buf)
        for e in jumps:
            pack_into("<i", buf, e - 4, at - e)
        body, faults, backs = _MISSES[(write, size)]
        buf += body
        for e in backs:
            pack_into("<i", buf, at + e - 4, back - (at + e))
        cg.pc_exits.setdefault((EXIT_FAULT, pc), []).extend(at + e for e in faults)


def gen_ld(cg, op: Op, i: int) -> None:
    mo = op.aux[0]
    _host_offset(cg, op.ins[0], cg.busy_of(op), i, mo.size, False)
    cg.release_dead(op, i)
    d = op.outs[0]
    r = cg.dest(d, set(), i) if d in cg.last_use or d.kind is GLOBAL else RAX
    key = (r, mo.size, mo.signed)
    enc = _LOADS.get(key)
    if enc is None:
        a = A.Assembler()
        a.load(r, Mem(R15, 0, RAX, 1), mo.size, mo.signed)
        enc = _LOADS[key] = bytes(a.buf)
    cg.a.buf += enc
    cg.define(d, r)


def gen_st(cg, op: Op, i: int) -> None:
    mo = op.aux[0]
    val, addr = op.ins
    busy = cg.busy_of(op)
    if val.kind is CONST:
        rv = None
    else:
        rv = cg.in_reg(val, busy, i)
        busy.add(rv)
    _host_offset(cg, addr, busy, i, mo.size, True)
    if rv is None:
        cg.a.mov_ri(RCX, val.value)
        rv = RCX
    key = (rv, mo.size)
    enc = _STORES.get(key)
    if enc is None:
        a = A.Assembler()
        a.store(Mem(R15, 0, RAX, 1), rv, mo.size)
        enc = _STORES[key] = bytes(a.buf)
    cg.a.buf += enc
    cg.release_dead(op, i)
