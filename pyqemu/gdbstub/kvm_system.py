"""gdb on a machine run by KVM (``-accel kvm -s``): KVM_SET_GUEST_DEBUG does the work.

Threads are the vCPUs. Breakpoints and watchpoints use the four debug registers
(KVM_GUESTDBG_USE_HW_BP, DR7 built here), gdb's software breakpoints (Z0) too while a
register is free: nothing is written into guest memory, and it works where int3 does
not (a nested AMD KVM, as on our test machines, emulates int3 and fails even under
QEMU). Beyond four, Z0 falls back to int3 bytes in guest memory
(KVM_GUESTDBG_USE_SW_BP makes every #BP exit to us);
single-step is KVM_GUESTDBG_SINGLESTEP on the stepped vCPU while the others stay
paused. A vCPU thread that takes a debug exit parks itself and hands the stop to the
main loop, which pauses the other vCPUs and answers gdb.
"""

from __future__ import annotations

import threading

from ..accel.kvm import kvm_api as api
from .monitor_bridge import run_hmp
from .physmem import debug_read, debug_write
from .target import (
    GDB_SIGINT,
    GDB_SIGTRAP,
    HW_BREAK,
    SW_BREAK,
    WATCH_READ,
    WATCH_WRITE,
    DebugError,
    StopEvent,
)
from .x86_64 import X86Registers, linear_to_physical

INT3 = b"\xcc"
DR6_BS = 1 << 14  # single-step
# DR7 R/W field: execute, write, read-or-write (x86 has no read-only watchpoint: an
# rwatch is an access watchpoint, as QEMU does it; gdb checks the value itself).
_RW = {SW_BREAK: 0, HW_BREAK: 0, WATCH_WRITE: 1, WATCH_READ: 3}
_LEN = {1: 0, 2: 1, 4: 3, 8: 2}


class KvmSystemDebugger:
    def __init__(self, machine, accel, start_stopped: bool) -> None:
        self.machine = machine
        self.accel = accel
        self.regs = X86Registers()
        self.sw: dict[int, bytes] = {}  # linear address -> the byte int3 replaced
        self.hw: list[tuple[int, int, int]] = []  # (kind, address, length), at most 4
        self.current_tid = 1
        self.phys_mode = False  # Qqemu.PhyMemMode: m/M take physical addresses
        self.lock = threading.Lock()
        self.reporting = False  # a vCPU stopped and the loop has not answered yet
        self.post_stop = lambda ev: None
        self.deliver_now = lambda ev: None
        self.loop = machine.main_loop
        accel.debug = self

    # ------------------------------------------------------------ vCPUs
    def threads(self) -> list[int]:
        return list(range(1, len(self.accel.vcpus) + 1)) or [1]

    def thread_name(self, tid: int) -> str:
        return f"CPU#{tid - 1}"

    def _vcpu(self, tid: int):
        if not 1 <= tid <= len(self.accel.vcpus):
            raise DebugError(1)
        return self.accel.vcpus[tid - 1]

    def target_xml(self) -> str:
        return self.regs.xml

    def monitor_command(self, line: str) -> str:
        return run_hmp(self.machine, line)

    def read_registers(self, tid: int) -> bytes:
        return self.regs.read_all(self._vcpu(tid))

    def write_registers(self, tid: int, data: bytes) -> None:
        self.regs.write_all(self._vcpu(tid), data)

    def read_register(self, tid: int, regnum: int) -> bytes | None:
        return self.regs.read(self._vcpu(tid), regnum)

    def write_register(self, tid: int, regnum: int, data: bytes) -> bool:
        return self.regs.write(self._vcpu(tid), regnum, data)

    # ------------------------------------------------------------ memory
    def _pieces(self, tid: int, addr: int, length: int):
        sregs = self._vcpu(tid).get_sregs()
        phys = self.machine.sysmem
        a, end = addr, addr + length
        while a < end:
            n = min(end, (a | 0xFFF) + 1) - a
            pa = a if self.phys_mode else linear_to_physical(sregs, phys, a)
            if pa is None:
                return
            yield pa, n
            a += n

    def read_memory(self, tid: int, addr: int, length: int) -> bytes:
        out = bytearray()
        for pa, n in self._pieces(tid, addr, length):
            chunk = debug_read(self.machine.sysmem, pa, n)
            out += chunk
            if len(chunk) < n:
                break  # not RAM or ROM (unmapped, a device): stop here
        if not out and length:
            raise DebugError(14)
        return bytes(out)

    def write_memory(self, tid: int, addr: int, data: bytes) -> None:
        pos = 0
        for pa, n in self._pieces(tid, addr, len(data)):
            if debug_write(self.machine.sysmem, pa, data[pos:pos + n]) != n:
                raise DebugError(14)
            pos += n
        if pos != len(data):
            raise DebugError(14)

    # ------------------------------------------------------------ break/watchpoints
    def insert_point(self, kind: int, addr: int, length: int) -> bool:
        if kind == SW_BREAK and ((kind, addr, 1) in self.hw or len(self.hw) < 4):
            length = 1  # a debug register while one is free
        elif kind == SW_BREAK:
            if addr not in self.sw:
                orig = self.read_memory(self.current_tid, addr, 1)
                self.write_memory(self.current_tid, addr, INT3)
                self.sw[addr] = orig
            return True
        elif kind == HW_BREAK:
            length = 1
        elif length not in _LEN or addr % length:
            return False
        if (kind, addr, length) in self.hw:
            return True
        if len(self.hw) >= 4:
            raise DebugError(28)  # ENOSPC: gdb says it could not insert it
        self.hw.append((kind, addr, length))
        return True

    def remove_point(self, kind: int, addr: int, length: int) -> bool:
        if kind == SW_BREAK and addr in self.sw:
            orig = self.sw.pop(addr)
            self.write_memory(self.current_tid, addr, orig)
            return True
        key = (kind, addr, 1 if kind in (SW_BREAK, HW_BREAK) else length)
        if key in self.hw:
            self.hw.remove(key)
        return True

    def _guest_debug(self, step: bool) -> tuple[int, list[int]]:
        control = api.KVM_GUESTDBG_ENABLE | api.KVM_GUESTDBG_USE_SW_BP
        if step:
            control |= api.KVM_GUESTDBG_SINGLESTEP
        dr = [0] * 8
        if self.hw:
            control |= api.KVM_GUESTDBG_USE_HW_BP
            dr7 = 0x600  # reserved bit 10, GE
            for i, (kind, addr, length) in enumerate(self.hw):
                dr[i] = addr
                dr7 |= (2 << (2 * i)) | (_RW.get(kind, 3) << (16 + 4 * i)) \
                    | (_LEN[length] << (18 + 4 * i))
            dr[7] = dr7
        return control, dr

    # ------------------------------------------------------------ run control (loop)
    def _hook(self) -> None:
        for t in self.accel.threads:
            t.debug_exit = self._on_debug_exit

    def attach(self) -> None:
        self._hook()
        if self.accel._started:
            self.accel.pause()

    def resume(self, actions: dict[int, tuple[str, int]],
               default: tuple[str, int] | None) -> None:
        self._hook()
        step = [tid for tid, (a, _) in actions.items() if a == "s"]
        step_tid = step[0] if step else None
        for i, vcpu in enumerate(self.accel.vcpus):
            control, dr = self._guest_debug(step_tid == i + 1)
            vcpu.set_guest_debug(control, dr)
        with self.lock:
            self.reporting = False
        if step_tid is not None:
            self.current_tid = step_tid
            self._run_only(step_tid)
        else:
            self._start_all()

    def _start_all(self) -> None:
        m = self.machine
        if not getattr(m, "vm_running", True) and hasattr(m, "vm_start"):
            m.vm_start()
        else:
            self.accel.start()

    def _run_only(self, tid: int) -> None:
        """Let one vCPU run (a single-step); the others stay parked."""
        accel = self.accel
        if not accel._started:
            for i, t in enumerate(accel.threads):
                t.pause_requested = i != tid - 1
            accel._started = True
            for t in accel.threads:
                t.start()
            return
        accel.threads[tid - 1].resume()

    def interrupt(self) -> None:
        if self.accel._started:
            self.accel.pause()
        self.post_stop(StopEvent("signal", GDB_SIGINT, self.current_tid))

    def detach(self) -> None:
        for addr in list(self.sw):
            try:
                self.remove_point(SW_BREAK, addr, 1)
            except DebugError:
                self.sw.pop(addr, None)
        self.hw.clear()
        for vcpu in self.accel.vcpus:
            try:
                vcpu.set_guest_debug(0)
            except OSError:
                pass
        for t in self.accel.threads:
            t.debug_exit = None
        self._start_all()

    def kill(self) -> None:
        from ..sysemu import ShutdownCause

        self.detach()
        self.machine.runstate.request_shutdown(ShutdownCause.HOST_UI, 0)

    def machine_exited(self) -> None:
        self.deliver_now(StopEvent("exited", status=self.machine.runstate.exit_status))

    # ------------------------------------------------------------ vCPU threads
    def _on_debug_exit(self, thread, debug) -> None:
        """KVM_EXIT_DEBUG on a vCPU thread (which parks after this returns)."""
        tid = self.accel.threads.index(thread) + 1
        watch = None
        if debug.exception == 3:  # int3: one of ours unless the guest has its own
            vcpu = thread.vcpu
            regs = vcpu.get_regs()
            if regs.rip == debug.pc + 1:
                regs.rip = debug.pc  # report (and later resume) at the breakpoint
                vcpu.set_regs(regs)
        elif debug.exception == 1:
            for i, (kind, addr, _) in enumerate(self.hw):
                if debug.dr6 >> i & 1 and kind not in (SW_BREAK, HW_BREAK):
                    watch = (kind, addr)
                    break
        with self.lock:
            if self.reporting:
                return  # another vCPU's stop is being reported: just park
            self.reporting = True
        self.loop.call_soon_threadsafe(self._stopped, StopEvent("signal", GDB_SIGTRAP, tid,
                                                                 watch=watch))

    def _stopped(self, ev: StopEvent) -> None:
        """On the loop: every vCPU stops, then gdb hears why."""
        self.accel.pause()
        self.current_tid = ev.tid
        self.post_stop(ev)
