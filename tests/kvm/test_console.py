"""The console multiplexer in front of KVM vCPUs: Ctrl-A x stops halted vCPUs (kicked
out of KVM_RUN) and ends pyqemu with status 0, printing what QEMU prints."""

from __future__ import annotations

import subprocess
import time

import pytest

from kvm.kvmlib import ROOT, build_guest, pyqemu_cmd, qemu_cmd


@pytest.mark.parametrize("vmm", ["qemu", "pyqemu"])
def test_ctrl_a_x_quits(vmm: str) -> None:
    image = build_guest("idle")
    cmd = (qemu_cmd if vmm == "qemu" else pyqemu_cmd)(["-bios", str(image), "-smp", "2"])
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    first = p.stdout.read(1)
    time.sleep(0.2)
    p.stdin.write(b"\x01x")
    p.stdin.flush()
    out, _err = p.communicate(timeout=30)
    assert first == b"i"
    assert b"QEMU: Terminated" in out
    assert p.returncode == 0
