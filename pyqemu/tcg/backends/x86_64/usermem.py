"""User-mode loads and stores in native code (register roles in regs.py).

The host address of a guest address is guest_base + ((addr - LOW) & mask): r15 holds
guest_base, r14 the mask, r13 the last valid offset. An offset above it leaves the
block through the instruction's fault exit, which stores its pc. The check and the
access are a few fixed instructions; their bytes are assembled once per register and
size.
"""

from __future__ import annotations

from ...ir import CONST, GLOBAL, Op
from . import asm as A
from .asm import R13, R14, R15, RAX, RCX, Mem
from .regs import EXIT_FAULT

MASK = (1 << 64) - 1


def _check_bytes() -> bytes:
    a = A.Assembler()
    a.alu_rr(A.AND, RAX, R14)
    a.alu_rr(A.CMP, RAX, R13)
    return bytes(a.buf)


_CHECK = _check_bytes()  # and rax, r14; cmp rax, r13
_LOADS: dict[tuple[int, int, bool], bytes] = {}  # load r, [r15 + rax]
_STORES: dict[tuple[int, int], bytes] = {}  # store [r15 + rax], r


def _host_offset(cg, addr, busy: set[int], i: int) -> None:
    """rax = guest-space offset of addr; leave through the fault exit if outside."""
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
    a.buf += _CHECK
    cg._jcc_pc_exit(A.CC_A, EXIT_FAULT)


def gen_ld(cg, op: Op, i: int) -> None:
    mo = op.aux[0]
    _host_offset(cg, op.ins[0], cg.busy_of(op), i)
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
    _host_offset(cg, addr, busy, i)
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
