"""Snapshot commands over QMP (snapshot-save/-load/-delete jobs, blockdev internal
snapshots) and snapshots pyqemu cannot load: disk-only ones and ones QEMU saved."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from monitor.qmp_machine import QmpMachine, qemu_img_check, snapshot_list

QEMU = shutil.which("qemu-system-riscv64")


def job_events(vm: QmpMachine, job_id: str, until: str = "concluded") -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while until not in seen:
        assert time.monotonic() < deadline, seen
        ev = vm.qmp.pull_event(wait=5.0)
        if ev and ev["event"] == "JOB_STATUS_CHANGE" and ev["data"]["id"] == job_id:
            seen.append(ev["data"]["status"])
    return seen


def test_snapshot_jobs(tmp_path: Path, counter_guest: Path, qcow2_disk: Path) -> None:
    vm = QmpMachine(tmp_path, ["-m", "64M", "-bios", str(counter_guest), "-S", "-drive",
                               f"file={qcow2_disk},if=none,id=hd0,format=qcow2"])
    try:
        # -S: nothing runs until cont.
        assert vm.cmd("query-status")["return"] == {"status": "prelaunch", "singlestep": False,
                                                    "running": False}
        time.sleep(0.3)
        assert vm.output() == ""
        vm.cmd("cont")
        vm.wait_output("count=0000000000000003\n")
        r = vm.cmd("snapshot-save", **{"job-id": "save1", "tag": "snap", "vmstate": "hd0",
                                      "devices": ["hd0"]})
        assert r == {"return": {}}
        assert job_events(vm, "save1") == ["created", "running", "waiting", "pending",
                                           "concluded"]
        jobs = vm.cmd("query-jobs")["return"]
        assert jobs == [{"id": "save1", "type": "snapshot-save", "status": "concluded",
                         "current-progress": 1, "total-progress": 1}]
        assert vm.cmd("job-dismiss", id="save1") == {"return": {}}
        assert vm.cmd("query-jobs")["return"] == []
        # A job that fails concludes with its error.
        vm.cmd("snapshot-load", **{"job-id": "bad", "tag": "nope", "vmstate": "hd0",
                                  "devices": ["hd0"]})
        assert job_events(vm, "bad")[-2:] == ["aborting", "concluded"]
        job = vm.cmd("query-jobs")["return"][0]
        assert job["error"] == "Snapshot 'nope' does not exist in one or more devices"
        assert vm.cmd("snapshot-save", **{"job-id": "x", "tag": "t", "vmstate": "hd9",
                                         "devices": ["hd9"]})["error"]["class"] == \
            "DeviceNotFound"
        vm.cmd("snapshot-load", **{"job-id": "load1", "tag": "snap", "vmstate": "hd0",
                                  "devices": ["hd0"]})
        assert job_events(vm, "load1")[-1] == "concluded"
        assert "error" not in vm.cmd("query-jobs")["return"][-1]
        # Disk-only snapshots through blockdev-snapshot-internal-sync.
        assert vm.cmd("blockdev-snapshot-internal-sync", device="hd0", name="disk1") == \
            {"return": {}}
        r = vm.cmd("blockdev-snapshot-internal-sync", device="hd0", name="disk1")
        assert r["error"]["desc"] == "Snapshot with name 'disk1' already exists on device 'hd0'"
        assert vm.hmp("loadvm disk1") == ("Error: This is a disk-only snapshot. Revert to it "
                                          "offline using qemu-img\n")
        snaps = vm.cmd("query-block")["return"][0]["inserted"]["image"]["snapshots"]
        assert [(s["name"], s["vm-state-size"] > 0) for s in snaps] == [("snap", True),
                                                                       ("disk1", False)]
        r = vm.cmd("blockdev-snapshot-delete-internal-sync", device="hd0", name="disk1")
        assert r["return"]["name"] == "disk1"
        vm.cmd("snapshot-delete", **{"job-id": "del", "tag": "snap", "devices": ["hd0"]})
        assert job_events(vm, "del")[-1] == "concluded"
        assert vm.cmd("query-status")["return"]["status"] == "running"
        assert vm.quit() == 0
    finally:
        vm.close()
    qemu_img_check(qcow2_disk)
    assert "snap" not in snapshot_list(qcow2_disk)


@pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 is not installed")
def test_snapshot_saved_by_qemu_is_refused(tmp_path: Path, counter_guest: Path,
                                           qcow2_disk: Path) -> None:
    drive = ["-drive", f"file={qcow2_disk},if=none,id=hd0,format=qcow2"]
    qemu = QmpMachine(tmp_path, ["-m", "64M", "-bios", str(counter_guest), *drive],
                      binary=QEMU, name="qemu")
    try:
        qemu.wait_output("count=0000000000000002\n")
        assert qemu.hmp("savevm fromqemu") == ""
        assert qemu.quit() == 0
    finally:
        qemu.close()
    vm = QmpMachine(tmp_path, ["-m", "64M", "-bios", str(counter_guest), *drive])
    try:
        vm.wait_output("count=0000000000000002\n")
        out = vm.hmp("loadvm fromqemu")
        assert out == ("Error: the snapshot has no pyqemu VM state (was it saved by "
                       "QEMU?)\n"), out
        assert vm.cmd("query-status")["return"]["running"] is True
        assert vm.quit() == 0
    finally:
        vm.close()
    qemu_img_check(qcow2_disk)
    subprocess.run(["qemu-img", "snapshot", "-d", "fromqemu", str(qcow2_disk)], check=True)
    qemu_img_check(qcow2_disk)


@pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 is not installed")
def test_info_snapshots_matches_qemu(tmp_path: Path, counter_guest: Path,
                                     qcow2_disk: Path) -> None:
    drive = ["-m", "64M", "-drive", f"file={qcow2_disk},if=none,id=hd0,format=qcow2"]
    vm = QmpMachine(tmp_path, ["-bios", str(counter_guest), *drive])
    try:
        vm.wait_output("count=0000000000000002\n")
        assert vm.hmp("savevm first") == ""
        assert vm.hmp("savevm a-rather-long-snapshot-name") == ""
        ours = vm.hmp("info snapshots")
        assert vm.quit() == 0
    finally:
        vm.close()
    for binary, name in ((QEMU, "qemu"), (None, "again")):
        other = QmpMachine(tmp_path, ["-bios", "none", *drive], name=name,
                           **({"binary": binary} if binary else {}))
        try:
            assert other.hmp("info snapshots").replace("\r\n", "\n") == ours
            other.quit()
        finally:
            other.close()
    qemu_img_check(qcow2_disk)


def test_two_drives(tmp_path: Path, counter_guest: Path, qcow2_disk: Path) -> None:
    """Every writable drive gets the snapshot; the VM state goes to the first only, and
    a raw writable drive makes savevm refuse (it cannot hold internal snapshots)."""
    second = tmp_path / "second.qcow2"
    raw = tmp_path / "third.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(second), "4M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "1M"], check=True)
    drives = ["-drive", f"file={qcow2_disk},if=none,id=hd0,format=qcow2",
              "-drive", f"file={second},if=none,id=hd1,format=qcow2"]
    vm = QmpMachine(tmp_path, ["-m", "64M", "-bios", str(counter_guest), *drives])
    try:
        vm.wait_output("count=0000000000000002\n")
        assert vm.hmp("savevm both") == ""
        assert vm.hmp("loadvm both") == ""
        assert vm.quit() == 0
    finally:
        vm.close()
    for disk in (qcow2_disk, second):
        qemu_img_check(disk)
    first_line = next(ln for ln in snapshot_list(qcow2_disk).splitlines() if " both " in ln)
    second_line = next(ln for ln in snapshot_list(second).splitlines() if " both " in ln)
    assert " 0 B " not in first_line and " 0 B " in second_line
    vm = QmpMachine(tmp_path, ["-m", "64M", "-bios", str(counter_guest), *drives, "-drive",
                               f"file={raw},if=none,id=hd2,format=raw"], name="raw")
    try:
        assert vm.hmp("savevm x") == ("Error: Device 'hd2' is writable but does not support "
                                      "snapshots\n")
        assert vm.quit() == 0
    finally:
        vm.close()
