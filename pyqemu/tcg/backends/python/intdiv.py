"""Inline integer division of the Python backend: the M extension's div/rem helpers.

RISC-V division (unprivileged ISA ch. 8.2) never traps: dividing by zero gives a
quotient of all ones and the dividend as remainder; the one signed overflow (the most
negative value divided by -1) gives the dividend as quotient and 0 as remainder. The
quotient rounds toward zero, so the remainder takes the dividend's sign. The W forms
divide the low 32 bits and sign-extend the 32-bit result.

Python's ``//`` floors and its ``%`` takes the divisor's sign, so a signed quotient is
``-(-a // b)`` when the operands' signs differ, and a signed remainder is the
magnitude's remainder with the dividend's sign. Calling the helper costs more than
computing this inline: a function call is about as much as the whole expression.
"""

from __future__ import annotations

from .forms import Expr, canon, p, sform

NAMES = frozenset({"div", "divu", "rem", "remu", "divw", "divuw", "remw", "remuw"})
_ONES = "0xffffffffffffffff"


def _s32(e: Expr) -> str:
    """e's low 32 bits sign-extended (in S form)."""
    if e.small:
        return p(e)
    return f"(({p(e)} + 0x80000000) & 0xffffffff) - 0x80000000"


def divide(name: str, a: Expr, b: Expr, fresh: str) -> tuple[list[str], Expr]:
    """(statements that name the operands, the result's expression). fresh: a prefix
    for the two variables (the operands are read several times)."""
    va, vb = f"{fresh}a", f"{fresh}b"
    if name in ("divu", "remu"):
        lines = [f"{va} = {canon(a)}", f"{vb} = {canon(b)}"]
        if name == "divu":
            return lines, Expr(f"({va} // {vb} if {vb} else {_ONES})", True)
        return lines, Expr(f"({va} % {vb} if {vb} else {va})", True)
    if name in ("divuw", "remuw"):
        lines = [f"{va} = {p(a)} & 0xffffffff", f"{vb} = {p(b)} & 0xffffffff"]
        if name == "divuw":
            # The quotient fits in 32 bits; it is sign-extended from bit 31.
            return lines, Expr(f"((({va} // {vb}) ^ 0x80000000) - 0x80000000 if {vb} "
                               f"else -1)", False, signed=True, small=True)
        return lines, Expr(f"((({va} % {vb} if {vb} else {va}) ^ 0x80000000) - 0x80000000)",
                           False, signed=True, small=True)
    if name in ("div", "rem"):
        lines = [f"{va} = {sform(a)}", f"{vb} = {sform(b)}"]
        small = False
    else:
        lines = [f"{va} = {_s32(a)}", f"{vb} = {_s32(b)}"]
        small = True
    if name in ("div", "divw"):
        quo = f"(-(-{va} // {vb}) if ({va} < 0) != ({vb} < 0) else {va} // {vb})"
        if name == "divw":
            # Only the overflow's quotient, 2**31, needs the sign extension.
            quo = f"((({quo}) + 0x80000000) & 0xffffffff) - 0x80000000"
            return lines, Expr(f"({quo} if {vb} else -1)", False, signed=True, small=True)
        # The overflow's quotient is 2**63: an L value (the dividend modulo 2**64).
        return lines, Expr(f"({quo} if {vb} else -1)", False)
    # rem, remw: |remainder| < |divisor|, with the dividend's sign (0 on overflow).
    rem = f"(-(-{va} % abs({vb})) if {va} < 0 else {va} % abs({vb}))"
    return lines, Expr(f"({rem} if {vb} else {va})", False, signed=True, small=small)

