"""Guest loads and stores of the Python backend: user-mode views and softmmu TLBs.

User mode: guest address ``g`` is host offset ``(g - low) & hmask`` in the views m8..s64
(linux_user/guest_memory.py); an access of size > 1 uses the typed view when the
offset is aligned, else ld_slow/st_slow. That is five integer operations per access.

Base groups: code addresses many slots off one register - a stack frame off sp, a
struct's fields off its pointer. For a register R whose value does not change between
several accesses ``R + off`` of one size s (off a multiple of s), the block computes
once ``k = (R - low) >> log2(s)``, or None unless ``R - low`` is aligned to s and
``R - low + min(off) >= 0``; each access is then ``view[k + off // s]``, with the
general path (masked offset, byte-wise slow access) only when k is None. No mask is
needed on the fast path: the index is not negative (checked) and an index past the
view's end raises IndexError, the guest fault, as any address at or above the space's
end must. A register a self-loop never writes gets its base once, before the loop;
so does one the loop only steps by constants (a pointer walking an array), and each
step moves the base by the same number of elements (to None below the region).

plan_bases is the pre-pass that finds the groups, so that a base is only made where
it pays and the generator makes it at the group's first access: a group ends when the
register is written, when a helper that takes the state runs (the block reloads
every register) and when the "if" block it began in ends (its base may not have been
computed); a later access starts a new group.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...ir import Kind, MemOp, Op, Temp
from . import fpinline
from .forms import _NAME, SB, Expr, _load_form, _store_value, canon, p, plus_const

MASK = (1 << 64) - 1
_MAX_OFFSET = 1 << 20  # larger displacements are not grouped


@dataclass
class BaseGroup:
    """Accesses of one size off one register value."""

    reg: Temp
    size: int
    count: int = 0
    min_off: int = 0


def _signed(v: int) -> int:
    v &= MASK
    return v - (1 << 64) if v >= SB else v


def access_address(op: Op) -> Temp:
    return op.ins[0] if op.name == "ld" else op.ins[1]


def plan_bases(ops: list[Op]) -> tuple[dict[int, tuple[int, int]], dict[int, BaseGroup]]:
    """(id(access op) -> (group, offset), group -> BaseGroup) for user-mode accesses."""
    version: dict[int, int] = {}
    epoch = 0  # bumped by helpers that take the state: every register is reloaded
    defs: dict[Temp, int] = {}
    for op in ops:
        for t in op.outs:
            if t.kind == Kind.LOCAL:
                defs[t] = defs.get(t, 0) + 1
    # Addresses as register + offset: locals defined once as "add R, c" or "mov R", and
    # registers last set so (valid until written, or past the end of the "if" they
    # were set in). temp -> (reg, off, reg's version, depth)
    addr_of: dict[Temp, tuple[Temp, int, tuple[int, int], int]] = {}
    live: dict[tuple[int, int], tuple[int, int]] = {}  # (reg, size) -> (group, depth)
    groups: dict[int, BaseGroup] = {}
    plan: dict[int, tuple[int, int]] = {}
    open_labels: list[int] = []

    def resolve(t: Temp, off: int) -> tuple[Temp, int]:
        a = addr_of.get(t)
        if a is not None and a[2] == (version.get(a[0].index, 0), epoch):
            return a[0], a[1] + off
        return t, off

    for op in ops:
        n = op.name
        if n == "brcond":
            open_labels.append(op.aux[1].id)
        elif n == "set_label":
            lid = op.aux[0].id
            if lid in open_labels:
                while open_labels and open_labels[-1] == lid:
                    open_labels.pop()
                depth = len(open_labels)
                live = {k: v for k, v in live.items() if v[1] <= depth}
                addr_of = {k: v for k, v in addr_of.items() if v[3] <= depth}
        elif n in ("ld", "st"):
            a = access_address(op)
            size = op.aux[0].size
            reg, off = resolve(a, 0)
            if reg.kind == Kind.GLOBAL and off % size == 0 and abs(off) < _MAX_OFFSET:
                key = (reg.index, size)
                cur = live.get(key)
                if cur is None:
                    gid = len(groups) + 1
                    groups[gid] = BaseGroup(reg, size, min_off=off)
                    live[key] = cur = (gid, len(open_labels))
                g = groups[cur[0]]
                g.count += 1
                g.min_off = min(g.min_off, off)
                plan[id(op)] = (cur[0], off)
        elif n == "call" and op.aux[0].state:
            epoch += 1
            live.clear()
        for t in op.outs:
            if t.kind == Kind.GLOBAL:
                version[t.index] = version.get(t.index, 0) + 1
                live = {k: v for k, v in live.items() if k[0] != t.index}
                addr_of.pop(t, None)
        if len(op.outs) == 1 and (op.outs[0].kind == Kind.GLOBAL or defs[op.outs[0]] == 1):
            d = op.outs[0]
            src = op.ins[0] if n in ("add", "mov") else None
            if src is not None and src.kind != Kind.CONST and src != d and (
                    n == "mov" or op.ins[1].kind == Kind.CONST):
                reg, off = resolve(src, _signed(op.ins[1].value) if n == "add" else 0)
                if reg.kind == Kind.GLOBAL and reg != d and abs(off) < _MAX_OFFSET:
                    addr_of[d] = (reg, off, (version.get(reg.index, 0), epoch),
                                  len(open_labels))
    return plan, groups


def _as_z(e: Expr) -> Expr:
    """An unsigned 32-bit load as the Z value of the word a lw loads (zform.py)."""
    e.exact, e.zrep = False, True
    return e


class GuestAccess:
    """Mixin for PythonCodegen: ld/st generation."""

    def _init_access(self) -> None:
        self.base_plan: dict[int, tuple[int, int]] = {}
        self.base_groups: dict[int, BaseGroup] = {}
        if not self.info.softmmu:
            self.base_plan, self.base_groups = plan_bases(self.ops)
        # group -> its base variable, made at the group's first access (None: the
        # group's accesses take the general path)
        self.group_base: dict[int, str | None] = {}
        self.hoisted_bases: dict[tuple[int, int], str] = {}
        self.n_loop_bases = 0  # (names stay unique when induction_exit drops some)
        self.head_bases: list[str] = []  # lines computing hoisted bases (before the loop)
        # Registers a self-loop never writes: one base per size, before the loop.
        # (Their address sums are not hoisted as loop invariants: the base replaces them.)
        self.invariant_base_min: dict[tuple[int, int], int] = {}
        self.based_addresses: set[Temp] = set()
        # Induction registers of a self-loop (every write is "add R, R, c", c a small
        # multiple of the access size): their base is made before the loop as well and
        # moved by c / size at each write (to None if it would go below the region).
        self.induction: dict[tuple[int, int], tuple[str, int]] = {}  # -> (var, min index)
        self.induction_ops: dict[int, int] = {}  # id(op) -> its step
        self.loop_end = len(self.ops)  # index of the last back-edge
        steps = self._induction_steps() if self.self_loop and not self.info.softmmu else {}
        if self.invariant or steps:
            floats = {g.index for g in self.entry_floats}
            for op in self.ops:
                if id(op) not in self.base_plan:
                    continue
                gid, off = self.base_plan[id(op)]
                g = self.base_groups[gid]
                key = (g.reg.index, g.size)
                if g.reg.index in floats:
                    continue
                if g.reg.index in self.invariant:
                    self.based_addresses.add(access_address(op))
                elif g.reg.index not in steps or any(c % g.size for c in steps[g.reg.index]):
                    continue
                self.invariant_base_min[key] = min(self.invariant_base_min.get(key, off), off)
        # An induction register's bases exist before the loop's first write to it.
        self.induction_regs = {i for i, _ in self.invariant_base_min if i in steps}
        for index, size in sorted(self.invariant_base_min):
            if index in self.induction_regs:
                self._loop_base(index, size)

    def _loop_base(self, index: int, size: int) -> str:
        """The base made before the loop for register index and size."""
        key = (index, size)
        var = self.hoisted_bases.get(key)
        link = self.info.region
        if var is None and link is not None and link.region_bases is not None and \
                index not in link.written:
            # No member of the region writes the register: its base is the region's.
            low = self.invariant_base_min[key]
            var = self.hoisted_bases[key] = f"rb{index}_{size}_{low if low >= 0 else f'm{-low}'}"
            name = next(g.name for g in self.globals if g.index == index)
            link.region_bases.setdefault(var, self._base_check(var, name, size, low))
        if var is None:
            self.n_loop_bases += 1
            var = self.hoisted_bases[key] = f"k{self.n_loop_bases}"
            name = next(g.name for g in self.globals if g.index == index)
            self.head_bases.append(self._base_check(var, name, size,
                                                    self.invariant_base_min[key]))
        return var

    def _induction_steps(self) -> dict[int, list[int]]:
        """Registers the loop only steps by small constants: index -> the steps. A step
        is "add R, R, c", or "mov R, T" where T was set to R + c (R unchanged since, on
        every path). Writes after the last back-edge are on the way out of the loop:
        there the register's bases are dropped instead (induction_exit)."""
        last = max(i for i, op in enumerate(self.ops)
                   if op.name == "goto_tb" and op.aux[1] == self.info.pc)
        self.loop_end = last
        steps: dict[int, list[int]] = {}
        bad: set[int] = set()
        alias: dict[int, tuple[int, int, int]] = {}  # T -> (R, c, depth)
        open_labels: list[int] = []
        for op in self.ops[:last]:
            n = op.name
            if n == "call" and op.aux[0].state:
                return {}
            if n == "brcond":
                open_labels.append(op.aux[1].id)
            elif n == "set_label" and op.aux[0].id in open_labels:
                while open_labels and open_labels[-1] == op.aux[0].id:
                    open_labels.pop()
                alias = {k: v for k, v in alias.items() if v[2] <= len(open_labels)}
            for t in op.outs:
                if t.kind != Kind.GLOBAL:
                    continue
                step = None
                src = op.ins[0] if n in ("add", "mov") and op.ins else None
                if n == "add" and src == t and op.ins[1].kind == Kind.CONST:
                    step = _signed(op.ins[1].value)
                elif n == "mov" and src is not None and src.kind == Kind.GLOBAL:
                    a = alias.get(src.index)
                    if a is not None and a[0] == t.index:
                        step = a[1]
                if step is not None and abs(step) < 2048:
                    steps.setdefault(t.index, []).append(step)
                    self.induction_ops[id(op)] = step
                else:
                    bad.add(t.index)
                alias = {k: v for k, v in alias.items() if t.index not in (k, v[0])}
                if n == "add" and src is not None and src.kind == Kind.GLOBAL and \
                        src != t and op.ins[1].kind == Kind.CONST:
                    alias[t.index] = (src.index, _signed(op.ins[1].value), len(open_labels))
        return {i: v for i, v in steps.items() if i not in bad}

    def induction_written(self, op: Op) -> None:
        """After a step of an induction register: move its bases."""
        r = op.outs[0]
        c = self.induction_ops[id(op)]
        for (index, size), var in self.hoisted_bases.items():
            if index != r.index:
                continue
            m = c // size
            if m >= 0:
                self.emit(f"{var} = {plus_const(var, m)} if {var} is not None else None")
            else:
                kmin = -(self.invariant_base_min[(index, size)] // size)
                self.emit(f"{var} = {plus_const(var, m)} if {var} is not None and "
                          f"{var} >= {kmin - m} else None")

    def induction_exit(self, t: Temp) -> None:
        """A write of register t after the loop's last back-edge: its bases are not
        kept up to date from here on (the code only runs on to an exit)."""
        if t.index in self.induction_regs and self.op_index > self.loop_end:
            for key in [k for k in self.hoisted_bases if k[0] == t.index]:
                del self.hoisted_bases[key]
                del self.invariant_base_min[key]

    def _base_check(self, var: str, reg: str, size: int, min_off: int) -> str:
        """``var = ...``: reg's index in the size's view, or None (not aligned, or an
        access of the group would start below the region). ``reg`` is in U or S form
        (a negative S value fails the check: the general path handles it)."""
        sh = size.bit_length() - 1
        lo = self.low - min_off
        index = f"({plus_const(reg, -self.low)}) >> {sh}" if sh else plus_const(reg, -self.low)
        align = f"not {reg} & {size - 1} and " if size > 1 else ""
        return f"{var} = {index} if {align}{reg} >= {lo:#x} else None"

    def base_index(self, op: Op) -> tuple[str, str, Temp, int] | None:
        """For an access in a base group: (base variable, index text into the size's
        view, register, offset); the base is made here if this is its first access."""
        entry = self.base_plan.get(id(op))
        if entry is None or self.low % 8:
            return None
        gid, off = entry
        g = self.base_groups[gid]
        key = (g.reg.index, g.size)
        var = self._loop_base(*key) if key in self.invariant_base_min else None
        if var is None:
            if gid not in self.group_base:
                # The group's first access (in the text, as in execution: the plan ends
                # a group where this point stops covering later accesses).
                if g.count >= 2 and g.reg not in self.fonly:
                    self.n_hosts += 1
                    var = f"b{self.n_hosts}"
                    reg = self.operand(g.reg)
                    text = reg.text if reg.exact or reg.signed else canon(reg)
                    self.emit(self._base_check(var, text, g.size, g.min_off))
                self.group_base[gid] = var
            var = self.group_base[gid]
            if var is None:
                return None
        k = off >> (g.size.bit_length() - 1)
        return var, (plus_const(var, k) if k else var), g.reg, off

    # ------------------------------------------------------------ user mode
    def host_addr(self, addr: Temp) -> str:
        e = self.operand(addr)
        return self._masked(e)

    def _masked(self, e: Expr) -> str:
        if e.base is not None:
            return f"({plus_const(e.base, e.offset - self.low)}) & {self.hmask:#x}"
        return f"({p(e)} - {self.low:#x}) & {self.hmask:#x}"

    def _unmasked(self, e: Expr) -> str | None:
        """The host offset of an address known to be canonical without the mask: a U
        value, or a U value plus an offset below the region's start (a sum past 2**64
        is then an address below it, which faults either way). The offset is negative
        exactly when the address lies below the region - one compare, where the mask of
        a wider constant costs an allocation. None: the address needs the mask."""
        if e.exact:
            return f"{p(e)} - {self.low:#x}"
        if e.uoff and e.base is not None and e.uoff < self.low:
            return plus_const(e.base, e.offset - self.low)
        return None

    def _raw_host(self, e: Expr, size: int) -> tuple[str, str] | None:
        """For an address _unmasked takes: emit its host offset into a new variable;
        (the variable, the index into the size's view)."""
        raw = self._unmasked(e)
        if raw is None:
            return None
        self.n_hosts += 1
        hv = f"h{self.n_hosts}"
        self.emit(f"{hv} = {raw}")
        sh = size.bit_length() - 1
        return hv, (f"{hv} >> {sh}" if sh else hv)

    def _slow_host(self, reg: Temp, off: int) -> str:
        """The masked host offset of reg + off (the general path of a grouped access)."""
        return f"({plus_const(self.operand(reg).text, off - self.low)}) & {self.hmask:#x}"

    def gen_ld(self, op: Op) -> None:
        if self.info.softmmu:
            return self.gen_ld_softmmu(op)
        mo = op.aux[0]
        d = op.outs[0]
        size = mo.size
        zload = size == 4 and mo.signed and self.z_write(d)
        if zload:
            mo = MemOp(4, False)  # lw into a Z register: its low 32 bits (zform.py)
        fp = id(op) in self.float_loads and self.float_views
        grouped = self.base_index(op)
        if grouped is not None:
            var, idx, reg, off = grouped
            self.operand(access_address(op))  # consumed: the base stands for it
            slow_h = self._slow_host(reg, off)
            if fp:
                return self.gen_ld_float_indexed(op, var, idx, slow_h)
            view = ("s" if mo.signed else "m") + str(size * 8)
            e = Expr(f"({view}[{idx}] if {var} is not None else "
                     f"ld_slow({slow_h}, {size}, {int(mo.signed)}))",
                     reads=frozenset([reg]), **_load_form(mo))
            return self.define(d, _as_z(e) if zload else e)
        if fp:
            return self.gen_ld_float(op, self.host_addr(op.ins[0]))
        ae = self.operand(op.ins[0])
        view = ("s" if mo.signed else "m") + str(size * 8)
        # Signed views give S-form values (ld_slow returns them signed as well).
        form = _load_form(mo)
        raw = self._raw_host(ae, size)
        if raw is not None:
            hv, index = raw
            align = f" and not {hv} & {size - 1}" if size > 1 else ""
            e = Expr(f"({view}[{index}] if {hv} >= 0{align} else "
                     f"ld_slow({hv} & {self.hmask:#x}, {size}, {int(mo.signed)}))",
                     reads=frozenset(), **form)
            return self.define(d, _as_z(e) if zload else e)
        h = self._masked(ae)
        if size == 1:
            e = Expr(f"{view}[{h}]", reads=frozenset(), **form)
        else:
            sh = size.bit_length() - 1
            self.n_hosts += 1
            hv = f"h{self.n_hosts}"
            self.emit(f"{hv} = {h}")
            e = Expr(f"({view}[{hv} >> {sh}] if not {hv} & {size - 1} else ld_slow({hv}, {size}, {int(mo.signed)}))",
                     reads=frozenset(), **form)
        self.define(d, _as_z(e) if zload else e)

    def gen_st(self, op: Op) -> None:
        if self.info.softmmu:
            return self.gen_st_softmmu(op)
        mo = op.aux[0]
        size = mo.size
        fp = mo.size == 8 and self.float_views and op.ins[0] in self.fval \
            and op.ins[0] not in self.pending
        grouped = self.base_index(op)
        if grouped is not None:
            var, idx, reg, off = grouped
            if fp:
                f = self.fval[op.ins[0]]
                val, slow, view = f, fpinline.to_bits(f), "d64"
            else:
                v = self.operand(op.ins[0])
                val, slow, signed = _store_value(v, size)
                val, slow = self._invariant_value(op.ins[0], val, slow)
                view = f"{'s' if signed else 'm'}{size * 8}"
            self.operand(access_address(op))
            self.flush_loads()
            self.emit(f"if {var} is None: st_slow({self._slow_host(reg, off)}, {size}, {slow})")
            self.emit(f"else: {view}[{idx}] = {val}")
            return
        if fp:
            return self.gen_st_float(op, self.host_addr(op.ins[1]))
        v = self.operand(op.ins[0])
        ae = self.operand(op.ins[1])
        self.flush_loads()
        val, slow, signed = _store_value(v, size)
        val, slow = self._invariant_value(op.ins[0], val, slow)
        view = f"{'s' if signed else 'm'}{size * 8}"
        raw = self._raw_host(ae, size)
        if raw is not None:
            hv, index = raw
            misaligned = f" or {hv} & {size - 1}" if size > 1 else ""
            self.emit(f"if {hv} < 0{misaligned}: st_slow({hv} & {self.hmask:#x}, {size}, {slow})")
            self.emit(f"else: {view}[{index}] = {val}")
            return
        h = self._masked(ae)
        if size == 1:
            self.emit(f"m8[{h}] = {val}")
            return
        self.emit_aligned_store(h, size, view, val, slow)

    def _invariant_value(self, t: Temp, val: str, slow: str) -> tuple[str, str]:
        """A loop's store of a register it never writes: the stored value (a byte's
        "x & 0xff", a canonical form) is computed once before the loop."""
        if not self.invariant_here(t) or _NAME.match(val):
            return val, slow
        name = self.hoist(Expr(val, True)).text
        return name, name if slow == val else slow

    def emit_aligned_store(self, host: str, size: int, view: str, val: str, slow: str) -> None:
        """A store of size > 1 at ``host``: the typed view if aligned, else the slow path."""
        self.n_hosts += 1
        hv = f"h{self.n_hosts}"
        self.emit(f"{hv} = {host}")
        self.emit(f"if {hv} & {size - 1}: st_slow({hv}, {size}, {slow})")
        self.emit(f"else: {view}[{hv} >> {size.bit_length() - 1}] = {val}")

    # ------------------------------------------------------------ softmmu
    def _softmmu_addr(self, addr: Temp, tlb: str) -> tuple[str, str]:
        """Emit the canonical virtual address and its TLB lookup; (va name, addend name)."""
        e = self.operand(addr)
        self.n_hosts += 1
        v, a = f"v{self.n_hosts}", f"a{self.n_hosts}"
        self.emit(f"{v} = {canon(e)}")
        self.emit(f"{a} = {tlb}.get({v} >> 12)")
        return v, a

    def gen_ld_softmmu(self, op: Op) -> None:
        mo = op.aux[0]
        size = mo.size
        v, a = self._softmmu_addr(op.ins[0], "TR")
        view = ("rs" if mo.signed else "r") + str(size * 8)
        form = _load_form(mo)
        slow = f"LD({v}, {size}, {int(mo.signed)})"
        if size == 1:
            text = f"({view}[{v} + {a}] if {a} is not None else {slow})"
        else:
            sh = size.bit_length() - 1
            text = f"({view}[({v} + {a}) >> {sh}] if {a} is not None and not {v} & {size - 1} else {slow})"
        self.define(op.outs[0], Expr(text, reads=frozenset(), **form))

    def gen_st_softmmu(self, op: Op) -> None:
        mo = op.aux[0]
        size = mo.size
        v_e = self.operand(op.ins[0])
        self.flush_loads()
        val, slow, signed = _store_value(v_e, size)
        view = f"{'rs' if signed else 'r'}{size * 8}"
        v, a = self._softmmu_addr(op.ins[1], "TW")
        if size == 1:
            self.emit(f"if {a} is None: ST({v}, 1, {slow})")
            self.emit(f"else: r8[{v} + {a}] = {val}")
            return
        sh = size.bit_length() - 1
        self.emit(f"if {a} is None or {v} & {size - 1}: ST({v}, {size}, {slow})")
        self.emit(f"else: {view}[({v} + {a}) >> {sh}] = {val}")
