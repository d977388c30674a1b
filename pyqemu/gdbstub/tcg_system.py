"""gdb on a RISC-V machine run by TCG (``-s``, ``-S``, ``-gdb tcp::PORT``).

Threads are the harts (thread id = hart index + 1). The session runs on the main loop;
the vCPU thread asks :meth:`TcgSystemDebugger.vcpu_iteration` what to do each time
around its loop while a debugger is attached: park while gdb has the machine stopped,
run blocks (which end before breakpoints and exit to the loop at one) or execute one
instruction at a time (gdb's step; and every instruction while watchpoints are set).
A stop is reported to the session through the loop.

Memory is accessed through the selected hart's current translation (gdb's addresses
are virtual); an address the page tables do not map is tried as a physical address,
so a kernel's physical load address works before and after paging is on.
"""

from __future__ import annotations

import threading

from ..target.riscv import cpu_state as cs
from ..target.riscv import trap as t
from ..target.riscv.translate import MAX_INSNS
from .monitor_bridge import run_hmp
from .physmem import debug_read, debug_write
from .riscv import RiscvRegisters
from .riscv_mmu import debug_translate
from .target import GDB_SIGINT, GDB_SIGTRAP, DebugError, StopEvent
from .watch import PointTable, Watchpoint, data_access, watch_hit

PAGE = 4096


class TcgSystemDebugger(PointTable):
    def __init__(self, machine, accel, start_stopped: bool) -> None:
        self.machine = machine
        self.accel = accel
        self.regs = RiscvRegisters(True, self._csr_read, self._csr_write)
        self.cond = threading.Condition()
        # A debugger is attached, or -S holds the harts for one: the vCPU loop asks
        # vcpu_iteration what to run.
        self.active = start_stopped
        self.stopped = start_stopped
        self.parked = False  # the vCPU thread waits in vcpu_iteration
        self.stop_request = False
        self.interrupt_pending = False
        self.step_tid: int | None = None
        self.detaching = False
        self.current_tid = 1
        self.phys_mode = False  # Qqemu.PhyMemMode: m/M take physical addresses
        self.breakpoints: set[int] = set()
        self.watchpoints: list[Watchpoint] = []
        self._mode: tuple[int, frozenset[int]] | None = None
        self.watch_pc: int | None = None  # where the last watchpoint stop was
        self.resumed = False  # the next round is the first since gdb resumed
        self.post_stop = lambda ev: None  # set by the server: hands a stop to the loop
        self.deliver_now = lambda ev: None  # set by the server: at shutdown, no loop left
        accel.debug = self

    # ------------------------------------------------------------ harts
    @property
    def runners(self) -> list:
        return self.accel.runners

    def _runner(self, tid: int):
        runners = self.runners
        if not 1 <= tid <= len(runners):
            raise DebugError(1)
        return runners[tid - 1]

    def threads(self) -> list[int]:
        return list(range(1, len(self.runners) + 1)) or [1]

    def thread_name(self, tid: int) -> str:
        return f"CPU#{tid - 1} [{'halted' if self._runner(tid).hart.waiting else 'running'}]"

    def target_xml(self) -> str:
        return self.regs.xml

    def monitor_command(self, line: str) -> str:
        return run_hmp(self.machine, line)

    # ------------------------------------------------------------ registers
    def _csr_read(self, hart, csr: int) -> int | None:
        # The debugger reads as M-mode would, without trapping on a privilege check.
        q = hart.q
        priv = q[cs.PRIV]
        q[cs.PRIV] = t.PRV_M
        try:
            return hart.csrs.read(csr, 0)
        except t.RiscvTrap:
            return None
        finally:
            q[cs.PRIV] = priv

    def _csr_write(self, hart, csr: int, value: int) -> bool:
        q = hart.q
        priv = q[cs.PRIV]
        q[cs.PRIV] = t.PRV_M
        try:
            hart.csrs.write(csr, value, 0)
        except t.RiscvTrap:
            return False
        finally:
            q[cs.PRIV] = priv
        # satp, mstatus...: translation and flags may change under existing blocks.
        hart.flush_tlb()
        hart.state_changed()
        for r in self.runners:
            if r.hart is hart:
                r.update_flags()
        return True

    def read_registers(self, tid: int) -> bytes:
        return self.regs.read_all(self._runner(tid).q)

    def write_registers(self, tid: int, data: bytes) -> None:
        self.regs.write_all(self._runner(tid).q, data)

    def read_register(self, tid: int, regnum: int) -> bytes | None:
        return self.regs.read(self._runner(tid).hart, regnum)

    def write_register(self, tid: int, regnum: int, data: bytes) -> bool:
        r = self._runner(tid)
        ok = self.regs.write(r.hart, regnum, data)
        if ok and regnum == 4161:
            r.update_flags()  # priv changed
        return ok

    # ------------------------------------------------------------ memory
    def _pieces(self, tid: int, addr: int, length: int):
        """(physical address, length) for each page of the virtual range."""
        q = self._runner(tid).q
        phys = self.machine.sysmem
        a, end = addr, addr + length
        while a < end:
            n = min(end, (a | (PAGE - 1)) + 1) - a
            pa = a if self.phys_mode else debug_translate(q, phys, a)
            yield (a if pa is None else pa), n
            a += n

    def read_memory(self, tid: int, addr: int, length: int) -> bytes:
        out = bytearray()
        for pa, n in self._pieces(tid, addr, length):
            chunk = debug_read(self.machine.sysmem, pa, n)
            out += chunk
            if len(chunk) < n:
                break  # not RAM or ROM (unmapped, a device): stop here  # not RAM or ROM (unmapped, a device): stop here
        if not out and length:
            raise DebugError(14)
        return bytes(out)

    def write_memory(self, tid: int, addr: int, data: bytes) -> None:
        pos = 0
        pages = []
        for pa, n in self._pieces(tid, addr, len(data)):
            if debug_write(self.machine.sysmem, pa, data[pos:pos + n]) != n:
                raise DebugError(14)
            pages.append(pa & ~(PAGE - 1))
            pos += n
        for r in self.runners:  # translated code of those pages may be stale now
            r.tbc.drop_pages(pages)
            r.tbc.shared.clear()

    # ------------------------------------------------------------ break/watchpoints
    # ------------------------------------------------------------ run control (loop side)
    def attach(self) -> None:
        """gdb connected: stop the machine and wait until the vCPU thread parks, so the
        first requests see a quiet machine."""
        with self.cond:
            self.active = True
            self.detaching = False
            if not self.stopped:
                self.stop_request = True  # park, without a stop reply
                self._kick()
            self.cond.wait_for(self._quiet, timeout=5)
            self.stopped = True
            self.stop_request = False

    def _quiet(self) -> bool:
        return self.parked or self.accel.thread is None or not self.accel.run_flag.is_set()

    def _kick(self) -> None:
        for r in self.runners:
            r.hart.exit_request[0] = 1
        self.accel.wakeup.set()

    def resume(self, actions: dict[int, tuple[str, int]],
               default: tuple[str, int] | None) -> None:
        # Signals mean nothing to a machine: C/S act as c/s.
        step = [tid for tid, (a, _) in actions.items() if a == "s"]
        with self.cond:
            self.step_tid = step[0] if step else None
            if self.step_tid is not None:
                self.current_tid = self.step_tid
            self.stopped = False
            self.stop_request = False
            self.resumed = True
            self.cond.notify_all()
        self._start_vm()

    def _start_vm(self) -> None:
        """-S: the machine's first continue starts the vCPUs (QEMU's vm_start)."""
        m = self.machine
        if hasattr(m, "vm_running") and not m.vm_running and hasattr(m, "vm_start"):
            m.vm_start()
        elif self.accel.thread is None:
            self.accel.start()

    def interrupt(self) -> None:
        with self.cond:
            if self.stopped:
                return
            if self.accel.thread is None or not self.accel.run_flag.is_set():
                # No vCPU runs (the monitor paused the machine): it is stopped already.
                self._stop(StopEvent("signal", GDB_SIGINT, self.current_tid))
                return
            self.stop_request = True
            self.interrupt_pending = True  # Ctrl-C: gdb waits for a stop reply
            self._kick()

    def detach(self) -> None:
        with self.cond:
            self.breakpoints.clear()
            self.watchpoints.clear()
            self.detaching = True
            self.stopped = False
            self.interrupt_pending = False
            self.step_tid = None
            self.cond.notify_all()
        self._start_vm()

    def kill(self) -> None:
        from ..sysemu import ShutdownCause

        self.detach()
        self.machine.runstate.request_shutdown(ShutdownCause.HOST_UI, 0)

    def machine_exited(self) -> None:
        """The machine shuts down: a gdb waiting for a stop hears the exit status (W)."""
        self.deliver_now(StopEvent("exited", status=self.machine.runstate.exit_status))

    # ------------------------------------------------------------ the vCPU thread
    def vcpu_iteration(self) -> None:
        """One turn of the vCPU loop while a debugger is attached."""
        with self.cond:
            if self.detaching:
                self._set_mode(False, frozenset())
                self.active = False
                self.detaching = False
                return
            if self.stopped or self.stop_request:
                if self.interrupt_pending and not self.stopped:
                    self._stop(StopEvent("signal", GDB_SIGINT, self.current_tid))
                self.interrupt_pending = False
                # Parked: attach() may go on. The flag only holds during this wait.
                self.parked = True
                self.cond.notify_all()
                self.cond.wait(0.05)
                self.parked = False
                return
            step_tid = self.step_tid
        if step_tid is not None:
            ev = self._step_hart(self._runner(step_tid), step_tid, True)
        elif self.watchpoints:
            ev = self._watch_round()
        else:
            ev = self._run_round()
        if ev is not None:
            with self.cond:
                self._stop(ev)

    def _stop(self, ev: StopEvent) -> None:
        self.stopped = True
        self.stop_request = False
        self.step_tid = None
        self.current_tid = ev.tid
        self.post_stop(ev)

    def _set_mode(self, single: bool, bps: frozenset[int]) -> None:
        mode = (1, frozenset()) if single else (MAX_INSNS, bps)
        if mode == self._mode:
            return
        for r in self.runners:
            r.translator.max_insns, r.translator.breakpoints = mode
            r.tbc.flush()
            r.tbc.shared.clear()
        self._mode = mode

    def _run_round(self) -> StopEvent | None:
        self._set_mode(False, frozenset(self.breakpoints))
        # Resuming at a breakpoint executes its instruction first (gdb usually steps
        # over it itself with the breakpoint removed). Only on resuming: a round can
        # also end with a hart at a breakpoint it has not reached through its block yet.
        r = self._runner(self.current_tid)
        resumed, self.resumed = self.resumed, False
        if resumed and r.q[cs.PC] in self.breakpoints and not r.hart.waiting:
            ev = self._step_hart(r, self.current_tid, False)
            self._set_mode(False, frozenset(self.breakpoints))
            if ev is not None:
                return ev
        self.accel.run_round()
        for i, r in enumerate(self.runners):
            if r.debug_hit is not None:
                for other in self.runners:
                    other.debug_hit = None
                return StopEvent("signal", GDB_SIGTRAP, i + 1)
        return None

    def _watch_round(self) -> StopEvent | None:
        """Every awake hart executes one instruction, watched."""
        for i, r in enumerate(self.runners):
            if not self.accel.run_flag.is_set() or self.stop_request:
                return None
            if not r.take_interrupt():
                continue  # in wfi
            ev = self._step_hart(r, i + 1, False)
            if ev is not None:
                return ev
        return None

    def _step_hart(self, r, tid: int, stepping: bool) -> StopEvent | None:
        """One instruction on one hart; interrupts stay masked while gdb steps, as
        QEMU's default single-step does. A watchpoint stops before the access (gdb
        steps over it itself: RISC-V watchpoints are "non-steppable" to gdb)."""
        self._set_mode(True, frozenset())
        q = r.q
        pc = q[cs.PC]
        if self.watchpoints and not stepping:
            try:
                access = data_access(r.smmu.fetch16, pc, r.hart.get_x)
            except t.RiscvTrap:
                access = None
            hit = watch_hit(self.watchpoints, access)
            if hit is not None and pc != self.watch_pc:
                self.watch_pc = pc
                return StopEvent("signal", GDB_SIGTRAP, tid, watch=hit)
        self.watch_pc = None
        r.hart.waiting = False
        r.step_one()
        if stepping or q[cs.PC] in self.breakpoints:
            return StopEvent("signal", GDB_SIGTRAP, tid)
        return None
