"""System emulation on the native x86-64 backend: ``-accel tcg,backend=native``.

The machine's harts share one code buffer and one set of translations (keyed by
virtual pc, physical pc and TB flags, like system_tb.SystemTBCache); what differs per
hart lives behind words of its CPU state that generated code reads: its exit request,
its jump cache, its current TB flags and its TLBs (tcg/backends/x86_64/softmmu.py).

A block chains only to blocks of its own virtual page (QEMU's rule): the lookup that
entered the first one checked the page's mapping for the running hart. The jump caches
are dropped with the TLB (satp writes, sfence.vma). fence.i compares every code page
with the snapshot taken when it was first translated; if one changed, every
translation is dropped (simple; guest code changes are rare next to its execution).

NativeHartRunner has HartRunner's interface (step, take_interrupt, update_flags,
tbc.flush...) so that TcgAccelerator runs either.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable

from ...target.riscv import cpu_state as cs
from ...target.riscv import interp_x86_64 as interp
from ...target.riscv import trap as t
from ...target.riscv.hart import RiscvSystemHart
from ...target.riscv.translate import MAX_INSNS, RiscvTranslator
from ...tcg.backends.x86_64 import asm as A
from ...tcg.backends.x86_64 import codebuf as CB
from ...tcg.backends.x86_64 import codegen, ptw, regs
from ...tcg.backends.x86_64 import softmmu as backend_softmmu
from ...tcg.backends.x86_64.runtime import EntryFn, HelperTable, emit_prologue
from ...tcg.backends.x86_64.softmmu import JC_FLAGS_SHIFT, emit_thunks
from ...tcg.ir import ExitReason, Helper, TCGContext
from ...tcg.optimize import optimize
from . import system_exits as sx
from .native_interp_exits import (
    INTERP_FETCH_WORD,
    INTERP_TLB_WORD,
    INTERP_VA_WORD,
    SINGLE,
    InterpreterExits,
)
from .native_tlb import TLB_ENTRIES, NativeTLB, mode_index
from .softmmu import FetchView, SoftMMU
from .translate_common import PAGE_BITS, GuestFetchFault

PAGE = 1 << PAGE_BITS
ENV = regs.EnvLayout(pc=cs.PC, exit_aux=72, helper_out2=73, helper_raised=74, scratch=75)
EXIT_WORD, JC_WORD, FLAGS_WORD, TLB_WORD = 76, 77, 78, 79
# The page-table walker's words (ptw.py): configuration, root table, RAM's physical
# base, size and host address, its area; it fills the current mode's TLB (107).
WALK = ptw.WalkLayout(cfg=184, root=185, ram_base=186, ram_size=187, ram_host=188, aux=189,
                      tlb=INTERP_TLB_WORD, tlb_mask=TLB_ENTRIES - 1)
JC_ENTRIES = 65536


class NativeTB:
    __slots__ = ("tb_id", "pc", "end", "n_insns", "off", "host", "jump_slots", "targets",
                 "key", "phys2", "generation", "incoming")


class NativeSystemCode:
    """Code buffer and translations shared by the harts of one machine."""

    def __init__(self) -> None:
        self.cb = CB.CodeBuffer()
        self.entry_off, self.epilogue = emit_prologue(self.cb)
        self.enter = EntryFn(self.cb.exec_base + self.entry_off)
        self.runners: dict[int, NativeHartRunner] = {}  # env address -> runner
        self.helpers = HelperTable(ENV, lambda env: self.runners[env].q,
                                   {"csr_sys": self._csr, "sys_load": self._load,
                                    "sys_store": self._store})
        # The softmmu slow-path thunks live right after the prologue, at offsets that
        # are the same in every run (persistent translations call them).
        # Before them, the page-table walker they (and the interpreter) call first.
        a = A.Assembler()
        walker = ptw.emit_walker(a, WALK)
        thunks = emit_thunks(a, self.helpers.address, SYS_LOAD, SYS_STORE, walker)
        base = self.cb.top
        self.cb.place(a.buf, base)
        self.cb.top = base + len(a.buf)
        self.thunks = {k: base + off for k, off in thunks.items()}
        self.walker = (base + walker[0], base + walker[1])
        # Tier 0: cold code runs in the interpreter (interp_x86_64) until it is hot.
        self.interp_host = 0
        if os.environ.get("PYQEMU_INTERP", "on") != "off":
            self.interp_host = self._place_interpreter()
        self.code_start = self.cb.top
        self.by_key: dict[tuple[int, int, int], NativeTB] = {}
        self.by_id: list[NativeTB] = []
        # Physical pages holding translated code, with a copy of their bytes (None for
        # ROM). Stores reach such a page through the slow path only, which adds it to
        # `written`, as do device writes; fence.i compares just those pages.
        self.code_pages: dict[int, bytes | None] = {}
        self.written: set[int] = set()
        self.written_lock = threading.Lock()  # device writes come from other threads
        self.page_tbs: dict[int, list[NativeTB]] = {}  # physical page -> its blocks
        self.generation = 0
        self.translate_ns = 0
        self.translated_insns = 0
        self.shared: dict = {}  # the accelerator clears it on reset (API of SystemTBCache)
        self.persist = None  # tb_persist.PersistentBlocks of this boot configuration
        self.reused = 0
        self.by_q: dict[int, NativeHartRunner] = {}
        self.csr_visits: dict[int, int] = {}  # pc -> CSR accesses the loop carried out

    def _place_interpreter(self) -> int:
        from . import interp_assets

        cb = self.cb
        at = (cb.top + 15) & ~15
        layout = interp.SystemLayout(
            EXIT_WORD, JC_WORD, FLAGS_WORD, INTERP_TLB_WORD, INTERP_FETCH_WORD,
            JC_ENTRIES - 1, JC_FLAGS_SHIFT, TLB_ENTRIES - 1, backend_softmmu.TAG_READ,
            backend_softmmu.TAG_WRITE, backend_softmmu.ADDEND, backend_softmmu.ENTRY_SHIFT,
            INTERP_VA_WORD, *self.walker)
        code = interp_assets.interpreter(at, self.epilogue, 0, layout)
        cb.place(code.code, at)
        cb.top = at + len(code.code)
        cb.rw[CB.RVC_TABLE:CB.RVC_TABLE + 4 * 65536] = interp_assets.rvc_table()
        self.counters = interp_assets.TierCounters(cb, True)
        self.trampolines = interp_assets.Trampolines(cb, cb.exec_base + at + code.entry,
                                                     cb.exec_base + at + code.entry_counted)
        return cb.exec_base + at + code.entry

    # Helpers reach their hart through the state buffer they are called with.
    def _csr(self, q, csr, src, kind, writes, raw):
        return self.by_q[id(q)].hart.csrs.access(csr, src, kind, writes, raw)

    def _load(self, q, va, size, signed):
        return self.by_q[id(q)].smmu.load(va, size, signed)

    def _store(self, q, va, size, value):
        return self.by_q[id(q)].smmu.store(va, size, value)

    def add_runner(self, r: NativeHartRunner) -> None:
        self.runners[r.env] = r
        self.by_q = {id(x.q): x for x in self.runners.values()}
        if len(self.runners) == 1:
            self._open_persistent(r.machine)
            r.machine.sysmem.ram_write_hooks.append(self.note_ram_write)

    def _open_persistent(self, machine) -> None:
        """Translations kept across runs of the same firmware and kernel (tb_persist)."""
        from . import tb_persist

        cfg = getattr(machine, "config", None)
        if cfg is None or not tb_persist.enabled(getattr(machine, "tb_cache", None)):
            return
        files = [p if p and os.path.isfile(p) else None
                 for p in (getattr(cfg, "bios", None), getattr(cfg, "kernel", None))]
        try:
            self.persist = tb_persist.PersistentBlocks.for_files(
                f"system:{type(machine).__name__}", *files)
        except OSError:
            return
        if self.interp_host:  # the interpreter asks for these at their first visit
            self.counters.arm(vpc for vpc, _, flags in self.persist.blocks if not flags & SINGLE)

    def save_translations(self) -> None:
        """At machine exit: keep this run's translations for the next one."""
        if self.persist is not None:
            self.persist.save()

    def flush(self) -> None:
        self.generation += 1
        self.by_key.clear()
        self.by_id.clear()
        if self.interp_host:
            self.trampolines.clear()
        self.code_pages.clear()
        with self.written_lock:
            self.written.clear()
        self.page_tbs.clear()
        self.cb.reset(self.code_start)
        for r in self.runners.values():
            r.tlb.clear_map(ptw.MAP_CODE)
        for r in self.runners.values():
            r.flush_jump_cache()

    # ------------------------------------------------------------ translation
    def build(self, r: NativeHartRunner, vpc: int, ppc: int, flags: int,
              single: bool = False) -> NativeTB:
        """Translate vpc's block; ``single``: just its first instruction, for the
        interpreter, which leaves on an instruction it does not run (kept apart from
        full blocks by SINGLE in the key's flags)."""
        t0 = time.perf_counter_ns()
        tr = r.translator
        key = (vpc, ppc, flags | SINGLE if single else flags)
        # Translations for the debugger (blocks ending at breakpoints, one-instruction
        # steps) are not the ones kept for later runs.
        persist = self.persist if not tr.breakpoints and tr.max_insns == MAX_INSNS else None
        if persist is not None:
            tb = self.from_persistent(r, *key)
            if tb is not None:
                self.translate_ns += time.perf_counter_ns() - t0
                return tb
        try:
            n_insns, end, blk = self.translate_block(tr, r.fetch, vpc, flags, single)
        except GuestFetchFault:
            raise r.fetch_trap(vpc) from None
        if persist is not None:
            data = r.code_bytes(vpc, ppc, end)
            if data is not None:
                persist.add(key, end, data, n_insns, blk)
        tb = self._place(r, key, end, n_insns, len(blk.code),
                         lambda at, tb_id, helper_address:
                         codegen.relocate(blk.code, blk.relocs, at, tb_id, helper_address),
                         blk.jump_slots, blk.targets)
        self.translate_ns += time.perf_counter_ns() - t0
        self.translated_insns += n_insns
        return tb

    def translate_block(self, tr: RiscvTranslator, fetch, vpc: int, flags: int,
                        single: bool = False) -> tuple[int, int, codegen.NativeBlock]:
        """Guest code at vpc -> (instructions, end, machine code with relocations), for
        any buffer offset and block id (raises GuestFetchFault when vpc cannot be
        fetched); ``fetch`` is what ``tr`` reads code through."""
        tr.flags = flags
        dpriv = (flags >> 2) & 3
        tlb_off = mode_index(dpriv, bool(flags >> 4 & 1), bool(flags >> 5 & 1)) \
            * TLB_ENTRIES * 32
        target = codegen.BlockTarget(
            tb_id=len(self.by_id), at=self.cb.top, exec_base=self.cb.exec_base,
            exit_flag=CB.EXIT_FLAG, jump_cache=CB.JUMP_CACHE, jc_mask=JC_ENTRIES - 1,
            epilogue=self.epilogue, low=0, helper_address=self.helpers.address, env=ENV,
            system=codegen.SystemTarget(EXIT_WORD, JC_WORD, FLAGS_WORD, TLB_WORD, tlb_off,
                                        TLB_ENTRIES - 1, self.thunks))
        saved = tr.max_insns
        if single:
            tr.max_insns = 1
        try:
            while True:
                ctx = TCGContext(tr.globals)
                fetch.begin()
                try:
                    n_insns, end = tr.translate(ctx, vpc)
                finally:
                    fetch.end()
                optimize(ctx)
                try:
                    return n_insns, end, codegen.generate(ctx.ops, vpc, target)
                except codegen.TranslationTooBig:  # more spills than the frame holds
                    tr.max_insns = max(1, min(tr.max_insns, n_insns) // 2)
        finally:
            tr.max_insns = saved

    def from_persistent(self, r: NativeHartRunner, vpc: int, ppc: int,
                        flags: int) -> NativeTB | None:
        """The block an earlier boot translated from the same bytes, placed, if any."""
        key = (vpc, ppc, flags)
        entry = self.persist.find(key, lambda end: r.code_bytes(vpc, ppc, end))
        if entry is None:
            return None
        self.reused += 1
        return self._place(r, key, entry.end, entry.n_insns, entry.size, entry.code,
                           entry.jump_slots, entry.targets)

    def _place(self, r: NativeHartRunner, key: tuple, end: int, n_insns: int, size: int,
               code: Callable, jump_slots: dict, targets: dict) -> NativeTB:
        """Put a block's code into the buffer and register it; ``code(at, tb_id,
        helper_address)`` gives its bytes relocated for buffer offset ``at``."""
        vpc, ppc, flags = key
        at = (self.cb.top + 15) & ~15
        if at + size > self.cb.size:
            self.flush()
            at = self.cb.top
        tb = NativeTB()
        tb.tb_id = len(self.by_id)
        tb.pc, tb.end, tb.n_insns, tb.off = vpc, end, n_insns, at
        tb.host = self.cb.exec_base + at
        tb.jump_slots, tb.targets = jump_slots, targets
        tb.generation = self.generation
        tb.key = key
        tb.incoming = []
        tb.phys2 = None
        if (end - 1) >> PAGE_BITS != vpc >> PAGE_BITS:
            tb.phys2 = r.smmu.fetch_page(end - 1) & ~(PAGE - 1)
        self.cb.place(code(at, tb.tb_id, self.helpers.address), at)
        self.cb.top = at + size
        self.by_id.append(tb)
        self.by_key[tb.key] = tb
        for page in {ppc & ~(PAGE - 1), tb.phys2}:
            if page is None:
                continue
            if page not in self.code_pages:
                self.code_pages[page] = r.page_snapshot(page)
                for runner in self.runners.values():
                    # (first: the walker must not let stores to it in again)
                    runner.tlb.allow(page - runner.smmu.ram_base, ptw.MAP_CODE)
                    runner.smmu.protect_code_page(page)
            self.page_tbs.setdefault(page, []).append(tb)
        return tb

    def chain(self, tb: NativeTB, slot: int, nxt: NativeTB) -> None:
        if tb.generation != self.generation or nxt.generation != self.generation:
            return
        at = tb.off + tb.jump_slots[slot]
        self.cb.rw[at:at + 4] = (nxt.off - (at + 4)).to_bytes(4, "little", signed=True)
        nxt.incoming.append((tb, slot))

    def exit_to_interpreter(self, tb: NativeTB, slot: int, target: int) -> None:
        """Patch tb's direct exit to a trampoline into the interpreter at target (any
        page: the interpreter checks the mapping as it fetches)."""
        if tb.generation == self.generation:
            self.trampolines.patch_exit(tb.off + tb.jump_slots[slot], target)

    def note_ram_write(self, addr: int, n: int) -> None:
        """AddressSpace hook: a write into RAM other than a TLB fast-path store (a
        slow-path store, a device, a loader)."""
        for page in range(addr & ~(PAGE - 1), addr + n, PAGE):
            if page in self.code_pages:
                with self.written_lock:
                    self.written.add(page)

    def check_code_pages(self, r: NativeHartRunner, everything: bool = False) -> None:
        """fence.i: drop the blocks of every code page whose bytes changed; only pages
        written since the last check can have (``everything``: compare them all, for
        a loadvm that rewrote RAM behind the hooks' back)."""
        with self.written_lock:
            pages = list(self.code_pages) if everything else list(self.written)
            self.written.clear()
        code_pages = self.code_pages
        changed = [page for page in pages
                   if code_pages.get(page) is not None and r.page_snapshot(page) != code_pages[page]]
        self.drop_pages(changed)
        for page in pages:  # unchanged: stores to it take the slow path again
            if page in code_pages:
                for runner in self.runners.values():
                    runner.smmu.protect_code_page(page)

    def drop_pages(self, pages: list[int]) -> None:
        """Forget the blocks of these physical pages (unchaining jumps into them)."""
        if not pages:
            return
        for page in pages:
            self.code_pages.pop(page, None)
            self.written.discard(page)
            for runner in self.runners.values():
                runner.tlb.disallow(page - runner.smmu.ram_base, ptw.MAP_CODE)
            for tb in self.page_tbs.pop(page, ()):
                if self.by_key.get(tb.key) is tb:
                    del self.by_key[tb.key]
                tb.generation = -1  # never chained to again
                for src, slot in tb.incoming:
                    if src.generation == self.generation:
                        at = src.off + src.jump_slots[slot]
                        self.cb.rw[at:at + 4] = b"\0\0\0\0"  # back to its exit
        for runner in self.runners.values():
            runner.flush_jump_cache()


def _sys_load(q, va, size, signed):  # placeholders: NativeSystemCode binds them per hart
    raise RuntimeError("sys_load is bound by the native system accelerator")


def _sys_store(q, va, size, value):
    raise RuntimeError("sys_store is bound by the native system accelerator")


SYS_LOAD = Helper("sys_load", _sys_load, 1, state=True, can_raise=True)
SYS_STORE = Helper("sys_store", _sys_store, 0, state=True, can_raise=True)


class _TbcView:
    """What TcgAccelerator reads of a runner's block cache (stats, reset)."""

    def __init__(self, code: NativeSystemCode) -> None:
        self.code = code
        self.shared = code.shared

    @property
    def by_key(self):
        return self.code.by_key

    @property
    def translated_insns(self) -> int:
        return self.code.translated_insns

    @property
    def translate_ns(self) -> int:
        return self.code.translate_ns

    @property
    def code_pages(self) -> dict:
        return self.code.code_pages

    def flush(self) -> None:
        self.code.flush()

    def check_code_pages(self) -> None:
        runners = list(self.code.runners.values())
        if runners:
            self.code.check_code_pages(runners[0], everything=True)

    def drop_pages(self, pages: list[int]) -> None:
        self.code.drop_pages(pages)


class NativeHartRunner(InterpreterExits):
    """Runs one hart on native code; the counterpart of system.HartRunner."""

    def __init__(self, hart: RiscvSystemHart, machine, code: NativeSystemCode) -> None:
        self.hart = hart
        self.q = hart.q
        self.machine = machine
        self.code = code
        self.smmu = SoftMMU(hart, machine.sysmem)
        ram_host = self._ram_host()
        self.tlb = NativeTLB(ram_host, self.smmu.ram_size)
        self.smmu.native = self.tlb
        self.walk = os.environ.get("PYQEMU_PTW", "on") != "off"
        self.walk_root = -1  # the root table the walker's words are for
        self.flags = -1
        self.fetch = FetchView(self.smmu)
        self.translator = RiscvTranslator(self.fetch, self.fetch.can_execute)
        self.translator.system = True
        self.jc = (ctypes.c_uint64 * (JC_ENTRIES * 4))()
        self.jc_addr = ctypes.addressof(self.jc)
        self.jcq = memoryview(self.jc).cast("B").cast("Q")
        self.jc_pages: dict[int, set[tuple[int, int]]] = {}  # virtual page -> its (pc, flags)
        self.env = ctypes.addressof(hart.state)
        q = self.q
        q[EXIT_WORD] = 0
        # The hart's exit request becomes the state word generated code tests.
        hart.exit_request = q[EXIT_WORD:EXIT_WORD + 1]
        hart.on_tlb_flush = self.flush_tlb
        # A CSR write that changes state ends its block with STATE_CHANGED, which checks
        # for a deliverable interrupt (_state_changed): no need to leave the loop too.
        hart.state_changed = hart.on_state_change
        self.ram_view = self.smmu.ram
        self.tbc = _TbcView(code)
        self.debug_hit: int | None = None
        self.flush_jump_cache()
        code.add_runner(self)
        self.update_flags()

    def _ram_host(self) -> int:
        smmu = self.smmu
        for s in self.machine.sysmem.ram_sections():
            if s.base == smmu.ram_base and s.size == smmu.ram_size:
                return s.ram.host_addr + s.ram_offset
        raise RuntimeError("native TCG: the machine's RAM has no host address")

    # ------------------------------------------------------------ state
    def page_snapshot(self, page: int) -> bytes | None:
        off = page - self.smmu.ram_base
        if 0 <= off < self.smmu.ram_size:
            return bytes(self.ram_view[off:off + PAGE])
        return None

    def code_bytes(self, vpc: int, ppc: int, end: int) -> bytes | None:
        """The guest bytes of a block at vpc..end (None unless they are all in RAM)."""
        n = end - vpc
        first = min(n, PAGE - (vpc & (PAGE - 1)))
        parts = [(ppc, first)]
        if first < n:
            parts.append((self.smmu.fetch_page(end - 1) & ~(PAGE - 1), n - first))
        out = b""
        for pa, k in parts:
            off = pa - self.smmu.ram_base
            if not (0 <= off and off + k <= self.smmu.ram_size):
                return None
            out += self.ram_view[off:off + k]
        return out

    def flush_jump_cache(self) -> None:
        ctypes.memset(ctypes.addressof(self.jc), 0xFF, ctypes.sizeof(self.jc))
        self.jc_pages.clear()

    def flush_jump_cache_page(self, vpn: int) -> None:
        """sfence.vma of one page: forget the jump-cache entries into that page."""
        q = self.jcq
        for vpc, flags in self.jc_pages.pop(vpn, ()):
            e = self._jc_entry(vpc, flags)
            if q[e] == vpc and q[e + 1] == flags:
                q[e] = 1

    def flush_tlb(self, keep_global: bool = False) -> None:
        self._walk_config()  # (satp may have changed)
        vpns = self.smmu.flush(keep_global)
        if vpns is None:
            self.flush_jump_cache()
        else:
            for vpn in vpns:
                self.flush_jump_cache_page(vpn)

    def update_flags(self) -> None:
        """The TB flags may have changed (or the hart was reset: its state words are set
        again). Called after every CSR write that may matter: cheap when nothing did."""
        q = self.q
        flags = self.hart.tb_flags()
        if flags == self.flags and q[JC_WORD] == self.jc_addr \
                and q[WALK.aux] == self.tlb.aux_addr and q[WALK.root] == self.walk_root:
            return  # (a reset or a loadvm rewrites the words: then all is set again)
        self.flags = flags
        q[FLAGS_WORD] = self.flags
        q[JC_WORD] = ctypes.addressof(self.jc)
        q[TLB_WORD] = self.tlb.addr
        flags = self.flags
        q[INTERP_TLB_WORD] = self.tlb.addr + mode_index(
            (flags >> 2) & 3, bool(flags >> 4 & 1), bool(flags >> 5 & 1)) * TLB_ENTRIES * 32
        q[INTERP_FETCH_WORD] = self.tlb.fetch_cache(self.hart.q_priv())
        self._walk_config()

    def _walk_config(self) -> None:
        """The page-table walker's words for the current data mode and satp."""
        q = self.q
        smmu, tlb = self.smmu, self.tlb
        dpriv, sum_, mxr = self.hart.data_mode()
        satp = q[cs.SATP]
        cfg = ptw.config(dpriv, sum_, mxr, satp) if self.walk else 0
        q[WALK.root] = self.walk_root = (satp & ((1 << 44) - 1)) << PAGE_BITS
        q[WALK.ram_base], q[WALK.ram_size] = smmu.ram_base, smmu.ram_size
        q[WALK.ram_host], q[WALK.aux] = tlb.ram_host, tlb.aux_addr
        if cfg:
            tlb.walk_mode = mode_index(dpriv, sum_, mxr)
            tlb.used.add(tlb.walk_mode)
        else:
            tlb.walk_mode = None
        q[WALK.cfg] = cfg

    def fetch_trap(self, vpc: int) -> t.RiscvTrap:
        return sx.fetch_trap(self.smmu, vpc)

    # ------------------------------------------------------------ blocks
    def lookup(self, vpc: int) -> NativeTB:
        """The block for vpc under the current flags (raises RiscvTrap on a fetch fault)."""
        code = self.code
        ppc = self.smmu.fetch_page(vpc)
        key = (vpc, ppc, self.flags)
        tb = code.by_key.get(key)
        if tb is None or (tb.phys2 is not None
                          and self.smmu.fetch_page(tb.end - 1) & ~(PAGE - 1) != tb.phys2):
            tb = code.build(self, vpc, ppc, self.flags)
        return tb

    @staticmethod
    def _jc_entry(vpc: int, flags: int) -> int:
        """Word index of (vpc, flags)'s jump-cache entry (as generated code computes it)."""
        return 4 * (((vpc ^ (flags << JC_FLAGS_SHIFT)) >> 1) & (JC_ENTRIES - 1))

    def _set_jc(self, vpc: int, tb: NativeTB) -> None:
        self._set_jc_host(vpc, tb.host, tb.end - 1 if tb.phys2 is not None else None)

    def _set_jc_host(self, vpc: int, host: int, last: int | None) -> None:
        """Jump-cache entry (vpc, flags) -> host; last: the address of a second page the
        code there depends on."""
        flags = self.flags
        e = self._jc_entry(vpc, flags)
        q = self.jcq
        q[e] = 1
        q[e + 1] = flags
        q[e + 2] = host
        q[e] = vpc
        self.jc_pages.setdefault(vpc >> PAGE_BITS, set()).add((vpc, flags))
        if last is not None:  # also forgotten with the block's second page
            self.jc_pages.setdefault(last >> PAGE_BITS, set()).add((vpc, flags))

    # ------------------------------------------------------------ exits
    def _exit_tb(self, reason: ExitReason) -> None:
        """Carry out an exit_tb; on return q's pc is where to continue."""
        if reason == ExitReason.LOOKUP:
            return
        if reason == ExitReason.STATE_CHANGED:
            self._state_changed()
        elif reason == ExitReason.SYSCALL:
            raise sx.ecall(self.q)
        elif reason == ExitReason.EBREAK:
            raise sx.ebreak()
        elif reason == ExitReason.ILLEGAL:
            raise sx.illegal(self)
        elif reason == ExitReason.FENCE_I:
            self.code.check_code_pages(self)
        elif reason == ExitReason.MRET:
            sx.mret(self)
            self._state_changed()
        elif reason == ExitReason.SRET:
            sx.sret(self)
            self._state_changed()
        elif reason == ExitReason.WFI:
            sx.wfi(self)
        elif reason == ExitReason.SFENCE_VMA:
            sx.sfence_vma(self)
        elif reason == ExitReason.DEBUG:
            # A gdb breakpoint (pyqemu.gdbstub): stop before the instruction at pc.
            self.debug_hit = self.q[cs.PC]
            self.hart.exit_request[0] = 1
        else:
            raise RuntimeError(f"native TCG: unexpected exit {reason.name}")

    def _state_changed(self) -> None:
        """Privilege, mstatus or an interrupt enable changed: new flags, and back to the
        accelerator's loop only if an interrupt can now be taken."""
        self.update_flags()
        if t.pending_interrupt(self.q, self.hart.mip()) is not None:
            self.hart.exit_request[0] = 1

    # ------------------------------------------------------------ the loop
    def take_interrupt(self) -> bool:
        return sx.take_interrupt(self)

    def step_one(self) -> None:
        """Execute one instruction (the gdbstub's single-step, with the translator in
        one-instruction mode): one block, never chained, the jump cache left alone, so
        generated code cannot go on into another block."""
        q = self.q
        code = self.code
        X = self.hart.exit_request
        X[0] = 0
        try:
            tb = self.lookup(q[cs.PC])
            self.flush_jump_cache()
            res = code.enter(self.env, tb.host, _CONSTS)
            kind = res & 0xFF
            tb = code.by_id[res >> 8]
            if kind < regs.EXIT_LOOKUP:
                q[cs.PC] = tb.targets[kind]
            elif kind == regs.EXIT_TB:
                self._exit_tb(ExitReason(q[ENV.exit_aux]))
            elif kind == regs.EXIT_RAISED:
                q[ENV.helper_raised] = 0
                raise code.helpers.pending.pop(self.env)
            elif kind == regs.EXIT_REQUEST:
                q[cs.PC] = tb.pc
        except t.RiscvTrap as e:
            sx.enter_trap(self, e)

    def step(self) -> None:
        """Run this hart until its exit request is raised."""
        q = self.q
        if not sx.begin_step(self):
            return
        code = self.code
        enter = code.enter
        env = self.env
        consts = _CONSTS
        pending = code.helpers.pending
        # The interpreter knows nothing of gdb's breakpoints and single steps (translated
        # blocks end at them): not while a debugger asks for either.
        tr = self.translator
        interp_host = code.interp_host \
            if not tr.breakpoints and tr.max_insns == MAX_INSNS else 0
        try:
            host = self._start(q[cs.PC], interp_host)
            while True:
                res = enter(env, host, consts)
                kind = res & 0xFF
                if res >> regs.EXIT_SHIFT == interp.INTERP_ID:
                    host = self._interp_exit(kind)
                    if not host:
                        return  # the exit request (pc is exact)
                    continue
                tb = code.by_id[res >> 8]
                if kind < regs.EXIT_LOOKUP:
                    target = tb.targets[kind]
                    q[cs.PC] = target
                    nxt = self._existing(target) if interp_host else self.lookup(target)
                    if nxt is None:  # cold: the interpreter runs it (and counts it)
                        code.exit_to_interpreter(tb, kind, target)
                        host = interp_host
                        continue
                    if target >> PAGE_BITS == tb.pc >> PAGE_BITS and tb.phys2 is None:
                        code.chain(tb, kind, nxt)
                    host = nxt.host
                elif kind == regs.EXIT_LOOKUP:
                    vpc = q[cs.PC]
                    nxt = self._existing(vpc) if interp_host else self.lookup(vpc)
                    if nxt is None:
                        # Cold: the jump cache leads into the interpreter from now on
                        # (until the target is translated and takes the entry over).
                        off = code.trampolines.get(vpc, True)
                        if off:
                            self._set_jc_host(vpc, code.cb.exec_base + off, None)
                        host = interp_host
                        continue
                    self._set_jc(vpc, nxt)
                    host = nxt.host
                elif kind == regs.EXIT_REQUEST:
                    q[cs.PC] = tb.pc
                    return
                elif kind == regs.EXIT_TB:
                    self._exit_tb(ExitReason(q[ENV.exit_aux]))
                    host = self._start(q[cs.PC], interp_host)
                elif kind == regs.EXIT_RAISED:
                    q[ENV.helper_raised] = 0
                    raise pending.pop(env)
                else:
                    raise RuntimeError(f"native TCG: bad exit code {res:#x}")
        except t.RiscvTrap as e:
            sx.enter_trap(self, e)

    def _start(self, vpc: int, interp_host: int) -> int:
        """Where to run vpc: its block if there is one, else the interpreter."""
        if not interp_host:
            return self.lookup(vpc).host
        tb = self._existing(vpc)
        return tb.host if tb is not None else interp_host

    def _existing(self, vpc: int) -> NativeTB | None:
        """vpc's block under the current flags, if it was translated (raises RiscvTrap on
        a fetch fault)."""
        ppc = self.smmu.fetch_page(vpc)
        code = self.code
        tb = code.by_key.get((vpc, ppc, self.flags))
        if tb is None:
            # A warm boot: what an earlier boot translated is placed as soon as the loop
            # sees it, rather than interpreted up to the tier-up.
            if code.persist is not None and not self.translator.breakpoints:
                return code.from_persistent(self, vpc, ppc, self.flags)
            return None
        if tb.phys2 is not None \
                and self.smmu.fetch_page(tb.end - 1) & ~(PAGE - 1) != tb.phys2:
            return None
        return tb


_CONSTS = (ctypes.c_uint64 * 3)(0, 0, 0)  # guest_base, mask, limit: unused with a softmmu
