"""Translation blocks of one system-mode hart.

Blocks are keyed by (virtual pc, physical pc, flags): the physical pc because the same
code may be reached through several mappings and a mapping may change, the virtual pc
because generated code holds pc-relative values, the flags because privilege, the
data-access mode and the FP state change what a block does. A per-flags jump cache
maps virtual pcs to block functions; it is dropped with the TLB (satp, sfence.vma).

Chaining follows QEMU's rule: a direct jump is patched only to a target in the same
virtual page, so a chained successor is always valid when its predecessor is (the
predecessor was entered through a lookup that checked the page's mapping).

Code pages: the first block on a physical page takes a snapshot of the page. fence.i
compares each code page with its snapshot and drops the blocks of pages that changed
(RISC-V software must execute fence.i — or ask the SBI for a remote one — before
running code it wrote, so stores need no per-access check).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ...target.riscv import trap as t
from ...tcg.ir import TCGContext
from . import system_exits
from .tb_cache import PAGE_BITS, GuestFetchFault, TBCache, TranslationBlock

PAGE = 1 << PAGE_BITS


class SystemTBCache(TBCache):
    def __init__(self, runner, translator, runtime_ns: dict, log=None,
                 exec_log: bool = False, shared: dict | None = None) -> None:
        super().__init__(translator, runtime_ns, 0, 0, log, exec_log)
        # Translations shared by the harts of a machine: key -> (BlockCode, page bytes
        # it was translated from, second page or None).
        self.shared = {} if shared is None else shared
        self.runner = runner
        self.smmu = runner.smmu
        self.by_key: dict[tuple[int, int, int], TranslationBlock] = {}
        self.jcs: dict[int, dict[int, Callable]] = {}
        self.flags = 0
        self.jc: dict[int, Callable] = {}
        self.jc_pages: set[int] = set()  # virtual pages with jump-cache entries
        self.code_pages: dict[int, bytes | None] = {}  # physical page -> snapshot
        self.page_tbs: dict[int, list[TranslationBlock]] = {}

    def set_flags(self, flags: int) -> None:
        self.flags = flags
        jc = self.jcs.get(flags)
        if jc is None:
            jc = self.jcs[flags] = {}
        self.jc = jc

    def flush_jump_cache_page(self, vpn: int) -> None:
        """Forget the jump-cache entries of one virtual page (sfence.vma with rs1)."""
        if vpn not in self.jc_pages:
            return  # a data page: the common case
        self.jc_pages.discard(vpn)
        for jc in self.jcs.values():
            for vpc in [v for v in jc if v >> PAGE_BITS == vpn]:
                del jc[vpc]

    def flush_jump_cache(self) -> None:
        for jc in self.jcs.values():
            jc.clear()
        self.jc_pages.clear()

    # ------------------------------------------------------------ lookup
    def lookup(self, vpc: int) -> Callable:
        """The block function for vpc under the current flags; raises RiscvTrap when
        the instruction cannot be fetched."""
        fn = self.jc.get(vpc)
        if fn is not None:
            return fn
        ppc = self.smmu.fetch_page(vpc)
        key = (vpc, ppc, self.flags)
        tb = self.by_key.get(key)
        if tb is None or (tb.phys2 is not None
                          and self.smmu.fetch_page(tb.end - 1) & ~(PAGE - 1) != tb.phys2):
            tb = self.build_system(vpc, ppc)
        self.jc[vpc] = tb.fn
        self.jc_pages.add(vpc >> PAGE_BITS)
        return tb.fn

    def lookup_q(self, q) -> Callable:
        """Indirect jump from generated code: must not raise (a fetch fault belongs to
        the target, not to the jumping instruction)."""
        vpc = q[64]
        fn = self.jc.get(vpc)
        if fn is not None:
            return fn
        try:
            return self.lookup(vpc)
        except t.RiscvTrap as e:
            return self._trap_fn(vpc, e)

    def _trap_fn(self, vpc: int, e: t.RiscvTrap) -> Callable:
        def fetch_trap(q):
            q[64] = vpc
            raise e
        fetch_trap.guest_pc = vpc
        return fetch_trap

    def fetch_trap(self, vpc: int) -> t.RiscvTrap:
        """The exception a failed fetch at vpc raises (first or second halfword)."""
        return system_exits.fetch_trap(self.smmu, vpc)

    # ------------------------------------------------------------ build
    def build_system(self, vpc: int, ppc: int) -> TranslationBlock:
        t0 = time.perf_counter_ns()
        key = (vpc, ppc, self.flags)
        page = ppc & ~(PAGE - 1)
        snap = self.runner.page_snapshot(page)
        shared = self.shared.get(key)
        if shared is not None and shared[1] == snap and shared[2] is None:
            # Another hart translated this code from the same bytes: bind its code here.
            tb = self.instantiate(shared[0], self.runner.block_ns(self.flags))
            n_insns, end = tb.n_insns, tb.end
        else:
            ctx = TCGContext(self.translator.globals)
            self.translator.flags = self.flags
            try:
                n_insns, end = self.translator.translate(ctx, vpc)
            except GuestFetchFault:
                raise self.fetch_trap(vpc) from None
            tb = self.compile_block(ctx, vpc, n_insns, end, self.runner.block_ns(self.flags),
                                    softmmu=True)
            self.translated_insns += n_insns
        tb.phys2 = None
        if (end - 1) >> PAGE_BITS != vpc >> PAGE_BITS:
            tb.phys2 = self.smmu.fetch_page(end - 1) & ~(PAGE - 1)
        if snap is not None:
            self.shared[key] = (tb.template, snap, tb.phys2)
        tb.key = (vpc, ppc, self.flags)
        for i, target in enumerate(tb.targets):
            tb.jumps[i] = self._system_stub(tb, i, target)
        self.by_key[tb.key] = tb
        for page in {ppc & ~(PAGE - 1), tb.phys2}:
            if page is None:
                continue
            if page not in self.code_pages:
                self.code_pages[page] = self.runner.page_snapshot(page)
            self.page_tbs.setdefault(page, []).append(tb)
        self.translate_ns += time.perf_counter_ns() - t0
        return tb

    def _system_stub(self, tb: TranslationBlock, slot: int, target: int) -> Callable:
        jumps = tb.jumps
        same_page = target >> PAGE_BITS == tb.pc >> PAGE_BITS and tb.phys2 is None

        def chain_stub(q):
            q[64] = target
            try:
                fn = self.lookup(target)
            except t.RiscvTrap as e:
                return self._trap_fn(target, e)(q)
            if same_page and tb.key in self.by_key:
                jumps[slot] = fn
            return fn(q)

        chain_stub.guest_pc = target
        return chain_stub

    # ------------------------------------------------------------ invalidation
    def check_code_pages(self) -> None:
        """fence.i: drop the blocks of every code page whose bytes changed."""
        changed = [page for page, snap in self.code_pages.items()
                   if snap is not None and self.runner.page_snapshot(page) != snap]
        if changed:
            self.drop_pages(changed)

    def drop_pages(self, pages: list[int]) -> None:
        dropped: set[int] = set()
        for page in pages:
            for tb in self.page_tbs.pop(page, ()):
                self.by_key.pop(tb.key, None)
                dropped.add(id(tb.fn))
            self.code_pages.pop(page, None)
        if not dropped:
            return
        self.flush_jump_cache()
        # Unchain jumps into dropped blocks (only a page-crossing block can be reached
        # from a block of another physical page).
        for tbs in self.page_tbs.values():
            for tb in tbs:
                for i, fn in enumerate(tb.jumps):
                    if id(fn) in dropped:
                        tb.jumps[i] = self._system_stub(tb, i, tb.targets[i])

    def flush(self) -> None:
        self.by_key.clear()
        self.code_pages.clear()
        self.page_tbs.clear()
        self.flush_jump_cache()
