"""The native backend's runtime: prologue/epilogue, the ctypes entry, helper callbacks.

``enter(env, host_code, consts)`` is a C function at the start of the code buffer:

    push rbp, rbx, r12, r13, r14, r15; sub rsp, FRAME
    rbp = env; r15 = consts[0] (guest_base); r14 = consts[1] (mask); r13 = consts[2]
    (user mode: the page permission table)
    jmp host_code
  epilogue:
    add rsp, FRAME; pop ...; ret           (rax = (tb_id << 8) | exit kind)

It is called through ctypes, which releases the GIL for the call: generated code runs
without holding it, and a helper callback takes it again for its duration.

Helpers are Python functions; each gets a ctypes callback of C type
``uint64 (uint64 env, uint64 args...)``. The callback never lets an exception escape
into C: it stores it, sets the state word ``helper_raised``, and generated code leaves
the block through its EXIT_RAISED stub. Two-result helpers return the second result
in the state word ``helper_out2``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from ...ir import Helper
from . import asm as A
from .codebuf import CodeBuffer
from .regs import FRAME, EnvLayout

MASK = (1 << 64) - 1
_SAVED = (A.RBP, A.RBX, A.R12, A.R13, A.R14, A.R15)


def emit_prologue(cb: CodeBuffer) -> tuple[int, int]:
    """Write the entry and the epilogue at the buffer's code start; (entry, epilogue)."""
    a = A.Assembler()
    for r in _SAVED:
        a.push(r)
    a.alu_ri(A.SUB, A.RSP, FRAME)
    a.mov_rr(A.RBP, A.RDI)
    a.load(A.R15, A.Mem(A.RDX, 0))
    a.load(A.R14, A.Mem(A.RDX, 8))
    a.load(A.R13, A.Mem(A.RDX, 16))
    a.jmp_r(A.RSI)
    a.nop_to_align(16)
    epilogue = a.pos()
    a.alu_ri(A.ADD, A.RSP, FRAME)
    for r in reversed(_SAVED):
        a.pop(r)
    a.ret()
    a.nop_to_align(16)
    start = cb.code_start
    cb.place(a.buf, start)
    cb.top = start + len(a.buf)
    return start, start + epilogue


EntryFn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class HelperTable:
    """C-callable addresses for helpers, created once per helper and kept alive."""

    def __init__(self, env: EnvLayout, state_of: Callable[[int], object],
                 override: dict[str, Callable] | None = None) -> None:
        self.env = env
        # Helpers whose function the accelerator supplies (bound to a machine's harts).
        self.override = override or {}
        self.state_of = state_of  # env address -> the state's word view (q)
        self.pending: dict[int, BaseException] = {}  # env address -> raised exception
        self._callbacks: dict[int, tuple[object, int]] = {}

    def address(self, helper: Helper, n_args: int) -> int:
        """The callback for helper called with n_args IR arguments."""
        hit = self._callbacks.get(id(helper))
        if hit is not None:
            return hit[1]
        proto = ctypes.CFUNCTYPE(ctypes.c_uint64, *([ctypes.c_uint64] * (1 + n_args)))
        cb = proto(self._wrap(helper))
        addr = ctypes.cast(cb, ctypes.c_void_p).value
        self._callbacks[id(helper)] = (cb, addr)
        return addr

    def _wrap(self, helper: Helper) -> Callable:
        func = self.override.get(helper.name, helper.func)
        state_of = self.state_of
        pending = self.pending
        out2 = self.env.helper_out2
        raised = self.env.helper_raised
        with_state = helper.state
        n_out = helper.n_out

        def callback(env: int, *args: int) -> int:
            q = state_of(env)
            try:
                r = func(q, *args) if with_state else func(*args)
                if n_out == 0:
                    return 0
                if n_out == 1:
                    return r & MASK
                q[out2] = r[1] & MASK
                return r[0] & MASK
            except BaseException as e:  # a guest exception (or a bug): the loop decides
                pending[env] = e
                q[raised] = 1
                return 0

        return callback
