"""QMP run control on the x86 pc machine under KVM: stop/cont pause the vCPU threads,
info registers reads the paused vCPU, system_reset emits RESET."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from kvm.kvmlib import build_guest, kvm_usable

from monitor.qmp_machine import ROOT, QmpMachine

PYQEMU_X86 = str(ROOT / ".venv" / "bin" / "pyqemu-system-x86_64")


@pytest.mark.skipif(kvm_usable() is not None, reason=str(kvm_usable()))
def test_kvm_stop_cont_registers(tmp_path: Path) -> None:
    if not os.path.exists(PYQEMU_X86):
        pytest.skip("pyqemu-system-x86_64 is not installed in .venv")
    idle = build_guest("idle")          # prints "i", then cli; hlt forever
    vm = QmpMachine(tmp_path, ["-accel", "kvm", "-bios", str(idle)], binary=PYQEMU_X86,
                    machine="pc")
    try:
        vm.wait_output("i")
        # Running, halted in the kernel: info registers must not hang.
        assert "RIP=" in vm.hmp("info registers")
        assert vm.cmd("stop") == {"return": {}}
        assert vm.qmp.pull_event(wait=5.0)["event"] == "STOP"
        assert vm.cmd("query-status")["return"]["status"] == "paused"
        # x translates through the vCPU (real mode: linear = physical here).
        assert vm.hmp("x/2x 0xffff0").split(":")[1] == vm.hmp("xp/2x 0xffff0").split(":")[1]
        assert vm.hmp("x/2x 0xffff0").startswith("00000000000ffff0: 0x")
        regs = vm.hmp("info registers")
        assert "RIP=" in regs and "CS =f000" in regs
        assert vm.cmd("query-cpus-fast")["return"][0]["target"] == "x86_64"
        assert vm.cmd("cont") == {"return": {}}
        assert vm.qmp.pull_event(wait=5.0)["event"] == "RESUME"
        assert vm.cmd("system_reset") == {"return": {}}
        deadline = time.monotonic() + 20
        event = None
        while event is None or event["event"] != "RESET":
            assert time.monotonic() < deadline
            event = vm.qmp.pull_event(wait=5.0)
        assert event["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
        vm.wait_output("ii")             # the BIOS ran again from the reset vector
        assert vm.hmp("savevm s") == "Error: No block device can accept snapshots\n"
        assert vm.quit() == 0
    finally:
        vm.close()
