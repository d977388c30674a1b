"""savevm/loadvm on the x86 pc machine under KVM: vCPU state from the kernel
(registers, segments, FPU, LAPIC, MSRs), the in-kernel irqchip/PIT/clock, RAM and the
pc devices.  A real-mode counter guest must resume exactly where it was saved, in the
same process and after a restart with -loadvm."""

from __future__ import annotations

from pathlib import Path

import pytest
from kvm.kvmlib import kvm_usable
from monitor.qmp_machine import ROOT, QmpMachine, qemu_img_check, snapshot_list

from .builders import build_x86_guest

PYQEMU_X86 = str(ROOT / ".venv" / "bin" / "pyqemu-system-x86_64")


@pytest.mark.skipif(kvm_usable() is not None, reason=str(kvm_usable()))
def test_kvm_savevm_loadvm(tmp_path: Path, qcow2_disk: Path) -> None:
    guest = build_x86_guest("counter_x86")
    # virtio-rng-pci: its header, MSI-X table and queues go through savevm too.
    args = ["-accel", "kvm", "-m", "64M", "-bios", str(guest), "-device", "virtio-rng-pci",
            "-drive", f"file={qcow2_disk},if=none,id=hd0,format=qcow2"]
    vm = QmpMachine(tmp_path, args, binary=PYQEMU_X86, machine="pc")
    try:
        vm.wait_output("count=0005\n")
        assert vm.cmd("stop") == {"return": {}}
        saved_at = len(vm.output())
        assert vm.hmp("savevm k1") == ""
        vm.cmd("cont")
        vm.wait_output("count=", start=saved_at + 100)
        vm.cmd("stop")
        before_load = len(vm.output())
        assert vm.hmp("loadvm k1") == ""
        vm.cmd("cont")
        vm.wait_output("\n", start=before_load + 60)
        out = vm.output()
        assert out[before_load:before_load + 55] == out[saved_at:saved_at + 55]
        assert "mismatch" not in out
        assert vm.quit() == 0
    finally:
        vm.close()
    qemu_img_check(qcow2_disk)
    assert " k1 " in snapshot_list(qcow2_disk)
    vm = QmpMachine(tmp_path, args + ["-loadvm", "k1"], binary=PYQEMU_X86, machine="pc",
                    name="vm2")
    try:
        vm.wait_output("\n", start=60)
        saved = (tmp_path / "vm.serial").read_text()
        assert vm.output()[:55] == saved[saved_at:saved_at + 55]
        # The guest would not run under TCG: the snapshot says which accelerator it needs.
        assert vm.quit() == 0
    finally:
        vm.close()
    qemu_img_check(qcow2_disk)
