"""isa-debug-exit: a port that ends the emulator with a guest-chosen status.

A write of value v to the port exits with status (v << 1) | 1, so that a guest test
can never be mistaken for a clean poweroff (status 0).  Same device, properties and
defaults as QEMU's (iobase 0x501, iosize 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from pyqemu.qom.device import Device, Prop, prop_int, register_device


@register_device
class IsaDebugExit(Device):
    type_name = "isa-debug-exit"
    properties: ClassVar[dict[str, Prop]] = {
        "iobase": prop_int(0x501, "first port"),
        "iosize": prop_int(0x02, "number of ports"),
    }

    def connect(self, exit_fn: Callable[[int], None]) -> None:
        self.exit_fn = exit_fn

    def read(self, offset: int, size: int) -> int:
        return 0xFFFF_FFFF

    def write(self, offset: int, size: int, value: int) -> None:
        self.exit_fn((value << 1) | 1)
