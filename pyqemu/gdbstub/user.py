"""gdb on a user-mode process (``pyqemu-riscv64 -g PORT``): threads are the guest's
threads, memory is the guest address space.

All-stop: when one guest thread stops (breakpoint, step done, watchpoint, signal,
Ctrl-C) every other one parks at its next block boundary, and all wait until gdb
resumes them. Each guest thread runs :meth:`UserDebugger.run_thread` instead of the
engine's plain loop; the gdb connection is served by a thread of its own
(server.ThreadedGdbServer) and calls the DebugTarget methods while the guest is parked.

Translation follows what is being asked: blocks end before breakpoints (the
translator's ``breakpoints``) while continuing, and hold one instruction while stepping
or while watchpoints are set; switching between the two drops the translated blocks.
"""

from __future__ import annotations

import os
import signal
import threading

from ..accel.tcg.cpu_exec import DebugStop, GuestBreakpoint, UserEngine
from ..accel.tcg.tb_cache import GuestFetchFault
from ..linux_user.guest_memory import GuestFault
from ..linux_user.signals import SigInfo
from ..target.riscv import cpu_state as cs
from ..target.riscv.helpers import IllegalInstruction
from ..target.riscv.translate import MAX_INSNS
from .riscv import RiscvRegisters
from .target import (
    GDB_SIGINT,
    GDB_SIGTRAP,
    DebugError,
    StopEvent,
    to_gdb_signal,
    to_linux_signal,
)
from .watch import PointTable, Watchpoint, data_access, watch_hit

SEGV_MAPERR, ILL_ILLOPC, TRAP_BRKPT = 1, 1, 1
# Interrupts a guest thread's blocking host call for gdb's Ctrl-C. A real-time signal:
# the guest's own real-time signals are never host signals here, so it is ours alone.
KICK_SIGNAL = signal.SIGRTMAX - 1


class UserDebugger(PointTable):
    def __init__(self, engine: UserEngine, process) -> None:
        self.engine = engine
        self.process = process
        self.regs = RiscvRegisters(system=False)
        self.cond = threading.Condition()
        self.stopped = True  # the guest waits for gdb before its first instruction
        self.halt = [0]  # checked between blocks: park now
        self.interrupt_pending = False
        self.resume_gen = 0
        self.actions: dict[int, tuple[str, int]] = {}
        self.default: tuple[str, int] | None = None
        self.breakpoints: set[int] = set()
        self.watchpoints: list[Watchpoint] = []
        # pc of the last watchpoint stop: resuming there executes the access (gdb
        # steps over it itself, with watchpoints removed, as it must on RISC-V).
        self.watch_pc: int | None = None
        # tid -> (signal gdb was told about, whether the instruction at pc raised it)
        self.pending_fault: dict[int, tuple[SigInfo, bool]] = {}
        self.attached = True
        # Stops of threads that came second to another thread's reported stop.
        self.unreported: dict[int, StopEvent] = {}
        self.reported: tuple[int, int] | None = None  # (tid, pc) of the last stop reply
        self.host_threads: dict[int, int] = {}  # tid -> host thread ident (for the kick)
        self.server = None  # ThreadedGdbServer: where stop reports go
        self._mode: tuple[int, frozenset[int]] | None = None

    # ------------------------------------------------------------ DebugTarget
    def threads(self) -> list[int]:
        with self.process.sig_lock:
            return sorted(ts.tid for ts in self.process.threads.values())

    def target_xml(self) -> str:
        return self.regs.xml

    def auxv(self) -> bytes:
        """The auxiliary vector the process started with (qXfer:auxv:read)."""
        pairs = list(self.process.auxv)
        if not pairs or pairs[-1][0] != 0:
            pairs.append((0, 0))  # AT_NULL ends it
        return b"".join(k.to_bytes(8, "little") + v.to_bytes(8, "little") for k, v in pairs)

    def _cpu(self, tid: int):
        with self.process.sig_lock:
            for ts in self.process.threads.values():
                if ts.tid == tid:
                    return ts.cpu
        raise DebugError(1)

    def read_registers(self, tid: int) -> bytes:
        return self.regs.read_all(self._cpu(tid).q)

    def write_registers(self, tid: int, data: bytes) -> None:
        self.regs.write_all(self._cpu(tid).q, data)

    def read_register(self, tid: int, regnum: int) -> bytes | None:
        return self.regs.read(self._cpu(tid), regnum)

    def write_register(self, tid: int, regnum: int, data: bytes) -> bool:
        return self.regs.write(self._cpu(tid), regnum, data)

    def _mapped_prefix(self, addr: int, length: int) -> int:
        """How many bytes from addr are mapped (gdb may read anywhere: the answer for an
        unmapped address is an error, not zeros)."""
        mm = self.process.mm
        end = addr + length
        a = addr
        while a < end:
            vma = mm.find(a)
            if vma is None:
                break
            a = vma.end
        return max(0, min(a, end) - addr)

    def read_memory(self, tid: int, addr: int, length: int) -> bytes:
        if length == 0:
            return b""
        n = self._mapped_prefix(addr, length)
        if n == 0:
            raise DebugError(14)
        try:
            return self.process.mem.read(addr, n)
        except GuestFault:
            raise DebugError(14) from None

    def write_memory(self, tid: int, addr: int, data: bytes) -> None:
        # Like ptrace, the debugger may write read-only (code) pages.
        if self._mapped_prefix(addr, len(data)) != len(data):
            raise DebugError(14)
        try:
            self.process.mem.write(addr, data)
        except GuestFault:
            raise DebugError(14) from None
        self.engine.invalidate_code(addr, addr + len(data))

    def resume(self, actions: dict[int, tuple[str, int]],
               default: tuple[str, int] | None) -> None:
        with self.cond:
            self.actions = dict(actions)
            self.default = default
            self.stopped = False
            self.halt[0] = 0
            self.interrupt_pending = False
            self.resume_gen += 1
            self.cond.notify_all()

    def interrupt(self) -> None:
        with self.cond:
            if not self.stopped:
                self.interrupt_pending = True
                self._halt_all()
        # A thread blocked in a host system call (sleep, a read from a terminal) sees
        # the halt only when the call returns: interrupt the call. With no guest signal
        # to handle, the syscall layer re-executes the ecall after the stop.
        self._kick_later()

    def _kick_later(self) -> None:
        t = threading.Timer(0.1, self._kick_blocked)
        t.daemon = True  # never keeps the emulator alive
        t.start()

    def _kick_blocked(self) -> None:
        with self.cond:
            if not self.interrupt_pending:
                return  # stopped already
            idents = list(self.host_threads.values())
        for ident in idents:
            try:
                signal.pthread_kill(ident, KICK_SIGNAL)
            except (ProcessLookupError, OSError):
                pass

    def _halt_all(self) -> None:
        """Make every running guest thread leave generated code: the halt flag is checked
        between blocks, the exit request also inside a block that loops on itself."""
        self.halt[0] = 1
        self.engine.exit_request[0] = 1

    def attach(self) -> None:
        """A new gdb connection: stop the guest where it is, before gdb asks anything."""
        with self.cond:
            self.attached = True
            if self.stopped:
                return
            self.interrupt_pending = True
            self._halt_all()
        self._kick_later()
        with self.cond:
            self.cond.wait_for(lambda: self.stopped, timeout=5)

    def detach(self) -> None:
        with self.cond:
            self.breakpoints.clear()
            self.watchpoints.clear()
            self.attached = False
            # Signals gdb was told about go away with it (ptrace's detach with no
            # signal); those it never heard of reach the guest.
            for tid in [t for t in self.pending_fault if t not in self.unreported]:
                del self.pending_fault[tid]
            self.unreported.clear()
        self.resume({}, ("c", 0))

    def kill(self) -> None:
        os._exit(0)  # gdb's kill: the process is gone, no exit status to report

    # ------------------------------------------------------------ process hooks
    def on_exit(self, status: int) -> None:
        """exit_group: tell gdb (W) before the process ends."""
        self._report(StopEvent("exited", status=status))

    def on_killed(self, signo: int) -> None:
        """A fatal signal ends the process: tell gdb (X)."""
        self._report(StopEvent("killed", signo=to_gdb_signal(signo)))

    def forked_child(self) -> None:
        """In a forked child: run undebugged, and let go of the parent's sockets."""
        with self.cond:
            self.attached = False
            self.breakpoints.clear()
            self.watchpoints.clear()
            self.stopped = False
            self.cond.notify_all()
        server, self.server = self.server, None
        if server is not None:
            server.forget()

    def _report(self, ev: StopEvent) -> None:
        server = self.server
        if server is not None and self.attached:
            server.on_stop(ev)

    # ------------------------------------------------------------ translation mode
    def _set_mode(self, single: bool) -> None:
        """1-insn blocks without breakpoints (stepping, watching) or normal blocks that
        end before breakpoints (continuing); blocks of the other mode are dropped."""
        tr = self.engine.translator
        mode = (1, frozenset()) if single else (MAX_INSNS, frozenset(self.breakpoints))
        if mode != self._mode:
            tr.max_insns, tr.breakpoints = mode
            self.engine.tbc.flush()
            self._mode = mode

    # ------------------------------------------------------------ guest threads
    def run_thread(self, cpu) -> None:
        """The CPU loop of one guest thread while gdb may be attached."""
        tid = self.process.thread_of(cpu).tid
        self.host_threads[tid] = threading.get_ident()
        try:
            self._thread_loop(cpu, tid)
        finally:
            self.host_threads.pop(tid, None)

    def _thread_loop(self, cpu, tid: int) -> None:
        gen = -1
        while True:
            with self.cond:
                # Park until gdb resumes this thread (a step of another thread leaves
                # this one parked, like gdb's scheduler-locking for steps).
                while self.attached and (self.stopped or self.resume_gen == gen
                                         or self._action(tid) is None):
                    self.cond.wait()
                gen = self.resume_gen
                action = self._action(tid) or ("c", 0)
                attached = self.attached
            if not attached:
                # No debugger (detached, or a forked child): a signal this thread took
                # for gdb goes to the guest as if gdb had passed it; the thread runs
                # until it faults or a new debugger connects and halts it.
                info, _ = self.pending_fault.get(tid, (None, False))
                if info is not None:
                    self._deliver_resume_signal(cpu, tid, to_gdb_signal(info.signo))
                ev = self._run(cpu, tid)
            else:
                ev = self.unreported.pop(tid, None)
                if ev is not None and ev.signo == GDB_SIGTRAP \
                        and tid not in self.pending_fault \
                        and cpu.q[cs.PC] not in self.breakpoints:
                    ev = None  # it stopped at a breakpoint gdb has removed since
                if ev is None:
                    self._deliver_resume_signal(cpu, tid, action[1])
                    single = action[0] == "s" or bool(self.watchpoints)
                    ev = self._step(cpu, tid, action[0] == "s") if single \
                        else self._run(cpu, tid)
            report = None
            with self.cond:
                if ev is None and self.interrupt_pending and not self.stopped:
                    self.interrupt_pending = False
                    ev = StopEvent("signal", GDB_SIGINT, tid)
                if ev is not None and not self.stopped and self.attached:
                    self.stopped = True
                    self._halt_all()
                    self.reported = (tid, cpu.q[cs.PC])
                    report = ev
                    self.cond.notify_all()  # attach() waits for the stop
                elif ev is not None and self.attached:
                    # Another thread's stop was reported first: gdb hears of this one
                    # when it resumes this thread, before it runs again.
                    self.unreported[tid] = ev
                elif not self.stopped and ev is None and action[0] == "c":
                    gen = -1  # nothing stopped us (detach race): keep running
            if report is not None:
                # Outside the lock: the server thread holds its own lock when it calls
                # in here (interrupt, resume), and reporting takes that lock.
                self._report(report)

    def _action(self, tid: int) -> tuple[str, int] | None:
        return self.actions.get(tid, self.default)

    def _deliver_resume_signal(self, cpu, tid: int, gdb_sig: int) -> None:
        """C/S with a signal: the one gdb was told about goes to the guest as it would
        have (handler or death); 0 discards it, as ptrace does."""
        info, sync = self.pending_fault.pop(tid, (None, False))
        if not gdb_sig:
            return
        signo = to_linux_signal(gdb_sig)
        p = self.process
        if info is not None and info.signo == signo and sync:
            p.guest_fault(cpu, info.signo, info.code, info.addr)
        elif info is not None and info.signo == signo:
            p._handle(cpu, p.thread_of(cpu), info)  # with its siginfo (sender, code...)
            p._update_exit_request()
        elif signo:
            self.process.queue_signal(SigInfo(signo), self.process.thread_of(cpu))
            self.process.deliver_signals(cpu)

    def _fault(self, cpu, tid: int, signo: int, code: int, addr: int) -> StopEvent:
        self.pending_fault[tid] = (SigInfo(signo, code=code, addr=addr), True)
        return StopEvent("signal", to_gdb_signal(signo), tid)

    def _signal_stop(self, cpu, tid: int) -> StopEvent | None:
        """A signal sent to the guest (kill, a timer, a child) stops it for gdb first,
        as ptrace does; gdb resumes with it (C/S) or without it. None: nothing pending."""
        p = self.process
        p._drain_host_signals()
        info = p._take(p.thread_of(cpu))
        if info is None:
            p.deliver_signals(cpu)  # bookkeeping (sigsuspend's mask, the exit request)
            return None
        self.pending_fault[tid] = (info, False)
        p._update_exit_request()
        return StopEvent("signal", to_gdb_signal(info.signo), tid)

    def _guarded(self, cpu, tid: int, body) -> StopEvent | None:
        """Run body(); guest faults become stop events for gdb instead of signals."""
        q = cpu.q
        try:
            return body()
        except DebugStop:
            return StopEvent("signal", GDB_SIGTRAP, tid)
        except IndexError:
            return self._fault(cpu, tid, signal.SIGSEGV, SEGV_MAPERR,
                               self.engine._fault_address(cpu))
        except GuestFault as e:
            return self._fault(cpu, tid, signal.SIGSEGV, SEGV_MAPERR, e.addr)
        except GuestFetchFault as e:
            q[cs.PC] = e.pc
            return self._fault(cpu, tid, signal.SIGSEGV, SEGV_MAPERR, e.pc)
        except IllegalInstruction:
            return self._fault(cpu, tid, signal.SIGILL, ILL_ILLOPC, q[cs.PC])
        except GuestBreakpoint:
            return self._fault(cpu, tid, signal.SIGTRAP, TRAP_BRKPT, q[cs.PC])

    def _run(self, cpu, tid: int) -> StopEvent | None:
        """Continue: blocks run until a breakpoint, a fault, or a request to park."""
        q = cpu.q
        if q[cs.PC] in self.breakpoints and self.reported == (tid, q[cs.PC]):
            # Resuming where gdb saw this thread stop, at a breakpoint, executes its
            # instruction first (gdb normally steps over it itself, with it removed).
            ev = self._step(cpu, tid, False)
            if ev is not None or self.halt[0]:
                return ev
        self._set_mode(False)
        engine = self.engine
        X, H = engine.exit_request.builtins, self.halt
        tbc = engine.tbc

        def body() -> StopEvent | None:
            fn = tbc.lookup_q(q)
            while True:
                while not (X["XR"] or H[0]):
                    fn = fn(q)
                X["XR"] = False
                if not hasattr(fn, "guest_pc"):
                    fn = fn(q)  # the rest of the instruction that exited to the loop
                q[cs.PC] = fn.guest_pc
                ev = self._signal_stop(cpu, tid)
                if ev is not None or H[0]:
                    return ev
                fn = tbc.lookup_q(q)

        return self._guarded(cpu, tid, body)

    def _step(self, cpu, tid: int, stepping: bool) -> StopEvent | None:
        """Execute one instruction (gdb's step), or instructions one by one while
        watchpoints are set until one hits (reported before the access: see watch.py)."""
        q = cpu.q
        self._set_mode(True)
        engine = self.engine
        X = engine.exit_request
        mem = self.process.mem
        first = True
        while True:
            if self.watchpoints and not (first and stepping):
                try:
                    access = data_access(mem.read_u16, q[cs.PC], cpu.get_x)
                except GuestFault:
                    access = None
                hit = watch_hit(self.watchpoints, access)
                if hit is not None and not (first and q[cs.PC] == self.watch_pc):
                    self.watch_pc = q[cs.PC]
                    return StopEvent("signal", GDB_SIGTRAP, tid, watch=hit)
            first = False

            def body() -> StopEvent | None:
                fn = engine.tbc.lookup_q(q)
                X[0] = 1  # a block that loops on itself runs one iteration
                fn = fn(q)
                if not hasattr(fn, "guest_pc"):
                    fn = fn(q)
                q[cs.PC] = fn.guest_pc
                X[0] = 0
                return self._signal_stop(cpu, tid)

            ev = self._guarded(cpu, tid, body)
            if ev is not None:
                return ev
            if stepping or q[cs.PC] in self.breakpoints:
                return StopEvent("signal", GDB_SIGTRAP, tid)
            if self.halt[0] or not self.watchpoints:
                return None

def start_user_gdbstub(spec: str, engine: UserEngine, process) -> UserDebugger:
    """``-g PORT``: listen, wait for gdb, and make the engine run under it."""
    from .server import ThreadedGdbServer, listen, parse_port

    host, port = parse_port(spec)
    listener = listen(host, port)
    # A handler that does nothing, without SA_RESTART: the kicked call returns EINTR.
    signal.signal(KICK_SIGNAL, lambda signo, frame: None)
    signal.siginterrupt(KICK_SIGNAL, True)
    dbg = UserDebugger(engine, process)
    server = ThreadedGdbServer(listener, dbg)
    dbg.server = server
    engine.debug = dbg
    process.gdb = dbg
    server.accept_first()
    return dbg
