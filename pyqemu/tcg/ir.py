"""TCG intermediate representation: typed temporaries and target-independent ops.

A frontend builds a list of ``Op`` for one translation block through ``TCGContext``;
the optimizer rewrites the list; a backend turns it into something executable. The IR
is the one a register-allocating machine-code backend consumes too, so it keeps to a
few rules:

* Temporaries are 64-bit (``I64``) unless marked ``I32``. Values are unsigned bit
  patterns; an op defines the result modulo 2**bits.
* Globals are fields of the CPU state buffer (by word index); locals live within the
  block; constants are temps of kind ``CONST`` carrying a value.
* Control flow inside a block is forward only: ``brcond`` to a ``set_label`` further
  down. Leaving the block is explicit: ``goto_tb`` (direct, chainable exit n to a known
  pc), ``lookup_and_goto_ptr`` (indirect: pc global already set), ``exit_tb`` (back to
  the loop with a reason: syscall, exception...).
* Shift counts are in range (the frontend masks them); division is a helper.
* ``ld``/``st`` take a guest virtual address; how it maps to the host is the backend's
  business (user mode: guest_base; system mode: the softmmu TLB).
"""

from __future__ import annotations

from enum import IntEnum

I32, I64 = 32, 64
MASK64 = (1 << 64) - 1


class Kind(IntEnum):
    GLOBAL = 0
    LOCAL = 1
    CONST = 2


class Temp:
    """A value: a CPU-state field (global), a block-local temporary, or a constant."""

    __slots__ = ("kind", "index", "name", "type", "value")

    def __init__(self, kind: Kind, index: int, name: str, type_: int = I64, value: int = 0):
        self.kind = kind
        self.index = index  # state word index (global) or local number
        self.name = name
        self.type = type_
        self.value = value  # constants only

    def __repr__(self) -> str:
        if self.kind == Kind.CONST:
            return f"${self.value:#x}"
        return self.name


GLOBAL, LOCAL, CONST = Kind.GLOBAL, Kind.LOCAL, Kind.CONST


class Cond(IntEnum):
    """Comparison conditions; the unsigned/signed split follows TCG's."""

    EQ = 0
    NE = 1
    LT = 2
    GE = 3
    LE = 4
    GT = 5
    LTU = 6
    GEU = 7
    LEU = 8
    GTU = 9


COND_NAMES = {c: c.name.lower() for c in Cond}
INVERT_COND = {Cond.EQ: Cond.NE, Cond.NE: Cond.EQ, Cond.LT: Cond.GE, Cond.GE: Cond.LT,
               Cond.LE: Cond.GT, Cond.GT: Cond.LE, Cond.LTU: Cond.GEU, Cond.GEU: Cond.LTU,
               Cond.LEU: Cond.GTU, Cond.GTU: Cond.LEU}


# The classes below are written out rather than made with dataclasses: importing that
# module (it imports inspect) and building classes with it is a noticeable part of a
# user-mode program's start-up.
class MemOp:
    """Access size in bytes (1, 2, 4, 8) and whether a load sign-extends (little-endian).
    Immutable; equal and hashable by value."""

    __slots__ = ("size", "signed")

    def __init__(self, size: int, signed: bool = False) -> None:
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "signed", signed)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("MemOp is immutable")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, MemOp) and self.size == other.size
                and self.signed == other.signed)

    def __hash__(self) -> int:
        return hash((self.size, self.signed))

    def __repr__(self) -> str:
        return f"MemOp(size={self.size}, signed={self.signed})"

    def __str__(self) -> str:
        return ("s" if self.signed else "u") + str(self.size * 8)


class Label:
    __slots__ = ("id",)

    def __init__(self, id: int) -> None:  # noqa: A002 - the label's number
        self.id = id

    def __repr__(self) -> str:
        return f"L{self.id}"


# Exit reasons for exit_tb: what the loop must do when generated code returns to it.
class ExitReason(IntEnum):
    LOOKUP = 0  # pc global holds the next pc
    SYSCALL = 1  # ecall (pc already past it)
    EBREAK = 2  # breakpoint trap at pc
    ILLEGAL = 3  # illegal instruction at pc
    FENCE_I = 4  # instruction stream may have changed (pc past the fence.i)
    FETCH_FAULT = 5  # next pc is not executable
    # System emulation: the loop carries these out (pc is the instruction's own pc,
    # except WFI, SFENCE_VMA and STATE_CHANGED which continue at the next one).
    MRET = 6
    SRET = 7
    WFI = 8
    SFENCE_VMA = 9
    STATE_CHANGED = 10  # a CSR write changed translation flags or interrupt enables
    DEBUG = 11  # a debugger breakpoint at pc: the loop stops before executing it


class Helper:
    """A function called from generated code.

    ``state`` helpers read or write CPU state through the buffer (q is passed first):
    backends write cached globals back before the call and reload them after.
    ``can_raise`` helpers may raise a guest exception.
    """

    def __init__(self, name: str, func: object, n_out: int, state: bool = False,
                 can_raise: bool = False) -> None:
        self.name = name
        self.func = func
        self.n_out = n_out
        self.state = state
        self.can_raise = can_raise

    def __repr__(self) -> str:
        return f"Helper({self.name!r}, n_out={self.n_out})"


# Op catalogue: name -> (number of outputs, number of inputs). Extra non-temp
# arguments (condition, memop, label, helper, exit index/pc) follow in ``Op.aux``.
OPS: dict[str, tuple[int, int]] = {
    "mov": (1, 1), "neg": (1, 1), "not": (1, 1),
    "add": (1, 2), "sub": (1, 2), "mul": (1, 2), "and": (1, 2), "or": (1, 2), "xor": (1, 2),
    "andc": (1, 2), "orc": (1, 2), "eqv": (1, 2),
    "shl": (1, 2), "shr": (1, 2), "sar": (1, 2), "rotl": (1, 2), "rotr": (1, 2),
    "mulsh": (1, 2), "muluh": (1, 2), "mulsuh": (1, 2),
    "ext8s": (1, 1), "ext16s": (1, 1), "ext32s": (1, 1),
    "ext8u": (1, 1), "ext16u": (1, 1), "ext32u": (1, 1),
    "clz": (1, 1), "ctz": (1, 1), "ctpop": (1, 1), "bswap64": (1, 1),
    "setcond": (1, 2),  # aux: cond
    "movcond": (1, 4),  # d = in2 if cond(in0, in1) else in3; aux: cond
    "brcond": (0, 2),  # aux: cond, label
    "set_label": (0, 0),  # aux: label
    "ld": (1, 1),  # aux: memop
    "st": (0, 2),  # ins: value, address; aux: memop
    "call": (-1, -1),  # variable; aux: helper
    "insn_start": (0, 0),  # aux: guest pc, insn length
    "goto_tb": (0, 0),  # aux: exit index, target pc
    "lookup_and_goto_ptr": (0, 0),
    "exit_tb": (0, 0),  # aux: ExitReason
}


class Op:
    __slots__ = ("name", "outs", "ins", "aux")

    def __init__(self, name: str, outs: list[Temp], ins: list[Temp], aux: tuple = ()) -> None:
        self.name = name
        self.outs = outs
        self.ins = ins
        self.aux = aux

    def __repr__(self) -> str:
        return f"Op({self})"

    def __str__(self) -> str:
        parts = [repr(t) for t in self.outs + self.ins]
        for a in self.aux:
            if isinstance(a, Cond):
                parts.append(COND_NAMES[a])
            elif isinstance(a, Helper):
                parts.insert(0, a.name)
            elif isinstance(a, ExitReason):
                parts.append(a.name.lower())
            elif isinstance(a, int) and not isinstance(a, bool):
                parts.append(f"{a:#x}")
            else:
                parts.append(str(a))
        return f"{self.name} {','.join(parts)}"


class TCGContext:
    """Builder for one block's ops. Globals are shared, locals are per block."""

    def __init__(self, globals_: dict[int, Temp]) -> None:
        self.globals_ = globals_
        self.ops: list[Op] = []
        self.n_locals = 0
        self.n_labels = 0
        self._consts: dict[int, Temp] = {}
        # The block holds an atomic read-modify-write (LR/SC, AMO): its loads and stores
        # must run with no guest thread switch between them (see trans_rva).
        self.atomic = False

    def new_temp(self) -> Temp:
        n = self.n_locals
        self.n_locals = n + 1
        return Temp(LOCAL, n, f"t{n}")

    def const(self, value: int) -> Temp:
        value &= MASK64
        t = self._consts.get(value)
        if t is None:
            t = self._consts[value] = Temp(CONST, -1, "", I64, value)
        return t

    def new_label(self) -> Label:
        self.n_labels += 1
        return Label(self.n_labels)

    def emit(self, name: str, outs: list[Temp], ins: list[Temp], *aux: object) -> None:
        self.ops.append(Op(name, outs, ins, aux))

    # Thin helpers that keep frontends readable. They build the Op themselves rather
    # than going through emit and new_temp: they run for nearly every guest instruction.
    def op2(self, name: str, a: Temp, b: Temp, dst: Temp | None = None) -> Temp:
        if dst is None:
            n = self.n_locals
            self.n_locals = n + 1
            dst = Temp(LOCAL, n, f"t{n}")
        self.ops.append(Op(name, [dst], [a, b]))
        return dst

    def op1(self, name: str, a: Temp, dst: Temp | None = None) -> Temp:
        if dst is None:
            n = self.n_locals
            self.n_locals = n + 1
            dst = Temp(LOCAL, n, f"t{n}")
        self.ops.append(Op(name, [dst], [a]))
        return dst

    def mov(self, dst: Temp, src: Temp) -> None:
        self.ops.append(Op("mov", [dst], [src]))

    def call(self, helper: Helper, ins: list[Temp]) -> list[Temp]:
        outs = [self.new_temp() for _ in range(helper.n_out)]
        self.emit("call", outs, ins, helper)
        return outs


def format_ops(ops: list[Op]) -> str:
    lines = []
    for op in ops:
        if op.name == "insn_start":
            lines.append(f" ---- {op.aux[0]:016x}")
        elif op.name == "set_label":
            lines.append(f" set_label {op.aux[0]!r}")
        else:
            lines.append(f" {op}")
    return "\n".join(lines)
