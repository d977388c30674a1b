"""QMP snapshot commands: snapshot-save/-load/-delete (as jobs), query-jobs,
job-dismiss, and blockdev-snapshot-internal-sync / -delete-internal-sync.

QEMU runs snapshot-save and friends as jobs: the command returns at once, then
JOB_STATUS_CHANGE events report created, running, waiting, pending, concluded, and
the concluded job stays in query-jobs (with its error, if any) until job-dismiss.
Here the work itself runs in one main-loop callback after the reply, under the BQL
with the vCPUs paused, so the event sequence and the reply order are QEMU's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyqemu.monitor.qmp_commands import find_drive, snapshot_json
from pyqemu.monitor.qmp_errors import QmpError
from pyqemu.monitor.qmp_registry import Arg, Registry

if TYPE_CHECKING:
    from pyqemu.monitor.monitor import Monitor


@dataclass
class Job:
    id: str
    type: str
    status: str = "created"
    error: str | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "status": self.status,
                               "current-progress": 1 if self.status == "concluded" else 0,
                               "total-progress": 1}
        if self.error is not None:
            out["error"] = self.error
        return out


class SnapshotCommands:
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.machine = monitor.machine
        self.jobs: dict[str, Job] = {}

    def _set(self, job: Job, status: str) -> None:
        job.status = status
        self.machine.emit_event("JOB_STATUS_CHANGE", {"id": job.id, "status": status})

    def _start_job(self, job_id: str, kind: str, work: Any) -> dict:
        if job_id in self.jobs:
            raise QmpError(f"Job ID '{job_id}' already in use")
        job = Job(job_id, kind)
        self.jobs[job_id] = job
        self._set(job, "created")

        def run() -> None:
            from pyqemu.migration import MigrationError

            self._set(job, "running")
            try:
                work()
            except MigrationError as e:
                job.error = str(e)
            else:
                self._set(job, "waiting")
                self._set(job, "pending")
            if job.error is not None:
                self._set(job, "aborting")
            self._set(job, "concluded")

        self.machine.main_loop.loop.call_soon(run)
        return {}

    def _drives_arg(self, devices: list, vmstate: str) -> None:
        for d in devices:
            if not isinstance(d, str):
                raise QmpError("Invalid parameter type for 'devices', expected: string")
            find_drive(self.machine, d)
        if vmstate not in devices:
            find_drive(self.machine, vmstate)

    def snapshot_save(self, job_id: str, tag: str, vmstate: str, devices: list) -> dict:
        from pyqemu.migration import save_vm

        self._drives_arg(devices, vmstate)
        return self._start_job(job_id, "snapshot-save",
                               lambda: save_vm(self.machine, tag, vmstate))

    def snapshot_load(self, job_id: str, tag: str, vmstate: str, devices: list) -> dict:
        from pyqemu.migration import load_vm

        self._drives_arg(devices, vmstate)
        return self._start_job(job_id, "snapshot-load",
                               lambda: load_vm(self.machine, tag, vmstate))

    def snapshot_delete(self, job_id: str, tag: str, devices: list) -> dict:
        from pyqemu.migration import delete_vm

        self._drives_arg(devices, devices[0] if devices else "")
        return self._start_job(job_id, "snapshot-delete", lambda: delete_vm(self.machine, tag))

    def query_jobs(self) -> list[dict]:
        return [j.to_json() for j in self.jobs.values()]

    def job_dismiss(self, id: str) -> dict:
        job = self.jobs.get(id)
        if job is None:
            raise QmpError(f"Job not found: '{id}'")
        if job.status != "concluded":
            raise QmpError(f"Job '{id}' in state '{job.status}' cannot accept command verb "
                           "'dismiss'")
        del self.jobs[id]
        self._set(job, "null")
        return {}

    # --- disk-only internal snapshots ---------------------------------------------------
    def blockdev_snapshot_internal_sync(self, device: str, name: str) -> dict:
        from pyqemu.block.driver import BlockError
        from pyqemu.block.qcow2.image import Qcow2Image
        from pyqemu.block.qcow2.snapshot import create_snapshot, find_snapshot

        img = find_drive(self.machine, device)
        if not isinstance(img, Qcow2Image):
            raise QmpError(f"Block format '{getattr(img, 'format_name', 'raw')}' used by "
                           f"device '{device}' does not support internal snapshots")
        if not name:
            raise QmpError("Name is empty")
        try:
            find_snapshot(img, name)
        except BlockError:
            pass
        else:
            raise QmpError(f"Snapshot with name '{name}' already exists on device '{device}'")
        with self.machine.main_loop.bql:
            try:
                img.flush()
                create_snapshot(img, name, 0, 0, None)
            except (BlockError, OSError) as e:
                raise QmpError(str(e)) from None
        return {}

    def blockdev_snapshot_delete_internal_sync(self, device: str, id: str | None = None,
                                               name: str | None = None) -> dict:
        from pyqemu.block.driver import BlockError
        from pyqemu.block.qcow2.image import Qcow2Image
        from pyqemu.block.qcow2.snapshot import delete_snapshot

        img = find_drive(self.machine, device)
        if not isinstance(img, Qcow2Image):
            raise QmpError(f"Device '{device}' does not support internal snapshots")
        if id is None and name is None:
            raise QmpError("Name or id must be provided")
        match = [s for s in img.snapshot_list
                 if (id is None or s.id == id) and (name is None or s.name == name)]
        if not match:
            raise QmpError(f"Snapshot with id '{id}' and name '{name}' does not exist on "
                           f"device '{device}'")
        info = snapshot_json(match[0].info())
        with self.machine.main_loop.bql:
            try:
                delete_snapshot(img, match[0].id)
            except (BlockError, OSError) as e:
                raise QmpError(str(e)) from None
        return info


def register_snapshot_commands(reg: Registry, monitor: Monitor) -> None:
    c = SnapshotCommands(monitor)
    job_args = (Arg("job-id"), Arg("tag"), Arg("vmstate"), Arg("devices", "list"))
    reg.add("snapshot-save", c.snapshot_save, *job_args)
    reg.add("snapshot-load", c.snapshot_load, *job_args)
    reg.add("snapshot-delete", c.snapshot_delete, Arg("job-id"), Arg("tag"),
            Arg("devices", "list"))
    reg.add("query-jobs", c.query_jobs)
    reg.add("job-dismiss", c.job_dismiss, Arg("id"))
    reg.add("blockdev-snapshot-internal-sync", c.blockdev_snapshot_internal_sync,
            Arg("device"), Arg("name"))
    reg.add("blockdev-snapshot-delete-internal-sync", c.blockdev_snapshot_delete_internal_sync,
            Arg("device"), Arg("id", "str", False), Arg("name", "str", False))
