"""Growing and shrinking a qcow2 image (header size, L1 table relocation)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from pyqemu.block.driver import BlockError

if TYPE_CHECKING:
    from pyqemu.block.qcow2.image import Qcow2Image


def l1_entries_for(size: int, cluster_bits: int, extended_l2: bool) -> int:
    l2_bits = cluster_bits - (4 if extended_l2 else 3)
    return -(-size // (1 << (cluster_bits + l2_bits)))


def relocate_l1(img: Qcow2Image, new_size: int) -> None:
    """Move the active L1 table to a larger, newly allocated place."""
    if new_size * 8 > 32 << 20:
        raise BlockError("Active L1 table too large")
    cs = img.cluster_size
    old_off = img.header.l1_table_offset
    old_clusters = -(-img.l1_size * 8 // cs)
    n = -(-new_size * 8 // cs)
    new_off = img.refcounts.alloc(n)
    img.l1 = img.l1 + [0] * (new_size - len(img.l1))
    img.flush_metadata()
    img.pwrite(new_off, struct.pack(f">{new_size}Q", *img.l1).ljust(n * cs, b"\0"))
    img.header.l1_table_offset = new_off
    img.l1_size = new_size
    img._meta = None
    img.write_header()
    img.l1_dirty = False
    if old_off and old_clusters:
        img.refcounts.free_later(old_off, old_clusters)


def truncate(img: Qcow2Image, size: int, shrink: bool) -> None:
    img._writable()
    old = img.size()
    if size < old and not shrink:
        raise BlockError("Use the --shrink option to perform a shrink operation.")
    if img.snapshot_list and size < old:
        raise BlockError("Can't resize an image which has snapshots")
    if size > (1 << 56):
        raise BlockError("Image size too large")
    cs = img.cluster_size
    if size < old:
        start = -(-size // cs) * cs
        if start < old:
            img.discard(start, old - start) if img.backing is None else img.write_zeroes(start, old - start)
            img.flush_metadata()
            # discard may leave zero clusters; entries past the end must be unallocated
            for gc in range(start // cs, -(-old // cs)):
                e, _ = img.lookup(gc)
                if e:
                    img._set_entry(gc, 0, 0)
        img.header.size = size
        img.flush()
        img.write_header()
        return
    need = l1_entries_for(size, img.cluster_bits, img.extended_l2)
    if need > img.l1_size:
        relocate_l1(img, need)
    img.header.size = size
    img.write_header()
    # Data past the old end (a partial cluster tail, or the backing file) must read as zeros.
    if old % cs or img.backing is not None:
        end = size if img.backing is not None else min(size, -(-old // cs) * cs)
        if end > old:
            img.write_zeroes(old, end - old)
    img.flush()
