"""raw format: the image file is the disk; holes are found with SEEK_DATA/SEEK_HOLE.

Holes (and ranges punched by discard/write-zeroes) read as zeros, which block_status
reports so that convert and map can skip them, as qemu-img's file-posix does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

from pyqemu.block.driver import (
    STATUS_ALLOCATED,
    STATUS_DATA,
    STATUS_ZERO,
    BlockDriver,
    BlockError,
    BlockStatus,
)

_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def punch_hole(fd: int, offset: int, length: int) -> bool:
    """Deallocate a file range (it then reads as zeros); False if the FS cannot."""
    if length <= 0:
        return True
    rc = _libc.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length)
    return rc == 0


class RawDriver(BlockDriver):
    """A plain file (or block device) used byte for byte."""

    format_name = "raw"

    def __init__(self, filename: str, read_only: bool = True) -> None:
        super().__init__(filename, read_only)
        try:
            self.fd = os.open(filename, os.O_RDONLY if read_only else os.O_RDWR)
        except OSError as e:
            raise BlockError(f"Could not open '{filename}': {e.strerror}") from None
        self._size = os.lseek(self.fd, 0, os.SEEK_END)

    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        self.check_range(offset, length)
        data = os.pread(self.fd, length, offset)
        if len(data) < length:
            data += bytes(length - len(data))
        return data

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        if self.read_only:
            raise BlockError("Block node is read-only")
        self.check_range(offset, len(data))
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, offset)
            view = view[n:]
            offset += n

    def write_zeroes(self, offset: int, length: int) -> None:
        if self.read_only:
            raise BlockError("Block node is read-only")
        self.check_range(offset, length)
        if not punch_hole(self.fd, offset, length):
            self.write(offset, bytes(length))

    def discard(self, offset: int, length: int) -> None:
        self.write_zeroes(offset, length)

    def flush(self) -> None:
        if not self.read_only:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def truncate(self, size: int, shrink: bool = False) -> None:
        if size < self._size and not shrink:
            raise BlockError("Use the --shrink option to perform a shrink operation.")
        os.ftruncate(self.fd, size)
        self._size = size

    def actual_size(self) -> int:
        return os.fstat(self.fd).st_blocks * 512

    def block_status(self, offset: int, length: int) -> BlockStatus:
        """Data or hole run at offset, found with lseek(SEEK_DATA/SEEK_HOLE)."""
        end = min(offset + length, self._size)
        try:
            data = os.lseek(self.fd, offset, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:      # only a hole up to the end of the file
                return BlockStatus(offset, end - offset, STATUS_ZERO | STATUS_ALLOCATED, offset)
            return BlockStatus(offset, end - offset, STATUS_DATA | STATUS_ALLOCATED, offset)
        if data > offset:
            return BlockStatus(offset, min(data, end) - offset, STATUS_ZERO | STATUS_ALLOCATED, offset)
        hole = os.lseek(self.fd, offset, os.SEEK_HOLE)
        return BlockStatus(offset, min(hole, end) - offset, STATUS_DATA | STATUS_ALLOCATED, offset)


def create_raw(filename: str, size: int, preallocation: str = "off") -> None:
    """Create (or truncate) a raw image of the given size."""
    try:
        fd = os.open(filename, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        raise BlockError(f"Could not create '{filename}': {e.strerror}") from None
    try:
        os.ftruncate(fd, size)
        if preallocation == "falloc" and size:
            os.posix_fallocate(fd, 0, size)
        elif preallocation == "full" and size:
            chunk = bytes(1 << 20)
            for off in range(0, size, len(chunk)):
                os.pwrite(fd, chunk[: min(len(chunk), size - off)], off)
    finally:
        os.close(fd)
