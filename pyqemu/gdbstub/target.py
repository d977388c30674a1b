"""What the protocol needs from the thing it debugs (a user-mode process, a machine).

The session (session.py) speaks the wire protocol; a DebugTarget does the work: it owns
the threads (vCPUs or guest threads), their registers and memory, the break- and
watchpoints, and it resumes and stops execution. Every call except ``resume`` and
``interrupt`` is made while the target is stopped (gdb's all-stop mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Z/z packet types (gdb manual, "Packets": Z0..Z4).
SW_BREAK, HW_BREAK, WATCH_WRITE, WATCH_READ, WATCH_ACCESS = range(5)

# GDB's own signal numbers differ from Linux's past 6 (gdb/signals.def); the wire
# protocol carries GDB's. Linux signo -> GDB signo for the standard signals.
_LINUX_TO_GDB = {
    1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 10, 8: 8, 9: 9, 10: 30, 11: 11, 12: 31,
    13: 13, 14: 14, 15: 15, 16: 0, 17: 20, 18: 19, 19: 17, 20: 18, 21: 21, 22: 22,
    23: 16, 24: 24, 25: 25, 26: 26, 27: 27, 28: 28, 29: 23, 30: 32, 31: 12,
}
_GDB_TO_LINUX = {g: lx for lx, g in _LINUX_TO_GDB.items() if g}
GDB_SIGINT, GDB_SIGTRAP = 2, 5


def to_gdb_signal(linux_signo: int) -> int:
    return _LINUX_TO_GDB.get(linux_signo, 143)  # 143: GDB_SIGNAL_UNKNOWN


def to_linux_signal(gdb_signo: int) -> int:
    return _GDB_TO_LINUX.get(gdb_signo, 0)


@dataclass
class StopEvent:
    """Why execution stopped, as a stop reply describes it."""

    kind: str  # "signal" (T), "exited" (W), "killed" (X)
    signo: int = GDB_SIGTRAP  # GDB numbering
    tid: int = 1
    status: int = 0  # exit status for "exited"
    watch: tuple[int, int] | None = None  # (watchpoint type, data address) that hit

    def reply(self) -> str:
        if self.kind == "exited":
            return f"W{self.status & 0xFF:02x}"
        if self.kind == "killed":
            return f"X{self.signo:02x}"
        watch = ""
        if self.watch is not None:
            name = {WATCH_WRITE: "watch", WATCH_READ: "rwatch"}.get(self.watch[0], "awatch")
            watch = f"{name}:{self.watch[1]:x};"
        return f"T{self.signo:02x}{watch}thread:{self.tid:x};"


class DebugError(Exception):
    """A request the target cannot satisfy: the session answers with an E packet."""

    def __init__(self, errno: int = 14) -> None:
        super().__init__(errno)
        self.errno = errno


class DebugTarget(Protocol):
    def threads(self) -> list[int]: ...

    def target_xml(self) -> str: ...

    def read_registers(self, tid: int) -> bytes: ...

    def write_registers(self, tid: int, data: bytes) -> None: ...

    def read_register(self, tid: int, regnum: int) -> bytes | None: ...

    def write_register(self, tid: int, regnum: int, data: bytes) -> bool: ...

    def read_memory(self, tid: int, addr: int, length: int) -> bytes: ...

    def write_memory(self, tid: int, addr: int, data: bytes) -> None: ...

    def insert_point(self, kind: int, addr: int, length: int) -> bool: ...

    def remove_point(self, kind: int, addr: int, length: int) -> bool: ...

    def resume(self, actions: dict[int, tuple[str, int]],
               default: tuple[str, int] | None) -> None: ...

    def interrupt(self) -> None: ...

    def detach(self) -> None: ...

    def kill(self) -> None: ...
