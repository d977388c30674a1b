"""A persistent translation cache for the Python backend (user mode).

A short program's run under the Python backend is mostly start-up: translating the C
library's initialization (tens of microseconds per guest instruction in the frontend
and optimizer), preparing the IR interpreter's programs for the blocks that stay
cold, and generating and compiling the blocks that get hot. What the run made is
kept per program, as the native backend's cache does (tb_persist), and the next run
of the same code takes it instead of making it again:

* a cold block's interpreter program (interp.prepare: plain data naming the folds,
  views and helpers it uses, looked up when it runs);
* a hot block's or a region's compiled code object (marshal), with its tables (guest
  pc of each line, registers written back on a fault, the helpers it calls by name,
  jump targets). Generated code refers to everything else through its namespace
  (memory views, exits, jump slots J, FNS, LOOKUP), which the block cache builds
  afresh when it makes the function (TBCache.instantiate), so nothing in the code
  belongs to the run that compiled it.

A block is reused only when the guest bytes of all the ranges it was made from have
the same BLAKE2 digest, and are still executable; self-modified or rebuilt code
misses and is translated again. The cache's directory is named after a fingerprint
of the sources the blocks depend on and the Python version (marshal's format and
bytecode change between versions). One file per file the code comes from (as
tb_persist.PersistentSet), read the first time a block of that file is looked up,
and written atomically at exit (exit, exit_group, execve) when enough was added.
A file starts with a CRC-32 of its payload: a damaged one is ignored (a changed code
object could crash the interpreter instead of raising; the file is the user's own, so
damage, not forgery, is what the check is for, and CRC-32 costs a quarter of BLAKE2).
Disable with ``-accel tcg,tb-cache=off`` or ``PYQEMU_TB_CACHE=off``.
"""

from __future__ import annotations

import gc
import marshal
import os
import sys
import threading
import zlib
from collections.abc import Callable

from . import tb_persist

_FORMAT = 3  # 2: interpreter programs end with their instruction starts; 3: CRC-32
_MAGIC = b"pyqemu-tbpy\n"
# What a kept block depends on: the frontend, IR and optimizer, the Python backend,
# the block cache and loop that bind its names, and the guest memory layout.
_SOURCES = ("tcg/ir.py", "tcg/optimize.py", "tcg/backends/python", "target/riscv",
            "accel/tcg/tb_cache.py", "accel/tcg/cpu_exec.py", "accel/tcg/bitops.py",
            "accel/tcg/translate_common.py", "accel/tcg/tb_persist_python.py",
            "linux_user/guest_memory.py")

INTERP, COMPILED = 0, 1  # entry kinds
# Entries kept per pc (different bytes at one address: code loaded there in turn).
_MAX_PER_PC = 4

_DIR: list[str] = []


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/pyqemu/tb-python/<fingerprint>`` (other versions pruned)."""
    if _DIR:
        return _DIR[0]
    salt = f"{_FORMAT}:{sys.implementation.cache_tag}:{sys.version}:{marshal.version}"
    fp = tb_persist.source_fingerprint(_SOURCES, salt)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(base, "pyqemu", "tb-python")
    current = os.path.join(root, fp)
    tb_persist.prune_versions(root, current)
    _DIR.append(current)
    return current


_RESOLVED: dict[str, object] = {}


def resolve_helper(name: str):
    """The Helper a kept block calls by name (user mode's helpers are module-level
    singletons; FP helpers are named after fpu's functions)."""
    h = _RESOLVED.get(name)
    if h is None:
        h = _RESOLVED[name] = _find_helper(name)
    return h


def _find_helper(name: str):
    from ...target.riscv import helpers, trans_rvf

    for h in (helpers.CSR_ACCESS, helpers.ORC_B, trans_rvf.CHECK_FRM, *helpers.DIV.values()):
        if h.name == name:
            return h
    from ...target.riscv import fpu

    if not hasattr(fpu, name):
        raise KeyError(name)
    return trans_rvf._helper(name)


class ProgramBlocks:
    """The kept blocks of one file: pc -> [entry], each entry a tuple
    (ranges, digest, n_insns, end, targets, kind, payload), where payload is
    (program, initial slots, helper names) for INTERP and (marshalled code, line_pc,
    writeback, helper names, line_fo, region members) for COMPILED."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.blocks: dict[int, list[tuple]] | None = None  # read on first use
        self.added = 0

    def _load(self) -> dict[int, list[tuple]]:
        blocks: dict[int, list[tuple]] = {}
        collecting = gc.isenabled()
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
            head = len(_MAGIC) + 4
            payload = memoryview(raw)[head:]
            if raw[:len(_MAGIC)] == _MAGIC and \
                    zlib.crc32(payload).to_bytes(4, "little") == raw[len(_MAGIC):head]:
                # Tens of thousands of tuples that live for the run: the collector's
                # passes while they are made would find nothing (half the load's time).
                gc.disable()
                data = marshal.loads(payload)
                if isinstance(data, dict) and data.get("format") == _FORMAT:
                    blocks = data["blocks"]
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            blocks = {}  # missing or damaged: start afresh
        finally:
            if collecting:
                gc.freeze()  # (the loaded blocks stay out of its generations)
                gc.enable()
        self.blocks = blocks
        return blocks

    def find(self, pc: int, read: Callable[[int, int], bytes | None]) -> tuple | None:
        """The entry for pc whose guest bytes (read(start, end)) are still the same; a
        compiled one rather than an interpreter program."""
        blocks = self.blocks if self.blocks is not None else self._load()
        found = None
        for e in blocks.get(pc, ()):
            if found is not None and found[5] >= e[5]:
                continue
            data = b"".join(read(s, t) or b"" for s, t in e[0])
            if tb_persist.digest(data) == e[1]:
                found = e
        return found

    def add(self, pc: int, entry: tuple) -> None:
        blocks = self.blocks if self.blocks is not None else self._load()
        lst = blocks.setdefault(pc, [])
        # The same code made again (a flush, or now compiled) replaces its old entry.
        lst[:] = [e for e in lst if (e[1], e[5]) != (entry[1], entry[5])][-(_MAX_PER_PC - 1):]
        lst.append(entry)
        self.added += 1

    def save(self) -> None:
        """Write the file atomically, unless this run added only a few blocks (they
        are then mostly blocks that differ from run to run)."""
        if self.blocks is None or self.added <= len(self.blocks) // 50:
            return
        try:
            payload = marshal.dumps({"format": _FORMAT, "blocks": self.blocks})
            parent = os.path.dirname(self.path)
            os.makedirs(parent, exist_ok=True)
            # A name of this process and thread (fork children and guest threads may
            # save at once); not tempfile, whose import costs more than the write.
            tmp = os.path.join(parent, f".tbpy-{os.getpid()}-{threading.get_ident()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + zlib.crc32(payload).to_bytes(4, "little") + payload)
            os.replace(tmp, self.path)
            self.added = 0
        except (OSError, ValueError):
            pass  # a cache that cannot be written is only a slower next run


class ProgramCache:
    """The kept blocks of one guest process, one ProgramBlocks per file its code comes
    from (where(pc) names the file mapped at pc; None: the executable's)."""

    def __init__(self, exe: str, where: Callable[[int], str | None],
                 read: Callable[[int, int], bytes | None]) -> None:
        self.exe = exe
        self.where = where
        self.read = read  # (start, end) -> guest bytes, or None if not executable
        self.files: dict[str, ProgramBlocks] = {}  # by cache file name
        self.by_path: dict[str, ProgramBlocks] = {}

    def _file(self, pc: int) -> ProgramBlocks:
        path = self.where(pc) or self.exe
        blocks = self.by_path.get(path)
        if blocks is None:
            ident = path
            if os.path.isfile(path):
                st = os.stat(path)
                ident = f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"
            # One object per cache file, whatever path names it (the command line's
            # and a mapping's may differ): two would each save it, the last one winning.
            key = tb_persist.blake2b(ident.encode(), digest_size=12).hexdigest()
            blocks = self.files.get(key)
            if blocks is None:
                blocks = self.files[key] = ProgramBlocks(
                    os.path.join(cache_dir(), f"{key}.tbpy"))
            self.by_path[path] = blocks
        return blocks

    def find(self, pc: int) -> tuple | None:
        return self._file(pc).find(pc, self.read)

    def _digest(self, ranges: list[tuple[int, int]]) -> bytes | None:
        parts = []
        for s, t in ranges:
            data = self.read(s, t)
            if data is None:
                return None
            parts.append(data)
        return tb_persist.digest(b"".join(parts))

    def add_interp(self, pc: int, end: int, n_insns: int, targets: list[int],
                   prog: list[tuple], init: list[int], helpers: dict,
                   atomic: bool = False) -> None:
        """A cold block's interpreter program (interp.prepare's result); atomic: it holds
        an AMO or SC (interpreted only while the process has one thread)."""
        dg = self._digest([(pc, end)])
        if dg is None:
            return
        self._file(pc).add(pc, (((pc, end),), dg, n_insns, end, tuple(targets), INTERP,
                                (prog, init, tuple(helpers), bool(atomic))))

    def add_compiled(self, tb, members: list[int]) -> None:
        """A compiled block or region (tb.template: the BlockCode it was made from)."""
        t = tb.template
        names = []
        for key, func in t.helpers.items():
            try:
                if resolve_helper(key[2:]).func is not func:
                    return  # a helper bound to this run: not kept
            except KeyError:
                return
            names.append(key[2:])
        ranges = tuple(tb.ranges) if tb.ranges else ((tb.pc, tb.end),)
        dg = self._digest(list(ranges))
        if dg is None:
            return
        payload = (marshal.dumps(t.code), t.line_pc, t.writeback, tuple(names), t.line_fo,
                   tuple(members))
        self._file(tb.pc).add(tb.pc, (ranges, dg, t.n_insns, t.end, tuple(t.targets),
                                      COMPILED, payload))

    def save(self) -> None:
        # (A copy: writing releases the GIL, and another guest thread may meanwhile
        # look up a block of a file not seen before.)
        for blocks in list(self.files.values()):
            blocks.save()
