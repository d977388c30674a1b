"""Opening images with their backing chains (any depth, any mix of formats).

The format is probed from the magic unless given; backing file names are resolved
relative to the image that names them, as qemu does, and a file that appears twice
in one chain is refused instead of being followed forever.
"""

from __future__ import annotations

import os

from pyqemu.block.driver import BlockDriver, BlockError
from pyqemu.block.qcow2.header import MAGIC
from pyqemu.block.raw import RawDriver

MAX_CHAIN_DEPTH = 1000
FORMATS = ("raw", "qcow2")


def probe_format(filename: str) -> str:
    try:
        with open(filename, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise BlockError(f"Could not open '{filename}': {e.strerror}") from None
    return "qcow2" if magic == MAGIC else "raw"


def resolve_backing(image_filename: str, backing: str) -> str:
    if os.path.isabs(backing) or backing.startswith("json:"):
        return backing
    return os.path.join(os.path.dirname(image_filename), backing)


def open_image(filename: str, fmt: str | None = None, read_only: bool = True,
               backing: bool = True, _seen: tuple[str, ...] = ()) -> BlockDriver:
    """Open filename (and, unless backing=False, its whole backing chain)."""
    if fmt is not None and fmt not in FORMATS:
        raise BlockError(f"Unknown driver '{fmt}'")
    if not os.path.exists(filename):
        raise BlockError(f"Could not open '{filename}': No such file or directory")
    real = os.path.realpath(filename)
    if real in _seen:
        raise BlockError(f"Backing file '{filename}' creates a loop in the backing chain")
    if len(_seen) >= MAX_CHAIN_DEPTH:
        raise BlockError("Backing chain is too deep")
    if fmt is None:
        fmt = probe_format(filename)
    if fmt == "raw":
        return RawDriver(filename, read_only)
    from pyqemu.block.qcow2.image import Qcow2Image

    img = Qcow2Image(filename, read_only)
    try:
        bf = img.header.backing_file
        if backing and bf:
            path = resolve_backing(filename, bf)
            bfmt = img.header.backing_format or None
            try:
                img.backing = open_image(path, bfmt, True, True, _seen + (real,))
            except BlockError as e:
                raise BlockError(f"{e}" if "loop" in str(e) else
                                 f"Could not open backing file: {e}") from None
    except BaseException:
        img.close()
        raise
    return img


def chain_list(top: BlockDriver) -> list[BlockDriver]:
    out = []
    d: BlockDriver | None = top
    while d is not None:
        out.append(d)
        d = d.backing
    return out
