"""The initial process stack: argc, argv, envp and the ELF auxiliary vector.

Layout from the RISC-V psABI ("Process initialization") and Linux's create_elf_tables():
from high to low addresses: an 8-byte end marker, the execfn string, the environment
and argument strings, the 16 AT_RANDOM bytes, padding, then (16-byte aligned at sp)
argc, argv[] + NULL, envp[] + NULL, auxv pairs ending with AT_NULL.
"""

from __future__ import annotations

import os
import struct

from pyqemu.linux_user.elf_loader import LoadedProgram
from pyqemu.linux_user.mmap import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_GROWSDOWN,
    MAP_PRIVATE,
    PAGE,
    PROT_READ,
    PROT_WRITE,
    STACK_MAX,
    STACK_TOP,
    MemoryMap,
)

AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_MINSIGSTKSZ = 23, 25, 26, 31, 51

# The base ISA and the standard extensions this hart implements: one bit per letter.
HWCAP_RISCV = sum(1 << (ord(c) - ord("a")) for c in "imafdc")
MINSIGSTKSZ = 2048


def map_stack(mm: MemoryMap) -> int:
    """Reserve the main thread's stack (RLIMIT_STACK worth, plus a guard page below)."""
    bottom = STACK_TOP - STACK_MAX
    mm.mmap(bottom - PAGE, PAGE, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    mm.mmap(bottom, STACK_MAX, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, name="[stack]")
    return STACK_TOP


def build_auxv(prog: LoadedProgram, random_addr: int, execfn_addr: int) -> list[tuple[int, int]]:
    exe = prog.exe
    return [
        (AT_PHDR, exe.phdr), (AT_PHENT, exe.phent), (AT_PHNUM, exe.phnum), (AT_PAGESZ, PAGE),
        (AT_BASE, prog.interp.bias if prog.interp else 0), (AT_FLAGS, 0), (AT_ENTRY, exe.entry),
        (AT_UID, os.getuid()), (AT_EUID, os.geteuid()), (AT_GID, os.getgid()), (AT_EGID, os.getegid()),
        (AT_HWCAP, HWCAP_RISCV), (AT_CLKTCK, os.sysconf("SC_CLK_TCK")), (AT_SECURE, 0),
        (AT_RANDOM, random_addr), (AT_EXECFN, execfn_addr), (AT_MINSIGSTKSZ, MINSIGSTKSZ),
        (AT_NULL, 0),
    ]


def setup_stack(mm: MemoryMap, prog: LoadedProgram, argv: list[str], envp: list[str],
                execfn: str) -> tuple[int, list[tuple[int, int]]]:
    """Map the stack and write the initial frame; return (sp, auxv) for the first hart."""
    mem = mm.mem
    top = map_stack(mm)
    p = top - 8  # end marker: keeps the last string away from the top page edge
    mem.write_u64(p, 0)

    def push_str(s: str) -> int:
        nonlocal p
        data = os.fsencode(s) + b"\0"
        p -= len(data)
        mem.write(p, data)
        return p

    execfn_addr = push_str(execfn)
    env_ptrs = [push_str(s) for s in reversed(envp)][::-1]
    arg_ptrs = [push_str(s) for s in reversed(argv)][::-1]
    p = (p - 16) & ~15
    random_addr = p
    mem.write(random_addr, os.urandom(16))
    auxv = build_auxv(prog, random_addr, execfn_addr)
    words = [len(argv), *arg_ptrs, 0, *env_ptrs, 0]
    for k, v in auxv:
        words += [k, v]
    sp = (p - 8 * len(words)) & ~15
    mem.write(sp, struct.pack(f"<{len(words)}Q", *words))
    return sp, auxv
