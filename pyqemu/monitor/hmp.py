"""The human monitor (HMP): QEMU's ``(qemu)`` command language on top of QMP.

``Hmp.run_line(text)`` executes one command line and returns what the monitor prints;
it is what ``human-monitor-command`` and the interactive frontends
(readline_frontend.py) call.  Commands that have a QMP equivalent run the QMP command
(so events and errors are the same); a QMP error prints as ``Error: desc``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyqemu.monitor.hmp_info import INFO
from pyqemu.monitor.hmp_memory import (
    DumpFormat,
    HmpMemoryError,
    format_dump,
    format_insns,
    parse_format,
)
from pyqemu.monitor.qmp_errors import QmpError

if TYPE_CHECKING:
    from pyqemu.monitor.monitor import Monitor

MAX_DUMP = 1 << 20      # bytes one x/xp may print


class Hmp:
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.machine = monitor.machine
        self.cpu_index = 0
        self.last_format = DumpFormat()
        self.commands: dict[str, tuple[Callable[[str], str], str, str]] = {
            "help": (self.cmd_help, "[cmd]", "show the help"),
            "info": (self.cmd_info, "[subcommand]", "show various information about the "
                     "system state"),
            "stop": (self.simple("stop"), "", "stop emulation"),
            "cont": (self.simple("cont"), "", "resume emulation"),
            "system_reset": (self.simple("system_reset"), "", "reset the system"),
            "system_powerdown": (self.simple("system_powerdown"), "",
                                 "send system power down event"),
            "quit": (self.simple("quit"), "", "quit the emulator"),
            "x": (self.cmd_x, "/fmt addr", "virtual memory dump starting at 'addr'"),
            "xp": (self.cmd_xp, "/fmt addr", "physical memory dump starting at 'addr'"),
            "savevm": (self.cmd_savevm, "tag", "save a VM snapshot. If no tag is provided, "
                       "a new snapshot is created"),
            "loadvm": (self.cmd_loadvm, "tag", "restore a VM snapshot from its tag"),
            "delvm": (self.cmd_delvm, "tag", "delete a VM snapshot from its tag"),
            "cpu": (self.cmd_cpu, "index", "set the default CPU"),
            "gdbserver": (self.cmd_gdbserver, "[device]", "start gdbserver on given device "
                          "(default 'tcp::1234')"),
        }
        self.aliases = {"c": "cont", "q": "quit", "?": "help", "h": "help"}

    # --- plumbing -----------------------------------------------------------------------
    def qmp(self, name: str, **args: Any) -> Any:
        cmd = self.monitor.registry.get(name)
        if cmd is None:
            raise QmpError(f"The command {name} has not been found", "CommandNotFound")
        return cmd.handler(**cmd.check(args))

    def simple(self, qmp_name: str) -> Callable[[str], str]:
        def run(arg: str) -> str:
            self.qmp(qmp_name)
            return ""
        return run

    def run_line(self, line: str) -> str:
        line = line.strip()
        if not line:
            return ""
        name, _, arg = line.partition(" ")
        if name.startswith(("x/", "xp/")):       # "x/4x addr" with the format attached
            name, _, fmt = name.partition("/")
            arg = f"/{fmt} {arg}"
        name = self.aliases.get(name, name)
        entry = self.commands.get(name)
        if entry is None:
            return f"unknown command: '{name}'\n"
        try:
            return entry[0](arg.strip())
        except QmpError as e:
            return f"Error: {e.desc}\n"
        except HmpMemoryError as e:
            return f"{e}\n"

    # --- commands -----------------------------------------------------------------------
    def cmd_help(self, arg: str) -> str:
        if arg == "info":
            return "".join(f"info {n} -- {doc}\n" for n, (_, doc) in sorted(INFO.items()))
        names = [arg] if arg else sorted(self.commands)
        out = []
        for n in names:
            n = self.aliases.get(n, n)
            if n not in self.commands:
                return f"unknown command: '{n}'\n"
            _, params, doc = self.commands[n]
            alias = "|".join([n] + [a for a, t in self.aliases.items() if t == n and a != "?"])
            out.append(f"{alias} {params} -- {doc}".replace("  --", " --"))
        return "\n".join(out) + "\n"

    def cmd_info(self, arg: str) -> str:
        sub, _, rest = arg.partition(" ")
        if not sub:
            return self.cmd_help("info")
        entry = INFO.get(sub)
        if entry is None:
            return f"unknown command: 'info {sub}'\n"
        return entry[0](self, rest)

    def cmd_cpu(self, arg: str) -> str:
        try:
            index = int(arg, 0)
        except ValueError:
            return "invalid CPU index\n"
        if not 0 <= index < len(self.machine.cpus):
            return "invalid CPU index\n"
        self.cpu_index = index
        return ""

    def cmd_gdbserver(self, arg: str) -> str:
        """Start the gdbstub now (the -gdb option at run time), on the main loop."""
        from pyqemu.gdbstub import cli as gdbstub_cli

        device = arg or gdbstub_cli.DEFAULT_DEVICE
        if device == "none":
            return "Disabled gdbserver\n" if self.monitor.gdb_device is None else \
                "gdbserver cannot be stopped once started in this build\n"
        if self.monitor.gdb_device is not None:
            return f"gdbserver already running on '{self.monitor.gdb_device}'\n"
        try:
            gdbstub_cli.configure(self.machine, self.machine.accel, device, False)
        except ValueError as e:
            return f"Error: {e}\n"
        self.monitor.gdb_device = device
        return f"Waiting for gdb connection on device '{device}'\n"

    def _dump_args(self, arg: str) -> tuple[DumpFormat, int]:
        parts = arg.split()
        fmt_text = parts.pop(0) if parts and parts[0].startswith("/") else ""
        if len(parts) != 1:
            raise HmpMemoryError("missing address" if not parts else "too many arguments")
        fmt = parse_format(fmt_text, self.last_format)
        try:
            addr = int(parts[0], 0) if not parts[0].startswith("$") else self._register(parts[0])
        except ValueError:
            raise HmpMemoryError(f"invalid address '{parts[0]}'") from None
        if fmt.count * fmt.size > MAX_DUMP:
            raise HmpMemoryError("dump too large")
        self.last_format = fmt
        return fmt, addr

    def _register(self, name: str) -> int:
        cpu = self.machine.cpus[self.cpu_index] if self.machine.cpus else None
        if name == "$pc" and cpu is not None and hasattr(cpu, "pc"):
            return cpu.pc
        raise ValueError(name)

    def _read(self, addr: int, n: int, physical: bool) -> bytes:
        from pyqemu.memory.address_space import GuestMemoryError

        out = bytearray()
        while len(out) < n:
            cur = addr + len(out)
            page_left = 0x1000 - (cur & 0xFFF)
            take = min(page_left, n - len(out))
            pa = cur if physical else self._translate(cur)
            try:
                out += self.machine.sysmem.read(pa, take)
            except GuestMemoryError:
                raise HmpMemoryError(f"Cannot access memory at address {cur:#x}") from None
        return bytes(out)

    def _translate(self, va: int) -> int:
        """The physical address of va as the current CPU sees it now.  The debugger's
        page walk is used: it sets no A/D bits, as a monitor read must not change
        the guest."""
        cpu = self.machine.cpus[self.cpu_index] if self.machine.cpus else None
        if cpu is None:
            return va
        if hasattr(cpu, "q"):
            from pyqemu.gdbstub.riscv_mmu import debug_translate

            pa = debug_translate(cpu.q, self.machine.sysmem, va)
        else:
            from pyqemu.monitor.kvm_translate import kvm_translate

            pa = kvm_translate(self.machine, self.cpu_index, va)
        if pa is None:
            raise HmpMemoryError(f"Cannot access memory at address {va:#x}")
        return pa

    def _dump(self, arg: str, physical: bool) -> str:
        fmt, addr = self._dump_args(arg)
        if fmt.format == "i":
            data = self._read(addr, fmt.count * 4, physical)
            return format_insns(addr, data, fmt.count)
        return format_dump(addr, self._read(addr, fmt.count * fmt.size, physical), fmt)

    def cmd_x(self, arg: str) -> str:
        return self._dump(arg, physical=False)

    def cmd_xp(self, arg: str) -> str:
        return self._dump(arg, physical=True)

    def _tag(self, arg: str, required: bool) -> str | None:
        try:
            words = shlex.split(arg)
        except ValueError:
            words = arg.split()
        if not words:
            if required:
                raise QmpError("Parameter 'name' is missing")
            return None
        return words[0]

    def cmd_savevm(self, arg: str) -> str:
        from pyqemu.migration import MigrationError, save_vm

        try:
            save_vm(self.machine, self._tag(arg, False))
        except MigrationError as e:
            return f"Error: {e}\n"
        return ""

    def cmd_loadvm(self, arg: str) -> str:
        from pyqemu.migration import MigrationError, load_vm

        tag = self._tag(arg, True)
        m = self.machine
        was_running = m.vm_running
        m.vm_stop("restore-vm")
        try:
            load_vm(m, tag)
        except MigrationError as e:
            if was_running:
                m.vm_start()
            return f"Error: {e}\n"
        if was_running:
            m.vm_start()
        return ""

    def cmd_delvm(self, arg: str) -> str:
        from pyqemu.migration import MigrationError, delete_vm

        try:
            delete_vm(self.machine, self._tag(arg, True))
        except MigrationError as e:
            return f"Error: {e}\n"
        return ""
