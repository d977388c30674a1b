"""savevm/loadvm: the whole machine's state in a qcow2 image's internal snapshot.

    save_vm(machine, name)     disk snapshot + VM state in the image's vmstate area
    load_vm(machine, name)     revert the disk and restore RAM, CPUs and devices
    delete_vm(machine, name)   drop the snapshot (disk and VM state)
    list_snapshots(machine)    the snapshots that hold VM state

HMP savevm/loadvm/delvm/info snapshots, QMP snapshot-save/-load/-delete and
``-loadvm NAME`` all come here.  Works under TCG (riscv virt) and KVM (x86 pc); the
state stream is pyqemu's own (machine_state.py), so a snapshot taken by QEMU is
refused with a clear error and one taken by pyqemu cannot be loaded by QEMU, while
the disk part of both is ordinary qcow2 that either tool reads.
"""

from pyqemu.migration.errors import MigrationError
from pyqemu.migration.snapshots import delete_vm, list_snapshots, load_vm, save_vm

__all__ = ["MigrationError", "delete_vm", "list_snapshots", "load_vm", "save_vm"]
