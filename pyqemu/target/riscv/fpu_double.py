"""D-extension arithmetic with host-float fast paths (the hot loop of FP guest code).

Python floats are IEEE binary64 with round-to-nearest-even, so in RNE the host
computes the right result for ordinary operands; what it cannot tell is the
exception flags. Each fast path therefore settles the inexact flag exactly, and
only takes operands/results for which no other flag can arise (results normal and
finite: in RNE a finite result has not overflowed, and a result above 2**-1022 was
not tiny after rounding):

* add/sub: TwoSum gives the exact rounding error;
* mul/div/sqrt: a significand-width argument (an exact product of significands with
  s1 and s2 significant bits has at least s1 + s2 - 1) settles nearly every case
  with two ANDs; the rare ambiguous one multiplies the significands exactly;
* fused multiply-add: Boldo and Melquiond's emulation (Dekker product, TwoSum, one
  addition rounded to odd, a final rounding to nearest).

Every other case — other rounding modes, zero, subnormal, infinite or NaN operands
or results — falls back to the exact integer implementation in fpu_arith.
"""

from __future__ import annotations

import math
import struct

from . import fpu_arith as _arith
from . import fpu_cvt as _cvt
from .fpu_core import NX
from .fpu_core import D as _D

_pack_q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack
_pack_qq = struct.Struct("<QQ").pack
_unpack_dd = struct.Struct("<dd").unpack
_pack_qqq = struct.Struct("<QQQ").pack
_unpack_ddd = struct.Struct("<ddd").unpack
_from_bytes = int.from_bytes
_sqrt = math.sqrt
_nextafter = math.nextafter
_floor = math.floor
_ceil = math.ceil

_TINY = 2.2250738585072014e-308  # smallest normal double, 2**-1022
_HUGE = 1.7976931348623157e308  # largest finite double
_INF = math.inf
_SIGN = 0x8000000000000000
_EXP = 0x7FF0000000000000
_FRAC = 0x000FFFFFFFFFFFFF
_HID = 0x0010000000000000
_LOW26 = 0x3FFFFFF  # a nonzero low 26 bits: at least 28 significant bits
_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's splitting constant for binary64
# Below this product magnitude Dekker's product error could underflow (be inexact).
_FMA_P_MIN = 2.0**-960


def _prod_is(a: int, b: int, c: int) -> bool:
    """Whether |a| == |b| * |c| exactly, for normal doubles with |a| ~ |b*c| (within 2x)."""
    prod = ((b & _FRAC) | _HID) * ((c & _FRAC) | _HID)
    return prod == ((a & _FRAC) | _HID) << (prod.bit_length() - 53)


def fadd_d(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y = _unpack_dd(_pack_qq(a, b))
        s = x + y
        if _TINY <= s <= _HUGE or -_HUGE <= s <= -_TINY:
            # TwoSum: err is exactly (x + y) - s unless an intermediate overflowed, in
            # which case it is not finite.
            t = s - x
            err = (x - (s - t)) + (y - t)
            if err == 0.0:
                return _from_bytes(_pack_d(s), "little"), 0
            if err - err == 0.0:
                return _from_bytes(_pack_d(s), "little"), NX
    return _arith.add(_D, a, b, rm)


def fsub_d(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y = _unpack_dd(_pack_qq(a, b))
        s = x - y
        if _TINY <= s <= _HUGE or -_HUGE <= s <= -_TINY:
            t = s - x
            err = (x - (s - t)) - (y + t)
            if err == 0.0:
                return _from_bytes(_pack_d(s), "little"), 0
            if err - err == 0.0:
                return _from_bytes(_pack_d(s), "little"), NX
    return _arith.sub(_D, a, b, rm)


def fmul_d(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y = _unpack_dd(_pack_qq(a, b))
        p = x * y
        if (_TINY < p <= _HUGE or -_HUGE <= p < -_TINY) and a & _EXP and b & _EXP:
            r = _from_bytes(_pack_d(p), "little")
            if a & _LOW26 and b & _LOW26:
                return r, NX
            # s(v) = 53 - trailing zeros; the odd part of the exact product has
            # s(a) + s(b) - 1 or s(a) + s(b) bits.
            n = (a & -a).bit_length() + (b & -b).bit_length()
            if n < 54:
                return r, NX
            if n > 54:
                return r, 0
            return r, (0 if _prod_is(r, a, b) else NX)
    return _arith.mul(_D, a, b, rm)


def fdiv_d(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0 and b & _EXP:  # b normal, or inf/NaN (which fail the range check)
        x, y = _unpack_dd(_pack_qq(a, b))
        q = x / y
        if _TINY < q <= _HUGE or -_HUGE <= q < -_TINY:
            r = _from_bytes(_pack_d(q), "little")
            # An exact quotient has s(q) + s(b) - 1 <= s(a) <= 53.
            if r & _LOW26 and b & _LOW26:
                return r, NX
            if (r & -r).bit_length() + (b & -b).bit_length() <= 53:
                return r, NX
            if a & _EXP:
                return r, (0 if _prod_is(a, r, b) else NX)
    return _arith.div(_D, a, b, rm)


def fsqrt_d(a: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x = _unpack_d(_pack_q(a))[0]
        if _TINY <= x <= _HUGE:
            r = _sqrt(x)  # correctly rounded, as IEEE 754 requires of the host
            rb = _from_bytes(_pack_d(r), "little")
            # An exact root has at most 27 significant bits (its square has <= 53).
            if rb & _LOW26:
                return rb, NX
            low = (rb & -rb).bit_length()
            if low >= 28:  # r*r has <= 52 significant bits: the float product is exact
                return rb, (0 if r * r == x else NX)
            return rb, (0 if _prod_is(a, rb, rb) else NX)
    return _arith.sqrt(_D, a, rm)


def fmadd_d(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y, z = _unpack_ddd(_pack_qqq(a, b, c))
        uh = x * y
        # Outside the window (and for NaN/inf operands) the computation below turns
        # into NaN or infinity, which the final range check sends to the slow path;
        # only a product error that could underflow must be excluded up front.
        if not -_FMA_P_MIN < uh < _FMA_P_MIN:
            # Dekker: uh + ul == x*y exactly.
            t = _SPLIT * x
            xh = t - (t - x)
            xl = x - xh
            t = _SPLIT * y
            yh = t - (t - y)
            yl = y - yh
            ul = ((xh * yh - uh) + xh * yl + xl * yh) + xl * yl
            # TwoSum: th + tl == z + uh exactly.
            th = z + uh
            t = th - z
            tl = (z - (th - t)) + (uh - t)
            v = tl + ul
            t = v - tl
            ev = (tl - (v - t)) + (ul - t)
            if ev != 0.0:
                # tl + ul is not a double (so neither is the exact result): round it
                # to odd, which keeps what the final rounding to nearest needs.
                if not _pack_d(v)[0] & 1:  # little-endian: byte 0 holds the last bit
                    v = _nextafter(v, _INF if ev > 0.0 else -_INF)
                r = th + v
                if _TINY < r <= _HUGE or -_HUGE <= r < -_TINY:
                    return _from_bytes(_pack_d(r), "little"), NX
            else:
                r = th + v  # the exact result is th + v: inexact iff this sum is
                if _TINY < r <= _HUGE or -_HUGE <= r < -_TINY:
                    t = r - th
                    if (th - (r - t)) + (v - t) != 0.0:
                        return _from_bytes(_pack_d(r), "little"), NX
                    return _from_bytes(_pack_d(r), "little"), 0
    return _arith.fma(_D, a, b, c, rm)


# -(a*b) and a*b - c are sign flips of the operands, exact in IEEE arithmetic
# including signed zeros; NaN operands stay NaNs of the same kind.

def fmsub_d(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    return fmadd_d(a, b, c ^ _SIGN, rm)


def fnmsub_d(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    return fmadd_d(a ^ _SIGN, b, c, rm)


def fnmadd_d(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    return fmadd_d(a ^ _SIGN, b, c ^ _SIGN, rm)


# ---------------------------------------------------------------- conversions

def _sext32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v | 0xFFFFFFFF00000000 if v & 0x80000000 else v


def _round_int(x: float, rm: int) -> int | None:
    """Finite x rounded to an integer (Python's round() ties to even), None for RMM."""
    if rm == 1:
        return int(x)
    if rm == 0:
        return round(x)  # ties to even
    if rm == 2:
        return _floor(x)
    if rm == 3:
        return _ceil(x)
    return None


def fcvt_w_d(a: int, rm: int) -> tuple[int, int]:
    x = _unpack_d(_pack_q(a))[0]
    if -2147483649.0 < x < 2147483648.0:  # NaN fails this
        v = _round_int(x, rm)
        if v is not None and -2147483648 <= v <= 2147483647:
            return v & 0xFFFFFFFFFFFFFFFF, (0 if v == x else NX)
    v, fl = _cvt.to_int(_D, a, rm, 32, True)
    return _sext32(v), fl


def fcvt_wu_d(a: int, rm: int) -> tuple[int, int]:
    x = _unpack_d(_pack_q(a))[0]
    if -1.0 < x < 4294967296.0:
        v = _round_int(x, rm)
        if v is not None and 0 <= v <= 0xFFFFFFFF:
            return _sext32(v), (0 if v == x else NX)
    v, fl = _cvt.to_int(_D, a, rm, 32, False)
    return _sext32(v), fl


def fcvt_l_d(a: int, rm: int) -> tuple[int, int]:
    x = _unpack_d(_pack_q(a))[0]
    if -9.2e18 < x < 9.2e18:
        v = _round_int(x, rm)
        if v is not None:
            return v & 0xFFFFFFFFFFFFFFFF, (0 if v == x else NX)
    v, fl = _cvt.to_int(_D, a, rm, 64, True)
    return v & 0xFFFFFFFFFFFFFFFF, fl


def fcvt_lu_d(a: int, rm: int) -> tuple[int, int]:
    x = _unpack_d(_pack_q(a))[0]
    if -1.0 < x < 1.8e19:
        v = _round_int(x, rm)
        if v is not None and 0 <= v <= 0xFFFFFFFFFFFFFFFF:
            return v, (0 if v == x else NX)
    return _cvt.to_int(_D, a, rm, 64, False)


def fcvt_d_w(x: int, rm: int) -> tuple[int, int]:
    # Every 32-bit integer is a double: no rounding ever happens.
    x &= 0xFFFFFFFF
    return _from_bytes(_pack_d(float(x - ((x & 0x80000000) << 1))), "little"), 0


def fcvt_d_wu(x: int, rm: int) -> tuple[int, int]:
    return _from_bytes(_pack_d(float(x & 0xFFFFFFFF)), "little"), 0


def fcvt_d_l(x: int, rm: int) -> tuple[int, int]:
    if x < 0x20000000000000 or x > 0xFFE0000000000000:  # |value| <= 2**53: exact
        if x >> 63:
            x -= 1 << 64
        return _from_bytes(_pack_d(float(x)), "little"), 0
    return _cvt.from_int(_D, x, rm, 64, True)


def fcvt_d_lu(x: int, rm: int) -> tuple[int, int]:
    if x <= 0x20000000000000:
        return _from_bytes(_pack_d(float(x)), "little"), 0
    return _cvt.from_int(_D, x, rm, 64, False)
