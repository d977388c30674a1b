"""Double-precision arithmetic inline, with guest FP values held as host floats.

The D-extension helpers (target/riscv/fpu.py) take and return raw bits:
``op(a, b, rm) -> (result, fflags)``. Called as they are, an FP instruction costs a
call, two bit<->float conversions and a tuple, several times what the arithmetic
costs. This mixin gives the common case a fast path in the block's own code:

* A value may be held as a Python float (its "shadow", a local ``F_<temp>``) instead
  of, or besides, its integer bits. A 64-bit guest load whose value goes straight
  into FP arithmetic reads the float from a ``d`` view of guest memory; a 64-bit store
  of a shadowed value writes the float back through the same view. Python floats are
  IEEE binary64, and the view copies the bytes as they are (NaN payloads included).
* ``fadd/fsub/fmul/fdiv/fsqrt.d`` compute the host result and keep it when the
  rounding mode is RNE (host arithmetic rounds to nearest even), the result is finite
  and normal (no overflow, underflow or invalid flag can arise), and fflags already
  holds NX (so whether this result is exact does not change fflags). Anything else -
  another rounding mode, NaN, infinity, zero, subnormal, the first inexact result -
  calls the helper, which stays the one definition of the semantics.
* ``feq/flt/fle.d`` compare host floats when neither operand is a NaN.

Integer bits are recomputed from the shadow only where something needs them: an
integer use, a branch or join (both paths must agree on where each value lives), the
loop back-edge, block exits and helpers that read the state. A fault inside the block
publishes shadow-only registers from their floats (``line_fo``: per source line, the
globals whose bits are stale there).
"""

from __future__ import annotations

import math
import struct

from ...ir import Helper, Kind, Op, Temp

TINY = "2.2250738585072014e-308"  # smallest normal double
HUGE = "1.7976931348623157e+308"  # largest finite double

_BINARY = {"fadd_d": "+", "fsub_d": "-", "fmul_d": "*", "fdiv_d": "/"}
_COMPARE = {"feq_d": "==", "flt_d": "<", "fle_d": "<="}
INLINE = set(_BINARY) | set(_COMPARE) | {"fsqrt_d"}

# Where the state list holds the hart's conversion views (RISC-V: cpu_state.CONV).
CONV = 192
# Names generated code uses for the conversions (temps never start with "_").
RUNTIME = {
    "_uq": struct.Struct("<Q").unpack, "_pd": struct.Struct("<d").pack,
    "_ud": struct.Struct("<d").unpack, "_pq": struct.Struct("<Q").pack,
    "_sqrt": math.sqrt,
}
_pack_q = struct.Struct("<Q").pack
_unpack_d = struct.Struct("<d").unpack


def to_bits(f: str) -> str:
    return f"_uq(_pd({f}))[0]"


def to_float(i: str) -> str:
    return f"_ud(_pq({i}))[0]"


def bind_conversions(source: str, line_pc: list, line_fo: list) -> tuple[str, list, list]:
    """A function whose text converts through the hart's buffer (conv_float, conv_bits)
    binds its two views first, right after the def line."""
    if "_FQ[" not in source:
        return source, line_pc, line_fo
    lines = source.split("\n")
    lines.insert(1, f"    _FQ, _FD = q[{CONV}]")
    return ("\n".join(lines), line_pc[:1] + line_pc[:1] + line_pc[1:],
            line_fo[:1] + [()] + line_fo[1:])


def bits_of_float(f: float) -> int:
    """The fault handler's conversion of a shadow to the register's bits."""
    return struct.unpack("<Q", struct.pack("<d", f))[0]


class FloatShadows:
    """Mixin for PythonCodegen: float shadows of values and inline D arithmetic."""

    def _init_floats(self, float_views: bool, entry_floats: frozenset[int]) -> None:
        self.float_views = float_views  # the runtime has d64 (user mode)
        self.fval: dict[Temp, str] = {}  # temp -> float variable holding its value
        self.fonly: set[Temp] = set()  # temps whose integer variable is stale
        self.fstack: list[tuple] = []  # (fval, fonly) where each open "if" began
        self._fo: tuple = ()
        self.redefining: set[Temp] = set()  # outputs of the current op that had floats
        self.accrue: dict[int, Temp] = {}  # id(call op) -> the fflags global it ORs into
        self.accrual_ops: dict[int, Op] = {}  # id(call op) -> its OR, when that can move
        self.folded: set[int] = set()  # id(or op) emitted with its call
        self.fp_ok: dict[tuple[int, int], str] = {}  # (fflags, rm) -> fast-path test var
        self.float_loads: set[int] = set()  # id(ld op) whose value feeds FP arithmetic
        ops = self.ops
        self.op_index = 0
        self.last_use: dict[Temp, int] = {}  # local -> index of the last op reading it
        for i, op in enumerate(ops):
            for t in op.ins:
                if t.kind == Kind.LOCAL:
                    self.last_use[t] = i
        for i, op in enumerate(ops):
            if op.name == "call" and op.aux[0].name in INLINE:
                g = self._accrual_target(i)
                if g is not None:
                    self.accrue[id(op)] = g
        for i, op in enumerate(ops):
            if op.name == "ld" and op.aux[0].size == 8 and not op.aux[0].signed:
                if self._feeds_fp(i, op.outs[0]):
                    self.float_loads.add(id(op))
        # A loop's FP operands that the block never writes (constants of the loop body)
        # are converted once, before the loop: their shadows hold at every iteration.
        # Not when a helper may change the state (it reloads every global).
        self.seeds: list[Temp] = []
        if self.self_loop and not any(op.name == "call" and op.aux[0].state for op in ops):
            written = {g.index for g in self.written}
            seen = set()
            for op in ops:
                if op.name == "call" and id(op) in self.accrue or \
                        op.name == "call" and op.aux[0].name in _COMPARE:
                    for t in (op.ins if op.aux[0].name in _COMPARE else op.ins[:-1]):
                        if t.kind == Kind.GLOBAL and t.index not in written and \
                                t.index in self.loaded and t.index not in seen:
                            seen.add(t.index)
                            self.seeds.append(t)
                            self.fval[t] = f"F_{t.name}"
        # FP registers a previous pass found held as floats at every back-edge: each
        # iteration starts with them as floats only (converted once before the loop).
        self.entry_floats = [g for g in self.globals if g.index in entry_floats] \
            if self.self_loop else []
        for g in self.entry_floats:
            self._set_shadow_only(g, f"F_{g.name}")
        self.backedge_floats: set[int] | None = None

    def _accrual_target(self, i: int) -> Temp | None:
        """The global the call's flags are ORed into right after it (``or G, G, fl``).
        When nothing between reads or writes G and the flags have no other use, the OR
        moves into the helper's branch (the fast path leaves G as it is)."""
        fl = self.ops[i].outs[1]
        between = []
        for op in self.ops[i + 1:i + 6]:
            if op.name == "or" and fl in op.ins:
                g = op.outs[0]
                if g.kind == Kind.GLOBAL and g in op.ins:
                    if self.uses.get(fl) == 1 and not any(g in o.ins or g in o.outs
                                                          for o in between):
                        self.accrual_ops[id(self.ops[i])] = op
                    return g
                return None
            if fl in op.ins or op.name in ("brcond", "set_label", "call", "goto_tb",
                                           "exit_tb", "lookup_and_goto_ptr"):
                return None
            between.append(op)
        return None

    def _fp_ok(self, g: Temp, rm: Temp, rm_text: str) -> str:
        """The fast path's precondition: fflags holds NX and the rounding mode is RNE.
        Kept in a variable while neither register changes (fp_ok_written)."""
        rm_ok = "" if rm.kind == Kind.CONST else f" and not {rm_text}"
        if rm.kind == Kind.LOCAL:
            return f"{g.name} & 1{rm_ok}"
        key = (g.index, rm.index if rm.kind == Kind.GLOBAL else -1)
        var = self.fp_ok.get(key)
        if var is None:
            var = self.fp_ok[key] = f"fok{len(self.fp_ok) + 1}_{self.op_index}"
            self.emit(f"{var} = {g.name} & 1{rm_ok}")
        return var

    def fp_ok_written(self, index: int) -> None:
        if self.fp_ok:
            self.fp_ok = {k: v for k, v in self.fp_ok.items() if index not in k}

    def _feeds_fp(self, i: int, t: Temp) -> bool:
        for op in self.ops[i + 1:i + 256]:
            if t in op.ins:
                # (Not a plain 64-bit copy: integer code moves data with ld/sd too.)
                return op.name == "call" and op.aux[0].name in INLINE
            if t in op.outs:
                return False
        return False

    # ------------------------------------------------------------ conversions
    def conv_float(self, dest: str, bits: str) -> str:
        """The statement dest = the float of bits. User mode goes through the hart's
        buffer (cpu_state.CONV; bound by bind_conversions): a store and a load cost
        about a third of struct's two calls."""
        if self.float_views:
            return f"_FQ[0] = {bits}; {dest} = _FD[0]"
        return f"{dest} = {to_float(bits)}"

    def conv_bits(self, dest: str, f: str) -> str:
        """The statement dest = the bits of float f (see conv_float)."""
        if self.float_views:
            return f"_FD[0] = {f}; {dest} = _FQ[0]"
        return f"{dest} = {to_bits(f)}"

    # ------------------------------------------------------------ bookkeeping
    def _fo_changed(self) -> None:
        self._fo = tuple(sorted((t.index, self.fval[t]) for t in self.fonly
                                if t.kind == Kind.GLOBAL))

    def materialize(self, t: Temp) -> None:
        """Recompute t's integer bits from its float shadow."""
        if t in self.fonly:
            self.fonly.discard(t)
            self._fo_changed()
            self.emit(self.conv_bits(t.name, self.fval[t]))
            self.forms.pop(t, None)

    def _dead(self, t: Temp) -> bool:
        """A local no op from here on reads (its bits are never needed again)."""
        return t.kind == Kind.LOCAL and self.last_use.get(t, -1) <= self.op_index

    def settle(self, t: Temp) -> None:
        """Give t its bits back where paths meet, unless nothing reads it any more."""
        if self._dead(t):
            self.fonly.discard(t)
            self.fval.pop(t, None)
            self._fo_changed()
        else:
            self.materialize(t)

    def materialize_all(self, keep: tuple = ()) -> None:
        for t in sorted(self.fonly, key=lambda t: t.name):
            if t not in keep:
                self.settle(t)

    def loop_floats(self) -> None:
        """At the back-edge: the state the top of the loop assumes. Registers of
        entry_floats in their own float variables (bits stale), the rest as bits."""
        here = {t.index for t in self.fonly if t.kind == Kind.GLOBAL}
        self.backedge_floats = here if self.backedge_floats is None \
            else self.backedge_floats & here
        for g in self.entry_floats:
            n = f"F_{g.name}"
            cur = self.fval.get(g)
            if cur != n:
                self._claim_fvar(n, g)
                self.emit(f"{n} = {cur}" if cur is not None
                          else self.conv_float(n, self.int_text(g)))
                self._set_shadow_only(g, n)
            elif g not in self.fonly:
                self._set_shadow_only(g, n)
        self.materialize_all(keep=tuple(self.entry_floats))

    def drop_float(self, t: Temp) -> None:
        """t is being given a new integer value."""
        if t in self.fval:
            del self.fval[t]
            if t in self.fonly:
                self.fonly.discard(t)
                self._fo_changed()

    def _claim_fvar(self, name: str, owner: Temp) -> None:
        """About to assign float variable name: other values it shadows lose it."""
        for u, n in list(self.fval.items()):
            if n == name and u is not owner:
                self.materialize(u)
                del self.fval[u]

    def drop_redefined(self) -> None:
        """After an op: its outputs' old floats, unless it gave them new ones."""
        for t in self.redefining:
            self.drop_float(t)
        self.redefining.clear()

    def _set_shadow_only(self, t: Temp, name: str) -> None:
        self.redefining.discard(t)
        self.fval[t] = name
        self.fonly.add(t)
        self.forms.pop(t, None)
        self._fo_changed()

    def float_of(self, t: Temp) -> str:
        """t's value as a float expression (converting and caching it if need be)."""
        if t.kind == Kind.CONST:
            f = _unpack_d(_pack_q(t.value))[0]
            return repr(f) if math.isfinite(f) else to_float(hex(t.value))
        n = self.fval.get(t)
        if n is not None:
            return n
        n = f"F_{t.name}"
        self._claim_fvar(n, t)
        self.emit(self.conv_float(n, self.int_text(t)))
        self.fval[t] = n
        return n

    def int_text(self, t: Temp) -> str:
        from .forms import canon

        if t in self.fonly:
            return to_bits(self.fval[t])
        return canon(self.operand(t))

    def branch_floats(self) -> None:
        self.fstack.append((dict(self.fval), set(self.fonly), dict(self.fp_ok)))

    def join_floats(self, reachable: bool) -> None:
        """At the label closing an "if" body (code still inside the body). After the
        join, a float variable shadows a value if it does on both paths (whichever
        path ran, it holds the value), and the bits are valid if they are on both. A
        value held only as a float on one path and not shadowed on the other gets its
        bits back on that path: in the body, or in an "else" for the skipped path."""
        sk_fval, sk_fonly, sk_ok = self.fstack.pop()
        if not reachable:
            self.fval, self.fonly, self.fp_ok = sk_fval, sk_fonly, sk_ok
            self._fo_changed()
            return
        self.fp_ok = {k: v for k, v in sk_ok.items() if self.fp_ok.get(k) == v}
        fval = {t: n for t, n in self.fval.items() if sk_fval.get(t) == n}
        for t in sorted(self.fonly - fval.keys(), key=lambda t: t.name):
            self.settle(t)
        fix = sorted((t for t in sk_fonly - fval.keys() if not self._dead(t)),
                     key=lambda t: t.name)
        if fix:
            self.indent -= 1
            self.emit("else:")
            self.indent += 1
            for t in fix:
                self.emit(self.conv_bits(t.name, sk_fval[t]))
        self.fonly = (self.fonly | sk_fonly) & fval.keys()
        self.fval = fval
        self._fo_changed()

    def mov_float(self, d: Temp, s: Temp) -> bool:
        """mov d, s of a shadow-only value: d shares the shadow, no code."""
        if s not in self.fonly or d.kind == Kind.CONST:
            return False
        self.flush_reading(d)
        self.fval[d] = self.fval[s]
        self._set_shadow_only(d, self.fval[s])
        return True

    # ------------------------------------------------------------ loads and stores
    def gen_ld_float(self, op: Op, host: str) -> None:
        d = op.outs[0]
        self.flush_reading(d)
        n = f"F_{d.name}"
        self._claim_fvar(n, d)
        self.n_hosts += 1
        hv = f"h{self.n_hosts}"
        self.emit(f"{hv} = {host}")
        self.emit(f"{n} = (d64[{hv} >> 3] if not {hv} & 7 else "
                  f"{to_float(f'ld_slow({hv}, 8, 0)')})")
        self._set_shadow_only(d, n)

    def gen_ld_float_indexed(self, op: Op, var: str, index: str, slow_host: str) -> None:
        """A float load of a base group (memory.py): d64[index] unless var is None."""
        d = op.outs[0]
        self.flush_reading(d)
        n = f"F_{d.name}"
        self._claim_fvar(n, d)
        self.emit(f"{n} = (d64[{index}] if {var} is not None else "
                  f"{to_float(f'ld_slow({slow_host}, 8, 0)')})")
        self._set_shadow_only(d, n)

    def gen_st_float(self, op: Op, host: str) -> None:
        f = self.fval[op.ins[0]]
        self.flush_loads()
        self.emit_aligned_store(host, 8, "d64", f, to_bits(f))

    # ------------------------------------------------------------ arithmetic
    def gen_fp_inline(self, op: Op) -> bool:
        helper: Helper = op.aux[0]
        name = helper.name
        if name in _COMPARE:
            return self._gen_compare(op, _COMPARE[name])
        g = self.accrue.get(id(op))
        if g is None:
            return False
        rm = op.ins[-1]
        if rm.kind == Kind.CONST and rm.value != 0:
            return False  # a static rounding mode other than RNE: the helper
        self.flush_all()
        d, fl = op.outs
        srcs = op.ins[:-1]
        n = f"F_{d.name}"
        # The slow path needs the inputs' bits as they were: an input that shares the
        # result's float variable gets its bits back before that is overwritten.
        for s in srcs:
            if self.fval.get(s) == n:
                self.materialize(s)
        self._claim_fvar(n, d)
        fs = [self.float_of(s) for s in srcs]
        ints = [self.int_text(s) for s in srcs]
        rm_text = "0" if rm.kind == Kind.CONST else self.int_text(rm)
        hname = f"H_{name}"
        self.helpers[hname] = helper.func
        if name == "fsqrt_d":
            self.emit(f"{n} = (_sqrt({fs[0]}) if {fs[0]} > 0.0 else 0.0)")
            in_range = f"{TINY} < {n} <= {HUGE}"
        else:
            expr = f"{fs[0]} {_BINARY[name]} {fs[1]}"
            if name == "fdiv_d":
                expr = f"({expr} if {fs[1]} else 0.0)"  # x / 0.0 raises in Python
            self.emit(f"{n} = {expr}")
            if name in ("fadd_d", "fsub_d"):
                # A sum too small to be normal is exact (both operands are multiples of
                # the least subnormal, and so is their sum): with NX already set and
                # RNE, only a result that is not finite can add a flag (OF, NV). One
                # chained compare, and exact zeros stay on the fast path.
                in_range = f"-{HUGE} <= {n} <= {HUGE}"
            else:
                in_range = f"{TINY} < {n} <= {HUGE} or -{HUGE} <= {n} < -{TINY}"
        ok = self._fp_ok(g, rm, rm_text)
        acc = self.accrual_ops.get(id(op))
        if acc is None:
            self.emit(f"if {ok} and ({in_range}):")
            self.emit(f"    {fl.name} = 0")
            self.emit("else:")
        else:
            self.emit(f"if not ({ok} and ({in_range})):")
        self.emit(f"    {d.name}, {fl.name} = {hname}({', '.join(ints + [rm_text])})")
        self.emit(f"    {n} = {to_float(d.name)}")
        if acc is not None:
            self.folded.add(id(acc))
            self.emit(f"    {g.name} = {g.name} | {fl.name}")
            if ok.startswith("fok"):
                rm_ok = "" if rm.kind == Kind.CONST else f" and not {rm_text}"
                self.emit(f"    {ok} = {g.name} & 1{rm_ok}")
        self.forms.pop(fl, None)
        self.fval[d] = n
        self._set_shadow_only(d, n)
        return True

    def _gen_compare(self, op: Op, sym: str) -> bool:
        self.flush_all()
        a, b = op.ins
        d, fl = op.outs
        fa, fb = self.float_of(a), self.float_of(b)
        ia, ib = self.int_text(a), self.int_text(b)
        hname = f"H_{op.aux[0].name}"
        self.helpers[hname] = op.aux[0].func
        # A NaN is the only operand with flags or a host/IEEE difference (-0 == +0 in both).
        self.emit(f"if {fa} == {fa} and {fb} == {fb}:")
        self.emit(f"    {d.name} = 1 if {fa} {sym} {fb} else 0")
        self.emit(f"    {fl.name} = 0")
        self.emit("else:")
        self.emit(f"    {d.name}, {fl.name} = {hname}({ia}, {ib})")
        self.forms.pop(d, None)
        self.forms.pop(fl, None)
        return True
