"""-strace output (placeholder, replaced below)."""

from __future__ import annotations

import os
import sys

from pyqemu.linux_user.syscall_nr import SYSCALL_NAMES


def enter(p, nr: int, args: tuple) -> None:
    name = SYSCALL_NAMES.get(nr, f"syscall_{nr}")
    sys.stderr.write(f"{os.getpid()} {name}({','.join(hex(a) for a in args)})")
    sys.stderr.flush()


def leave(p, nr: int, args: tuple, ret) -> None:
    sys.stderr.write(f" = {ret}\n")
