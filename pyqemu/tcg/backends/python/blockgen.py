"""The generator of one block's Python function: IR ops to source lines.

codegen.py describes the design (value forms, loops, base groups, float shadows) and
drives this generator (the passes that choose a loop's entry forms, the peeled first
iteration); this module is the per-op emission and the assembly of one function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...ir import Helper, Kind, Op, Temp
from . import fpinline, intdiv
from .arith import Arithmetic
from .demand import local_demands
from .forms import (
    _IS_S,
    _IS_U,
    _SMALL,
    MASK,
    SB,
    WRAP,
    Expr,
    _c,
    _form_of,
    _meet,
    canon,
    p,
    s_of_z,
    sform,
    u_of_form,
)
from .fpinline import FloatShadows
from .ivbound import bounded_steps
from .memory import GuestAccess
from .runtime import PC_INDEX


@dataclass
class BlockInfo:
    """What the backend needs to know about the block besides its ops."""

    pc: int
    n_exits: int = 2
    self_loop: bool = True
    log_exec: bool = False
    # System emulation: loads and stores go through the TLB dicts TR/TW (softmmu) and
    # the RAM views r8..rs64, with LD/ST as the slow path.
    softmmu: bool = False
    # The runtime has d64, a float view of guest memory (user mode): FP loads and
    # stores can move host floats directly (fpinline).
    float_views: bool = False
    # A member of a region (region.RegionLink): compiled into the region's function.
    region: object = None


@dataclass
class Generated:
    source: str
    line_pc: list[int] = field(default_factory=list)  # source line (1-based) -> guest pc
    uses_exits: set[int] = field(default_factory=set)
    writeback: tuple = ()  # (state index, local name) of the globals the block writes
    line_fo: list = field(default_factory=list)  # source line -> ((index, float name),...)



# Pure ops whose result may be computed before a loop (no shift by a register: a
# hoisted shift must not run with an amount the loop would have masked first).
_HOISTABLE = {"and", "or", "xor", "add", "sub", "not", "neg", "ext8s", "ext16s", "ext32s",
              "ext8u", "ext16u", "ext32u"}
_ATOM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _w_test(name: str, form: str) -> str | None:
    """A test that a U or S register holds a W value (a 32-bit value sign-extended)."""
    if form in _IS_U:
        return f"({name} < 0x80000000 or {name} >= 0xffffffff80000000)"
    if form in _IS_S:
        return f"-0x80000000 <= {name} < 0x80000000"
    return None


class PythonCodegen(Arithmetic, FloatShadows, GuestAccess):
    """Generates the source for one block. ``mem`` names: m8 m16 m32 m64 s8 s16 s32."""

    slot_base = 0  # the block's first jump slot in J (a region's members share one J)

    def __init__(self, ops: list[Op], info: BlockInfo, low: int, hmask: int,
                 entry_forms: dict[Temp, str] | None = None,
                 entry_floats: frozenset[int] = frozenset(),
                 peel_to: dict[Temp, str] | None = None,
                 zregs: frozenset[int] = frozenset()) -> None:
        self.ops = ops
        # Registers this loop holds in form Z (zform.py; their entry form is "Z").
        self.zregs = zregs
        self.info = info
        self.low = low
        self.hmask = hmask
        self.lines: list[str] = []
        self.line_pc: list[int] = []
        self.line_fo: list[tuple] = []
        self.cur_pc = info.pc
        self.indent = 2  # inside def + try
        self.pending: dict[Temp, Expr] = {}
        # Forms of globals at the top of a loop iteration (S where the loop keeps a
        # register signed: it is converted once on entry instead of every iteration).
        self.entry_forms = dict(entry_forms or {})
        self.backedge_forms: dict[Temp, str] | None = None
        # The peeled first iteration of a self-loop (codegen.generate): its back-edges
        # leave for the loop proper, whose iterations start in these forms.
        self.peel_to = peel_to
        self.bad_backedge = False  # a back-edge could not give the forms peel_to wants
        self.forms: dict[Temp, str] = dict(self.entry_forms)  # named temps not in U form
        self.form_stack: list[dict[Temp, str]] = []  # forms where each open "if" began
        self.mixed_temps: set[Temp] = set()  # temps holding bit-mixed values (Expr.mixed)
        self.temp_bits: dict[Temp, int] = {}  # locals known to hold U values of fewer bits
        self.reachable = True  # whether the current point can fall through to the next
        self.helpers: dict[str, object] = {}
        self.n_hosts = 0
        self.op_index = 0
        self.load_in_op = False  # the current op's expression inlines a pending load
        self._count_uses()
        self._collect_globals()
        self._init_floats(info.float_views and not info.softmmu, entry_floats)
        self.demand = local_demands(ops, zregs)
        # Loop-invariant values: in a self-loop without helpers that change the state,
        # an expression of registers the block never writes is computed once, before
        # the loop (a shift amount's "& 63", a constant address...).
        self.hoisted: dict[str, str] = {}  # expression text -> variable
        self.invariant: set[int] = set()
        # Whether values may be computed once before the loop at all (arith.narrow).
        self.can_hoist = self.self_loop and not any(
            op.name == "call" and op.aux[0].state for op in ops)
        if self.can_hoist:
            self.invariant = self.loaded - {g.index for g in self.written}
        # Registers no iteration writes (a write on the way out of the loop, after its
        # last back-edge, is allowed: see invariant_here).
        self.expr_invariant: set[int] = (
            self.loaded - set(self.loop_written) if self.can_hoist else set())
        # Steps of counted loops' induction registers that cannot wrap (ivbound.py).
        self.iv_steps = (bounded_steps(ops, info.pc, self.expr_invariant)
                         if self.can_hoist else {})
        self._init_access()

    # ------------------------------------------------------------------ analysis
    def _count_uses(self) -> None:
        self.uses: dict[Temp, int] = {}
        self.defs: dict[Temp, int] = {}
        for op in self.ops:
            for t in op.ins:
                if t.kind == Kind.LOCAL:
                    self.uses[t] = self.uses.get(t, 0) + 1
            for t in op.outs:
                if t.kind == Kind.LOCAL:
                    self.defs[t] = self.defs.get(t, 0) + 1

    def _collect_globals(self) -> None:
        used: dict[int, Temp] = {}
        written: dict[int, Temp] = {}
        read: set[int] = set()
        cond_written: set[int] = set()  # written inside an if-block
        depth_labels: list[int] = []
        for op in self.ops:
            if op.name == "brcond":
                depth_labels.append(op.aux[1].id)
            elif op.name == "set_label":
                while op.aux[0].id in depth_labels:
                    depth_labels.remove(op.aux[0].id)
            for t in op.ins:
                if t.kind == Kind.GLOBAL:
                    used[t.index] = t
                    read.add(t.index)
            for t in op.outs:
                if t.kind == Kind.GLOBAL:
                    used[t.index] = t
                    written[t.index] = t
                    if depth_labels:
                        cond_written.add(t.index)
        self.written = [written[i] for i in sorted(written)]
        backedges = [i for i, op in enumerate(self.ops)
                     if op.name == "goto_tb" and op.aux[1] == self.info.pc]
        self.self_loop = self.info.self_loop and bool(backedges)
        self.loop_end = backedges[-1] if self.self_loop else -1  # (op index)
        # In a loop, what an earlier iteration may have written: the globals written
        # before the last back-edge (code only runs forward within an iteration).
        self.loop_written: dict[int, Temp] = {}
        if self.self_loop:
            for op in self.ops[:backedges[-1]]:
                for t in op.outs:
                    if t.kind == Kind.GLOBAL:
                        self.loop_written[t.index] = t
        # Entry loads: what is read, and what an exit may publish without the block
        # having written it on every path (written inside an if, or in an earlier
        # iteration).
        need = read | cond_written | self.loop_written.keys()
        self.globals = [used[i] for i in sorted(need)]
        self.loaded = {g.index for g in self.globals}
        self.written_so_far: dict[int, Temp] = {}

    # ------------------------------------------------------------------ emission
    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)
        self.line_pc.append(self.cur_pc)
        self.line_fo.append(self._fo)

    def name(self, t: Temp) -> str:
        return t.name

    def operand(self, t: Temp) -> Expr:
        if t.kind == Kind.CONST:
            return Expr(_c(t.value), True)
        if t in self.fonly:
            self.materialize(t)
        if t in self.pending:
            e = self.pending.pop(t)
            if e.is_load:
                self.load_in_op = True
            return e
        f = self.forms.get(t)
        if f is None:
            return Expr(t.name, True, frozenset([t]), mixed=t in self.mixed_temps,
                        bits=self.temp_bits.get(t, 64))
        if f == "Z":
            if self.op_index > self.loop_end:
                # On the way out of the loop the register is used as it is (zform.py).
                return Expr(s_of_z(t.name), False, frozenset([t]), signed=True, small=True)
            return Expr(t.name, False, frozenset([t]), zrep=True, rng=(0, 0xFFFFFFFF),
                        mixed=t in self.mixed_temps)
        return Expr(t.name, f in _IS_U, frozenset([t]), signed=f in _IS_S, small=f in _SMALL,
                    mixed=t in self.mixed_temps)

    def assign(self, d: Temp, e: Expr) -> None:
        """Emit d = e, keeping e's form when it is U or S (an L value is canonicalized:
        named values stay bounded, so loops do not grow Python integers)."""
        if self.z_write(d):
            # A Z register: the low 32 bits of the W value e stands for (zform.py).
            text = e.text if e.zrep or (e.exact and e.bits <= 31) else \
                f"{p(e)} & 0xffffffff"
            if text != d.name:
                self.emit(f"{d.name} = {text}")
            self.forms[d] = "Z"
            return
        if e.exact or e.signed:
            if e.text != d.name:  # (an extension that changed nothing: no "x = x")
                self.emit(f"{d.name} = {e.text}")
            f = _form_of(e)
        elif (self.low_demand(d) or self.uses.get(d) == 1 and d.kind == Kind.LOCAL) \
                and "*" not in e.text:
            # Only low bits of d are read, by uses that take L values, or d has one use,
            # which canonicalizes what it needs (an add's own result is masked anyway):
            # no mask here. Without products the value stays within a few bits more than
            # 64 (code only runs forward and locals do not outlive an iteration).
            self.emit(f"{d.name} = {e.text}")
            f = "L"
        else:
            self.emit(f"{d.name} = {canon(e)}")
            f = "U"
        if f == "U":
            self.forms.pop(d, None)
        else:
            self.forms[d] = f
        # A local's U value of fewer bits (ext32u of a Z value, shifted) stays known so.
        if d.kind == Kind.LOCAL and e.exact and e.bits < 64:
            self.temp_bits[d] = e.bits
        else:
            self.temp_bits.pop(d, None)

    def hoist(self, e: Expr) -> Expr:
        if _ATOM_NAME.match(e.text):
            return e  # a register itself: nothing to compute
        name = self.hoisted.get(e.text)
        if name is None:
            name = self.hoisted[e.text] = f"lv{len(self.hoisted) + 1}"  # (v1.. are softmmu's)
        return Expr(name, e.exact, frozenset(), bits=e.bits, signed=e.signed, small=e.small)

    def invariant_here(self, t: Temp) -> bool:
        """Whether t is a register whose value here is the one it had at the loop's
        top, the same in every iteration: no iteration writes it before its last
        back-edge, and this pass has not written it before this point. An expression
        of such registers may be computed once before the loop (hoist)."""
        return t.kind == Kind.GLOBAL and t.index in self.expr_invariant and \
            t.index not in self.written_so_far

    def low_demand(self, t: Temp) -> bool:
        """Whether every use of local t reads only its low 32 bits (demand.py), or t is
        a register held in form Z here."""
        if t.kind == Kind.GLOBAL:
            return self.z_write(t)
        return t.kind == Kind.LOCAL and not self.demand.get(t, MASK) >> 32

    def z_write(self, t: Temp) -> bool:
        """Whether a write of t here makes a Z value (zform.py): t is a register this
        loop holds in form Z and the write is inside the loop, not on the way out."""
        return t.kind == Kind.GLOBAL and t.index in self.zregs and \
            self.op_index < self.loop_end

    def flush_reading(self, t: Temp) -> None:
        """Materialize pending expressions that read t before t is overwritten."""
        for pt, e in list(self.pending.items()):
            if t in e.reads:
                del self.pending[pt]
                self.assign(pt, e)

    def flush_loads(self) -> None:
        for pt, e in list(self.pending.items()):
            if e.is_load:
                del self.pending[pt]
                self.assign(pt, e)

    def flush_all(self) -> None:
        items = list(self.pending.items())
        self.pending.clear()
        for pt, e in items:
            self.assign(pt, e)

    def define(self, d: Temp, e: Expr) -> None:
        """Assign e to d: inline it if d is a local used exactly once."""
        if self.load_in_op:
            # It reads memory (a pending load inlined into it): a store must not
            # overtake it.
            e.is_load = True
        self.flush_reading(d)
        if d.kind == Kind.LOCAL and self.uses.get(d, 0) == 1 and self.defs.get(d) == 1:
            self.pending[d] = e
            return
        if d.kind == Kind.LOCAL and self.uses.get(d, 0) == 0:
            return
        self.assign(d, e)

    def writeback(self) -> None:
        # Code only runs forward (a loop restarts from the top): at an exit, the globals
        # that can differ from the state buffer are those written earlier in the text.
        dirty = self.written_so_far | self.loop_written
        gs = [dirty[i] for i in sorted(dirty)]
        for g in gs:
            self.materialize(g)
        for g in gs:
            self.emit(f"q[{g.index}] = {u_of_form(g.name, self.forms.get(g, 'U'))}")

    # ------------------------------------------------------------------ ops
    def gen_call(self, op: Op) -> None:
        helper: Helper = op.aux[0]
        if helper.name in fpinline.INLINE and self.gen_fp_inline(op):
            return
        if helper.name in intdiv.NAMES and len(op.ins) == 2:
            a, b = self.operand(op.ins[0]), self.operand(op.ins[1])
            lines, e = intdiv.divide(helper.name, a, b, f"dv{len(self.lines)}_")
            for line in lines:
                self.emit(line)
            self.define(op.outs[0], e)
            return
        args = [canon(self.operand(t)) for t in op.ins]
        self.flush_all()
        hname = f"H_{helper.name}"
        self.helpers[hname] = helper.func
        if helper.name == "check_frm":
            # The dynamic rounding mode is valid all but never: test it inline, call the
            # helper (which raises the illegal instruction) only when it is not.
            self.emit(f"if {args[0]} > 4: {hname}({args[0]})")
            return
        if helper.state:
            self.writeback()
            self.fp_ok.clear()
            args.insert(0, "q")
        call = f"{hname}({', '.join(args)})"
        outs = op.outs
        if not outs:
            self.emit(call)
        elif len(outs) == 1:
            self.emit(f"{outs[0].name} = {call}")
        else:
            self.emit(f"{', '.join(t.name for t in outs)} = {call}")
        if helper.state:
            for g in self.globals:
                self.emit(f"{g.name} = q[{g.index}]")
                self.forms.pop(g, None)
                self.drop_float(g)

    def gen_exit(self, ret: str) -> None:
        self.flush_all()
        self.writeback()
        self.emit(f"return {ret}")
        self.reachable = False

    def gen_goto(self, op: Op) -> None:
        """goto_tb: the loop's back-edge when it targets the block's own start, else an
        exit through the block's jump slot."""
        idx, target = op.aux
        info = self.info
        if self.self_loop and target == info.pc:
            self.flush_all()
            self.loop_floats()  # what the top of the loop assumes
            # Each iteration starts with the registers in their entry forms.
            self.backedge_forms = (dict(self.forms) if self.backedge_forms is None
                                   else _meet(self.backedge_forms, self.forms))
            if self.peel_to is None:
                self.enter_top(self.entry_forms, "continue")
            else:
                # The peeled iteration goes on into the loop proper (codegen.peeled_loop).
                # Registers it holds in form Z (zform.py) that are not known to be W
                # values here are tested; while one is not, the peeled iteration is
                # what the loop runs.
                zcheck = [_w_test(g.name, self.forms.get(g, "U")) for g in self.globals
                          if self.peel_to.get(g) == "Z" and
                          self.forms.get(g, "U") not in ("Z", "Ss", "Us")]
                if None in zcheck:
                    self.bad_backedge = True
                elif zcheck:
                    outside = dict(self.forms)
                    self.emit(f"if {' and '.join(zcheck)}:")
                    self.indent += 1
                    self.enter_top(self.peel_to, "break")
                    self.gen_exit(f"J[{idx + self.slot_base}]")
                    self.indent -= 1
                    self.forms = outside
                    self.reachable = True
                    self.enter_top(self.entry_forms, "continue")
                else:
                    self.enter_top(self.peel_to, "break")
        self.gen_exit(f"J[{idx + self.slot_base}]")

    def enter_top(self, top: dict[Temp, str], go: str) -> None:
        """At a back-edge: the registers into the forms the top of the loop assumes,
        then ``go`` (continue, or break into the loop proper) unless an exit request
        is pending."""
        for g in self.globals:
            f, want = self.forms.get(g, "U"), top.get(g, "U")
            if want in _SMALL and f not in _SMALL:
                self.bad_backedge = True  # (only a later pass's forms can differ)
            if want == "Z" and f != "Z":
                if f != "Us":  # (a small unsigned value is its own low 32 bits)
                    self.emit(f"{g.name} = {g.name} & 0xffffffff")
            elif want in _IS_U and f not in _IS_U:
                self.emit(f"{g.name} = {u_of_form(g.name, f)}")
            elif want in ("S", "Ss") and f not in _IS_S:
                e = Expr(g.name, f in _IS_U, signed=False)
                self.emit(f"{g.name} = {sform(e)}")
            else:
                continue
            self.forms[g] = want
            if want == "U":
                self.forms.pop(g)
        self.emit(f"if not XR: {go}")

    def pc_local(self) -> str | None:
        """The local holding the pc written back at this exit, when it is canonical."""
        g = self.written_so_far.get(PC_INDEX)
        if g is not None and g not in self.fonly and self.forms.get(g, "U") in _IS_U:
            return g.name
        return None

    def gen_lookup(self) -> None:
        """lookup_and_goto_ptr. User mode: the block cache's dictionary (FNS, keyed by
        pc) answers most indirect jumps (returns) without a call; LOOKUP translates."""
        self.flush_all()
        key = self.pc_local() or f"q[{PC_INDEX}]"
        self.gen_exit("LOOKUP(q)" if self.info.softmmu else f"FNS.get({key}) or LOOKUP(q)")

    def generate(self) -> Generated:
        return self._assemble(*self.emit_body())

    def emit_body(self) -> tuple[list[str], list[int]]:
        """The function body's lines, two levels deep (def and try), and their pcs."""
        info = self.info
        ops = self.ops
        # label id -> indent level to return to; brcond opens "if not cond:" blocks.
        open_labels: list[int] = []
        body_start = len(self.lines)
        for self.op_index, op in enumerate(ops):
            n = op.name
            self.load_in_op = False
            self.drop_redefined()
            folded = id(op) in self.folded  # an FP flags accrual emitted with its operation
            for t in op.outs:
                if t.kind == Kind.GLOBAL:
                    self.written_so_far[t.index] = t
                    if not folded:
                        self.fp_ok_written(t.index)
                    self.induction_exit(t)
                if t in self.fval:
                    if t in op.ins:
                        self.materialize(t)
                    # Its float stays what a fault in this op publishes; dropped after.
                    self.redefining.add(t)
            if folded:
                continue
            if n == "insn_start":
                self.flush_all()
                self.cur_pc = op.aux[0]
                if info.log_exec and op is ops[0]:
                    pass
                continue
            if n == "set_label":
                self.flush_all()
                lid = op.aux[0].id
                if lid not in open_labels:
                    continue  # no branch targets it (the optimizer removed them)
                if open_labels[-1] != lid:
                    raise ValueError(f"label L{lid} is not properly nested")
                # Several branches may target one label: close each block they opened.
                while open_labels and open_labels[-1] == lid:
                    open_labels.pop()
                    if self.lines and self.lines[-1].strip().startswith("if not"):
                        self.emit("pass")
                    self.join_floats(self.reachable)
                    self.indent -= 1
                    # Forms after the "if": those on the path that skipped its body,
                    # met with those at the body's end when that falls through.
                    skipped = self.form_stack.pop()
                    self.forms = _meet(skipped, self.forms) if self.reachable else skipped
                    self.temp_bits.clear()  # (not known on both paths)
                    if any(self.forms.get(g) != "Z" for g in self.globals
                           if g.index in self.zregs):
                        self.bad_backedge = True  # (a join lost form Z: not used)
                    self.reachable = True
                continue
            if n == "brcond":
                self.branch_floats()
                a = self.operand(op.ins[0])
                b = self.operand(op.ins[1])
                self.flush_all()
                cond = self.cond_text(op.aux[0], a, b, op.ins[1])
                self.emit(f"if not ({cond}):")
                self.indent += 1
                open_labels.append(op.aux[1].id)
                self.form_stack.append(dict(self.forms))
                continue
            if n == "goto_tb":
                self.gen_goto(op)
                continue
            if n == "lookup_and_goto_ptr":
                self.gen_lookup()
                continue
            if n == "exit_tb":
                self.gen_exit(f"EXIT[{int(op.aux[0])}]")
                continue
            if n == "ld":
                self.gen_ld(op)
                continue
            if n == "st":
                self.gen_st(op)
                continue
            if n == "call":
                self.gen_call(op)
                continue
            if n == "setcond":
                a = self.operand(op.ins[0])
                b = self.operand(op.ins[1])
                cond = self.cond_text(op.aux[0], a, b, op.ins[1])
                self.define(op.outs[0], Expr(f"(1 if {cond} else 0)", True, a.reads | b.reads,
                                             small=True, bits=1))
                continue
            if n == "movcond":
                a, b, v1, v2 = (self.operand(t) for t in op.ins)
                cond = self.cond_text(op.aux[0], a, b, op.ins[1])
                self.define(op.outs[0], Expr(f"({canon(v1)} if {cond} else {canon(v2)})", True,
                                             a.reads | b.reads | v1.reads | v2.reads))
                continue
            if n == "mov" and self.mov_float(op.outs[0], op.ins[0]):
                continue
            if len(op.ins) == 2:
                e = self.binop(op)
            else:
                e = self.unop(op)
            if self.expr_invariant and n in _HOISTABLE and e.reads and not e.is_load and \
                    not self.load_in_op and "[" not in e.text and \
                    op.outs[0] not in self.based_addresses and \
                    all(self.invariant_here(t) for t in e.reads):
                e = self.hoist(e)
            self.define(op.outs[0], e)
            if id(op) in self.induction_ops:
                self.induction_written(op)
            if n == "mov" and op.ins[0] in self.fval:
                d = op.outs[0]  # the same value, both forms
                self.redefining.discard(d)
                self.fonly.discard(d)
                self.fval[d] = self.fval[op.ins[0]]
                self._fo_changed()
        self.drop_redefined()
        self.flush_all()
        return self.lines[body_start:], self.line_pc[body_start:]

    def _assemble(self, body: list[str], body_pcs: list[int]) -> Generated:
        info = self.info
        head = [f"def tb_{info.pc:x}(q):"]
        pcs = [info.pc]
        for g in self.globals:
            if self.entry_forms.get(g) == "S":
                head.append(f"    {g.name} = q[{g.index}]")
                head.append(f"    if {g.name} >= {SB:#x}: {g.name} -= {WRAP:#x}")
                pcs.append(info.pc)
            else:
                head.append(f"    {g.name} = q[{g.index}]")
            pcs.append(info.pc)
        for g in self.seeds + self.entry_floats:
            head.append(f"    {self.conv_float(f'F_{g.name}', f'q[{g.index}]')}")
            pcs.append(info.pc)
        for text, name in self.hoisted.items():
            head.append(f"    {name} = {text}")
            pcs.append(info.pc)
        for line in self.head_bases:
            head.append(f"    {line}")
            pcs.append(info.pc)
        if info.log_exec:
            head.append(f"    LOG_EXEC({info.pc}, q)")
            pcs.append(info.pc)
        head.append("    try:")
        pcs.append(info.pc)
        if self.self_loop:
            head.append("        while True:")
            pcs.append(info.pc)
            body = ["    " + line for line in body]
        # A fault publishes the registers written so far and the faulting pc (fault()).
        tail = ["    except BaseException as e:",
                "        FAULT(q, e, locals(), WB, LINE_PC, LINE_FO)",
                "        raise"]
        pcs_tail = [info.pc] * len(tail)
        lines = head + body + tail
        body_fo = self.line_fo[len(self.line_fo) - len(body_pcs):]
        fo = [()] * len(pcs) + body_fo + [()] * len(tail)
        return Generated("\n".join(lines) + "\n", pcs + body_pcs + pcs_tail,
                         writeback=tuple((g.index, g.name) for g in self.written), line_fo=fo)

