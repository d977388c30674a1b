"""What the block caches of both TCG backends share: the page size code is tracked by,
the fetch fault the translator raises, the optimization step with its logs, and the
si_code values of the faults the user-mode loops deliver.

Kept apart from the Python backend's block cache so that a program run on native code
does not import that backend (start-up time).
"""

from __future__ import annotations

import os

from ...tcg.ir import TCGContext, format_ops
from ...tcg.optimize import optimize

PAGE_BITS = 12

# si_code of the synchronous signals (asm-generic/siginfo.h)
SEGV_MAPERR, SEGV_ACCERR = 1, 2
ILL_ILLOPC = 1
TRAP_BRKPT = 1


class GuestFetchFault(Exception):
    """The guest tried to execute from an address that is not executable."""

    def __init__(self, pc: int) -> None:
        super().__init__(f"fetch fault at {pc:#x}")
        self.pc = pc


def optimize_logged(translator, ctx: TCGContext, pc: int, end: int, log) -> None:
    """Optimize a block's IR, with the -d in_asm, op and op_opt logs around it (both
    backends)."""
    if log and log.enabled("in_asm"):
        log.write(translator.disassemble(pc, end))
    if log and log.enabled("op"):
        log.write(f"OP:\n{format_ops(ctx.ops)}\n")
    optimize(ctx)
    if log and log.enabled("op_opt"):
        log.write(f"OP after optimization and liveness analysis:\n{format_ops(ctx.ops)}\n")


def host_supported() -> bool:
    """Whether the native backend can run here: its generated code is x86-64 for the
    System V ABI, in memfd-backed memory."""
    # os.uname, not the platform module: that costs 2 ms of every start-up
    return os.uname().machine in ("x86_64", "AMD64") and hasattr(os, "memfd_create") \
        and os.environ.get("PYQEMU_TCG_BACKEND", "") != "python"


def write_stats(path: str, stats: dict[str, int | str]) -> None:
    """Translation statistics for bench/ (PYQEMU_STATS=file): one JSON object of
    numbers and short words, written without the json module (its import is 13 ms
    of a run bench/ times, a tenth of a small benchmark's warm run)."""
    items = (f'"{k}": {v}' if isinstance(v, int) else f'"{k}": "{v}"'
             for k, v in stats.items())
    with open(path, "w") as f:
        f.write("{" + ", ".join(items) + "}")


def file_at(mm, pc: int) -> str | None:
    """The file whose mapping holds pc in a user-mode memory map (linux_user/mmap.py),
    or None: the persistent translation caches are per file."""
    vma = mm.find(pc) if mm is not None else None
    if vma is None or not vma.name or vma.name.startswith("["):
        return None
    return vma.name
