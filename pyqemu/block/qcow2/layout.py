"""qcow2 table entry bits (qcow2.txt "Cluster mapping", "Extended L2 Entries")."""

from __future__ import annotations

L1E_OFFSET_MASK = 0x00FFFFFFFFFFFE00
L2E_OFFSET_MASK = 0x00FFFFFFFFFFFE00
REFT_OFFSET_MASK = 0xFFFFFFFFFFFFFE00
OFLAG_COPIED = 1 << 63
OFLAG_COMPRESSED = 1 << 62
OFLAG_ZERO = 1
L1E_RESERVED = 0x7F000000000001FF
L2E_RESERVED_STD = 0x3F000000000001FE

# Mapping kinds of a guest byte run
UNALLOCATED = 0     # read through to the backing file (or zeros)
ZERO = 1            # reads as zeros
NORMAL = 2          # stored at host offset
COMPRESSED = 3      # inside a compressed cluster

SUBCLUSTERS = 32
SC_ALLOC_MASK = 0xFFFFFFFF
SC_ZERO_SHIFT = 32


def compressed_geometry(cluster_bits: int) -> tuple[int, int]:
    """(offset bit width x, sector-count mask) of a compressed cluster descriptor."""
    x = 62 - (cluster_bits - 8)
    return x, (1 << (cluster_bits - 8)) - 1


def compressed_range(entry: int, cluster_bits: int) -> tuple[int, int]:
    """Host (offset, byte length) a compressed descriptor refers to, sector-rounded."""
    x, mask = compressed_geometry(cluster_bits)
    off = entry & ((1 << x) - 1)
    nsec = ((entry >> x) & mask) + 1
    start = off & ~511
    return off, start + nsec * 512 - off


def compressed_clusters(entry: int, cluster_bits: int) -> range:
    """Host cluster indexes a compressed cluster occupies (for refcounting)."""
    x, mask = compressed_geometry(cluster_bits)
    off = entry & ((1 << x) - 1)
    nsec = ((entry >> x) & mask) + 1
    start = off & ~511
    end = start + nsec * 512
    return range(start >> cluster_bits, ((end - 1) >> cluster_bits) + 1)


def make_compressed_entry(host: int, length: int, cluster_bits: int) -> int:
    x, _ = compressed_geometry(cluster_bits)
    nsec = ((host + length - 1) >> 9) - (host >> 9)
    return OFLAG_COMPRESSED | (nsec << x) | host
