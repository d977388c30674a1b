"""Cache of qcow2 L2 tables (qcow2.txt "Cluster mapping").

Tables are kept decoded (host-order array('Q'); extended L2 tables hold entry and
subcluster bitmap interleaved).  Dirty tables are written back only through the
image's ordered metadata flush, because an L2 table may only reach the disk after
the refcount blocks of the clusters it newly references.
"""

from __future__ import annotations

import sys
from array import array
from collections import OrderedDict
from collections.abc import Callable

_SWAP = sys.byteorder == "little"


def decode_table(buf: bytes) -> array:
    arr = array("Q")
    arr.frombytes(buf)
    if _SWAP:
        arr.byteswap()
    return arr


def encode_table(arr: array) -> bytes:
    if not _SWAP:
        return arr.tobytes()
    tmp = array("Q", arr)
    tmp.byteswap()
    return tmp.tobytes()


class L2Cache:
    """LRU cache of L2 tables keyed by host offset."""

    def __init__(self, load: Callable[[int], bytes], store: Callable[[int, bytes], None],
                 flush_all: Callable[[], None], capacity: int = 512) -> None:
        self._load = load
        self._store = store
        self._flush_all = flush_all
        self.capacity = capacity
        self.tables: OrderedDict[int, array] = OrderedDict()
        self.dirty: set[int] = set()

    def get(self, offset: int) -> array:
        tbl = self.tables.get(offset)
        if tbl is not None:
            return tbl
        tbl = decode_table(self._load(offset))
        self._insert(offset, tbl)
        return tbl

    def put_new(self, offset: int, tbl: array) -> None:
        self._insert(offset, tbl)
        self.dirty.add(offset)

    def mark_dirty(self, offset: int) -> None:
        self.dirty.add(offset)

    def drop(self, offset: int) -> None:
        self.tables.pop(offset, None)
        self.dirty.discard(offset)

    def _insert(self, offset: int, tbl: array) -> None:
        if len(self.tables) >= self.capacity:
            if self.dirty:
                # ordering: evicting a dirty table needs its refcounts on disk first
                self._flush_all()
            while len(self.tables) >= self.capacity:
                self.tables.popitem(last=False)
        self.tables[offset] = tbl

    def write_dirty(self) -> bool:
        wrote = bool(self.dirty)
        for off in sorted(self.dirty):
            self._store(off, encode_table(self.tables[off]))
        self.dirty.clear()
        return wrote

    def clear(self) -> None:
        self.tables.clear()
        self.dirty.clear()
