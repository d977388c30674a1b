"""What the interpreter tier needs at start-up, built once and kept on disk.

The compressed-instruction expansion table (256 KiB, 0.2 s to build from the decoder)
and the interpreter's machine code (about 8 ms to assemble) depend only on pyqemu's own
source, like bytecode: they are kept in the package's ``__pycache__`` directory, named
with the fingerprint of the translator's source (tb_persist), so an edit to the decoder
or the interpreter makes new ones. ``prebuild()`` makes them at install time
(scripts/setup.sh), as the installer compiles the bytecode; where the package directory
is not writable they go to the user's cache, and without either they are built in
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
    paths = _places(name)
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        if valid(data):
            break
        data = None
    if data is None:
        data = make()
        for path in paths:  # the first place that can be written
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.{os.getpid()}"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
                _prune(os.path.dirname(path))
                break
            except OSError:
                continue
    _MEMO[name] = data
    return data


def _places(name: str) -> list[str]:
    """Where a derived file may be: beside the bytecode, then in the user's cache."""
    fp = tb_persist.fingerprint()
    out = [os.path.join(os.path.dirname(os.path.abspath(interp.__file__)), "__pycache__",
                        f"pyqemu-{fp}-{name}")]
    try:
        out.append(os.path.join(tb_persist.cache_dir(), name))
    except OSError:
        pass
    return out


def _prune(directory: str) -> None:
    """Drop the derived files of other source versions (every edit makes new ones)."""
    keep = f"pyqemu-{tb_persist.fingerprint()}-"
    try:
        for f in os.listdir(directory):
            if f.startswith("pyqemu-") and not f.startswith(keep):
                os.unlink(os.path.join(directory, f))
    except OSError:
        pass


def prebuild() -> None:
    """Build the RVC table and both interpreters (user and system mode layouts), as an
    install step: a first run then finds them."""
    rvc_table()
    from ...linux_user.guest_memory import GuestMemory
    from . import native_system, native_user

    native_system.NativeSystemCode()

    class _Nothing:
        exe_path = None

    mem = GuestMemory()
    native_user.NativeUserEngine(mem, lambda pc: False, _Nothing(), _Nothing(),
                                 tb_cache="off")


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
    name = f"interp-{at}-{epilogue}-{low}-{layout}-{interp.tier_up(system is not None)}.bin"

    def make() -> bytes:
        i = interp.Interpreter(at, epilogue, low, system)
        return struct.pack("<II", i.entry, i.entry_counted) + i.code

    data = _derived(name, make, lambda d: len(d) > 8)
    entry, counted = struct.unpack_from("<II", data)
    return InterpreterCode(data[8:], entry, counted)


class TierCounters:
    """The interpreter's tier-up counters (16 bits each, indexed by pc) as the loop sees
    them. A warm run arms the counters of the blocks an earlier run translated: their
    next visit wraps the counter and asks for the block, which the loop then places
    from the persistent cache instead of interpreting it up to the tier-up. Counters
    are shared by pcs with the same index: a wrap of an armed counter at a pc with
    nothing cached only resets it."""

    def __init__(self, cb, system: bool) -> None:
        from ...tcg.backends.x86_64 import codebuf as CB

        base = CB.INTERP_COUNTER_TABLE
        self.q16 = cb.rw[base:base + 2 * CB.INTERP_COUNTERS].cast("H")
        self.mask = CB.INTERP_COUNTERS - 1
        self.armed_value = 0x10000 - interp.counter_increment(system)
        self.armed: set[int] = set()

    def arm(self, pcs) -> None:
        q16, mask, value, armed = self.q16, self.mask, self.armed_value, self.armed
        for pc in pcs:
            slot = (pc >> 1) & mask
            q16[slot] = value
            armed.add(slot)

    def was_armed(self, pc: int) -> bool:
        """Did pc's tier-up come from an armed counter? (It is disarmed now.)"""
        slot = (pc >> 1) & self.mask
        if slot in self.armed:
            self.armed.discard(slot)
            return True
        return False


class Trampolines:
    """Small pieces of code in the code buffer that enter the interpreter at one guest
    pc: what a block's direct exit is patched to while its successor is not translated,
    and (counted: entering past the interpreter's jump-cache lookup) what a jump-cache
    entry leads to for a cold target of translated code's lookup. Flushed with the
    buffer's blocks."""

    def __init__(self, cb, entry: int, entry_counted: int) -> None:
        self.cb = cb
        self.entry = entry  # host addresses of the interpreter's entries
        self.entry_counted = entry_counted
        self.at: dict[tuple[int, bool], int] = {}  # (pc, counted) -> buffer offset

    def clear(self) -> None:
        self.at.clear()

    def get(self, target: int, counted: bool) -> int:
        """The buffer offset of the trampoline to target; 0 if the buffer is full (the
        next block's placement flushes it)."""
        off = self.at.get((target, counted))
        if off is None:
            cb = self.cb
            at = (cb.top + 15) & ~15
            entry = self.entry_counted if counted else self.entry
            code = interp.trampoline(target, at, entry - cb.exec_base)
            if at + len(code) > cb.size:
                return 0
            cb.place(code, at)
            cb.top = at + len(code)
            off = self.at[(target, counted)] = at
        return off

    def patch_exit(self, slot_at: int, target: int) -> None:
        """Point the rel32 at buffer offset slot_at (a block's direct exit) to target's
        trampoline."""
        tramp = self.get(target, False)
        if tramp:
            self.cb.rw[slot_at:slot_at + 4] = (tramp - (slot_at + 4)).to_bytes(
                4, "little", signed=True)
