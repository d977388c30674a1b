"""What a system-mode hart's loop does when the interpreter tier leaves
(target/riscv/interp_x86_64): check a new code page, place or translate a hot block,
refill the data TLB for an access that missed, carry out a privileged instruction
(interp_sysinsn) or give an instruction the interpreter does not run its
one-instruction block. A mixin of native_system.NativeHartRunner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...target.riscv import cpu_state as cs
from ...target.riscv import interp_x86_64 as interp
from ...tcg.backends.x86_64 import regs
from . import interp_sysinsn
from .translate_common import PAGE_BITS

if TYPE_CHECKING:
    from .native_system import NativeTB

PAGE = 1 << PAGE_BITS
# The interpreter tier's words: the current data mode's TLB, the hart's fetch-page cache.
INTERP_TLB_WORD, INTERP_FETCH_WORD = 107, 108
INTERP_VA_WORD = 109  # and 110: a TLB miss's address and tag (interp.I_TLB_READ)
# In a block's key, beside the TB flags: a block of one instruction made for the
# interpreter (a CSR access, a TLB miss...), which a tier-up does not take for the
# full block at that pc. Most such instructions sit in code that runs a few times:
# translating only them costs a fraction of their whole block.
SINGLE = 1 << 16


class InterpreterExits:
    """The interpreter's exits (NativeHartRunner provides q, smmu, tlb, code, hart,
    flags, lookup, _existing, _start, _set_jc)."""

    def _single(self, vpc: int) -> NativeTB:
        """The one-instruction block at vpc (raises RiscvTrap on a fetch fault)."""
        code = self.code
        ppc = self.smmu.fetch_page(vpc)
        tb = code.by_key.get((vpc, ppc, self.flags | SINGLE))
        if tb is None or (tb.phys2 is not None
                          and self.smmu.fetch_page(tb.end - 1) & ~(PAGE - 1) != tb.phys2):
            tb = code.build(self, vpc, ppc, self.flags, single=True)
        return tb

    def _interp_exit(self, kind: int) -> int:
        """The interpreter left with the exact pc; returns the host address to go on at
        (0: leave the step, for the exit request)."""
        q = self.q
        pc = q[cs.PC]
        if kind == interp.I_PAGE:
            host = self._allow_fetch(pc)
            if host:
                return host
            kind = interp.I_UNSUPPORTED  # not RAM, or mapped in pieces: translate
        code = self.code
        if kind == interp.I_TIERUP and code.counters.was_armed(pc):
            tb = self._existing(pc)  # placed from the persistent cache if it is there
            if tb is None:
                return code.interp_host  # another pc's armed counter: count on
            self._set_jc(pc, tb)
            return tb.host
        if kind == interp.I_TIERUP:
            tb = self.lookup(pc)
            self._set_jc(pc, tb)
            return tb.host
        if kind == interp.I_TLB_READ or kind == interp.I_TLB_WRITE:
            if self._tlb_fill(kind == interp.I_TLB_WRITE):
                return self.code.interp_host  # the access hits now: run it again
            kind = interp.I_UNSUPPORTED  # MMIO, misaligned, PMP: the slow path's
        if kind == interp.I_UNSUPPORTED:
            tb = self._existing(pc)
            if tb is None:
                if interp_sysinsn.run(self, pc, code.csr_visits):
                    return self._start(q[cs.PC], code.interp_host)
                tb = self._single(pc)
            self._set_jc(pc, tb)
            return tb.host
        if kind == regs.EXIT_REQUEST:
            return 0
        raise RuntimeError(f"native TCG: bad interpreter exit {kind:#x}")

    def _tlb_fill(self, write: bool) -> bool:
        """Fill the data TLB for the interpreter's access that missed it (a page fault
        raises RiscvTrap at the exact pc); whether the access would hit now."""
        q = self.q
        va, tag = q[INTERP_VA_WORD], q[INTERP_VA_WORD + 1]
        if tag != va & ~(PAGE - 1):
            return False  # misaligned: never on the fast path
        pa = self.smmu.translate_data(va, write)
        if write and pa & ~(PAGE - 1) in self.code.code_pages:
            # The store about to run on the fast path writes translated code, which the
            # slow path would have told the code cache about: tell it (fence.i checks
            # the page then).
            self.code.note_ram_write(pa, 1)
        return self.tlb.hits(q[INTERP_TLB_WORD], va, write)

    def _allow_fetch(self, vpc: int) -> int:
        """Let the interpreter fetch from vpc's page when it is RAM, mapped whole, for the
        current privilege; returns the interpreter's address then, else 0."""
        smmu = self.smmu
        pa = smmu.fetch_page(vpc)
        if (self.hart.q_priv(), vpc >> PAGE_BITS) not in smmu.fetch_tlb:
            return 0  # a mapping smaller than the page (PMP): each fetch is checked
        off = (pa & ~(PAGE - 1)) - smmu.ram_base
        if not 0 <= off < smmu.ram_size:
            return 0
        vpage = vpc >> PAGE_BITS
        priv = self.hart.q_priv()
        self.tlb.allow_fetch(priv, vpage, self.tlb.ram_host + off - (vpage << PAGE_BITS),
                             (priv, vpage) in smmu.local_fetch)
        return self.code.interp_host

