"""A RISC-V (RV64IMC) interpreter in x86-64 machine code: tier 0 of native user mode.

Translating a block costs 25-40 µs per guest instruction in Python, and most blocks of a
program run only a few times (start-up code, error paths): a first run of a short
program spends most of its time translating. This interpreter, assembled once by our own
assembler and placed in the code buffer next to the prologue, runs such code without
translating it. It fetches and decodes each instruction from guest memory, works on the
same CPU state buffer as translated blocks, and at every taken branch or jump:

* leaves for the loop when the exit flag is raised (signals, another thread), with the
  exact pc;
* looks the target up in the jump cache and jumps into its translated block on a hit;
* counts the target in a table of 16-bit counters indexed by pc; a counter that wraps
  (after ``tier_up()`` visits) asks the loop to translate the block there (tier-up).
  A warm run arms the counters of blocks an earlier run translated, so that their
  first visit asks for them (the loop then places them from the persistent cache).

Compressed instructions are expanded through a 64 Ki-entry table (``rvc_table``) built
from ``decode_rvc.expand_rvc``: every halfword's 32-bit equivalent, 0 for a reserved
encoding. Whatever the interpreter does not implement (F/D, A, CSRs, fence.i, ebreak,
illegal encodings, a 32-bit instruction straddling a page) leaves with the exact pc and
the loop translates a block starting there: the translator stays the single authority on
the rest of the ISA, including which encodings are illegal.

Instruction fetch is allowed from pages the loop has checked as executable; a direct-mapped
cache of 256 checked page numbers lives in the data area, and a miss leaves for the loop
(which checks, fills, or delivers SIGSEGV). Loads and stores are bounds-checked exactly as
translated code does (guest_base + offset, offset masked and compared with the limit).

Registers (inside the prologue's frame; rbp, r13-r15 as for translated code):
  r11 the code buffer's start as executed (data area, tables; read-only), rbx the pc,
  r12 the next pc, rcx the instruction, r10 the last checked page, r8 rd, rsi/rdx operands, r9 the
  branch offset or store value; rax, rdi scratch.
"""

from __future__ import annotations

import struct

from ....tcg.backends.x86_64.asm import RAX, RBP, Mem
from .core import (
    COUNTER_MASK,
    I_PAGE,
    I_SYSCALL,
    I_TIERUP,
    I_TLB_READ,
    I_TLB_WRITE,
    I_UNSUPPORTED,
    INTERP_ID,
    PAGE_CACHE_MASK,
    PC_OFF,
    TIER_UP,
    Asm,
    SystemLayout,
    counter_increment,
    tier_up,
)
from .rv64im import IntegerOps
from .rva_fp import AtomicFpOps

__all__ = ["COUNTER_MASK", "I_PAGE", "I_SYSCALL", "I_TIERUP", "I_TLB_READ", "I_TLB_WRITE",
           "I_UNSUPPORTED", "INTERP_ID",
           "PAGE_CACHE_MASK", "TIER_UP", "Interpreter", "SystemLayout", "counter_increment",
           "rvc_table", "tier_up"]


class _Builder(IntegerOps, AtomicFpOps):
    pass


class Interpreter:
    """The assembled interpreter: ``code`` to place at buffer offset ``at``, entered at
    ``at + entry`` with the pc in the state buffer. low: the guest address at offset 0
    of the guest space (translated code's convention, user mode); system: the layout of
    a system-mode hart's state (None: user mode)."""

    def __init__(self, at: int, epilogue: int, low: int,
                 system: SystemLayout | None = None) -> None:
        b = _Builder(at, epilogue, low, system)
        self.entry = b.build()
        self.entry_counted = b.entry_counted  # for jump-cache entries: skips the lookup
        self.code = bytes(b.a.buf)
        self.at = at


def trampoline(target: int, at: int, entry: int) -> bytes:
    """Code for buffer offset at that enters the interpreter (at buffer offset entry) at
    guest pc target: what a block's direct exit is patched to while its successor is
    not translated, so that cold successors cost no return to the loop. Once the
    successor is translated, the interpreter's jump-cache lookup enters it."""
    a = Asm()
    a.mov_ri(RAX, target)
    a.store(Mem(RBP, PC_OFF), RAX)
    a.buf.append(0xE9)
    a.buf += struct.pack("<i", entry - (at + len(a.buf) + 4))
    return bytes(a.buf)


def rvc_table() -> bytes:
    """Every halfword's 32-bit equivalent (0: reserved, or not a compressed encoding)."""
    from array import array

    from ..decode_rvc import expand_rvc

    return array("I", [0 if (h & 3) == 3 else expand_rvc(h) for h in range(1 << 16)]).tobytes()

