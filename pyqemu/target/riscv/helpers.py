"""Runtime helpers called from generated RISC-V code: what is rare or awkward inline.

Division follows the M extension's table (ch. 8.2): x/0 = all ones, x%0 = x, and
signed overflow (MIN/-1) gives MIN with remainder 0 - no trap on RISC-V.
"""

from __future__ import annotations

import time

from ...tcg.ir import Helper
from . import cpu_state as cs

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF


class IllegalInstruction(Exception):
    """Raised by a helper when the instruction turns out to be illegal at run time."""


def _s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def _tdiv(a: int, b: int) -> int:
    """Integer division rounding toward zero (C semantics), on signed values."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def div(a: int, b: int) -> int:
    if b == 0:
        return M64
    return _tdiv(_s64(a), _s64(b)) & M64


def divu(a: int, b: int) -> int:
    return M64 if b == 0 else a // b


def rem(a: int, b: int) -> int:
    if b == 0:
        return a
    sa, sb = _s64(a), _s64(b)
    return (sa - sb * _tdiv(sa, sb)) & M64


def remu(a: int, b: int) -> int:
    return a if b == 0 else a % b


def divw(a: int, b: int) -> int:
    sb = _s32(b)
    if sb == 0:
        return M64
    return _s32(_tdiv(_s32(a), sb)) & M64


def divuw(a: int, b: int) -> int:
    b &= M32
    if b == 0:
        return M64
    return _s32((a & M32) // b) & M64


def remw(a: int, b: int) -> int:
    sa, sb = _s32(a), _s32(b)
    if sb == 0:
        return sa & M64
    return _s32(sa - sb * _tdiv(sa, sb)) & M64


def remuw(a: int, b: int) -> int:
    b &= M32
    if b == 0:
        return _s32(a) & M64
    return _s32((a & M32) % b) & M64


def orc_b(a: int) -> int:
    r = 0
    for i in range(8):
        if (a >> (8 * i)) & 0xFF:
            r |= 0xFF << (8 * i)
    return r


_T0 = time.perf_counter_ns()


def csr_access(q, csr: int, src: int, kind: int, writes: int) -> int:
    """csrrw/csrrs/csrrc on the user-level CSRs (Zicsr; F ch. 13.2 for fcsr)."""
    if csr == 0x001:
        old = q[cs.FFLAGS]
    elif csr == 0x002:
        old = q[cs.FRM]
    elif csr == 0x003:
        old = (q[cs.FRM] << 5) | q[cs.FFLAGS]
    elif csr in (0xC00, 0xC01, 0xC02):
        if writes:
            raise IllegalInstruction()
        # cycle and instret read a host clock in user mode, as QEMU's user mode does;
        # time counts at 10 MHz like the virt board's timebase.
        ns = time.perf_counter_ns() - _T0
        return ns // 100 if csr == 0xC01 else ns
    else:
        raise IllegalInstruction()
    if writes:
        new = src if kind == 0 else (old | src if kind == 1 else old & ~src)
        if csr == 0x001:
            q[cs.FFLAGS] = new & 0x1F
        elif csr == 0x002:
            q[cs.FRM] = new & 7
        else:
            q[cs.FFLAGS] = new & 0x1F
            q[cs.FRM] = (new >> 5) & 7
    return old


CSR_ACCESS = Helper("csr", csr_access, 1, state=True, can_raise=True)
DIV = {name: Helper(name, fn, 1) for name, fn in (
    ("div", div), ("divu", divu), ("rem", rem), ("remu", remu),
    ("divw", divw), ("divuw", divuw), ("remw", remw), ("remuw", remuw))}
ORC_B = Helper("orc_b", orc_b, 1)
