"""Differential tests of pyqemu.target.riscv.fpu against real RISC-V F/D instructions.

All generated cases (every operation, every rounding mode) go through one
qemu-riscv64 process running tests/target/riscv/fpu_oracle.c; each operation is then
checked as its own test. Set FPU_SEED to explore other vectors; FPU_SCALE multiplies
the number of cases (default 4: about 320,000 cases, ~10 s).
"""

from __future__ import annotations

import os

import pytest

from pyqemu.target.riscv import fpu

try:  # tests/ may or may not be a package
    from . import fpu_oracle as oracle
    from .fpu_oracle_vectors import DF, SF, Gen, TinyGen, int_limit_values
except ImportError:
    import fpu_oracle as oracle
    from fpu_oracle_vectors import DF, SF, Gen, TinyGen, int_limit_values

SEED = int(os.environ.get("FPU_SEED", "20240521"))
SCALE = float(os.environ.get("FPU_SCALE", "4"))

# op name -> (kind, operand format)
OPS: dict[str, tuple[str, object]] = {}
for _p, _f in (("s", SF), ("d", DF)):
    OPS.update({
        f"fadd_{_p}": ("add", _f), f"fsub_{_p}": ("add", _f), f"fmul_{_p}": ("mul", _f),
        f"fdiv_{_p}": ("div", _f), f"fsqrt_{_p}": ("sqrt", _f),
        f"fmadd_{_p}": ("fma", _f), f"fmsub_{_p}": ("fma", _f),
        f"fnmsub_{_p}": ("fma", _f), f"fnmadd_{_p}": ("fma", _f),
        f"fmin_{_p}": ("pair", _f), f"fmax_{_p}": ("pair", _f),
        f"fsgnj_{_p}": ("pair", _f), f"fsgnjn_{_p}": ("pair", _f), f"fsgnjx_{_p}": ("pair", _f),
        f"feq_{_p}": ("pair", _f), f"flt_{_p}": ("pair", _f), f"fle_{_p}": ("pair", _f),
        f"fclass_{_p}": ("one", _f),
        f"fcvt_w_{_p}": ("f2i", _f), f"fcvt_wu_{_p}": ("f2i", _f),
        f"fcvt_l_{_p}": ("f2i", _f), f"fcvt_lu_{_p}": ("f2i", _f),
        f"fcvt_{_p}_w": ("i2f", _f), f"fcvt_{_p}_wu": ("i2f", _f),
        f"fcvt_{_p}_l": ("i2f", _f), f"fcvt_{_p}_lu": ("i2f", _f),
    })
OPS.update({
    "fcvt_s_d": ("narrow", DF), "fcvt_d_s": ("widen", SF),
    "fmv_x_w": ("one", SF), "fmv_w_x": ("i2f", SF), "fmv_x_d": ("one", DF), "fmv_d_x": ("i2f", DF),
})

# Number of cases per kind (each gets a random rounding mode).
COUNTS = {"add": 2500, "mul": 2500, "div": 2000, "sqrt": 1500, "fma": 2500, "pair": 700,
          "one": 600, "f2i": 1500, "i2f": 1000, "narrow": 2500,
          "widen": 1000}

ARITY = {"add": 2, "mul": 2, "div": 2, "sqrt": 1, "fma": 3, "pair": 2, "one": 1, "f2i": 1,
         "i2f": 1, "narrow": 1, "widen": 1}
ROUNDED = {"add", "mul", "div", "sqrt", "fma", "f2i", "i2f", "narrow", "widen"}


def _product_exp(f, g: Gen) -> int:
    """Target biased exponent for a product/quotient: overflow, underflow or ordinary."""
    k = g.r.random()
    if k < 0.35:
        return g.extreme_exp(f)
    return g.r.randrange(1, f.emask)


def operands(kind: str, f, g: Gen, op: str) -> tuple[int, int, int]:
    r = g.r
    k = r.random()
    if kind == "add":
        if k < 0.35:
            return g.value(f), g.value(f), 0
        if k < 0.65:
            a = g.value(f)
            return a, g.near(f, a), 0
        if k < 0.85:
            a, b = g.halfway_pair(f)
            return a, b, 0
        e = g.extreme_exp(f)
        a = g.boxed(f, f.make(r.getrandbits(1), e, r.getrandbits(f.fbits)))
        return a, g.near(f, a), 0
    if kind in ("mul", "div"):
        if k < 0.1:
            tg = TinyGen(g)
            a, b = tg.mul(f) if kind == "mul" else tg.div(f)
            return a, b, 0
        if k < 0.35:
            return g.value(f), g.value(f), 0
        if k < 0.5:
            a = g.value(f)
            return a, g.near(f, a), 0
        e = _product_exp(f, g)
        if kind == "div":
            # a / b near e: b's exponent is a's minus the target
            a, b = g.scaled_pair(f, 2 * f.bias - e)
            if r.random() < 0.5:
                return b, a, 0
            return a, b, 0
        a, b = g.scaled_pair(f, e)
        return a, b, 0
    if kind == "sqrt":
        if k < 0.3:
            # Perfect squares (and neighbours): exact roots.
            m = r.getrandbits(r.randrange(1, (f.fbits + 1) // 2 + 1)) | 1
            e = r.randrange(-f.bias // 2 + 14, f.bias // 2 - 14)
            bits = f.from_float(float(m * m) * 2.0 ** (2 * e))
            return g.boxed(f, bits + r.choice([0, 0, 0, 1, -1])), 0, 0
        return g.value(f), 0, 0
    if kind == "fma":
        if k < 0.1:
            return TinyGen(g).fma(f)
        if k < 0.3:
            return g.value(f), g.value(f), g.value(f)
        a, b = g.scaled_pair(f, _product_exp(f, g)) if k < 0.6 else (g.value(f), g.value(f))
        pfn = fpu.fmul_s if f.box else fpu.fmul_d
        p = pfn(a, b, r.randrange(5))[0]
        p &= (f.sign << 1) - 1
        k2 = r.random()
        if k2 < 0.4:
            c = g.near(f, p ^ f.sign)  # cancellation against the product
        elif k2 < 0.6:
            c = g.near(f, p)
        else:
            c = g.value(f)
        if op in ("fmsub_s", "fmsub_d", "fnmadd_s", "fnmadd_d") and r.random() < 0.5:
            c ^= f.sign
        return a, b, c
    if kind == "pair":
        a = g.value(f)
        if k < 0.3:
            return a, g.near(f, a), 0
        if k < 0.4:
            return a, a, 0
        return a, g.value(f), 0
    if kind == "f2i":
        if k < 0.4:
            return g.boxed(f, r.choice(int_limit_values(f))), 0, 0
        if k < 0.6:
            e = f.bias + r.randrange(-3, 66)
            return g.boxed(f, f.make(r.getrandbits(1), e, r.getrandbits(f.fbits))), 0, 0
        return g.value(f), 0, 0
    if kind == "i2f":
        return g.int64(), 0, 0
    if kind == "narrow":
        # Doubles around the single range: overflow, subnormal singles, halfway bits.
        if k < 0.1:
            return TinyGen(g).narrow(), 0, 0
        if k < 0.6:
            e = r.choice([r.randrange(1023 - 160, 1023 - 120), r.randrange(1023 + 120, 1023 + 132),
                          r.randrange(1023 - 30, 1023 + 30)])
            frac = r.getrandbits(52)
            if r.random() < 0.4:  # exactly or almost halfway at single (or subnormal) precision
                cut = r.randrange(20, 52)
                frac = (frac >> cut << cut) | (1 << (cut - 1)) | r.choice([0, 0, 1])
            return DF.make(r.getrandbits(1), e, frac), 0, 0
        return g.value(DF), 0, 0
    if kind in ("one", "widen"):
        return g.value(f), 0, 0
    raise AssertionError(kind)


def model(op: str, rm: int, a: int, b: int, c: int) -> tuple[int, int]:
    kind = OPS[op][0]
    fn = getattr(fpu, op)
    if op.startswith("fmv_"):
        return fn(a)
    n = ARITY[kind]
    args = (a, b, c)[:n]
    if kind in ROUNDED:
        return fn(*args, rm)
    return fn(*args)


def generate() -> list[tuple[str, int, int, int, int]]:
    g = Gen(SEED)
    cases = []
    for op, (kind, f) in OPS.items():
        for _ in range(max(1, int(COUNTS[kind] * SCALE))):
            a, b, c = operands(kind, f, g, op)
            cases.append((op, g.rm(), a, b, c))
    return cases


@pytest.fixture(scope="module")
def oracle_results() -> dict[str, list[tuple[tuple, tuple[int, int]]]]:
    why = oracle.missing_tools()
    if why:
        pytest.skip(why)
    exe = oracle.build_oracle()
    cases = generate()
    answers = oracle.run_cases(exe, cases)
    by_op: dict[str, list] = {}
    for case, ans in zip(cases, answers, strict=True):
        by_op.setdefault(case[0], []).append((case, ans))
    return by_op


def describe(case, want, got) -> str:
    op, rm, a, b, c = case
    return (f"{op} rm={rm} a={a:#x} b={b:#x} c={c:#x}: qemu {want[0]:#x}/{want[1]:#04x}"
            f" pyqemu {got[0]:#x}/{got[1]:#04x}")


@pytest.mark.parametrize("op", list(OPS))
def test_against_qemu(op: str, oracle_results) -> None:
    bad = []
    for case, want in oracle_results[op]:
        got = model(*case)
        if got != want:
            bad.append(describe(case, want, got))
    assert not bad, f"{len(bad)} of {len(oracle_results[op])} cases differ (FPU_SEED={SEED}):\n" + "\n".join(bad[:12])


def test_spec_examples() -> None:
    """A few values the spec spells out, readable without the oracle."""
    box = 0xFFFFFFFF00000000
    three_e9 = 0x41E65A0BC0000000  # 3e9 as a double
    assert fpu.fcvt_wu_d(three_e9, fpu.RTZ) == (0xFFFFFFFFB2D05E00, 0)
    assert fpu.fcvt_w_d(three_e9, fpu.RTZ) == (0x7FFFFFFF, fpu.NV)
    assert fpu.fcvt_l_d(0x7FF8000000000000, fpu.RNE) == ((1 << 63) - 1, fpu.NV)
    assert fpu.fcvt_lu_d(0xFFF0000000000000, fpu.RNE) == (0, fpu.NV)
    # Canonical NaNs, and an improperly boxed single reads as one.
    assert fpu.fsub_d(0x7FF0000000000000, 0x7FF0000000000000, fpu.RNE) == (0x7FF8000000000000, fpu.NV)
    assert fpu.fadd_s(0x3F800000, box | 0x3F800000, fpu.RNE) == (box | 0x7FC00000, 0)
    assert fpu.fclass_s(0x3F800000) == (1 << 9, 0)
    # fmin/fmax: -0 < +0; a NaN operand yields the other one; sNaN signals.
    assert fpu.fmin_d(0x8000000000000000, 0) == (0x8000000000000000, 0)
    assert fpu.fmax_d(0x8000000000000000, 0) == (0, 0)
    assert fpu.fmin_d(0x7FF0000000000001, 0x3FF0000000000000) == (0x3FF0000000000000, fpu.NV)
    assert fpu.fmax_d(0x7FF8000000000000, 0x7FF0000000000001) == (0x7FF8000000000000, fpu.NV)
    assert fpu.fmax_d(0x7FF8000000000000, 0xFFF8000000000001) == (0x7FF8000000000000, 0)
    # Quiet vs signalling comparisons.
    assert fpu.feq_d(0x7FF8000000000000, 0) == (0, 0)
    assert fpu.flt_d(0x7FF8000000000000, 0) == (0, fpu.NV)
    # Tininess after rounding: DBL_MIN * (1 - 2**-53) rounds up to DBL_MIN with NX only
    # when rounding the unbounded result also reaches 2**-1022.
    assert fpu.fmul_d(0x0010000000000000, 0x3FEFFFFFFFFFFFFF, fpu.RNE) == (0x000FFFFFFFFFFFFF + 1, 0x03)
    assert fpu.fmul_d(0x0010000000000001, 0x3FEFFFFFFFFFFFFF, fpu.RNE) == (0x0010000000000000, 0x01)
    # Fused: one rounding (0.1 * 10 - 1 is 2**-54 exactly).
    assert fpu.fmadd_d(0x3FB999999999999A, 0x4024000000000000, 0xBFF0000000000000, fpu.RNE) == (
        0x3C90000000000000, 0)
    assert fpu.fmv_x_w(0x12345678F0000000) == (0xFFFFFFFFF0000000, 0)
