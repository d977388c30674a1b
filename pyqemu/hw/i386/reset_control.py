"""The PC's ways to reset the processor from software, and the A20 gate.

* 8042 keyboard controller (ports 0x60 data, 0x64 status/command): command 0xFE pulses
  the CPU reset line; commands 0xD1 (write output port) and 0xD0 (read output port)
  reach A20 and reset.  There is no keyboard behind it: the status register says
  "no data", the self-test (0xAA) answers 0x55 as a working controller does.
* System control port A (0x92, PS/2 "fast A20"): bit 0 pulses reset, bit 1 is A20.
* Reset control register (0xCF9, PIIX/ICH): writing bit 2 with bit 1 set (0x06 or
  0x0E) resets the system — Linux's ``reboot=pci`` and the ACPI reset register use it.

KVM has no A20 mask: the gate is remembered for reads only.
"""

from __future__ import annotations

from collections.abc import Callable

from pyqemu.qom.device import Device

KBD_STATUS_SYSFLAG = 0x04      # self-test passed
KBD_STATUS_OBF = 0x01          # output buffer full


class I8042(Device):
    vmstate = ("output", "pending_command", "output_port", "command_byte")
    vmstate_variable = ("output",)
    type_name = "i8042"

    def __init__(self, reset_fn: Callable[[], None]) -> None:
        super().__init__()
        self.reset_fn = reset_fn
        self.reset()

    def reset(self) -> None:
        self.output = []
        self.pending_command = 0
        self.output_port = 0x03     # A20 enabled, reset line inactive
        self.command_byte = 0x45

    def read(self, offset: int, size: int) -> int:
        if offset == 4:             # port 0x64: status
            return KBD_STATUS_SYSFLAG | (KBD_STATUS_OBF if self.output else 0)
        if offset == 0:
            return self.output.pop(0) if self.output else 0
        return 0xFF

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        if offset == 4:
            self._command(value)
        elif offset == 0:
            if self.pending_command == 0xD1:      # write output port
                self.output_port = value
                if not value & 0x01:
                    self.reset_fn()
            elif self.pending_command == 0x60:    # write command byte
                self.command_byte = value
            self.pending_command = 0

    def _command(self, cmd: int) -> None:
        if cmd == 0xFE or (cmd & 0xF0 == 0xF0 and not cmd & 0x01):
            self.reset_fn()                       # pulse output port bit 0 (CPU reset)
        elif cmd == 0xAA:
            self.output.append(0x55)              # controller self-test passed
        elif cmd == 0xAB:
            self.output.append(0x00)              # keyboard interface test passed
        elif cmd == 0x20:
            self.output.append(self.command_byte)
        elif cmd == 0xD0:
            self.output.append(self.output_port)
        elif cmd in (0xD1, 0x60):
            self.pending_command = cmd
        elif cmd == 0xDD:
            self.output_port &= ~0x02             # A20 off
        elif cmd == 0xDF:
            self.output_port |= 0x02              # A20 on


class Port92(Device):
    vmstate = ("value",)
    """System control port A."""

    type_name = "port92"

    def __init__(self, reset_fn: Callable[[], None]) -> None:
        super().__init__()
        self.reset_fn = reset_fn
        self.value = 0x02

    def reset(self) -> None:
        self.value = 0x02

    def read(self, offset: int, size: int) -> int:
        return self.value

    def write(self, offset: int, size: int, value: int) -> None:
        self.value = value & 0x02
        if value & 0x01:
            self.reset_fn()


class ResetControl(Device):
    vmstate = ("value",)
    """The PIIX reset control register at 0xCF9 (byte access only)."""

    type_name = "reset-control"

    def __init__(self, reset_fn: Callable[[], None]) -> None:
        super().__init__()
        self.reset_fn = reset_fn
        self.value = 0

    def reset(self) -> None:
        self.value = 0

    def read(self, offset: int, size: int) -> int:
        return self.value

    def write(self, offset: int, size: int, value: int) -> None:
        if size != 1:
            return
        if value & 0x04:          # RST_CPU: the reset happens on the 0->1 edge
            self.value = 0
            self.reset_fn()
        else:
            self.value = value & 0x0A
