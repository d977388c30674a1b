"""gdb's ``monitor`` command on a machine: the line runs as an HMP command, as QEMU
does (``monitor info registers``, ``monitor info mtree``...)."""

from __future__ import annotations


def run_hmp(machine, line: str) -> str:
    from ..monitor.hmp import Hmp
    from ..monitor.monitor import Monitor

    monitor = getattr(machine, "monitor", None) or Monitor(machine)
    return Hmp(monitor).run_line(line)
