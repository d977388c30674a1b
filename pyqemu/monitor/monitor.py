"""The machine's monitor: every QMP and HMP endpoint, the command table, events.

Created by Machine.run when the command line asked for a monitor.  Machine events
(Machine.emit_event, from any thread) are stamped when they happen and delivered to
every negotiated QMP session on the main loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyqemu.monitor.chardev_frontends import HmpFrontend, QmpChardevFrontend
from pyqemu.monitor.qmp_commands import MachineCommands, register_machine_commands
from pyqemu.monitor.qmp_registry import Registry
from pyqemu.monitor.qmp_session import QmpSession, timestamp
from pyqemu.monitor.snapshot_commands import register_snapshot_commands

if TYPE_CHECKING:
    from pyqemu.hw.core.machine import Machine


class Monitor:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.registry = Registry()
        self.registry.add("qmp_capabilities", lambda **kw: {})   # handled by the session
        register_machine_commands(self.registry, MachineCommands(machine, self))
        register_snapshot_commands(self.registry, self)
        self.sessions: set[QmpSession] = set()
        self.listeners: list[Any] = []
        self.frontends: list[Any] = []
        self.gdb_device: str | None = None       # HMP gdbserver started one

    def start(self) -> None:
        self.machine.event_listeners.append(self.on_event)
        for cfg in self.machine.config.monitors:
            if cfg.listener is not None:
                self.listeners.append(cfg.listener)
                cfg.listener.start(self)
            elif cfg.mode == "control":
                fe: Any = QmpChardevFrontend(self, cfg.chardev, cfg.pretty, cfg.focus)
                self.frontends.append(fe)
                fe.attach()
            else:
                fe = HmpFrontend(self, cfg.chardev, cfg.focus)
                self.frontends.append(fe)
                fe.attach()

    def chardev_entries(self) -> list[tuple[str, str]]:
        """query-chardev rows for the -qmp sockets (QEMU names them compat_monitorN)."""
        return [(f"compat_monitor{i}", lst.filename()) for i, lst in enumerate(self.listeners)]

    # --- events -----------------------------------------------------------------------
    def on_event(self, name: str, data: dict | None) -> None:
        ts = timestamp()
        main_loop = self.machine.main_loop
        if main_loop.in_loop_thread():
            self.broadcast(name, data, ts)
        else:
            main_loop.call_soon_threadsafe(self.broadcast, name, data, ts)

    def broadcast(self, name: str, data: dict | None, ts: dict[str, int]) -> None:
        for s in list(self.sessions):
            s.event(name, data, ts)

    def close(self) -> None:
        """Flush what is queued for clients (the SHUTDOWN event), then close."""
        loop = self.machine.main_loop
        if not loop.loop.is_closed() and self.listeners:
            loop.run_briefly(0.02)
        for lst in self.listeners:
            lst.close()
        if not loop.loop.is_closed() and self.listeners:
            loop.run_briefly(0)
        if self.on_event in self.machine.event_listeners:
            self.machine.event_listeners.remove(self.on_event)
