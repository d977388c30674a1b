"""qcow2 host cluster management (qcow2.txt "Host cluster management").

Refcounts live in a two-level structure: a contiguous refcount table of block offsets,
and refcount blocks of 2**(cluster_bits + 3 - refcount_order) entries each, for every
refcount_order 0..6 (sub-byte widths store entry 0 in the least significant bits).

Crash consistency (DESIGN.md "Block"): blocks are kept in memory and written on flush
*before* the L2/L1 tables that start referencing newly allocated clusters, so a crash
can only leave clusters that are counted but unreferenced (leaks).  Decrements are the
other way round: they are queued and applied only after the tables that dropped the
references are on disk, which also keeps a freed cluster from being reused (and
overwritten) while the on-disk metadata still points at it.
"""

from __future__ import annotations

import os
import struct
from array import array
from typing import TYPE_CHECKING

from pyqemu.block.driver import BlockError, ImageCorruptError

if TYPE_CHECKING:
    from pyqemu.block.qcow2.image import Qcow2Image

_TYPECODES = {3: "B", 4: "H", 5: "I", 6: "Q"}


def decode_block(buf: bytes, order: int, entries: int) -> list[int]:
    """Refcount block bytes -> list of refcounts."""
    if order >= 3:
        arr = array(_TYPECODES[order])
        if arr.itemsize != 1 << (order - 3):       # 'I' may be 8 bytes on odd hosts
            return [int.from_bytes(buf[i:i + (1 << (order - 3))], "big")
                    for i in range(0, len(buf), 1 << (order - 3))]
        arr.frombytes(buf)
        if arr.itemsize > 1:
            arr.byteswap()
        return arr.tolist()
    bits = 1 << order
    mask = (1 << bits) - 1
    per_byte = 8 // bits
    return [(buf[i // per_byte] >> ((i % per_byte) * bits)) & mask for i in range(entries)]


def encode_block(values: list[int], order: int) -> bytes:
    if order >= 3:
        size = 1 << (order - 3)
        arr = array(_TYPECODES[order])
        if arr.itemsize != size:
            return b"".join(v.to_bytes(size, "big") for v in values)
        arr.fromlist(values)
        if size > 1:
            arr.byteswap()
        return arr.tobytes()
    bits = 1 << order
    per_byte = 8 // bits
    out = bytearray(len(values) // per_byte)
    for i, v in enumerate(values):
        if v:
            out[i // per_byte] |= v << ((i % per_byte) * bits)
    return bytes(out)


class RefcountTable:
    """In-memory refcounts of one image with ordered write-back."""

    def __init__(self, img: Qcow2Image) -> None:
        self.img = img
        h = img.header
        self.cluster_bits = h.cluster_bits
        self.cluster_size = 1 << h.cluster_bits
        self.order = h.refcount_order
        self.max_refcount = (1 << (1 << self.order)) - 1
        self.entries_bits = h.cluster_bits + 3 - self.order
        self.entries = 1 << self.entries_bits
        self.table_offset = h.refcount_table_offset
        self.table_clusters = h.refcount_table_clusters
        raw = img.pread(self.table_offset, self.table_clusters * self.cluster_size)
        self.table: list[int] = list(struct.unpack(f">{len(raw) // 8}Q", raw))
        self.blocks: dict[int, list[int]] = {}
        self.dirty_blocks: set[int] = set()
        self.table_dirty = False
        self.table_moved = False
        self.pending_free: list[int] = []      # cluster indexes to decrement after flush
        self.free_hint = 0
        self.old_tables: list[tuple[int, int]] = []

    # --- lookup -----------------------------------------------------------------
    def block(self, bi: int) -> list[int] | None:
        blk = self.blocks.get(bi)
        if blk is not None:
            return blk
        if bi >= len(self.table):
            return None
        off = self.table[bi]
        if off == 0:
            return None
        if off & 0x1FF or off % self.cluster_size:
            self.img.mark_corrupt(f"Refblock offset {off:#x} unaligned (reftable index: {bi:#x})")
        if off >= self.img.file_end:
            self.img.mark_corrupt(f"Refblock at {off:#x} is beyond the end of the image file")
        buf = self.img.pread(off, self.cluster_size)
        blk = decode_block(buf, self.order, self.entries)
        self.blocks[bi] = blk
        return blk

    def get(self, cluster: int) -> int:
        blk = self.block(cluster >> self.entries_bits)
        return 0 if blk is None else blk[cluster & (self.entries - 1)]

    # --- modification -------------------------------------------------------------
    def _ensure_block(self, bi: int) -> list[int]:
        blk = self.block(bi)
        if blk is not None:
            return blk
        if bi >= len(self.table):
            self._grow_table(bi + 1)
        # A missing block means every cluster it covers is free, so the block can
        # describe itself: put it in the first cluster of its own range.
        blk = [0] * self.entries
        blk[0] = 1
        self.blocks[bi] = blk
        self.table[bi] = bi << (self.entries_bits + self.cluster_bits)
        self.img._meta = None
        self.dirty_blocks.add(bi)
        self.table_dirty = True
        self.img.note_allocated(self.table[bi], 1)
        return blk

    def _grow_table(self, min_entries: int) -> None:
        per_cluster = self.cluster_size // 8
        want = max(min_entries, len(self.table)) * 3 // 2 + 1
        clusters = -(-want // per_cluster)
        if clusters * self.cluster_size > 8 << 20:
            raise BlockError("Refcount table too large: image file would exceed the refcount limit")
        self.old_tables.append((self.table_offset, self.table_clusters))
        self.table.extend([0] * (clusters * per_cluster - len(self.table)))
        self.table_clusters = clusters
        self.table_offset = -1          # placed below, once the table is long enough
        self.table_offset = self.alloc(clusters)
        self.table_dirty = True
        self.table_moved = True
        self.img._meta = None
        # Free the old table only once the header points at the new one.
        for off, n in self.old_tables:
            for c in range(n):
                self.pending_free.append((off >> self.cluster_bits) + c)
        self.old_tables.clear()

    def add(self, cluster: int, delta: int) -> int:
        """Change a refcount now (allocation side); returns the new value."""
        blk = self._ensure_block(cluster >> self.entries_bits)
        i = cluster & (self.entries - 1)
        v = blk[i] + delta
        if v < 0:
            self.img.mark_corrupt(f"Refcount of cluster {cluster} would drop below zero")
        if v > self.max_refcount:
            raise BlockError("Refcount overflow: the refcount_bits of this image are too small")
        blk[i] = v
        self.dirty_blocks.add(cluster >> self.entries_bits)
        if v == 0 and cluster < self.free_hint:
            self.free_hint = cluster
        return v

    def free_later(self, offset: int, nb_clusters: int = 1) -> None:
        """Queue a decrement to apply after the dropping metadata reaches the disk."""
        c = offset >> self.cluster_bits
        self.pending_free.extend(range(c, c + nb_clusters))

    def _is_free(self, c: int) -> bool:
        blk = self.block(c >> self.entries_bits)
        return blk is None or not blk[c & (self.entries - 1)]

    def _find_free_run(self, start: int, n: int) -> int:
        """First cluster >= start beginning n clusters of refcount 0."""
        eb = self.entries_bits
        mask = self.entries - 1
        c = max(start, 1)           # cluster 0 is the header, never free
        while True:
            blk = self.block(c >> eb)
            if blk is not None:
                try:
                    c = (c & ~mask) + blk.index(0, c & mask)
                except ValueError:
                    c = ((c >> eb) + 1) << eb
                    continue
            for k in range(1, n):
                if not self._is_free(c + k):
                    c = c + k + 1
                    break
            else:
                return c

    def alloc(self, n: int) -> int:
        """Allocate n contiguous free clusters (refcount 1); returns the host offset."""
        eb = self.entries_bits
        start = self.free_hint
        while True:
            cand = self._find_free_run(start, n)
            # Refcount blocks missing for the run go right in front of it (they cover
            # free ranges, so those clusters are free too); the run moves behind them.
            m = 0
            while True:
                first, last = cand >> eb, (cand + m + n - 1) >> eb
                missing = [bi for bi in range(first, last + 1) if self.block(bi) is None]
                if len(missing) == m:
                    break
                m = len(missing)
            if missing and missing[-1] >= len(self.table):
                self._grow_table(missing[-1] + 1)
                start = cand
                continue
            if m and not all(self._is_free(cand + k) for k in range(m + n)):
                start = cand + 1
                continue
            if missing:
                self.img._meta = None
            for j, bi in enumerate(missing):
                self.blocks[bi] = [0] * self.entries
                self.table[bi] = (cand + j) << self.cluster_bits
                self.dirty_blocks.add(bi)
                self.table_dirty = True
            for j in range(m):
                self.add(cand + j, 1)
            if m:
                self.img.note_allocated(cand << self.cluster_bits, m)
            cand += m
            for k in range(n):
                self.add(cand + k, 1)
            if n == 1 or cand - m <= self.free_hint:
                self.free_hint = cand + n
            off = cand << self.cluster_bits
            self.img.note_allocated(off, n)
            return off

    # --- write-back -------------------------------------------------------------
    def write_blocks(self) -> bool:
        wrote = False
        for bi in sorted(self.dirty_blocks):
            self.img.pwrite_meta(self.table[bi], encode_block(self.blocks[bi], self.order))
            wrote = True
        self.dirty_blocks.clear()
        return wrote

    def write_table(self) -> bool:
        """Write the refcount table; True if the header must now point at a new one."""
        if not self.table_dirty:
            return False
        self.img.pwrite_meta(self.table_offset, struct.pack(f">{len(self.table)}Q", *self.table))
        self.table_dirty = False
        moved = self.table_moved
        self.table_moved = False
        return moved

    def apply_pending_frees(self) -> list[int]:
        """Apply queued decrements; returns clusters that became free."""
        freed = []
        pend, self.pending_free = self.pending_free, []
        for c in pend:
            if self.add(c, -1) == 0:
                freed.append(c)
        return freed

    def sync(self, fd: int) -> None:
        os.fdatasync(fd)

    def raise_corrupt(self, msg: str) -> None:
        raise ImageCorruptError(msg)
