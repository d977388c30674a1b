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
    # Bounds (lo, hi) of the value as written, when known: sums of small values and
    # constants (ext32s of a bounded sum needs only a compare; see ext32s_bounded).
    rng: tuple[int, int] | None = None
    # The text is "U value + uoff" with 0 < |uoff| < 2**31: canonical with one compare.
    uoff: int = 0
    # Computed by bit mixing (xor, or, shifts, products, and of two values), as hashing
    # code does: its 32- and 64-bit values fill their range, so a canonicalization
    # masks at once instead of first trying the small-int compare (see SMALL).
    mixed: bool = False
    # Form Z (zform.py): the text's value lies in [0, 2**32) and is the low 32 bits of
    # a W value (a 32-bit result sign-extended), which is what the value stands for.
    zrep: bool = False

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


# The largest int CPython 3.11 holds in one 30-bit digit. A compare of two such ints
# is specialized (COMPARE_OP_INT_JUMP) and costs about half of one against a
# two-digit constant such as 2**31 or 2**64 - 1; their adds take a fast path too.
# Canonicalizations therefore try "within +-SMALL" first: the values of ordinary code
# (counters, indices, addresses in pyqemu's compact user-mode layout) pass it, and
# only the rest pay for the exact test or the wide mask.
SMALL = 0x3FFFFFFF

# The temporary that conditional canonicalizations bind (an assignment expression):
# every use of it is inside the one expression that assigned it.
W = "_w"
WRAP = 1 << 64


def _twice(text: str) -> tuple[str, str]:
    """(the text as first evaluated, the name that reads it again): itself when it is a
    name, else the walrus temporary."""
    if _NAME.match(text):
        return text, text
    return f"({W} := {text})", W


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def u_of_s(text: str) -> str:
    """An S value (in [-2**63, 2**63)) in U form. Conditional conversions cost CPython
    about half what the arithmetic ones do ("& M" of a negative int, "^ SB" then "- SB"):
    the usual case is one compare and no new int."""
    first, again = _twice(text)
    return f"({again} if {first} >= 0 else {again} + {WRAP:#x})"


def s_of_u(text: str, mixed: bool = False) -> str:
    """A U value in S form (see u_of_s); small values pass the first compare."""
    first, again = _twice(text)
    if mixed:
        return f"({again} if {first} < {SB:#x} else {again} - {WRAP:#x})"
    return f"({again} if {first} <= {SMALL:#x} or {again} < {SB:#x} else {again} - {WRAP:#x})"


def u_of_form(name: str, form: str) -> str:
    """A named value of the given form in U form."""
    if form in _IS_U:
        return name
    if form in _IS_S:
        return u_of_s(name)
    if form == "Z":
        return u_of_z(name)
    return f"{name} & {M}"


def u_of_z(name: str) -> str:
    """A named Z value (zform.py) in U form: its low 32 bits sign-extended."""
    return f"({name} if {name} < 0x80000000 else {name} + 0xffffffff00000000)"


def s_of_z(name: str) -> str:
    """A named Z value in S form (small)."""
    return f"(({name} ^ 0x80000000) - 0x80000000)"


def canon(e: Expr) -> str:
    """The value in U form. A U value plus a small constant leaves [0, 2**64) on one
    side only: a compare and a rarely taken correction cost CPython less than a
    three-digit mask (a compare of one-digit ints is specialized, "& M" allocates)."""
    if e.exact:
        return p(e)
    if e.signed:
        return u_of_s(p(e))
    if e.uoff < 0:
        return u_of_s(e.text)  # (in [-2**31, 2**64): negative only by the constant)
    if e.uoff > 0:
        if e.mixed:
            return f"({W} if ({W} := {e.text}) <= {M} else {W} - {WRAP:#x})"
        return f"({W} if ({W} := {e.text}) <= {SMALL:#x} or {W} <= {M} else {W} - {WRAP:#x})"
    if e.rng is not None and -WRAP < e.rng[0] and e.rng[1] < 2 * WRAP:
        # Within one wrap of [0, 2**64) on one side (a sum or difference of U values):
        # one compare, as for a constant offset.
        if e.rng[0] >= 0:
            if e.mixed:
                return f"({W} if ({W} := {e.text}) <= {M} else {W} - {WRAP:#x})"
            return (f"({W} if ({W} := {e.text}) <= {SMALL:#x} or {W} <= {M} "
                    f"else {W} - {WRAP:#x})")
        if e.rng[1] <= MASK:
            return u_of_s(e.text)
    if e.mixed:
        return f"({p(e)} & {M})"
    return f"({W} if ({W} := {e.text}) <= {SMALL:#x} and {W} >= 0 else {W} & {M})"


def bounds(e: Expr, value: int | None = None) -> tuple[int, int] | None:
    """Bounds of an operand: a constant's signed value, a small value's 32-bit signed
    range, a bounded U value's bits, a sum's bounds."""
    if value is not None:
        v = value - (1 << 64) if value >= SB else value
        return (v, v)
    if e.rng is not None:
        return e.rng
    if e.small:
        return (0 if e.exact else -(1 << 31), (1 << 31) - 1)
    if e.exact and e.bits < 63:
        return (0, (1 << e.bits) - 1)
    return None


_S32 = 1 << 31
_R32 = 1 << 32


def ext32s_small_first(e: Expr) -> Expr | None:
    """ext32s of a value that is not the product of bit mixing (a register, a sum of
    registers and constants, as sext.w, addw and addiw make): such values are nearly
    always small ints already, so one-digit compares come first and the three wide
    operations only when they fail. (Not for mixed values: the shifts and sums of
    hashing code leave the range most of the time.)"""
    if e.mixed:
        return None
    text = (f"({W} if ({W} := {e.text}) <= {SMALL:#x} and {W} >= -{SMALL:#x} else "
            f"(({W} + {_S32:#x}) & 0xffffffff) - {_S32:#x})")
    return Expr(text, False, e.reads, signed=True, small=True)


def ext32s_bounded(e: Expr) -> Expr | None:
    """ext32s of a value with known bounds (a sum of small values and constants) that
    lies within 2**32 of the 32-bit signed range: the value itself when in range, else
    corrected by 2**32 - one or two compares instead of three wide operations."""
    if e.rng is None:
        return None
    lo, hi = e.rng
    if lo < -_S32 - _R32 or hi >= _S32 + _R32:
        return None
    if lo >= -_S32 and hi < _S32:
        return Expr(e.text, False, e.reads, signed=True, small=True)
    # The exact test, first reading the value as "{v}", and its correction; values
    # that are not bit-mixed try the one-digit test first (see SMALL).
    if lo >= -_S32:
        exact, fix = f"{{v}} < {_S32:#x}", f"{W} - {_R32:#x}"
        quick = f"{{v}} <= {SMALL:#x}"
    elif hi < _S32:
        exact, fix = f"{{v}} >= -{_S32:#x}", f"{W} + {_R32:#x}"
        quick = f"{{v}} >= -{SMALL:#x}"
    else:
        exact = f"-{_S32:#x} <= {{v}} < {_S32:#x}"
        fix = f"{W} - {_R32:#x} if {W} > 0 else {W} + {_R32:#x}"
        quick = f"{{v}} <= {SMALL:#x} and {W} >= -{SMALL:#x}"
    first = f"({W} := {e.text})"
    test = exact.format(v=first) if e.mixed else \
        f"{quick.format(v=first)} or {exact.format(v=W)}"
    text = f"({W} if {test} else {fix})"
    return Expr(text, False, e.reads, signed=True, small=True)


def sform(e: Expr) -> str:
    """The value in S form."""
    if e.signed:
        return p(e)
    if e.exact:
        return s_of_u(p(e), e.mixed)
    if e.mixed:
        return f"((({p(e)} + {SB:#x}) & {M}) - {SB:#x})"
    return (f"({W} if ({W} := {e.text}) <= {SMALL:#x} and {W} >= -{SMALL:#x} else "
            f"(({W} + {SB:#x}) & {M}) - {SB:#x})")


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
    """(value text for the fast store, for the slow path, whether the fast store uses
    the signed view of its size): an S value goes into the signed 64-bit view as it is,
    a small one (a W result, a signed word load) into the signed 32-bit view."""
    if size == 4 and v.small:
        return p(v), f"{p(v)} & 0xffffffff", True
    if size == 4 and v.zrep:
        return p(v), p(v), False  # (a Z value is the word itself)
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
