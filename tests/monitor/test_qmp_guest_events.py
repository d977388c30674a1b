"""Events the guest causes: under -S nothing runs until cont (RESUME), and the guest's
poweroff through the test device is SHUTDOWN with guest=true, reason guest-shutdown,
exit status 0.  qemu-system-riscv64 7.2 agrees up to the poweroff, where its test
device calls exit() without an event (later QEMUs send this SHUTDOWN)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from migration.builders import COMMON, build_guest

from monitor.qmp_machine import PYQEMU, QmpMachine

QEMU = shutil.which("qemu-system-riscv64")


def events_until_exit(binary: str, tmp: Path, name: str) -> tuple[list[dict], int, str]:
    guest = build_guest("sv39", COMMON)          # Sv39 checks, then a "pass" poweroff
    vm = QmpMachine(tmp, ["-bios", str(guest), "-S"], binary=binary, name=name)
    try:
        status = vm.cmd("query-status")["return"]["status"]
        vm.cmd("cont")
        events: list[dict] = []
        deadline = time.monotonic() + 30
        while not events or events[-1]["event"] != "SHUTDOWN":
            assert time.monotonic() < deadline, events
            try:
                ev = vm.qmp.pull_event(wait=0.5)
            except TimeoutError:
                if vm.proc.poll() is not None:
                    break       # exited, and nothing more arrived
                continue
            except (EOFError, OSError):
                break           # the emulator closed the connection: every event is in
            if ev is not None:
                events.append({k: v for k, v in ev.items() if k != "timestamp"})
        return events, vm.proc.wait(20), status
    finally:
        vm.close()


def test_guest_poweroff_event(tmp_path: Path) -> None:
    events, status, first = events_until_exit(PYQEMU, tmp_path, "ours")
    assert first == "prelaunch"
    assert events == [{"event": "RESUME"},
                      {"event": "SHUTDOWN", "data": {"guest": True,
                                                     "reason": "guest-shutdown"}}]
    assert status == 0
    if QEMU is None:
        pytest.skip("qemu-system-riscv64 is not installed: no comparison")
    theirs, their_status, their_first = events_until_exit(QEMU, tmp_path, "qemu")
    assert (theirs[:1], their_status, their_first) == (events[:1], status, first)


def next_event(vm: QmpMachine, name: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, name
        try:
            ev = vm.qmp.pull_event(wait=1.0)
        except TimeoutError:
            continue
        if ev is not None and ev["event"] == name:
            return ev


def test_no_shutdown_pauses_until_reset(tmp_path: Path) -> None:
    guest = build_guest("sv39", COMMON)
    vm = QmpMachine(tmp_path, ["-bios", str(guest), "-no-shutdown"])
    try:
        ev = next_event(vm, "SHUTDOWN")
        assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}
        next_event(vm, "STOP")
        st = vm.cmd("query-status")["return"]
        assert st == {"status": "shutdown", "singlestep": False, "running": False}, st
        r = vm.cmd("cont")
        assert r.get("error", {}).get("desc") == "Resetting the Virtual Machine is required", r
        assert vm.proc.poll() is None
        vm.cmd("system_reset")
        next_event(vm, "RESET")
        st = vm.cmd("query-status")["return"]
        assert st["status"] == "prelaunch", st
        first_run = vm.output()
        vm.cmd("cont")
        next_event(vm, "SHUTDOWN")             # the guest ran again from the reset vector
        assert vm.output() == first_run * 2, (first_run, vm.output(), vm.stderr())
        assert vm.quit() == 0
    finally:
        vm.close()
