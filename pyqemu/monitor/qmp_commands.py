"""The QMP commands that act on a machine (QEMU's QAPI schema names and shapes).

Each handler runs on the main loop thread.  Run-control commands go through the
machine (``vm_stop``/``vm_start``/the run-state requests) so that the events they cause
(STOP, RESUME, RESET, POWERDOWN, SHUTDOWN) come from one place for QMP and HMP alike.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from pyqemu.monitor.qmp_errors import DeviceNotFound, QmpError
from pyqemu.monitor.qmp_registry import Arg, Registry
from pyqemu.sysemu import ShutdownCause

if TYPE_CHECKING:
    from pyqemu.hw.core.machine import Machine
    from pyqemu.monitor.monitor import Monitor

QEMU_VERSION = {"major": 7, "minor": 2, "micro": 0}
PACKAGE = "pyqemu 0.1.0"


def version_info() -> dict[str, Any]:
    return {"qemu": dict(QEMU_VERSION), "package": PACKAGE}


def target_arch(machine: Machine) -> str:
    prog = getattr(machine, "program_name", "pyqemu-system-riscv64")
    return prog.rsplit("-", 1)[-1]


def attached_backends(machine: Machine) -> set[int]:
    """ids of the images a device model uses (the others are if=none, "removable")."""
    out = set()
    for dev in machine.devices:
        for d in (dev, getattr(dev, "device", None)):
            backend = getattr(d, "backend", None)
            if backend is not None:
                out.add(id(backend))
    return out


def find_drive(machine: Machine, device: str) -> Any:
    for name, backend in machine.named_drives():
        if name == device:
            return backend
    raise DeviceNotFound(f"Device '{device}' not found")


class MachineCommands:
    """Handlers bound to one machine and its monitor."""

    def __init__(self, machine: Machine, monitor: Monitor) -> None:
        self.machine = machine
        self.monitor = monitor

    # --- queries ----------------------------------------------------------------------
    def query_version(self) -> dict:
        return version_info()

    def query_status(self) -> dict:
        m = self.machine
        return {"status": m.status, "singlestep": False, "running": m.vm_running}

    def query_name(self) -> dict:
        name = self.machine.config.name
        return {"name": name} if name else {}

    def query_target(self) -> dict:
        return {"arch": target_arch(self.machine)}

    def query_kvm(self) -> dict:
        accel = self.machine.accel
        enabled = getattr(accel, "name", "") == "kvm"
        return {"enabled": enabled, "present": os.path.exists("/dev/kvm")}

    def query_commands(self) -> list[dict]:
        return [{"name": n} for n in sorted(self.monitor.registry.commands)]

    def query_cpus_fast(self) -> list[dict]:
        m = self.machine
        arch = target_arch(m)
        accel = m.accel
        tcg_thread = getattr(accel, "thread", None)
        kvm_threads = getattr(accel, "threads", None) or []
        out = []
        for i, _cpu in enumerate(m.cpus):
            thread = kvm_threads[i] if i < len(kvm_threads) else tcg_thread
            tid = thread.native_id if isinstance(thread, threading.Thread) and thread.native_id \
                else os.getpid()
            if arch == "riscv64":
                props: dict[str, int] = {"core-id": i}
                path = f"/machine/soc0/harts[{i}]"
            else:
                props = {"core-id": 0, "thread-id": 0, "socket-id": i}
                path = f"/machine/unattached/device[{i}]"
            out.append({"thread-id": tid, "props": props, "qom-path": path, "cpu-index": i,
                        "target": arch})
        return out

    def query_block(self) -> list[dict]:
        from pyqemu.block.driver import BlockError
        from pyqemu.block.img.info import image_info

        attached = attached_backends(self.machine)
        out = []
        for name, b in self.machine.named_drives():
            fmt = getattr(b, "format_name", "raw")
            try:
                image = image_info(b)
            except (BlockError, OSError, AttributeError):
                image = {"filename": b.filename, "format": fmt, "virtual-size": b.size(),
                         "dirty-flag": False}
            entry: dict[str, Any] = {"device": name, "locked": False,
                                     "removable": id(b) not in attached}
            if id(b) in attached:
                entry["io-status"] = "ok"
            entry["inserted"] = {
                "iops_rd": 0, "detect_zeroes": "off", "image": image, "iops_wr": 0,
                "ro": bool(b.read_only), "node-name": name, "backing_file_depth": 0,
                "drv": fmt, "iops": 0, "bps_wr": 0, "write_threshold": 0, "encrypted": False,
                "bps": 0, "bps_rd": 0,
                "cache": {"no-flush": False, "direct": False, "writeback": True},
                "file": b.filename}
            entry["type"] = "unknown"
            out.append(entry)
        return out

    def query_chardev(self) -> list[dict]:
        m = self.machine
        seen: dict[int, Any] = {}
        for ch in list(m.config.chardevs.values()) + [c for c in m.config.serials if c]:
            seen.setdefault(id(ch), ch)
        out = []
        for ch in seen.values():
            out.append({"label": ch.id, "filename": chardev_filename(ch),
                        "frontend-open": getattr(ch, "frontend", None) is not None
                        or bool(getattr(ch, "frontends", None))})
        for label, filename in self.monitor.chardev_entries():
            out.append({"label": label, "filename": filename, "frontend-open": True})
        return out

    # --- run control ------------------------------------------------------------------
    def stop(self) -> dict:
        self.machine.vm_stop()
        return {}

    def cont(self) -> dict:
        m = self.machine
        if m.status in ("shutdown", "internal-error"):
            raise QmpError("Resetting the Virtual Machine is required")
        m.vm_start()
        return {}

    def system_reset(self) -> dict:
        self.machine.runstate.request_reset(ShutdownCause.HOST_QMP_SYSTEM_RESET)
        return {}

    def system_powerdown(self) -> dict:
        self.machine.runstate.request_powerdown()
        return {}

    def quit(self) -> dict:
        # The reply is written before the loop notices the request and shuts down.
        self.machine.runstate.request_shutdown(ShutdownCause.HOST_QMP_QUIT, 0)
        return {}

    # --- devices ----------------------------------------------------------------------
    def device_add(self, driver: str, extra: dict) -> dict:
        """No board here has a hotplug-capable bus: the error QEMU gives for such a bus."""
        from pyqemu.qom.device import DEVICE_TYPES

        if driver not in DEVICE_TYPES:
            raise QmpError(f"'{driver}' is not a valid device model name")
        raise QmpError(f"Device '{driver}' cannot be hotplugged on machine "
                       f"'{self.machine.type_name}': its bus does not support hotplugging")

    def device_del(self, id: str) -> dict:
        for dev in self.machine.devices:
            for d in (dev, getattr(dev, "device", None)):
                if d is not None and getattr(d, "id", None) == id:
                    raise QmpError(f"Device '{id}' does not support hotplugging")
        raise DeviceNotFound(f"Device '{id}' not found")

    def human_monitor_command(self, command_line: str, cpu_index: int | None = None) -> str:
        from pyqemu.monitor.hmp import Hmp

        hmp = Hmp(self.monitor)
        if cpu_index is not None:
            if not 0 <= cpu_index < len(self.machine.cpus):
                raise QmpError("Parameter 'cpu-index' expects a CPU index")
            hmp.cpu_index = cpu_index
        return hmp.run_line(command_line)


def chardev_filename(ch: Any) -> str:
    driver = getattr(ch, "driver", "")
    if driver == "mux":
        return chardev_filename(ch.backend)
    if driver == "socket":
        try:
            addr = ch.address
        except OSError:
            return "disconnected"
        if isinstance(addr, str):
            return f"unix:{addr}" + (",server=on" if ch.server else "")
        return f"tcp:{addr[0]}:{addr[1]}" + (",server=on" if ch.server else "")
    if driver == "file":
        return "file"
    return driver or "unknown"


def snapshot_json(s: Any) -> dict:
    """SnapshotInfo in QAPI's SnapshotInfo shape."""
    return {"id": s.id, "name": s.name, "vm-state-size": s.vm_state_size,
            "date-sec": s.date_sec, "date-nsec": s.date_nsec,
            "vm-clock-sec": s.vm_clock_nsec // 10**9,
            "vm-clock-nsec": s.vm_clock_nsec % 10**9,
            **({"icount": s.icount} if s.icount is not None else {})}


def register_machine_commands(reg: Registry, cmds: MachineCommands) -> None:
    reg.add("query-version", cmds.query_version)
    reg.add("query-status", cmds.query_status)
    reg.add("query-name", cmds.query_name)
    reg.add("query-target", cmds.query_target)
    reg.add("query-kvm", cmds.query_kvm)
    reg.add("query-commands", cmds.query_commands)
    reg.add("query-cpus-fast", cmds.query_cpus_fast)
    reg.add("query-block", cmds.query_block)
    reg.add("query-chardev", cmds.query_chardev)
    reg.add("stop", cmds.stop)
    reg.add("cont", cmds.cont)
    reg.add("system_reset", cmds.system_reset)
    reg.add("system_powerdown", cmds.system_powerdown)
    reg.add("quit", cmds.quit)
    reg.add("device_add", cmds.device_add, Arg("driver"), extra_args=True)
    reg.add("device_del", cmds.device_del, Arg("id"))
    reg.add("human-monitor-command", cmds.human_monitor_command,
            Arg("command-line", "str"), Arg("cpu-index", "int", False))
