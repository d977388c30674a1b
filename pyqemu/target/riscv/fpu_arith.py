"""Exact-integer IEEE arithmetic: add, multiply, divide, square root, fused multiply-add.

Each function takes raw patterns of one format (already unboxed for binary32) and a
resolved rounding mode, and returns (raw result, fflags). Special operands follow
the RISC-V F chapter: any NaN result is the canonical NaN, a signalling NaN operand
raises NV, and the fused multiply-add raises NV for infinity times zero even when
the addend is a quiet NaN.
"""

from __future__ import annotations

from math import isqrt

from .fpu_core import (
    DZ,
    FINITE,
    INF,
    NV,
    RDN,
    SNAN,
    ZERO,
    _Params,
    round_pack,
    unpack,
)

_NAN_KINDS = (3, 4)  # QNAN, SNAN


def _zero(f: _Params, sign: int) -> int:
    return f.sign if sign else 0


def _exact_sum(f: _Params, sa: int, ma: int, ea: int, sb: int, mb: int, eb: int, rm: int) -> tuple[int, int]:
    """Round (-1)**sa*ma*2**ea + (-1)**sb*mb*2**eb, both nonzero, at a single rounding."""
    top_a = ea + ma.bit_length()
    top_b = eb + mb.bit_length()
    # An addend far below the other one and below its last bit only matters through its
    # sign: every rounding boundary of the sum is a multiple of 2**g, so any value in
    # (0, 2**g) rounds the same. Replacing it keeps the integers small.
    if top_a > top_b:
        g = min(ea, top_a - f.p - 2)
        if top_b <= g:
            mb, eb = 1, g - 1
    else:
        g = min(eb, top_b - f.p - 2)
        if top_a <= g:
            ma, ea = 1, g - 1
    if ea >= eb:
        x = (ma << (ea - eb))
        y = mb
        e = eb
    else:
        x = ma
        y = mb << (eb - ea)
        e = ea
    total = (-x if sa else x) + (-y if sb else y)
    if total == 0:
        # An exact zero sum of nonzero operands is +0, or -0 when rounding down.
        return _zero(f, rm == RDN), 0
    if total < 0:
        return round_pack(f, 1, -total, e, rm)
    return round_pack(f, 0, total, e, rm)


def add(f: _Params, a: int, b: int, rm: int) -> tuple[int, int]:
    ka, sa, ma, ea = unpack(f, a)
    kb, sb, mb, eb = unpack(f, b)
    if ka == FINITE and kb == FINITE:
        return _exact_sum(f, sa, ma, ea, sb, mb, eb, rm)
    if ka >= 3 or kb >= 3:
        return f.qnan, (NV if ka == SNAN or kb == SNAN else 0)
    if ka == INF:
        if kb == INF and sa != sb:
            return f.qnan, NV
        return a, 0
    if kb == INF:
        return b, 0
    if ka == ZERO:
        if kb == ZERO:
            if sa == sb:
                return a, 0
            return _zero(f, rm == RDN), 0
        return b, 0
    return a, 0  # b is zero


def sub(f: _Params, a: int, b: int, rm: int) -> tuple[int, int]:
    # Subtraction is addition of the negation; NaN results are canonical either way.
    return add(f, a, b ^ f.sign, rm)


def mul(f: _Params, a: int, b: int, rm: int) -> tuple[int, int]:
    ka, sa, ma, ea = unpack(f, a)
    kb, sb, mb, eb = unpack(f, b)
    sign = sa ^ sb
    if ka == FINITE and kb == FINITE:
        return round_pack(f, sign, ma * mb, ea + eb, rm)
    if ka >= 3 or kb >= 3:
        return f.qnan, (NV if ka == SNAN or kb == SNAN else 0)
    if ka == INF or kb == INF:
        if ka == ZERO or kb == ZERO:
            return f.qnan, NV
        return _zero(f, sign) | f.inf, 0
    return _zero(f, sign), 0


def div(f: _Params, a: int, b: int, rm: int) -> tuple[int, int]:
    ka, sa, ma, ea = unpack(f, a)
    kb, sb, mb, eb = unpack(f, b)
    sign = sa ^ sb
    if ka == FINITE and kb == FINITE:
        # Enough quotient bits for p bits plus guard and round, then a sticky bit.
        k = f.p + 2 + mb.bit_length() - ma.bit_length()
        if k < 0:
            k = 0
        q, r = divmod(ma << k, mb)
        return round_pack(f, sign, (q << 1) | (1 if r else 0), ea - eb - k - 1, rm)
    if ka >= 3 or kb >= 3:
        return f.qnan, (NV if ka == SNAN or kb == SNAN else 0)
    if ka == INF:
        if kb == INF:
            return f.qnan, NV
        return _zero(f, sign) | f.inf, 0
    if kb == INF:
        return _zero(f, sign), 0
    if kb == ZERO:
        if ka == ZERO:
            return f.qnan, NV
        return _zero(f, sign) | f.inf, DZ
    return _zero(f, sign), 0  # 0 / finite


def sqrt(f: _Params, a: int, rm: int) -> tuple[int, int]:
    ka, sa, ma, ea = unpack(f, a)
    if ka == ZERO:
        return a, 0  # sqrt(-0) = -0
    if ka >= 3:
        return f.qnan, (NV if ka == SNAN else 0)
    if sa:
        return f.qnan, NV
    if ka == INF:
        return a, 0
    if ea & 1:
        ma <<= 1
        ea -= 1
    k = f.p + 3 - (ma.bit_length() >> 1)
    if k < 0:
        k = 0
    scaled = ma << (2 * k)
    r = isqrt(scaled)
    sticky = 1 if r * r != scaled else 0
    return round_pack(f, 0, (r << 1) | sticky, ((ea - 2 * k) >> 1) - 1, rm)


def fma(f: _Params, a: int, b: int, c: int, rm: int, neg_product: int = 0, neg_addend: int = 0) -> tuple[int, int]:
    """(+/-)(a*b) (+/-) c with one rounding; the negations select fmadd/fmsub/fnmsub/fnmadd."""
    ka, sa, ma, ea = unpack(f, a)
    kb, sb, mb, eb = unpack(f, b)
    kc, sc, mc, ec = unpack(f, c)
    sp = sa ^ sb ^ neg_product
    sc ^= neg_addend
    inf_times_zero = (ka == INF and kb == ZERO) or (ka == ZERO and kb == INF)
    if ka >= 3 or kb >= 3 or kc >= 3:
        invalid = inf_times_zero or ka == SNAN or kb == SNAN or kc == SNAN
        return f.qnan, (NV if invalid else 0)
    if inf_times_zero:
        return f.qnan, NV
    if ka == INF or kb == INF:
        if kc == INF and sc != sp:
            return f.qnan, NV
        return _zero(f, sp) | f.inf, 0
    if kc == INF:
        return _zero(f, sc) | f.inf, 0
    if ka == ZERO or kb == ZERO:
        if kc == ZERO:
            if sp == sc:
                return _zero(f, sp), 0
            return _zero(f, rm == RDN), 0
        return _zero(f, sc) | (c & (f.sign - 1)), 0
    if kc == ZERO:
        return round_pack(f, sp, ma * mb, ea + eb, rm)
    return _exact_sum(f, sp, ma * mb, ea + eb, sc, mc, ec, rm)
