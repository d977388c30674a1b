"""Address translation and protection of a system-mode hart: Sv39, Sv48, Sv57 page
walks with A/D updates (privileged ISA ch. 4.3-4.5) and PMP checks (ch. 3.7).

``translate`` returns the physical address of one access or raises the page fault /
access fault the spec asks for. The softmmu calls it on a TLB miss and caches the
result per page; so the checks here are per page, and what cannot be decided per page
(a PMP region smaller than a page) is reported so that the softmmu does not cache it.
"""

from __future__ import annotations

from . import cpu_state as cs
from . import trap as t

FETCH, READ, WRITE = 0, 1, 2
PAGE_FAULT = {FETCH: t.INSN_PAGE_FAULT, READ: t.LOAD_PAGE_FAULT, WRITE: t.STORE_PAGE_FAULT}
ACCESS_FAULT = {FETCH: t.INSN_ACCESS_FAULT, READ: t.LOAD_ACCESS_FAULT,
                WRITE: t.STORE_ACCESS_FAULT}

PTE_V, PTE_R, PTE_W, PTE_X, PTE_U, PTE_G, PTE_A, PTE_D = (1 << i for i in range(8))
PTE_PPN_SHIFT = 10
PTE_RESERVED = 0xFFC0000000000000  # N, PBMT and reserved bits: no Svnapot/Svpbmt here
PAGE_MASK = 0xFFF
LEVELS = {8: 3, 9: 4, 10: 5}
N_PMP = 16


class MMU:
    """Translation for one hart; ``phys`` is the machine's AddressSpace."""

    def __init__(self, hart, phys) -> None:
        self.hart = hart
        self.q = hart.q
        self.phys = phys
        # PMP decisions that hold for a whole page, valid while the PMP registers keep
        # the values they had (compared as bytes: whoever writes them, a CSR write, a
        # reset or a loadvm, the cache follows).
        self._pmp_ok: set[tuple[int, int, int]] = set()
        self._pmp_regs = b""
        # Page tables normally live in main RAM: the softmmu gives its 64-bit view so
        # that PTEs are read without going through the address space's section lookup.
        self.ram_base = 0
        self.ram_size = 0
        self.ram64 = None
        # Whether the last translation came from a global mapping (or needed no page
        # tables): such a result survives an address-space switch.
        self.last_global = True

    def translate(self, va: int, access: int, priv: int, sum_: bool, mxr: bool) -> tuple[int, bool]:
        """(physical address, whether the result holds for the whole page)."""
        q = self.q
        satp = q[cs.SATP]
        mode = satp >> 60
        if priv == t.PRV_M or mode == 0:
            pa = va
            self.last_global = True
        else:
            pa = self._walk(va, access, priv, sum_, mxr, satp, LEVELS[mode])
        whole = self.pmp_check(pa, access, priv, va)
        return pa, whole

    def _walk(self, va: int, access: int, priv: int, sum_: bool, mxr: bool, satp: int,
              levels: int) -> int:
        va_bits = 12 + 9 * levels
        # The address must be the sign extension of its low va_bits bits.
        top = va >> (va_bits - 1)
        if top != 0 and top != (1 << (65 - va_bits)) - 1:
            raise t.RiscvTrap(PAGE_FAULT[access], va)
        a = (satp & ((1 << 44) - 1)) << 12
        phys = self.phys
        ram64, ram_base, ram_size = self.ram64, self.ram_base, self.ram_size
        g = 0  # G on any level makes the mapping global (ch. 4.3.1)
        for level in range(levels - 1, -1, -1):
            pte_addr = a + ((va >> (12 + 9 * level)) & 0x1FF) * 8
            off = pte_addr - ram_base
            if ram64 is not None and 0 <= off < ram_size:
                pte = ram64[off >> 3]
            else:
                try:
                    pte = phys.load(pte_addr, 8)
                except Exception:
                    raise t.RiscvTrap(ACCESS_FAULT[access], va) from None
            if not pte & PTE_V or (not pte & PTE_R and pte & PTE_W) or pte & PTE_RESERVED:
                raise t.RiscvTrap(PAGE_FAULT[access], va)
            ppn = (pte >> PTE_PPN_SHIFT) & ((1 << 44) - 1)
            g |= pte & PTE_G
            if not pte & (PTE_R | PTE_X):
                if level == 0 or pte & (PTE_A | PTE_D | PTE_U):
                    raise t.RiscvTrap(PAGE_FAULT[access], va)
                a = ppn << 12
                continue
            # A leaf: permissions (ch. 4.3.1 steps 5-8).
            if pte & PTE_U:
                if priv == t.PRV_S and (access == FETCH or not sum_):
                    raise t.RiscvTrap(PAGE_FAULT[access], va)
            elif priv == t.PRV_U:
                raise t.RiscvTrap(PAGE_FAULT[access], va)
            if access == FETCH:
                ok = pte & PTE_X
            elif access == READ:
                ok = pte & PTE_R or (mxr and pte & PTE_X)
            else:
                ok = pte & PTE_W
            if not ok:
                raise t.RiscvTrap(PAGE_FAULT[access], va)
            if level and ppn & ((1 << (9 * level)) - 1):
                raise t.RiscvTrap(PAGE_FAULT[access], va)  # misaligned superpage
            # Hardware A/D update (as QEMU's harts do), written back atomically enough:
            # one vCPU thread runs at a time.
            want = PTE_A | (PTE_D if access == WRITE else 0)
            if pte & want != want:
                phys.store(pte_addr, 8, pte | want)
            off_bits = 12 + 9 * level
            self.last_global = bool(g)
            return ((ppn << 12) & ~((1 << off_bits) - 1)) | (va & ((1 << off_bits) - 1))
        raise t.RiscvTrap(PAGE_FAULT[access], va)

    # ------------------------------------------------------------------ PMP
    def pmp_check(self, pa: int, access: int, priv: int, va: int) -> bool:
        """Raise an access fault if PMP denies it; True when the entry that decided
        covers the whole page (the softmmu may then cache the page)."""
        regs = self.q[cs.PMPCFG:cs.PMPADDR + N_PMP].tobytes()
        if regs != self._pmp_regs:
            self._pmp_ok.clear()
            self._pmp_regs = regs
        key = (pa >> 12, access, priv)
        if key in self._pmp_ok:
            return True
        whole = self._pmp_decide(pa, access, priv, va)
        if whole:
            self._pmp_ok.add(key)
        return whole

    def _pmp_decide(self, pa: int, access: int, priv: int, va: int) -> bool:
        q = self.q
        prev = 0
        partial = False  # an entry covers part of the page only
        page = pa & ~PAGE_MASK
        for n in range(N_PMP):
            cfg = (q[cs.PMPCFG + n // 8] >> (8 * (n % 8))) & 0xFF
            addr = q[cs.PMPADDR + n]
            a_field = (cfg >> 3) & 3
            lo = hi = 0
            if a_field == 1:  # TOR
                lo, hi = prev << 2, addr << 2
            elif a_field == 2:  # NA4
                lo, hi = addr << 2, (addr << 2) + 4
            elif a_field == 3:  # NAPOT
                ones = (~addr & (addr + 1)).bit_length() - 1  # trailing ones
                size = 1 << (ones + 3)
                lo = (addr << 2) & ~(size - 1)
                hi = lo + size
            prev = addr
            if a_field == 0:
                continue
            covers = lo <= page and page + 4096 <= hi
            if lo <= pa < hi:
                whole = covers and not partial
                if priv == t.PRV_M and not cfg & 0x80:
                    return whole
                perm = (cfg & 4) if access == FETCH else (cfg & 1 if access == READ else cfg & 2)
                if not perm:
                    raise t.RiscvTrap(ACCESS_FAULT[access], va)
                return whole
            if lo < page + 4096 and page < hi:
                partial = True  # decides other addresses of this page
        if priv == t.PRV_M:
            return not partial
        # S and U accesses no entry matches fail: this hart implements PMP entries.
        raise t.RiscvTrap(ACCESS_FAULT[access], va)
