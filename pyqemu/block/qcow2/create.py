"""Creating qcow2 images (qcow2.txt "Header"; qemu-img create -o options).

A new image starts as header + one refcount table cluster + one refcount block; the
L1 table (and, for preallocation, L2 tables and data clusters) is then allocated
through the normal allocator, so every refcount width and cluster size takes the
same, tested path.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from pyqemu.block.driver import BlockError
from pyqemu.block.qcow2.header import (
    COMPAT_LAZY_REFCOUNTS,
    COMPRESSION_ZLIB,
    COMPRESSION_ZSTD,
    INCOMPAT_COMPRESSION,
    INCOMPAT_EXTL2,
    Qcow2Header,
)
from pyqemu.block.qcow2.layout import OFLAG_COPIED
from pyqemu.block.qcow2.refcount import encode_block


@dataclass
class Qcow2Options:
    cluster_size: int = 65536
    version: int = 3
    compression_type: int = COMPRESSION_ZLIB
    lazy_refcounts: bool = False
    extended_l2: bool = False
    refcount_bits: int = 16
    preallocation: str = "off"
    backing_file: str | None = None
    backing_fmt: str | None = None

    def validate(self) -> None:
        cs = self.cluster_size
        if cs < 512 or cs > 2 << 20 or cs & (cs - 1):
            raise BlockError("Cluster size must be a power of two between 512 and 2048k")
        rb = self.refcount_bits
        if rb < 1 or rb > 64 or rb & (rb - 1):
            raise BlockError("Refcount width must be a power of two and may not exceed 64 bits")
        if self.preallocation not in ("off", "metadata", "falloc", "full"):
            raise BlockError(f"Parameter 'preallocation' does not accept value '{self.preallocation}'")
        if self.version == 2:
            hint = "compatibility level 1.1 and above (use version=v3 or greater)"
            if self.lazy_refcounts:
                raise BlockError(f"Lazy refcounts only supported with {hint}")
            if rb != 16:
                raise BlockError("Different refcount widths than 16 bits require compatibility "
                                 "level 1.1 or above (use version=v3 or greater)")
            if self.extended_l2:
                raise BlockError(f"Extended L2 entries are only supported with {hint}")
            if self.compression_type != COMPRESSION_ZLIB:
                raise BlockError(f"Non-zlib compression type is only supported with {hint}")
        if self.extended_l2 and cs < 16384:
            raise BlockError("Extended L2 entries are only supported with cluster sizes "
                             "of at least 16384 bytes")
        if self.backing_file and self.preallocation != "off":
            raise BlockError("Backing file and preallocation can only be used at the same time "
                             "if extended_l2 is on") if not self.extended_l2 else None


def create_qcow2(filename: str, size: int, opts: Qcow2Options) -> None:
    """Write a new, empty (or preallocated) qcow2 image."""
    opts.validate()
    cs = opts.cluster_size
    cb = cs.bit_length() - 1
    order = opts.refcount_bits.bit_length() - 1
    # size 0 first: the L1 table is allocated below through the image's own allocator
    h = Qcow2Header(version=opts.version, cluster_bits=cb, size=0,
                    refcount_table_offset=cs, refcount_table_clusters=1,
                    refcount_order=order)
    if opts.version >= 3:
        if opts.compression_type == COMPRESSION_ZSTD:
            h.compression_type = COMPRESSION_ZSTD
            h.incompatible_features |= INCOMPAT_COMPRESSION
        if opts.extended_l2:
            h.incompatible_features |= INCOMPAT_EXTL2
        if opts.lazy_refcounts:
            h.compatible_features |= COMPAT_LAZY_REFCOUNTS
    else:
        h.header_length = 72
    if opts.backing_file:
        h.backing_file = opts.backing_file
        h.backing_format = opts.backing_fmt
    entries = cs * 8 // opts.refcount_bits
    counts = [0] * entries
    for i in range(min(3, entries)):
        counts[i] = 1
    table = struct.pack(">Q", 2 * cs).ljust(cs, b"\0")
    try:
        fd = os.open(filename, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        raise BlockError(f"Could not create '{filename}': {e.strerror}") from None
    try:
        os.pwrite(fd, h.pack().ljust(cs, b"\0"), 0)
        os.pwrite(fd, table, cs)
        os.pwrite(fd, encode_block(counts, order), 2 * cs)
    finally:
        os.close(fd)
    if entries < 3:     # 512-byte clusters with 64-bit refcounts hold fewer than 3 entries
        raise BlockError("Cluster size too small for this refcount width")
    from pyqemu.block.qcow2.image import Qcow2Image
    from pyqemu.block.qcow2.resize import l1_entries_for, relocate_l1

    img = Qcow2Image(filename, read_only=False)
    try:
        l1 = l1_entries_for(size, cb, opts.extended_l2)
        if l1:
            relocate_l1(img, l1)
        img.header.size = size
        img.write_header()
        if opts.preallocation != "off":
            _preallocate(img, opts.preallocation)
        img.flush()
    finally:
        img.close()


def _preallocate(img, mode: str) -> None:
    """Allocate L2 tables and data clusters for the whole disk (reads stay zero)."""
    cs = img.cluster_size
    nclusters = img.guest_cluster_count()
    gc = 0
    while gc < nclusters:
        tbl, l2off = img._l2_for_write(gc)
        i0 = gc & (img.l2_entries - 1)
        k = min(img.l2_entries - i0, nclusters - gc)
        host = img.refcounts.alloc(k)
        for j in range(k):
            idx = (i0 + j) * (2 if img.extended_l2 else 1)
            tbl[idx] = (host + j * cs) | OFLAG_COPIED
        img.cache.mark_dirty(l2off)
        gc += k
        end = host + k * cs
        if mode == "falloc":
            os.posix_fallocate(img.fd, host, k * cs)
        elif mode == "full":
            chunk = bytes(min(k * cs, 1 << 22))
            for off in range(host, end, len(chunk)):
                img.pwrite(off, chunk[: min(len(chunk), end - off)])
        if end > img.file_size:
            os.ftruncate(img.fd, end)
            img.file_size = end
