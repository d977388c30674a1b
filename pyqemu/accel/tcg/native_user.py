"""The user-mode CPU loop on the native x86-64 backend.

Blocks are translated to machine code in a code buffer and entered through the
prologue with ctypes. Generated code returns ``(tb_id << 8) | kind`` and this loop
dispatches every kind in one place (:meth:`NativeUserEngine._run_hart`):

* an unchained direct exit: look the successor up (translating it if needed), patch
  the exit's ``jmp`` to it, and enter it: from then on the two blocks are chained;
* an indirect jump that missed the jump cache: fill the cache and continue;
* ``exit_tb``: syscall, ebreak, illegal instruction, fence.i;
* a guest access outside the guest space, a helper that raised: a guest signal;
* the exit flag seen at a block entry: deliver signals, or let another thread run.

Guest threads run one at a time, like QEMU's single-threaded TCG: the thread that
holds ``exec_lock`` runs guest code (outside the GIL); a thread that wants it raises
the yield byte of the exit flag, and the holder lets go at its next block entry. The
lock is released around system calls, so a blocking call never stalls other threads.
A thread holds the lock while it translates, patches or flushes, so no code changes
under a running thread. A fork child gets a code buffer of its own.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from collections.abc import Callable

from ...linux_user.guest_memory import HMASK, LOW, GuestFault, GuestMemory
from ...target.riscv import cpu_state as cs
from ...target.riscv import interp_x86_64 as interp
from ...target.riscv.helpers import IllegalInstruction
from ...target.riscv.translate import RiscvTranslator
from ...tcg.backends.x86_64 import codebuf as CB
from ...tcg.backends.x86_64 import codegen, regs
from ...tcg.backends.x86_64.runtime import EntryFn, HelperTable, emit_prologue
from ...tcg.ir import ExitReason, TCGContext
from . import interp_assets, tb_persist
from .translate_common import (  # noqa: F401 (host_supported: the CLI asks here)
    ILL_ILLOPC,
    PAGE_BITS,
    SEGV_MAPERR,
    TRAP_BRKPT,
    GuestFetchFault,
    file_at,
    host_supported,
    optimize_logged,
    write_stats,
)

ENV = regs.EnvLayout(pc=cs.PC, exit_aux=72, helper_out2=73, helper_raised=74,
                     scratch=75)
YIELD = 1  # byte of the exit flag a waiting thread raises (byte 0: signals pending)


class NativeTB:
    __slots__ = ("tb_id", "pc", "end", "n_insns", "off", "host", "jump_slots", "targets",
                 "generation")

    def __init__(self, tb_id: int, pc: int, end: int, n_insns: int, off: int, host: int,
                 blk: codegen.NativeBlock, generation: int) -> None:
        self.tb_id = tb_id
        self.pc = pc
        self.end = end
        self.n_insns = n_insns
        self.off = off
        self.host = host
        self.jump_slots = blk.jump_slots
        self.targets = blk.targets
        self.generation = generation


class NativeUserEngine:
    """Same interface as cpu_exec.UserEngine: run(cpu), invalidate_code, write_stats."""

    def __init__(self, mem: GuestMemory, can_execute, process, os_hooks, log=None,
                 max_insns: int = 0, tb_cache: str | None = None, interp: bool = True) -> None:
        self.mem = mem
        self.process = process
        self.os = os_hooks
        self.log = log
        self.translator = RiscvTranslator(mem, can_execute)
        if max_insns:
            self.translator.max_insns = max_insns
        self.stats_path = os.environ.get("PYQEMU_STATS")
        self.states: dict[int, object] = {}  # env address -> q
        self.helpers = HelperTable(ENV, self.states.__getitem__)
        self.consts = (ctypes.c_uint64 * 3)(mem.host_base, HMASK, mem.perm_base)
        self.exec_lock = threading.Lock()
        self.owner: int | None = None
        self.waiters = 0
        self.translate_ns = 0
        self.translated_insns = 0
        self.reused = 0  # blocks taken from the persistent cache
        self.persist = None
        # Tier 0: code runs in the interpreter until it is hot (not with -d logs, which
        # describe blocks, nor with a block-size limit).
        self.use_interp = interp and not log and not max_insns and \
            os.environ.get("PYQEMU_INTERP", "on") != "off"
        self.tier_ups = 0
        exe = getattr(process, "exe_path", None)
        if exe and not log and not max_insns and tb_persist.enabled(tb_cache):
            try:
                self.persist = tb_persist.PersistentSet(exe, self._file_at)
            except OSError:
                self.persist = None
        self._new_buffer()
        self._watch_signals()
        os.register_at_fork(after_in_child=self._after_fork_child)

    def _file_at(self, pc: int) -> str | None:
        """The file whose mapping holds pc (the persistent caches are per file)."""
        return file_at(getattr(self.process, "mm", None), pc)

    def _watch_signals(self) -> None:
        """Python runs signal handlers between bytecodes, never inside generated code,
        so a hot loop would keep a signal waiting forever. The C-level handler writes
        to the wakeup fd at once; a thread reading it raises the exit flag, generated
        code returns at its next block entry and the Python handler runs."""
        if threading.current_thread() is not threading.main_thread():
            return
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(r, True)
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)

        def watch() -> None:
            # Not a thread for the kernel to deliver signals to: a signal it took would
            # not interrupt the guest's blocking system call in the main thread (a
            # read() at Ctrl-C would go on waiting).
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            while True:
                try:
                    if not os.read(r, 64):
                        return
                except OSError:
                    return
                self.flag[0] = 1

        threading.Thread(target=watch, name="signal-watch", daemon=True).start()

    # ------------------------------------------------------------ code buffer
    def _new_buffer(self) -> None:
        self.cb = CB.CodeBuffer()
        self.entry_off, self.epilogue = emit_prologue(self.cb)
        self.interp_host = 0
        if self.use_interp:
            self.interp_host = self._place_interpreter()
        self.code_start = self.cb.top
        self.enter = EntryFn(self.cb.exec_base + self.entry_off)
        self.flag = self.cb.rw[CB.EXIT_FLAG:CB.EXIT_FLAG + 2]  # [signals, yield]
        # The process's exit_request: byte 0 of the flag that every block entry tests.
        self.process.exit_request = self.flag[0:1]
        self.tbs: dict[int, NativeTB] = {}
        self.by_id: list[NativeTB] = []
        self.pages: dict[int, list[NativeTB]] = {}
        self.generation = 0

    def _place_interpreter(self) -> int:
        """Put the interpreter and its tables after the prologue (flushes keep it);
        returns its entry's host address."""
        cb = self.cb
        at = (cb.top + 15) & ~15
        code = interp_assets.interpreter(at, self.epilogue, LOW)
        cb.place(code.code, at)
        cb.top = at + len(code.code)
        cb.rw[CB.RVC_TABLE:CB.RVC_TABLE + 4 * 65536] = interp_assets.rvc_table()
        cb.clear_interp_pages()
        self.counters = interp_assets.TierCounters(cb, False)
        self.armed_files: set[int] = set()
        self.trampolines = interp_assets.Trampolines(cb, cb.exec_base + at + code.entry,
                                                     cb.exec_base + at + code.entry_counted)
        return cb.exec_base + at + code.entry

    def _after_fork_child(self) -> None:
        # The buffer is a shared mapping: the child must not write into the parent's.
        if self.exec_lock.locked():
            self.exec_lock = threading.Lock()
            self.exec_lock.acquire()
            self.owner = threading.get_ident()
        self.waiters = 0
        self._new_buffer()
        self._watch_signals()

    def flush(self) -> None:
        """Drop every translation (the caller holds exec_lock)."""
        self.generation += 1
        self.tbs.clear()
        if self.use_interp:
            self.trampolines.clear()
        self.by_id.clear()
        self.pages.clear()
        self.cb.reset(self.code_start)

    # ------------------------------------------------------------ translation
    def _target(self, tb_id: int, at: int) -> codegen.BlockTarget:
        return codegen.BlockTarget(
            tb_id=tb_id, at=at, exec_base=self.cb.exec_base, exit_flag=CB.EXIT_FLAG,
            jump_cache=CB.JUMP_CACHE, jc_mask=CB.JC_ENTRIES - 1, epilogue=self.epilogue,
            low=LOW, helper_address=self.helpers.address, env=ENV)

    def build(self, pc: int) -> NativeTB:
        t0 = time.perf_counter_ns()
        if self.persist is not None:
            tb = self._from_persistent(pc)
            if tb is not None:
                self.translate_ns += time.perf_counter_ns() - t0
                self.reused += 1
                return tb
        tr = self.translator
        saved = tr.max_insns
        try:
            while True:
                ctx = TCGContext(tr.globals)
                n_insns, end = tr.translate(ctx, pc)
                try:
                    tb = self._compile(ctx, pc, n_insns, end)
                    break
                except codegen.TranslationTooBig:
                    tr.max_insns = max(1, min(tr.max_insns, n_insns) // 2)
        finally:
            tr.max_insns = saved
        self.translate_ns += time.perf_counter_ns() - t0
        self.translated_insns += n_insns
        return tb

    def _compile(self, ctx: TCGContext, pc: int, n_insns: int, end: int) -> NativeTB:
        log = self.log
        optimize_logged(self.translator, ctx, pc, end, log)
        blk = codegen.generate(ctx.ops, pc, self._target(len(self.by_id), self.cb.top))
        tb = self._place(pc, end, n_insns, len(blk.code),
                         lambda at, tb_id, helper_address:
                         codegen.relocate(blk.code, blk.relocs, at, tb_id, helper_address),
                         blk.jump_slots, blk.targets)
        if self.persist is not None:
            self.persist.add(pc, end, self.mem.read(pc, end - pc), n_insns, blk)
        if log and log.enabled("out_asm"):
            from ...tcg.backends.x86_64.disas import disassemble

            log.write(f"OUT: [size={len(blk.code)}]\n{disassemble(blk.code, tb.host)}\n")
        return tb

    def _place(self, pc: int, end: int, n_insns: int, size: int, code: Callable,
               jump_slots: dict, targets: dict) -> NativeTB:
        """Copy a block's code into the buffer; ``code(at, tb_id, helper_address)``
        gives its bytes relocated for buffer offset ``at``."""
        at = (self.cb.top + 15) & ~15
        if at + size > self.cb.size:
            self.flush()  # full: start again, as QEMU does with its code_gen_buffer
            at = self.cb.top
            if at + size > self.cb.size:
                raise RuntimeError("native backend: a block larger than the code buffer")
        tb_id = len(self.by_id)
        self.cb.place(code(at, tb_id, self.helpers.address), at)
        self.cb.top = at + size
        tb = NativeTB(tb_id, pc, end, n_insns, at, self.cb.exec_base + at,
                      codegen.NativeBlock(b"", jump_slots, targets), self.generation)
        self.by_id.append(tb)
        self.tbs[pc] = tb
        for page in range(pc >> PAGE_BITS, ((end - 1) >> PAGE_BITS) + 1):
            self.pages.setdefault(page, []).append(tb)
        return tb

    def _from_persistent(self, pc: int) -> NativeTB | None:
        """A block translated by an earlier run from the same bytes, if there is one."""
        tr = self.translator
        if not (tr.fetchable(pc) and tr.breakpoints == frozenset()):
            return None
        entry = self.persist.find(pc, lambda end: self.mem.read(pc, end - pc))
        if entry is None:
            return None
        if not tr.fetchable(entry.end - 1, 1):
            return None
        self.translated_insns += entry.n_insns
        return self._place(pc, entry.end, entry.n_insns, entry.size, entry.code,
                           entry.jump_slots, entry.targets)

    def save_translations(self) -> None:
        if self.persist is not None:
            self.persist.save()

    def lookup(self, pc: int) -> NativeTB:
        tb = self.tbs.get(pc)
        if tb is None:
            tb = self.build(pc)
        return tb

    def chain(self, tb: NativeTB, slot: int, nxt: NativeTB) -> None:
        """Patch tb's direct exit to jump straight into nxt (4-byte aligned rel32)."""
        if tb.generation != self.generation or nxt.generation != self.generation:
            return
        at = tb.off + tb.jump_slots[slot]
        rel = nxt.off - (at + 4)
        self.cb.rw[at:at + 4] = rel.to_bytes(4, "little", signed=True)

    def _exit_to_interpreter(self, tb: NativeTB, slot: int, target: int) -> None:
        """Patch tb's direct exit to a trampoline into the interpreter at target."""
        if tb.generation == self.generation:
            self.trampolines.patch_exit(tb.off + tb.jump_slots[slot], target)

    def invalidate_code(self, start: int, end: int) -> None:
        """Guest code in [start, end) may have changed (munmap, mprotect, a code write)."""
        if self.use_interp:
            self.cb.clear_interp_pages()  # its pages may no longer be executable
        if not any(page in self.pages
                   for page in range(start >> PAGE_BITS, ((end - 1) >> PAGE_BITS) + 1)):
            return
        if self.owner == threading.get_ident():
            self.flush()
            return
        self._acquire()
        try:
            self.flush()
        finally:
            self._release()

    # ------------------------------------------------------------ the exec lock
    def _acquire(self) -> None:
        lock = self.exec_lock
        if not lock.acquire(blocking=False):
            self.waiters += 1
            self.flag[YIELD] = 1  # the running thread leaves at its next block entry
            try:
                while not lock.acquire(timeout=0.05):
                    self.flag[YIELD] = 1
            finally:
                self.waiters -= 1
        self.owner = threading.get_ident()

    def _release(self) -> None:
        self.owner = None
        self.exec_lock.release()

    # ------------------------------------------------------------ the loop
    def run(self, cpu) -> None:
        q = cpu.q
        env = ctypes.addressof(cpu.state)
        self.states[env] = q
        self._acquire()
        try:
            self._run_hart(cpu, q, env)
        finally:
            self.states.pop(env, None)
            if self.owner == threading.get_ident():
                self._release()

    def _run_hart(self, cpu, q, env: int) -> None:
        os_ = self.os
        consts = self.consts
        pending = self.helpers.pending
        host = 0
        while True:
            if not host:
                pc = q[cs.PC]
                # self.tbs, not a local: a fork child has a buffer and blocks of its own
                tb = self.tbs.get(pc) or self._warm(pc)
                if tb is not None:
                    host = tb.host
                elif self.interp_host:
                    host = self.interp_host
                else:
                    try:
                        host = self.lookup(pc).host
                    except GuestFetchFault as e:
                        q[cs.PC] = e.pc
                        os_.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, e.pc)
                        continue
            code = self.enter(env, host, consts)
            kind = code & 0xFF
            host = 0
            try:
                if code >> regs.EXIT_SHIFT == interp.INTERP_ID:
                    host = self._interp_exit(cpu, q, kind)
                    continue
                tb = self.by_id[code >> regs.EXIT_SHIFT]
                if kind < regs.EXIT_LOOKUP:
                    target = tb.targets[kind]
                    nxt = self.tbs.get(target) or self._warm(target)
                    if nxt is None and self.interp_host:
                        q[cs.PC] = target  # cold: the interpreter runs it (and counts it)
                        self._exit_to_interpreter(tb, kind, target)
                        host = self.interp_host
                        continue
                    nxt = nxt or self.build(target)
                    self.chain(tb, kind, nxt)
                    host = nxt.host
                elif kind == regs.EXIT_LOOKUP:
                    pc = q[cs.PC]
                    nxt = self.tbs.get(pc) or self._warm(pc)
                    if nxt is None and self.interp_host:
                        # Cold: the jump cache leads into the interpreter from now on
                        # (until the target is translated and takes the entry over).
                        off = self.trampolines.get(pc, True)
                        if off:
                            self.cb.set_jump_cache(pc, self.cb.exec_base + off)
                        host = self.interp_host
                        continue
                    nxt = nxt or self.build(pc)
                    self.cb.set_jump_cache(pc, nxt.host)
                    host = nxt.host
                elif kind == regs.EXIT_REQUEST:
                    q[cs.PC] = tb.pc
                    self._exit_request(cpu)
                elif kind == regs.EXIT_TB:
                    self._exit_tb(cpu, q, ExitReason(q[ENV.exit_aux]))
                elif kind == regs.EXIT_FAULT:
                    os_.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, self._fault_address(cpu))
                elif kind == regs.EXIT_RAISED:
                    q[ENV.helper_raised] = 0
                    raise pending.pop(env)
                else:
                    raise RuntimeError(f"native backend: bad exit code {code:#x}")
            except GuestFetchFault as e:
                host = 0
                q[cs.PC] = e.pc
                os_.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, e.pc)
            except IllegalInstruction:
                host = 0
                os_.guest_fault(cpu, signal.SIGILL, ILL_ILLOPC, q[cs.PC])
            except GuestFault as e:
                host = 0
                os_.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, e.addr)
            except IndexError:
                host = 0
                os_.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, self._fault_address(cpu))

    def _warm(self, pc: int) -> NativeTB | None:
        """The block an earlier run translated at pc, placed (with the interpreter, the
        loop asks before running pc there: a warm run uses what it has at once)."""
        if self.persist is None or not self.interp_host:
            return None
        tb = self._from_persistent(pc)
        if tb is not None:
            self.reused += 1
        return tb

    def _interp_exit(self, cpu, q, kind: int) -> int:
        """The interpreter left with the exact pc in the state; returns where to go on
        (0: wherever the pc now is)."""
        pc = q[cs.PC]
        if kind == interp.I_TIERUP and self.counters.was_armed(pc):
            tb = self.tbs.get(pc) or self._warm(pc)
            if tb is None:
                return self.interp_host  # another pc's armed counter: count on
            self.cb.set_jump_cache(pc, tb.host)
            return tb.host
        if kind == interp.I_TIERUP or kind == interp.I_UNSUPPORTED:
            # Hot, or an instruction only the translator handles: translate from here.
            tb = self.lookup(pc)
            if kind == interp.I_TIERUP:
                self.tier_ups += 1
            self.cb.set_jump_cache(pc, tb.host)
            return tb.host
        if kind == interp.I_PAGE:
            if not self.translator.fetchable(pc):
                raise GuestFetchFault(pc)
            self._allow_fetch(pc)
            return self.interp_host
        if kind == interp.I_SYSCALL:
            self._exit_tb(cpu, q, ExitReason.SYSCALL)
        elif kind == regs.EXIT_REQUEST:
            self._exit_request(cpu)
        elif kind == regs.EXIT_FAULT:
            self.os.guest_fault(cpu, signal.SIGSEGV, SEGV_MAPERR, self._fault_address(cpu))
        else:
            raise RuntimeError(f"native backend: bad interpreter exit {kind:#x}")
        return 0

    def _allow_fetch(self, pc: int) -> None:
        """Let the interpreter fetch from pc's page, and from the rest of its executable
        mapping (up to the cache's size): one exit per mapping rather than per page."""
        if self.persist is not None:
            cache = self.persist.for_pc(pc)
            if id(cache) not in self.armed_files:  # the file's blocks, first seen
                self.armed_files.add(id(cache))
                self.counters.arm(cache.blocks)
        page = pc >> PAGE_BITS
        first = last = page
        mm = getattr(self.process, "mm", None)
        vma = mm.find(pc) if mm is not None else None
        if vma is not None:
            first = max(vma.start >> PAGE_BITS, page - interp.PAGE_CACHE_MASK // 2)
            last = min((vma.end - 1) >> PAGE_BITS, first + interp.PAGE_CACHE_MASK)
        q = self.cb.q
        base = CB.INTERP_PAGE_CACHE // 8
        for p in range(first, last + 1):
            q[base + (p & interp.PAGE_CACHE_MASK)] = p

    def _exit_request(self, cpu) -> None:
        flag = self.flag  # not cached: a fork child has a buffer of its own
        if flag[YIELD]:
            flag[YIELD] = 0
            self._yield_to_waiters()
        if flag[0]:
            flag[0] = 0
            self.os.deliver_signals(cpu)

    def _yield_to_waiters(self) -> None:
        """Let a thread that asked for the exec lock run, then queue up again."""
        if not self.waiters:
            return
        self._release()
        time.sleep(0.0002)
        self._acquire()

    def _exit_tb(self, cpu, q, reason: ExitReason) -> None:
        os_ = self.os
        if reason == ExitReason.LOOKUP:
            return  # the pc global holds the next pc
        if reason == ExitReason.SYSCALL:
            if q[17] in (93, 94, 221):  # exit, exit_group, execve: this process may end
                self.save_translations()
                if q[17] == 94 and self.stats_path:
                    self.write_stats()
            self._release()  # a blocking system call must not stall the other threads
            try:
                os_.syscall(cpu)
            finally:
                self._acquire()
        elif reason == ExitReason.ILLEGAL:
            os_.guest_fault(cpu, signal.SIGILL, ILL_ILLOPC, q[cs.PC])
        elif reason == ExitReason.EBREAK:
            os_.guest_fault(cpu, signal.SIGTRAP, TRAP_BRKPT, q[cs.PC])
        elif reason == ExitReason.FENCE_I:
            self.flush()
        elif reason == ExitReason.FETCH_FAULT:
            raise GuestFetchFault(q[cs.PC])
        else:
            raise RuntimeError(f"native backend: unexpected exit {reason.name}")

    def _fault_address(self, cpu) -> int:
        from .cpu_exec import UserEngine

        return UserEngine._fault_address(self, cpu)

    def write_stats(self) -> None:
        write_stats(self.stats_path, {
            "tbs": len(self.tbs), "translated_insns": self.translated_insns,
            "translate_ns": self.translate_ns, "backend": "native",
            "reused_tbs": self.reused, "tier_ups": self.tier_ups})
