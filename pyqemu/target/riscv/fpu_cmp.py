"""Non-arithmetic F/D operations: compare, minimum/maximum, classify, sign injection.

Semantics from the RISC-V unprivileged spec, F chapter (version 2.2):

* FEQ is a quiet comparison (NV only for a signalling NaN operand); FLT and FLE are
  signalling (NV for any NaN). Any comparison with a NaN yields 0.
* FMIN/FMAX follow IEEE 754-2019 minimumNumber/maximumNumber: -0 < +0, a single NaN
  operand gives the other operand, two NaNs give the canonical NaN, and a signalling
  NaN operand raises NV.
* FCLASS sets exactly one of ten bits.
* Sign injection only moves the sign bit; it never canonicalizes NaNs.
"""

from __future__ import annotations

from .fpu_core import NV, _Params


def _nan_flags(f: _Params, a: int, b: int) -> tuple[bool, bool, int]:
    """(a is NaN, b is NaN, NV if either is a signalling NaN)."""
    inf, fmask, qbit = f.inf, f.fmask, f.qbit
    an = (a & inf) == inf and (a & fmask) != 0
    bn = (b & inf) == inf and (b & fmask) != 0
    flags = NV if (an and not a & qbit) or (bn and not b & qbit) else 0
    return an, bn, flags


def _order_key(f: _Params, x: int) -> int:
    """Total order of non-NaN patterns with -0 < +0."""
    if x & f.sign:
        return -(x & (f.sign - 1)) - 1
    return x


def _value_key(f: _Params, x: int) -> int:
    """Numeric order of non-NaN patterns (-0 == +0)."""
    if x & f.sign:
        return -(x & (f.sign - 1))
    return x


def fmin(f: _Params, a: int, b: int) -> tuple[int, int]:
    an, bn, flags = _nan_flags(f, a, b)
    if an:
        return (f.qnan if bn else b), flags
    if bn:
        return a, flags
    return (a if _order_key(f, a) <= _order_key(f, b) else b), 0


def fmax(f: _Params, a: int, b: int) -> tuple[int, int]:
    an, bn, flags = _nan_flags(f, a, b)
    if an:
        return (f.qnan if bn else b), flags
    if bn:
        return a, flags
    return (a if _order_key(f, a) >= _order_key(f, b) else b), 0


def feq(f: _Params, a: int, b: int) -> tuple[int, int]:
    an, bn, flags = _nan_flags(f, a, b)
    if an or bn:
        return 0, flags
    return (1 if _value_key(f, a) == _value_key(f, b) else 0), 0


def flt(f: _Params, a: int, b: int) -> tuple[int, int]:
    an, bn, _ = _nan_flags(f, a, b)
    if an or bn:
        return 0, NV
    return (1 if _value_key(f, a) < _value_key(f, b) else 0), 0


def fle(f: _Params, a: int, b: int) -> tuple[int, int]:
    an, bn, _ = _nan_flags(f, a, b)
    if an or bn:
        return 0, NV
    return (1 if _value_key(f, a) <= _value_key(f, b) else 0), 0


def fclass(f: _Params, a: int) -> int:
    """The FCLASS mask: bit 0 -inf, 1 negative normal, 2 negative subnormal, 3 -0,
    4 +0, 5 positive subnormal, 6 positive normal, 7 +inf, 8 sNaN, 9 qNaN."""
    exp = (a >> f.fbits) & f.emask
    frac = a & f.fmask
    neg = a & f.sign
    if exp == f.emask:
        if frac == 0:
            return 1 if neg else 1 << 7
        return 1 << 9 if frac & f.qbit else 1 << 8
    if exp == 0:
        if frac == 0:
            return 1 << 3 if neg else 1 << 4
        return 1 << 2 if neg else 1 << 5
    return 1 << 1 if neg else 1 << 6


def fsgnj(f: _Params, a: int, b: int) -> int:
    return (a & (f.sign - 1)) | (b & f.sign)


def fsgnjn(f: _Params, a: int, b: int) -> int:
    return (a & (f.sign - 1)) | (~b & f.sign)


def fsgnjx(f: _Params, a: int, b: int) -> int:
    return a ^ (b & f.sign)
