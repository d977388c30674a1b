"""Bit manipulation: Zba (address generation), Zbb (basic), Zbs (single bit) - ch. 28."""

from __future__ import annotations

from ...tcg.ir import Cond
from . import helpers
from .translate import DisasContext, translator

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: start-up time)
if TYPE_CHECKING:
    from .decode import Insn  # (annotations only: the decoder loads when first used)


@translator("sh1add", "sh2add", "sh3add")
def trans_shadd(dc: DisasContext, i: Insn) -> None:
    t = dc.op2("shl", dc.x(i.rs1), dc.const(int(i.name[2])))
    dc.op2("add", t, dc.x(i.rs2), dc.xd(i.rd))


@translator("add_uw", "sh1add_uw", "sh2add_uw", "sh3add_uw")
def trans_shadd_uw(dc: DisasContext, i: Insn) -> None:
    t = dc.op1("ext32u", dc.x(i.rs1))
    if i.name != "add_uw":
        t = dc.op2("shl", t, dc.const(int(i.name[2])))
    dc.op2("add", t, dc.x(i.rs2), dc.xd(i.rd))


@translator()
def trans_slli_uw(dc: DisasContext, i: Insn) -> None:
    dc.op2("shl", dc.op1("ext32u", dc.x(i.rs1)), dc.const(i.imm), dc.xd(i.rd))


_LOGIC = {"andn": "andc", "orn": "orc", "xnor": "eqv"}


@translator(*_LOGIC)
def trans_logic_n(dc: DisasContext, i: Insn) -> None:
    dc.op2(_LOGIC[i.name], dc.x(i.rs1), dc.x(i.rs2), dc.xd(i.rd))


@translator("clz", "ctz", "cpop")
def trans_count(dc: DisasContext, i: Insn) -> None:
    dc.op1({"cpop": "ctpop"}.get(i.name, i.name), dc.x(i.rs1), dc.xd(i.rd))


@translator()
def trans_clzw(dc: DisasContext, i: Insn) -> None:
    t = dc.op1("clz", dc.op1("ext32u", dc.x(i.rs1)))
    dc.op2("sub", t, dc.const(32), dc.xd(i.rd))


@translator()
def trans_ctzw(dc: DisasContext, i: Insn) -> None:
    dc.op1("ctz", dc.op2("or", dc.x(i.rs1), dc.const(1 << 32)), dc.xd(i.rd))


@translator()
def trans_cpopw(dc: DisasContext, i: Insn) -> None:
    dc.op1("ctpop", dc.op1("ext32u", dc.x(i.rs1)), dc.xd(i.rd))


_MINMAX = {"min": Cond.LT, "max": Cond.GT, "minu": Cond.LTU, "maxu": Cond.GTU}


@translator(*_MINMAX)
def trans_minmax(dc: DisasContext, i: Insn) -> None:
    a, b = dc.x(i.rs1), dc.x(i.rs2)
    dc.ctx.emit("movcond", [dc.xd(i.rd)], [a, b, a, b], _MINMAX[i.name])


_EXT = {"sext_b": "ext8s", "sext_h": "ext16s", "zext_h": "ext16u"}


@translator(*_EXT)
def trans_ext(dc: DisasContext, i: Insn) -> None:
    dc.op1(_EXT[i.name], dc.x(i.rs1), dc.xd(i.rd))


@translator("rol", "ror")
def trans_rot(dc: DisasContext, i: Insn) -> None:
    n = dc.op2("and", dc.x(i.rs2), dc.const(63))
    dc.op2("rotl" if i.name == "rol" else "rotr", dc.x(i.rs1), n, dc.xd(i.rd))


@translator()
def trans_rori(dc: DisasContext, i: Insn) -> None:
    dc.op2("rotr", dc.x(i.rs1), dc.const(i.imm), dc.xd(i.rd))


def _rot32(dc: DisasContext, rd: int, rs1: int, n, left: bool) -> None:
    """32-bit rotate composed from shifts of the zero-extended word."""
    x = dc.op1("ext32u", dc.x(rs1))
    if not left:
        n = dc.op2("and", dc.op2("sub", dc.const(32), n), dc.const(31))
    hi = dc.op2("shl", x, n)
    lo = dc.op2("shr", x, dc.op2("sub", dc.const(32), n))
    dc.op1("ext32s", dc.op2("or", hi, lo), dc.xd(rd))


@translator("rolw", "rorw")
def trans_rotw(dc: DisasContext, i: Insn) -> None:
    _rot32(dc, i.rd, i.rs1, dc.op2("and", dc.x(i.rs2), dc.const(31)), i.name == "rolw")


@translator()
def trans_roriw(dc: DisasContext, i: Insn) -> None:
    _rot32(dc, i.rd, i.rs1, dc.const(i.imm), False)


@translator()
def trans_orc_b(dc: DisasContext, i: Insn) -> None:
    (r,) = dc.ctx.call(helpers.ORC_B, [dc.x(i.rs1)])
    dc.mov(dc.xd(i.rd), r)


@translator()
def trans_rev8(dc: DisasContext, i: Insn) -> None:
    dc.op1("bswap64", dc.x(i.rs1), dc.xd(i.rd))


def _bit(dc: DisasContext, i: Insn):
    if i.name.endswith("i"):
        return dc.const(1 << (i.imm & 63))
    return dc.op2("shl", dc.const(1), dc.op2("and", dc.x(i.rs2), dc.const(63)))


@translator("bclr", "bclri")
def trans_bclr(dc: DisasContext, i: Insn) -> None:
    dc.op2("andc", dc.x(i.rs1), _bit(dc, i), dc.xd(i.rd))


@translator("bset", "bseti")
def trans_bset(dc: DisasContext, i: Insn) -> None:
    dc.op2("or", dc.x(i.rs1), _bit(dc, i), dc.xd(i.rd))


@translator("binv", "binvi")
def trans_binv(dc: DisasContext, i: Insn) -> None:
    dc.op2("xor", dc.x(i.rs1), _bit(dc, i), dc.xd(i.rd))


@translator("bext", "bexti")
def trans_bext(dc: DisasContext, i: Insn) -> None:
    n = dc.const(i.imm & 63) if i.name == "bexti" else dc.op2("and", dc.x(i.rs2), dc.const(63))
    dc.op2("and", dc.op2("shr", dc.x(i.rs1), n), dc.const(1), dc.xd(i.rd))
