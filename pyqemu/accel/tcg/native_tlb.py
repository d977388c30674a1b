"""The native backend's TLBs of one hart, in memory that generated code and the
interpreter tier read (DESIGN.md section 3, "Softmmu"): per data-access mode, a
direct-mapped table of 32-byte entries {read tag, write tag, addend, page}; and the
interpreter's fetch-page caches, one per privilege. The softmmu (accel/tcg/softmmu.py)
fills and flushes them as it fills and flushes its own translations."""

from __future__ import annotations

import ctypes

from ...target.riscv import interp_x86_64 as interp
from ...tcg.backends.x86_64 import ptw
from .translate_common import PAGE_BITS

PAGE = 1 << PAGE_BITS
TLB_ENTRIES = 4096
FETCH_ENTRIES = interp.PAGE_CACHE_MASK + 1
TLB_MODES = 16  # priv * 4 + SUM * 2 + MXR


def mode_index(priv: int, sum_: bool, mxr: bool) -> int:
    return priv * 4 + sum_ * 2 + mxr


class NativeTLB:
    """The direct-mapped TLBs of one hart, in memory generated code reads: 4096 entries
    per mode (with 512, the kernel's working set during boot missed ~140k times)."""

    def __init__(self, ram_host: int, ram_size: int = 0) -> None:
        self.ram_host = ram_host  # host address of the fast RAM's first byte
        self.buf = (ctypes.c_uint64 * (TLB_MODES * TLB_ENTRIES * 4))()
        self.addr = ctypes.addressof(self.buf)
        self.q = memoryview(self.buf).cast("B").cast("Q")
        self.used: set[int] = set()  # modes filled since the last flush
        self.local: list[int] = []  # entries filled from non-global mappings
        ctypes.memset(self.addr, 0xFF, ctypes.sizeof(self.buf))  # odd tags match nothing
        # The interpreter's fetch-page caches, one per privilege: {virtual page, host
        # address - virtual address} pairs of pages it may fetch from without asking.
        self.fetch = (ctypes.c_uint64 * (4 * 2 * FETCH_ENTRIES))()
        self.fetch_q = memoryview(self.fetch).cast("B").cast("Q")
        self.flush_fetch()
        # The native page-table walker's area (tcg/backends/x86_64/ptw.py): its log of
        # fills the softmmu must know of, then a byte per RAM page (PMP allows loads,
        # stores; the page holds translated code).
        self.map_size = ram_size >> PAGE_BITS
        log_words = 1 + 3 * ptw.LOG_CAPACITY
        self.aux = (ctypes.c_uint64 * (log_words + (self.map_size + 7) // 8))()
        self.aux_addr = ctypes.addressof(self.aux)
        self.log = memoryview(self.aux).cast("B").cast("Q")[:log_words]
        self.map = memoryview(self.aux).cast("B")[8 * log_words:8 * log_words + self.map_size]
        self.walk_mode: int | None = None  # the mode whose table the walker fills

    def fetch_cache(self, priv: int) -> int:
        return ctypes.addressof(self.fetch) + priv * 16 * FETCH_ENTRIES

    def allow_fetch(self, priv: int, vpage: int, addend: int, local: bool) -> None:
        """local: a non-global mapping, forgotten at an address-space switch."""
        e = 2 * (priv * FETCH_ENTRIES + (vpage & (FETCH_ENTRIES - 1)))
        self.fetch_q[e + 1] = addend & 0xFFFFFFFFFFFFFFFF
        self.fetch_q[e] = vpage
        if local:
            self.fetch_local.append(e)

    def fetch_offset(self, priv: int, va: int) -> int:
        """The RAM offset of va if the interpreter may fetch from its page (-1 if not
        known): the instruction at an interpreter exit is read without a page walk."""
        vpage = va >> PAGE_BITS
        e = 2 * (priv * FETCH_ENTRIES + (vpage & (FETCH_ENTRIES - 1)))
        fq = self.fetch_q
        if fq[e] != vpage:
            return -1
        return (fq[e + 1] + va - self.ram_host) & 0xFFFFFFFFFFFFFFFF

    def flush_fetch(self) -> None:
        ctypes.memset(ctypes.addressof(self.fetch), 0xFF, ctypes.sizeof(self.fetch))
        self.fetch_local: list[int] = []  # entries of non-global pages

    def flush(self) -> None:
        # Only the modes in use are cleared: a whole flush is 2 MiB of stores, and Linux
        # flushes on every context switch.
        size = TLB_ENTRIES * 32
        for m in self.used:
            ctypes.memset(self.addr + m * size, 0xFF, size)
        self.used.clear()
        if self.walk_mode is not None:
            self.used.add(self.walk_mode)  # the walker goes on filling it
        self.local.clear()
        self.log[0] = 0
        self.flush_fetch()

    def flush_local(self) -> None:
        """An address-space switch: forget the entries of non-global mappings."""
        q = self.q
        for e in self.local:
            q[e] = q[e + 1] = q[e + 3] = 1
        self.local.clear()
        fq = self.fetch_q
        for e in self.fetch_local:  # the kernel's (global) pages stay
            fq[e] = 0xFFFFFFFFFFFFFFFF
        self.fetch_local.clear()

    def unwrite(self, mode: tuple[int, bool, bool], vpn: int) -> None:
        """Stores to page vpn in this mode take the slow path again."""
        e = 4 * (mode_index(*mode) * TLB_ENTRIES + (vpn & (TLB_ENTRIES - 1)))
        if self.q[e + 1] == vpn << 12:
            self.q[e + 1] = 1

    # ------------------------------------------------------------ the walker's area
    def drain(self, write_rev: dict, on_write) -> None:
        """Take the walker's log: its non-global fills join ``local``; each fill that
        allows stores is added to write_rev ({physical page: [(mode, vpn)]}), and
        on_write() is called once per such fill."""
        log = self.log
        n = log[0]
        if not n:
            return
        base, per_mode = self.addr, 4 * TLB_ENTRIES
        for i in range(1, 1 + 3 * n, 3):
            w0 = log[i]
            e = ((w0 & ((1 << 62) - 1)) - base) // 8
            if w0 & ptw.LOG_LOCAL:
                self.local.append(e)
            if w0 & ptw.LOG_WRITE:
                m = e // per_mode
                write_rev.setdefault(log[i + 2], []).append(
                    ((m >> 2, bool(m >> 1 & 1), bool(m & 1)), log[i + 1] >> PAGE_BITS))
                on_write()
        log[0] = 0

    def allow(self, ram_off: int, bits: int) -> None:
        """Mark the RAM page at ram_off (ptw.MAP_LOAD / MAP_STORE / MAP_CODE)."""
        i = ram_off >> PAGE_BITS
        if 0 <= i < self.map_size:
            self.map[i] |= bits

    def disallow(self, ram_off: int, bits: int) -> None:
        i = ram_off >> PAGE_BITS
        if 0 <= i < self.map_size:
            self.map[i] &= ~bits & 0xFF

    def clear_map(self, bits: int) -> None:
        """Clear bits on every page (PMP changed: ptw.MAP_LOAD | MAP_STORE)."""
        keep = ~bits & 0xFF
        self.map[:] = bytes(self.map).translate(bytes(b & keep for b in range(256)))

    def hits(self, tlb: int, va: int, write: bool) -> bool:
        """Whether an aligned access to va finds its page in the TLB at address tlb (one
        mode's table), as the fast path compares it."""
        e = (tlb - self.addr) // 8 + 4 * ((va >> 12) & (TLB_ENTRIES - 1))
        return self.q[e + write] == va & ~(PAGE - 1)

    def fill(self, mode: tuple[int, bool, bool], va: int, ram_off: int, write: bool,
             local: bool = False) -> None:
        page = va & ~(PAGE - 1)
        m = mode_index(*mode)
        self.used.add(m)
        e = 4 * (m * TLB_ENTRIES + ((va >> 12) & (TLB_ENTRIES - 1)))
        q = self.q
        if q[e + 3] != page:
            q[e] = q[e + 1] = 1
            q[e + 3] = page
        q[e + 2] = (self.ram_host + ram_off - page) & 0xFFFFFFFFFFFFFFFF
        q[e] = page
        if write:
            q[e + 1] = page
        if local:
            self.local.append(e)

    def flush_page(self, va: int) -> None:
        page = va & ~(PAGE - 1)
        vpage = va >> PAGE_BITS
        for priv in range(4):
            e = 2 * (priv * FETCH_ENTRIES + (vpage & (FETCH_ENTRIES - 1)))
            if self.fetch_q[e] == vpage:
                self.fetch_q[e] = 0xFFFFFFFFFFFFFFFF
        q = self.q
        for m in self.used:  # (the other modes hold nothing since the last flush)
            e = 4 * (m * TLB_ENTRIES + ((va >> 12) & (TLB_ENTRIES - 1)))
            if q[e + 3] == page:
                q[e] = q[e + 1] = q[e + 3] = 1
