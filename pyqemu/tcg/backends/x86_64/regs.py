"""Host register roles and the contract between generated code and its runtime.

Pinned for the whole of generated code (loaded by the prologue):
  rbp  the CPU state buffer (guest globals at 8 * word index)
  r15  guest_base: host address of guest-space offset 0
  r14  the guest-space offset mask (user mode: guest address - LOW, modulo the span)
  r13  user mode: the page permission table (linux_user/guest_memory.py, usermem.py)
Scratch inside one IR op (never hold a value between ops): rax, rcx (shift counts),
rdx (mulh, constants).
Allocatable for temporaries and cached globals: rbx, r12 (callee-saved: survive helper
calls), rsi, rdi, r8-r11 (clobbered by helper calls).
The stack frame holds spill slots at [rsp + 8 * slot].
"""

from __future__ import annotations

from ....record import Record
from .asm import R8, R9, R10, R11, R12, RBX, RDI, RSI

ALLOCATABLE = (RBX, R12, RSI, RDI, R8, R9, R10, R11)
CALLER_SAVED = frozenset((RSI, RDI, R8, R9, R10, R11))
FRAME_SLOTS = 255  # 8 * 255 + the 6 pushes + return address keeps rsp 16-aligned
FRAME = 8 * FRAME_SLOTS

# What generated code returns in rax: (tb_id << 8) | kind. Kinds below EXIT_LOOKUP are
# direct exits n (goto_tb n) that are not chained yet.
EXIT_SHIFT = 8
EXIT_LOOKUP = 0x80  # indirect jump missed the jump cache: pc global holds the target
EXIT_TB = 0x81  # exit_tb: the reason is in the state word ``exit_aux``
EXIT_FAULT = 0x82  # a guest access outside the guest space: pc holds the instruction
EXIT_RAISED = 0x83  # a helper raised a guest exception: pc holds the instruction
EXIT_REQUEST = 0x84  # the exit flag was set at the entry of block tb_id (pc not stored)


class EnvLayout(Record):
    """Word indices in the CPU state buffer that generated code and the runtime share:
    pc; exit_aux, the exit_tb reason; helper_out2, the second result of a two-result
    helper; helper_raised, set by a helper that raised a guest exception; scratch, a word
    generated code may use freely (MXCSR after an FP op). Compared and hashed by value."""

    _fields = ("pc", "exit_aux", "helper_out2", "helper_raised", "scratch")
    __slots__ = _fields

    def __init__(self, pc: int, exit_aux: int, helper_out2: int, helper_raised: int,
                 scratch: int) -> None:
        self.pc = pc
        self.exit_aux = exit_aux
        self.helper_out2 = helper_out2
        self.helper_raised = helper_raised
        self.scratch = scratch

    def __hash__(self) -> int:
        return hash(self._values())
