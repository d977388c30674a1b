"""The qcow2 VM state area (qcow2.txt "Snapshots": vm_state_size; QEMU's savevm).

VM state is stored as guest data *past the end of the virtual disk*, starting at the
first L1 entry that lies wholly beyond it, so that the disk's own L2 tables are never
shared with it.  savevm writes it into the active tables, takes the internal snapshot
(whose L1 copy then holds it), and drops it from the active tables again so the
running disk does not carry it; loadvm reverts to the snapshot and reads it back
from the same place.  The L1 table grows to cover the area, as QEMU's does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pyqemu.block.qcow2.resize import relocate_l1

if TYPE_CHECKING:
    from pyqemu.block.qcow2.image import Qcow2Image


def vm_state_offset(img: Qcow2Image) -> int:
    """Guest offset of the VM state: the disk size rounded up to one L2 table's reach."""
    shift = img.cluster_bits + img.l2_bits
    return -(-img.size() >> shift) << shift if img.size() else 0


@contextmanager
def _past_disk_end(img: Qcow2Image) -> Iterator[None]:
    # Guest reads and writes are bounded by the virtual size; the VM state area is the
    # one legitimate user of offsets past it, so the bound is lifted on this image only.
    img.check_range = lambda offset, length: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        del img.check_range


def write_vmstate(img: Qcow2Image, data: bytes) -> None:
    """Store data in the active tables' VM state area (whole clusters)."""
    start = vm_state_offset(img)
    padded = bytes(data) + bytes(-len(data) % img.cluster_size)
    shift = img.cluster_bits + img.l2_bits
    need = -(-(start + len(padded)) >> shift)
    if need > img.l1_size:
        relocate_l1(img, need)
    with _past_disk_end(img):
        img.write(start, padded)
    img.flush_metadata()


def read_vmstate(img: Qcow2Image, size: int) -> bytes:
    """The VM state the active tables hold (after reverting to a snapshot)."""
    start = vm_state_offset(img)
    shift = img.cluster_bits + img.l2_bits
    if -(-(start + size) >> shift) > img.l1_size:
        return b""
    with _past_disk_end(img):
        return img.read(start, size)


def drop_vmstate(img: Qcow2Image) -> None:
    """Remove the VM state area from the active tables (the snapshot keeps its copy)."""
    from pyqemu.block.qcow2.snapshot import _walk, fix_copied_flags

    first = vm_state_offset(img) >> (img.cluster_bits + img.l2_bits)
    changed = False
    for i in range(first, img.l1_size):
        entry = img.l1[i]
        if entry:
            img.l1[i] = 0
            img.l1_dirty = True
            _walk(img, [entry], -1)
            changed = True
    if changed:
        img._meta = None
        img.flush_metadata()
        fix_copied_flags(img)
        img.flush()
