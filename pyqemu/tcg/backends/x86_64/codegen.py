"""IR -> x86-64 machine code for one translation block.

Register allocation is local to the block and done in one forward pass, as TCG does:

* Locals get a host register when defined and give it back after their last use; when
  registers run out a value is spilled to a stack slot (the one whose last use is
  furthest away goes first).
* Globals live in the CPU state buffer. A write stores through to the buffer at once,
  so the buffer is always current: exits, faults and helper calls need no write-back.
  A register may keep a clean copy of a global for later reads (a cache); caches are
  dropped when a helper may write the state.
* Control flow inside a block only goes forward. At a ``brcond`` every live local is
  also stored to its slot, and the register assignment there is remembered for its
  label; at the label, locals are stored again on the fall-through path and the
  assignment becomes what all incoming paths agree on. Whatever is not agreed on is
  read back from memory, where every path left it.

Loads and stores are in usermem.py (user mode) and softmmu.py (system mode); ``add
base, imm`` feeding a single load/store folds into the address computation.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ...ir import CONST, GLOBAL, LOCAL, OPS, ExitReason, Helper, Kind, Op, Temp
from . import arith, divide, fp, softmmu, usermem
from . import asm as A
from .arith import CC, s64
from .asm import RAX, RBP, RCX, RDX, RSP, Mem
from .regs import (
    ALLOCATABLE,
    CALLER_SAVED,
    EXIT_FAULT,
    EXIT_LOOKUP,
    EXIT_RAISED,
    EXIT_REQUEST,
    EXIT_SHIFT,
    EXIT_TB,
    FRAME_SLOTS,
    EnvLayout,
)
from .reloc import (  # noqa: F401 - NativeBlock and the relocation functions: API
    RELOC_EXIT,
    RELOC_HELPER,
    RELOC_REL32,
    NativeBlock,
    pack_relocs,
    relocate,
    relocate_packed,
)

MASK = (1 << 64) - 1
ALU = {"add": A.ADD, "sub": A.SUB, "and": A.AND, "or": A.OR, "xor": A.XOR}
ARG_REGS = (A.RSI, RDX, RCX, A.R8, A.R9)  # after rdi = the state buffer
# Helpers the backend computes inline instead of calling (by helper name).
INLINE_HELPERS = {**fp.INLINE, **divide.INLINE}


_pack_exit = struct.Struct("<BIBi").pack
_pack_mov_eax = struct.Struct("<BI").pack
_pack_jmp = struct.Struct("<Bi").pack
_IN_REG = [("r", r) for r in range(16)]  # operand() results for registers, made once
_JCC_REL32 = [bytes((0x0F, 0x80 | cc, 0, 0, 0, 0)) for cc in range(16)]
# Ops across which an address is not folded into a later access (the base may change).
_NO_FOLD_ACROSS = frozenset(("set_label", "brcond", "call"))


class TranslationTooBig(Exception):
    """The block needs more spill slots than the frame has: translate it shorter."""


# Plain classes, not dataclasses: start-up time (see tcg/ir.py).
class BlockTarget:
    """Where the block's code will live and what it can reach there.

    tb_id; at, the buffer offset of the block's first byte; exec_base, the host address
    of buffer offset 0 (for RIP-relative displacements); exit_flag, jump_cache: buffer
    offsets of the data generated code reads; jc_mask; epilogue; low, the guest address
    of guest-space offset 0; helper_address(helper, n_args), the C-callable address of
    a helper; env; features. system: in system emulation, per-hart data lives behind
    state words instead of the shared, RIP-relative data area, and loads and stores go
    through the softmmu TLB."""

    def __init__(self, tb_id: int, at: int, exec_base: int, exit_flag: int, jump_cache: int,
                 jc_mask: int, epilogue: int, low: int,
                 helper_address: Callable[[Helper, int], int], env: EnvLayout,
                 features: frozenset = frozenset(), system: SystemTarget | None = None) -> None:
        self.tb_id = tb_id
        self.at = at
        self.exec_base = exec_base
        self.exit_flag = exit_flag
        self.jump_cache = jump_cache
        self.jc_mask = jc_mask
        self.epilogue = epilogue
        self.low = low
        self.helper_address = helper_address
        self.env = env
        self.features = features
        self.system = system


class SystemTarget:
    """State words a system-mode block reads: exit_word (nonzero asks the block to
    return: the hart's exit request), jc_word (host address of the hart's jump cache,
    32-byte entries), flags_word (the hart's current TB flags, part of the jump cache
    tag), tlb_word (host address of the hart's TLBs); tlb_off, the byte offset of this
    block's data-mode TLB from that address; tlb_mask, entries per TLB - 1; thunks,
    (kind, size, signed) -> buffer offset of the slow-path thunk."""

    def __init__(self, exit_word: int, jc_word: int, flags_word: int, tlb_word: int,
                 tlb_off: int, tlb_mask: int, thunks: dict) -> None:
        self.exit_word = exit_word
        self.jc_word = jc_word
        self.flags_word = flags_word
        self.tlb_word = tlb_word
        self.tlb_off = tlb_off
        self.tlb_mask = tlb_mask
        self.thunks = thunks


class BlockCodegen:
    def __init__(self, ops: list[Op], pc: int, t: BlockTarget) -> None:
        self.ops = ops
        self.pc = pc
        self.cur_pc = pc
        self.t = t
        self.a = A.Assembler()
        self.loc: dict[Temp, int] = {}  # temp -> host register (locals, cached globals)
        self.holds: dict[int, Temp] = {}  # host register -> temp
        self.slot: dict[Temp, int] = {}
        self.in_mem: set[Temp] = set()  # locals whose slot holds the current value
        self.n_slots = 0
        self.label_states: dict[int, list[dict[Temp, int]]] = {}
        self.labels: dict[int, A.Label] = {}
        self.reachable = True
        self.stubs: list[tuple] = []  # (label, exit kind, pc to store, exit_tb reason)
        # (exit kind, guest pc) -> rel32 fixups (their end offsets) of jumps to that exit
        self.pc_exits: dict[tuple[int, int], list[int]] = {}
        self.slow_paths: list[tuple] = []  # softmmu: out-of-line TLB-miss paths
        # user mode: (ends of the jumps to the miss path, where it goes back to, size,
        # write, pc) of each access's permission check (usermem.py)
        self.perm_misses: list[tuple] = []
        self.out = NativeBlock(b"")
        self._analyse()

    # ------------------------------------------------------------------ analysis
    def _analyse(self) -> None:
        """Last uses of locals, and address folding: a local that is "base + imm", used
        once, as a load/store address, with nothing writing base in between, becomes
        lea's displacement."""
        last_use: dict[Temp, int] = {}
        reused: set[Temp] = set()  # locals read more than once
        defined: set[Temp] = set()
        redefined: set[Temp] = set()  # locals written more than once
        pending: dict[Temp, tuple[Temp, int]] = {}
        folds: list[tuple[Temp, Temp, int, int]] = []  # (address, base, disp, at op)
        low = self.t.low
        for i, op in enumerate(self.ops):
            ins = op.ins
            outs = op.outs
            if not ins and not outs:
                if pending and op.name in _NO_FOLD_ACROSS:
                    pending.clear()
                continue
            for t in ins:
                if t.kind is LOCAL:
                    if t in last_use:
                        reused.add(t)
                    last_use[t] = i
            for t in outs:
                if t.kind is LOCAL:
                    if t in defined:
                        redefined.add(t)
                    else:
                        defined.add(t)
            name = op.name
            if pending:
                if name == "ld" or name == "st":
                    addr = ins[0] if name == "ld" else ins[1]
                    folded = pending.pop(addr, None)
                    if folded is not None:
                        folds.append((addr, folded[0], folded[1], i))
                if name in _NO_FOLD_ACROSS:
                    pending.clear()
                else:
                    for t in outs:
                        for k in [k for k, v in pending.items() if v[0] is t]:
                            del pending[k]
            if name == "add":
                d, y = outs[0], ins[1]
                if d.kind is LOCAL and y.kind is CONST and ins[0].kind is not CONST:
                    disp = s64(y.value) - low
                    if -(1 << 31) <= disp < (1 << 31):
                        pending[d] = (ins[0], disp)
        # Candidates were noted before the counts were complete: keep the single-use,
        # single-definition ones.
        self.fold: dict[Temp, tuple[Temp, int]] = {}
        for addr, base, disp, i in folds:
            if addr not in reused and addr not in redefined:
                self.fold[addr] = (base, disp)
                if base.kind is LOCAL and last_use[base] < i:
                    last_use[base] = i
        self.last_use = last_use

    # ------------------------------------------------------------------ registers
    def _free(self, r: int) -> None:
        t = self.holds.pop(r, None)
        if t is not None and self.loc.get(t) == r:
            del self.loc[t]

    def _slot_index(self, t: Temp) -> int:
        """The local's spill slot (a new one on first use)."""
        s = self.slot.get(t)
        if s is None:
            s = self.slot[t] = self.n_slots
            self.n_slots += 1
            if s >= FRAME_SLOTS:
                raise TranslationTooBig()
        return s

    def _sync(self, t: Temp) -> None:
        """Make the local's slot current."""
        if t not in self.in_mem:
            self.a.store64(RSP, 8 * self._slot_index(t), self.loc[t])
            self.in_mem.add(t)

    def _load_temp(self, r: int, t: Temp) -> None:
        """r = the global's state word or the local's slot."""
        if t.kind is GLOBAL:
            self.a.load64(r, RBP, 8 * t.index)
            return
        s = self.slot.get(t)
        if s is None:
            raise RuntimeError(f"native codegen: local {t} read before it is defined")
        self.a.load64(r, RSP, 8 * s)

    def alloc(self, busy: set[int], i: int) -> int:
        """A free allocatable register not in busy (evicting a cache or spilling)."""
        for r in ALLOCATABLE:
            if r not in self.holds and r not in busy:
                return r
        for r in ALLOCATABLE:
            if r not in busy and self.holds[r].kind == Kind.GLOBAL:
                self._free(r)
                return r
        victim, far = None, -1
        for r in ALLOCATABLE:
            if r in busy:
                continue
            t = self.holds[r]
            lu = self.last_use.get(t, -1)
            if lu > far:
                victim, far = r, lu
        if victim is None:
            raise RuntimeError("native codegen: no register left")
        t = self.holds[victim]
        if self.last_use.get(t, -1) > i:
            self._sync(t)
        self._free(victim)
        return victim

    def _bind(self, t: Temp, r: int) -> None:
        loc = self.loc
        holds = self.holds
        old = loc.get(t)
        if old is not None and old != r:
            holds.pop(old, None)
        u = holds.pop(r, None)  # _free(r)
        if u is not None and loc.get(u) == r:
            del loc[u]
        loc[t] = r
        holds[r] = t

    def in_reg(self, t: Temp, busy: set[int], i: int, scratch: int | None = None) -> int:
        """A register holding t's value (t stays where it is if already in one)."""
        r = self.loc.get(t)
        if r is not None:
            return r
        if t.kind == Kind.CONST:
            if scratch is None:
                scratch = self.alloc(busy, i)
            self.a.mov_ri(scratch, t.value)
            return scratch
        if scratch is not None:
            self._load_temp(scratch, t)
            return scratch
        holds = self.holds
        for r in ALLOCATABLE:
            if r not in holds and r not in busy:
                break
        else:
            r = self.alloc(busy, i)  # frees what it takes
        if t.kind is GLOBAL:
            self.a.load64(r, RBP, 8 * t.index)
        else:
            self._load_temp(r, t)
            self.in_mem.add(t)
        self.loc[t] = r
        holds[r] = t
        return r

    def mem_of(self, t: Temp) -> Mem:
        if t.kind == Kind.GLOBAL:
            return Mem(RBP, 8 * t.index)
        if t not in self.slot:
            raise RuntimeError(f"native codegen: local {t} read before it is defined")
        return Mem(RSP, 8 * self.slot[t])

    def operand(self, t: Temp, busy: set[int], i: int):
        """('r', reg) | ('i', imm32) | ('m', Mem) without allocating when cheap."""
        r = self.loc.get(t)
        if r is not None:
            return _IN_REG[r]
        kind = t.kind
        if kind is CONST:
            v = t.value
            if -(1 << 31) <= v < (1 << 31) or v >= (1 << 64) - (1 << 31):
                return "i", v - (1 << 64) if v >> 63 else v
            self.a.mov_ri(RDX, v)
            return _IN_REG[RDX]
        if kind is GLOBAL:
            # Cache the global when a register is free: later reads cost nothing.
            holds = self.holds
            for r in ALLOCATABLE:
                if r not in holds and r not in busy:
                    self.a.load64(r, RBP, 8 * t.index)
                    self.loc[t] = r
                    holds[r] = t
                    return _IN_REG[r]
        return "m", self.mem_of(t)

    def dest(self, d: Temp, busy: set[int], i: int) -> int:
        """The register an op computes d into."""
        if d.kind == Kind.LOCAL:
            r = self.loc.get(d)
            if r is not None and r not in busy:
                return r
            return self.alloc(busy, i)
        r = self.loc.get(d)
        if r is not None and r not in busy:
            return r
        for r in ALLOCATABLE:
            if r not in self.holds and r not in busy:
                return r
        return RAX

    def define(self, d: Temp, r: int) -> None:
        """d's new value is in r: bind it (and store a global through)."""
        if d.kind is GLOBAL:
            self.a.store64(RBP, 8 * d.index, r)
            old = self.loc.get(d)
            if r == RAX or r == RDX or r == RCX:
                if old is not None:
                    self._free(old)
                return
            self._bind(d, r)
            return
        if d.kind == Kind.LOCAL and d not in self.last_use:
            if self.loc.get(d) is not None:
                self._free(self.loc[d])
            return  # never read
        if r in (RAX, RCX, RDX):
            nr = self.loc.get(d)
            if nr is None:
                nr = self.alloc(set(), -1)
            self.a.mov_rr(nr, r)
            r = nr
        self._bind(d, r)
        self.in_mem.discard(d)

    def release_dead(self, op: Op, i: int) -> None:
        last_use = self.last_use
        for t in op.ins:
            if t.kind is LOCAL and last_use.get(t) == i:
                r = self.loc.get(t)
                if r is not None:
                    self._free(r)

    def busy_of(self, op: Op) -> set[int]:
        loc = self.loc
        return {loc[t] for t in op.ins if t in loc}

    # ------------------------------------------------------------------ helpers
    def _apply(self, kind: str, dst: int, src) -> None:
        """dst op= src for an ALU op name."""
        a = self.a
        k, v = src
        if kind == "mul":
            if k == "i":
                a.mov_ri(RDX, v)
                a.imul_rr(dst, RDX)
            else:
                a.imul_rr(dst, v)
            return
        op = ALU[kind]
        if k == "r":
            a.alu_rr(op, dst, v)
        elif k == "i":
            a.alu_ri(op, dst, v)
        else:
            a.alu_rm(op, dst, v)

    def _load_into(self, dst: int, src) -> None:
        k, v = src
        if k == "r":
            if v != dst:
                self.a.mov_rr(dst, v)
        elif k == "i":
            self.a.mov_ri(dst, v)
        else:
            self.a.load(dst, v)

    def _exit_stub(self, kind: int, pc: int | None, reason: ExitReason | None = None) -> A.Label:
        """An out-of-line exit: store pc (and an exit_tb reason), leave with kind."""
        lab = self.a.label()
        self.stubs.append((lab, kind, pc, reason))
        return lab

    def _jcc_pc_exit(self, cc: int, kind: int) -> None:
        """jcc to the current instruction's exit of this kind (EXIT_FAULT, EXIT_RAISED):
        one short stub per instruction and kind (rax = its pc), sharing one tail per
        block and kind (store pc, leave with kind)."""
        buf = self.a.buf
        buf += _JCC_REL32[cc]
        fixups = self.pc_exits.get((kind, self.cur_pc))
        if fixups is None:
            self.pc_exits[(kind, self.cur_pc)] = [len(buf)]
        else:
            fixups.append(len(buf))

    def _emit_pc_exits(self, kind: int) -> None:
        """The shared tail of this kind (first: the stubs jump back to it), then the
        instructions' stubs."""
        stubs = [(pc, fixups) for (k, pc), fixups in self.pc_exits.items() if k == kind]
        if not stubs:
            return
        a = self.a
        buf = a.buf
        pack_into = struct.pack_into
        tail = len(buf)
        a.store64(RBP, 8 * self.t.env.pc, RAX)
        self._exit_now(kind)
        for pc, fixups in stubs:
            at = len(buf)
            for f in fixups:
                pack_into("<i", buf, f - 4, at - f)
            if pc < (1 << 32):
                buf += _pack_mov_eax(0xB8, pc)  # mov eax, pc (zero-extends)
            else:
                a.mov_ri(RAX, pc)
            buf += _pack_jmp(0xE9, tail - (len(buf) + 5))

    def _exit_now(self, kind: int) -> None:
        """mov eax, (tb_id << 8) | kind; jmp epilogue (both fields relocated)."""
        buf = self.a.buf
        t = self.t
        at = len(buf)
        relocs = self.out.relocs
        # mov eax, imm32: always this form, so that it can be patched
        relocs.append((RELOC_EXIT, at + 1, kind))
        relocs.append((RELOC_REL32, at + 6, (t.epilogue, 4)))
        buf += _pack_exit(0xB8, (t.tb_id << EXIT_SHIFT) | kind, 0xE9,
                          t.epilogue - (t.at + at + 10))

    def _jmp_abs(self, off: int) -> None:
        """jmp to a buffer offset (the epilogue)."""
        a = self.a
        a.buf.append(0xE9)
        self._rel32(off, 0)

    def _rel32(self, target: int, tail: int) -> None:
        """A disp32 to a buffer offset, counted from the end of an instruction that has
        tail more bytes after the disp32."""
        a = self.a
        pos = len(a.buf)
        self.out.relocs.append((RELOC_REL32, pos, (target, 4 + tail)))
        a.buf += struct.pack("<i", target - (self.t.at + pos + 4 + tail))

    def rip_insn(self, prefix: bytes, opcode: bytes, reg: int, data_off: int,
                 tail: bytes = b"") -> None:
        """Emit an instruction whose memory operand is a data-area offset, RIP-relative."""
        a = self.a
        if reg >= 8:
            raise ValueError("rip_insn: registers r8-r15 need a REX.R prefix")
        a.buf += prefix
        a.buf += opcode
        a.buf.append(((reg & 7) << 3) | 5)
        self._rel32(data_off, len(tail))
        a.buf += tail

    # ------------------------------------------------------------------ control flow
    def _snapshot(self) -> dict[Temp, int]:
        return dict(self.loc)

    def _sync_live(self, i: int) -> None:
        last_use = self.last_use
        for t in list(self.loc):
            if t.kind is LOCAL and last_use.get(t, -1) > i:
                self._sync(t)

    def gen_brcond(self, op: Op, i: int) -> None:
        cond, label = op.aux
        a0, a1 = op.ins
        busy = self.busy_of(op)
        if a0.kind == Kind.CONST:
            ra = self.in_reg(a0, busy, i, scratch=RAX)
        else:
            ra = self.in_reg(a0, busy, i)
            busy.add(ra)
        src = self.operand(a1, busy | {ra}, i)
        self.release_dead(op, i)
        self._sync_live(i)
        self._cmp(ra, src)
        self.label_states.setdefault(label.id, []).append(dict(self.loc))
        lab = self.labels.get(label.id)
        if lab is None:
            lab = self.labels[label.id] = self.a.label()
        self.a.jcc(CC[cond], lab)

    def _cmp(self, ra: int, src) -> None:
        k, v = src
        if k == "r":
            self.a.alu_rr(A.CMP, ra, v)
        elif k == "i":
            self.a.alu_ri(A.CMP, ra, v)
        else:
            self.a.alu_rm(A.CMP, ra, v)

    def gen_label(self, op: Op, i: int) -> None:
        lid = op.aux[0].id
        states = self.label_states.pop(lid, [])
        if not states:
            return  # nothing branches here
        if self.reachable:
            self._sync_live(i)
            states.append(self._snapshot())
        agreed = states[0]
        for s in states[1:]:
            agreed = {t: r for t, r in agreed.items() if s.get(t) == r}
        last_use = self.last_use
        self.loc = loc = {}
        self.holds = holds = {}
        # Every incoming path stored every live local to its slot.
        self.in_mem = {t for t in self.slot if last_use.get(t, -1) > i}
        for t, r in agreed.items():
            if t.kind is LOCAL and last_use.get(t, -1) < i:
                continue
            loc[t] = r
            holds[r] = t
        self.a.bind(self.labels[lid])
        self.reachable = True

    def gen_goto_tb(self, op: Op, i: int) -> None:
        n, target = op.aux
        a = self.a
        if self.t.system is not None and target >> 12 != self.pc >> 12:
            # System mode chains only within a page (the target's mapping is checked by
            # a lookup): a jump to another page goes through the hart's jump cache.
            a.mov_ri(RAX, target)
            a.store64(RBP, 8 * self.t.env.pc, RAX)
            softmmu.gen_lookup(self)
            return
        # The rel32 is 4-byte aligned so that patching it is one atomic store.
        a.nop_to_align(4, 1)
        at = a.pos() + 1
        a.buf.append(0xE9)
        a.buf += b"\0\0\0\0"  # falls through to the stub until patched
        self.out.jump_slots[n] = at
        self.out.targets[n] = target
        if n >= EXIT_LOOKUP:
            raise RuntimeError("native codegen: too many direct exits")
        self._exit_now(n)
        self.reachable = False

    def gen_lookup(self, op: Op | None = None, i: int = 0) -> None:
        """Indirect jump through the jump cache; a miss returns to the loop."""
        a = self.a
        t = self.t
        if t.system is not None:
            softmmu.gen_lookup(self)
            return
        a.load(RAX, Mem(RBP, 8 * t.env.pc))
        a.mov_rr32(RCX, RAX)
        a.shift_ri(A.SHR, RCX, 1)
        a.alu_ri(A.AND, RCX, t.jc_mask)
        a.shift_ri(A.SHL, RCX, 4)
        self.rip_insn(b"\x48", b"\x8D", RDX, t.jump_cache)  # lea rdx, [rip + jump cache]
        a.alu_rm(A.CMP, RAX, Mem(RDX, 0, RCX, 1))
        miss = a.label()
        a.jcc(A.CC_NE, miss)
        a.jmp_r(Mem(RDX, 8, RCX, 1))
        a.bind(miss)
        self._exit_now(EXIT_LOOKUP)
        self.reachable = False

    def gen_exit_tb(self, op: Op, i: int) -> None:
        reason: ExitReason = op.aux[0]
        self.a.store_imm64(RBP, 8 * self.t.env.exit_aux, int(reason))
        self._exit_now(EXIT_TB)
        self.reachable = False

    # ------------------------------------------------------------------ memory
    # ------------------------------------------------------------------ calls
    def prepare_call(self, op: Op, i: int, helper: Helper) -> None:
        """Before a call: live values in caller-saved registers move to their slots
        (locals) or are dropped (globals: the buffer is current); a state helper may
        write globals, so every cached global is dropped."""
        for r in list(self.holds):
            t = self.holds[r]
            if r in CALLER_SAVED or (helper.state and t.kind == Kind.GLOBAL):
                if t.kind == Kind.LOCAL and (self.last_use.get(t, -1) > i or t in op.ins):
                    self._sync(t)
                self._free(r)

    def arg_into(self, reg: int, t: Temp) -> None:
        """Load a value into a register without allocating (after prepare_call)."""
        r = self.loc.get(t)
        if r is not None:
            if r != reg:
                self.a.mov_rr(reg, r)
        elif t.kind == Kind.CONST:
            self.a.mov_ri(reg, t.value)
        else:
            self._load_temp(reg, t)

    def emit_call(self, op: Op, helper: Helper) -> None:
        """Arguments, the call, and the check for a raised exception; result in rax."""
        a = self.a
        if len(op.ins) > len(ARG_REGS):
            raise RuntimeError(f"native codegen: helper {helper.name} has too many arguments")
        for reg, t in zip(ARG_REGS, op.ins, strict=False):
            self.arg_into(reg, t)
        a.mov_rr(A.RDI, RBP)
        self.helper_address_into_rax(helper, len(op.ins))
        a.call_r(RAX)
        a.alu_ri(A.CMP, Mem(RBP, 8 * self.t.env.helper_raised), 0)
        self._jcc_pc_exit(A.CC_NE, EXIT_RAISED)

    def helper_address_into_rax(self, helper: Helper, n_args: int) -> None:
        a = self.a
        a.buf += b"\x48\xB8"  # movabs rax, imm64: patched with the helper's address
        self.out.relocs.append((RELOC_HELPER, len(a.buf), (helper, n_args)))
        a.buf += struct.pack("<Q", self.t.helper_address(helper, n_args))

    def define_results(self, op: Op, i: int, second: int | None) -> None:
        """rax holds the first result; second (a scratch register) the second one."""
        outs = op.outs
        if len(outs) > 1:
            d = outs[1]
            if d in self.last_use or d.kind == Kind.GLOBAL:
                r = self.dest(d, set(), i)
                self.a.mov_rr(r, second)
                self.define(d, r)
        if outs:
            self.define(outs[0], RAX)

    def gen_call(self, op: Op, i: int) -> None:
        helper: Helper = op.aux[0]
        inline = INLINE_HELPERS.get(helper.name)
        if inline is not None:
            inline(self, op, i)
            return
        self.prepare_call(op, i, helper)
        self.emit_call(op, helper)
        self.release_dead(op, i)
        if len(op.outs) > 1:
            self.a.load(RDX, Mem(RBP, 8 * self.t.env.helper_out2))
        self.define_results(op, i, RDX)

    # ------------------------------------------------------------------ driver
    def generate(self) -> NativeBlock:
        a = self.a
        t = self.t
        # Block entry: leave at once when the loop asked for it (signals, other threads).
        if t.system is not None:
            a.alu_ri(A.CMP, Mem(RBP, 8 * t.system.exit_word), 0)
        else:
            # cmp word [rip + disp32], 0: the signal byte and the yield byte at once.
            self.rip_insn(b"\x66", b"\x83", 7, t.exit_flag, b"\x00")
        a.jcc(A.CC_NE, self._exit_stub(EXIT_REQUEST, None))
        handlers = _HANDLERS if t.system is None else _SYSTEM_HANDLERS
        for i, op in enumerate(self.ops):
            n = op.name
            if n == "insn_start":
                self.cur_pc = op.aux[0]
            elif n == "set_label":
                self.gen_label(op, i)
            elif self.reachable:
                h = handlers.get(n)
                if h is None:
                    raise NotImplementedError(n)
                h(self, op, i)
        if self.reachable:
            raise RuntimeError("native codegen: block falls off its end")
        usermem.emit_perm_misses(self)
        self._emit_pc_exits(EXIT_FAULT)
        softmmu.emit_slow_paths(self)
        self._emit_pc_exits(EXIT_RAISED)
        for lab, kind, pc, reason in self.stubs:
            a.bind(lab)
            if reason is not None:
                a.store_imm64(RBP, 8 * t.env.exit_aux, int(reason))
            if pc is not None:
                a.mov_ri(RAX, pc)
                a.store64(RBP, 8 * t.env.pc, RAX)
            self._exit_now(kind)
        self.out.code = bytes(a.buf)
        return self.out


# Op name -> handler(codegen, op, op index).
_HANDLERS: dict[str, Callable] = {
    "brcond": BlockCodegen.gen_brcond, "goto_tb": BlockCodegen.gen_goto_tb,
    "lookup_and_goto_ptr": BlockCodegen.gen_lookup, "exit_tb": BlockCodegen.gen_exit_tb,
    "ld": usermem.gen_ld, "st": usermem.gen_st, "call": BlockCodegen.gen_call,
    "setcond": arith.gen_setcond, "movcond": arith.gen_movcond,
    **{n: arith.gen_alu for n, (n_out, n_in) in OPS.items() if (n_out, n_in) == (1, 2)
       and n != "setcond"},
    **{n: arith.gen_unop for n, (n_out, n_in) in OPS.items() if (n_out, n_in) == (1, 1)
       and n not in ("ld", "mov")},
    "mov": arith.gen_mov,
}
_SYSTEM_HANDLERS = {**_HANDLERS, "ld": softmmu.gen_ld, "st": softmmu.gen_st}


def generate(ops: list[Op], pc: int, target: BlockTarget) -> NativeBlock:
    return BlockCodegen(ops, pc, target).generate()
