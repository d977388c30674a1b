"""The qcow2 BlockDriver: opening, metadata state and the ordered metadata flush.

Reading lives in read.py and writing in write.py (mixins); this file owns the
header, the active L1 table, the refcounts and the L2 cache, and the one place
where metadata reaches the disk, in the order that keeps crashes harmless:
data -> refcount blocks -> refcount table (-> header) -> L2 tables -> L1 table
(-> header) -> queued refcount decrements.
"""

from __future__ import annotations

import os
import struct

from pyqemu.block.driver import BlockDriver, BlockError, ImageCorruptError, SnapshotInfo
from pyqemu.block.qcow2.header import (
    AUTOCLEAR_BITMAPS,
    COMPAT_LAZY_REFCOUNTS,
    INCOMPAT_CORRUPT,
    INCOMPAT_DIRTY,
    Qcow2Header,
    parse_header,
)
from pyqemu.block.qcow2.l2_cache import L2Cache
from pyqemu.block.qcow2.layout import L1E_OFFSET_MASK, OFLAG_COPIED
from pyqemu.block.qcow2.read import Qcow2ReadMixin
from pyqemu.block.qcow2.refcount import RefcountTable
from pyqemu.block.qcow2.snapshot import Snapshot, read_snapshot_table
from pyqemu.block.qcow2.write import Qcow2WriteMixin


class Qcow2Image(Qcow2ReadMixin, Qcow2WriteMixin, BlockDriver):
    """One opened qcow2 file (the backing driver, if any, is attached by chain.py)."""

    format_name = "qcow2"

    def __init__(self, filename: str, read_only: bool = True, repair_dirty: bool = True) -> None:
        super().__init__(filename, read_only)
        try:
            self.fd = os.open(filename, os.O_RDONLY if read_only else os.O_RDWR)
        except OSError as e:
            raise BlockError(f"Could not open '{filename}': {e.strerror}") from None
        try:
            self._open(repair_dirty)
        except BaseException:
            os.close(self.fd)
            self.fd = -1
            raise

    def _open(self, repair_dirty: bool) -> None:
        st = os.fstat(self.fd)
        self.file_size = st.st_size
        buf = os.pread(self.fd, 1 << 21, 0)
        self.header: Qcow2Header = parse_header(buf, self.file_size)
        h = self.header
        self.cluster_bits = cb = h.cluster_bits
        self.cluster_size = cs = 1 << cb
        self.extended_l2 = h.extended_l2
        self.l2_bits = cb - (4 if self.extended_l2 else 3)
        self.l2_entries = 1 << self.l2_bits
        self.sc_bits = cb - 5 if self.extended_l2 else cb
        self.file_end = max(self.file_size, cs)
        self.fresh_from = -(-self.file_size // cs) * cs
        self.corrupt = bool(h.incompatible_features & INCOMPAT_CORRUPT)
        self.l1_size = h.l1_size
        raw = self.pread(h.l1_table_offset, h.l1_size * 8) if h.l1_size else b""
        self.l1: list[int] = list(struct.unpack(f">{h.l1_size}Q", raw))
        self.l1_dirty = False
        self.header_dirty = False
        self.refcounts = RefcountTable(self)
        self.cache = L2Cache(self._load_l2, self.pwrite_meta, self.flush_metadata)
        self.snapshot_list: list[Snapshot] = read_snapshot_table(self)
        self.lazy_dirty_set = False
        self._meta: set[int] | None = None
        l1_end = h.l1_table_offset + h.l1_size * 8
        if h.l1_size and l1_end > self.file_size:
            raise BlockError("Active L1 table offset invalid")
        if h.refcount_table_offset + h.refcount_table_clusters * cs > self.file_size + cs:
            raise BlockError("Refcount table offset invalid")
        self._ccache: tuple[int, bytes] | None = None   # last decompressed cluster
        self.compress_cursor = 0    # host byte offset where packed compressed data may go
        if not self.read_only:
            if self.corrupt:
                raise BlockError("qcow2: Image is corrupt; cannot be opened read/write")
            if h.autoclear_features:
                # We don't maintain bitmaps: the spec makes us clear their bit before writing.
                h.autoclear_features &= ~AUTOCLEAR_BITMAPS
                h.autoclear_features = 0
                self.write_header()
            if h.incompatible_features & INCOMPAT_DIRTY and repair_dirty:
                from pyqemu.block.qcow2.check import check_image
                check_image(self, repair="all", quiet=True)
                h.incompatible_features &= ~INCOMPAT_DIRTY
                self.write_header()
                os.fdatasync(self.fd)

    # --- low-level file access ------------------------------------------------------
    def pread(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        if len(data) < length:
            data += bytes(length - len(data))
        return data

    def pwrite_meta(self, offset: int, data: bytes) -> None:
        # Metadata only ever lives in clusters the file has (or we allocated): anything
        # else comes from a corrupt pointer and must not grow the file.
        if offset <= 0 or offset + len(data) > self.file_end:
            self.mark_corrupt(f"Preventing metadata write at {offset:#x} outside the image file")
        self.pwrite(offset, data)

    def metadata_clusters(self) -> set[int]:
        """Host clusters holding metadata, for refusing data writes onto them."""
        if self._meta is not None:
            return self._meta
        cb = self.cluster_bits
        h = self.header

        def span(off: int, length: int) -> range:
            return range(off >> cb, ((off + max(length, 1) - 1) >> cb) + 1) if off else range(0)

        meta = {0}
        meta.update(span(h.l1_table_offset, self.l1_size * 8))
        rc = self.refcounts
        meta.update(span(rc.table_offset, rc.table_clusters << cb))
        meta.update(off >> cb for off in rc.table if off)
        meta.update((e & L1E_OFFSET_MASK) >> cb for e in self.l1 if e & L1E_OFFSET_MASK)
        if h.nb_snapshots:
            meta.update(span(h.snapshots_offset, getattr(self, "snapshot_table_size", 1)))
            for sn in self.snapshot_list:
                meta.update(span(sn.l1_offset, sn.l1_size * 8))
        self._meta = meta
        return meta

    def pwrite(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        if self.read_only:
            raise BlockError("Block node is read-only")
        view = memoryview(data)
        end = offset + len(view)
        while view:
            n = os.pwrite(self.fd, view, offset)
            view = view[n:]
            offset += n
        if end > self.file_size:
            self.file_size = end

    def note_allocated(self, offset: int, n: int) -> None:
        end = offset + n * self.cluster_size
        if end > self.file_end:
            self.file_end = end
        if end > self.fresh_from:
            self.fresh_from = end

    def _load_l2(self, offset: int) -> bytes:
        return self.pread(offset, self.cluster_size)

    def mark_corrupt(self, msg: str) -> None:
        """Flag the image corrupt (if writable) and fail the request, like qemu."""
        if not self.read_only and not self.corrupt:
            self.corrupt = True
            self.header.incompatible_features |= INCOMPAT_CORRUPT
            try:
                self.write_header()
            except OSError:
                pass
            raise ImageCorruptError(f"qcow2: Marking image as corrupt: {msg}; "
                                    "further corruption events will be suppressed")
        raise ImageCorruptError(f"qcow2: Image is corrupt: {msg}")

    def write_header(self) -> None:
        self.header.l1_size = self.l1_size
        data = self.header.pack()
        self.pwrite(0, data)
        self.header_dirty = False

    # --- BlockDriver metadata ---------------------------------------------------------
    def size(self) -> int:
        return self.header.size

    def actual_size(self) -> int:
        return os.fstat(self.fd).st_blocks * 512

    def snapshots(self) -> list[SnapshotInfo]:
        return [s.info() for s in self.snapshot_list]

    def l2_offset_for(self, l1_index: int) -> int:
        if l1_index >= self.l1_size:
            return 0
        off = self.l1[l1_index] & L1E_OFFSET_MASK
        if off and (off % self.cluster_size or off >= self.file_end):
            self.mark_corrupt(f"L2 table offset {off:#x} invalid (L1 index {l1_index:#x})")
        return off

    # --- ordered write-back -------------------------------------------------------------
    def flush_metadata(self) -> None:
        """Write all dirty metadata in crash-safe order (no fsync)."""
        if self.read_only:
            return
        rc = self.refcounts
        rc.write_blocks()
        if rc.write_table():
            self.header.refcount_table_offset = rc.table_offset
            self.header.refcount_table_clusters = rc.table_clusters
            self.write_header()
        self.cache.write_dirty()
        if self.l1_dirty:
            self.pwrite_meta(self.header.l1_table_offset,
                             struct.pack(f">{self.l1_size}Q", *self.l1))
            self.l1_dirty = False
        if self.header_dirty:
            self.write_header()
        if rc.pending_free:
            rc.apply_pending_frees()
            self.compress_cursor = 0    # its cluster may have been freed
            rc.write_blocks()
            rc.write_table()

    def flush(self) -> None:
        if self.read_only or self.fd < 0:
            return
        self.flush_metadata()
        os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            if not self.read_only and not self.corrupt:
                self.flush_metadata()
                if self.lazy_dirty_set:
                    os.fdatasync(self.fd)
                    self.header.incompatible_features &= ~INCOMPAT_DIRTY
                    self.write_header()
                os.fdatasync(self.fd)
        finally:
            os.close(self.fd)
            self.fd = -1
            if self.backing is not None:
                self.backing.close()
                self.backing = None

    def mark_dirty_for_write(self) -> None:
        """With lazy refcounts, set the dirty bit before the first write (qcow2.txt bit 0)."""
        if self.header.compatible_features & COMPAT_LAZY_REFCOUNTS and self.header.version >= 3:
            self.header.incompatible_features |= INCOMPAT_DIRTY
            self.write_header()
            os.fdatasync(self.fd)
            self.lazy_dirty_set = True

    # --- used by snapshots/resize -----------------------------------------------------
    def active_l1_entry(self, i: int, l2_offset: int) -> None:
        self.l1[i] = l2_offset | OFLAG_COPIED
        self.l1_dirty = True

    def truncate(self, size: int, shrink: bool = False) -> None:
        from pyqemu.block.qcow2.resize import truncate
        truncate(self, size, shrink)
