"""savevm / loadvm / delvm of a running bare-metal guest, into a qcow2 image.

The counter guest prints "count=N" about every 20 ms, keeping N in a register and in
RAM and pacing itself with the CLINT's mtime.  It is deterministic: whatever it prints
after a state is restored must be, byte for byte, what it printed after that state
was saved.  That checks RAM, the CPU state buffer, the UART and the timer together.
The image is then checked by the real qemu-img (check, snapshot -l).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from monitor.qmp_machine import QmpMachine, qemu_img_check, snapshot_list

COUNT = re.compile(r"count=([0-9a-f]{16})\n")


def counts(text: str) -> list[int]:
    return [int(m, 16) for m in COUNT.findall(text)]


def stop_at(vm: QmpMachine) -> int:
    """Pause the guest; returns the serial output length at that moment."""
    assert vm.cmd("stop") == {"return": {}}
    time.sleep(0.05)            # output written by the last MMIO store reaches the file
    return len(vm.output())


def test_savevm_loadvm_resumes_counter(tmp_path: Path, counter_guest: Path,
                                       qcow2_disk: Path) -> None:
    args = ["-m", "64M", "-bios", str(counter_guest),
            "-drive", f"file={qcow2_disk},if=none,id=hd0,format=qcow2"]
    vm = QmpMachine(tmp_path, args)
    try:
        vm.wait_output("count=0000000000000005\n")
        saved_at = stop_at(vm)
        assert vm.hmp("savevm s1") == ""
        assert "s1" in vm.hmp("info snapshots")
        vm.cmd("cont")
        vm.wait_output("count=", start=saved_at + 200)       # it ran on well past s1
        before_load = stop_at(vm)
        assert vm.hmp("loadvm s1") == ""
        assert vm.cmd("query-status")["return"]["status"] == "paused"
        vm.cmd("cont")
        vm.wait_output("\n", start=before_load + 120)
        out = vm.output()
        resumed = out[before_load:before_load + 100]
        assert resumed == out[saved_at:saved_at + 100], (resumed, out[saved_at:saved_at + 100])
        assert "mismatch" not in out
        # An unknown snapshot is an error, and the guest keeps running.
        assert vm.hmp("loadvm nope") == ("Error: Snapshot 'nope' does not exist in one or "
                                         "more devices\n")
        assert vm.cmd("query-status")["return"]["status"] == "running"
        assert vm.quit() == 0
    finally:
        vm.close()
    qemu_img_check(qcow2_disk)
    listing = snapshot_list(qcow2_disk)
    line = next(ln for ln in listing.splitlines() if " s1 " in ln)
    assert not re.search(r"\s0 B\s", line), listing        # it carries VM state

    # Across a restart: -loadvm starts from the saved state.
    vm = QmpMachine(tmp_path, args + ["-loadvm", "s1"], name="vm2")
    try:
        vm.wait_output("\n", start=120)
        out = vm.output()
        first = out[:100]
        # The first bytes the restarted guest prints continue the saved line.
        saved_out = (tmp_path / "vm.serial").read_text()
        assert first == saved_out[saved_at:saved_at + 100]
        # The first whole line is the next count (or the one after, if the snapshot
        # was taken in the middle of printing a line).
        assert counts(out)[0] - counts(saved_out[:saved_at])[-1] in (1, 2)
        assert vm.hmp("delvm s1") == ""
        assert vm.hmp("info snapshots") == "There is no snapshot available.\n"
        assert vm.quit() == 0
    finally:
        vm.close()
    qemu_img_check(qcow2_disk)
    assert " s1 " not in snapshot_list(qcow2_disk)
