"""Test-vector generation for the FPU, weighted heavily towards corner cases.

Operands are raw patterns: doubles as 64-bit values, singles as 64-bit f-register
values that are usually NaN-boxed and sometimes not. Related operands are built
on purpose: cancelling sums, halfway cases, products and quotients near the
overflow and underflow thresholds, fused multiply-adds that cancel the product,
values around integer conversion limits.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

BOX = 0xFFFFFFFF00000000


@dataclass(frozen=True)
class Fmt:
    fbits: int
    ebits: int
    box: bool  # operands live NaN-boxed in a 64-bit register

    @property
    def bias(self) -> int:
        return (1 << (self.ebits - 1)) - 1

    @property
    def emask(self) -> int:
        return (1 << self.ebits) - 1

    @property
    def sign(self) -> int:
        return 1 << (self.fbits + self.ebits)

    def make(self, sign: int, exp: int, frac: int) -> int:
        """Pattern from biased exponent field and fraction (both clipped to the format)."""
        exp = max(0, min(exp, self.emask))
        return (self.sign if sign else 0) | (exp << self.fbits) | (frac & ((1 << self.fbits) - 1))

    def from_float(self, x: float) -> int:
        if self.box:
            return struct.unpack("<I", struct.pack("<f", x))[0]
        return struct.unpack("<Q", struct.pack("<d", x))[0]


SF = Fmt(23, 8, True)
DF = Fmt(52, 11, False)


def specials(f: Fmt) -> list[int]:
    fb, em = f.fbits, f.emask
    top = 1 << (fb - 1)
    mags = [
        0, 1, 2, 3, (1 << fb) - 1, top, top + 1,  # zero and subnormals
        1 << fb, (1 << fb) + 1, (2 << fb) - 1,  # smallest normals
        (f.bias << fb), (f.bias << fb) | 1, (f.bias << fb) | top,  # 1, 1+ulp, 1.5
        ((f.bias - 1) << fb) | ((1 << fb) - 1),  # just below 1
        ((em - 1) << fb) | ((1 << fb) - 1), ((em - 1) << fb),  # largest finites
        em << fb,  # infinity
        (em << fb) | top, (em << fb) | top | 1, (em << fb) | ((1 << fb) - 1),  # qNaNs
        (em << fb) | 1, (em << fb) | (top >> 1),  # sNaNs
    ]
    return mags + [m | f.sign for m in mags]


def int_limit_values(f: Fmt) -> list[int]:
    """Floats at and around the integer conversion limits and rounding boundaries."""
    out = []
    for base in (2.0**31, 2.0**32, 2.0**63, 2.0**64, 0.5, 1.0, 1.5, 2.5, 3.5):
        for x in (base, -base, base - 1.0, -base - 1.0, base - 0.5, -base + 0.5, -base - 0.5,
                  base + 0.5):
            try:
                bits = f.from_float(x)
            except OverflowError:
                continue
            for d in (-2, -1, 0, 1, 2):
                out.append((bits + d) & ((f.sign << 1) - 1))
    return out


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    # ------------------------------------------------------------ single values

    def value(self, f: Fmt) -> int:
        r = self.r
        k = r.random()
        fb = f.fbits
        if k < 0.15:
            v = r.choice(specials(f))
        elif k < 0.35:  # anywhere
            v = f.make(r.getrandbits(1), r.randrange(0, f.emask), r.getrandbits(fb))
        elif k < 0.55:  # moderate magnitudes
            v = f.make(r.getrandbits(1), f.bias + r.randrange(-12, 13), r.getrandbits(fb))
        elif k < 0.67:  # few significant bits: exact results, ties
            frac = r.getrandbits(r.randrange(0, 8)) << (fb - r.randrange(7, fb + 1)) if fb >= 8 else 0
            v = f.make(r.getrandbits(1), f.bias + r.randrange(-30, 31), frac)
        elif k < 0.77:  # subnormal
            frac = r.getrandbits(fb) >> r.randrange(0, fb)
            v = f.make(r.getrandbits(1), 0, frac)
        elif k < 0.87:  # near the ends of the exponent range
            e = r.choice([r.randrange(1, 40), r.randrange(f.emask - 40, f.emask)])
            v = f.make(r.getrandbits(1), e, r.getrandbits(fb))
        elif k < 0.92:
            v = r.choice(int_limit_values(f))
        else:
            v = r.getrandbits(fb + f.ebits + 1)
        return self.boxed(f, v)

    def boxed(self, f: Fmt, v: int) -> int:
        if not f.box:
            return v
        k = self.r.random()
        if k < 0.04:
            return v  # upper half zero: not a valid single, reads as canonical NaN
        if k < 0.06:
            return (self.r.getrandbits(32) << 32) | v
        return BOX | v

    # ------------------------------------------------------------ related operands

    def near(self, f: Fmt, v: int) -> int:
        """A value related to v: a few ulps away, negated, or exponent-shifted."""
        r = self.r
        v &= (f.sign << 1) - 1
        k = r.random()
        if k < 0.3:
            w = v + r.randrange(-3, 4)
        elif k < 0.5:
            w = v ^ f.sign
        elif k < 0.75:
            # Exponent moved by up to a bit more than the precision: sticky/halfway cases.
            shift = r.randrange(-(f.fbits + 4), f.fbits + 5)
            w = v + (shift << f.fbits)
        else:
            w = f.make(r.getrandbits(1), ((v >> f.fbits) & f.emask) + r.randrange(-2, 3),
                       r.getrandbits(f.fbits))
        return self.boxed(f, w & ((f.sign << 1) - 1))

    def halfway_pair(self, f: Fmt) -> tuple[int, int]:
        """a and b such that a + b lands exactly halfway (or next to it) between two floats."""
        r = self.r
        e = f.bias + r.randrange(-20, 21)
        a = f.make(r.getrandbits(1), e, r.getrandbits(f.fbits))
        sb = (a >> (f.fbits + f.ebits)) ^ r.getrandbits(1)
        b = f.make(sb, e - f.fbits - 1 + r.randrange(-1, 2), r.choice([0, 1, r.getrandbits(f.fbits)]))
        return self.boxed(f, a), self.boxed(f, b)

    def scaled_pair(self, f: Fmt, target_exp: int) -> tuple[int, int]:
        """Two normal operands whose product (or quotient) lands near biased target_exp."""
        r = self.r
        ea = r.randrange(1, f.emask)
        eb = target_exp - ea + f.bias + r.randrange(-2, 3)
        eb = max(1, min(eb, f.emask - 1))
        a = f.make(r.getrandbits(1), ea, r.getrandbits(f.fbits) if r.random() < 0.7 else 0)
        b = f.make(r.getrandbits(1), eb, r.getrandbits(f.fbits) if r.random() < 0.7 else 0)
        return self.boxed(f, a), self.boxed(f, b)

    def extreme_exp(self, f: Fmt) -> int:
        """A biased exponent near overflow or deep in the subnormal/underflow region."""
        r = self.r
        return r.choice([f.emask - 1 + r.randrange(-2, 3), r.randrange(-f.fbits - 3, 4)])

    def rm(self) -> int:
        return self.r.randrange(5)

    def int64(self) -> int:
        r = self.r
        k = r.random()
        if k < 0.3:
            n = r.randrange(0, 65)
            v = r.getrandbits(n) if n else 0
            return (-v) & ((1 << 64) - 1) if r.getrandbits(1) else v
        if k < 0.5:  # around the precision boundaries, with halfway low bits
            n = r.choice([24, 25, 26, 53, 54, 55, 63, 64, 31, 32])
            v = (1 << (n - 1)) | r.getrandbits(n - 1)
            v = v & ~((1 << r.randrange(0, n)) - 1) | r.choice([0, 1, 1 << r.randrange(n)])
            v &= (1 << 64) - 1
            return (-v) & ((1 << 64) - 1) if r.getrandbits(1) else v
        if k < 0.6:
            return r.choice([0, 1, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 1 << 31, (1 << 31) - 1,
                             (1 << 32) - 1, 0xFFFFFFFF80000000, 0x7FFFFFFF, 0x80000000])
        return r.getrandbits(64)


def _to_bits(f: Fmt, x: float) -> int | None:
    try:
        return f.from_float(x)
    except OverflowError:
        return None


class TinyGen:
    """Operands whose exact result sits at the underflow threshold 2**emin, where
    tininess after rounding differs from tininess before rounding."""

    def __init__(self, g: Gen) -> None:
        self.g = g

    def _nudge(self, f: Fmt, x: float) -> int:
        bits = _to_bits(f, x)
        if bits is None:
            bits = f.from_float(1.0)
        bits = (bits + self.g.r.randrange(-3, 4)) & ((f.sign << 1) - 1)
        return self.g.boxed(f, bits)

    def _factor(self) -> float:
        r = self.g.r
        return (1.0 + r.random()) * 2.0 ** r.randrange(-20, 21)

    def mul(self, f: Fmt) -> tuple[int, int]:
        x = self._factor()
        a = self._nudge(f, x)
        emin = 2.0 ** (1 - f.bias)
        b = self._nudge(f, emin / x * (1.0 - self.g.r.choice([0.0, 2.0**-25, 2.0**-54, 2.0**-60])))
        if self.g.r.getrandbits(1):
            b ^= f.sign
        return a, b

    def div(self, f: Fmt) -> tuple[int, int]:
        x = self._factor()
        emin = 2.0 ** (1 - f.bias)
        return self._nudge(f, emin * x), self._nudge(f, x)

    def fma(self, f: Fmt) -> tuple[int, int, int]:
        a, b = self.mul(f)
        r = self.g.r
        # Add a small c so that the sum straddles the threshold instead.
        c = self._nudge(f, 2.0 ** (1 - f.bias) * r.choice([2.0**-24, 2.0**-53, 0.5, 2.0**-30]))
        if r.getrandbits(1):
            c ^= f.sign
        return a, b, c

    def narrow(self) -> int:
        r = self.g.r
        x = 2.0**-126 * (1.0 - r.choice([2.0**-25, 2.0**-24, 2.0**-26, 2.0**-40]))
        x *= r.choice([1.0, 2.0**-1, 2.0**-10, 2.0**-23])
        bits = DF.from_float(x) + r.randrange(-3, 4)
        return bits | (r.getrandbits(1) << 63)
