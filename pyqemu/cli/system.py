"""QEMU-style command-line parsing shared by every ``pyqemu-system-*`` emulator.

    parse_system_args(argv, prog, default_machine) -> SystemArgs
    run_system(prog, argv, boards, default_machine, default_accel) -> exit status

Syntax as QEMU's: ``-opt value`` (one or two leading dashes), values as
``key=val,key=val`` with ``,,`` for a literal comma and an implied first key
(``-M virt,dumpdtb=x`` = ``type=virt``; ``-device virtio-blk-device,drive=hd0`` =
``driver=...``).  A mistake the user makes is one line on stderr naming the option,
``PROG: -drive file=x,bogus=1: Invalid parameter 'bogus'``, and exit status 1.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from pyqemu.chardev import ChardevError, create_chardev, parse_serial_spec
from pyqemu.gdbstub import cli as gdbstub_cli
from pyqemu.hw.core.machine import (
    DriveConfig,
    Machine,
    MachineConfig,
    MachineError,
    MonitorConfig,
)
from pyqemu.qom.device import DeviceError, parse_bool, parse_size
from pyqemu.sysemu import ShutdownCause

# Options taking an argument, and flags (QEMU's HAS_ARG split).
ARG_OPTIONS = {
    "M", "machine", "m", "smp", "cpu", "accel", "bios", "kernel", "initrd", "append", "dtb",
    "device", "drive", "serial", "chardev", "monitor", "mon", "display", "name", "global",
    "d", "D", "L", "boot", "rtc", "object", "netdev", "nic", "pidfile", "vga",
    "qmp", "qmp-pretty", "loadvm",
}
FLAG_OPTIONS = {
    "nographic", "no-reboot", "no-shutdown", "nodefaults", "S", "snapshot", "version", "help",
    "h", "enable-kvm",
}
# The gdbstub's options: pyqemu.gdbstub.cli.
ARG_OPTIONS.add("gdb")
FLAG_OPTIONS.add("s")
# Accepted for compatibility and ignored: they only tune things we do not model.
IGNORED_OPTIONS = {"L", "rtc", "vga", "global", "boot", "pidfile"}
DRIVE_KEYS = {"file", "if", "id", "format", "readonly", "snapshot", "index", "media", "cache",
              "aio", "discard", "detect-zeroes", "unit", "bus", "werror", "rerror"}


class UsageError(Exception):
    """One user error; str() is the text after ``PROG: ``."""


def parse_keyval(text: str, implied: str | None = None) -> dict[str, str]:
    """``a=b,c=d`` into a dict; ``,,`` is a literal comma; a bare first word is implied."""
    items: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if text.startswith(",,", i):
                cur.append(",")
                i += 2
                continue
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    items.append("".join(cur))
    out: dict[str, str] = {}
    for n, item in enumerate(items):
        key, eq, val = item.partition("=")
        if eq:
            out[key] = val
        elif n == 0 and implied is not None:
            out[implied] = key
        elif key:
            out[key] = "on"       # a bare flag such as "server" means server=on
    return out


@dataclass
class SystemArgs:
    config: MachineConfig
    accel: dict[str, str] = field(default_factory=lambda: {"accel": "tcg"})
    dumpdtb: str | None = None
    quit_hook: QuitHook | None = None
    log_items: str | None = None
    log_file: str | None = None
    start_paused: bool = False
    gdb: str | None = None  # -gdb / -s: where the gdbstub listens


class QuitHook:
    """Ctrl-A x on a mux chardev: bound to the machine once it exists."""

    def __init__(self) -> None:
        self.machine: Machine | None = None

    def __call__(self) -> None:
        if self.machine is not None:
            self.machine.runstate.request_shutdown(ShutdownCause.HOST_UI, 0)


def split_options(argv: list[str]) -> list[tuple[str, str | None, str]]:
    """[(name, value, original text)] from argv."""
    out = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-") or a == "-":
            raise UsageError(f"{a}: invalid option")
        name = a[2:] if a.startswith("--") else a[1:]
        if name in FLAG_OPTIONS:
            out.append((name, None, a))
            i += 1
        elif name in ARG_OPTIONS:
            if i + 1 >= len(argv):
                raise UsageError(f"{a}: requires an argument")
            out.append((name, argv[i + 1], f"{a} {argv[i + 1]}"))
            i += 2
        else:
            raise UsageError(f"{a}: invalid option")
    return out


def _ram_size(val: str, where: str) -> int:
    m = parse_keyval(val, "size")
    text = m.pop("size", "")
    if m or not text:
        raise UsageError(f"{where}: Invalid parameter '{next(iter(m), 'size')}'")
    try:
        # A bare number is MiB, as in QEMU.
        size = parse_size(text + "M" if text.isdigit() else text)
    except ValueError:
        raise UsageError(f"{where}: Parameter 'size' expects a non-negative number below 2^64") from None
    if size < (1 << 20):
        raise UsageError(f"{where}: ram size too small")
    return size


def _smp(val: str, where: str) -> int:
    s = parse_keyval(val, "cpus")
    for key in s:
        if key not in ("cpus", "sockets", "cores", "threads", "maxcpus", "dies", "clusters"):
            raise UsageError(f"{where}: Invalid parameter '{key}'")
    try:
        n = int(s.get("cpus", "0"))
        if n == 0:
            n = 1
            for key in ("sockets", "cores", "threads"):
                n *= int(s.get(key, "1"))
    except ValueError:
        raise UsageError(f"{where}: Parameter 'cpus' expects a number") from None
    if n < 1:
        raise UsageError(f"{where}: Invalid CPU topology")
    return n


def _drive(val: str, where: str, index: int) -> DriveConfig:
    d = parse_keyval(val)
    for key in d:
        if key not in DRIVE_KEYS:
            raise UsageError(f"{where}: Invalid parameter '{key}'")
    try:
        ro = parse_bool(d.get("readonly", "off"))
        snap = parse_bool(d.get("snapshot", "off"))
    except ValueError as e:
        raise UsageError(f"{where}: Parameter 'readonly' {e}") from None
    fmt = d.get("format")
    if fmt is not None and fmt not in ("raw", "qcow2"):
        raise UsageError(f"{where}: Unknown driver '{fmt}'")
    if "file" in d and not os.path.exists(d["file"]):
        raise UsageError(f"{where}: Could not open '{d['file']}': No such file or directory")
    return DriveConfig(id=d.get("id", f"drive{index}"), file=d.get("file"),
                       interface=d.get("if", "none"), format=fmt, read_only=ro, snapshot=snap,
                       index=int(d["index"]) if d.get("index", "").isdigit() else None)


def parse_system_args(argv: list[str], prog: str, default_machine: str) -> SystemArgs:
    cfg = MachineConfig(type=default_machine)
    args = SystemArgs(cfg)
    serial_specs: list[tuple[str, str]] = []
    chardevs: list[tuple[dict[str, str], str]] = []
    monitor_specs: list[tuple[str, str, dict[str, str], str]] = []  # (kind, mode, opts, where)
    ram_given = False
    for name, val, where in split_options(argv):
        if name in ("version",):
            print(f"{prog} version 7.2.0 (pyqemu 0.1.0)")
            raise SystemExit(0)
        if name in ("help", "h"):
            print(f"usage: {prog} [options]\n(QEMU's command-line syntax; see qemu(1))")
            raise SystemExit(0)
        if name in IGNORED_OPTIONS:
            continue
        if name in ("M", "machine"):
            m = parse_keyval(val, "type")
            cfg.type = m.pop("type", cfg.type)
            if "accel" in m:
                args.accel = {"accel": m.pop("accel")}
            cfg.options.update(m)
            if "dumpdtb" in m:
                args.dumpdtb = cfg.options.pop("dumpdtb")
        elif name == "m":
            cfg.ram_size = _ram_size(val, where)
            ram_given = True
        elif name == "smp":
            cfg.smp = _smp(val, where)
        elif name == "accel":
            args.accel = parse_keyval(val, "accel")
        elif name == "enable-kvm":
            args.accel = {"accel": "kvm"}
        elif name in ("bios", "kernel", "initrd", "append", "dtb", "name"):
            if name != "append" and not val:
                raise UsageError(f"{where}: empty file name")
            setattr(cfg, name, val)
        elif name == "device":
            d = parse_keyval(val, "driver")
            driver = d.pop("driver", "")
            if not driver or driver == "help":
                raise UsageError(f"{where}: a device model name is required")
            cfg.devices.append((driver, d))
        elif name == "drive":
            cfg.drives.append(_drive(val, where, len(cfg.drives)))
        elif name == "serial":
            serial_specs.append((val, where))
        elif name == "chardev":
            chardevs.append((parse_keyval(val, "backend"), where))
        elif name == "monitor":
            if val != "none":
                monitor_specs.append(("spec", "readline", {"spec": val}, where))
        elif name in ("qmp", "qmp-pretty"):
            monitor_specs.append(("spec", "control",
                                  {"spec": val, "pretty": "on" if name == "qmp-pretty" else "off"},
                                  where))
        elif name == "mon":
            opts = parse_keyval(val, "chardev")
            for key in opts:
                if key not in ("chardev", "mode", "pretty"):
                    raise UsageError(f"{where}: Invalid parameter '{key}'")
            if opts.get("mode", "readline") not in ("readline", "control"):
                raise UsageError(f"{where}: Parameter 'mode' does not accept value "
                                 f"'{opts['mode']}'")
            if not opts.get("chardev"):
                raise UsageError(f"{where}: Parameter 'chardev' is missing")
            monitor_specs.append(("mon", opts.get("mode", "readline"), opts, where))
        elif name == "loadvm":
            if not val:
                raise UsageError(f"{where}: a snapshot name is required")
            cfg.loadvm = val
        elif name == "display":
            if parse_keyval(val, "type").get("type") != "none":
                raise UsageError(f"{where}: only -display none is supported (no graphics)")
        elif name == "nographic":
            cfg.nographic = True
        elif name == "no-reboot":
            cfg.no_reboot = True
        elif name == "S":
            args.start_paused = True
            cfg.start_paused = True
        elif name in ("s", "gdb"):
            args.gdb = gdbstub_cli.device(name, val)
        elif name == "d":
            args.log_items = val
        elif name == "D":
            args.log_file = val
        elif name == "no-shutdown":
            cfg.no_shutdown = True
        elif name in ("nodefaults", "snapshot", "cpu", "object", "netdev", "nic"):
            if name in ("cpu", "object", "netdev", "nic"):
                raise UsageError(f"{where}: not supported by this machine yet")
    if not ram_given:
        cfg.ram_size = 0          # the board's default
    # There is no graphical console: the first serial port always goes to stdio unless
    # told otherwise (what -nographic gives with QEMU).
    # Any -monitor/-qmp/-mon replaces the monitor that -nographic puts behind Ctrl-A c
    # (QEMU's default_monitor); the serial port keeps its mux, so Ctrl-A x still quits.
    auto_monitor = not monitor_specs
    if not serial_specs:
        stdio_monitor = any(kind == "spec" and opts.get("spec") == "stdio"
                            for kind, _, opts, _ in monitor_specs)
        if stdio_monitor and not cfg.nographic:
            # Without -nographic QEMU puts the serial port on a graphical console,
            # which nobody sees here: the monitor alone owns stdio.
            serial_specs = [("null", "-serial")]
        else:
            serial_specs = [("mon:stdio", "-nographic")]
    hook = QuitHook()
    args.quit_hook = hook
    try:
        _create_chardevs(cfg, chardevs, serial_specs, hook, auto_monitor)
        _create_monitors(cfg, monitor_specs, hook)
    except UsageError:
        for ch in list(cfg.chardevs.values()) + [c for c in cfg.serials if c]:
            ch.close()
        for mon in cfg.monitors:
            if mon.listener is not None:
                mon.listener.close()
            elif mon.chardev is not None:
                mon.chardev.close()
        raise
    return args


def _create_chardevs(cfg: MachineConfig, chardevs: list[tuple[dict[str, str], str]],
                     serial_specs: list[tuple[str, str]], hook: QuitHook,
                     auto_monitor: bool = True) -> None:
    for opts, where in chardevs:
        try:
            ch = create_chardev(opts, hook)
        except ChardevError as e:
            raise UsageError(f"{where}: {e}") from None
        if ch.id in cfg.chardevs:
            raise UsageError(f"{where}: attempt to add duplicate property '{ch.id}'")
        cfg.chardevs[ch.id] = ch
    for n, (spec, where) in enumerate(serial_specs):
        if spec.startswith("chardev:"):
            chr_id = spec[len("chardev:"):]
            if chr_id not in cfg.chardevs:
                raise UsageError(f"{where}: chardev '{chr_id}' not found")
            cfg.serials.append(cfg.chardevs[chr_id])
            continue
        try:
            so = parse_serial_spec(spec, n)
            ch = create_chardev(so, hook) if so is not None else None
        except ChardevError as e:
            raise UsageError(f"{where}: {e}") from None
        cfg.serials.append(ch)
        if spec.startswith("mon:") and ch is not None and auto_monitor:
            # QEMU's mon: prefix: a human monitor shares the line, behind Ctrl-A c.
            cfg.monitors.append(MonitorConfig("readline", ch))


def _create_monitors(cfg: MachineConfig, specs: list[tuple[str, str, dict[str, str], str]],
                     hook: QuitHook) -> None:
    if not specs:
        return  # (and the QMP server's modules stay unimported)
    from pyqemu.monitor.qmp_server import QmpListener, QmpListenerError

    for n, (kind, mode, opts, where) in enumerate(specs):
        pretty = opts.get("pretty", "off") == "on"
        if kind == "mon":
            ch = cfg.chardevs.get(opts["chardev"])
            if ch is None:
                raise UsageError(f"{where}: chardev '{opts['chardev']}' not found")
            cfg.monitors.append(MonitorConfig(mode, ch, pretty=pretty))
            continue
        spec = opts["spec"]
        if mode == "control" and spec.startswith(("unix:", "tcp:")):
            try:
                cfg.monitors.append(MonitorConfig(mode, listener=QmpListener(spec),
                                                  pretty=pretty))
            except QmpListenerError as e:
                raise UsageError(f"{where}: {e}") from None
            continue
        if spec == "stdio" and _stdio_serial(cfg) is not None:
            # The serial port already owns stdio: share it through its mux, with the
            # monitor in front (what -monitor stdio asks for).
            mux = _stdio_serial(cfg)
            cfg.monitors.append(MonitorConfig(mode, mux, pretty=pretty, focus=True))
            continue
        try:
            so = parse_serial_spec(spec, n)
            if so is None:
                continue
            so["id"] = f"compat_monitor{n}"
            ch = create_chardev(so, hook)
        except ChardevError as e:
            raise UsageError(f"{where}: {e}") from None
        cfg.monitors.append(MonitorConfig(mode, ch, pretty=pretty))


def _stdio_serial(cfg: MachineConfig) -> object | None:
    """The mux over stdio the serial ports use, if any."""
    from pyqemu.chardev import MuxChardev, StdioChardev

    for ch in cfg.serials:
        if isinstance(ch, MuxChardev) and isinstance(ch.backend, StdioChardev):
            return ch
    return None


def load_accelerator(opts: dict[str, str], arch: str) -> object:
    """``pyqemu.accel.<name>.system.create_accelerator(opts)``, or a one-line UsageError."""
    opts = dict(opts)
    name = opts.pop("accel", "tcg")
    if name not in ("tcg", "kvm"):
        raise UsageError(f"-accel {name}: invalid accelerator {name}")
    host = platform.machine()
    if name == "kvm" and host != arch:
        # KVM runs guests of the host's own architecture only.
        raise UsageError(f"-accel kvm: KVM cannot run {arch} guests on this {host} host")
    try:
        module = importlib.import_module(f"pyqemu.accel.{name}.system")
        factory = module.create_accelerator
    except (ImportError, AttributeError):
        raise UsageError(f"-accel {name}: no {name} accelerator for {arch} system emulation "
                         f"is available yet") from None
    if hasattr(module, "supports_arch") and not module.supports_arch(arch):
        raise UsageError(f"-accel {name}: the {name} accelerator cannot run {arch} guests "
                         f"on this host")
    try:
        return factory(opts)
    except ValueError as e:  # a bad property: one line, as QEMU does
        raise UsageError(str(e)) from None


def run_system(prog: str, argv: list[str], boards: dict[str, Callable[[MachineConfig], Machine]],
               default_machine: str, arch: str) -> int:
    """Parse, build the board, dump its DTB or run it; returns the exit status."""
    args = None
    machine = None
    try:
        args = parse_system_args(argv, prog, default_machine)
        cfg = args.config
        if cfg.type in ("help", "?"):
            for name, factory in boards.items():
                print(f"{name:<20} {getattr(factory, 'description', '')}")
            return 0
        factory = boards.get(cfg.type)
        if factory is None:
            raise UsageError(f"-M {cfg.type}: unsupported machine type\n"
                             f"Use -machine help to list supported machines")
        if cfg.ram_size == 0:
            cfg.ram_size = getattr(factory, "default_ram_size", 128 << 20)
        machine = factory(cfg)
        args.quit_hook.machine = machine
        if args.dumpdtb is not None:
            dump = getattr(machine, "device_tree", None)
            if dump is None:
                raise UsageError(f"-M {cfg.type}: this machine has no device tree")
            try:
                with open(args.dumpdtb, "wb") as f:
                    f.write(dump())
            except OSError as e:
                raise UsageError(f"Failed to dump device tree to '{args.dumpdtb}': "
                                 f"{e.strerror}") from None
            sys.stderr.write(f"{prog}: info: dtb dumped to {args.dumpdtb}. Exiting.\n")
            return 0
        accel = load_accelerator(args.accel, arch)
        try:
            gdbstub_cli.configure(machine, accel, args.gdb, args.start_paused)
        except ValueError as e:
            raise UsageError(str(e)) from None
        return machine.run(accel)
    except (UsageError, MachineError, DeviceError, ChardevError) as e:
        sys.stderr.write(f"{prog}: {e}\n")
        return 1
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        sys.stderr.write(f"{prog}: {where}{e.strerror or e}\n")
        return 1
    finally:
        if machine is not None and machine.accel is None and args is not None:
            machine.close_chardevs()
            machine.close_block_backends()
        elif machine is None and args is not None:
            for ch in list(args.config.chardevs.values()) + [c for c in args.config.serials if c]:
                ch.close()
            for mon in args.config.monitors:
                if mon.listener is not None:
                    mon.listener.close()      # bound at parse time: remove the socket
                elif mon.chardev is not None:
                    mon.chardev.close()
