"""The Linux process a user-mode guest sees: memory, threads, signals, system calls.

The CPU loop (accel/tcg/cpu_exec.py) drives it through three entry points:
``syscall(cpu)`` for ``ecall`` (pc already past it), ``deliver_signals(cpu)`` between
blocks when ``exit_request[0]`` is set and after each syscall, and ``guest_fault`` for a
synchronous trap. The CLI sets ``run_thread``, ``invalidate_code`` and may replace
``exit_request`` after ``create()``.

File descriptors are the host's (guest fd n is host fd n), as in qemu's linux-user.
"""

from __future__ import annotations

import errno
import os
import signal
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable

from pyqemu.linux_user import signals as sg
from pyqemu.linux_user.elf_loader import LoadedProgram, load_program
from pyqemu.linux_user.guest_memory import GuestFault, GuestMemory
from pyqemu.linux_user.host_dispositions import CATCH, DEFAULT, IGNORE, HostDispositions
from pyqemu.linux_user.mmap import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    MemoryMap,
)
from pyqemu.linux_user.signals import SigAction, SigInfo, ThreadState
from pyqemu.linux_user.stack import setup_stack
from pyqemu.linux_user.syscall_nr import SYSCALL_NAMES
from pyqemu.linux_user.syscall_registry import SYSCALLS, Interrupted, Restart
from pyqemu.target.riscv.cpu_state import RiscvCPU

# li a7, 139 ; ecall  — the return path of every guest signal handler.
SIGRETURN_CODE = struct.pack("<II", 0x08B00893, 0x00000073)
ENOSYS = errno.ENOSYS
# clone(2) flags (include/uapi/linux/sched.h).
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT, CLONE_THREAD = 0x1000, 0x2000, 0x4000, 0x8000, 0x10000
CLONE_SYSVSEM, CLONE_SETTLS, CLONE_PARENT_SETTID = 0x40000, 0x80000, 0x100000
CLONE_CHILD_CLEARTID, CLONE_DETACHED, CLONE_CHILD_SETTID = 0x200000, 0x400000, 0x1000000


class ThreadExit(Exception):
    """Raised out of syscall() when the calling guest thread ends (exit, not exit_group)."""


# Signals the emulator raises for the guest's own writes (_write_signal), which the host
# ignores.
SYNTHESIZED = frozenset({signal.SIGPIPE, signal.SIGXFSZ})
_WRITES = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2", "splice", "tee",
                     "sendfile", "copy_file_range", "vmsplice"})
_SEND_FLAGS = {"sendto": 3, "sendmsg": 2, "sendmmsg": 3}  # the flags argument
_MSG_NOSIGNAL = 0x4000


class Process:
    """One emulated Linux process (thread group)."""

    def __init__(self, mem: GuestMemory, mm: MemoryMap, prog: LoadedProgram, argv: list[str],
                 envp: list[str], ld_prefix: str | None, strace: bool, exec_argv: list[str]) -> None:
        self.mem = mem
        self.mm = mm
        self.prog = prog
        self.argv = argv
        self.envp = envp
        self.ld_prefix = ld_prefix
        self.strace = strace
        self.exec_argv = exec_argv
        self.exe_path = prog.exe.path
        self.auxv: list[tuple[int, int]] = []
        # Hooks the CLI installs (defaults keep the process usable in unit tests).
        self.run_thread: Callable[[RiscvCPU], None] | None = None
        self.invalidate_code: Callable[[int, int], None] = lambda start, end: None
        # Called once a second thread exists, before it or its creator runs guest code
        # again (the Python backend then stops interpreting atomic blocks).
        self.on_thread_start: Callable[[], None] = lambda: None
        self.exit_request: list[int] = [0]
        mm.on_invalidate = lambda start, end: self.invalidate_code(start, end)
        # Signals: dispositions are per process, masks and pending sets per thread.
        self.sigactions = [SigAction() for _ in range(sg.NSIG + 1)]
        self.shared_pending: list[SigInfo] = []
        self.host_signals: deque[int] = deque()
        self.host_dispositions: HostDispositions | None = None
        # The default-ignored signals some guest thread blocks (update_host_handler).
        self.blocked_ignored = 0
        # signalfd4 descriptors: (st_dev, st_ino) of the guest's socket -> SignalFd
        self.signalfds: dict = {}
        self.reaped: deque[tuple[int, int]] = deque(maxlen=16)  # (pid, status) from guest waits
        self.sig_lock = threading.RLock()
        self.threads: dict[int, ThreadState] = {}
        self.main_thread = threading.main_thread()
        self.trampoline = 0

    # --- creation -----------------------------------------------------------------------
    @classmethod
    def create(cls, path: str, argv: list[str], envp: list[str], ld_prefix: str | None,
               strace: bool, exec_argv: list[str]) -> tuple[Process, RiscvCPU]:
        """Load the program, build its stack and return the process and its first hart."""
        mem = GuestMemory()
        mm = MemoryMap(mem)
        prog = load_program(mm, path, ld_prefix)
        sp, auxv = setup_stack(mm, prog, argv, envp, path)
        p = cls(mem, mm, prog, argv, envp, ld_prefix, strace, exec_argv)
        p.auxv = auxv
        p.trampoline = mm.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        mem.write(p.trampoline, SIGRETURN_CODE)
        mm.mprotect(p.trampoline, PAGE, PROT_READ | PROT_EXEC)
        cpu = RiscvCPU()
        cpu.pc = prog.entry
        cpu.set_x(2, sp)
        p.register_thread(cpu, os.getpid())
        p._take_host_signals()
        return p, cpu

    def register_thread(self, cpu: RiscvCPU, tid: int, mask: int = 0) -> ThreadState:
        ts = ThreadState(tid=tid, cpu=cpu, mask=mask)
        with self.sig_lock:
            self.threads[id(cpu)] = ts
        self.masks_changed()
        return ts

    def thread_of(self, cpu: RiscvCPU) -> ThreadState:
        ts = self.threads.get(id(cpu))
        if ts is None:  # a hart the CLI made itself: adopt it as the calling thread
            ts = self.register_thread(cpu, threading.get_native_id())
        return ts

    # --- system calls -------------------------------------------------------------------
    def syscall(self, cpu: RiscvCPU) -> None:
        """Run the system call in a7 with arguments a0..a5; result to a0 (Linux ABI)."""
        q = cpu.q
        nr = q[17]
        args = (q[10], q[11], q[12], q[13], q[14], q[15])
        handler = SYSCALLS.get(nr)
        tracer = None
        if self.strace:
            from pyqemu.linux_user import strace as tracer
            tracer.enter(self, nr, args)
        if handler is None:
            ret: int | None = -ENOSYS
        else:
            try:
                ret = handler(self, cpu, *args)
            except OSError as e:
                ret = -(e.errno or errno.EIO)
            except GuestFault:
                ret = -errno.EFAULT
            except Interrupted:
                ret = -errno.EINTR
            except Restart:
                ret = None
                cpu.pc = cpu.pc - 4
            except (ThreadExit, SystemExit):
                raise
            except Exception as e:  # an emulator bug: report it in one line, keep the guest going
                if os.environ.get("PYQEMU_DEBUG"):
                    raise
                name = SYSCALL_NAMES.get(nr, str(nr))
                sys.stderr.write(f"pyqemu-riscv64: internal error in {name}: {e!r}\n")
                ret = -errno.ENOSYS
        if ret is not None and (ret == -errno.EPIPE or ret == -errno.EFBIG):
            self._write_signal(cpu, nr, args, ret)
        if tracer is not None:
            tracer.leave(self, nr, args, ret)
        if ret is not None:
            q[10] = ret & 0xFFFFFFFFFFFFFFFF

    def _interrupt_kind(self, restartable: bool = True) -> Exception:
        """EINTR, or a restart when every signal about to be handled has SA_RESTART.

        Calls that are never restarted after a handler (nanosleep, poll, sigsuspend...:
        signal(7) "interruption of system calls") pass restartable=False.
        """
        self._drain_host_signals()
        with self.sig_lock:
            infos = list(self.shared_pending)
            for ts in self.threads.values():
                infos += ts.pending
        acts = [self.sigactions[i.signo] for i in infos]
        handled = [a for a in acts if a.handler not in (sg.SIG_DFL, sg.SIG_IGN)]
        # No guest handler will run (spurious EINTR, or a signal that kills or is
        # ignored): retry the call transparently, as the kernel does.
        if not handled or (restartable and all(a.flags & sg.SA_RESTART for a in handled)):
            return Restart()
        return Interrupted()

    # --- signals ------------------------------------------------------------------------
    def queue_signal(self, info: SigInfo, ts: ThreadState | None = None) -> None:
        """Make a signal pending for one thread (tgkill) or for the process (kill)."""
        with self.sig_lock:
            act = self.sigactions[info.signo]
            # A signal that would be ignored is discarded, unless it is blocked: it stays
            # pending then, for sigwait or signalfd, or for a handler installed before
            # it is unblocked (Linux's sig_ignored()).
            blocked = ts.mask if ts is not None else self.blocked_ignored
            if act.handler == sg.SIG_DFL and sg.default_action(info.signo) == "ignore" \
                    and not blocked & sg.bit(info.signo):
                return
            if act.handler == sg.SIG_IGN:
                return
            target = ts.pending if ts is not None else self.shared_pending
            # Standard signals do not queue: one pending instance is enough.
            if info.signo < 32 and any(i.signo == info.signo for i in target):
                return
            target.append(info)
        self._update_exit_request()

    def _write_signal(self, cpu: RiscvCPU, nr: int, args: tuple[int, ...], ret: int) -> None:
        """A write to a pipe or socket with no reader (EPIPE) raises SIGPIPE, and one
        past RLIMIT_FSIZE (EFBIG) SIGXFSZ, at the calling thread, as the kernel does;
        send calls with MSG_NOSIGNAL do not."""
        name = SYSCALL_NAMES.get(nr, "")
        flags_arg = _SEND_FLAGS.get(name)
        if name not in _WRITES and flags_arg is None:
            return
        if flags_arg is not None and args[flags_arg] & _MSG_NOSIGNAL:
            return
        signo = signal.SIGPIPE if ret == -errno.EPIPE else signal.SIGXFSZ
        self.queue_signal(SigInfo(signo, code=sg.SI_USER, pid=os.getpid(), uid=os.getuid()),
                          self.thread_of(cpu))

    def _deliverable(self, ts: ThreadState) -> bool:
        mask = ts.mask
        return any(not mask & sg.bit(i.signo) for i in ts.pending) or \
            any(not mask & sg.bit(i.signo) for i in self.shared_pending)

    def _update_exit_request(self) -> None:
        with self.sig_lock:
            want = bool(self.host_signals) or any(self._deliverable(t) for t in self.threads.values())
        self.exit_request[0] = 1 if want else 0
        if self.signalfds:
            from pyqemu.linux_user.syscalls_signalfd import update_readiness
            update_readiness(self)

    def _drain_host_signals(self) -> None:
        while self.host_signals:
            signo = self.host_signals.popleft()
            info = self._child_info() if signo == sg.SIGCHLD else None
            self.queue_signal(info or SigInfo(signo, code=sg.SI_USER))

    def _child_info(self) -> SigInfo | None:
        """siginfo for a host SIGCHLD: Python handlers do not see the kernel's siginfo, so
        peek at a waitable child (WNOWAIT leaves it for the guest's wait), or use the
        status a guest wait just collected."""
        try:
            r = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except (ChildProcessError, OSError):
            r = None
        if r is not None:
            return SigInfo(sg.SIGCHLD, code=r.si_code, pid=r.si_pid, uid=r.si_uid, status=r.si_status)
        if self.reaped:
            pid, status = self.reaped.popleft()
            if os.WIFSIGNALED(status):
                code = sg.CLD_DUMPED if os.WCOREDUMP(status) else sg.CLD_KILLED
                return SigInfo(sg.SIGCHLD, code=code, pid=pid, uid=os.getuid(), status=os.WTERMSIG(status))
            return SigInfo(sg.SIGCHLD, code=sg.CLD_EXITED, pid=pid, uid=os.getuid(),
                           status=os.WEXITSTATUS(status))
        return None

    def _take(self, ts: ThreadState) -> SigInfo | None:
        with self.sig_lock:
            for lst in (ts.pending, self.shared_pending):
                for i, info in enumerate(lst):
                    if not ts.mask & sg.bit(info.signo):
                        return lst.pop(i)
        return None

    def deliver_signals(self, cpu: RiscvCPU) -> None:
        """Deliver every deliverable pending signal to this thread: handler frames or defaults."""
        self._drain_host_signals()
        ts = self.thread_of(cpu)
        while True:
            info = self._take(ts)
            if info is None:
                break
            self._handle(cpu, ts, info)
        if ts.saved_mask is not None:
            ts.mask, ts.saved_mask = ts.saved_mask, None
            self.masks_changed()
        self._update_exit_request()

    def _handle(self, cpu: RiscvCPU, ts: ThreadState, info: SigInfo) -> None:
        if self.strace:
            from pyqemu.linux_user.strace import trace_signal
            trace_signal(info)
        act = self.sigactions[info.signo]
        if act.handler == sg.SIG_IGN:
            return
        if act.handler == sg.SIG_DFL:
            kind = sg.default_action(info.signo)
            if kind == "ignore":
                return
            if kind == "stop":
                os.kill(os.getpid(), signal.SIGSTOP)
                return
            self.die(info.signo)
        old_mask = ts.saved_mask if ts.saved_mask is not None else ts.mask
        ts.saved_mask = None
        try:
            sg.build_frame(self.mem, cpu, ts, act, info, old_mask, self.trampoline)
        except GuestFault:
            self.die(sg.SIGSEGV)  # no room for the frame: force_sigsegv
        ts.mask = old_mask | act.mask | (0 if act.flags & sg.SA_NODEFER else sg.bit(info.signo))
        ts.mask &= ~sg.UNBLOCKABLE
        self.masks_changed()
        if act.flags & sg.SA_RESETHAND:
            self.sigactions[info.signo] = SigAction()
            self.update_host_handler(info.signo)

    def guest_fault(self, cpu: RiscvCPU, signo: int, code: int, addr: int) -> None:
        """A synchronous trap at cpu.pc: run the guest handler now or die like the kernel."""
        ts = self.thread_of(cpu)
        act = self.sigactions[signo]
        if signo == signal.SIGSEGV and code == sg.SEGV_MAPERR and self.mm.find(addr):
            code = sg.SEGV_ACCERR  # mapped, but not for this kind of access
        if ts.mask & sg.bit(signo) or act.handler in (sg.SIG_DFL, sg.SIG_IGN):
            if self.strace:
                from pyqemu.linux_user.strace import trace_signal
                trace_signal(SigInfo(signo, code=code, addr=addr))
            self.die(signo)
        self._handle(cpu, ts, SigInfo(signo, code=code, addr=addr))
        self._update_exit_request()

    def die(self, signo: int) -> None:
        """Terminate the whole process by a signal so the parent sees WIFSIGNALED.

        qemu-riscv64 (7.2) prints nothing: it disables core dumps, restores the host
        default action and kills itself with the same signal.
        """
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (ValueError, OSError):
            pass
        sys.stdout.flush()
        gdb = getattr(self, "gdb", None)
        if gdb is not None:
            gdb.on_killed(signo)  # gdb hears "terminated with signal" first
        try:
            if self.host_dispositions is not None and signo in self.host_dispositions:
                self.host_dispositions.set(signo, DEFAULT)  # from any thread
            else:
                signal.signal(signo, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signo})
        except (ValueError, OSError):
            pass
        os.kill(os.getpid(), signo)
        os._exit(128 + signo)

    # --- host signal plumbing -----------------------------------------------------------
    def _take_host_signals(self) -> None:
        """Own the host's asynchronous signals: for the guest, each starts at its
        default action (as a freshly exec'd program has them), except those the
        emulator's parent left ignored, which the guest inherits as SIG_IGN, as it
        would across execve; the host's dispositions follow (update_host_handler).

        Python ignores SIGPIPE and SIGXFSZ itself; those are not the parent's choice.
        """
        managed = [s for s in range(1, 32) if s not in sg.SYNC_SIGNALS
                   and s not in (sg.SIGKILL, sg.SIGSTOP)]
        if threading.current_thread() is not self.main_thread:
            return  # (a unit test building a process off the main thread)
        self.host_dispositions = HostDispositions(managed, self._on_host_signal)
        for signo in self.host_dispositions.inherited_ignored - SYNTHESIZED:
            self.sigactions[signo] = SigAction(sg.SIG_IGN)
        for signo in managed:
            self.update_host_handler(signo)

    def _on_host_signal(self, signum: int, frame: object) -> None:
        # Runs in the main thread between bytecodes: only queue. A blocking host call
        # the signal interrupted returns EINTR by itself (no SA_RESTART), see eintr().
        self.host_signals.append(signum)
        self.exit_request[0] = 1

    def update_host_handler(self, signo: int) -> None:
        """Set the host's disposition of an asynchronously delivered signal from the
        guest's; takes effect before this returns, whichever thread calls it.

        The host catches every signal the guest handles or leaves at a default action
        that does something (terminate, stop): the guest may block it, and then it must
        stay pending (for sigwait, sigpending, signalfd) instead of killing or stopping
        the emulator; the default action runs when the guest takes it. A signal whose
        default is to be ignored is ignored by the host too (no EINTR for it), unless a
        guest thread blocks it; one the guest ignores is ignored. SIGPIPE and SIGXFSZ
        stay ignored: they are the result of the calling thread's own write, and the
        emulator makes them for it (SYNTHESIZED), so that the guest gets them before
        it runs on, as from the kernel, and not when the host's delivery comes round.
        (Python ignores both for its own writes.)"""
        hd = self.host_dispositions
        if hd is None or signo not in hd:
            return  # (synchronous, SIGKILL/SIGSTOP, real-time: not managed)
        handler = self.sigactions[signo].handler
        if handler == sg.SIG_IGN or signo in SYNTHESIZED:
            disposition = IGNORE
        elif handler != sg.SIG_DFL or sg.default_action(signo) != "ignore" \
                or self.blocked_ignored & sg.bit(signo):
            disposition = CATCH
        else:
            disposition = DEFAULT
        hd.set(signo, disposition)

    def masks_changed(self) -> None:
        """A thread's signal mask changed: the host catches a default-ignored signal
        while some guest thread blocks it (update_host_handler)."""
        blocked = 0
        with self.sig_lock:
            for t in self.threads.values():
                blocked |= t.mask
        blocked &= sg.IGNORED_BY_DEFAULT
        changed = blocked ^ self.blocked_ignored
        if changed:
            self.blocked_ignored = blocked
            for signo in range(1, 32):
                if changed & sg.bit(signo):
                    self.update_host_handler(signo)

    # --- threads ------------------------------------------------------------------------
    def start_thread(self, parent: RiscvCPU, child: RiscvCPU, parent_tid_addr: int,
                     child_tid_addr: int, flags: int) -> int:
        """Run ``child`` on a new host thread; return its tid once the ids are published."""
        ready, go = threading.Event(), threading.Event()
        box: list[ThreadState] = []
        parent_ts = self.thread_of(parent)

        def body() -> None:
            ts = self.register_thread(child, threading.get_native_id(), parent_ts.mask)
            if flags & CLONE_CHILD_CLEARTID:
                ts.clear_child_tid = child_tid_addr
            box.append(ts)
            self.on_thread_start()  # (the creator waits in its clone meanwhile)
            ready.set()
            go.wait()
            self._run_guest_thread(child, ts)

        t = threading.Thread(target=body, daemon=True, name="guest-thread")
        t.start()
        ready.wait()
        tid = box[0].tid
        if flags & CLONE_PARENT_SETTID:
            self.mem.write_u32(parent_tid_addr, tid)
        if flags & CLONE_CHILD_SETTID:
            self.mem.write_u32(child_tid_addr, tid)
        go.set()
        return tid

    def _run_guest_thread(self, cpu: RiscvCPU, ts: ThreadState) -> None:
        try:
            if self.run_thread is None:
                raise RuntimeError("no CPU loop installed (process.run_thread)")
            self.run_thread(cpu)
        except ThreadExit:
            pass
        except BaseException as e:  # a crash in a guest thread must not hang the process
            print(f"pyqemu-riscv64: guest thread {ts.tid}: {e!r}", file=sys.stderr)
            os._exit(1)
        finally:
            self.end_thread(cpu)

    def end_thread(self, cpu: RiscvCPU) -> None:
        """Thread teardown: CLONE_CHILD_CLEARTID clears the tid word and wakes a joiner."""
        from pyqemu.linux_user.futex import futex_wake
        ts = self.threads.get(id(cpu))
        if ts is None:
            return
        if ts.clear_child_tid:
            try:
                self.mem.write_u32(ts.clear_child_tid, 0)
                futex_wake(self.mem, ts.clear_child_tid, 1, private=False)
            except GuestFault:
                pass
        with self.sig_lock:
            self.threads.pop(id(cpu), None)
        self.masks_changed()


# The handlers register themselves in SYSCALLS on import (they import this module).
from pyqemu.linux_user import syscalls  # noqa: E402,F401
