"""The BlockDriver API: byte-range I/O and metadata, shared by devices and the img tool.

DESIGN.md section 3 "Block": every format driver (raw, qcow2) offers read, write,
flush, discard and write-zeroes on byte ranges, plus size, allocation status and
snapshots.  Drivers raise :class:`BlockError` for anything a user or a bad image can
cause; the img tool turns it into one ``pyqemu-img: ...`` line.
"""

from __future__ import annotations

from dataclasses import dataclass


class BlockError(Exception):
    """An error caused by the user or by the image contents (never a programming error)."""


class ImageCorruptError(BlockError):
    """Metadata inconsistency found while using an image; the image gets marked corrupt."""


# block_status() flags, after QEMU's BDRV_BLOCK_* meaning.
STATUS_DATA = 1          # reads come from stored data (host offset valid)
STATUS_ZERO = 2          # reads as zeros
STATUS_ALLOCATED = 4     # this layer decides the content (no look into the backing file)
STATUS_COMPRESSED = 8    # qcow2 compressed cluster (no plain host offset)


@dataclass
class BlockStatus:
    """One run of bytes with the same allocation state in one layer of a chain."""

    offset: int
    length: int
    flags: int
    host_offset: int | None = None


@dataclass
class SnapshotInfo:
    """An internal snapshot as qemu-img lists it."""

    id: str
    name: str
    vm_state_size: int
    date_sec: int
    date_nsec: int
    vm_clock_nsec: int
    icount: int | None = None
    disk_size: int | None = None


class BlockDriver:
    """Base class: one opened image in one format, optionally over a backing driver."""

    format_name = "none"

    def __init__(self, filename: str, read_only: bool) -> None:
        self.filename = filename
        self.read_only = read_only
        self.backing: BlockDriver | None = None

    # --- byte-range I/O -------------------------------------------------------
    def size(self) -> int:
        raise NotImplementedError

    def read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        raise NotImplementedError

    def write_zeroes(self, offset: int, length: int) -> None:
        self.write(offset, bytes(length))

    def discard(self, offset: int, length: int) -> None:
        """Drop data; a no-op is always a valid discard."""

    def flush(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def truncate(self, size: int, shrink: bool = False) -> None:
        raise BlockError(f"Image format '{self.format_name}' does not support resizing")

    # --- metadata -------------------------------------------------------------
    def block_status(self, offset: int, length: int) -> BlockStatus:
        """State of the run starting at offset (at most length bytes) in this layer."""
        return BlockStatus(offset, length, STATUS_DATA | STATUS_ALLOCATED, offset)

    def snapshots(self) -> list[SnapshotInfo]:
        return []

    def actual_size(self) -> int:
        return 0

    def check_range(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size():
            raise BlockError(f"Request out of range: offset {offset} length {length} "
                             f"(image size {self.size()})")

    def read_chain(self, offset: int, length: int) -> bytes:
        """Read that tolerates ranges past the end (zeros there), for backing reads."""
        size = self.size()
        if offset >= size:
            return bytes(length)
        if offset + length <= size:
            return self.read(offset, length)
        return self.read(offset, size - offset) + bytes(offset + length - size)

    def __enter__(self) -> BlockDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
