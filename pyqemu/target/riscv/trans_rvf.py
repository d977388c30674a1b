"""F and D extensions (unprivileged ISA ch. 13, 14): loads/stores and moves inline,
arithmetic through the bit-exact helpers of fpu.py.

Helpers are pure: ``op(operands..., rm) -> (result, fflags)``; the generated code ORs
the flags into fflags (accrued exceptions). A dynamic rounding mode (rm=7) reads frm,
and an frm holding a reserved value makes the instruction illegal at run time.
"""

from __future__ import annotations

from ...tcg.ir import Helper
from . import cpu_state as cs
from .helpers import IllegalInstruction
from .translate import DisasContext, translator

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: start-up time)
if TYPE_CHECKING:
    from .decode import Insn  # (annotations only: the decoder loads when first used)

BOX = 0xFFFFFFFF00000000
SIGN64 = 1 << 63

_helpers: dict[str, Helper] = {}


def _check_frm(frm: int) -> None:
    if frm > 4:
        raise IllegalInstruction()


CHECK_FRM = Helper("check_frm", _check_frm, 0, can_raise=True)


def _helper(name: str) -> Helper:
    h = _helpers.get(name)
    if h is None:
        from . import fpu

        h = _helpers[name] = Helper(name, getattr(fpu, name), 2)
    return h


def _require_valid_frm(dc: DisasContext) -> None:
    """A dynamic rounding mode with a reserved frm is an illegal instruction. frm only
    changes through the CSR instructions, so one check covers the straight-line code
    after it, up to a label (code there may be reached without passing the check) or
    a write of frm."""
    ops = dc.ctx.ops
    start = dc.frm_checked_from
    if start is not None and not any(op.name == "set_label" for op in ops[start:]):
        return
    dc.ctx.call(CHECK_FRM, [dc.g[cs.FRM]])
    dc.frm_checked_from = len(ops)


def _rm(dc: DisasContext, i: Insn):
    """The rounding-mode operand, or None when the static encoding is reserved."""
    if i.rm == 7:
        return dc.g[cs.FRM], True
    if i.rm > 4:
        return None, False
    return dc.const(i.rm), False


def _accrue(dc: DisasContext, flags) -> None:
    ff = dc.g[cs.FFLAGS]
    dc.op2("or", ff, flags, ff)


def _illegal(dc: DisasContext) -> None:
    from ...tcg.ir import ExitReason

    dc.exit_to_loop(ExitReason.ILLEGAL, dc.pc)


# ---------------------------------------------------------------- loads, stores, moves


@translator()
def trans_flw(dc: DisasContext, i: Insn) -> None:
    t = dc.ld(dc.addr(i.rs1, i.imm), 4, False)
    dc.op2("or", t, dc.const(BOX), dc.f(i.rd))  # NaN-box the single (ch. 14.2)


@translator()
def trans_fld(dc: DisasContext, i: Insn) -> None:
    dc.ld(dc.addr(i.rs1, i.imm), 8, False, dc.f(i.rd))


@translator()
def trans_fsw(dc: DisasContext, i: Insn) -> None:
    dc.st(dc.f(i.rs2), dc.addr(i.rs1, i.imm), 4)


@translator()
def trans_fsd(dc: DisasContext, i: Insn) -> None:
    dc.st(dc.f(i.rs2), dc.addr(i.rs1, i.imm), 8)


@translator()
def trans_fmv_x_w(dc: DisasContext, i: Insn) -> None:
    dc.op1("ext32s", dc.f(i.rs1), dc.xd(i.rd))


@translator()
def trans_fmv_w_x(dc: DisasContext, i: Insn) -> None:
    dc.op2("or", dc.op1("ext32u", dc.x(i.rs1)), dc.const(BOX), dc.f(i.rd))


@translator()
def trans_fmv_x_d(dc: DisasContext, i: Insn) -> None:
    dc.mov(dc.xd(i.rd), dc.f(i.rs1))


@translator()
def trans_fmv_d_x(dc: DisasContext, i: Insn) -> None:
    dc.mov(dc.f(i.rd), dc.x(i.rs1))


@translator("fsgnj_d", "fsgnjn_d", "fsgnjx_d")
def trans_fsgnj_d(dc: DisasContext, i: Insn) -> None:
    a, b = dc.f(i.rs1), dc.f(i.rs2)
    mag = dc.op2("and", a, dc.const(SIGN64 - 1))
    if i.name == "fsgnj_d":
        sign = dc.op2("and", b, dc.const(SIGN64))
    elif i.name == "fsgnjn_d":
        sign = dc.op2("andc", dc.const(SIGN64), b)
    else:
        sign = dc.op2("and", dc.op2("xor", a, b), dc.const(SIGN64))
    dc.op2("or", mag, sign, dc.f(i.rd))


# ---------------------------------------------------------------- through fpu.py

_ARITH = [f"{op}_{p}" for op in ("fadd", "fsub", "fmul", "fdiv") for p in "sd"]
_FMA = [f"{op}_{p}" for op in ("fmadd", "fmsub", "fnmsub", "fnmadd") for p in "sd"]
_CVT_TO_X = [f"fcvt_{t}_{p}" for t in ("w", "wu", "l", "lu") for p in "sd"]
_CVT_FROM_X = [f"fcvt_{p}_{t}" for t in ("w", "wu", "l", "lu") for p in "sd"]


def _call_rm(dc: DisasContext, i: Insn, ins: list, dst) -> None:
    rm, dynamic = _rm(dc, i)
    if rm is None:
        _illegal(dc)
        return
    if dynamic:
        _require_valid_frm(dc)
    r, flags = dc.ctx.call(_helper(i.name), ins + [rm])
    dc.mov(dst, r)
    _accrue(dc, flags)


@translator(*_ARITH)
def trans_farith(dc: DisasContext, i: Insn) -> None:
    _call_rm(dc, i, [dc.f(i.rs1), dc.f(i.rs2)], dc.f(i.rd))


@translator("fsqrt_s", "fsqrt_d", "fcvt_s_d", "fcvt_d_s")
def trans_funary(dc: DisasContext, i: Insn) -> None:
    _call_rm(dc, i, [dc.f(i.rs1)], dc.f(i.rd))


@translator(*_FMA)
def trans_fma(dc: DisasContext, i: Insn) -> None:
    _call_rm(dc, i, [dc.f(i.rs1), dc.f(i.rs2), dc.f(i.rs3)], dc.f(i.rd))


@translator(*_CVT_TO_X)
def trans_fcvt_to_x(dc: DisasContext, i: Insn) -> None:
    _call_rm(dc, i, [dc.f(i.rs1)], dc.xd(i.rd))


@translator(*_CVT_FROM_X)
def trans_fcvt_from_x(dc: DisasContext, i: Insn) -> None:
    _call_rm(dc, i, [dc.x(i.rs1)], dc.f(i.rd))


def _call_plain(dc: DisasContext, i: Insn, ins: list, dst) -> None:
    r, flags = dc.ctx.call(_helper(i.name), ins)
    dc.mov(dst, r)
    _accrue(dc, flags)


@translator("fsgnj_s", "fsgnjn_s", "fsgnjx_s", "fmin_s", "fmax_s", "fmin_d", "fmax_d")
def trans_fbinary_f(dc: DisasContext, i: Insn) -> None:
    _call_plain(dc, i, [dc.f(i.rs1), dc.f(i.rs2)], dc.f(i.rd))


@translator("feq_s", "flt_s", "fle_s", "feq_d", "flt_d", "fle_d")
def trans_fcmp(dc: DisasContext, i: Insn) -> None:
    _call_plain(dc, i, [dc.f(i.rs1), dc.f(i.rs2)], dc.xd(i.rd))


@translator("fclass_s", "fclass_d")
def trans_fclass(dc: DisasContext, i: Insn) -> None:
    _call_plain(dc, i, [dc.f(i.rs1)], dc.xd(i.rd))


def _register_fp_insns() -> None:
    """Every instruction translated here is gated by mstatus.FS in system emulation."""
    from .translate import FP_INSNS, TRANSLATORS

    FP_INSNS.update(n for n, fn in TRANSLATORS.items() if fn.__module__ == __name__)


_register_fp_insns()
