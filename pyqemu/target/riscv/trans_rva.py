"""A extension: LR/SC and AMOs (unprivileged ISA ch. 9).

User mode runs guest threads as host threads under one interpreter lock. An AMO is
translated to straight-line loads and stores with no call and no backward jump in
between, and CPython only switches threads at those points, so the read-modify-write
is atomic with respect to other guest threads in compiled code. The IR interpreter for
cold blocks loops and calls between ops, so a block that holds one is marked
(TCGContext.atomic) and compiled at once. SC succeeds when the reservation is
for this address and memory still holds the value LR loaded (compare-and-swap
semantics, as QEMU's user mode does).
"""

from __future__ import annotations

from ...tcg.ir import Cond
from . import cpu_state as cs
from .translate import DisasContext, translator

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: start-up time)
if TYPE_CHECKING:
    from .decode import Insn  # (annotations only: the decoder loads when first used)

RESERVATION_NONE = cs.RESERVATION_NONE

_AMO = {"amoswap": None, "amoadd": "add", "amoxor": "xor", "amoand": "and", "amoor": "or",
        "amomin": Cond.LT, "amomax": Cond.GT, "amominu": Cond.LTU, "amomaxu": Cond.GTU}


def _size(name: str) -> int:
    return 4 if name.endswith("_w") else 8


@translator("lr_w", "lr_d")
def trans_lr(dc: DisasContext, i: Insn) -> None:
    size = _size(i.name)
    a = dc.x(i.rs1)
    addr = dc.op1("mov", a) if i.rs1 == i.rd else a
    v = dc.ld(addr, size, size == 4)
    dc.mov(dc.g[cs.LR_ADDR], addr)
    dc.mov(dc.g[cs.LR_VALUE], v)
    dc.mov(dc.xd(i.rd), v)


@translator("sc_w", "sc_d")
def trans_sc(dc: DisasContext, i: Insn) -> None:
    dc.ctx.atomic = True
    size = _size(i.name)
    addr = dc.op1("mov", dc.x(i.rs1))
    value = dc.op1("mov", dc.x(i.rs2))
    res = dc.ctx.new_temp()
    fail = dc.label()
    dc.mov(res, dc.const(1))
    dc.ctx.emit("brcond", [], [dc.g[cs.LR_ADDR], addr], Cond.NE, fail)
    cur = dc.ld(addr, size, size == 4)
    dc.ctx.emit("brcond", [], [cur, dc.g[cs.LR_VALUE]], Cond.NE, fail)
    dc.st(value, addr, size)
    dc.mov(res, dc.const(0))
    dc.ctx.emit("set_label", [], [], fail)
    dc.mov(dc.g[cs.LR_ADDR], dc.const(RESERVATION_NONE))
    dc.mov(dc.xd(i.rd), res)


@translator(*[f"{n}_{w}" for n in _AMO for w in "wd"])
def trans_amo(dc: DisasContext, i: Insn) -> None:
    dc.ctx.atomic = True
    size = _size(i.name)
    kind = _AMO[i.name[:-2]]
    addr = dc.op1("mov", dc.x(i.rs1))
    src = dc.op1("mov", dc.x(i.rs2))
    old = dc.ld(addr, size, size == 4)
    if kind is None:
        new = src
    elif isinstance(kind, str):
        new = dc.op2(kind, old, src)
    else:
        # min/max compare the operands at the access width: sign- or zero-extend both.
        if size == 4:
            signed = kind in (Cond.LT, Cond.GT)
            ext = "ext32s" if signed else "ext32u"
            a, b = dc.op1(ext, old), dc.op1(ext, src)
        else:
            a, b = old, src
        new = dc.ctx.new_temp()
        dc.ctx.emit("movcond", [new], [a, b, old, src], kind)
    dc.st(new, addr, size)
    dc.mov(dc.xd(i.rd), old)
