"""Translation blocks: translate, optimize, compile, cache by pc, chain, invalidate.

User mode keys blocks by guest virtual pc (flags are constant: U-mode, one MMU view).
Each block owns jump slots ``J``; a slot starts as a stub that looks the successor up,
patches the slot with the successor's function and runs it, so chained blocks call
each other without the dictionary lookup. Invalidation of a range that holds
translated code drops the whole cache and resets every slot to its stub: simple, and
rare in practice (fence.i, munmap of code, riscv_flush_icache).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...tcg.backends.python import interp, runtime
from ...tcg.ir import ExitReason, Kind, TCGContext
from .translate_common import PAGE_BITS, GuestFetchFault, optimize_logged  # noqa: F401

# (The code generator, tcg/backends/python/codegen.py and region.py, is imported when
# a block is first compiled: a warm run whose hot blocks come compiled from the
# persistent cache never needs it. The records below are plain classes rather than
# dataclasses for the same reason: importing dataclasses costs about 10 ms.)

# A block is interpreted (tcg/backends/python/interp.py) for its first executions and
# compiled on the next one: compiling costs about what a hundred interpreted runs do,
# and most blocks of a program run only a few times.
HOT_AFTER = 16
# A block that becomes hot and lies on cycles of direct jumps with other blocks that
# have run at least half as often is compiled with them into one function (a region,
# tcg/backends/python/region.py), up to this many blocks.
REGION_MAX_BLOCKS = 8
REGION_MIN_RUNS = HOT_AFTER // 2
# A region that follows calls' returns pays when the calls are short (a recursion, a
# loop calling a small function): a member compiled into a region loses what a block
# compiled alone gets (its loop's peeled first iteration), which a long callee's own
# loop needs more than it needs its few calls inlined.
CALL_REGION_MAX_INSNS = 96


class TranslationBlock:
    def __init__(self, pc: int, end: int, n_insns: int, fn: Callable, jumps: list,
                 targets: list[int] | None = None,
                 ranges: list[tuple[int, int]] | None = None) -> None:
        self.pc = pc
        self.end = end  # first byte after the block's guest code
        self.n_insns = n_insns
        self.fn = fn
        self.jumps = jumps  # J: slot n -> function to run next
        self.targets = targets if targets is not None else []
        # Guest code [start, end) ranges it was translated from, if not just [pc, end)
        self.ranges = ranges if ranges is not None else []


class BlockIR:
    """A block's IR, kept (user mode, tiered) for compiling it later, alone or in a
    region."""

    def __init__(self, ctx: TCGContext | None, n_insns: int, end: int, targets: list[int],
                 runs: list[int], optimized: bool = False, region: int | None = None,
                 indirect: set[int] | None = None) -> None:
        self.ctx = ctx  # None: taken from the persistent cache (translated when needed)
        self.n_insns = n_insns
        self.end = end
        self.targets = targets  # guest pcs of its direct exits
        # Where its indirect jump went while it was interpreted (returns: a call's
        # return address). A region follows these edges as it follows direct ones.
        self.indirect = indirect if indirect is not None else set()
        self.shape: tuple[int | None, bool] | None = None  # TBCache._shape
        self.runs = runs  # runs while cold (interpreted)
        self.optimized = optimized
        self.region = region  # entry pc of the region it was compiled into


class BlockCode:
    """A translated block before it is bound to a vCPU: compiled code and its tables."""

    def __init__(self, pc: int, end: int, n_insns: int, code: object, line_pc: list,
                 writeback: tuple, helpers: dict, targets: list,
                 line_fo: list | None = None) -> None:
        self.pc = pc
        self.end = end
        self.n_insns = n_insns
        self.code = code
        self.line_pc = line_pc
        self.writeback = writeback
        self.helpers = helpers
        self.targets = targets
        self.line_fo = line_fo if line_fo is not None else []


class TBCache:
    """The block cache of one address space, shared by all vCPUs that run in it."""

    def __init__(self, translator, runtime_ns: dict, low: int, hmask: int,
                 log=None, exec_log: bool = False) -> None:
        self.translator = translator  # .translate(ctx, pc) -> (n_insns, end_pc)
        self.runtime_ns = runtime_ns  # names generated code refers to (views, helpers...)
        self.low = low
        self.hmask = hmask
        self.log = log  # pyqemu.cli.log.Log or None
        self.exec_log = exec_log
        self.tbs: dict[int, TranslationBlock] = {}
        self.fns: dict[int, Callable] = {}
        self.pages: dict[int, list[TranslationBlock]] = {}
        self.ir: dict[int, BlockIR] = {}
        self.translate_ns = 0
        self.translated_insns = 0
        self.generation = 0
        # Cold blocks start interpreted, unless logs want every block's code.
        self.tiered = log is None and not exec_log
        # Set once the process has a second thread (UserEngine.thread_started): from then
        # on blocks holding an AMO or SC are compiled, never interpreted.
        self.threaded = [False]
        # tb_persist_python.ProgramCache: blocks kept across runs (user mode, tiered)
        self.persist = None
        self.persist_max_insns = getattr(translator, "max_insns", 0)
        self.reused = 0
        self.region_of: dict[int, int] = {}  # member pc -> entry of a region taken from it
        self._interp_ns: dict | None = None
        self.shared_insns: dict = {}  # interp.prepare's equal instructions, made one

    # ------------------------------------------------------------ lookup / build
    def lookup(self, pc: int) -> Callable:
        fn = self.fns.get(pc)
        if fn is None:
            fn = self.build(pc).fn
        return fn

    def lookup_q(self, q) -> Callable:
        """Indirect jump: the pc global holds the target (lookup_and_goto_ptr)."""
        pc = q[runtime.PC_INDEX]
        fn = self.fns.get(pc)
        if fn is None:
            fn = self._safe_build(pc)
        return fn

    def _safe_build(self, pc: int) -> Callable:
        try:
            return self.build(pc).fn
        except GuestFetchFault:
            return self._fault_fn(pc)

    def _fault_fn(self, pc: int) -> Callable:
        def fetch_fault(q):
            q[runtime.PC_INDEX] = pc
            raise GuestFetchFault(pc)
        fetch_fault.guest_pc = pc
        return fetch_fault

    def build(self, pc: int) -> TranslationBlock:
        t0 = time.perf_counter_ns()
        if self.persist is not None and self._persisting():
            tb = self._from_persistent(pc)
            if tb is not None:
                self._install(tb)
                self.reused += 1
                self.translate_ns += time.perf_counter_ns() - t0
                self.translated_insns += tb.n_insns
                return tb
        ctx = TCGContext(self.translator.globals)
        n_insns, end = self.translator.translate(ctx, pc)
        # (An AMO or SC is atomic only in compiled code, the interpreter letting CPython
        # switch guest threads between its load and store (see trans_rva): such a block
        # is interpreted only while the process has one thread.)
        if self.tiered and not (ctx.atomic and self.threaded[0]):
            tb = self._cold_block(ctx, pc, n_insns, end)
        else:
            tb = self.compile_block(ctx, pc, n_insns, end, {})
            if self.persist is not None and self._persisting():
                self.persist.add_compiled(tb, [])
        self._install(tb)
        self.translate_ns += time.perf_counter_ns() - t0
        self.translated_insns += n_insns
        return tb

    def _install(self, tb: TranslationBlock) -> None:
        for i, target in enumerate(tb.targets):
            tb.jumps[i] = self._stub(tb, i, target)
        self.tbs[tb.pc] = tb
        self.fns[tb.pc] = tb.fn
        for start, end in tb.ranges or [(tb.pc, tb.end)]:
            for page in range(start >> PAGE_BITS, ((end - 1) >> PAGE_BITS) + 1):
                self.pages.setdefault(page, []).append(tb)

    def _cold_block(self, ctx: TCGContext, pc: int, n_insns: int, end: int) -> TranslationBlock:
        """A block run by the IR interpreter until it is hot, then compiled in place."""
        exit_targets = {op.aux[0]: op.aux[1] for op in ctx.ops if op.name == "goto_tb"}
        n_exits = max(exit_targets, default=-1) + 1
        targets = [exit_targets.get(i, pc) for i in range(max(n_exits, 1))]
        prog, init, helpers = interp.prepare(ctx.ops, self.shared_insns)
        if self.persist is not None and self._persisting():
            self.persist.add_interp(pc, end, n_insns, targets, prog, init, helpers,
                                    ctx.atomic)
        return self._interpreted(ctx, pc, n_insns, end, targets, prog, init, helpers,
                                 ctx.atomic)

    def _interpreted(self, ctx: TCGContext | None, pc: int, n_insns: int, end: int,
                     targets: list[int], prog: list, init: list,
                     helpers: dict, atomic: bool = True) -> TranslationBlock:
        jumps: list = [None] * len(targets)
        ns = self._interp_ns
        if ns is None:  # (one namespace for all: the interpreter only reads it)
            ns = self._interp_ns = {"LOOKUP": self.lookup_q, **self.runtime_ns}
        seen: set[int] = set()
        run = interp.interpreter(prog, init, helpers, pc, ns, jumps, self.low, self.hmask,
                                 runtime.PC_INDEX, seen)
        count = [0]
        hot: list = [None]
        self.ir[pc] = BlockIR(ctx, n_insns, end, targets, count,
                              region=self.region_of.get(pc), indirect=seen)

        threaded = self.threaded

        def cold(q):
            if hot[0] is not None:
                return hot[0](q)
            count[0] += 1
            if count[0] > HOT_AFTER:
                hot[0] = self._promote(tb, n_insns)
                return hot[0](q)
            return run(q)

        def cold_atomic(q):  # compiled as soon as a second thread exists
            if hot[0] is not None:
                return hot[0](q)
            count[0] += 1
            if count[0] > HOT_AFTER or threaded[0]:
                hot[0] = self._promote(tb, n_insns)
                return hot[0](q)
            return run(q)

        if atomic:
            cold = cold_atomic

        cold.guest_pc = pc
        tb = TranslationBlock(pc, end, n_insns, cold, jumps, targets)
        return tb

    def _ctx(self, pc: int) -> TCGContext:
        """The IR of a cold block, translated again if the block came from the
        persistent cache (its bytes were checked then, and a write since would have
        flushed it)."""
        b = self.ir.get(pc)
        if b is not None and b.ctx is not None:
            return b.ctx
        ctx = TCGContext(self.translator.globals)
        self.translator.translate(ctx, pc)
        if b is not None:
            b.ctx = ctx
        return ctx

    def _persisting(self) -> bool:
        """Whether blocks are made as the persistent cache's were: not while a debugger
        asks for one-instruction blocks or blocks that end before breakpoints."""
        tr = self.translator
        return tr.max_insns == self.persist_max_insns and not tr.breakpoints

    def _from_persistent(self, pc: int) -> TranslationBlock | None:
        """The block an earlier run made at pc from the same bytes: its interpreter
        program while it is cold, or its compiled code (a region's, with its member
        ranges) once it got hot."""
        if not self.translator.fetchable(pc):
            return None
        e = self.persist.find(pc)
        if e is None:
            return None
        from . import tb_persist_python as tpp

        ranges, _, n_insns, end, targets, kind, payload = e
        try:
            if kind == tpp.INTERP:
                prog, init, names, atomic = payload
                if atomic and self.threaded[0]:
                    return None  # translated and compiled now
                helpers = {n: tpp.resolve_helper(n) for n in names}
                return self._interpreted(None, pc, n_insns, end, list(targets), prog, init,
                                         helpers, atomic)
            code, line_pc, wb, names, line_fo, members = payload
            helpers = {f"H_{n}": tpp.resolve_helper(n).func for n in names}
            import marshal

            t = BlockCode(pc, end, n_insns, marshal.loads(code), line_pc, wb, helpers,
                          list(targets), line_fo)
        except (KeyError, ValueError, EOFError, TypeError):
            return None  # a helper this version does not have, or a bad entry
        tb = self.instantiate(t, {})
        if members:
            tb.ranges = [tuple(r) for r in ranges]
            for m in members:
                self.region_of[m] = pc
                b = self.ir.get(m)
                if b is not None:
                    b.region = pc
        return tb

    def _promote(self, cold: TranslationBlock, n_insns: int) -> Callable:
        """Compile a cold block that became hot; chained jumps to it now go to the
        compiled function directly."""
        if self.tbs.get(cold.pc) is not cold:
            return self.lookup(cold.pc)  # the cache was flushed since: translate afresh
        t0 = time.perf_counter_ns()
        ir = self.ir.get(cold.pc)
        found = self._region_members(cold.pc) if ir is not None and ir.region is None \
            else None
        members = found[0] if found else None
        if found:
            tb = self._compile_region(*found)
        else:
            tb = self.compile_block(self._ctx(cold.pc), cold.pc, n_insns, cold.end, {},
                                    optimized=ir is not None and ir.optimized)
            if ir is not None:
                ir.optimized = True
        if self.persist is not None and self._persisting():
            self.persist.add_compiled(tb, members or [])
        self._install(tb)
        old, new = cold.fn, tb.fn
        for other in list(self.tbs.values()):  # other threads may add blocks meanwhile
            jumps = other.jumps
            for i, f in enumerate(jumps):
                if f is old:
                    jumps[i] = new
        self.translate_ns += time.perf_counter_ns() - t0
        return new

    # ------------------------------------------------------------ regions
    def _shape(self, pc: int) -> tuple[int | None, bool]:
        """(the return address the block's call leaves in a register, or None; whether
        it ends in an indirect jump), from its IR, once."""
        b = self.ir[pc]
        if b.shape is None:
            ops = self._ctx(pc).ops
            call = any(op.name == "mov" and op.outs[0].kind == Kind.GLOBAL and
                       op.ins[0].kind == Kind.CONST and op.ins[0].value == b.end for op in ops)
            b.shape = (b.end if call else None,
                       any(op.name == "lookup_and_goto_ptr" for op in ops))
        return b.shape

    def _edges(self, pc: int, sites: set[int] | None) -> tuple[int, ...]:
        """Where a block may go: its direct exits, the targets its indirect jump was
        seen to reach, and for an indirect jump (a return) the return addresses of
        the calls among the candidates. sites None: direct exits only."""
        return (*self.ir[pc].targets, *self._indirect_edges(pc, sites))

    def _indirect_edges(self, pc: int, sites: set[int] | None) -> set[int]:
        """The targets of _edges that the block's indirect jump gives."""
        if sites is None:
            return set()
        b = self.ir[pc]
        return b.indirect | sites if self._shape(pc)[1] else b.indirect

    def _region_members(self, entry: int) -> tuple[list[int], set[int] | None] | None:
        """A region through entry following calls' returns, unless that makes it too
        big (see _members); else one of direct jumps only."""
        found = self._members(entry, set())
        if found is not None and sum(self.ir[pc].n_insns for pc in found[0]) > \
                CALL_REGION_MAX_INSNS:
            found = None
        return found or self._members(entry, None)

    def _members(self, entry: int, sites: set[int] | None
                 ) -> tuple[list[int], set[int] | None] | None:
        """The blocks on cycles through entry (entry first, then in breadth-first
        order), among blocks that have run often enough and belong to no region; None
        if there are none or too many. Edges are direct jumps, and calls' returns: a
        loop that calls a function keeps the function's blocks in its region."""
        ir = self.ir

        def joins(pc: int) -> bool:
            b = ir.get(pc)
            return b is not None and b.region is None and b.runs[0] >= REGION_MIN_RUNS

        # Again with the return addresses of every call found (once without them).
        for _ in range(1 if sites is None else 2):
            order = [entry]
            seen = {entry}
            for pc in order:
                site = self._shape(pc)[0] if sites is not None else None
                if site is not None:
                    sites.add(site)
                for t in self._edges(pc, sites):
                    if t not in seen and joins(t):
                        seen.add(t)
                        order.append(t)
                if len(order) > 4 * REGION_MAX_BLOCKS:
                    return None
        # Of those reachable from entry, the ones that lead back to it.
        back = {entry}
        grew = True
        while grew:
            grew = False
            for pc in order:
                if pc not in back and any(t in back for t in self._edges(pc, sites)):
                    back.add(pc)
                    grew = True
        members = [pc for pc in order if pc in back]
        if len(members) < 2 or len(members) > REGION_MAX_BLOCKS:
            return None
        return members, sites

    def _compile_region(self, members: list[int], sites: set[int] | None) -> TranslationBlock:
        parts = []
        targets: list[int] = []
        ranges = []
        for pc in members:
            b = self.ir[pc]
            self._ctx(pc)
            if not b.optimized:
                optimize_logged(self.translator, b.ctx, pc, b.end, None)
                b.optimized = True
            exits = {op.aux[0]: op.aux[1] for op in b.ctx.ops if op.name == "goto_tb"}
            slots = [exits.get(i, pc) for i in range(max(max(exits, default=-1) + 1, 1))]
            parts.append((b.ctx.ops, pc, len(slots)))
            targets += slots
            ranges.append((pc, b.end))
        entry = self.ir[members[0]]
        from ...tcg.backends.python import region

        # Where each member's indirect jump may stay in the region (see _edges).
        indirect = {pc: sorted(self._indirect_edges(pc, sites) & set(members))
                    for pc in members}
        gen, helpers = region.generate_region(parts, self.low, self.hmask,
                                              "d64" in self.runtime_ns, indirect)
        code = compile(gen.source, f"<region {members[0]:#x}>", "exec")
        n_insns = sum(self.ir[pc].n_insns for pc in members)
        template = BlockCode(members[0], entry.end, n_insns, code, gen.line_pc, gen.writeback,
                             helpers, targets, gen.line_fo)
        tb = self.instantiate(template, {})
        tb.ranges = ranges
        for pc in members:
            self.ir[pc].region = members[0]
        return tb

    def compile_block(self, ctx: TCGContext, pc: int, n_insns: int, end: int, extra_ns: dict,
                      softmmu: bool = False, optimized: bool = False) -> TranslationBlock:
        """Optimize the block's IR (unless it is already), generate and compile its
        function (jump slots are left for the caller to fill)."""
        log = self.log
        if not optimized:
            optimize_logged(self.translator, ctx, pc, end, log)
        n_exits = max([op.aux[0] for op in ctx.ops if op.name == "goto_tb"], default=-1) + 1
        from ...tcg.backends.python import codegen

        info = codegen.BlockInfo(pc, n_exits, True, self.exec_log, softmmu,
                                 float_views="d64" in self.runtime_ns)
        gen, helpers = codegen.generate(ctx.ops, info, self.low, self.hmask)
        if log and log.enabled("out_asm"):
            log.write(f"OUT: [size={len(gen.source)}]\n{gen.source}\n")
        exit_targets = {op.aux[0]: op.aux[1] for op in ctx.ops if op.name == "goto_tb"}
        targets = [exit_targets.get(i, pc) for i in range(max(n_exits, 1))]
        code = compile(gen.source, f"<tb {pc:#x}>", "exec")
        template = BlockCode(pc, end, n_insns, code, gen.line_pc, gen.writeback, helpers,
                             targets, gen.line_fo)
        return self.instantiate(template, extra_ns)

    def instantiate(self, t: BlockCode, extra_ns: dict) -> TranslationBlock:
        """A block function from compiled block code, bound to this cache's runtime (a
        vCPU's views, TLBs and exits): several vCPUs share one translation."""
        jumps: list = [None] * len(t.targets)
        ns = dict(self.runtime_ns)
        ns.update(runtime.RUNTIME)
        ns.update(t.helpers)
        ns.update(extra_ns)
        ns["J"] = jumps
        ns["LINE_PC"] = t.line_pc
        ns["LINE_FO"] = t.line_fo
        ns["WB"] = t.writeback
        ns["FAULT"] = runtime.fault
        ns.setdefault("LOOKUP", self.lookup_q)
        ns.setdefault("FNS", self.fns)
        exec(t.code, ns)
        fn = ns[f"tb_{t.pc:x}"]
        fn.guest_pc = t.pc
        tb = TranslationBlock(t.pc, t.end, t.n_insns, fn, jumps, list(t.targets))
        tb.template = t
        return tb

    def _stub(self, tb: TranslationBlock, slot: int, target: int) -> Callable:
        jumps = tb.jumps
        generation = self.generation

        def chain_stub(q):
            try:
                fn = self.lookup(target)
            except GuestFetchFault:
                return self._fault_fn(target)(q)
            if generation == self.generation:
                jumps[slot] = fn  # patch the slot: next time the block jumps directly
            return fn(q)

        chain_stub.guest_pc = target
        return chain_stub

    # ------------------------------------------------------------ invalidation
    def invalidate_range(self, start: int, end: int) -> None:
        """Guest code in [start, end) may have changed."""
        for page in range(start >> PAGE_BITS, ((end - 1) >> PAGE_BITS) + 1):
            if page in self.pages:
                self.flush()
                return

    def flush(self) -> None:
        self.generation += 1
        old = list(self.tbs.values())
        self.tbs.clear()
        self.fns.clear()
        self.pages.clear()
        self.ir.clear()
        self.region_of.clear()
        for tb in old:
            for i, target in enumerate(tb.targets):
                tb.jumps[i] = self._stub(tb, i, target)


EXIT_REASONS = ExitReason
