"""Memory system calls: brk, mmap family, madvise, and the RISC-V icache flush.

The semantics live in mmap.py; this file decodes registers (mmap's offset is in bytes on
64-bit: the generic mmap, not mmap2) and tells the translator when code may change.
"""

from __future__ import annotations

import errno

from pyqemu.linux_user.mmap import PAGE_MASK
from pyqemu.linux_user.syscall_registry import s32, syscall


@syscall("brk")
def sys_brk(p, cpu, addr, *_):
    return p.mm.brk(addr) if addr else p.mm.brk_cur


@syscall("mmap")
def sys_mmap(p, cpu, addr, length, prot, flags, fd, off):
    return p.mm.mmap(addr, length, s32(prot), s32(flags), s32(fd), off)


@syscall("munmap")
def sys_munmap(p, cpu, addr, length, *_):
    p.mm.munmap(addr, length)
    return 0


@syscall("mprotect")
def sys_mprotect(p, cpu, addr, length, prot, *_):
    p.mm.mprotect(addr, length, s32(prot))
    return 0


@syscall("mremap")
def sys_mremap(p, cpu, old, old_len, new_len, flags, new_addr, *_):
    return p.mm.mremap(old, old_len, new_len, s32(flags), new_addr)


@syscall("madvise")
def sys_madvise(p, cpu, addr, length, advice, *_):
    p.mm.madvise(addr, length, s32(advice))
    return 0


@syscall("msync")
def sys_msync(p, cpu, addr, length, flags, *_):
    if addr & PAGE_MASK:
        return -errno.EINVAL
    p.mm.msync(addr, length)
    return 0


@syscall("mlock", "munlock", "mlock2")
def sys_mlock(p, cpu, addr, length, *_):
    return 0


@syscall("mlockall", "munlockall")
def sys_mlockall(p, cpu, *_):
    return 0


@syscall("mincore")
def sys_mincore(p, cpu, addr, length, vec, *_):
    if addr & PAGE_MASK:
        return -errno.EINVAL
    n = (length + PAGE_MASK) >> 12
    if not p.mm.check_range(addr, n << 12, 0):
        return -errno.ENOMEM
    p.mem.write(vec, b"\1" * n)
    return 0


@syscall("riscv_flush_icache")
def sys_riscv_flush_icache(p, cpu, start, end, flags, *_):
    if end > start:
        p.invalidate_code(start, end)
    else:
        p.invalidate_code(0, 1 << 64)
    return 0


@syscall("membarrier")
def sys_membarrier(p, cpu, *_):
    return -errno.ENOSYS

