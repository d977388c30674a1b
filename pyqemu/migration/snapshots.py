"""savevm / loadvm / delvm on the machine's qcow2 drives, as QEMU's HMP commands do.

Every writable drive must support internal snapshots (qcow2); each gets a disk
snapshot of the same name, and the first one also stores the VM state (RAM, CPUs,
devices: machine_state.py) in its VM state area (block/qcow2/vmstate.py), with the
snapshot table entry's vm_state_size saying how much.  The vCPUs are paused around
the operation (STOP/RESUME events, status save-vm/restore-vm) and everything runs
under the BQL so no device changes under it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pyqemu.block.driver import BlockError, SnapshotInfo
from pyqemu.migration.errors import MigrationError
from pyqemu.migration.machine_state import load_state, save_state

if TYPE_CHECKING:
    from pyqemu.hw.core.machine import Machine


def snapshot_images(machine: Machine, vmstate: str | None = None) -> list[Any]:
    """The writable drives; the first (or the one named vmstate) holds the VM state.
    Raises if one of them cannot take internal snapshots."""
    from pyqemu.block.qcow2.image import Qcow2Image

    images = []
    for name, b in machine.named_drives():
        if b.read_only:
            continue
        if not isinstance(b, Qcow2Image):
            raise MigrationError(f"Device '{name}' is writable but does not support snapshots")
        if name == vmstate:
            images.insert(0, b)
        else:
            images.append(b)
    if not images:
        raise MigrationError("No block device can accept snapshots")
    if vmstate is not None and all(n != vmstate for n, _ in machine.named_drives()):
        raise MigrationError(f"Cannot find device '{vmstate}'")
    return images


def _find(img: Any, name: str) -> Any | None:
    from pyqemu.block.qcow2.snapshot import find_snapshot

    try:
        return find_snapshot(img, name)
    except BlockError:
        return None


def vm_clock_ns(machine: Machine) -> int:
    """The guest's clock (the timer device's count) for the snapshot's VM CLOCK column."""
    for dev in machine.devices:
        read = getattr(dev, "read_mtime", None)
        if read is not None:
            return read() * 1_000_000_000 // getattr(dev, "freq", 10_000_000)
    return 0


def flush_cpu_caches(machine: Machine) -> None:
    """New CPU state and RAM under old translations.  What a guest does after rewriting
    code and page tables is what is needed here: fence.i (drop the blocks of every page
    whose bytes changed; the others stay valid, so a loadvm into a running machine does
    not pay the whole translation again) and sfence.vma (TLBs and jump caches)."""
    for r in getattr(machine.accel, "runners", []):
        tbc = r.tbc
        tbc.check_code_pages()
        # ROM pages are never compared (they cannot change under the guest), but the
        # snapshot rewrote them too: drop their blocks.
        tbc.drop_pages([page for page, snap in tbc.code_pages.items() if snap is None])
        r.flush_tlb()
        r.update_flags()
        r.hart.exit_request[0] = 1


def save_vm(machine: Machine, name: str | None = None, vmstate: str | None = None) -> str:
    """Take snapshot `name` (a generated vm-DATE name if None); returns the name."""
    from pyqemu.block.qcow2.snapshot import create_snapshot, delete_snapshot
    from pyqemu.block.qcow2.vmstate import drop_vmstate, write_vmstate

    images = snapshot_images(machine, vmstate)
    vm_img = images[0]
    if name is None:
        name = time.strftime("vm-%Y%m%d%H%M%S")
    was_running = machine.vm_running
    machine.vm_stop("save-vm")
    try:
        with machine.main_loop.bql:
            state = save_state(machine)
            clock = vm_clock_ns(machine)
            try:
                for img in images:
                    if _find(img, name) is not None:
                        delete_snapshot(img, name)     # savevm TAG replaces TAG
                    img.flush()
                write_vmstate(vm_img, state)
                create_snapshot(vm_img, name, len(state), clock, None)
                drop_vmstate(vm_img)
                for img in images[1:]:
                    create_snapshot(img, name, 0, clock, None)
            except (BlockError, OSError) as e:
                raise MigrationError(f"Error while creating snapshot on '{vm_img.filename}': "
                                     f"{e}") from None
    finally:
        if was_running:
            machine.vm_start()
    return name


def load_vm(machine: Machine, name: str, vmstate: str | None = None) -> None:
    """Revert every drive to snapshot `name` and restore the machine from its VM state."""
    from pyqemu.block.qcow2.snapshot import apply_snapshot
    from pyqemu.block.qcow2.vmstate import drop_vmstate, read_vmstate

    images = snapshot_images(machine, vmstate)
    vm_img = images[0]
    snap = _find(vm_img, name)
    if snap is None or any(_find(img, name) is None for img in images[1:]):
        raise MigrationError(f"Snapshot '{name}' does not exist in one or more devices")
    if not snap.vm_state_size:
        raise MigrationError("This is a disk-only snapshot. Revert to it offline using "
                             "qemu-img")
    was_running = machine.vm_running
    machine.vm_stop("restore-vm")
    try:
        with machine.main_loop.bql:
            try:
                for img in images:
                    apply_snapshot(img, snap.name)
                data = read_vmstate(vm_img, snap.vm_state_size)
                drop_vmstate(vm_img)
            except (BlockError, OSError) as e:
                raise MigrationError(f"Could not load snapshot '{name}': {e}") from None
            load_state(machine, data)
            flush_cpu_caches(machine)
    finally:
        if was_running:
            machine.vm_start()


def delete_vm(machine: Machine, name: str) -> None:
    """Delete snapshot `name` from every drive that has it (nothing if none has)."""
    from pyqemu.block.qcow2.snapshot import delete_snapshot

    images = snapshot_images(machine)
    with machine.main_loop.bql:
        for img in images:
            snap = _find(img, name)
            if snap is None:
                continue
            try:
                delete_snapshot(img, snap.name)
            except (BlockError, OSError) as e:
                raise MigrationError(f"Error while deleting snapshot on '{img.filename}': "
                                     f"{e}") from None


def list_snapshots(machine: Machine) -> list[SnapshotInfo]:
    """Snapshots of the VM state drive that every other writable drive has too."""
    images = snapshot_images(machine)
    out = []
    for s in images[0].snapshots():
        if all(_find(img, s.name) is not None for img in images[1:]):
            out.append(s)
    return out
