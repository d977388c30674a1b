"""PCI and -device wiring of the pc board (kept apart so pc.py stays the memory map)."""

from __future__ import annotations

from typing import Any

from pyqemu.hw.core.machine import MachineError

ISA_DEVICES = {"isa-debug-exit"}


def build_pci_and_devices(machine: Any) -> None:
    for driver, _opts in machine.config.devices:
        if driver in ISA_DEVICES:
            continue
        raise MachineError(f"-device {driver}: '{driver}' is not a valid device model name")
