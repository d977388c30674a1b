"""The double-precision fast paths (host floats, RNE) against the exact integer path.

No oracle needed: fpu_arith is itself checked against qemu-riscv64 in test_fpu.py, so
agreement here on many ordinary and boundary operands pins the fast paths down.
"""

from __future__ import annotations

import math
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyqemu.target.riscv import fpu, fpu_arith
from pyqemu.target.riscv.fpu_core import D


def bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def flt(b: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def rand_double(r: random.Random) -> float:
    k = r.random()
    if k < 0.5:
        m = r.getrandbits(52) | (1 << 52)
        e = r.randrange(-60, 61)
    elif k < 0.7:  # few significant bits: exact results and ties
        m = r.getrandbits(r.randrange(1, 28)) | 1
        e = r.randrange(-40, 41)
    elif k < 0.85:  # the fast paths' window edges
        m = r.getrandbits(53) | 1
        e = r.choice([-1022, -1000, -961, -960, -959, -700, 940, 941, 942, 943, 946, 947, 948, 960, 971])
        e -= 52
    else:
        m = r.getrandbits(53) | 1
        e = r.randrange(-1074, 972)
    x = ldexp(m, e)
    return -x if r.getrandbits(1) else x


def ldexp(x: float, e: int) -> float:
    try:
        return math.ldexp(x, e)
    except OverflowError:
        return 1.0


def nudge(r: random.Random, x: float) -> float:
    return flt((bits(x) + r.randrange(-2, 3)) & ((1 << 64) - 1))


OPS2 = [
    (fpu.fadd_d, lambda a, b: fpu_arith.add(D, a, b, 0)),
    (fpu.fsub_d, lambda a, b: fpu_arith.sub(D, a, b, 0)),
    (fpu.fmul_d, lambda a, b: fpu_arith.mul(D, a, b, 0)),
    (fpu.fdiv_d, lambda a, b: fpu_arith.div(D, a, b, 0)),
]
FMAS = [
    (fpu.fmadd_d, (0, 0)), (fpu.fmsub_d, (0, 1)), (fpu.fnmsub_d, (1, 0)), (fpu.fnmadd_d, (1, 1)),
]


def pairs(r: random.Random, n: int):
    for _ in range(n):
        x = rand_double(r)
        k = r.random()
        if k < 0.4:
            y = rand_double(r)
        elif k < 0.6:
            y = nudge(r, -x if r.getrandbits(1) else x)  # cancellation, x/x
        elif k < 0.8:
            q = rand_double(r)
            y = x * q  # y / x ~ q, often exact when both have few bits
            if not math.isfinite(y) or y == 0:
                y = q
        else:
            y = ldexp(rand_double(r), r.randrange(-60, 61))
            if not math.isfinite(y) or y == 0:
                y = 1.0
        yield bits(x), bits(y)


@pytest.mark.parametrize("fast,slow", OPS2, ids=["fadd_d", "fsub_d", "fmul_d", "fdiv_d"])
def test_binary_fast_matches_exact(fast, slow) -> None:
    r = random.Random(1234)
    bad = [(hex(a), hex(b)) for a, b in pairs(r, 15000) if fast(a, b, 0) != slow(a, b)]
    assert not bad, bad[:10]


def test_sqrt_fast_matches_exact() -> None:
    r = random.Random(99)
    cases = []
    for _ in range(12000):
        k = r.random()
        if k < 0.4:
            m = r.getrandbits(r.choice([26, 27, 28, 20])) | 1
            x = ldexp(float(m * m), 2 * r.randrange(-400, 400))
            x = nudge(r, x) if r.random() < 0.3 else x
        else:
            x = abs(rand_double(r))
        cases.append(bits(x))
    bad = [hex(a) for a in cases if fpu.fsqrt_d(a, 0) != fpu_arith.sqrt(D, a, 0)]
    assert not bad, bad[:10]


@pytest.mark.parametrize("fn,neg", FMAS, ids=["fmadd_d", "fmsub_d", "fnmsub_d", "fnmadd_d"])
def test_fma_fast_matches_exact(fn, neg) -> None:
    r = random.Random(4321 + neg[0] * 2 + neg[1])
    bad = []
    for _ in range(10000):
        x, y = rand_double(r), rand_double(r)
        p = x * y
        k = r.random()
        if k < 0.35 and math.isfinite(p):
            z = nudge(r, -p)  # massive cancellation
            if r.random() < 0.5:
                z = z + ldexp(p, -r.randrange(20, 60))
        elif k < 0.55 and math.isfinite(p):
            z = ldexp(p, r.choice([-54, -53, -52, -30, -1, 0, 1, 30, 52, 53, 54, 60]))
            z = -z if r.getrandbits(1) else z
        else:
            z = rand_double(r)
        if neg[1] and r.getrandbits(1):
            z = -z
        a, b, c = bits(x), bits(y), bits(z)
        if fn(a, b, c, 0) != fpu_arith.fma(D, a, b, c, 0, *neg):
            bad.append((hex(a), hex(b), hex(c)))
    assert not bad, bad[:10]


def test_fast_paths_are_taken_for_ordinary_operands(monkeypatch) -> None:
    """A performance guard: typical n-body style operands never reach the slow path."""
    calls = []

    def spy(name):
        real = getattr(fpu_arith, name)

        def wrapper(*args):
            calls.append(name)
            return real(*args)
        return wrapper

    for name in ("add", "sub", "mul", "div", "sqrt", "fma"):
        monkeypatch.setattr(fpu_arith, name, spy(name))
    r = random.Random(7)
    for _ in range(2000):
        x = bits(r.uniform(-10.0, 10.0))
        y = bits(r.uniform(0.01, 10.0))
        z = bits(r.uniform(-10.0, 10.0))
        fpu.fadd_d(x, y, 0)
        fpu.fsub_d(x, y, 0)
        fpu.fmul_d(x, y, 0)
        fpu.fdiv_d(x, y, 0)
        fpu.fsqrt_d(y, 0)
        fpu.fmadd_d(x, y, z, 0)
        fpu.fnmsub_d(x, y, z, 0)
    # Exact cancellation (x - x, x*y - x*y) legitimately takes the slow path.
    assert len(calls) < 20, calls[:20]


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=600, deadline=None)
@given(finite, finite, finite)
def test_fma_hypothesis(x, y, z) -> None:
    a, b, c = bits(x), bits(y), bits(z)
    assert fpu.fmadd_d(a, b, c, 0) == fpu_arith.fma(D, a, b, c, 0)


@settings(max_examples=600, deadline=None)
@given(finite, finite)
def test_binary_hypothesis(x, y) -> None:
    a, b = bits(x), bits(y)
    for fast, slow in OPS2:
        assert fast(a, b, 0) == slow(a, b)


# ---------------------------------------------------------------- singles

BOX = 0xFFFFFFFF00000000


def sbits(x: float) -> int:
    try:
        return BOX | struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:
        return BOX | 0x3F800000


def rand_single(r: random.Random) -> int:
    k = r.random()
    if k < 0.5:
        frac, e = r.getrandbits(23), 127 + r.randrange(-30, 31)
    elif k < 0.7:
        frac, e = r.getrandbits(r.randrange(0, 12)) << r.randrange(0, 12), 127 + r.randrange(-20, 21)
    elif k < 0.9:  # the normal range edges
        frac, e = r.getrandbits(23), r.choice([1, 2, 3, 20, 60, 61, 62, 63, 64, 65, 66, 200, 253, 254])
    else:
        frac, e = r.getrandbits(23), r.randrange(0, 255)
    return BOX | (r.getrandbits(1) << 31) | (e << 23) | frac


SOPS = [
    (fpu.fadd_s, fpu_arith.add), (fpu.fsub_s, fpu_arith.sub),
    (fpu.fmul_s, fpu_arith.mul), (fpu.fdiv_s, fpu_arith.div),
]


@pytest.mark.parametrize("fast,slow", SOPS, ids=["fadd_s", "fsub_s", "fmul_s", "fdiv_s"])
def test_single_fast_matches_exact(fast, slow) -> None:
    from pyqemu.target.riscv.fpu_core import S
    r = random.Random(55)
    bad = []
    for _ in range(12000):
        a = rand_single(r)
        k = r.random()
        if k < 0.3:
            b = a ^ (r.getrandbits(1) << 31)
            b = BOX | ((b + r.randrange(-3, 4)) & 0xFFFFFFFF)
        elif k < 0.5:
            b = BOX | ((a & 0x807FFFFF) | (((a >> 23) & 0xFF) + r.randrange(-26, 27)) % 255 << 23)
        else:
            b = rand_single(r)
        want = slow(S, a & 0xFFFFFFFF, b & 0xFFFFFFFF, 0)
        if fast(a, b, 0) != (want[0] | BOX, want[1]):
            bad.append((hex(a), hex(b)))
    assert not bad, bad[:10]


def test_single_fma_sqrt_cvt_fast_match_exact() -> None:
    from pyqemu.target.riscv import fpu_cvt
    from pyqemu.target.riscv.fpu_core import S
    r = random.Random(66)
    bad = []
    for _ in range(12000):
        a, b = rand_single(r), rand_single(r)
        p = fpu.fmul_s(a, b, r.randrange(5))[0]
        k = r.random()
        if k < 0.4:
            c = BOX | (((p ^ 0x80000000) + r.randrange(-3, 4)) & 0xFFFFFFFF)
        elif k < 0.6:
            c = BOX | ((p & 0x807FFFFF) | ((((p >> 23) & 0xFF) + r.randrange(-30, 31)) % 255) << 23)
        else:
            c = rand_single(r)
        want = fpu_arith.fma(S, a & 0xFFFFFFFF, b & 0xFFFFFFFF, c & 0xFFFFFFFF, 0)
        if fpu.fmadd_s(a, b, c, 0) != (want[0] | BOX, want[1]):
            bad.append(("fma", hex(a), hex(b), hex(c)))
        want = fpu_arith.sqrt(S, a & 0xFFFFFFFF, 0)
        if fpu.fsqrt_s(a, 0) != (want[0] | BOX, want[1]):
            bad.append(("sqrt", hex(a)))
        d = bits(rand_double(r))
        want = fpu_cvt.convert(D, S, d, 0)
        if fpu.fcvt_s_d(d, 0) != (want[0] | BOX, want[1]):
            bad.append(("fcvt_s_d", hex(d)))
        x = r.getrandbits(r.randrange(1, 33))
        for rm in range(5):
            want = fpu_cvt.from_int(S, x, rm, 32, True)
            if fpu.fcvt_s_w(x, rm) != (want[0] | BOX, want[1]):
                bad.append(("fcvt_s_w", hex(x), rm))
    assert not bad, bad[:10]
