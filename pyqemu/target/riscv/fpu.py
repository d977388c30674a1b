"""RISC-V F and D extension semantics (unprivileged spec, chapters "F" and "D").

Every operation is a pure function of raw register patterns (unsigned 64-bit Python
ints) and, where it rounds, of a rounding mode already resolved to RNE..RMM. It
returns ``(result, fflags)``; the caller ORs the flags into fcsr.fflags.

* Single-precision operands are read from 64-bit f registers: a value whose upper 32
  bits are not all ones is not a valid NaN-boxed single and reads as the canonical
  NaN (D chapter, "NaN Boxing of Narrower Values"). Single results are NaN-boxed.
* Integer results (conversions to integer, comparisons, classify, moves) are x
  register patterns: unsigned 64-bit ints, 32-bit results sign-extended.
* Integer operands of conversions are x register values; the W forms read the low
  32 bits.

Arithmetic lives in fpu_double (D) and fpu_single (F): host-float fast paths for
round-to-nearest-even on ordinary operands, over the exact integer implementation
(fpu_core, fpu_arith, fpu_cvt) that handles everything and is the reference.
"""

from __future__ import annotations

import struct

from . import fpu_cmp as _cmp
from .fpu_core import DZ, NV, NX, OF, RDN, RMM, RNE, RTZ, RUP, UF
from .fpu_core import D as _D
from .fpu_core import S as _S
from .fpu_double import (
    fadd_d,
    fcvt_d_l,
    fcvt_d_lu,
    fcvt_d_w,
    fcvt_d_wu,
    fcvt_l_d,
    fcvt_lu_d,
    fcvt_w_d,
    fcvt_wu_d,
    fdiv_d,
    fmadd_d,
    fmsub_d,
    fmul_d,
    fnmadd_d,
    fnmsub_d,
    fsqrt_d,
    fsub_d,
)
from .fpu_single import (
    fadd_s,
    fcvt_d_s,
    fcvt_l_s,
    fcvt_lu_s,
    fcvt_s_d,
    fcvt_s_l,
    fcvt_s_lu,
    fcvt_s_w,
    fcvt_s_wu,
    fcvt_w_s,
    fcvt_wu_s,
    fdiv_s,
    fmadd_s,
    fmsub_s,
    fmul_s,
    fnmadd_s,
    fnmsub_s,
    fsqrt_s,
    fsub_s,
)

__all__ = [
    "RNE", "RTZ", "RDN", "RUP", "RMM", "NV", "DZ", "OF", "UF", "NX",
    "fadd_s", "fsub_s", "fmul_s", "fdiv_s", "fsqrt_s", "fmadd_s", "fmsub_s", "fnmsub_s", "fnmadd_s",
    "fadd_d", "fsub_d", "fmul_d", "fdiv_d", "fsqrt_d", "fmadd_d", "fmsub_d", "fnmsub_d", "fnmadd_d",
    "fmin_s", "fmax_s", "fmin_d", "fmax_d", "feq_s", "flt_s", "fle_s", "feq_d", "flt_d", "fle_d",
    "fclass_s", "fclass_d", "fsgnj_s", "fsgnjn_s", "fsgnjx_s", "fsgnj_d", "fsgnjn_d", "fsgnjx_d",
    "fcvt_w_s", "fcvt_wu_s", "fcvt_l_s", "fcvt_lu_s", "fcvt_w_d", "fcvt_wu_d", "fcvt_l_d", "fcvt_lu_d",
    "fcvt_s_w", "fcvt_s_wu", "fcvt_s_l", "fcvt_s_lu", "fcvt_d_w", "fcvt_d_wu", "fcvt_d_l", "fcvt_d_lu",
    "fcvt_s_d", "fcvt_d_s", "fmv_x_w", "fmv_w_x", "fmv_x_d", "fmv_d_x",
]

_pack_qq = struct.Struct("<QQ").pack
_unpack_dd = struct.Struct("<dd").unpack
_M64 = (1 << 64) - 1
_BOX = 0xFFFFFFFF00000000
_QNAN_S = 0x7FC00000


def _unbox(a: int) -> int:
    return a & 0xFFFFFFFF if a >> 32 == 0xFFFFFFFF else _QNAN_S


# ---------------------------------------------------------------- min/max, compare, class, sign

def fmin_s(a: int, b: int) -> tuple[int, int]:
    r, fl = _cmp.fmin(_S, _unbox(a), _unbox(b))
    return r | _BOX, fl


def fmax_s(a: int, b: int) -> tuple[int, int]:
    r, fl = _cmp.fmax(_S, _unbox(a), _unbox(b))
    return r | _BOX, fl


def fmin_d(a: int, b: int) -> tuple[int, int]:
    # Ordered and unequal: the host comparison decides. Equal (+-0) or NaN: exact path.
    x, y = _unpack_dd(_pack_qq(a, b))
    if x < y:
        return a, 0
    if y < x:
        return b, 0
    return _cmp.fmin(_D, a, b)


def fmax_d(a: int, b: int) -> tuple[int, int]:
    x, y = _unpack_dd(_pack_qq(a, b))
    if x > y:
        return a, 0
    if y > x:
        return b, 0
    return _cmp.fmax(_D, a, b)


def feq_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.feq(_S, _unbox(a), _unbox(b))


def flt_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.flt(_S, _unbox(a), _unbox(b))


def fle_s(a: int, b: int) -> tuple[int, int]:
    return _cmp.fle(_S, _unbox(a), _unbox(b))


def feq_d(a: int, b: int) -> tuple[int, int]:
    # Host comparisons are IEEE comparisons (-0 == +0); only NaN needs the flag logic.
    x, y = _unpack_dd(_pack_qq(a, b))
    if x == y:
        return 1, 0
    if x < y or x > y:
        return 0, 0
    return _cmp.feq(_D, a, b)


def flt_d(a: int, b: int) -> tuple[int, int]:
    x, y = _unpack_dd(_pack_qq(a, b))
    if x < y:
        return 1, 0
    if x >= y:
        return 0, 0
    return 0, NV  # unordered: FLT is a signalling comparison


def fle_d(a: int, b: int) -> tuple[int, int]:
    x, y = _unpack_dd(_pack_qq(a, b))
    if x <= y:
        return 1, 0
    if x > y:
        return 0, 0
    return 0, NV


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


# ---------------------------------------------------------------- moves

def fmv_x_w(a: int) -> tuple[int, int]:
    """FMV.X.W copies the low 32 bits unchanged (no NaN-box check), sign-extended."""
    v = a & 0xFFFFFFFF
    return (v | 0xFFFFFFFF00000000 if v & 0x80000000 else v), 0


def fmv_w_x(x: int) -> tuple[int, int]:
    return (x & 0xFFFFFFFF) | _BOX, 0


def fmv_x_d(a: int) -> tuple[int, int]:
    return a & _M64, 0


def fmv_d_x(x: int) -> tuple[int, int]:
    return x & _M64, 0
