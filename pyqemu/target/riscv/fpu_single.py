"""F-extension arithmetic on NaN-boxed singles, with host-double fast paths.

Operands come from 64-bit f registers: a value not NaN-boxed (upper 32 bits not all
ones) reads as the canonical NaN; results are boxed.

Fast path (RNE, boxed operands, normal finite single result): binary32 operands are
exact doubles, and for +, -, *, / and square root a binary64 result rounded again to
binary32 equals the directly rounded result, because 53 >= 2*24 + 2 (double rounding
is innocuous). Products of two singles are exact in binary64; the fused multiply-add
rounds its one inexact addition to odd, which makes the second rounding safe too.
The inexact flag comes from an exact check in binary64. Everything else goes to the
exact integer implementation.
"""

from __future__ import annotations

import math
import struct

from . import fpu_arith as _arith
from . import fpu_cvt as _cvt
from .fpu_core import NX
from .fpu_core import D as _D
from .fpu_core import S as _S
from .fpu_double import _round_int

_BOX = 0xFFFFFFFF00000000
_QNAN = 0x7FC00000
_pack_qq = struct.Struct("<QQ").pack
_pack_qqq = struct.Struct("<QQQ").pack
_pack_q = struct.Struct("<Q").pack
_unpack_lo = struct.Struct("<f4x").unpack  # the low (single) half of a register
_unpack_lo2 = struct.Struct("<f4xf4x").unpack
_unpack_lo3 = struct.Struct("<f4xf4xf4x").unpack
_pack_f = struct.Struct("<f").pack
_unpack_f = struct.Struct("<f").unpack
_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack
_from_bytes = int.from_bytes
_sqrt = math.sqrt
_nextafter = math.nextafter
_INF = math.inf

_TINY = 1.1754943508222875e-38  # smallest normal single, 2**-126
_HUGE = 3.4028234663852886e38  # largest finite single


def _unbox(a: int) -> int:
    return a & 0xFFFFFFFF if a >> 32 == 0xFFFFFFFF else _QNAN


def _finish(s: float, inexact: bool) -> tuple[int, int]:
    """Round the binary64 value s (TINY < |s| <= HUGE) to binary32 and box it."""
    rb = _pack_f(s)
    if inexact or _unpack_f(rb)[0] != s:
        return _from_bytes(rb, "little") | _BOX, NX
    return _from_bytes(rb, "little") | _BOX, 0


def fadd_s(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0 and a >= _BOX and b >= _BOX:
        x, y = _unpack_lo2(_pack_qq(a, b))
        s = x + y
        if _TINY < s <= _HUGE or -_HUGE <= s < -_TINY:
            t = s - x
            return _finish(s, (x - (s - t)) + (y - t) != 0.0)
    r, fl = _arith.add(_S, _unbox(a), _unbox(b), rm)
    return r | _BOX, fl


def fsub_s(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0 and a >= _BOX and b >= _BOX:
        x, y = _unpack_lo2(_pack_qq(a, b))
        s = x - y
        if _TINY < s <= _HUGE or -_HUGE <= s < -_TINY:
            t = s - x
            return _finish(s, (x - (s - t)) - (y + t) != 0.0)
    r, fl = _arith.sub(_S, _unbox(a), _unbox(b), rm)
    return r | _BOX, fl


def fmul_s(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0 and a >= _BOX and b >= _BOX:
        x, y = _unpack_lo2(_pack_qq(a, b))
        p = x * y  # exact: 24 + 24 bits
        if _TINY < p <= _HUGE or -_HUGE <= p < -_TINY:
            return _finish(p, False)
    r, fl = _arith.mul(_S, _unbox(a), _unbox(b), rm)
    return r | _BOX, fl


def fdiv_s(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0 and a >= _BOX and b >= _BOX:
        x, y = _unpack_lo2(_pack_qq(a, b))
        if y != 0.0:
            q = x / y
            if _TINY < q <= _HUGE or -_HUGE <= q < -_TINY:
                rb = _pack_f(q)
                # f*y is exact in binary64, so it equals x iff the quotient is exact.
                return _from_bytes(rb, "little") | _BOX, (0 if _unpack_f(rb)[0] * y == x else NX)
    r, fl = _arith.div(_S, _unbox(a), _unbox(b), rm)
    return r | _BOX, fl


def fsqrt_s(a: int, rm: int) -> tuple[int, int]:
    if rm == 0 and a >= _BOX:
        x = _unpack_lo(_pack_q(a))[0]
        if 0.0 < x <= _HUGE:  # the root of any positive single is a normal single
            rb = _pack_f(_sqrt(x))
            f = _unpack_f(rb)[0]
            return _from_bytes(rb, "little") | _BOX, (0 if f * f == x else NX)
    r, fl = _arith.sqrt(_S, _unbox(a), rm)
    return r | _BOX, fl


def fmadd_s(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    if rm == 0 and a >= _BOX and b >= _BOX and c >= _BOX:
        x, y, z = _unpack_lo3(_pack_qqq(a, b, c))
        p = x * y  # exact
        s = p + z
        t = s - p
        err = (p - (s - t)) + (z - t)
        if err != 0.0 and not _pack_d(s)[0] & 1:
            s = _nextafter(s, _INF if err > 0.0 else -_INF)  # round to odd
        if _TINY < s <= _HUGE or -_HUGE <= s < -_TINY:
            return _finish(s, err != 0.0)
    r, fl = _arith.fma(_S, _unbox(a), _unbox(b), _unbox(c), rm)
    return r | _BOX, fl


# Negations flip the sign bit of the register value: a boxed operand stays boxed,
# an unboxed one stays unboxed (and reads as the canonical NaN either way).

def fmsub_s(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    return fmadd_s(a, b, c ^ 0x80000000, rm)


def fnmsub_s(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    return fmadd_s(a ^ 0x80000000, b, c, rm)


def fnmadd_s(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    return fmadd_s(a ^ 0x80000000, b, c ^ 0x80000000, rm)


# ---------------------------------------------------------------- conversions

def _sext32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v | 0xFFFFFFFF00000000 if v & 0x80000000 else v


def fcvt_w_s(a: int, rm: int) -> tuple[int, int]:
    if a >= _BOX:
        x = _unpack_lo(_pack_q(a))[0]
        if -2147483904.0 < x < 2147483648.0:  # NaN fails this
            v = _round_int(x, rm)
            if v is not None and -2147483648 <= v <= 2147483647:
                return v & 0xFFFFFFFFFFFFFFFF, (0 if v == x else NX)
    v, fl = _cvt.to_int(_S, _unbox(a), rm, 32, True)
    return _sext32(v), fl


def fcvt_wu_s(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_S, _unbox(a), rm, 32, False)
    return _sext32(v), fl


def fcvt_l_s(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_S, _unbox(a), rm, 64, True)
    return v & 0xFFFFFFFFFFFFFFFF, fl


def fcvt_lu_s(a: int, rm: int) -> tuple[int, int]:
    return _cvt.to_int(_S, _unbox(a), rm, 64, False)


def fcvt_s_w(x: int, rm: int) -> tuple[int, int]:
    x &= 0xFFFFFFFF
    v = x - ((x & 0x80000000) << 1)
    # Exact in binary64; one rounding to binary32 in RNE, none below 2**24.
    if rm == 0 or -0x1000000 <= v <= 0x1000000:
        if v == 0:
            return _BOX, 0
        return _finish(float(v), False)
    r, fl = _cvt.from_int(_S, x, rm, 32, True)
    return r | _BOX, fl


def fcvt_s_wu(x: int, rm: int) -> tuple[int, int]:
    x &= 0xFFFFFFFF
    if rm == 0 or x <= 0x1000000:
        if x == 0:
            return _BOX, 0
        return _finish(float(x), False)
    r, fl = _cvt.from_int(_S, x, rm, 32, False)
    return r | _BOX, fl


def fcvt_s_l(x: int, rm: int) -> tuple[int, int]:
    r, fl = _cvt.from_int(_S, x, rm, 64, True)
    return r | _BOX, fl


def fcvt_s_lu(x: int, rm: int) -> tuple[int, int]:
    r, fl = _cvt.from_int(_S, x, rm, 64, False)
    return r | _BOX, fl


def fcvt_s_d(a: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x = _unpack_d(_pack_q(a))[0]
        if _TINY < x <= _HUGE or -_HUGE <= x < -_TINY:
            return _finish(x, False)
    r, fl = _cvt.convert(_D, _S, a, rm)
    return r | _BOX, fl


def fcvt_d_s(a: int, rm: int) -> tuple[int, int]:
    if a >= _BOX and (a & 0x7F800000) != 0x7F800000:  # boxed, not inf/NaN: exact
        return _from_bytes(_pack_d(_unpack_lo(_pack_q(a))[0]), "little"), 0
    return _cvt.convert(_S, _D, _unbox(a), rm)
