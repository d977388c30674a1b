"""Conversions between floating-point formats and integers (RISC-V F/D chapters,
"Floating-Point Conversion and Move Instructions").

Float-to-integer conversions round with the given mode and then saturate: a NaN or a
result above the destination range gives the largest value, one below it the
smallest (0 for unsigned), and raise NV instead of NX. The inexact flag is raised
for an in-range result that needed rounding, including a negative value rounding to
0 in an unsigned conversion.
"""

from __future__ import annotations

from .fpu_core import INF, NV, NX, ZERO, _Params, _round_up, round_pack, unpack


def to_int(f: _Params, a: int, rm: int, nbits: int, signed: bool) -> tuple[int, int]:
    """Round a to an integer of nbits; returns (Python int, possibly negative, flags)."""
    if signed:
        lo = -(1 << (nbits - 1))
        hi = (1 << (nbits - 1)) - 1
    else:
        lo = 0
        hi = (1 << nbits) - 1
    k, s, m, e = unpack(f, a)
    if k >= 3:
        return hi, NV
    if k == INF:
        return (lo if s else hi), NV
    if k == ZERO:
        return 0, 0
    flags = 0
    if e >= 0:
        if e + m.bit_length() > nbits + 1:
            return (lo if s else hi), NV
        v = m << e
    else:
        sh = -e
        if sh > m.bit_length() + 1:
            # |a| < 1/2: only the rounding direction matters, not the exact bits.
            kept, rem, sh = 0, 1, 3
        else:
            kept = m >> sh
            rem = m & ((1 << sh) - 1)
        if rem:
            flags = NX
            if _round_up(kept, rem, sh, s, rm):
                kept += 1
        v = kept
    if s:
        v = -v
    if v < lo or v > hi:
        return (lo if s else hi), NV
    return v, flags


def from_int(f: _Params, x: int, rm: int, nbits: int, signed: bool) -> tuple[int, int]:
    """Convert the low nbits of x, read as signed or unsigned, to format f."""
    x &= (1 << nbits) - 1
    if signed and x >> (nbits - 1):
        x -= 1 << nbits
    if x == 0:
        return 0, 0
    if x < 0:
        return round_pack(f, 1, -x, 0, rm)
    return round_pack(f, 0, x, 0, rm)


def convert(src: _Params, dst: _Params, a: int, rm: int) -> tuple[int, int]:
    """Convert between binary32 and binary64 (widening is always exact)."""
    k, s, m, e = unpack(src, a)
    sign = dst.sign if s else 0
    if k >= 3:
        return dst.qnan, (NV if k == 4 else 0)
    if k == INF:
        return sign | dst.inf, 0
    if k == ZERO:
        return sign, 0
    return round_pack(dst, s, m, e, rm)
