"""Compressed clusters (qcow2.txt "Compressed Clusters Descriptor", header field 104).

compression_type 0 is raw deflate (no zlib header; qemu uses a 4 KiB window, which
any larger window decodes), 1 is a zstd frame.  Decompression stops once a whole
cluster came out: the tail of the last sector may belong to another cluster.
"""

from __future__ import annotations

import zlib

import zstandard

from pyqemu.block.driver import BlockError
from pyqemu.block.qcow2.header import COMPRESSION_ZLIB, COMPRESSION_ZSTD


def compress_cluster(data: bytes, ctype: int, cluster_size: int) -> bytes | None:
    """Compressed form of one cluster, or None when it would not save space."""
    if ctype == COMPRESSION_ZLIB:
        co = zlib.compressobj(6, zlib.DEFLATED, -12, 9)
        out = co.compress(data) + co.flush()
    elif ctype == COMPRESSION_ZSTD:
        out = zstandard.ZstdCompressor(level=3).compress(data)
    else:
        raise BlockError(f"Unknown compression type {ctype}")
    # A compressed cluster must also leave room in the descriptor's sector count.
    if len(out) >= cluster_size - 512:
        return None
    return out


def decompress_cluster(buf: bytes, ctype: int, cluster_size: int) -> bytes:
    """Inflate one cluster; raises BlockError on damaged data."""
    try:
        if ctype == COMPRESSION_ZLIB:
            out = zlib.decompressobj(-15).decompress(buf, cluster_size)
        else:
            out = zstandard.ZstdDecompressor().decompressobj().decompress(buf)
    except (zlib.error, zstandard.ZstdError) as e:
        raise BlockError(f"Could not decompress cluster: {e}") from None
    if len(out) < cluster_size:
        raise BlockError("Could not decompress cluster: data too short")
    return out[:cluster_size]
