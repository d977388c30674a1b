"""qcow2 consistency check and repair (what `qemu-img check [-r leaks|all]` does).

Every reference in the image is counted -- header, refcount table and blocks, active
and snapshot L1 tables, L2 tables, data and compressed clusters -- and compared with
the stored refcounts: stored < counted is an error (data could be overwritten),
stored > counted is a leak.  COPIED flags in the active tables must say "refcount 1".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyqemu.block.driver import BlockError
from pyqemu.block.qcow2.layout import (
    L1E_OFFSET_MASK,
    L2E_OFFSET_MASK,
    OFLAG_COMPRESSED,
    OFLAG_COPIED,
    OFLAG_ZERO,
    compressed_range,
)

if TYPE_CHECKING:
    from pyqemu.block.qcow2.image import Qcow2Image


@dataclass
class CheckResult:
    corruptions: int = 0
    leaks: int = 0
    check_errors: int = 0
    corruptions_fixed: int = 0
    leaks_fixed: int = 0
    image_end_offset: int = 0
    total_clusters: int = 0
    allocated_clusters: int = 0
    fragmented_clusters: int = 0
    compressed_clusters: int = 0
    messages: list[str] = field(default_factory=list)


class _Counter:
    def __init__(self, img: Qcow2Image, res: CheckResult) -> None:
        self.img = img
        self.res = res
        self.cb = img.cluster_bits
        self.cs = img.cluster_size
        self.nb = -(-img.file_size // self.cs)
        self.refs: dict[int, int] = {}
        self.copied_checks: list[tuple[str, int, int, int]] = []
        self.next_contig = 0

    def err(self, msg: str) -> None:
        self.res.corruptions += 1
        self.res.messages.append(msg)

    def inc(self, offset: int, length: int) -> None:
        if length <= 0:
            return
        first = offset >> self.cb
        last = (offset + length - 1) >> self.cb
        if last >= self.nb + (1 << 20):
            self.err(f"ERROR: counting reference for region exceeding the end of the file "
                     f"by one cluster or more: offset {offset:#x} size {length:#x}")
            return
        refs = self.refs
        for c in range(first, last + 1):
            refs[c] = refs.get(c, 0) + 1

    def walk_l1(self, l1: list[int], active: bool) -> None:
        img = self.img
        cs = self.cs
        step = 2 if img.extended_l2 else 1
        for i, l1e in enumerate(l1):
            off = l1e & L1E_OFFSET_MASK
            if not off:
                continue
            if off & (cs - 1):
                self.err(f"ERROR l2_offset={off:x}: Table is not cluster aligned; L1 entry corrupted")
                continue
            if off >= img.file_size:
                self.err(f"ERROR l2_offset={off:x}: L2 table is outside the image file")
                continue
            self.inc(off, cs)
            if active:
                self.copied_checks.append(("L1", i, l1e, off))
            if off in img.cache.tables:
                tbl = img.cache.tables[off]
            else:
                raw = img.pread(off, cs)
                tbl = struct.unpack(f">{cs // 8}Q", raw)
            for j in range(0, len(tbl), step):
                e = tbl[j]
                if not e and (step == 1 or not tbl[j + 1]):
                    continue
                if e & OFLAG_COMPRESSED:
                    if e & OFLAG_COPIED:
                        self.err(f"ERROR: coffset=0x{e & ~OFLAG_COPIED:x}: copied flag must "
                                 "never be set for compressed clusters")
                    if step == 2 and tbl[j + 1]:
                        self.err(f"ERROR compressed cluster {j // 2} with non-zero subcluster "
                                 "allocation bitmap, entry=0x%x" % e)
                    coff, clen = compressed_range(e & ~OFLAG_COPIED, self.cb)
                    start = coff & ~511
                    self.inc(start, coff + clen - start)
                    if active:
                        self.res.allocated_clusters += 1
                        self.res.compressed_clusters += 1
                        # qemu counts compressed clusters as fragmented by nature
                        self.res.fragmented_clusters += 1
                    continue
                host = e & L2E_OFFSET_MASK
                if step == 2:
                    bmp = tbl[j + 1]
                    if bmp & 0xFFFFFFFF & (bmp >> 32) or (bmp & 0xFFFFFFFF and not host):
                        self.err(f"ERROR invalid subcluster allocation bitmap 0x{bmp:x} "
                                 f"(L2 index {j // 2})")
                if not host:
                    continue
                if host & (cs - 1):
                    self.err(f"ERROR offset={host:x}: Cluster is not properly aligned; L2 entry corrupted.")
                    continue
                self.inc(host, cs)
                if active:
                    self.copied_checks.append(("L2", j, e, host))
                    self.res.allocated_clusters += 1
                    if self.next_contig and host != self.next_contig:
                        self.res.fragmented_clusters += 1
                    self.next_contig = host + cs


def _count_references(img: Qcow2Image, res: CheckResult) -> _Counter:
    h = img.header
    cnt = _Counter(img, res)
    cs = cnt.cs
    cnt.inc(0, cs)
    cnt.inc(h.l1_table_offset, img.l1_size * 8)
    cnt.walk_l1(img.l1, True)
    if h.nb_snapshots:
        cnt.inc(h.snapshots_offset, getattr(img, "snapshot_table_size", 0))
        for snap in img.snapshot_list:
            if snap.l1_offset + snap.l1_size * 8 > img.file_size + cs:
                cnt.err(f"ERROR snapshot {snap.id} ({snap.name}) L1 table is outside the image")
                continue
            cnt.inc(snap.l1_offset, snap.l1_size * 8)
            raw = img.pread(snap.l1_offset, snap.l1_size * 8)
            cnt.walk_l1(list(struct.unpack(f">{snap.l1_size}Q", raw)), False)
    rc = img.refcounts
    cnt.inc(rc.table_offset, rc.table_clusters * cs)
    for i, off in enumerate(rc.table):
        if not off:
            continue
        if off & (cs - 1):
            cnt.err(f"ERROR refcount block {i} is not cluster aligned; refcount table entry corrupted")
            rc.table[i] = 0
            continue
        if off >= img.file_size + cs:
            cnt.err(f"ERROR refcount block {i} is outside image")
            rc.table[i] = 0
            continue
        cnt.inc(off, cs)
    return cnt


def check_image(img: Qcow2Image, repair: str | None = None, quiet: bool = False) -> CheckResult:
    """Check (and with repair='leaks'/'all', fix) an image; returns the findings."""
    res = CheckResult()
    cnt = _count_references(img, res)
    rc = img.refcounts
    cs = cnt.cs
    top = max([cnt.nb] + [c + 1 for c in cnt.refs])
    fix_leaks = repair in ("leaks", "all")
    fix_errors = repair == "all"
    highest = 0
    for c in range(top):
        try:
            stored = rc.get(c)
        except BlockError:
            stored = 0
        want = cnt.refs.get(c, 0)
        if stored != want:
            if stored < want:
                fixing = fix_errors
                res.corruptions += 1
                res.messages.append(f"{'Repairing' if fixing else 'ERROR'} cluster {c} "
                                    f"refcount={stored} reference={want}")
                if fixing:
                    rc.add(c, want - stored)
                    res.corruptions_fixed += 1
                    stored = want
            else:
                fixing = fix_leaks
                res.leaks += 1
                res.messages.append(f"{'Repairing' if fixing else 'Leaked'} cluster {c} "
                                    f"refcount={stored} reference={want}")
                if fixing:
                    rc.add(c, want - stored)
                    res.leaks_fixed += 1
                    stored = want
        if stored:
            highest = c
    for kind, idx, e, host in cnt.copied_checks:
        try:
            stored = rc.get(host >> cnt.cb)
        except BlockError:
            continue
        if (stored == 1) != bool(e & OFLAG_COPIED):
            if kind == "L2" and not img.extended_l2 and e & OFLAG_ZERO and not stored:
                continue
            res.corruptions += 1
            if fix_errors:
                res.corruptions_fixed += 1
            what = (f"ERROR OFLAG_COPIED L2 cluster: l1_index={idx} l1_entry={e:x} refcount={stored}"
                    if kind == "L1" else
                    f"ERROR OFLAG_COPIED data cluster: l2_entry={e:x} refcount={stored}")
            res.messages.append(("Repairing " + what[6:]) if fix_errors else what)
    if (fix_leaks and res.leaks_fixed) or (fix_errors and res.corruptions_fixed):
        if fix_errors:
            from pyqemu.block.qcow2.snapshot import fix_copied_flags
            fix_copied_flags(img)
        rc.table_dirty = True
        img.flush_metadata()
    res.image_end_offset = (highest + 1) * cs
    res.total_clusters = img.guest_cluster_count()
    return res
