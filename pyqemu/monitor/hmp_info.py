"""HMP ``info`` subcommands, formatted as QEMU's monitor prints them.

Each takes the Hmp object and its argument text and returns the text to print; the
data comes from the QMP commands where one exists (info status = query-status...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyqemu.monitor.qmp_commands import version_info

if TYPE_CHECKING:
    from pyqemu.monitor.hmp import Hmp

RISCV_ABI = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1",
             "a2", "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8",
             "s9", "s10", "s11", "t3", "t4", "t5", "t6"]
RISCV_FABI = ["ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0",
              "fa1", "fa2", "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5",
              "fs6", "fs7", "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11"]


def info_status(hmp: Hmp, arg: str) -> str:
    st = hmp.qmp("query-status")
    if st["running"]:
        return "VM status: running\n"
    # QEMU names the reason when it is more than a plain stop: "paused (prelaunch)".
    why = "" if st["status"] == "paused" else f" ({st['status']})"
    return f"VM status: paused{why}\n"


def info_version(hmp: Hmp, arg: str) -> str:
    v = version_info()
    q = v["qemu"]
    return f"{q['major']}.{q['minor']}.{q['micro']}{v['package']}\n"


def info_name(hmp: Hmp, arg: str) -> str:
    name = hmp.qmp("query-name").get("name")
    return f"{name}\n" if name else ""


def _riscv_registers(cpu_index: int, hart: Any) -> str:
    from pyqemu.target.riscv import cpu_state as cs
    from pyqemu.target.riscv.csr import UXL_SXL_64

    q = hart.q
    mstatus = q[cs.MSTATUS] | UXL_SXL_64
    if (mstatus >> 13) & 3 == 3:
        mstatus |= 1 << 63          # SD summarises a dirty FS
    csrs = [("pc", q[cs.PC]), ("mhartid", q[cs.MHARTID]), ("mstatus", mstatus),
            ("mip", hart.mip()), ("mie", q[cs.MIE]), ("mideleg", q[cs.MIDELEG]),
            ("medeleg", q[cs.MEDELEG]), ("mtvec", q[cs.MTVEC]), ("stvec", q[cs.STVEC]),
            ("mepc", q[cs.MEPC]), ("sepc", q[cs.SEPC]), ("mcause", q[cs.MCAUSE]),
            ("scause", q[cs.SCAUSE]), ("mtval", q[cs.MTVAL]), ("stval", q[cs.STVAL]),
            ("mscratch", q[cs.MSCRATCH]), ("sscratch", q[cs.SSCRATCH]), ("satp", q[cs.SATP])]
    lines = ["", f"CPU#{cpu_index}", f" priv     {q[cs.PRIV]}"]
    lines += [f" {name:<8} {value:016x}" for name, value in csrs]
    for bank, base, names in (("x", cs.X0, RISCV_ABI), ("f", cs.F0, RISCV_FABI)):
        for row in range(8):
            cells = []
            for n in range(row * 4, row * 4 + 4):
                value = 0 if bank == "x" and n == 0 else q[base + n]
                cells.append(f"{bank}{n}/{names[n]}".ljust(9) + f"{value:016x}")
            lines.append(" " + " ".join(cells))
    return "\n".join(lines) + "\n"


def info_registers(hmp: Hmp, arg: str) -> str:
    m = hmp.machine
    show_all = arg.strip() in ("-a",)
    indices = range(len(m.cpus)) if show_all else [hmp.cpu_index]
    out = []
    for i in indices:
        if i >= len(m.cpus):
            return "No CPU available\n"
        cpu = m.cpus[i]
        if hasattr(cpu, "q"):
            out.append(_riscv_registers(i, cpu))
        else:
            # A KVM vCPU's registers can be read only while it is out of KVM_RUN (a
            # halted guest may never leave it): pause around the read, as QEMU's
            # run_on_cpu does, without the STOP/RESUME of a user's stop.
            vcpus = getattr(m.accel, "vcpus", [])
            running = m.vm_running and m.accel is not None
            if running:
                m.accel.pause()
            try:
                dump = vcpus[i].dump_registers() if i < len(vcpus) else \
                    "(registers unavailable)"
            finally:
                if running:
                    m.accel.start()
            out.append(f"CPU#{i}\n{dump}\n")
    return "".join(out)


def info_cpus(hmp: Hmp, arg: str) -> str:
    lines = []
    for c in hmp.qmp("query-cpus-fast"):
        mark = "*" if c["cpu-index"] == hmp.cpu_index else " "
        lines.append(f"{mark} CPU #{c['cpu-index']}: thread_id={c['thread-id']}")
    return "\n".join(lines) + "\n"


def info_block(hmp: Hmp, arg: str) -> str:
    out = []
    for name, b in hmp.machine.named_drives():
        fmt = getattr(b, "format_name", "raw")
        ro = " (read-only)" if b.read_only else ""
        out.append(f"{name}: {b.filename} ({fmt}{ro})\n    Cache mode:       writeback\n")
    return "\n".join(out)


def info_chardev(hmp: Hmp, arg: str) -> str:
    return "".join(f"{c['label']}: filename={c['filename']}\n" for c in hmp.qmp("query-chardev"))


def info_mtree(hmp: Hmp, arg: str) -> str:
    m = hmp.machine
    out = []
    spaces = [m.sysmem]
    io = getattr(m, "io", None)
    if io is not None:
        spaces.insert(0, io)
    for space in spaces:
        out.append(f"address-space: {space.name}")
        top = "system" if space is m.sysmem else "io"
        out.append(f"  0000000000000000-{space.size - 1:016x} (prio 0, i/o): {top}")
        for s in space.sections:
            kind = ("rom" if s.readonly else "ram") if s.ram is not None else "i/o"
            out.append(f"    {s.base:016x}-{s.end - 1:016x} (prio 0, {kind}): {s.name}")
        out.append("")
    return "\n".join(out) + "\n"


def info_qtree(hmp: Hmp, arg: str) -> str:
    """The device tree of the board: every device with its declared properties."""
    m = hmp.machine
    out = ["bus: main-system-bus", "  type System"]

    def dev_lines(dev: Any, indent: str) -> None:
        out.append(f"{indent}dev: {dev.type_name}, id \"{dev.id or ''}\"")
        for pname in dev.all_properties():
            value = getattr(dev, pname.replace("-", "_"), None)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int):
                text = f"{value} ({value:#x})"
            else:
                text = f"\"{value if value is not None else ''}\""
            out.append(f"{indent}  {pname} = {text}")
        child = getattr(dev, "device", None)
        if child is not None:
            out.append(f"{indent}  bus: virtio-mmio-bus.{m.devices.index(dev)}")
            out.append(f"{indent}    type virtio-mmio-bus")
            dev_lines(child, indent + "    ")

    for dev in m.devices:
        dev_lines(dev, "  ")
    return "\n".join(out) + "\n"


def _size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.3g} {unit}"
    return f"{n} B"


def info_snapshots(hmp: Hmp, arg: str) -> str:
    from pyqemu.migration import MigrationError, list_snapshots

    try:
        snaps = list_snapshots(hmp.machine)
    except MigrationError as e:
        return f"{e}\n"
    if not snaps:
        return "There is no snapshot available.\n"
    lines = ["List of snapshots present on all disks:",
             f"{'ID':<9} {'TAG':<16} {'VM SIZE':>8}{'DATE':>20}{'VM CLOCK':>13}{'ICOUNT':>11}"]
    for s in snaps:
        date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.date_sec))
        secs = s.vm_clock_nsec // 10**9
        clock = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}." \
                f"{s.vm_clock_nsec // 10**6 % 1000:03d}"
        icount = "" if s.icount is None else str(s.icount)
        lines.append(f"{'--':<9} {s.name:<16} {_size_text(s.vm_state_size):>8}{date:>20}"
                     f"{clock:>13}{icount:>11}")
    return "\n".join(lines) + "\n"


INFO: dict[str, tuple[Callable[[Hmp, str], str], str]] = {
    "status": (info_status, "show the current VM status (running|paused)"),
    "registers": (info_registers, "show the cpu registers (-a: all CPUs)"),
    "cpus": (info_cpus, "show infos for each CPU"),
    "block": (info_block, "show the block devices"),
    "chardev": (info_chardev, "show the character devices"),
    "mtree": (info_mtree, "show memory tree"),
    "qtree": (info_qtree, "show device tree"),
    "snapshots": (info_snapshots, "show the currently saved VM snapshots"),
    "version": (info_version, "show the version of QEMU"),
    "name": (info_name, "show the current VM name"),
}
