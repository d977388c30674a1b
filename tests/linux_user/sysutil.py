"""Calling guest system calls directly on a real Process and RiscvCPU."""

from __future__ import annotations

from pyqemu.linux_user.process import Process
from pyqemu.linux_user.syscall_nr import NR

from .guest_build import HELLO, build


def new_process(strace: bool = False):
    return Process.create(build(HELLO), ["hello"], ["A=1"], None, strace, [])


def sc(p, cpu, name: str, *args: int) -> int:
    """Run one system call as an ecall would; return a0 as a signed value."""
    cpu.set_x(17, NR[name])
    for i, a in enumerate(args):
        cpu.set_x(10 + i, a)
    for i in range(len(args), 6):
        cpu.set_x(10 + i, 0)
    p.syscall(cpu)
    v = cpu.get_x(10)
    return v - (1 << 64) if v >> 63 else v


def scratch(p, cpu, size: int = 0x10000) -> int:
    return sc(p, cpu, "mmap", 0, size, 3, 0x22, (1 << 64) - 1, 0)


def cstr(p, addr: int, s: str | bytes) -> int:
    p.mem.write(addr, (s.encode() if isinstance(s, str) else s) + b"\0")
    return addr
