"""RISC-V -> TCG IR: the block driver and the context the per-family translators use.

A block runs from its pc up to a control transfer, a page end, an instruction that
must return to the loop (ecall, fence.i...), or MAX_INSNS. Each instruction family
lives in its own module (trans_rvi, trans_rvm, trans_rva, trans_rvf, trans_zb) and
registers ``trans_<name>(dc, insn)`` functions in TRANSLATORS.
"""

from __future__ import annotations

from collections.abc import Callable

from ...accel.tcg.translate_common import GuestFetchFault
from ...tcg.ir import ExitReason, Kind, Label, MemOp, Op, TCGContext, Temp
from . import cpu_state as cs

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing: start-up time)
if TYPE_CHECKING:
    from .decode import Insn

# Memory operations are immutable values: one object for each (size, signed).
MEMOPS = {(size, signed): MemOp(size, signed) for size in (1, 2, 4, 8)
          for signed in (False, True)}

MAX_INSNS = 128
PAGE_SIZE = 4096

TRANSLATORS: dict[str, Callable[[DisasContext, Insn], None]] = {}
FP_INSNS: set[str] = set()  # filled by trans_rvf: instructions FS gates


def translator(*names: str):
    def register(fn):
        for n in names or (fn.__name__.removeprefix("trans_"),):
            TRANSLATORS[n] = fn
        return fn
    return register


# Decoded instructions with their translator, by encoding (see decode.decode_key):
# (insn or None, translator or None, whether FS gates it).
_DECODED: dict[int, tuple] = {}
# Whether the instruction families have registered (one of them may be imported alone
# first, for its helpers: see tb_persist_python.resolve_helper).
_FAMILIES_LOADED: list[bool] = []


def _decode_entry(key: int) -> tuple:
    if not _FAMILIES_LOADED:
        _load_translators()
    from .decode import decode_key

    insn = decode_key(key)
    if insn is None:
        entry = (None, None, False)
    else:
        entry = (insn, TRANSLATORS.get(insn.name), insn.name in FP_INSNS)
    if len(_DECODED) >= 1 << 17:
        _DECODED.clear()
    _DECODED[key] = entry
    return entry


def _load_translators() -> None:
    """Import the instruction families, which register their translators. Only when an
    instruction is first decoded: a run whose blocks all come from the persistent
    translation cache needs neither them nor the decoder (their import and the
    decoder's tables cost a start-up some 8 ms)."""
    from . import trans_priv, trans_rva, trans_rvf, trans_rvi, trans_rvm, trans_zb  # noqa: F401

    _FAMILIES_LOADED.append(True)


def make_globals() -> dict[int, Temp]:
    g: dict[int, Temp] = {}
    for i in range(1, 32):
        g[i] = Temp(Kind.GLOBAL, i, f"x{i}")
    for i in range(32):
        g[cs.F0 + i] = Temp(Kind.GLOBAL, cs.F0 + i, f"f{i}")
    for idx, name in ((cs.PC, "pc"), (cs.FFLAGS, "fflags"), (cs.FRM, "frm"),
                      (cs.LR_ADDR, "lr_addr"), (cs.LR_VALUE, "lr_value"),
                      (cs.MSTATUS, "mstatus"), (cs.SFENCE_VA, "sfence_va"),
                      (cs.SFENCE_ASID, "sfence_asid"),
                      # CSRs that system-mode code reads and writes inline (trans_priv)
                      (cs.SSCRATCH, "sscratch"), (cs.SEPC, "sepc"), (cs.SCAUSE, "scause"),
                      (cs.STVAL, "stval"), (cs.MSCRATCH, "mscratch"), (cs.MEPC, "mepc"),
                      (cs.MCAUSE, "mcause"), (cs.MTVAL, "mtval"), (cs.MHARTID, "mhartid"),
                      (cs.MIP, "mip"), (cs.HW_MIP, "hw_mip"), (cs.MIE, "mie")):
        g[idx] = Temp(Kind.GLOBAL, idx, name)
    return g


class DisasContext:
    """Per-instruction view used by translators: operands, emission helpers, block end."""

    def __init__(self, ctx: TCGContext, globals_: dict[int, Temp],
                 xregs: list[Temp] | None = None) -> None:
        self.ctx = ctx
        self.g = globals_
        self.pc = 0
        self.next_pc = 0
        self.ended = False
        self.n_slots = 0
        # Forward branches inside the block: (target pc, label), innermost last. The
        # instructions up to the target become the body of an "if" in generated code.
        self.pending: list[tuple[int, Label]] = []
        self.extend = True  # superblocks: go on translating past conditional branches
        self.page = 0
        # Index in ctx.ops after which frm is known valid (trans_rvf), or None.
        self.frm_checked_from: int | None = None
        # System emulation: the block's flags (hart.tb_flags) and whether this block
        # already marked the FP state dirty.
        self.system = False
        self.flags = 0
        self.fs_marked = False
        # The context's builders (const, op2, op1, mov), bound once: translators call
        # them for nearly every instruction.
        self.const = ctx.const
        self.op2 = ctx.op2
        self.op1 = ctx.op1
        self.mov = ctx.mov
        self._zero = ctx.const(0)
        # x(r): the source operand x[r] (the constant 0 for x0), as a list lookup.
        self.x = ([self._zero] + (xregs or [globals_[r] for r in range(1, 32)])).__getitem__

    @property
    def priv(self) -> int:
        return self.flags & 3

    # operands -----------------------------------------------------------------
    def xd(self, r: int) -> Temp:
        """Destination for x[r]: writes to x0 go to a scratch temp and vanish."""
        return self.g[r] if r else self.ctx.new_temp()

    def f(self, r: int) -> Temp:
        return self.g[cs.F0 + r]

    def ld(self, addr: Temp, size: int, signed: bool, dst: Temp | None = None) -> Temp:
        d = dst if dst is not None else self.ctx.new_temp()
        self.ctx.ops.append(Op("ld", [d], [addr], (MEMOPS[size, signed],)))
        return d

    def st(self, value: Temp, addr: Temp, size: int) -> None:
        self.ctx.ops.append(Op("st", [], [value, addr], (MEMOPS[size, False],)))

    def addr(self, rs1: int, imm: int) -> Temp:
        return self.op2("add", self.x(rs1), self.const(imm))

    def label(self) -> Label:
        return self.ctx.new_label()

    # block ends ---------------------------------------------------------------
    def goto(self, target: int) -> None:
        """A direct exit to target through a new jump slot."""
        self.ctx.emit("goto_tb", [], [], self.n_slots, target & 0xFFFFFFFFFFFFFFFF)
        self.n_slots += 1

    def can_nest_forward(self, target: int) -> bool:
        """Can a taken branch to target stay inside the block as a forward jump?"""
        return (self.extend and self.pc < target <= self.pc + 512
                and (target >> 12) == self.page
                and (not self.pending or target <= self.pending[-1][0])
                and len(self.pending) < 12)

    def exit_to_loop(self, reason: ExitReason, pc: int) -> None:
        self.mov(self.g[cs.PC], self.const(pc))
        self.ctx.emit("exit_tb", [], [], reason)
        self.ended = True


def mark_fs_dirty(dc: DisasContext) -> None:
    """mstatus.FS (and so SD) to Dirty, once per block: the OS saves FP state then."""
    if not dc.fs_marked:
        dc.op2("or", dc.g[cs.MSTATUS], dc.const(3 << 13), dc.g[cs.MSTATUS])
        dc.fs_marked = True


class RiscvTranslator:
    """Builds IR for blocks of one address space (user mode: guest virtual = physical)."""

    def __init__(self, mem, can_execute: Callable[[int], bool]) -> None:
        self.mem = mem
        self.can_execute = can_execute
        self.globals = make_globals()
        self._xregs = [self.globals[r] for r in range(1, 32)]
        self.max_insns = MAX_INSNS
        self.system = False  # system emulation: privileged instructions, FS gating
        self.flags = 0  # the block's TB flags (system emulation)
        # Debugger breakpoints (gdbstub): a block ends before each one and a block
        # starting at one exits to the loop before executing its instruction. Changing
        # the set requires dropping translated blocks.
        self.breakpoints: frozenset[int] = frozenset()

    def fetchable(self, pc: int, length: int = 2) -> bool:
        last = pc + length - 1
        if not (pc ^ last) >> 12:
            return self.can_execute(pc)  # one page: one answer
        return self.can_execute(pc) and self.can_execute(last)

    def translate(self, ctx: TCGContext, pc: int) -> tuple[int, int]:
        if not self.fetchable(pc):
            raise GuestFetchFault(pc)
        dc = DisasContext(ctx, self.globals, self._xregs)
        dc.system = self.system
        dc.flags = self.flags
        dc.extend = self.max_insns > 1
        dc.page = page = pc >> 12
        end = pc
        n = 0
        ops = ctx.ops
        read_u16 = self.mem.read_u16
        decoded = _DECODED
        pending = dc.pending
        breakpoints = self.breakpoints
        max_insns = self.max_insns
        fp_gated = dc.system
        while True:
            # Every pc here is on the block's first page, whose executability was
            # checked above (one page: one answer). An instruction whose bytes are not
            # all executable ends the block before it; as the block's first instruction
            # it is a fetch fault.
            key = read_u16(pc)
            if key & 3 == 3:
                if pc & 0xFFF == 0xFFE and not self.can_execute(pc + 2):
                    if n == 0:
                        raise GuestFetchFault(pc)
                    dc.goto(pc)
                    self._close_pending(dc)
                    break
                key |= read_u16(pc + 2) << 16
            while pending and pending[-1][0] == pc:
                ops.append(Op("set_label", [], [], (pending.pop()[1],)))
            if breakpoints and pc in breakpoints:
                if n == 0:
                    ctx.emit("insn_start", [], [], pc, 2)
                    dc.exit_to_loop(ExitReason.DEBUG, pc)
                    return 1, pc + 2
                dc.goto(pc)
                self._close_pending(dc)
                break
            entry = decoded.get(key)
            if entry is None:
                entry = _decode_entry(key)
            insn, trans, is_fp = entry
            n += 1
            dc.pc = pc
            if insn is None:
                ops.append(Op("insn_start", [], [], (pc, 4)))
                dc.exit_to_loop(ExitReason.ILLEGAL, pc)
                pc += 2
            else:
                ops.append(Op("insn_start", [], [], (pc, insn.length)))
                if is_fp and fp_gated and not self._fp_ok(dc):
                    trans = None  # mstatus.FS is Off: FP instructions are illegal
                if trans is None:
                    dc.exit_to_loop(ExitReason.ILLEGAL, pc)
                    pc += 2
                else:
                    dc.next_pc = pc + insn.length
                    trans(dc, insn)
                    pc = dc.next_pc
            if pc > end:
                end = pc
            if dc.ended:
                if not pending:
                    break
                # The rest up to the innermost pending target is unreachable on this
                # path; translation resumes where the forward branch lands.
                dc.ended = False
                pc = pending[-1][0]
                continue
            if n >= max_insns or (pc >> 12) != page:
                dc.goto(pc)
                self._close_pending(dc)
                break
        return n, end

    @staticmethod
    def _fp_ok(dc: DisasContext) -> bool:
        """FS gating (privileged ISA ch. 3.1.6.6): Off makes FP instructions illegal;
        otherwise the first FP instruction of a block whose flags say "not dirty" sets
        FS (and so SD) to Dirty, which the OS uses to know it must save FP state."""
        fs = (dc.flags >> 6) & 3
        if fs == 0:
            return False
        if fs != 3:
            mark_fs_dirty(dc)
        return True

    @staticmethod
    def _close_pending(dc: DisasContext) -> None:
        """End the block with forward branches still open: each one exits to its target."""
        while dc.pending:
            target, label = dc.pending.pop()
            dc.ctx.emit("set_label", [], [], label)
            dc.goto(target)

    def disassemble(self, start: int, end: int) -> str:
        from .disas import disassemble

        return disassemble(self.mem.read(start, end - start), start)
