"""Watchpoints: which data bytes an instruction is about to touch, and which watchpoint
that hits.

Watchpoints are checked by running one instruction at a time while any is set and
decoding each instruction before it runs: a load, store or AMO names its address
(x[rs1] + imm) and size exactly, so read, write and access watchpoints all work and a
store of an unchanged value is still a write (what hardware triggers do). As QEMU
reports a watchpoint, the stop comes after the instruction completed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..target.riscv.decode import decode
from .target import HW_BREAK, SW_BREAK, WATCH_ACCESS, WATCH_READ, WATCH_WRITE

_LOAD_SIZES = {"lb": 1, "lbu": 1, "lh": 2, "lhu": 2, "lw": 4, "lwu": 4, "ld": 8, "flw": 4,
               "fld": 8, "lr_w": 4, "lr_d": 8}
_STORE_SIZES = {"sb": 1, "sh": 2, "sw": 4, "sd": 8, "fsw": 4, "fsd": 8, "sc_w": 4, "sc_d": 8}


@dataclass(frozen=True)
class Watchpoint:
    kind: int  # WATCH_WRITE, WATCH_READ or WATCH_ACCESS
    addr: int
    length: int

    def overlaps(self, addr: int, size: int) -> bool:
        return addr < self.addr + self.length and self.addr < addr + size


class PointTable:
    """gdb's Z/z packets for a debugger that checks breakpoints and watchpoints itself
    (TCG): the set of breakpoint addresses and the list of watchpoints."""

    breakpoints: set[int]
    watchpoints: list[Watchpoint]

    def insert_point(self, kind: int, addr: int, length: int) -> bool:
        if kind in (SW_BREAK, HW_BREAK):
            self.breakpoints.add(addr)
            return True
        w = Watchpoint(kind, addr, max(length, 1))
        if w not in self.watchpoints:
            self.watchpoints.append(w)
        return True

    def remove_point(self, kind: int, addr: int, length: int) -> bool:
        if kind in (SW_BREAK, HW_BREAK):
            self.breakpoints.discard(addr)
            return True
        w = Watchpoint(kind, addr, max(length, 1))
        if w in self.watchpoints:
            self.watchpoints.remove(w)
        return True


def data_access(read_u16, pc: int, get_x) -> tuple[int, int, bool, bool] | None:
    """(address, size, reads, writes) of the memory access the instruction at pc makes,
    or None when it makes none. read_u16 fetches code; get_x reads an x register."""
    insn = decode(read_u16, pc)
    if insn is None:
        return None
    name = insn.name
    if name in _LOAD_SIZES:
        size, reads, writes = _LOAD_SIZES[name], True, False
    elif name in _STORE_SIZES:
        size, reads, writes = _STORE_SIZES[name], False, True
    elif name.startswith("amo"):
        size, reads, writes = (4 if name.endswith("_w") else 8), True, True
    else:
        return None
    imm = insn.imm if not name.startswith(("amo", "lr_", "sc_")) else 0
    return (get_x(insn.rs1) + imm) & 0xFFFFFFFFFFFFFFFF, size, reads, writes


def watch_hit(points: list[Watchpoint], access: tuple[int, int, bool, bool] | None
              ) -> tuple[int, int] | None:
    """(watchpoint kind, watched address) of the first watchpoint the access triggers."""
    if access is None or not points:
        return None
    addr, size, reads, writes = access
    for w in points:
        if not w.overlaps(addr, size):
            continue
        if (w.kind == WATCH_WRITE and writes) or (w.kind == WATCH_READ and reads) \
                or w.kind == WATCH_ACCESS:
            return w.kind, w.addr
    return None
