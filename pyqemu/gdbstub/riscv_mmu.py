"""Virtual-to-physical translation for the debugger (RISC-V privileged ISA ch. 4.3.2).

A debugger's access must not change the machine: unlike the hart's walk this one checks
no permissions and sets no A/D bits. gdb's addresses are virtual as the hart sees them
now (its privilege, satp); M-mode and Bare mode map them one to one.
"""

from __future__ import annotations

from ..target.riscv import cpu_state as cs
from ..target.riscv import mmu as m
from ..target.riscv import trap as t


def debug_translate(q, phys, va: int) -> int | None:
    """The physical address of va for the hart whose state is q, or None if unmapped."""
    satp = q[cs.SATP]
    mode = satp >> 60
    if q[cs.PRIV] == t.PRV_M or mode not in m.LEVELS:
        return va
    levels = m.LEVELS[mode]
    va_bits = 12 + 9 * levels
    top = va >> (va_bits - 1)
    if top != 0 and top != (1 << (65 - va_bits)) - 1:
        return None
    a = (satp & ((1 << 44) - 1)) << 12
    for level in range(levels - 1, -1, -1):
        try:
            pte = phys.load(a + ((va >> (12 + 9 * level)) & 0x1FF) * 8, 8)
        except Exception:
            return None
        if not pte & m.PTE_V:
            return None
        ppn = (pte >> m.PTE_PPN_SHIFT) & ((1 << 44) - 1)
        if pte & (m.PTE_R | m.PTE_X):
            off_bits = 12 + 9 * level
            return ((ppn << 12) & ~((1 << off_bits) - 1)) | (va & ((1 << off_bits) - 1))
        a = ppn << 12
    return None
