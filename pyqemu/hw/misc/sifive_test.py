"""The SiFive test finisher ("sifive,test0", the virt board's syscon at 0x100000).

One 32-bit register at offset 0.  The low 16 bits of a write select the action, the
high 16 bits carry a code (what OpenSBI's and Linux's syscon-poweroff/-reboot write):

    0x3333 | code << 16   FAIL: the emulator exits with status ``code``
    0x5555                PASS: poweroff, exit status 0
    0x7777                RESET: system reset

Other values are ignored; reads return 0.  16-bit writes are accepted (OpenSBI's
driver uses them for PASS and RESET), as on QEMU's device.
"""

from __future__ import annotations

import sys

from pyqemu.qom.device import Device
from pyqemu.sysemu.runstate import RunState, ShutdownCause

FINISHER_FAIL = 0x3333
FINISHER_PASS = 0x5555
FINISHER_RESET = 0x7777
SIFIVE_TEST_SIZE = 0x1000


class SifiveTest(Device):
    type_name = "riscv.sifive.test"

    def __init__(self, runstate: RunState) -> None:
        super().__init__()
        self.runstate = runstate
        self.size = SIFIVE_TEST_SIZE

    def read(self, offset: int, size: int) -> int:
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        # OpenSBI writes the command with a 16-bit store; the fail code needs 32 bits.
        if offset != 0 or size < 2:
            return
        status, code = value & 0xFFFF, (value >> 16) & 0xFFFF
        if status == FINISHER_FAIL:
            self.runstate.request_shutdown(ShutdownCause.GUEST_SHUTDOWN, code)
        elif status == FINISHER_PASS:
            self.runstate.request_shutdown(ShutdownCause.GUEST_SHUTDOWN, 0)
        elif status == FINISHER_RESET:
            self.runstate.request_reset(ShutdownCause.GUEST_RESET)
        else:
            print(f"pyqemu: sifive_test: unknown command {value:#x}", file=sys.stderr)
