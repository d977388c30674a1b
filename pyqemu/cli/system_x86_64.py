"""``pyqemu-system-x86_64``: the x86-64 PC under KVM, with QEMU's command-line syntax.

    pyqemu-system-x86_64 -accel kvm -M pc -m 512M -smp 2 -nographic \\
        -kernel vmlinuz -initrd initrd.gz -append "console=ttyS0" \\
        -drive file=disk.qcow2,if=virtio -device virtio-rng-pci -serial mon:stdio
    pyqemu-system-x86_64 -accel kvm -M pc -bios fw.bin -device isa-debug-exit -nographic

Errors the user can cause print one line, ``pyqemu-system-x86_64: ...``, and exit 1.
"""

from __future__ import annotations

import os
import sys

from pyqemu.chardev import ChardevError, create_chardev, parse_serial_spec
from pyqemu.hw.core.machine import DriveConfig, MachineConfig, MachineError
from pyqemu.qom.device import DeviceError, parse_size

PROG = "pyqemu-system-x86_64"

# Options that take an argument (QEMU's HAS_ARG), and flags.
ARG_OPTIONS = {"accel", "machine", "M", "m", "smp", "cpu", "bios", "kernel", "initrd",
               "append", "device", "drive", "serial", "chardev", "display", "monitor",
               "name", "vga", "net", "netdev", "boot", "global", "L", "d", "D", "rtc", "k",
               "mon", "pidfile", "object"}
FLAG_OPTIONS = {"nographic", "enable-kvm", "no-reboot", "nodefaults", "no-shutdown",
                "no-hpet", "S", "snapshot", "daemonize", "version", "help", "h"}


class UsageError(Exception):
    pass


def parse_keyval(text: str, implied: str | None = None) -> dict[str, str]:
    """QEMU's ``a=b,c=d`` with ``,,`` escaping a comma; a leading bare word is implied."""
    items: list[str] = []
    cur = ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "," and text[i + 1:i + 2] == ",":
            cur += ","
            i += 2
            continue
        if c == ",":
            items.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    items.append(cur)
    out: dict[str, str] = {}
    for n, item in enumerate(items):
        key, eq, val = item.partition("=")
        if not eq:
            if n == 0 and implied is not None:
                out[implied] = key
                continue
            if not key:
                continue
            out[key] = "on"
            continue
        out[key] = val
    return out


def parse_args(argv: list[str]) -> tuple[MachineConfig, dict[str, str]]:
    opts: list[tuple[str, str | None]] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            raise UsageError(f"{a}: invalid option (image files are given with -drive)")
        name = a.lstrip("-")
        if name in FLAG_OPTIONS:
            opts.append((name, None))
            i += 1
        elif name in ARG_OPTIONS:
            if i + 1 >= len(argv):
                raise UsageError(f"-{name}: requires an argument")
            opts.append((name, argv[i + 1]))
            i += 2
        else:
            raise UsageError(f"-{name}: invalid option")
    cfg = MachineConfig(type="pc")
    accel: dict[str, str] = {}
    serial_specs: list[str] = []
    chardev_opts: list[dict[str, str]] = []
    nographic = False
    for name, val in opts:
        if name in ("accel",):
            accel = parse_keyval(val, "accel")
        elif name == "enable-kvm":
            accel = {"accel": "kvm"}
        elif name in ("machine", "M"):
            m = parse_keyval(val, "type")
            cfg.type = m.pop("type", cfg.type)
            if "accel" in m:
                accel = {"accel": m.pop("accel")}
            cfg.options.update(m)
        elif name == "m":
            m = parse_keyval(val, "size")
            text = m.get("size", "128M")
            try:
                cfg.ram_size = parse_size(text if text[-1:].isalpha() else text + "M")
            except ValueError:
                raise UsageError(f"-m {val}: invalid RAM size") from None
        elif name == "smp":
            s = parse_keyval(val, "cpus")
            try:
                cfg.smp = int(s.get("cpus", "1"))
            except ValueError:
                raise UsageError(f"-smp {val}: invalid number of CPUs") from None
            if cfg.smp < 1:
                raise UsageError(f"-smp {val}: Invalid CPU topology")
        elif name == "bios":
            cfg.bios = val
        elif name == "kernel":
            cfg.kernel = val
        elif name == "initrd":
            cfg.initrd = val
        elif name == "append":
            cfg.append = val
        elif name == "device":
            d = parse_keyval(val, "driver")
            cfg.devices.append((d.pop("driver"), d))
        elif name == "drive":
            d = parse_keyval(val)
            cfg.drives.append(DriveConfig(
                id=d.get("id", f"drive{len(cfg.drives)}"), file=d.get("file"),
                interface=d.get("if", "ide"), format=d.get("format"),
                read_only=d.get("readonly", "off") == "on",
                snapshot=d.get("snapshot", "off") == "on",
                index=int(d["index"]) if "index" in d else None))
        elif name == "serial":
            serial_specs.append(val)
        elif name == "chardev":
            chardev_opts.append(parse_keyval(val, "backend"))
        elif name == "nographic":
            nographic = True
        elif name == "no-reboot":
            cfg.no_reboot = True
        elif name == "name":
            cfg.name = val
        elif name in ("version",):
            print(f"{PROG} version 0.1.0 (pyqemu), QEMU-compatible command line")
            sys.exit(0)
    cfg.nographic = nographic
    if not cfg.type:
        cfg.type = "pc"
    if not serial_specs and nographic:
        serial_specs = ["mon:stdio"]
    quit_fn = _QuitHook()
    for opts_ in chardev_opts:
        ch = create_chardev(opts_, quit_fn)
        cfg.chardevs[ch.id] = ch
    for n, spec in enumerate(serial_specs):
        if spec.startswith("chardev:"):
            name = spec[len("chardev:"):]
            if name not in cfg.chardevs:
                raise UsageError(f"-serial {spec}: chardev '{name}' not found")
            cfg.serials.append(cfg.chardevs[name])
            continue
        so = parse_serial_spec(spec, n)
        cfg.serials.append(create_chardev(so, quit_fn) if so is not None else None)
    cfg.options["_quit_hook"] = quit_fn       # type: ignore[assignment]
    return cfg, accel


class _QuitHook:
    """Ctrl-A x: bound to the machine once it exists."""

    machine = None

    def __call__(self) -> None:
        if self.machine is not None:
            from pyqemu.sysemu import ShutdownCause
            self.machine.runstate.request_shutdown(ShutdownCause.HOST_UI, 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        cfg, accel_opts = parse_args(argv)
        quit_hook = cfg.options.pop("_quit_hook")
        accel_name = accel_opts.pop("accel", "kvm")
        if accel_name != "kvm":
            raise UsageError(f"-accel {accel_name}: only the kvm accelerator runs x86-64 "
                             f"guests in pyqemu")
        if cfg.type not in ("pc", "pc-i440fx", "q35") and not cfg.type.startswith("pc-"):
            raise UsageError(f"-M {cfg.type}: unsupported machine type (use -M pc)")
        from pyqemu.accel.kvm import KvmError, create_accelerator
        accel = create_accelerator(accel_opts)
        accel.open()
        from pyqemu.hw.i386.pc import PcMachine
        machine = PcMachine(cfg)
        quit_hook.machine = machine
        status = machine.run(accel)
    except (UsageError, MachineError, DeviceError, ChardevError, KvmError) as e:
        sys.stderr.write(f"{PROG}: {e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"{PROG}: {e.filename + ': ' if e.filename else ''}{e.strerror}\n")
        return 1
    sys.stdout.flush()
    return status


def entry() -> None:
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # vCPU threads may still sit in KVM_RUN: leave without waiting for them.
    os._exit(status)


if __name__ == "__main__":
    entry()
