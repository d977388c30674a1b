"""M extension: multiply and divide (unprivileged ISA ch. 8)."""

from __future__ import annotations

from . import helpers
from .translate import DisasContext, translator

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: start-up time)
if TYPE_CHECKING:
    from .decode import Insn  # (annotations only: the decoder loads when first used)

_MUL = {"mul": "mul", "mulh": "mulsh", "mulhu": "muluh", "mulhsu": "mulsuh"}


@translator(*_MUL)
def trans_mul(dc: DisasContext, i: Insn) -> None:
    dc.op2(_MUL[i.name], dc.x(i.rs1), dc.x(i.rs2), dc.xd(i.rd))


@translator()
def trans_mulw(dc: DisasContext, i: Insn) -> None:
    t = dc.op2("mul", dc.x(i.rs1), dc.x(i.rs2))
    dc.op1("ext32s", t, dc.xd(i.rd))


@translator(*helpers.DIV)
def trans_div(dc: DisasContext, i: Insn) -> None:
    (r,) = dc.ctx.call(helpers.DIV[i.name], [dc.x(i.rs1), dc.x(i.rs2)])
    dc.mov(dc.xd(i.rd), r)
