"""Value forms of the Python backend's expressions (see codegen's docstring).

A value is held unsigned ("U", in [0, 2**64)), signed ("S", in [-2**63, 2**63)) or
only congruent mod 2**64 ("L"); "small" values lie in 32-bit signed range. These
helpers render an expression in the form a use needs and combine forms where paths
join.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...ir import Cond

M = "0xffffffffffffffff"
MASK = (1 << 64) - 1
SB = 0x8000000000000000

_SIGNED = {Cond.LT: "<", Cond.GE: ">=", Cond.LE: "<=", Cond.GT: ">"}
_UNSIGNED = {Cond.EQ: "==", Cond.NE: "!=", Cond.LTU: "<", Cond.GEU: ">=", Cond.LEU: "<=",
             Cond.GTU: ">"}


@dataclass
class Expr:
    text: str
    exact: bool  # True: a canonical value in [0, 2**64) (form U)
    reads: frozenset = frozenset()  # temps whose current value the text reads
    base: str | None = None  # for "base + const" address folding
    offset: int = 0
    is_load: bool = False
    bits: int = 64  # for U values: an upper bound on the bit length
    signed: bool = False  # form S: the value as a signed 64-bit integer (exact is False)
    small: bool = False  # known to lie in [-2**31, 2**31): ext32s is the identity

    @property
    def form(self) -> str:
        return "U" if self.exact else ("S" if self.signed else "L")


_ATOM = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|0x[0-9a-f]+|[0-9]+|\(.*\))$")


def p(e: Expr) -> str:
    """The expression as an operand: parenthesized unless it is atomic."""
    t = e.text
    if _ATOM.match(t) and (not t.startswith("(") or _balanced_outer(t)):
        return t
    return f"({t})"


def _balanced_outer(t: str) -> bool:
    """True when t is one parenthesized group, '(...)' and not '(a) + (b)'."""
    depth = 0
    for k, ch in enumerate(t):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and k != len(t) - 1:
                return False
    return True


def canon(e: Expr) -> str:
    """The value in U form."""
    if e.exact:
        return p(e)
    return f"({p(e)} & {M})"


def sform(e: Expr) -> str:
    """The value in S form."""
    if e.signed:
        return p(e)
    if e.exact:
        return f"(({p(e)} ^ {SB:#x}) - {SB:#x})"
    return f"((({p(e)} + {SB:#x}) & {M}) - {SB:#x})"


def _signed_const(v: int) -> str:
    v = v - (1 << 64) if v >= SB else v
    return _c(v) if v >= 0 else f"-{_c(-v)}"


# Forms of named temps: "U", "Us" (U and small: also a valid S value), "S", "Ss"
# (S and small), "L". A temp absent from the forms map is "U".
_IS_U = {"U": True, "Us": True}
_IS_S = {"S": True, "Ss": True, "Us": True}
_SMALL = {"Us": True, "Ss": True}


def _meet(a: dict, b: dict) -> dict:
    """Forms where two paths join: what holds on both paths (L when nothing does)."""
    out = {}
    for t in a.keys() | b.keys():
        fa, fb = a.get(t, "U"), b.get(t, "U")
        if fa == fb:
            f = fa
        else:
            small = fa in _SMALL and fb in _SMALL
            if fa in _IS_U and fb in _IS_U:
                f = "Us" if small else "U"
            elif fa in _IS_S and fb in _IS_S:
                f = "Ss" if small else "S"
            else:
                f = "L"
        if f != "U":
            out[t] = f
    return out


def _form_of(e: Expr) -> str:
    if e.exact:
        return "Us" if e.small else "U"
    if e.signed:
        return "Ss" if e.small else "S"
    return "L"


def _load_form(mo) -> dict:
    """Expr form of a loaded value: signed views give S values (so do the slow paths)."""
    size = mo.size
    return dict(exact=not mo.signed, signed=mo.signed,
                small=size < 4 or (mo.signed and size == 4), bits=size * 8, is_load=True)


def _store_value(v: Expr, size: int) -> tuple[str, str, bool]:
    """(value text for the fast store, for the slow path, whether the fast store must use
    the signed 64-bit view): an S value goes into a signed view as it is."""
    if size < 8:
        val = f"{p(v)} & {(1 << (size * 8)) - 1:#x}"
        return val, val, False
    if v.signed and not v.exact:
        return p(v), canon(v), True
    return canon(v), canon(v), False


_EXTS = {"ext8s": 8, "ext16s": 16, "ext32s": 32, "ext8u": 8, "ext16u": 16, "ext32u": 32}


def plus_const(text: str, c: int) -> str:
    """``text + c`` for c taken mod 2**64, with c rendered in signed range: adding
    0xfffffffffffffffc costs CPython a three-digit integer operation, subtracting 4 a
    one-digit one (the result is the same modulo 2**64; it may be negative, so it is an
    L value like any sum)."""
    c &= MASK
    if c >= SB:
        return f"{text} - {_c((1 << 64) - c)}"
    return f"{text} + {_c(c)}"


def _c(v: int) -> str:
    return str(v) if v < 4096 else hex(v)
