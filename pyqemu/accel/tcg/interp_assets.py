"""What the interpreter tier needs at start-up, built once and kept on disk.

The compressed-instruction expansion table (256 KiB, 0.2 s to build from the decoder)
and the interpreter's machine code (about 8 ms to assemble) depend only on pyqemu's own
source, like a .pyc: they are kept beside the translation caches, under the same
fingerprint of the translator's source (tb_persist.cache_dir), so an edit to the
decoder or the interpreter makes new ones. Without a writable cache they are built in
memory at every start. Both are position-independent within a code buffer: the
interpreter's code addresses the buffer relative to itself.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from ...target.riscv import interp_x86_64 as interp
from . import tb_persist

_MEMO: dict[str, bytes] = {}


def _derived(name: str, make: Callable[[], bytes], valid: Callable[[bytes], bool]) -> bytes:
    data = _MEMO.get(name)
    if data is not None:
        return data
    path = None
    try:
        path = os.path.join(tb_persist.cache_dir(), name)
        with open(path, "rb") as f:
            data = f.read()
        if not valid(data):
            data = None
    except OSError:
        data = None
    if data is None:
        data = make()
        if path is not None:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.{os.getpid()}"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except OSError:
                pass
    _MEMO[name] = data
    return data


def rvc_table() -> bytes:
    return _derived("rvc-table.bin", interp.rvc_table, lambda d: len(d) == 4 * 65536)


class InterpreterCode:
    """The interpreter's bytes for buffer offset at, and its two entries (offsets)."""

    def __init__(self, code: bytes, entry: int, entry_counted: int) -> None:
        self.code = code
        self.entry = entry
        self.entry_counted = entry_counted


def interpreter(at: int, epilogue: int, low: int,
                system: interp.SystemLayout | None = None) -> InterpreterCode:
    layout = "user" if system is None else "-".join(str(v) for v in vars(system).values())
    name = f"interp-{at}-{epilogue}-{low}-{layout}-{interp.TIER_UP}.bin"

    def make() -> bytes:
        i = interp.Interpreter(at, epilogue, low, system)
        return struct.pack("<II", i.entry, i.entry_counted) + i.code

    data = _derived(name, make, lambda d: len(d) > 8)
    entry, counted = struct.unpack_from("<II", data)
    return InterpreterCode(data[8:], entry, counted)
