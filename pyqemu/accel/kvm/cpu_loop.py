"""One thread per vCPU, blocked in KVM_RUN, and the one place every exit is dispatched.

A vCPU thread calls KVM_RUN through ctypes, which releases the GIL: while the guest
runs, the main loop and the other vCPUs run Python.  When KVM returns to user space,
``KvmCpuThread._run`` dispatches on ``kvm_run.exit_reason`` (KVM API doc, section 5):

* IO: ``in``/``out`` (and ``rep ins``/``rep outs``, ``count`` items) to the port space;
  the data lives in the kvm_run page at ``data_offset``;
* MMIO: a load or store to guest-physical memory that no RAM slot backs;
* HLT: only without the in-kernel irqchip (with it, KVM sleeps in the kernel);
* SHUTDOWN: a triple fault, which resets the machine as on a PC;
* SYSTEM_EVENT: PSCI-style shutdown/reset/crash requests;
* FAIL_ENTRY, INTERNAL_ERROR and anything unexpected: a clear message with the vCPU's
  registers, and the machine stops with status 1.

Device accesses are made under the machine lock (QEMU's big lock), which the main
loop also takes before touching device state.
"""

from __future__ import annotations

import ctypes
import errno
import struct
import sys
import threading
from collections.abc import Callable
from typing import Protocol

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.accel.kvm.kvm import libc_ioctl
from pyqemu.accel.kvm.vcpu import KvmVcpu


class MachineControl(Protocol):
    """What the accelerator asks of the machine it runs."""

    lock: threading.RLock

    def request_shutdown(self, status: int, reason: str) -> None: ...

    def request_reset(self, reason: str) -> None: ...


class PortBus(Protocol):
    def inp(self, port: int, size: int) -> int: ...

    def outp(self, port: int, size: int, value: int) -> None: ...


class MemoryBus(Protocol):
    def load(self, addr: int, size: int) -> int: ...

    def store(self, addr: int, size: int, value: int) -> None: ...


_EXIT_REASON = struct.Struct("<I")          # kvm_run.exit_reason at offset 8
_IO = struct.Struct("<BBHIQ")               # direction, size, port, count, data_offset @32
_MMIO = struct.Struct("<Q8sIB")             # phys_addr, data[8], len, is_write @32
_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}

INTERNAL_SUBERRORS = {
    api.KVM_INTERNAL_ERROR_EMULATION: "emulation failure",
    api.KVM_INTERNAL_ERROR_SIMUL_EX: "simultaneous exceptions",
    api.KVM_INTERNAL_ERROR_DELIVERY_EV: "event delivery failure",
}


class KvmCpuThread:
    """Runs one vCPU until the machine stops it; pausable for machine reset."""

    def __init__(self, vcpu: KvmVcpu, ports: PortBus, memory: MemoryBus,
                 machine: MachineControl) -> None:
        self.vcpu = vcpu
        self.ports = ports
        self.memory = memory
        self.machine = machine
        self.stop_requested = False
        self.pause_requested = False
        self.paused = threading.Event()
        self._resume = threading.Event()
        self._halt_wakeup = threading.Event()
        self.exits = 0
        # The gdbstub's handler of KVM_EXIT_DEBUG (pyqemu.gdbstub.kvm_system), or None.
        self.debug_exit: Callable[[KvmCpuThread, object], None] | None = None
        self.thread = threading.Thread(target=self._main, name=f"CPU {vcpu.id}/KVM",
                                       daemon=True)

    # --- control from the main thread ---------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def pause(self) -> None:
        """Return once the thread is out of KVM_RUN and parked."""
        self._resume.clear()
        self.pause_requested = True
        while not self.paused.wait(0.01):
            if not self.thread.is_alive():
                return
            self.vcpu.kick()
            self._halt_wakeup.set()

    def resume(self) -> None:
        self.pause_requested = False
        self.vcpu.run_struct.immediate_exit = 0
        self._resume.set()

    def stop(self) -> None:
        self.stop_requested = True
        self._resume.set()
        self._halt_wakeup.set()
        self.vcpu.kick()

    # --- the vCPU thread ------------------------------------------------------------------
    def _main(self) -> None:
        self.vcpu.thread_ident = threading.get_ident()
        try:
            self._run()
        except Exception as e:   # a bug in a device model: report it in one line
            self.machine.request_shutdown(1, f"vCPU {self.vcpu.id}: internal error: "
                                             f"{type(e).__name__}: {e}")
        finally:
            self.paused.set()

    def _park(self) -> None:
        self.paused.set()
        self._resume.wait()
        self.paused.clear()
        self.vcpu.run_struct.immediate_exit = 0

    def _run(self) -> None:
        vcpu = self.vcpu
        fd = vcpu.fd
        mm = vcpu.mm
        run_req = api.KVM_RUN
        ioctl = libc_ioctl
        get_errno = ctypes.get_errno
        exit_reason = _EXIT_REASON.unpack_from
        io_hdr = _IO.unpack_from
        ports = self.ports
        inp, outp = ports.inp, ports.outp
        # (port, size) -> (device write, base): skips the bus lookup for the ports a guest hammers.
        # Any change of the port map (a PCI I/O BAR moving) empties it.
        cache: dict[int, tuple] = {}
        if hasattr(ports, "add_listener") and hasattr(ports, "lookup"):
            ports.add_listener(lambda _event, _section: cache.clear())
            lookup = ports.lookup
        else:
            lookup = None
        lock = self.machine.lock
        EXIT_IO, EXIT_MMIO = api.KVM_EXIT_IO, api.KVM_EXIT_MMIO
        OUT = api.KVM_EXIT_IO_OUT
        from_bytes = int.from_bytes
        exits = 0
        while True:
            if self.stop_requested:
                break
            if self.pause_requested:
                self._park()
                continue
            if ioctl(fd, run_req, None) < 0:
                e = get_errno()
                if e in (errno.EINTR, errno.EAGAIN):
                    vcpu.run_struct.immediate_exit = 0
                    continue
                self._fatal(f"KVM_RUN failed: {errno.errorcode.get(e, e)}")
                break
            exits += 1
            reason = exit_reason(mm, 8)[0]
            if reason == EXIT_IO:
                direction, size, port, count, off = io_hdr(mm, 32)
                with lock:
                    if direction == OUT:
                        if count == 1:
                            key = (port << 4) | size
                            hit = cache.get(key)
                            if hit is None and lookup is not None:
                                sec = lookup(port)
                                if sec is not None and sec.mmio is not None and \
                                        port + size <= sec.base + sec.size:
                                    hit = cache[key] = (sec.mmio.write, sec.base)
                            if hit is not None:
                                hit[0](port - hit[1], size,
                                       from_bytes(mm[off:off + size], "little"))
                            else:
                                outp(port, size, from_bytes(mm[off:off + size], "little"))
                        else:
                            for _ in range(count):
                                outp(port, size, from_bytes(mm[off:off + size], "little"))
                                off += size
                    else:
                        mask = _MASK[size]
                        for _ in range(count):
                            mm[off:off + size] = (inp(port, size) & mask).to_bytes(size, "little")
                            off += size
            elif reason == EXIT_MMIO:
                self._mmio()
            elif not self._other_exit(reason):
                break
            self.exits = exits
        self.exits = exits

    def _mmio(self) -> None:
        mm = self.vcpu.mm
        addr, data, length, is_write = _MMIO.unpack_from(mm, 32)
        from pyqemu.memory import GuestMemoryError
        # The AddressSpace takes the machine lock around device accesses itself.
        try:
            if is_write:
                self.memory.store(addr, length, int.from_bytes(data[:length], "little"))
            else:
                value = self.memory.load(addr, length) & _MASK.get(length, 0)
                mm[40:40 + length] = value.to_bytes(length, "little")
        except GuestMemoryError:
            # Nothing decodes this address: writes vanish, reads float high.
            if not is_write:
                mm[40:40 + length] = b"\xff" * length

    def _other_exit(self, reason: int) -> bool:
        """The rare exits; returns False when this vCPU must stop running."""
        run = self.vcpu.run_struct
        if reason == api.KVM_EXIT_HLT:
            # No in-kernel irqchip: nothing can wake us but the machine.
            self._halt_wakeup.wait()
            self._halt_wakeup.clear()
            return True
        if reason == api.KVM_EXIT_SHUTDOWN:
            # A triple fault: a PC resets (QEMU's default without -no-reboot).
            self._reset_and_park(f"vCPU {self.vcpu.id}: triple fault")
            return True
        if reason == api.KVM_EXIT_SYSTEM_EVENT:
            ev = run.exit.system_event.type
            if ev == api.KVM_SYSTEM_EVENT_RESET:
                self._reset_and_park("guest reset")
                return True
            if ev == api.KVM_SYSTEM_EVENT_SHUTDOWN:
                self.machine.request_shutdown(0, "guest shutdown")
                return False
            self._fatal(f"guest crashed (system event {ev})")
            return False
        if reason == api.KVM_EXIT_IRQ_WINDOW_OPEN or reason == api.KVM_EXIT_INTR:
            return True
        if reason == api.KVM_EXIT_DEBUG and self.debug_exit is not None:
            # A breakpoint, watchpoint or single-step for gdb: park here until it resumes.
            self._resume.clear()
            self.pause_requested = True
            self.debug_exit(self, run.exit.debug)
            return True
        if reason == api.KVM_EXIT_FAIL_ENTRY:
            hw = run.exit.fail_entry.hardware_entry_failure_reason
            self._fatal(f"KVM: entry failed, hardware error {hw:#x}")
            return False
        if reason == api.KVM_EXIT_INTERNAL_ERROR:
            internal = run.exit.internal
            what = INTERNAL_SUBERRORS.get(internal.suberror, "unknown")
            data = " ".join(f"{internal.data[i]:#x}" for i in range(min(internal.ndata, 16)))
            self._fatal(f"KVM internal error. Suberror: {internal.suberror} ({what})"
                        + (f" data: {data}" if data else ""))
            return False
        name = api.EXIT_REASON_NAMES.get(reason, str(reason))
        self._fatal(f"KVM: unexpected exit reason {name}")
        return False

    def _reset_and_park(self, reason: str) -> None:
        """Ask for a machine reset and wait, parked, until the machine resumes us."""
        self._resume.clear()
        self.pause_requested = True
        self.machine.request_reset(reason)
        self._park()

    def _fatal(self, message: str) -> None:
        dump = self.vcpu.dump_registers()
        sys.stderr.write(f"vCPU {self.vcpu.id}: {message}\n{dump}\n")
        sys.stderr.flush()
        self.machine.request_shutdown(1, message)
