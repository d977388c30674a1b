"""Opening ``-drive`` images for a board: format probing, read-only, ``snapshot=on``.

``snapshot=on`` is QEMU's throw-away overlay: the guest writes into a temporary qcow2
image whose backing file is the drive, and the drive itself is never modified.  The
overlay is unlinked at once, so nothing is left behind however pyqemu exits.
"""

from __future__ import annotations

import os
import tempfile

from pyqemu.block.chain import open_image, probe_format
from pyqemu.block.driver import BlockDriver, BlockError
from pyqemu.block.qcow2.create import Qcow2Options, create_qcow2
from pyqemu.hw.core.machine import DriveConfig, MachineError


def open_drive(d: DriveConfig) -> BlockDriver:
    """The BlockDriver for one -drive, or a MachineError naming the option."""
    where = f"-drive file={d.file}" if d.file else f"-drive id={d.id}"
    if d.file is None:
        raise MachineError(f"{where}: A block device must be specified for \"file\"")
    try:
        if not d.snapshot:
            return open_image(d.file, d.format, read_only=d.read_only)
        fmt = d.format or probe_format(d.file)
        base = open_image(d.file, fmt, read_only=True)
        size = base.size()
        base.close()
        fd, overlay = tempfile.mkstemp(prefix="pyqemu-snapshot-", suffix=".qcow2")
        os.close(fd)
        try:
            opts = Qcow2Options()
            opts.backing_file, opts.backing_fmt = os.path.abspath(d.file), fmt
            create_qcow2(overlay, size, opts)
            return open_image(overlay, "qcow2", read_only=False)
        finally:
            os.unlink(overlay)
    except BlockError as e:
        raise MachineError(f"{where}: {e}") from None
