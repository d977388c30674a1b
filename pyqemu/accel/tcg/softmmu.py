"""The softmmu of a system-mode hart: TLBs that generated code consults inline, and the
slow paths behind them (DESIGN.md section 3, "Softmmu").

A TLB here is a dict per data-access mode, ``virtual page number -> addend``, with
``va + addend`` the index of the byte in the fast RAM view (the board's main RAM).
Generated code does ``a = TR.get(va >> 12)`` and, on a hit with an aligned access,
indexes the RAM view directly; anything else — a miss, a misaligned or page-crossing
access, MMIO, ROM, a page PMP splits — calls ``LD``/``ST`` here, which walk the page
tables, refill the TLB when the page may be cached, and do the access.
"""

from __future__ import annotations

from ...memory import GuestMemoryError
from ...target.riscv import mmu as m
from ...target.riscv import trap as t
from ...tcg.backends.x86_64 import ptw

PAGE = 4096
TLB_LIMIT = 8192  # entries per mode before a refill starts over
LOCAL_LIMIT = 4096  # non-global translations remembered one by one; beyond: flush all


class SoftMMU:
    def __init__(self, hart, phys) -> None:
        self.hart = hart
        self.phys = phys
        self.mmu = m.MMU(hart, phys)
        # The fast RAM: the largest RAM section (DRAM on virt).
        ram = max((s for s in phys.ram_sections() if not s.readonly),
                  key=lambda s: s.size)
        self.ram_base = ram.base
        self.ram_size = ram.size
        self.ram = ram.ram.view[ram.ram_offset:ram.ram_offset + ram.size]
        self.views = {"r8": self.ram.cast("B"), "r16": self.ram.cast("H"),
                      "r32": self.ram.cast("I"), "r64": self.ram.cast("Q"),
                      "rs8": self.ram.cast("b"), "rs16": self.ram.cast("h"),
                      "rs32": self.ram.cast("i"), "rs64": self.ram.cast("q")}
        self.ram16 = self.views["r16"]
        self.mmu.ram_base, self.mmu.ram_size = ram.base, ram.size
        self.mmu.ram64 = self.views["r64"]
        # mode key (effective privilege, SUM, MXR) -> (read TLB, write TLB)
        self.tlbs: dict[tuple[int, bool, bool], tuple[dict, dict]] = {}
        self.fetch_tlb: dict[tuple[int, int], int] = {}  # (priv, vpn) -> physical page
        # What was cached from non-global mappings since the last flush: an address
        # space switch forgets only these (the kernel's global mappings stay).
        self.local_data: list[tuple[tuple[int, bool, bool], int]] = []  # (mode, vpn)
        self.local_fetch: set[tuple[int, int]] = set()  # fetch_tlb keys of non-global pages
        # Writable entries by physical page, so that a page that comes to hold
        # translated code can be made to take the slow path for stores again
        # (protect_code_page); the slow path's store is then seen by the address
        # space's RAM write hooks.
        self.write_rev: dict[int, list[tuple[tuple[int, bool, bool], int]]] = {}
        self.write_rev_n = 0
        # Translations of pages that are not RAM (MMIO), which the TLBs do not hold:
        # virtual page -> {(mode, access): physical page}. Drivers reach a device
        # through a mapping (a UART's registers, thousands of times while Linux boots):
        # this spares each access the page walk.
        self.io_pages: dict[int, dict[tuple, int]] = {}
        # The native backend's TLB (tcg/backends/x86_64/softmmu.py), refilled and
        # flushed along with the dicts: fill(mode, va, ram offset of the page, write).
        self.native = None

    # ------------------------------------------------------------------ TLBs
    def tlb_pair(self, mode: tuple[int, bool, bool]) -> tuple[dict, dict]:
        pair = self.tlbs.get(mode)
        if pair is None:
            pair = self.tlbs[mode] = ({}, {})
        return pair

    def flush(self, keep_global: bool = False) -> set[int] | None:
        """satp write, sfence.vma, PMP change: forget cached translations (the dict
        objects stay: blocks hold references to them). With keep_global only the
        non-global ones go, and the result is the set of virtual pages whose fetch
        translation went (None: everything went)."""
        self.io_pages.clear()  # (few pages: refilled at their next access)
        if self.native is not None:
            self._drain()
        if keep_global and len(self.local_data) + len(self.local_fetch) <= LOCAL_LIMIT:
            for mode, vpn in self.local_data:
                r, w = self.tlbs[mode]
                r.pop(vpn, None)
                w.pop(vpn, None)
            vpns = set()
            for key in self.local_fetch:
                self.fetch_tlb.pop(key, None)
                vpns.add(key[1])
            self.local_data.clear()
            self.local_fetch.clear()
            if self.native is not None:
                self.native.flush_local()
            return vpns
        for r, w in self.tlbs.values():
            r.clear()
            w.clear()
        self.fetch_tlb.clear()
        self.local_data.clear()
        self.local_fetch.clear()
        self.write_rev.clear()
        self.write_rev_n = 0
        if self.native is not None:
            self.native.flush()
            # PMP may have changed: the walker asks again for each page.
            self.native.clear_map(ptw.MAP_LOAD | ptw.MAP_STORE)
        return None

    def protect_code_page(self, page: int) -> None:
        """Physical page ``page`` holds translated code: forget the TLB entries that let
        stores reach it without the slow path (whose stores the RAM write hooks see)."""
        if self.native is not None:
            self._drain()
        for mode, vpn in self.write_rev.pop(page, ()):
            pair = self.tlbs.get(mode)
            if pair is not None:
                pair[1].pop(vpn, None)
            if self.native is not None:
                self.native.unwrite(mode, vpn)

    def flush_page(self, va: int) -> None:
        """sfence.vma with an address: forget that page's translations only."""
        vpn = (va & 0xFFFFFFFFFFFFFFFF) >> 12
        self.io_pages.pop(vpn, None)
        for r, w in self.tlbs.values():
            r.pop(vpn, None)
            w.pop(vpn, None)
        for priv in (0, 1, 3):
            self.fetch_tlb.pop((priv, vpn), None)
        if self.native is not None:
            self.native.flush_page(vpn << 12)

    def _drain(self) -> None:
        """Take in what the native page-table walker filled (ptw.py)."""
        def counted() -> None:
            self.write_rev_n += 1
        self.native.drain(self.write_rev, counted)

    def _mode(self) -> tuple[int, bool, bool]:
        return self.hart.data_mode()

    def _translate(self, va: int, access: int) -> int:
        priv, sum_, mxr = mode = self._mode()
        io = self.io_pages.get(va >> 12)
        if io is not None:
            page = io.get((mode, access))
            if page is not None:
                return page | (va & (PAGE - 1))
        pa, whole = self.mmu.translate(va, access, priv, sum_, mxr)
        off = pa - self.ram_base
        if whole and not 0 <= off < self.ram_size:
            self.io_pages.setdefault(va >> 12, {})[(mode, access)] = pa & ~(PAGE - 1)
        if whole and 0 <= off < self.ram_size:
            r, w = self.tlb_pair(mode)
            if len(r) > TLB_LIMIT or len(w) > TLB_LIMIT:
                r.clear()
                w.clear()
            addend = (off & ~(PAGE - 1)) - (va & ~(PAGE - 1))
            vpn = va >> 12
            local = not self.mmu.last_global
            if local:
                self.local_data.append((mode, vpn))
            if access == m.WRITE:
                if self.write_rev_n >= 1 << 16:  # a bound: start over
                    self.flush()
                self.write_rev.setdefault(pa & ~(PAGE - 1), []).append((mode, vpn))
                self.write_rev_n += 1
                w[vpn] = addend
                # A store set D; a later load of the page may use it too.
                r[vpn] = addend
            else:
                r[vpn] = addend
            if self.native is not None:
                if self.native.log[0]:
                    self._drain()
                self.native.fill(mode, va, off & ~(PAGE - 1), access == m.WRITE, local)
                if priv < 3:  # PMP allows S and U this whole page: the walker may too
                    self.native.allow(off, ptw.MAP_STORE if access == m.WRITE
                                      else ptw.MAP_LOAD)
        return pa

    def translate_data(self, va: int, write: bool) -> int:
        """Translate a data access to va of the current mode, filling the TLBs (raises
        the page or access fault)."""
        return self._translate(va & 0xFFFFFFFFFFFFFFFF, m.WRITE if write else m.READ)

    # ------------------------------------------------------------------ slow paths
    def load(self, va: int, size: int, signed: int) -> int:
        va &= 0xFFFFFFFFFFFFFFFF
        if (va & (PAGE - 1)) + size > PAGE:
            v = 0
            for k in range(size):  # crosses a page: byte by byte, each page checked
                v |= self.load(va + k, 1, 0) << (8 * k)
        else:
            pa = self._translate(va, m.READ)
            try:
                v = self.phys.load(pa, size)
            except GuestMemoryError:
                raise t.RiscvTrap(t.LOAD_ACCESS_FAULT, va) from None
        if signed and v >> (8 * size - 1):
            v -= 1 << (8 * size)
        return v

    def store(self, va: int, size: int, value: int) -> None:
        va &= 0xFFFFFFFFFFFFFFFF
        value &= (1 << (8 * size)) - 1
        if (va & (PAGE - 1)) + size > PAGE:
            # Check both pages before writing anything.
            self._translate(va, m.WRITE)
            self._translate(va + size - 1, m.WRITE)
            for k in range(size):
                self.store(va + k, 1, value >> (8 * k))
            return
        pa = self._translate(va, m.WRITE)
        try:
            self.phys.store(pa, size, value)
        except GuestMemoryError:
            raise t.RiscvTrap(t.STORE_ACCESS_FAULT, va) from None

    # ------------------------------------------------------------------ fetch
    def fetch_page(self, va: int) -> int:
        """Physical address of the page holding va for instruction fetch (raises the
        fetch page/access fault)."""
        priv = self.hart.q_priv()
        key = (priv, va >> 12)
        pp = self.fetch_tlb.get(key)
        if pp is None:
            pa, whole = self.mmu.translate(va, m.FETCH, priv, False, False)
            pp = pa & ~(PAGE - 1)
            if not self.mmu.last_global:
                self.local_fetch.add(key)
            sec = self.phys.lookup(pa)
            if sec is None or sec.ram is None:
                raise t.RiscvTrap(t.INSN_ACCESS_FAULT, va)
            if whole:
                self.fetch_tlb[key] = pp
        return pp | (va & (PAGE - 1))

    def fetch16(self, va: int) -> int:
        pa = self.fetch_page(va)
        off = pa - self.ram_base
        if 0 <= off < self.ram_size and not off & 1:
            return self.ram16[off >> 1]  # code in RAM (the translator's common case)
        try:
            return self.phys.load(pa, 2)
        except GuestMemoryError:
            raise t.RiscvTrap(t.INSN_ACCESS_FAULT, va) from None


class FetchView:
    """What the translator reads code through: virtual addresses, fetch permission.

    Between ``begin()`` and ``end()`` (one block's translation, during which no guest
    code runs and so no mapping changes) the last code page in RAM is remembered, so
    that most halfwords are read without a TLB lookup.
    """

    def __init__(self, smmu: SoftMMU) -> None:
        self.smmu = smmu
        self._vpn = -1  # the remembered virtual page, or -1
        self._half = 0  # index in smmu.ram16 of that page's first halfword
        self._pinning = False

    def begin(self) -> None:
        self._pinning = True
        self._vpn = -1

    def end(self) -> None:
        self._pinning = False
        self._vpn = -1

    def read_u16(self, va: int) -> int:
        if va >> 12 == self._vpn:
            return self.smmu.ram16[self._half + ((va & 0xFFF) >> 1)]
        v = self.smmu.fetch16(va)
        if self._pinning and not va & 1:
            smmu = self.smmu
            off = (smmu.fetch_page(va) & ~0xFFF) - smmu.ram_base
            if 0 <= off < smmu.ram_size:
                self._vpn = va >> 12
                self._half = off >> 1
        return v

    def read(self, va: int, n: int) -> bytes:
        out = bytearray()
        for k in range(0, n, 2):
            out += self.smmu.fetch16(va + k).to_bytes(2, "little")
        return bytes(out[:n])

    def can_execute(self, va: int) -> bool:
        if va >> 12 == self._vpn:
            return True
        try:
            self.smmu.fetch_page(va)
            return True
        except t.RiscvTrap:
            return False
