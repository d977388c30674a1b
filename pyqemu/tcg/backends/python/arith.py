"""Integer arithmetic, extensions and conditions of the Python backend's generator.

Each IR op becomes an expression in the value form (forms.py) that costs CPython the
fewest operations: U values where a canonical value is free, S values for signed uses,
L sums where only the low bits matter (demand.py). A mixin of blockgen.PythonCodegen.
"""

from __future__ import annotations

from ...ir import Cond, Kind, Op, Temp
from .forms import (
    _EXTS,
    _SIGNED,
    _UNSIGNED,
    MASK,
    SB,
    SMALL,
    Expr,
    _c,
    _signed_const,
    _twice,
    bounds,
    canon,
    ext32s_bounded,
    ext32s_small_first,
    p,
    plus_const,
    sform,
)
from .ivbound import entry_test

# Ops whose low 32 result bits depend only on the low 32 bits of their inputs.
_NARROWABLE = {"add", "sub", "mul", "and", "or", "xor"}
_SEXT32 = "(({} + 0x80000000) & 0xffffffff) - 0x80000000"


class Arithmetic:
    """binop, unop and cond_text for PythonCodegen (needs operand, low_demand, demand)."""

    def narrow(self, op: Op, i: int, e: Expr) -> Expr:
        """An input of a loop's 32-bit computation that the loop never writes, replaced
        by its low 32 bits sign-extended, computed once before the loop: when the
        result's uses read only its low 32 bits (an addw's add), any congruent input
        will do, and a small one makes the sum bounded (ext32s_bounded)."""
        if e.small or not self.invariant_here(op.ins[i]):
            return e
        d = op.outs[0]
        if d.kind != Kind.LOCAL or self.demand.get(d, MASK) >> 32:
            return e
        return self.hoist(Expr(_SEXT32.format(p(e)), False, e.reads, signed=True, small=True))

    def counted_step(self, op: Op, a: Expr, e: Expr) -> Expr | None:
        """The step of a counted loop's induction register (ivbound.py): the sum as
        written while the entry test, made once before the loop, holds."""
        found = self.iv_steps.get(id(op))
        if found is None:
            return None
        r, x, c, cond = found
        regs = (r, x, getattr(cond, "counter", r))
        if r.index in self.zregs or any(self.entry_forms.get(t, "U") not in ("U", "Us")
                                        for t in regs if t.kind == Kind.GLOBAL):
            return None
        xt = _c(x.value) if x.kind == Kind.CONST else x.name
        test = Expr(entry_test(r.name, xt, c, cond), True, frozenset(), bits=1)
        guard = self.hoist(test).text
        return Expr(f"({e.text} if {guard} else {canon(e)})", True, reads=e.reads)

    def guarded_sum(self, op: Op, a: Expr, b: Expr, i: int, rng: tuple[int, int]
                    ) -> Expr | None:
        """A loop's sum of a register it never writes (input i) and a bounded
        non-negative value (the other input, bounds rng: an array's base plus a scaled
        index): the register is tested once, before the loop, to lie in [0, SMALL]
        (forms.SMALL: every address of pyqemu's user-mode layout does), and while it
        does the sum as written is the U value, without the wrap test a sum of an
        unbounded value needs. None: not this case."""
        t, e = op.ins[i], (a, b)[i]
        if rng[0] < 0 or rng[1] >= 1 << 62 or not self.invariant_here(t) or \
                e.text != t.name or not (e.exact or e.signed):
            return None
        test = f"{t.name} <= {SMALL:#x}" if e.exact else f"0 <= {t.name} <= {SMALL:#x}"
        guard = self.hoist(Expr(test, True, frozenset([t]), bits=1)).text
        s = Expr(f"{p(a)} + {p(b)}", False, a.reads | b.reads,
                 rng=(rng[0], rng[1] + MASK) if e.exact else None)
        return Expr(f"({s.text} if {guard} else {canon(s)})", True, s.reads)

    def binop(self, op: Op) -> Expr:
        e = self._binop(op)
        e.mixed = e.mixed or self._mixes(op)
        self._note_mixed(op.outs[0], e.mixed)
        return e

    def _note_mixed(self, d: Temp, mixed: bool) -> None:
        if mixed:
            self.mixed_temps.add(d)
        else:
            self.mixed_temps.discard(d)

    def _mixes(self, op: Op) -> bool:
        """Whether op's result is bit-mixed (forms.Expr.mixed): xor, or and and of two
        values, large shifts and products; sums and small scalings keep their inputs'
        kind (an index times 8 is still an index)."""
        n = op.name
        ins = [t in self.mixed_temps for t in op.ins]
        cb = op.ins[1].value if op.ins[1].kind == Kind.CONST else None
        if n in ("add", "sub"):
            return any(ins)
        if n == "and" and cb is not None and cb <= 0x3FFFFFFF:
            return False  # (a field extracted from a mixed value is a small index)
        if n in ("and", "andc", "or", "xor"):
            return cb is None or ins[0]
        if n in ("shl", "shr", "sar"):
            # (An index scaled by up to 16 is an index; h << 5 is a hash's h * 32.)
            return cb is None or (n == "shl" and cb > 4) or ins[0]
        if n == "mul":
            return cb is None or cb >= 1 << 12 or ins[0]
        return True

    def _binop(self, op: Op) -> Expr:
        a = self.operand(op.ins[0])
        b = self.operand(op.ins[1])
        n = op.name
        if n in _NARROWABLE and self.can_hoist:
            a, b = self.narrow(op, 0, a), self.narrow(op, 1, b)
        reads = a.reads | b.reads
        cb = op.ins[1].value if op.ins[1].kind == Kind.CONST else None
        if n in ("add", "sub"):
            if cb is not None:
                c = cb if n == "add" else -cb
                e = Expr(plus_const(p(a), c), False, reads)
                e.base, e.offset = p(a), c & MASK
                cs = c & MASK
                cs = cs - (1 << 64) if cs >= SB else cs
                if a.exact and 0 < abs(cs) < 1 << 31:
                    e.uoff = cs
                    step = self.counted_step(op, a, e)
                    if step is not None:
                        return step
            else:
                e = Expr(f"{p(a)} {'+' if n == 'add' else '-'} {p(b)}", False, reads)
            ra, rb = bounds(a), bounds(b, cb)
            if ra is not None and rb is not None:
                e.rng = ((ra[0] + rb[0], ra[1] + rb[1]) if n == "add"
                         else (ra[0] - rb[1], ra[1] - rb[0]))
                if 0 <= e.rng[0] and e.rng[1] <= MASK:
                    # It cannot leave [0, 2**64): the sum as written is the U value.
                    e.exact, e.bits = True, e.rng[1].bit_length()
                    e.small = e.rng[1] < 1 << 31
            elif n == "add" and cb is None and self.can_hoist and (ra or rb):
                # (One operand bounded: the other may be a register the loop keeps.)
                g = self.guarded_sum(op, a, b, 0 if ra is None else 1, ra or rb)
                if g is not None:
                    return g
            if e.rng is None and not e.uoff:
                # Unbounded U operands still bound the sum: canon then needs one compare.
                ra = ra or ((0, MASK) if a.exact else None)
                rb = rb or ((0, MASK) if b.exact else None)
                if ra is not None and rb is not None:
                    e.rng = ((ra[0] + rb[0], ra[1] + rb[1]) if n == "add"
                             else (ra[0] - rb[1], ra[1] - rb[0]))
            return e
        if n == "mul":
            return Expr(f"{p(a)} * {p(b)}", False, reads)
        if n == "andc" and cb is not None:
            n, cb = "and", ~cb & MASK
            b = Expr(_c(cb), True)
        if n in ("and", "or", "xor") and (a.zrep or b.zrep):
            z = self._zbitwise(n, a, b, cb)
            if z is not None:
                return z
        if n == "and":
            if cb is not None:
                # x & c is in [0, c] whatever x's form. A mask of high ones (an
                # alignment) is a short negative int: the same bits of a U value.
                ct = b.text if not (a.exact and cb >= SB) else _signed_const(cb)
                return Expr(f"{p(a)} & {ct}", True, reads, small=cb < 1 << 31,
                            bits=cb.bit_length())
            if not (a.exact or b.exact) and not (a.signed and b.signed):
                if self.low_demand(op.outs[0]):
                    return Expr(f"{p(a)} & {p(b)}", False, reads)
                return Expr(f"{canon(a)} & {canon(b)}", True, reads)
            small = (a.small and b.small) or (a.exact and a.small) or (b.exact and b.small)
            return Expr(f"{p(a)} & {p(b)}", a.exact or b.exact, reads,
                        signed=a.signed and b.signed, small=small)
        if n in ("or", "xor"):
            sym = "|" if n == "or" else "^"
            if cb is not None and a.signed and not a.exact:
                sv = cb - (1 << 64) if cb >= SB else cb
                return Expr(f"{p(a)} {sym} {_signed_const(cb)}", False, reads, signed=True,
                            small=a.small and -(1 << 31) <= sv < 1 << 31)
            if (a.exact and b.exact) or (a.signed and b.signed):
                return Expr(f"{p(a)} {sym} {p(b)}", a.exact and b.exact, reads,
                            signed=a.signed and b.signed, small=a.small and b.small)
            if self.low_demand(op.outs[0]):
                # Bitwise ops of congruent values are congruent: L is enough here.
                return Expr(f"{p(a)} {sym} {p(b)}", False, reads)
            return Expr(f"{canon(a)} {sym} {canon(b)}", True, reads)
        if n == "andc":
            if a.signed and b.signed:
                return Expr(f"{p(a)} & ~{p(b)}", a.exact, reads, signed=True,
                            small=a.small and b.small)
            return Expr(f"{canon(a)} & ~{canon(b)}", True, reads, small=a.exact and a.small)
        if n == "orc":
            return Expr(f"{canon(a)} | ~{canon(b)}", False, reads)
        if n == "eqv":
            return Expr(f"~({canon(a)} ^ {canon(b)})", False, reads)
        if n == "shl":
            if cb is not None and a.exact and a.bits + cb <= 64:
                # A bounded value shifted within 64 bits needs no mask.
                return Expr(f"{p(a)} << {cb}", True, reads, bits=a.bits + cb,
                            small=a.bits + cb <= 31)
            return Expr(f"{p(a)} << {canon(b)}", False, reads)
        if n == "shr":
            bits = a.bits if a.exact else 64
            if cb is not None:
                bits = max(bits - cb, 0)
            return Expr(f"{canon(a)} >> {canon(b)}", True, reads, small=bits <= 31, bits=bits)
        if n == "sar":
            small = a.small or (cb is not None and cb >= 32)
            return Expr(f"{sform(a)} >> {canon(b)}", False, reads, signed=True, small=small)
        if n == "rotl":
            return Expr(f"rotl({canon(a)}, {canon(b)})", True, reads)
        if n == "rotr":
            return Expr(f"rotr({canon(a)}, {canon(b)})", True, reads)
        if n == "mulsh":
            return Expr(f"(({sform(a)} * {sform(b)}) >> 64)", False, reads, signed=True)
        if n == "muluh":
            return Expr(f"(({canon(a)} * {canon(b)}) >> 64)", True, reads)
        if n == "mulsuh":
            return Expr(f"(({sform(a)} * {canon(b)}) >> 64)", False, reads, signed=True)
        raise NotImplementedError(n)

    @staticmethod
    def _zbitwise(n: str, a: Expr, b: Expr, cb: int | None) -> Expr | None:
        """and/or/xor with a Z operand (zform.py), computed on the Z values: the
        result is a Z value when the other operand is a Z value or a constant (taken
        on its low 32 bits), and for an and with any value (whose low bits it keeps);
        an and with a constant below 2**31 is the exact value. None: the op takes
        the L path (its uses read only low bits)."""
        reads = a.reads | b.reads
        sym = {"and": "&", "or": "|", "xor": "^"}[n]
        if cb is not None:
            if not a.zrep:
                return None
            if n == "and" and cb < 1 << 31:
                # Bits the sign extension does not reach: the exact value.
                return Expr(f"{p(a)} & {b.text}", True, reads, small=True,
                            bits=cb.bit_length())
            return Expr(f"{p(a)} {sym} {cb & 0xFFFFFFFF:#x}", False, reads, zrep=True)
        if (a.zrep and b.zrep) or n == "and":
            return Expr(f"{p(a)} {sym} {p(b)}", False, reads, zrep=True)
        return None

    def unop(self, op: Op) -> Expr:
        e = self._unop(op)
        e.mixed = op.name == "bswap64" or (op.name not in ("clz", "ctz", "ctpop") and
                                           op.ins[0] in self.mixed_temps)
        self._note_mixed(op.outs[0], e.mixed)
        return e

    def _unop(self, op: Op) -> Expr:
        a = self.operand(op.ins[0])
        n = op.name
        r = a.reads
        if n == "mov":
            return a
        if n == "neg":
            return Expr(f"-{p(a)}", False, r)
        if n == "not":
            if a.zrep:
                return Expr(f"{p(a)} ^ 0xffffffff", False, r, zrep=True)
            if a.signed:
                return Expr(f"~{p(a)}", False, r, signed=True, small=a.small)
            return Expr(f"~{p(a)}", False, r)
        if n in _EXTS:
            d = op.outs[0]
            if d.kind == Kind.LOCAL and not self.demand.get(d, MASK) >> _EXTS[n]:
                return a  # no use reads the bits the extension would set (demand.py)
            if n == "ext32s" and d.kind == Kind.GLOBAL and d.index in self.zregs:
                return a  # a Z register holds the low 32 bits (assign masks them)
            if n == "ext32u" and a.zrep:
                return Expr(p(a), True, r, bits=32)
        if n in ("ext8u", "ext16u", "ext32u"):
            bits = {"ext8u": 8, "ext16u": 16, "ext32u": 32}[n]
            if a.exact and (a.bits <= bits or (bits == 32 and a.small)):
                return a
            if bits == 32 and a.signed and a.small:
                # A 32-bit signed value (a W result): itself when not negative, else
                # plus 2**32 - a compare with 0 instead of a two-digit "& 0xffffffff".
                first, again = _twice(p(a))
                return Expr(f"({again} if {first} >= 0 else {again} + 0x100000000)", True, r,
                            bits=32)
            return Expr(f"{p(a)} & {(1 << bits) - 1:#x}", True, r, small=bits < 32, bits=bits)
        if n in ("ext8s", "ext16s", "ext32s"):
            bits = {"ext8s": 8, "ext16s": 16, "ext32s": 32}[n]
            if n == "ext32s" and a.small:
                return a  # already a 32-bit signed value, in U or S form
            if n == "ext32s":
                e = ext32s_bounded(a) or ext32s_small_first(a)
                if e is not None:
                    return e
            half = 1 << (bits - 1)
            # ((v + half) mod 2**bits) - half is v's low bits sign-extended, in S form;
            # the add of half folds into a preceding add of a constant.
            if a.base is not None:
                inner = plus_const(a.base, a.offset + half)
            else:
                inner = f"{p(a)} + {half:#x}"
            return Expr(f"(({inner}) & {(1 << bits) - 1:#x}) - {half:#x}", False, r,
                        signed=True, small=True)
        if n == "clz":
            return Expr(f"(64 - {canon(a)}.bit_length())", True, r, small=True, bits=7)
        if n == "ctz":
            return Expr(f"ctz({canon(a)})", True, r, small=True, bits=7)
        if n == "ctpop":
            return Expr(f"{canon(a)}.bit_count()", True, r, small=True, bits=7)
        if n == "bswap64":
            return Expr(f"bswap64({canon(a)})", True, r)
        raise NotImplementedError(n)

    def _signed_operand(self, e: Expr, t: Temp) -> str:
        if t.kind == Kind.CONST:
            return _signed_const(t.value)
        return sform(e)

    def cond_text(self, cond: Cond, a: Expr, b: Expr, cb: Temp) -> str:
        if cond in (Cond.EQ, Cond.NE):
            sym = _UNSIGNED[cond]
            if cb.kind == Kind.CONST:
                if a.signed and not a.exact:
                    return f"{p(a)} {sym} {_signed_const(cb.value)}"
                return f"{canon(a)} {sym} {_c(cb.value)}"
            if (a.exact and b.exact) or (a.signed and b.signed):
                return f"{p(a)} {sym} {p(b)}"
            return f"{canon(a)} {sym} {canon(b)}"
        if cond in _UNSIGNED:
            return f"{canon(a)} {_UNSIGNED[cond]} {canon(b)}"
        rel = _SIGNED[cond]
        if a.signed and (b.signed or cb.kind == Kind.CONST):
            return f"{p(a)} {rel} {self._signed_operand(b, cb)}"
        if cb.kind == Kind.CONST:
            return f"{sform(a)} {rel} {_signed_const(cb.value)}"
        return f"{sform(a)} {rel} {sform(b)}"
