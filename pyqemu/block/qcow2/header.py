"""qcow2 header and header extensions (qcow2.txt "Header", "Header extensions").

The header lives in cluster 0: the fixed v2 part (72 bytes), the v3 fields up to
header_length, then extensions (backing format, feature name table, unknown ones kept
verbatim so rewriting the header preserves them), then the backing file name.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pyqemu.block.driver import BlockError

MAGIC = b"QFI\xfb"
V2_HEADER_LEN = 72
V3_HEADER_LEN = 104

# incompatible_features bits
INCOMPAT_DIRTY = 1 << 0
INCOMPAT_CORRUPT = 1 << 1
INCOMPAT_DATA_FILE = 1 << 2
INCOMPAT_COMPRESSION = 1 << 3
INCOMPAT_EXTL2 = 1 << 4
INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2
# compatible_features / autoclear_features bits
COMPAT_LAZY_REFCOUNTS = 1 << 0
AUTOCLEAR_BITMAPS = 1 << 0

EXT_END = 0x00000000
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_FEATURE_TABLE = 0x6803F857
EXT_BITMAPS = 0x23852875
EXT_CRYPTO = 0x0537BE77
EXT_DATA_FILE = 0x44415441

COMPRESSION_ZLIB = 0
COMPRESSION_ZSTD = 1

# Feature name table written into every v3 image, as qemu does, so that tools that
# don't know a feature can name it.
FEATURE_NAMES = [
    (0, 0, "dirty bit"), (0, 1, "corrupt bit"), (0, 2, "external data file"),
    (0, 3, "compression type"), (0, 4, "extended L2 entries"),
    (1, 0, "lazy refcounts"), (2, 0, "bitmaps"), (2, 1, "raw external data"),
]

MAX_CLUSTER_BITS = 21           # qemu's 2 MiB limit
MAX_L1_BYTES = 32 << 20         # qemu's 32 MiB L1 limit
MAX_REFTABLE_BYTES = 8 << 20    # qemu's 8 MiB refcount table limit
MAX_IMAGE_SIZE = 1 << 61        # largest virtual size accepted

_V2 = struct.Struct(">4sIQIIQIIQQIIQ")
_V3 = struct.Struct(">QQQII")


@dataclass
class Qcow2Header:
    version: int = 3
    backing_file_offset: int = 0
    backing_file_size: int = 0
    cluster_bits: int = 16
    size: int = 0
    crypt_method: int = 0
    l1_size: int = 0
    l1_table_offset: int = 0
    refcount_table_offset: int = 0
    refcount_table_clusters: int = 0
    nb_snapshots: int = 0
    snapshots_offset: int = 0
    incompatible_features: int = 0
    compatible_features: int = 0
    autoclear_features: int = 0
    refcount_order: int = 4
    header_length: int = V3_HEADER_LEN
    compression_type: int = COMPRESSION_ZLIB
    extra_fields: bytes = b""          # unknown v3 fields past byte 105, kept verbatim
    backing_file: str | None = None
    backing_format: str | None = None
    feature_names: dict[tuple[int, int], str] = field(default_factory=dict)
    unknown_extensions: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def cluster_size(self) -> int:
        return 1 << self.cluster_bits

    @property
    def extended_l2(self) -> bool:
        return bool(self.incompatible_features & INCOMPAT_EXTL2)

    def pack(self) -> bytes:
        """Serialize header, extensions and backing file name (all within cluster 0)."""
        if self.version == 2:
            hlen = V2_HEADER_LEN
        else:
            hlen = max(112 if self.compression_type else V3_HEADER_LEN,
                       self.header_length if self.extra_fields else 0)
        exts = bytearray()

        def ext(kind: int, data: bytes) -> None:
            exts.extend(struct.pack(">II", kind, len(data)))
            exts.extend(data)
            exts.extend(bytes(-len(data) % 8))

        if self.backing_format and self.backing_file:
            ext(EXT_BACKING_FORMAT, self.backing_format.encode())
        if self.version >= 3:
            table = b"".join(struct.pack(">BB46s", t, b, n.encode()) for t, b, n in FEATURE_NAMES)
            ext(EXT_FEATURE_TABLE, table)
        for kind, data in self.unknown_extensions:
            ext(kind, data)
        exts.extend(bytes(8))           # end-of-extensions marker
        backing = (self.backing_file or "").encode()
        if self.backing_file:
            self.backing_file_offset = hlen + len(exts)
            self.backing_file_size = len(backing)
        else:
            self.backing_file_offset = 0
            self.backing_file_size = 0
        out = bytearray(_V2.pack(
            MAGIC, self.version, self.backing_file_offset, self.backing_file_size,
            self.cluster_bits, self.size, self.crypt_method, self.l1_size,
            self.l1_table_offset, self.refcount_table_offset, self.refcount_table_clusters,
            self.nb_snapshots, self.snapshots_offset))
        if self.version >= 3:
            self.header_length = hlen
            out += _V3.pack(self.incompatible_features, self.compatible_features,
                            self.autoclear_features, self.refcount_order, hlen)
            tail = bytearray(hlen - V3_HEADER_LEN)
            if len(tail) >= 1:
                tail[0] = self.compression_type
            if self.extra_fields:
                tail[8:8 + len(self.extra_fields)] = self.extra_fields[: len(tail) - 8]
            out += tail
        out += exts + backing
        if len(out) > self.cluster_size:
            raise BlockError("Header extensions and backing file name do not fit in the first cluster")
        return bytes(out)


def parse_header(buf: bytes, file_size: int) -> Qcow2Header:
    """Decode and validate a header; raises BlockError with qemu's wording."""
    if len(buf) < V2_HEADER_LEN or buf[:4] != MAGIC:
        raise BlockError("Image is not in qcow2 format")
    (_, version, bfo, bfs, cbits, size, crypt, l1_size, l1_off, rt_off, rt_clusters,
     nb_snap, snap_off) = _V2.unpack_from(buf)
    if version not in (2, 3):
        raise BlockError(f"Unsupported qcow2 version {version}")
    h = Qcow2Header(version=version, backing_file_offset=bfo, backing_file_size=bfs,
                    cluster_bits=cbits, size=size, crypt_method=crypt, l1_size=l1_size,
                    l1_table_offset=l1_off, refcount_table_offset=rt_off,
                    refcount_table_clusters=rt_clusters, nb_snapshots=nb_snap,
                    snapshots_offset=snap_off, header_length=V2_HEADER_LEN)
    if cbits < 9 or cbits > MAX_CLUSTER_BITS:
        raise BlockError(f"Unsupported cluster size: 2^{cbits}")
    cs = 1 << cbits
    if version >= 3:
        if len(buf) < V3_HEADER_LEN:
            raise BlockError("qcow2 header too short")
        (h.incompatible_features, h.compatible_features, h.autoclear_features,
         h.refcount_order, h.header_length) = _V3.unpack_from(buf, V2_HEADER_LEN)
        if h.header_length < V3_HEADER_LEN or h.header_length % 8 or h.header_length > cs:
            raise BlockError("qcow2 header exceeds cluster size" if h.header_length > cs
                             else "qcow2 header too short")
        if h.header_length > V3_HEADER_LEN:
            h.compression_type = buf[V3_HEADER_LEN]
            h.extra_fields = bytes(buf[V3_HEADER_LEN + 8:h.header_length])
    unknown = h.incompatible_features & ~INCOMPAT_KNOWN
    if unknown or h.incompatible_features & INCOMPAT_DATA_FILE:
        bad = unknown | (h.incompatible_features & INCOMPAT_DATA_FILE)
        _parse_extensions(h, buf)      # for the feature names of the message
        names = [h.feature_names.get((0, b), f"Unknown incompatible feature: {1 << b:x}")
                 for b in range(64) if bad >> b & 1]
        raise BlockError("Unsupported qcow2 feature(s): " + ", ".join(names))
    if h.refcount_order > 6:
        raise BlockError("Reference count entry width too large; may not exceed 64 bits")
    if crypt:
        raise BlockError("Encrypted qcow2 images are not supported")
    if h.compression_type not in (COMPRESSION_ZLIB, COMPRESSION_ZSTD):
        raise BlockError(f"Unknown compression type {h.compression_type}")
    if bool(h.compression_type) != bool(h.incompatible_features & INCOMPAT_COMPRESSION):
        raise BlockError("Compression type and its incompatible feature bit do not match")
    if h.extended_l2 and cbits < 14:
        raise BlockError("Extended L2 entries need a cluster size of at least 16 KiB")
    if size > MAX_IMAGE_SIZE:
        raise BlockError("Image is too big")
    entry_size = 16 if h.extended_l2 else 8
    l2_bits = cbits - (entry_size.bit_length() - 1)
    needed_l1 = -(-size // (1 << (cbits + l2_bits)))
    if l1_size * 8 > MAX_L1_BYTES:
        raise BlockError("Active L1 table too large")
    if l1_size < needed_l1:
        raise BlockError("L1 table is too small")
    if l1_size and (l1_off % cs or l1_off == 0 or l1_off + l1_size * 8 > 1 << 56):
        raise BlockError("Active L1 table offset invalid")
    if rt_off % cs or rt_off == 0:
        raise BlockError("Refcount table offset invalid")
    if rt_clusters * cs > MAX_REFTABLE_BYTES or rt_clusters == 0:
        raise BlockError("Reference count table too large" if rt_clusters else "Refcount table offset invalid")
    if nb_snap and (snap_off % cs or snap_off == 0):
        raise BlockError("Snapshot table offset invalid")
    if nb_snap > 65536:
        raise BlockError("Too many snapshots")
    _parse_extensions(h, buf)
    if bfo:
        if bfs > 1023 or bfo + bfs > min(len(buf), cs):
            raise BlockError("Backing file name too long")
        try:
            h.backing_file = bytes(buf[bfo:bfo + bfs]).decode()
        except UnicodeDecodeError:
            raise BlockError("Backing file name is not valid UTF-8") from None
    return h


def _parse_extensions(h: Qcow2Header, buf: bytes) -> None:
    off = h.header_length
    end = min(len(buf), h.cluster_size)
    if h.backing_file_offset:
        end = min(end, h.backing_file_offset)
    h.unknown_extensions = []
    while off + 8 <= end:
        kind, length = struct.unpack_from(">II", buf, off)
        off += 8
        if kind == EXT_END:
            return
        if off + length > end:
            raise BlockError("Invalid header extension length")
        data = bytes(buf[off:off + length])
        off += length + (-length % 8)
        if kind == EXT_BACKING_FORMAT:
            h.backing_format = data.decode(errors="replace")
        elif kind == EXT_FEATURE_TABLE:
            for i in range(0, len(data) - 47, 48):
                t, b = data[i], data[i + 1]
                h.feature_names[(t, b)] = data[i + 2:i + 48].split(b"\0")[0].decode(errors="replace")
        elif kind == EXT_BITMAPS:
            # Persistent dirty bitmaps are not implemented: keep the extension verbatim
            # but drop the autoclear bit on write, as the spec requires of such writers.
            h.unknown_extensions.append((kind, data))
        else:
            h.unknown_extensions.append((kind, data))
