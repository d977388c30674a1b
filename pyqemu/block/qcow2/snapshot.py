"""qcow2 internal snapshots (qcow2.txt "Snapshots").

A snapshot is a copy of the active L1 table plus one more reference on every L2
table and data cluster reachable from it; writes then copy-on-write.  Refcounts are
raised before anything points at the new copy, and dropped only after the table that
stopped pointing is on disk (via the image's ordered flush), so a crash leaks at most.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyqemu.block.driver import BlockError, SnapshotInfo
from pyqemu.block.qcow2.layout import (
    L1E_OFFSET_MASK,
    L2E_OFFSET_MASK,
    OFLAG_COMPRESSED,
    OFLAG_COPIED,
    compressed_clusters,
)

if TYPE_CHECKING:
    from pyqemu.block.qcow2.image import Qcow2Image

_ENTRY = struct.Struct(">QIHHIIQII")


@dataclass
class Snapshot:
    l1_offset: int
    l1_size: int
    id: str
    name: str
    date_sec: int
    date_nsec: int
    vm_clock_nsec: int
    vm_state_size: int
    disk_size: int | None
    icount: int | None
    extra: bytes = b""

    def info(self) -> SnapshotInfo:
        return SnapshotInfo(self.id, self.name, self.vm_state_size, self.date_sec, self.date_nsec,
                            self.vm_clock_nsec, self.icount, self.disk_size)

    def pack(self) -> bytes:
        extra = bytearray(self.extra.ljust(24, b"\0"))
        extra[0:8] = struct.pack(">Q", self.vm_state_size)
        extra[8:16] = struct.pack(">Q", self.disk_size or 0)
        extra[16:24] = struct.pack(">q", -1 if self.icount is None else self.icount)
        idb, nameb = self.id.encode(), self.name.encode()
        out = _ENTRY.pack(self.l1_offset, self.l1_size, len(idb), len(nameb), self.date_sec,
                          self.date_nsec, self.vm_clock_nsec, min(self.vm_state_size, 0xFFFFFFFF),
                          len(extra)) + bytes(extra) + idb + nameb
        return out + bytes(-len(out) % 8)


def read_snapshot_table(img: Qcow2Image) -> list[Snapshot]:
    h = img.header
    if not h.nb_snapshots:
        return []
    if h.snapshots_offset >= img.file_size:
        raise BlockError("Snapshot table offset invalid")
    buf = img.pread(h.snapshots_offset, min(h.nb_snapshots * 1100, 64 << 20))
    out = []
    pos = 0
    for _ in range(h.nb_snapshots):
        if pos + _ENTRY.size > len(buf):
            raise BlockError("Snapshot table is truncated")
        (l1_off, l1_size, id_len, name_len, dsec, dnsec, vmclock, vmsize,
         extra_size) = _ENTRY.unpack_from(buf, pos)
        pos += _ENTRY.size
        if extra_size > 1024 or pos + extra_size + id_len + name_len > len(buf):
            raise BlockError("Snapshot table entry is invalid")
        extra = buf[pos:pos + extra_size]
        pos += extra_size
        sid = buf[pos:pos + id_len].decode(errors="replace")
        pos += id_len
        name = buf[pos:pos + name_len].decode(errors="replace")
        pos += name_len
        pos += -pos % 8
        disk_size = icount = None
        if len(extra) >= 8:
            vmsize = struct.unpack_from(">Q", extra, 0)[0]
        if len(extra) >= 16:
            disk_size = struct.unpack_from(">Q", extra, 8)[0]
        if len(extra) >= 24:
            icount = struct.unpack_from(">q", extra, 16)[0]
            if icount < 0:
                icount = None
        if l1_off % img.cluster_size or l1_size * 8 > 32 << 20:
            raise BlockError("Snapshot L1 table offset invalid")
        out.append(Snapshot(l1_off, l1_size, sid, name, dsec, dnsec, vmclock, vmsize,
                            disk_size, icount, bytes(extra)))
    img.snapshot_table_size = pos
    return out


def _read_l1(img: Qcow2Image, offset: int, size: int) -> list[int]:
    return list(struct.unpack(f">{size}Q", img.pread(offset, size * 8)))


def _walk(img: Qcow2Image, l1: list[int], delta: int) -> None:
    """Add delta to the refcount of every L2 table and data cluster under l1."""
    rc = img.refcounts
    cb = img.cluster_bits
    step = 2 if img.extended_l2 else 1
    for l1e in l1:
        l2off = l1e & L1E_OFFSET_MASK
        if not l2off:
            continue
        tbl = img.cache.get(l2off)
        for j in range(0, len(tbl), step):
            e = tbl[j]
            if e & OFLAG_COMPRESSED:
                for c in compressed_clusters(e, cb):
                    rc.add(c, delta) if delta > 0 else rc.free_later(c << cb)
            elif e & L2E_OFFSET_MASK:
                c = (e & L2E_OFFSET_MASK) >> cb
                rc.add(c, delta) if delta > 0 else rc.free_later(c << cb)
        rc.add(l2off >> cb, delta) if delta > 0 else rc.free_later(l2off)


def fix_copied_flags(img: Qcow2Image) -> None:
    """Make COPIED (bit 63) in the active tables say 'refcount is exactly one'."""
    rc = img.refcounts
    cb = img.cluster_bits
    step = 2 if img.extended_l2 else 1
    for i, l1e in enumerate(img.l1):
        l2off = l1e & L1E_OFFSET_MASK
        if not l2off:
            continue
        one = rc.get(l2off >> cb) == 1
        want = l2off | (OFLAG_COPIED if one else 0)
        if want != l1e:
            img.l1[i] = want
            img.l1_dirty = True
        # entries of a shared table must lose COPIED too: qemu checks every active entry
        tbl = img.cache.get(l2off)
        changed = False
        for j in range(0, len(tbl), step):
            e = tbl[j]
            if e & OFLAG_COMPRESSED or not e & L2E_OFFSET_MASK:
                continue
            copied = rc.get((e & L2E_OFFSET_MASK) >> cb) == 1
            new = (e | OFLAG_COPIED) if copied else (e & ~OFLAG_COPIED)
            if new != e:
                tbl[j] = new
                changed = True
        if changed:
            img.cache.mark_dirty(l2off)


def _write_table(img: Qcow2Image, snaps: list[Snapshot]) -> None:
    """Write a new snapshot table, then point the header at it, then free the old one."""
    h = img.header
    data = b"".join(s.pack() for s in snaps)
    old_off, old_size = h.snapshots_offset, getattr(img, "snapshot_table_size", 0)
    new_off = 0
    if snaps:
        n = -(-len(data) // img.cluster_size)
        new_off = img.refcounts.alloc(n)
        img.flush_metadata()
        img.pwrite(new_off, data)
    h.snapshots_offset = new_off
    h.nb_snapshots = len(snaps)
    img.write_header()
    if old_off and old_size:
        img.refcounts.free_later(old_off, -(-old_size // img.cluster_size))
    img.snapshot_table_size = len(data)
    img.snapshot_list = snaps
    img._meta = None


def find_snapshot(img: Qcow2Image, name: str) -> Snapshot:
    for s in img.snapshot_list:
        if s.id == name:
            return s
    for s in img.snapshot_list:
        if s.name == name:
            return s
    raise BlockError("snapshot not found")


def create_snapshot(img: Qcow2Image, name: str, vm_state_size: int = 0,
                    vm_clock_nsec: int = 0, icount: int | None = 0) -> None:
    """Snapshot the active tables; vm_state_size > 0 when savevm put VM state in them."""
    img._writable()
    img.flush_metadata()
    _walk(img, img.l1, +1)
    fix_copied_flags(img)
    l1off = img.refcounts.alloc(max(1, -(-img.l1_size * 8 // img.cluster_size)))
    img.flush_metadata()
    img.pwrite(l1off, struct.pack(f">{img.l1_size}Q", *img.l1))
    ids = [int(s.id) for s in img.snapshot_list if s.id.isdigit()]
    now = time.time_ns()
    snap = Snapshot(l1off, img.l1_size, str(max(ids, default=0) + 1), name, now // 10**9,
                    now % 10**9, vm_clock_nsec, vm_state_size, img.size(), icount)
    _write_table(img, img.snapshot_list + [snap])
    img.flush()


def delete_snapshot(img: Qcow2Image, name: str) -> None:
    img._writable()
    snap = find_snapshot(img, name)
    img.flush_metadata()
    _write_table(img, [s for s in img.snapshot_list if s is not snap])
    l1 = _read_l1(img, snap.l1_offset, snap.l1_size)
    _walk(img, l1, -1)
    img.refcounts.free_later(snap.l1_offset, max(1, -(-snap.l1_size * 8 // img.cluster_size)))
    img.flush_metadata()
    fix_copied_flags(img)
    img.flush()


def apply_snapshot(img: Qcow2Image, name: str) -> None:
    img._writable()
    snap = find_snapshot(img, name)
    img.flush_metadata()
    new_l1 = _read_l1(img, snap.l1_offset, snap.l1_size)
    if snap.disk_size is not None and snap.disk_size != img.size():
        img.header.size = snap.disk_size
    need = max(snap.l1_size, img.l1_size)
    new_l1 += [0] * (need - len(new_l1))
    _walk(img, [e & ~OFLAG_COPIED for e in new_l1], +1)
    old_l1 = list(img.l1)
    if need > img.l1_size:
        from pyqemu.block.qcow2.resize import relocate_l1
        relocate_l1(img, need)
    img.l1 = [e & ~OFLAG_COPIED for e in new_l1]
    img.l1_size = len(img.l1)
    img.l1_dirty = True
    img._meta = None
    img.header_dirty = True
    img.cache.clear()
    img.flush_metadata()
    _walk(img, old_l1, -1)
    img.flush_metadata()
    fix_copied_flags(img)
    img.flush()
