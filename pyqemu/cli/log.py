"""``-d item[,item]`` and ``-D logfile``: QEMU-style debug logging."""

from __future__ import annotations

import sys

ITEMS = {
    "in_asm": "show target assembly code for each compiled TB",
    "op": "show micro ops for each compiled TB",
    "op_opt": "show micro ops after optimization",
    "out_asm": "show generated host code (Python source for the Python backend)",
    "exec": "show trace before each executed TB",
    "cpu": "show CPU registers before entering a TB (one line: pc x1..x31)",
    "strace": "log every user-mode syscall, its input, and its result",
    "nochain": "do not chain compiled TBs (accepted, no effect yet)",
}


class LogError(ValueError):
    pass


def parse_items(spec: str) -> set[str]:
    items: set[str] = set()
    for item in filter(None, spec.split(",")):
        if item == "help":
            raise LogError("help")
        if item not in ITEMS:
            raise LogError(f"unknown logging item '{item}'")
        items.add(item)
    return items


def help_text() -> str:
    lines = ["Log items (comma separated):"]
    lines += [f"{name:<10} {desc}" for name, desc in ITEMS.items()]
    return "\n".join(lines) + "\n"


class Log:
    """Where -d output goes. Every write is flushed: the guest may end the process
    with exit_group at any moment, and a trace must not lose its tail."""

    def __init__(self, items: set[str], path: str | None) -> None:
        self.items = items
        self.path = path
        self.fh = open(path, "w", buffering=1) if path else sys.stderr

    def enabled(self, item: str) -> bool:
        return item in self.items

    def write(self, text: str) -> None:
        self.fh.write(text)
        self.fh.flush()
