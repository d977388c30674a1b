"""Small guests, each run under qemu-system-x86_64 -accel kvm and under pyqemu: the
console output and the exit status (through isa-debug-exit) must be the same."""

from __future__ import annotations

import pytest

from kvm.kvmlib import DEBUG_EXIT, assert_same, build_guest, run_both

GUESTS = {
    # name: extra command-line arguments
    "realmode": [],
    "longmode": [],
    "portio": [],
    "irq": [],
    "ioapic": [],
    "smp": ["-smp", "2"],
    "mmio": [],
    "reset": [],
    "reset-no-reboot": ["-no-reboot"],
}
SOURCE = {"reset-no-reboot": "reset"}


@pytest.mark.parametrize("name", sorted(GUESTS))
def test_guest_matches_qemu(name: str) -> None:
    image = build_guest(SOURCE.get(name, name))
    ref, ours = run_both(["-bios", str(image), *DEBUG_EXIT, *GUESTS[name]])
    assert ref.stdout, "the reference run produced nothing"
    assert_same(ref, ours)
