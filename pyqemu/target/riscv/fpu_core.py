"""Exact IEEE 754 binary32/binary64 core for the RISC-V F and D extensions.

Values are handled as exact integers: a finite operand is ``m * 2**e`` with an
integer significand ``m``. Every operation computes its exact result (or an exact
significand with one "sticky" bit below all bits that can matter), and
:func:`round_pack` performs the single IEEE rounding, including the RISC-V
choices (unprivileged spec, "F" chapter §"Floating-Point Control and Status
Register" and §"NaN Generation and Propagation"):

* every NaN result is the canonical NaN (positive, quiet, zero payload);
* underflow (UF) is raised when the result is tiny *after rounding* (as if the
  exponent range were unbounded) and inexact;
* overflow raises OF and NX and yields infinity or the largest finite number,
  depending on the rounding direction.

This module is the slow, always-correct path; fpu.py layers fast paths on top.
"""

from __future__ import annotations

# Rounding modes as encoded in the instruction rm field / frm CSR.
RNE = 0  # round to nearest, ties to even
RTZ = 1  # round towards zero
RDN = 2  # round down (towards -inf)
RUP = 3  # round up (towards +inf)
RMM = 4  # round to nearest, ties to max magnitude

# fflags bits.
NV = 0x10  # invalid operation
DZ = 0x08  # divide by zero
OF = 0x04  # overflow
UF = 0x02  # underflow
NX = 0x01  # inexact

# Operand kinds returned by FloatFormat.unpack.
ZERO = 0
FINITE = 1
INF = 2
QNAN = 3
SNAN = 4


class FloatFormat:
    """One IEEE binary interchange format (binary32 or binary64). A plain class, not a
    dataclass: importing dataclasses costs ~15 ms of a user-mode start-up."""

    __slots__ = ("name", "fbits", "ebits")

    def __init__(self, name: str, fbits: int, ebits: int) -> None:
        self.name = name
        self.fbits = fbits  # stored fraction bits (23, 52)
        self.ebits = ebits  # exponent bits (8, 11)

    def __repr__(self) -> str:
        return f"FloatFormat({self.name!r}, {self.fbits}, {self.ebits})"

    @property
    def p(self) -> int:
        """Precision in bits, including the hidden bit."""
        return self.fbits + 1

    @property
    def bias(self) -> int:
        return (1 << (self.ebits - 1)) - 1

    @property
    def emin(self) -> int:
        return 1 - self.bias

    @property
    def emax(self) -> int:
        return self.bias

    @property
    def sign(self) -> int:
        return 1 << (self.fbits + self.ebits)

    @property
    def fmask(self) -> int:
        return (1 << self.fbits) - 1

    @property
    def emask(self) -> int:
        return (1 << self.ebits) - 1

    @property
    def inf(self) -> int:
        return self.emask << self.fbits

    @property
    def qnan(self) -> int:
        """The RISC-V canonical NaN."""
        return self.inf | (1 << (self.fbits - 1))

    @property
    def maxfinite(self) -> int:
        return ((self.emask - 1) << self.fbits) | self.fmask

    @property
    def width(self) -> int:
        return 1 + self.ebits + self.fbits


SINGLE = FloatFormat("single", 23, 8)
DOUBLE = FloatFormat("double", 52, 11)


class _Params:
    """Plain-attribute copy of a format's derived constants for the hot slow paths."""

    __slots__ = ("fmt", "p", "fbits", "bias", "emin", "emax", "sign", "fmask", "emask",
                 "inf", "qnan", "maxfinite", "hidden", "qbit", "e_sub", "width")

    def __init__(self, fmt: FloatFormat) -> None:
        self.fmt = fmt
        self.p = fmt.p
        self.fbits = fmt.fbits
        self.bias = fmt.bias
        self.emin = fmt.emin
        self.emax = fmt.emax
        self.sign = fmt.sign
        self.fmask = fmt.fmask
        self.emask = fmt.emask
        self.inf = fmt.inf
        self.qnan = fmt.qnan
        self.maxfinite = fmt.maxfinite
        self.hidden = 1 << fmt.fbits
        self.qbit = 1 << (fmt.fbits - 1)
        # Exponent of the least significant bit of a subnormal (and of the smallest normal).
        self.e_sub = fmt.emin - fmt.fbits
        self.width = fmt.width


S = _Params(SINGLE)
D = _Params(DOUBLE)


def unpack(f: _Params, bits: int) -> tuple[int, int, int, int]:
    """Split a raw pattern into (kind, sign, significand, exponent).

    For FINITE the value is ``(-1)**sign * m * 2**e``; for other kinds m and e are 0.
    """
    sign = 1 if bits & f.sign else 0
    exp = (bits >> f.fbits) & f.emask
    frac = bits & f.fmask
    if exp == f.emask:
        if frac == 0:
            return INF, sign, 0, 0
        return (QNAN if frac & f.qbit else SNAN), sign, 0, 0
    if exp == 0:
        if frac == 0:
            return ZERO, sign, 0, 0
        return FINITE, sign, frac, f.e_sub
    return FINITE, sign, frac | f.hidden, exp - f.bias - f.fbits


def is_snan(f: _Params, bits: int) -> bool:
    return (bits & f.inf) == f.inf and (bits & f.fmask) != 0 and not bits & f.qbit


def is_nan(f: _Params, bits: int) -> bool:
    return (bits & f.inf) == f.inf and (bits & f.fmask) != 0


def _round_up(m_low: int, rem: int, shift: int, sign: int, rm: int) -> bool:
    """Whether discarding ``rem`` (the low ``shift`` bits, nonzero) rounds the kept part up."""
    if rm == RNE:
        half = 1 << (shift - 1)
        return rem > half or (rem == half and (m_low & 1) == 1)
    if rm == RTZ:
        return False
    if rm == RDN:
        return sign == 1
    if rm == RUP:
        return sign == 0
    return rem >= (1 << (shift - 1))  # RMM


def overflow_result(f: _Params, sign: int, rm: int) -> int:
    """IEEE 754 §7.4: the overflow result is infinity or the largest finite number."""
    if rm == RTZ or (rm == RDN and not sign) or (rm == RUP and sign):
        return (f.sign if sign else 0) | f.maxfinite
    return (f.sign if sign else 0) | f.inf


def round_pack(f: _Params, sign: int, m: int, e: int, rm: int) -> tuple[int, int]:
    """Round the exact nonzero value (-1)**sign * m * 2**e to format f.

    Callers that cannot compute a quotient or root exactly append a sticky 1 bit below
    at least two extra significand bits, which rounds identically to the true value.
    """
    p = f.p
    n = m.bit_length()
    top = e + n - 1  # exponent of the leading bit
    tiny = top < f.emin
    shift = (f.e_sub - e) if tiny else (n - p)
    flags = 0
    if shift > 0:
        kept = m >> shift
        rem = m & ((1 << shift) - 1)
        if rem:
            flags = NX
            if _round_up(kept, rem, shift, sign, rm):
                kept += 1
            if tiny:
                flags = NX | UF
                # Tininess is judged after rounding (as if the exponent range were
                # unbounded): only a value just below 2**emin can round up onto it.
                if top == f.emin - 1 and n > p:
                    s2 = n - p
                    k2 = m >> s2
                    r2 = m & ((1 << s2) - 1)
                    if r2 and _round_up(k2, r2, s2, sign, rm) and (k2 + 1) >> p:
                        flags = NX
        m = kept
        e += shift
        if m >> p:  # the carry made it p+1 bits
            m >>= 1
            e += 1
    elif shift < 0:
        m <<= -shift
        e += shift
    if m == 0:
        return (f.sign if sign else 0), flags
    top = e + m.bit_length() - 1
    if top > f.emax:
        return overflow_result(f, sign, rm), OF | NX
    if m >> (p - 1):
        bits = ((top + f.bias) << f.fbits) | (m & f.fmask)
    else:
        bits = m  # subnormal: e == e_sub
    return (f.sign if sign else 0) | bits, flags
