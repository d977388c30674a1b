"""A persistent translation cache: native blocks kept across runs (user and system mode).

Translating guest code in Python costs tens of microseconds per instruction, which is
most of the run time of a short program (glibc's start-up alone is thousands of
instructions). Generated code is relocatable (codegen.relocate), so the blocks of one
run can be placed again in the next, as compilers keep object files.

A block is reused only when the guest bytes it was translated from are the same
(its pc, its length and a BLAKE2 digest of the bytes match), the pages are still
executable, and the translator and backend are the same code (a fingerprint of their
source files is part of the cache's path). Anything else is translated afresh.

One file per file the code comes from in user mode (the executable, ld.so, each
library: PersistentSet), one per boot configuration in system mode, named by path,
size and mtime, under ``$XDG_CACHE_HOME/pyqemu/tb/<fingerprint>/``; written atomically
at exit. Disable with ``-accel tcg,tb-cache=off`` or ``PYQEMU_TB_CACHE=off``.
"""

from __future__ import annotations

import os

try:  # BLAKE2 without hashlib, which loads OpenSSL (start-up time counts here)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other Python builds
    from hashlib import blake2b

TYPE_CHECKING = False  # (the typing module costs start-up time)
if TYPE_CHECKING:
    from ...tcg.backends.x86_64 import codegen
# pickle and the x86-64 backend are imported where used: the Python backend's cache
# (tb_persist_python) shares this module's helpers and must not pay for them.

_FORMAT = 2  # entries with packed relocations (codegen.pack_relocs)
# What native translations depend on: the frontend, the IR and optimizer, the x86-64
# backend and the runners that lay out state and bind helpers (not the Python backend:
# its changes need not throw native caches away).
_SOURCES = ("tcg/ir.py", "tcg/optimize.py", "tcg/backends/x86_64", "target/riscv",
            "accel/tcg/native_user.py", "accel/tcg/native_system.py",
            "accel/tcg/native_tlb.py",
            "accel/tcg/softmmu.py", "accel/tcg/system_exits.py", "accel/tcg/tb_persist.py",
            "accel/tcg/interp_assets.py",
            "linux_user/guest_memory.py")


_FINGERPRINT: list[str] = []


def fingerprint() -> str:
    return _fingerprint()


def _fingerprint() -> str:
    """Identifies the translator and backend code that produced a cache (computed once
    per process: it stats every source file)."""
    if _FINGERPRINT:
        return _FINGERPRINT[0]
    _FINGERPRINT.append(_compute_fingerprint())
    return _FINGERPRINT[0]


def _compute_fingerprint() -> str:
    return source_fingerprint(_SOURCES, str(_FORMAT))


def source_fingerprint(sources: tuple[str, ...], salt: str) -> str:
    """A digest of the identities (path, size, mtime) of the package's source files
    under the given relative paths (files or directories), and of salt."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    h = blake2b(digest_size=12)
    h.update(salt.encode())
    for rel in sources:
        p = os.path.join(root, rel)
        if os.path.isdir(p):
            files = sorted(os.path.join(d, f) for d, _, names in os.walk(p)
                           for f in names if f.endswith(".py"))
        else:
            files = [p]
        for f in files:
            st = os.stat(f)
            h.update(f"{os.path.relpath(f, root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


KEEP_VERSIONS = 3  # caches of other pyqemu versions kept beside the current one
_pruned = False


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(base, "pyqemu", "tb")
    current = os.path.join(root, _fingerprint())
    global _pruned
    if not _pruned:
        _pruned = True
        prune_versions(root, current)
    return current


def prune_versions(root: str, current: str) -> None:
    """Every change to the translator makes a new cache directory: keep the few most
    recently used others (another installed version may still run) and drop the rest."""
    try:
        with os.scandir(root) as it:
            dirs = [e.path for e in it if e.is_dir() and e.path != current]
        others = sorted(dirs, key=os.path.getmtime, reverse=True)
    except OSError:
        return
    if len(others) > KEEP_VERSIONS:
        import shutil  # only then: it imports the compression modules (start-up time)

        for d in others[KEEP_VERSIONS:]:
            shutil.rmtree(d, ignore_errors=True)


def enabled(opt: str | None = None) -> bool:
    value = opt if opt is not None else os.environ.get("PYQEMU_TB_CACHE", "on")
    return value.lower() not in ("off", "0", "no", "false")


_RESOLVED: dict[str, object] = {}


def resolve_helper(name: str):
    """The Helper object a relocation names (helpers are module-level singletons)."""
    h = _RESOLVED.get(name)
    if h is None:
        h = _RESOLVED[name] = _find_helper(name)
    return h


def _find_helper(name: str):
    from ...target.riscv import fpu, helpers, trans_priv, trans_rvf
    from . import native_system

    for h in (helpers.CSR_ACCESS, helpers.ORC_B, trans_rvf.CHECK_FRM, *helpers.DIV.values(),
              trans_priv.CSR_SYS, native_system.SYS_LOAD, native_system.SYS_STORE):
        if h.name == name:
            return h
    if not hasattr(fpu, name):
        raise KeyError(name)
    return trans_rvf._helper(name)  # FP helpers are named after fpu's functions


def digest(data: bytes) -> bytes:
    return blake2b(data, digest_size=16).digest()


class Entry:
    """A kept block ready to be placed: ``code(at, tb_id, helper_address)`` relocates
    it. Making one raises KeyError when it calls a helper this version does not have."""

    __slots__ = ("end", "n_insns", "size", "jump_slots", "targets", "_code", "_rel",
                 "_exits", "_helpers")

    def __init__(self, raw: tuple) -> None:
        (self.end, _, self.n_insns, self._code, self._rel, self._exits, helpers,
         self.jump_slots, self.targets) = raw
        self._helpers = [(off, resolve_helper(name), n) for off, name, n in helpers]
        self.size = len(self._code)

    def code(self, at: int, tb_id: int, helper_address) -> bytearray:
        from ...tcg.backends.x86_64 import codegen

        return codegen.relocate_packed(self._code, self._rel, self._exits, self._helpers,
                                       at, tb_id, helper_address)


class PersistentBlocks:
    """key -> [(end, digest, n_insns, code, rel32, exits, helpers, jump_slots, targets)]
    of one program (user mode: key = pc; system mode: key = (virtual pc, physical pc,
    TB flags)); the relocations are packed (codegen.pack_relocs).

    Relocations naming helpers keep the helper's name; ``resolve_helper(name)`` gives
    the Helper object back when a block is placed.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self.blocks: dict[int, list[tuple]] = {}
        self.added = 0
        import pickle

        try:
            with open(path, "rb") as f:
                data = pickle.load(f)
            if isinstance(data, dict) and data.get("format") == _FORMAT:
                self.blocks = data["blocks"]
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, KeyError, TypeError,
                AttributeError):
            self.blocks = {}  # missing or damaged: start afresh

    @classmethod
    def for_files(cls, *paths: str | None) -> PersistentBlocks:
        """The cache of a program (user mode) or a boot configuration (system mode:
        a board label, firmware, kernel), named after the files' identities."""
        ident = []
        for p in paths:
            if p and os.path.isfile(p):
                st = os.stat(p)
                ident.append(f"{os.path.realpath(p)}:{st.st_size}:{st.st_mtime_ns}")
            else:
                ident.append(str(p))  # a label, or a file that is not there (None)
        key = blake2b("|".join(ident).encode(), digest_size=12).hexdigest()
        return cls(os.path.join(cache_dir(), f"{key}.tbs"))

    def find(self, key, read) -> Entry | None:
        """A block for key whose guest bytes (read(end) -> bytes) are still the same."""
        for raw in self.blocks.get(key, ()):
            end, dg = raw[0], raw[1]
            try:
                data = read(end)
            except Exception:  # bytes no longer readable: not this one
                continue
            if data is not None and digest(data) == dg:
                try:
                    return Entry(raw)
                except (KeyError, AttributeError):
                    return None  # a helper this version no longer has
        return None

    def add(self, key, end: int, data: bytes, n_insns: int, blk: codegen.NativeBlock) -> None:
        from ...tcg.backends.x86_64 import codegen

        entry = (end, digest(data), n_insns, blk.code, *codegen.pack_relocs(blk.relocs),
                 dict(blk.jump_slots), dict(blk.targets))
        lst = self.blocks.setdefault(key, [])
        lst[:] = [e for e in lst if e[0] != end] + [entry]
        self.added += 1

    def save(self) -> None:
        """Write the file atomically (another process may be writing it too).

        A run that added only a few blocks to a large cache does not rewrite it: those
        are mostly blocks that differ from run to run (a Linux guest's processes are
        placed at random addresses), and rewriting a boot's 20 MB costs more than
        translating them again; it also keeps such a cache from growing run after run.
        """
        if self.added <= len(self.blocks) // 50:
            return
        try:
            import pickle
            import tempfile

            parent = os.path.dirname(self.path)
            os.makedirs(parent, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=parent, prefix=".tbs-")
            with os.fdopen(fd, "wb") as f:
                pickle.dump({"format": _FORMAT, "blocks": self.blocks}, f,
                            protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
            self.added = 0
        except OSError:
            pass  # a cache that cannot be written is only a slower next run


class PersistentSet:
    """The caches a user-mode process uses: one per file its code comes from (the
    executable, the ELF interpreter, each shared library; code in no file belongs to
    the executable's). A library's blocks, translated while one program ran, then serve
    every program that maps that library at the same address, which ld.so and libc are
    for programs linking nothing else: a dynamically linked program run for the first
    time translates only its own code. Blocks are still checked against the guest
    bytes, so a library mapped elsewhere or changed on disk only misses.

    ``where(pc)`` names the file mapped at pc (None: anonymous memory).
    """

    def __init__(self, exe: str, where) -> None:
        self.exe = exe
        self.where = where
        self.caches: dict[str, PersistentBlocks] = {}  # by the name the file was seen by
        self.files: dict[str, PersistentBlocks] = {}  # by cache file: one object each

    def for_pc(self, pc: int) -> PersistentBlocks:
        path = self.where(pc) or self.exe
        cache = self.caches.get(path)
        if cache is None:
            # The executable's name as typed may be relative where its mapping's is
            # absolute: both must reach one object, or the last to save drops the
            # other's blocks.
            blocks = PersistentBlocks.for_files(path)
            cache = self.caches[path] = self.files.setdefault(str(blocks.path), blocks)
        return cache

    def find(self, pc: int, read) -> Entry | None:
        return self.for_pc(pc).find(pc, read)

    def add(self, pc: int, end: int, data: bytes, n_insns: int,
            blk: codegen.NativeBlock) -> None:
        self.for_pc(pc).add(pc, end, data, n_insns, blk)

    def save(self) -> None:
        for cache in list(self.files.values()):
            cache.save()
