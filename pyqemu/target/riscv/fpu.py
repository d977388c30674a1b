"""RISC-V F and D extension semantics (unprivileged spec, chapters "F" and "D").

Every operation is a pure function of raw register patterns (unsigned 64-bit Python
ints) and, where it rounds, of a rounding mode already resolved to RNE..RMM. It
returns ``(result, fflags)``; the caller ORs the flags into fcsr.fflags.

* Single-precision operands are read from 64-bit f registers: a value whose upper 32
  bits are not all ones is not a valid NaN-boxed single and reads as the canonical
  NaN (D chapter, "NaN Boxing of Narrower Values"). Single results are NaN-boxed.
* Integer results (conversions to integer, comparisons, classify, moves) are x
  register patterns: unsigned 64-bit ints, 32-bit results sign-extended.

Double-precision add/sub/mul/div/sqrt/fused multiply-add in RNE on ordinary operands
run on the host's IEEE binary64 arithmetic (Python floats are binary64 rounded to
nearest-even), with an error-free transformation or a cheap significand test deciding
the inexact flag. Anything else — other rounding modes, NaN, infinity, zero,
subnormal or overflowing results — goes to the exact integer implementation in
fpu_arith/fpu_cvt, which is the reference the fast paths are tested against.
"""

from __future__ import annotations

import math
import struct

from . import fpu_arith as _arith
from . import fpu_cmp as _cmp
from . import fpu_cvt as _cvt
from .fpu_core import DZ, NV, NX, OF, RDN, RMM, RNE, RTZ, RUP, UF
from .fpu_core import D as _D
from .fpu_core import S as _S

__all__ = ["RNE", "RTZ", "RDN", "RUP", "RMM", "NV", "DZ", "OF", "UF", "NX"]

_M64 = (1 << 64) - 1
_BOX = 0xFFFFFFFF00000000
_QNAN_S = 0x7FC00000
_BOXED_QNAN_S = _BOX | _QNAN_S

_pack_q = struct.Struct("<Q").pack
_unpack_q = struct.Struct("<Q").unpack
_pack_d = struct.Struct("<d").pack
_unpack_d = struct.Struct("<d").unpack
_pack_qq = struct.Struct("<QQ").pack
_unpack_dd = struct.Struct("<dd").unpack
_pack_qqq = struct.Struct("<QQQ").pack
_unpack_ddd = struct.Struct("<ddd").unpack
_sqrt = math.sqrt
_nextafter = math.nextafter

_TINY = 2.2250738585072014e-308  # smallest normal double, 2**-1022
_HUGE = 1.7976931348623157e308  # largest finite double
_INF = math.inf
_EXP_D = 0x7FF0000000000000
_FRAC_D = 0x000FFFFFFFFFFFFF
_HID_D = 0x0010000000000000
# Fused multiply-add fast-path window: Veltkamp splitting must not overflow, and the
# product's rounding error must stay a normal (hence exact) double.
_SPLIT = 134217729.0  # 2**27 + 1
_FMA_XY_MAX = 2.0**995
_FMA_P_MIN = 2.0**-960
_FMA_P_MAX = 2.0**1000


def _unbox(a: int) -> int:
    return a & 0xFFFFFFFF if a >> 32 == 0xFFFFFFFF else _QNAN_S


def _bits(x: float) -> int:
    return _unpack_q(_pack_d(x))[0]


def _prod_is(a: int, b: int, c: int) -> bool:
    """Whether |a| == |b| * |c| exactly, for normal doubles with |a| ~ |b*c| (within 2x)."""
    prod = ((b & _FRAC_D) | _HID_D) * ((c & _FRAC_D) | _HID_D)
    return prod == ((a & _FRAC_D) | _HID_D) << (prod.bit_length() - 53)


# ---------------------------------------------------------------- double arithmetic

def fadd_d(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y = _unpack_dd(_pack_qq(a, b))
        s = x + y
        if _TINY <= s <= _HUGE or -_HUGE <= s <= -_TINY:
            # TwoSum: err is exactly (x + y) - s unless an intermediate overflowed,
            # in which case it is not finite.
            t = s - x
            err = (x - (s - t)) + (y - t)
            if err == 0.0:
                return _unpack_q(_pack_d(s))[0], 0
            if err - err == 0.0:
                return _unpack_q(_pack_d(s))[0], NX
    return _arith.add(_D, a, b, rm)


def fsub_d(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y = _unpack_dd(_pack_qq(a, b))
        s = x - y
        if _TINY <= s <= _HUGE or -_HUGE <= s <= -_TINY:
            t = s - x
            err = (x - (s - t)) - (y + t)
            if err == 0.0:
                return _unpack_q(_pack_d(s))[0], 0
            if err - err == 0.0:
                return _unpack_q(_pack_d(s))[0], NX
    return _arith.sub(_D, a, b, rm)


def fmul_d(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y = _unpack_dd(_pack_qq(a, b))
        p = x * y
        if _TINY < p <= _HUGE or -_HUGE <= p < -_TINY:
            r = _unpack_q(_pack_d(p))[0]
            # With s(v) = significant bits of v = 53 - trailing zeros, the odd part of
            # the exact product has s(a)+s(b)-1 or s(a)+s(b) bits.
            n = (a & -a).bit_length() + (b & -b).bit_length()
            if n < 54:
                if a & _EXP_D and b & _EXP_D:
                    return r, NX
            elif n > 54:
                return r, 0
            elif a & _EXP_D and b & _EXP_D:
                return r, (0 if _prod_is(r, a, b) else NX)
    return _arith.mul(_D, a, b, rm)


def fdiv_d(a: int, b: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y = _unpack_dd(_pack_qq(a, b))
        if _TINY <= y <= _HUGE or -_HUGE <= y <= -_TINY:
            q = x / y
            if _TINY < q <= _HUGE or -_HUGE <= q < -_TINY:
                r = _unpack_q(_pack_d(q))[0]
                # An exact quotient has s(q) + s(b) - 1 <= s(a) <= 53.
                if (r & -r).bit_length() + (b & -b).bit_length() <= 53:
                    return r, NX
                if a & _EXP_D:
                    return r, (0 if _prod_is(a, r, b) else NX)
    return _arith.div(_D, a, b, rm)


def fsqrt_d(a: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x = _unpack_d(_pack_q(a))[0]
        if _TINY <= x <= _HUGE:
            r = _sqrt(x)  # correctly rounded (IEEE 754 requires it of the host)
            rb = _unpack_q(_pack_d(r))[0]
            low = (rb & -rb).bit_length()
            # An exact root has at most 27 significant bits (its square has <= 53).
            if low <= 26:
                return rb, NX
            if low >= 28:  # r*r has <= 52 significant bits: the float product is exact
                return rb, (0 if r * r == x else NX)
            return rb, (0 if _prod_is(a, rb, rb) else NX)
    return _arith.sqrt(_D, a, rm)


def _fma_rne(x: float, y: float, z: float) -> tuple[int, int] | None:
    """x*y + z rounded once to nearest-even, or None outside the safe window.

    Boldo and Melquiond's emulation: the product is split exactly into uh + ul
    (Dekker), z + uh exactly into th + tl (TwoSum); the small parts are added with
    rounding to odd, which keeps the information a final round-to-nearest needs, and
    th + v is rounded once.
    """
    uh = x * y
    if not (_FMA_P_MIN < uh < _FMA_P_MAX or -_FMA_P_MAX < uh < -_FMA_P_MIN):
        return None
    if not (-_FMA_XY_MAX < x < _FMA_XY_MAX and -_FMA_XY_MAX < y < _FMA_XY_MAX
            and -_FMA_P_MAX < z < _FMA_P_MAX):
        return None
    t = _SPLIT * x
    xh = t - (t - x)
    xl = x - xh
    t = _SPLIT * y
    yh = t - (t - y)
    yl = y - yh
    ul = ((xh * yh - uh) + xh * yl + xl * yh) + xl * yl
    th = z + uh
    t = th - z
    tl = (z - (th - t)) + (uh - t)
    v = tl + ul
    t = v - tl
    ev = (tl - (v - t)) + (ul - t)
    nx = 0
    if ev != 0.0:
        # tl + ul is not a double (so neither is the exact result): round it to odd.
        nx = 1
        if not _unpack_q(_pack_d(v))[0] & 1:
            v = _nextafter(v, _INF if ev > 0.0 else -_INF)
    r = th + v
    if not (_TINY < r <= _HUGE or -_HUGE <= r < -_TINY):
        return None
    t = r - th
    if (th - (r - t)) + (v - t) != 0.0:
        nx = 1
    return _unpack_q(_pack_d(r))[0], nx


def fmadd_d(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y, z = _unpack_ddd(_pack_qqq(a, b, c))
        res = _fma_rne(x, y, z)
        if res is not None:
            return res
    return _arith.fma(_D, a, b, c, rm, 0, 0)


def fmsub_d(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y, z = _unpack_ddd(_pack_qqq(a, b, c))
        res = _fma_rne(x, y, -z)
        if res is not None:
            return res
    return _arith.fma(_D, a, b, c, rm, 0, 1)


def fnmsub_d(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y, z = _unpack_ddd(_pack_qqq(a, b, c))
        res = _fma_rne(-x, y, z)
        if res is not None:
            return res
    return _arith.fma(_D, a, b, c, rm, 1, 0)


def fnmadd_d(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    if rm == 0:
        x, y, z = _unpack_ddd(_pack_qqq(a, b, c))
        res = _fma_rne(-x, y, -z)
        if res is not None:
            return res
    return _arith.fma(_D, a, b, c, rm, 1, 1)


# ---------------------------------------------------------------- single arithmetic
# Operands are unboxed first; results are boxed.

def fadd_s(a: int, b: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.add(_S, _unbox(a), _unbox(b), rm)
    return r | _BOX, fl


def fsub_s(a: int, b: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.sub(_S, _unbox(a), _unbox(b), rm)
    return r | _BOX, fl


def fmul_s(a: int, b: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.mul(_S, _unbox(a), _unbox(b), rm)
    return r | _BOX, fl


def fdiv_s(a: int, b: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.div(_S, _unbox(a), _unbox(b), rm)
    return r | _BOX, fl


def fsqrt_s(a: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.sqrt(_S, _unbox(a), rm)
    return r | _BOX, fl


def fmadd_s(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.fma(_S, _unbox(a), _unbox(b), _unbox(c), rm, 0, 0)
    return r | _BOX, fl


def fmsub_s(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.fma(_S, _unbox(a), _unbox(b), _unbox(c), rm, 0, 1)
    return r | _BOX, fl


def fnmsub_s(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.fma(_S, _unbox(a), _unbox(b), _unbox(c), rm, 1, 0)
    return r | _BOX, fl


def fnmadd_s(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    r, fl = _arith.fma(_S, _unbox(a), _unbox(b), _unbox(c), rm, 1, 1)
    return r | _BOX, fl


# ---------------------------------------------------------------- min/max, compare, class, sign

def fmin_s(a: int, b: int) -> tuple[int, int]:
    r, fl = _cmp.fmin(_S, _unbox(a), _unbox(b))
    return r | _BOX, fl


def fmax_s(a: int, b: int) -> tuple[int, int]:
    r, fl = _cmp.fmax(_S, _unbox(a), _unbox(b))
    return r | _BOX, fl


def fmin_d(a: int, b: int) -> tuple[int, int]:
    return _cmp.fmin(_D, a, b)


def fmax_d(a: int, b: int) -> tuple[int, int]:
    return _cmp.fmax(_D, a, b)


def feq_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.feq(_S, _unbox(a), _unbox(b))


def flt_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.flt(_S, _unbox(a), _unbox(b))


def fle_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.fle(_S, _unbox(a), _unbox(b))


def feq_d(a: int, b: int) -> tuple[int, int]:
    return _cmp.feq(_D, a, b)


def flt_d(a: int, b: int) -> tuple[int, int]:
    return _cmp.flt(_D, a, b)


def fle_d(a: int, b: int) -> tuple[int, int]:
    return _cmp.fle(_D, a, b)


def fclass_s(a: int) -> tuple[int, int]:
    return _cmp.fclass(_S, _unbox(a)), 0


def fclass_d(a: int) -> tuple[int, int]:
    return _cmp.fclass(_D, a), 0


def fsgnj_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.fsgnj(_S, _unbox(a), _unbox(b)) | _BOX, 0


def fsgnjn_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.fsgnjn(_S, _unbox(a), _unbox(b)) | _BOX, 0


def fsgnjx_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.fsgnjx(_S, _unbox(a), _unbox(b)) | _BOX, 0


def fsgnj_d(a: int, b: int) -> tuple[int, int]:
    return (a & 0x7FFFFFFFFFFFFFFF) | (b & 0x8000000000000000), 0


def fsgnjn_d(a: int, b: int) -> tuple[int, int]:
    return (a & 0x7FFFFFFFFFFFFFFF) | (~b & 0x8000000000000000), 0


def fsgnjx_d(a: int, b: int) -> tuple[int, int]:
    return a ^ (b & 0x8000000000000000), 0


# ---------------------------------------------------------------- conversions and moves

def _sext32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v | 0xFFFFFFFF00000000 if v & 0x80000000 else v


def fcvt_w_s(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_S, _unbox(a), rm, 32, True)
    return _sext32(v), fl


def fcvt_wu_s(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_S, _unbox(a), rm, 32, False)
    return _sext32(v), fl


def fcvt_l_s(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_S, _unbox(a), rm, 64, True)
    return v & _M64, fl


def fcvt_lu_s(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_S, _unbox(a), rm, 64, False)
    return v, fl


def fcvt_w_d(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_D, a, rm, 32, True)
    return _sext32(v), fl


def fcvt_wu_d(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_D, a, rm, 32, False)
    return _sext32(v), fl


def fcvt_l_d(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_D, a, rm, 64, True)
    return v & _M64, fl


def fcvt_lu_d(a: int, rm: int) -> tuple[int, int]:
    v, fl = _cvt.to_int(_D, a, rm, 64, False)
    return v, fl


def fcvt_s_w(x: int, rm: int) -> tuple[int, int]:
    r, fl = _cvt.from_int(_S, x, rm, 32, True)
    return r | _BOX, fl


def fcvt_s_wu(x: int, rm: int) -> tuple[int, int]:
    r, fl = _cvt.from_int(_S, x, rm, 32, False)
    return r | _BOX, fl


def fcvt_s_l(x: int, rm: int) -> tuple[int, int]:
    r, fl = _cvt.from_int(_S, x, rm, 64, True)
    return r | _BOX, fl


def fcvt_s_lu(x: int, rm: int) -> tuple[int, int]:
    r, fl = _cvt.from_int(_S, x, rm, 64, False)
    return r | _BOX, fl


def fcvt_d_w(x: int, rm: int) -> tuple[int, int]:
    # Every 32-bit integer is a double: rounding never happens.
    x &= 0xFFFFFFFF
    return _unpack_q(_pack_d(float(x - ((x & 0x80000000) << 1))))[0], 0


def fcvt_d_wu(x: int, rm: int) -> tuple[int, int]:
    return _unpack_q(_pack_d(float(x & 0xFFFFFFFF)))[0], 0


def fcvt_d_l(x: int, rm: int) -> tuple[int, int]:
    return _cvt.from_int(_D, x, rm, 64, True)


def fcvt_d_lu(x: int, rm: int) -> tuple[int, int]:
    return _cvt.from_int(_D, x, rm, 64, False)


def fcvt_s_d(a: int, rm: int) -> tuple[int, int]:
    r, fl = _cvt.convert(_D, _S, a, rm)
    return r | _BOX, fl


def fcvt_d_s(a: int, rm: int) -> tuple[int, int]:
    return _cvt.convert(_S, _D, _unbox(a), rm)


def fmv_x_w(a: int) -> tuple[int, int]:
    """FMV.X.W copies the low 32 bits unchanged (no NaN-box check), sign-extended."""
    return _sext32(a), 0


def fmv_w_x(x: int) -> tuple[int, int]:
    return (x & 0xFFFFFFFF) | _BOX, 0


def fmv_x_d(a: int) -> tuple[int, int]:
    return a & _M64, 0


def fmv_d_x(x: int) -> tuple[int, int]:
    return x & _M64, 0


__all__ += [name for name in dir() if name.startswith(("f",)) and callable(globals()[name])]
