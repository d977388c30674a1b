"""The page-table walker in machine code: a data TLB miss refilled without leaving
native code (privileged ISA ch. 4.3.2, "Virtual Address Translation Process").

A Linux boot misses the data TLB some 25k times; through Python each refill cost an
exit or a helper call, the walk and the PMP check, about 15 us. This walker does the
common case itself and gives up on everything else, which then goes to the softmmu's
Python slow path exactly as before:

* S or U data accesses under Sv39, Sv48 or Sv57 (the loop writes the walk
  configuration word whenever the data mode or satp changes; 0 turns the walker off:
  M-mode, bare translation, a debugger...);
* page-table entries and the page itself in main RAM;
* a leaf that allows the access and has A set (and D, for a store): the walker never
  writes a page-table entry, so faults and A/D updates stay in Python;
* a page that PMP allows whole, as the Python side found earlier (a byte per RAM
  page in the hart's walk map: bit 0 loads, bit 1 stores); stores also need bit 2
  clear (the page holds no translated code, whose writes the slow path must see);
* a translation from a non-global mapping, or one that allows stores, is recorded in
  the walk log, which the softmmu drains into its own bookkeeping (address-space
  switches, code-page protection) before it needs it; a full log means give up.

In: rax = virtual address, rbp = hart state. Out: rdx = host address of the byte at
rax (the TLB entry of the current data mode filled), or 0. Every other register is
preserved.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import asm as A
from .asm import R8, R9, R10, RAX, RBP, RCX, RDI, RDX, RSI, Mem

# Configuration word: bit 0 on; bit 1 the data mode is U; bit 2 SUM; bit 3 MXR;
# bits 8-15 va_bits - 1 (the sign-extension check); bits 16-23 the shift of the top
# level's index (12 + 9 * (levels - 1)).
CFG_U, CFG_SUM, CFG_MXR = 2, 4, 8
MAP_LOAD, MAP_STORE, MAP_CODE = 1, 2, 4
LOG_CAPACITY = 1024  # records of 3 words: (entry word | LOG_LOCAL | LOG_WRITE, va page, pa page)
LOG_LOCAL, LOG_WRITE = 1 << 62, 1 << 63

_PTE_V, _PTE_R, _PTE_W, _PTE_X, _PTE_U = 1, 2, 4, 8, 0x10
_PTE_G, _PTE_A, _PTE_D = 0x20, 0x40, 0x80
_SAVED = (RCX, RSI, RDI, R8, R9, R10)


@dataclass(frozen=True)
class WalkLayout:
    """Word indices in the hart state: the configuration, the root table's physical
    address, RAM's physical base, size and host address, the aux area's address (log
    count, log records, then the walk map); the current data mode's TLB; and the TLB's
    index mask."""

    cfg: int
    root: int
    ram_base: int
    ram_size: int
    ram_host: int
    aux: int
    tlb: int
    tlb_mask: int

    @staticmethod
    def map_offset() -> int:
        return 8 * (1 + 3 * LOG_CAPACITY)


def config(dpriv: int, sum_: bool, mxr: bool, satp: int) -> int:
    """The configuration word for a data mode and satp (0: the walker stays off)."""
    levels = {8: 3, 9: 4, 10: 5}.get(satp >> 60)
    if levels is None or dpriv > 1:
        return 0
    va_bits = 12 + 9 * levels
    return (1 | (CFG_U if dpriv == 0 else 0) | (CFG_SUM if sum_ else 0)
            | (CFG_MXR if mxr else 0) | (va_bits - 1) << 8 | (12 + 9 * (levels - 1)) << 16)


def emit_walker(a: A.Assembler, w: WalkLayout) -> tuple[int, int]:
    """Append the walker to a; (load entry, store entry) offsets in a."""
    def bits(reg: int, mask: int, cc: int, target: A.Label) -> None:
        """Go to target on cc (CC_E: none of the bits set, CC_NE: some) of reg & mask."""
        a.mov_rr(RDX, reg)
        a.alu_ri(A.AND, RDX, mask)
        a.jcc(cc, target)

    def entry_into(reg: int) -> None:
        """reg = the address of va's entry in the current mode's TLB."""
        a.mov_rr(reg, RAX)
        a.shift_ri(A.SHR, reg, 12)
        a.alu_ri(A.AND, reg, w.tlb_mask)
        a.shift_ri(A.SHL, reg, 5)
        a.alu_rm(A.ADD, reg, Mem(RBP, 8 * w.tlb))

    entries = []
    common = a.label()
    for write in (0, 1):
        a.nop_to_align(16)
        entries.append(a.pos())
        for r in _SAVED:
            a.push(r)
        a.mov_ri(R9, write)
        a.jmp(common)
    fail, done = a.label(), a.label()
    a.bind(common)
    a.load(R10, Mem(RBP, 8 * w.cfg))
    a.test_rr(R10, R10)
    a.jcc(A.CC_E, fail)
    # The address must be the sign extension of its low va_bits bits.
    a.mov_rr(RCX, R10)
    a.shift_ri(A.SHR, RCX, 8)
    a.alu_ri(A.AND, RCX, 0xFF)
    a.mov_rr(RSI, RAX)
    a.shift_cl(A.SAR, RSI)
    a.alu_ri(A.ADD, RSI, 1)  # 0 or -1 -> 1 or 0
    a.alu_ri(A.CMP, RSI, 1)
    a.jcc(A.CC_A, fail)
    a.mov_rr(RCX, R10)
    a.shift_ri(A.SHR, RCX, 16)
    a.alu_ri(A.AND, RCX, 0xFF)  # rcx: the current level's index shift
    a.load(RDI, Mem(RBP, 8 * w.root))  # rdi: the current table's physical address
    a.alu_rr(A.XOR, R8, R8)  # r8: the entries' bits ORed (G on any level)
    walk, leaf = a.label(), a.label()
    a.bind(walk)
    a.mov_rr(RSI, RAX)
    a.shift_cl(A.SHR, RSI)
    a.alu_ri(A.AND, RSI, 0x1FF)
    a.lea(RSI, Mem(RDI, 0, RSI, 8))  # the entry's physical address
    a.alu_rm(A.SUB, RSI, Mem(RBP, 8 * w.ram_base))
    a.alu_rm(A.CMP, RSI, Mem(RBP, 8 * w.ram_size))
    a.jcc(A.CC_AE, fail)  # not in RAM (or below it)
    a.alu_rm(A.ADD, RSI, Mem(RBP, 8 * w.ram_host))
    a.load(RSI, Mem(RSI, 0))  # rsi: the entry
    bits(RSI, _PTE_V, A.CC_E, fail)
    a.mov_rr(RDX, RSI)
    a.shift_ri(A.SHR, RDX, 54)  # reserved bits (and PBMT, N)
    a.jcc(A.CC_NE, fail)
    a.mov_rr(RDX, RSI)
    a.alu_ri(A.AND, RDX, _PTE_R | _PTE_W)
    a.alu_ri(A.CMP, RDX, _PTE_W)
    a.jcc(A.CC_E, fail)  # W without R: reserved
    a.alu_rr(A.OR, R8, RSI)
    a.mov_rr(RDI, RSI)  # rdi: the entry's PPN << 12 (44 bits)
    a.shift_ri(A.SHR, RDI, 10)
    a.shift_ri(A.SHL, RDI, 20)
    a.shift_ri(A.SHR, RDI, 8)
    bits(RSI, _PTE_R | _PTE_X, A.CC_NE, leaf)
    a.alu_ri(A.CMP, RCX, 12)
    a.jcc(A.CC_E, fail)  # a pointer at the last level
    a.mov_rr(RDX, RSI)
    a.alu_ri(A.AND, RDX, _PTE_A | _PTE_D | _PTE_U)
    a.jcc(A.CC_NE, fail)  # reserved for non-leaf entries
    a.alu_ri(A.SUB, RCX, 9)
    a.jmp(walk)
    # A leaf: privilege (U pages for U, or for S with SUM; S pages for S only).
    a.bind(leaf)
    user_page, perm = a.label(), a.label()
    bits(RSI, _PTE_U, A.CC_NE, user_page)
    bits(R10, CFG_U, A.CC_NE, fail)
    a.jmp(perm)
    a.bind(user_page)
    bits(R10, CFG_U | CFG_SUM, A.CC_E, fail)
    a.bind(perm)
    # The access: a store needs W, A and D; a load A and R (or X with MXR).
    is_load, allowed = a.label(), a.label()
    a.test_rr(R9, R9)
    a.jcc(A.CC_E, is_load)
    a.mov_rr(RDX, RSI)
    a.alu_ri(A.AND, RDX, _PTE_W | _PTE_A | _PTE_D)
    a.alu_ri(A.CMP, RDX, _PTE_W | _PTE_A | _PTE_D)
    a.jcc(A.CC_NE, fail)
    a.jmp(allowed)
    a.bind(is_load)
    bits(RSI, _PTE_A, A.CC_E, fail)
    bits(RSI, _PTE_R, A.CC_NE, allowed)
    bits(R10, CFG_MXR, A.CC_E, fail)
    bits(RSI, _PTE_X, A.CC_E, fail)
    a.bind(allowed)
    # A superpage's PPN must be aligned to it; the 4 KiB page of va within it.
    a.mov_ri(RDX, 1)
    a.shift_cl(A.SHL, RDX)
    a.alu_ri(A.SUB, RDX, 1)  # rdx = (1 << shift) - 1
    a.test_rr(RDI, RDX)
    a.jcc(A.CC_NE, fail)
    a.alu_rr(A.AND, RDX, RAX)
    a.alu_ri(A.AND, RDX, -4096)
    a.alu_rr(A.OR, RDI, RDX)  # rdi: the physical page
    # In RAM, allowed whole by PMP, and (stores) holding no translated code.
    a.mov_rr(RSI, RDI)
    a.alu_rm(A.SUB, RSI, Mem(RBP, 8 * w.ram_base))
    a.alu_rm(A.CMP, RSI, Mem(RBP, 8 * w.ram_size))
    a.jcc(A.CC_AE, fail)  # MMIO, or beyond RAM
    a.mov_rr(RCX, RSI)  # rcx: the page's offset in RAM
    a.shift_ri(A.SHR, RSI, 12)
    a.alu_rm(A.ADD, RSI, Mem(RBP, 8 * w.aux))
    a.load(RSI, Mem(RSI, WalkLayout.map_offset()), 1)
    map_ok = a.label()
    map_load = a.label()
    a.test_rr(R9, R9)
    a.jcc(A.CC_E, map_load)
    a.alu_ri(A.AND, RSI, MAP_LOAD | MAP_STORE | MAP_CODE)
    a.alu_ri(A.CMP, RSI, MAP_LOAD | MAP_STORE)  # a store fills both tags
    a.jcc(A.CC_NE, fail)
    a.jmp(map_ok)
    a.bind(map_load)
    a.alu_ri(A.AND, RSI, MAP_LOAD)
    a.jcc(A.CC_E, fail)
    a.bind(map_ok)
    # The log: a record for a store's translation or a non-global one.
    a.alu_ri(A.AND, R8, _PTE_G)
    a.alu_ri(A.XOR, R8, _PTE_G)  # r8: nonzero if local
    a.mov_rr(RDX, R8)
    a.alu_rr(A.OR, RDX, R9)
    no_log = a.label()
    a.jcc(A.CC_E, no_log)
    a.load(RDX, Mem(RBP, 8 * w.aux))
    a.load(RSI, Mem(RDX, 0))  # the record count
    a.alu_ri(A.CMP, RSI, LOG_CAPACITY)
    a.jcc(A.CC_AE, fail)
    a.alu_ri(A.ADD, RSI, 1)
    a.store(Mem(RDX, 0), RSI)
    a.alu_ri(A.SUB, RSI, 1)
    a.lea(RSI, Mem(RSI, 0, RSI, 2))  # 3 words a record
    a.lea(RDX, Mem(RDX, 8, RSI, 8))  # rdx: the record
    a.store(Mem(RDX, 16), RDI)  # pa page
    a.mov_rr(RSI, RAX)
    a.alu_ri(A.AND, RSI, -4096)
    a.store(Mem(RDX, 8), RSI)  # va page
    entry_into(RSI)  # word 0: the TLB entry's address, and the flags
    not_local, not_write = a.label(), a.label()
    a.test_rr(R8, R8)
    a.jcc(A.CC_E, not_local)
    a.mov_ri(R8, LOG_LOCAL)
    a.alu_rr(A.OR, RSI, R8)
    a.bind(not_local)
    a.test_rr(R9, R9)
    a.jcc(A.CC_E, not_write)
    a.mov_ri(R8, LOG_WRITE)
    a.alu_rr(A.OR, RSI, R8)
    a.bind(not_write)
    a.store(Mem(RDX, 0), RSI)
    a.bind(no_log)
    # Fill the entry: {read tag, write tag, addend, page} as NativeTLB.fill does.
    entry_into(RSI)  # rsi: the entry
    a.mov_rr(RDX, RAX)
    a.alu_ri(A.AND, RDX, -4096)  # rdx: the virtual page
    same = a.label()
    a.alu_rm(A.CMP, RDX, Mem(RSI, 24))
    a.jcc(A.CC_E, same)
    a.mov_ri(R8, 1)
    a.store(Mem(RSI, 0), R8)
    a.store(Mem(RSI, 8), R8)
    a.store(Mem(RSI, 24), RDX)
    a.bind(same)
    a.alu_rm(A.ADD, RCX, Mem(RBP, 8 * w.ram_host))  # rcx: the page's host address
    a.mov_rr(R8, RCX)
    a.alu_rr(A.SUB, R8, RDX)
    a.store(Mem(RSI, 16), R8)  # addend = host page - virtual page
    a.store(Mem(RSI, 0), RDX)
    store_tag = a.label()
    a.test_rr(R9, R9)
    a.jcc(A.CC_E, store_tag)
    a.store(Mem(RSI, 8), RDX)
    a.bind(store_tag)
    a.mov_rr(RDX, RAX)
    a.alu_ri(A.AND, RDX, 0xFFF)
    a.alu_rr(A.ADD, RDX, RCX)
    a.jmp(done)
    a.bind(fail)
    a.alu_rr(A.XOR, RDX, RDX)
    a.bind(done)
    for r in reversed(_SAVED):
        a.pop(r)
    a.ret()
    return entries[0], entries[1]
