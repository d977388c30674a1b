"""The TCG execution loop for user mode: find block -> run -> dispatch its exit.

Generated code returns the function to run next, so the inner loop is one call per
block. Everything that is not "the next block" arrives here in one place
(``CpuLoop.run``): exits to the loop (syscall, ebreak, illegal instruction, fence.i)
are small functions that generated code returns; guest faults are Python exceptions
raised inside a block after it stored the faulting pc; asynchronous signals set
``exit_request[0]`` and the loop leaves generated code at the next block boundary or
loop back-edge.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from ...linux_user.guest_memory import HMASK, LOW, GuestFault, GuestMemory
from ...target.riscv import cpu_state as cs
from ...target.riscv.helpers import IllegalInstruction
from ...target.riscv.translate import RiscvTranslator
from ...tcg.backends.python.runtime import ExitRequest
from ...tcg.ir import ExitReason
from .bitops import _bswap64, _ctz, _rotl, _rotr  # noqa: F401 (the runtime names them)
from .tb_cache import GuestFetchFault, TBCache
from .translate_common import (  # noqa: F401
    ILL_ILLOPC,
    SEGV_ACCERR,
    SEGV_MAPERR,
    TRAP_BRKPT,
    file_at,
    write_stats,
)


class GuestBreakpoint(Exception):
    pass


class DebugStop(Exception):
    """A block reached a debugger breakpoint (ExitReason.DEBUG, see pyqemu.gdbstub)."""


class UserEngine:
    """Translation and execution state shared by all threads of one guest process."""

    def __init__(self, mem: GuestMemory, can_execute: Callable[[int], bool],
                 exit_request: list, os_hooks, log=None, max_insns: int = 0,
                 tb_cache: str | None = None) -> None:
        self.mem = mem
        self.os = os_hooks  # .syscall(cpu), .deliver_signals(cpu), .guest_fault(cpu, sig, code, addr)
        # The process's exit request becomes the one generated code tests (XR).
        self.exit_request = ExitRequest(exit_request[0])
        if hasattr(os_hooks, "exit_request"):
            os_hooks.exit_request = self.exit_request
        self.log = log
        self.cpus: dict[int, object] = {}
        self.debug = None  # pyqemu.gdbstub.user.UserDebugger while gdb may be attached
        self.stats_path = os.environ.get("PYQEMU_STATS")  # id(cpu.q) -> cpu, for exits that need the hart
        self.translator = RiscvTranslator(mem, can_execute)
        if max_insns:
            self.translator.max_insns = max_insns
        m8 = mem.m8
        region = len(m8)

        def ld_slow(h: int, size: int, signed: int) -> int:
            # A misaligned access: Linux emulates these for user programs.
            if h + size > region:
                raise IndexError("guest access past the address space")
            return int.from_bytes(m8[h:h + size], "little", signed=bool(signed))

        def st_slow(h: int, size: int, value: int) -> None:
            if h + size > region:
                raise IndexError("guest access past the address space")
            m8[h:h + size] = value.to_bytes(size, "little")

        exits = [None] * (max(ExitReason) + 1)
        exits[ExitReason.LOOKUP] = self._exit_lookup
        exits[ExitReason.SYSCALL] = self._exit_syscall
        exits[ExitReason.EBREAK] = self._exit_ebreak
        exits[ExitReason.ILLEGAL] = self._exit_illegal
        exits[ExitReason.FENCE_I] = self._exit_fence_i
        exits[ExitReason.DEBUG] = self._exit_debug
        runtime = {
            "m8": mem.m8, "m16": mem.m16, "m32": mem.m32, "m64": mem.m64,
            "s8": mem.s8, "s16": mem.s16, "s32": mem.s32, "s64": mem.s64,
            "d64": mem.m8.cast("d"),  # FP loads/stores of host floats (fpinline)
            "ld_slow": ld_slow, "st_slow": st_slow, "EXIT": exits,
            "__builtins__": self.exit_request.builtins,
            "rotl": _rotl, "rotr": _rotr, "ctz": _ctz, "bswap64": _bswap64,
            "LOG_EXEC": self._log_exec,
        }
        exec_log = bool(log and (log.enabled("exec") or log.enabled("cpu")))
        self.tbc = TBCache(self.translator, runtime, LOW, HMASK, log, exec_log)
        # Blocks kept across runs of the same program (tb_persist_python): not with
        # logs (they describe each block as it is made) nor a block-size limit.
        exe = getattr(os_hooks, "exe_path", None)
        if exe and self.tbc.tiered and not max_insns:
            from . import tb_persist

            if tb_persist.enabled(tb_cache):
                from .tb_persist_python import ProgramCache

                self.tbc.persist = ProgramCache(exe, self._file_at, self._code_bytes)

    def _file_at(self, pc: int) -> str | None:
        """The file whose mapping holds pc (the persistent caches are per file)."""
        return file_at(getattr(self.os, "mm", None), pc)

    def _code_bytes(self, start: int, end: int) -> bytes | None:
        """Guest code in [start, end), or None where it is not executable."""
        tr = self.translator
        if not (tr.fetchable(start) and tr.fetchable(end - 1, 1)):
            return None
        try:
            return bytes(self.mem.read(start, end - start))
        except (GuestFault, IndexError, ValueError):
            return None

    def save_translations(self) -> None:
        if self.tbc.persist is not None:
            self.tbc.persist.save()

    # ------------------------------------------------------------ exits
    def _exit_lookup(self, q):
        return self.tbc.lookup_q(q)

    def _exit_syscall(self, q):
        if q[17] in (93, 94, 221):  # exit, exit_group, execve: this process may end
            self.save_translations()
            if q[17] == 94 and self.stats_path:  # the process ends inside the call
                self.write_stats()
        self.os.syscall(self.cpus[id(q)])
        return self.tbc.lookup_q(q)

    def _exit_ebreak(self, q):
        raise GuestBreakpoint()

    def _exit_illegal(self, q):
        raise IllegalInstruction()

    def _exit_fence_i(self, q):
        self.tbc.flush()
        return self.tbc.lookup_q(q)

    def _exit_debug(self, q):
        raise DebugStop()

    def _log_exec(self, pc: int, q) -> None:
        if self.log.enabled("cpu"):
            regs = " ".join(f"{q[i]:016x}" for i in range(1, 32))
            self.log.write(f"{pc:016x} {regs}\n")
        if self.log.enabled("exec"):
            tb = self.tbc.tbs.get(pc)
            self.log.write(f"Trace 0: [{pc:016x}] {tb.n_insns if tb else 0} insns\n")

    def write_stats(self) -> None:
        """Translation statistics for bench/ (PYQEMU_STATS=file)."""
        tbc = self.tbc
        write_stats(self.stats_path, {"tbs": len(tbc.tbs), "translated_insns": tbc.translated_insns,
                                      "translate_ns": tbc.translate_ns, "reused_tbs": tbc.reused})

    def invalidate_code(self, start: int, end: int) -> None:
        self.tbc.invalidate_range(start, end)

    def thread_started(self) -> None:
        """The process has a second thread: atomic blocks must not be interpreted now."""
        self.tbc.threaded[0] = True

    # ------------------------------------------------------------ the loop
    def run(self, cpu) -> None:
        """Run one hart until its thread exits (the OS layer raises or os._exit()s)."""
        cpu.use_word_list()
        if self.debug is not None:
            self.cpus[id(cpu.q)] = cpu
            try:
                self.debug.run_thread(cpu)  # gdb decides when it runs
            finally:
                self.cpus.pop(id(cpu.q), None)
            return
        self.run_plain(cpu)

    def run_plain(self, cpu) -> None:
        """The loop without a debugger."""
        q = cpu.q
        self.cpus[id(q)] = cpu
        X = self.exit_request.builtins
        tbc = self.tbc
        os_ = self.os
        fn = tbc.lookup_q(q)
        try:
            while True:
                try:
                    while not X["XR"]:
                        fn = fn(q)
                    X["XR"] = False
                    if not hasattr(fn, "guest_pc"):
                        # An exit to the loop (a syscall...) is the rest of the instruction
                        # that returned it: finish it before taking the signal.
                        fn = fn(q)
                    q[cs.PC] = fn.guest_pc
                    os_.deliver_signals(cpu)
                except IndexError:
                    os_.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, self._fault_address(cpu))
                except GuestFault as e:
                    os_.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, e.addr)
                except GuestFetchFault as e:
                    q[cs.PC] = e.pc
                    os_.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, e.pc)
                except IllegalInstruction:
                    os_.guest_fault(cpu, signal.SIGILL, ILL_ILLOPC, q[cs.PC])
                except GuestBreakpoint:
                    os_.guest_fault(cpu, signal.SIGTRAP, TRAP_BRKPT, q[cs.PC])
                fn = tbc.lookup_q(q)
        finally:
            self.cpus.pop(id(q), None)

    def _fault_address(self, cpu) -> int:
        """The data address of the load/store at pc (the block stored pc before raising)."""
        from ...target.riscv.decode import decode

        pc = cpu.pc
        try:
            insn = decode(self.mem.read_u16, pc)
        except GuestFault:
            return pc
        if insn is None:
            return pc
        return (cpu.get_x(insn.rs1) + insn.imm) & 0xFFFFFFFFFFFFFFFF if insn.name[0] in "lsaf" \
            else pc
