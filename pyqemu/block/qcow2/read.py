"""qcow2 guest-to-host mapping and reads (qcow2.txt "Cluster mapping", "Extended L2").

A guest range is resolved into runs of one kind (unallocated, zero, normal at a host
offset, compressed); runs of consecutive normal clusters are merged so that large
reads become few preads.
"""

from __future__ import annotations

import os

from pyqemu.block.driver import (
    STATUS_ALLOCATED,
    STATUS_COMPRESSED,
    STATUS_DATA,
    STATUS_ZERO,
    BlockError,
    BlockStatus,
)
from pyqemu.block.qcow2.compress import decompress_cluster
from pyqemu.block.qcow2.layout import (
    COMPRESSED,
    L2E_OFFSET_MASK,
    NORMAL,
    OFLAG_COMPRESSED,
    OFLAG_ZERO,
    UNALLOCATED,
    ZERO,
    compressed_range,
)


class Qcow2ReadMixin:
    """Mapping lookups and read()/block_status() for Qcow2Image."""

    def lookup(self, gc: int) -> tuple[int, int]:
        """(L2 entry, subcluster bitmap) of guest cluster gc; (0, 0) if no L2 table."""
        l2off = self.l2_offset_for(gc >> self.l2_bits)
        if not l2off:
            return 0, 0
        tbl = self.cache.get(l2off)
        i = gc & (self.l2_entries - 1)
        if self.extended_l2:
            return tbl[2 * i], tbl[2 * i + 1]
        return tbl[i], 0

    def _unit(self, pos: int) -> tuple[int, int, int, int]:
        """(kind, host offset at pos, bytes to the end of this uniform unit, entry)."""
        cb = self.cluster_bits
        gc = pos >> cb
        in_cl = pos & (self.cluster_size - 1)
        entry, bmp = self.lookup(gc)
        if entry & OFLAG_COMPRESSED:
            return COMPRESSED, 0, self.cluster_size - in_cl, entry
        host = entry & L2E_OFFSET_MASK
        if not self.extended_l2:
            left = self.cluster_size - in_cl
            if entry & OFLAG_ZERO and self.header.version >= 3:
                return ZERO, 0, left, entry
            if host:
                if host & (self.cluster_size - 1):
                    self.mark_corrupt(f"Cluster allocation offset {host:#x} unaligned (guest offset {pos:#x})")
                return NORMAL, host + in_cl, left, entry
            return UNALLOCATED, 0, left, entry
        # extended L2: find the run of subclusters with the same state
        scb = self.sc_bits
        sc = in_cl >> scb
        alloc = bmp & 0xFFFFFFFF
        zero = bmp >> 32
        if alloc & zero:
            self.mark_corrupt(f"Invalid subcluster bitmap {bmp:#x} (guest offset {pos:#x})")

        def state(k: int) -> int:
            if alloc >> k & 1:
                return NORMAL
            return ZERO if zero >> k & 1 else UNALLOCATED

        kind = state(sc)
        k = sc + 1
        while k < 32 and state(k) == kind:
            k += 1
        left = (k << scb) - in_cl
        if kind == NORMAL:
            if not host or host & (self.cluster_size - 1):
                self.mark_corrupt(f"Invalid cluster offset {host:#x} for allocated subclusters")
            return NORMAL, host + in_cl, left, entry
        return kind, 0, left, entry

    def extent(self, pos: int, maxlen: int) -> tuple[int, int, int, int]:
        """Longest run at pos (at most maxlen): (kind, length, host offset, entry)."""
        kind, host, n, entry = self._unit(pos)
        n = min(n, maxlen)
        if kind == COMPRESSED:
            return kind, n, 0, entry
        while n < maxlen:
            k2, h2, n2, _ = self._unit(pos + n)
            if k2 != kind or (kind == NORMAL and h2 != host + n):
                break
            n = min(n + n2, maxlen)
        return kind, n, host, entry

    def read_compressed(self, entry: int) -> bytes:
        cached = self._ccache
        if cached is not None and cached[0] == entry:
            return cached[1]
        off, length = compressed_range(entry, self.cluster_bits)
        if off + length > self.file_size + 512:
            self.mark_corrupt(f"Compressed cluster at {off:#x} extends beyond the end of the image file")
        data = decompress_cluster(self.pread(off, length), self.header.compression_type,
                                  self.cluster_size)
        self._ccache = (entry, data)
        return data

    def read(self, offset: int, length: int) -> bytes:
        self.check_range(offset, length)
        out = bytearray(length)
        view = memoryview(out)
        pos = offset
        end = offset + length
        mask = self.cluster_size - 1
        while pos < end:
            kind, n, host, entry = self.extent(pos, end - pos)
            o = pos - offset
            if kind == NORMAL:
                got = os.preadv(self.fd, [view[o:o + n]], host)
                if got < n:     # past the end of the file reads as zeros
                    view[o + got:o + n] = bytes(n - got)
            elif kind == UNALLOCATED:
                if self.backing is not None:
                    view[o:o + n] = self.backing.read_chain(pos, n)
            elif kind == COMPRESSED:
                data = self.read_compressed(entry)
                s = pos & mask
                view[o:o + n] = data[s:s + n]
            pos += n
        return bytes(out)

    def block_status(self, offset: int, length: int) -> BlockStatus:
        length = min(length, self.size() - offset)
        kind, n, host, _ = self.extent(offset, length)
        if kind == NORMAL:
            return BlockStatus(offset, n, STATUS_DATA | STATUS_ALLOCATED, host)
        if kind == ZERO:
            return BlockStatus(offset, n, STATUS_ZERO | STATUS_ALLOCATED)
        if kind == COMPRESSED:
            return BlockStatus(offset, n, STATUS_DATA | STATUS_ALLOCATED | STATUS_COMPRESSED)
        return BlockStatus(offset, n, 0)

    def guest_cluster_count(self) -> int:
        return -(-self.size() // self.cluster_size)

    def _check_host(self, host: int) -> None:
        if host >= 1 << 56:
            raise BlockError("Host offset out of range")
