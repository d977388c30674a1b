"""The Machine base shared by every board (riscv ``virt``, x86 ``pc``...).

A board subclass builds memory and devices in :meth:`Machine.build`; an accelerator
(TCG or KVM — the board does not know which, DESIGN.md section 3) creates and runs the
vCPUs.  :meth:`Machine.run` is QEMU's main loop: it runs asyncio on the main thread
until the run state has a request, performs system resets in place (vCPUs paused,
devices and CPUs reset, vCPUs resumed) and returns the exit status at shutdown.

Run control for the monitor and the gdbstub: :meth:`Machine.vm_stop` and
:meth:`Machine.vm_start` pause and resume the vCPUs and keep ``status`` (QMP's
query-status: prelaunch, running, paused, shutdown, save-vm, restore-vm); every
QMP event (STOP, RESUME, RESET, POWERDOWN, SHUTDOWN, JOB_STATUS_CHANGE) goes through
:meth:`Machine.emit_event` to the listeners (pyqemu.monitor).  ``-S`` starts in
prelaunch, ``-loadvm`` restores a snapshot before the first instruction,
``-no-shutdown`` turns a guest poweroff into a pause.

Accelerator contract (``pyqemu.accel.<name>.system`` exposes
``create_accelerator(opts: dict[str, str]) -> Accelerator``)::

    init_machine(machine)  create machine.smp vCPUs on machine.sysmem, then call
                           machine.attach_cpus(cpus) so the board wires their
                           interrupt inputs; CPUs start at machine.reset_pc on reset
    start()                run the vCPUs (returns at once: they run in threads)
    pause()                stop every vCPU and return once none is running guest code
    reset_cpus()           architectural reset of every vCPU (while paused)
    stop()                 final stop at shutdown
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyqemu.chardev import Chardev
from pyqemu.memory import AddressSpace
from pyqemu.qom.device import Device
from pyqemu.sysemu import MainLoop, RunState, ShutdownCause


class MachineError(Exception):
    """A user-caused board configuration error; the CLI prints it as one line."""


class Accelerator(Protocol):
    name: str

    def init_machine(self, machine: Machine) -> None: ...

    def start(self) -> None: ...

    def pause(self) -> None: ...

    def reset_cpus(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class DriveConfig:
    """One ``-drive``: the opened image is attached by the board or a ``-device``."""

    id: str
    file: str | None
    interface: str = "none"   # if=virtio, none, ...
    format: str | None = None
    read_only: bool = False
    snapshot: bool = False
    index: int | None = None


@dataclass
class MachineConfig:
    """Everything the command line says about the machine, already parsed."""

    type: str = ""
    options: dict[str, str] = field(default_factory=dict)     # -M key=val extras
    ram_size: int = 128 << 20
    smp: int = 1
    bios: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    append: str | None = None
    dtb: str | None = None
    serials: list[Chardev | None] = field(default_factory=list)
    chardevs: dict[str, Chardev] = field(default_factory=dict)
    drives: list[DriveConfig] = field(default_factory=list)
    devices: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    no_reboot: bool = False
    name: str | None = None
    nographic: bool = False
    start_paused: bool = False          # -S: stay in "prelaunch" until cont
    no_shutdown: bool = False           # -no-shutdown: a guest poweroff pauses instead
    loadvm: str | None = None           # -loadvm NAME: restore that snapshot before running
    monitors: list[MonitorConfig] = field(default_factory=list)


@dataclass
class MonitorConfig:
    """One monitor: QMP ("control") or HMP ("readline") on a chardev, or a QMP
    server socket (``-qmp unix:...`` / ``tcp:...``) that accepts several clients."""

    mode: str                           # "control" or "readline"
    chardev: Chardev | None = None
    listener: Any = None                # pyqemu.monitor.qmp_server.QmpListener
    pretty: bool = False
    focus: bool = False                 # take the input focus of a shared mux


class Machine:
    type_name = "none"
    description = ""
    default_ram_size = 128 << 20
    max_cpus = 1

    def __init__(self, config: MachineConfig) -> None:
        self.config = config
        self.main_loop = MainLoop()
        self.runstate = RunState(no_reboot=config.no_reboot)
        self.runstate.add_notifier(self.main_loop.wake)
        self.sysmem = AddressSpace("memory")
        self.sysmem.mmio_lock = self.main_loop.bql
        self.devices: list[Device] = []
        self.cpus: list[Any] = []
        self.reset_pc = 0
        self.smp = config.smp
        self.ram_size = config.ram_size
        self.accel: Accelerator | None = None
        self.block_backends: list[Any] = []     # opened images, flushed and closed at exit
        # QMP run state (query-status): prelaunch, running, paused, shutdown, save-vm...
        self.status = "prelaunch"
        self.vm_running = False
        self.event_listeners: list[Callable[[str, dict | None], None]] = []
        self.monitor: Any = None
        self.build()

    # --- board hooks --------------------------------------------------------------
    def build(self) -> None:
        """Create memory and devices (subclass)."""

    def attach_cpus(self, cpus: list[Any]) -> None:
        """Called by the accelerator with the vCPUs it created: wire their IRQ inputs."""
        self.cpus = list(cpus)

    def load_firmware(self) -> None:
        """Load bios/kernel/initrd/dtb into memory (subclass; done at every reset)."""

    def powerdown(self) -> None:
        """An ACPI-style power button request (subclass)."""

    # --- devices ----------------------------------------------------------------------
    def add_device(self, dev: Device) -> Device:
        self.devices.append(dev)
        if not dev.realized:
            dev.realize()
        return dev

    def reset(self) -> None:
        """System reset: every device to its power-on state, then the boot images."""
        for dev in self.devices:
            dev.reset()
        self.load_firmware()

    # --- running ----------------------------------------------------------------------
    def all_chardevs(self) -> list[Chardev]:
        """Every chardev once: -chardev, -serial and the monitors' own."""
        seen: dict[int, Chardev] = {}
        cfg = self.config
        for ch in list(cfg.chardevs.values()) + [c for c in cfg.serials if c] \
                + [m.chardev for m in cfg.monitors if m.chardev is not None]:
            seen.setdefault(id(ch), ch)
        return list(seen.values())

    def open_chardevs(self) -> None:
        for ch in self.all_chardevs():
            ch.open(self.main_loop)

    def close_chardevs(self) -> None:
        for ch in self.all_chardevs():
            ch.close()
        for mon in self.config.monitors:
            if mon.listener is not None and self.monitor is None:
                mon.listener.close()      # bound at parse time, never served

    def named_drives(self) -> list[tuple[str, Any]]:
        """(drive id, opened BlockDriver) for every -drive, in command-line order."""
        backends = list(self.block_backends)
        drives = self.config.drives
        if len(drives) == len(backends):
            return [(d.id, b) for d, b in zip(drives, backends, strict=True)]
        return [(f"drive{i}", b) for i, b in enumerate(backends)]

    def close_block_backends(self) -> None:
        """Flush and close every image (qcow2 metadata reaches the disk)."""
        from pyqemu.block.driver import BlockError

        for backend in self.block_backends:
            try:
                backend.flush()
                backend.close()
            except (BlockError, OSError) as e:
                prog = getattr(self, "program_name", "pyqemu")
                print(f"{prog}: closing {backend.filename}: {e}", file=sys.stderr)
        self.block_backends.clear()

    def _on_signal(self, signum: int) -> None:
        if self.runstate.shutdown_requested():
            return
        # Request first: stderr may be a closed pipe, and the signal must still stop us.
        self.runstate.request_shutdown(ShutdownCause.HOST_SIGNAL, 0)
        prog = getattr(self, "program_name", "pyqemu")
        try:
            print(f"{prog}: terminating on signal {signum}", file=sys.stderr)
        except OSError:
            pass

    # --- run control (QMP stop/cont, events) -----------------------------------------------
    def emit_event(self, name: str, data: dict | None = None) -> None:
        """A QMP event (STOP, RESUME, RESET...): every listener gets it, from any thread."""
        for fn in list(self.event_listeners):
            fn(name, data)

    def vm_stop(self, status: str = "paused") -> None:
        """Pause the vCPUs (QMP ``stop``); the devices and the main loop keep running."""
        if not self.vm_running:
            return
        self.vm_running = False
        if self.accel is not None:
            self.accel.pause()
        self.status = status
        self.emit_event("STOP")

    def vm_start(self) -> None:
        """Resume the vCPUs (QMP ``cont``)."""
        if self.vm_running:
            return
        self.vm_running = True
        self.status = "running"
        self.emit_event("RESUME")
        if self.accel is not None:
            self.accel.start()

    def _handle_reset(self) -> None:
        cause = self.runstate.take_reset()
        was_running = self.vm_running
        if self.accel is not None:
            self.accel.pause()
        with self.main_loop.bql:
            self.reset()
            self.accel.reset_cpus()
        self.emit_event("RESET", {"guest": cause.value.startswith("guest"),
                                  "reason": cause.value})
        # A reset while paused stays paused, in "prelaunch" (QEMU's behaviour for
        # system_reset after stop, or after a -no-shutdown poweroff): cont runs it.
        if was_running:
            self.accel.start()
        else:
            self.status = "prelaunch"

    def _pause_on_shutdown(self) -> bool:
        """-no-shutdown: a guest poweroff stops the vCPUs (status "shutdown") and the
        machine waits for system_reset or quit; True if that happened."""
        rs = self.runstate
        cause = rs.shutdown_cause
        if not (self.config.no_shutdown and cause is ShutdownCause.GUEST_SHUTDOWN
                and rs.exit_status == 0):
            return False
        rs.take_shutdown()
        self.emit_event("SHUTDOWN", {"guest": True, "reason": cause.value})
        self.vm_stop("shutdown")
        self.status = "shutdown"
        return True

    def _start_monitors(self) -> None:
        if self.config.monitors:
            from pyqemu.monitor import Monitor

            self.monitor = Monitor(self)
            self.monitor.start()

    def run(self, accel: Accelerator) -> int:
        """Run until shutdown; returns the process exit status (QEMU's semantics)."""
        self.accel = accel
        accel.init_machine(self)
        loop = self.main_loop.loop
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (ValueError, RuntimeError):  # not the main thread (tests)
                pass
        self.open_chardevs()
        try:
            self._start_monitors()
            self.reset()
            accel.reset_cpus()
            if self.config.loadvm:
                from pyqemu.migration import MigrationError, load_vm

                try:
                    load_vm(self, self.config.loadvm)
                except MigrationError as e:
                    raise MachineError(f"-loadvm {self.config.loadvm}: {e}") from None
            if self.config.start_paused:
                self.status = "prelaunch"
            else:
                self.vm_running = True
                self.status = "running"
                accel.start()
            rs = self.runstate
            while True:
                self.main_loop.run(until=rs.any_request)
                if rs.shutdown_requested():
                    if not self._pause_on_shutdown():
                        break
                    continue
                if rs.reset_requested():
                    self._handle_reset()
                if rs.take_powerdown():
                    self.emit_event("POWERDOWN")
                    self.powerdown()
            cause = rs.shutdown_cause
            self.status = "shutdown"
            self.emit_event("SHUTDOWN", {"guest": cause.value.startswith("guest"),
                                         "reason": cause.value})
        finally:
            accel.stop()
            self.vm_running = False
            if self.monitor is not None:
                self.monitor.close()
            self.close_chardevs()
            self.close_block_backends()
            self.main_loop.close()
        return self.runstate.exit_status
