"""Run one IR block through the native backend on a given state and a small memory.

The block runs in a real code buffer through the real prologue; guest memory is a
ctypes buffer mapped at guest address ``low`` (offset 0), with a guard past its end
as in user mode. Helpers are real ctypes callbacks.
"""

from __future__ import annotations

import ctypes
import mmap

from pyqemu.linux_user.guest_memory import PERM_PAGES, PERM_READ, PERM_WRITE
from pyqemu.tcg.backends.x86_64 import codebuf as CB
from pyqemu.tcg.backends.x86_64 import codegen, regs
from pyqemu.tcg.backends.x86_64.runtime import EntryFn, HelperTable, emit_prologue
from pyqemu.tcg.ir import Op

ENV = regs.EnvLayout(pc=64, exit_aux=72, helper_out2=73, helper_raised=74, scratch=75)
STATE_WORDS = 192


class NativeRunner:
    def __init__(self, mem_size: int, low: int) -> None:
        self.cb = CB.CodeBuffer(1 << 20)
        self.entry, self.epilogue = emit_prologue(self.cb)
        self.enter = EntryFn(self.cb.exec_base + self.entry)
        self.code_start = self.cb.top
        self.low = low
        self.mem_size = mem_size
        self.mem = (ctypes.c_uint8 * (mem_size + 4096))()
        self.state = (ctypes.c_uint64 * STATE_WORDS)()
        self.q = memoryview(self.state).cast("B").cast("Q")
        self.states = {ctypes.addressof(self.state): self.q}
        self.helpers = HelperTable(ENV, self.states.__getitem__)
        # The page permission table (linux_user/guest_memory.py): the memory's pages
        # readable and writable, nothing else; an access running past the end faults.
        self.perm = mmap.mmap(-1, PERM_PAGES + 4096, flags=mmap.MAP_PRIVATE
                              | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0x4000))
        pages = (mem_size + 4095) // 4096
        self.perm[0:pages] = bytes([PERM_READ | PERM_WRITE]) * pages
        self.consts = (ctypes.c_uint64 * 3)(ctypes.addressof(self.mem), (1 << 38) - 1,
                                           ctypes.addressof(ctypes.c_char.from_buffer(self.perm)))

    def compile(self, ops: list[Op], pc: int = 0x1000) -> tuple[int, codegen.NativeBlock]:
        self.cb.reset(self.code_start)
        at = self.code_start
        target = codegen.BlockTarget(
            tb_id=1, at=at, exec_base=self.cb.exec_base, exit_flag=CB.EXIT_FLAG,
            jump_cache=CB.JUMP_CACHE, jc_mask=CB.JC_ENTRIES - 1, epilogue=self.epilogue,
            low=self.low, helper_address=self.helpers.address, env=ENV)
        blk = codegen.generate(ops, pc, target)
        self.cb.place(blk.code, at)
        return at, blk

    def run(self, ops: list[Op], regs_in: list[int], mem: bytearray) -> tuple[list[int], int]:
        """Registers (state words 0..len-1) and memory after the block; the exit code."""
        at, _ = self.compile(ops)
        for i in range(STATE_WORDS):
            self.q[i] = 0
        for i, v in enumerate(regs_in):
            self.q[i] = v
        ctypes.memmove(self.mem, bytes(mem), len(mem))
        code = self.enter(ctypes.addressof(self.state), self.cb.exec_base + at, self.consts)
        mem[:] = bytes(self.mem)[:len(mem)]
        return list(self.q[:len(regs_in)]), code
