"""The system call table the dispatcher uses, filled by the syscalls_* modules.

A handler is ``fn(p, cpu, a0, a1, a2, a3, a4, a5) -> int | None``: registers arrive as
unsigned 64-bit values; the return value goes to a0 (negative = -errno), ``None`` leaves
a0 alone (rt_sigreturn, restarted calls). OSError becomes -errno and GuestFault -EFAULT
in the dispatcher, so handlers just call the host and let errors propagate.
"""

from __future__ import annotations

from collections.abc import Callable

from pyqemu.linux_user.syscall_nr import NR

Handler = Callable[..., int | None]  # (no typing import: start-up time)
SYSCALLS: dict[int, Handler] = {}


def syscall(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            SYSCALLS[NR[name]] = fn
        return fn
    return register


def s32(v: int) -> int:
    """A register's low 32 bits as a C int (fds, AT_FDCWD, flags)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


class Interrupted(Exception):
    """A blocking call was interrupted by a signal the guest handles (EINTR or restart)."""


class Restart(Exception):
    """Re-execute the ecall after the handler returns (SA_RESTART semantics)."""
