"""The decoder: candidates grouped by opcode and funct3 decode exactly as trying every
encoding of the opcode in order of specificity does, and cached lookups return what
decoding does."""

from __future__ import annotations

import random

from pyqemu.target.riscv import decode as D


def _by_opcode(word: int) -> str | None:
    """The reference: every candidate of the major opcode, most specific first."""
    for mask, match, name, _fmt in D._TABLE.get(word & 0x7F, ()):
        if word & mask == match:
            return name
    return None


def test_funct3_groups_decode_like_the_opcode_table():
    rng = random.Random(5)
    words = [rng.getrandbits(32) | 3 for _ in range(50000)]
    for cands in D._TABLE.values():
        for mask, match, _name, _fmt in cands:
            words += [match | (rng.getrandbits(32) & ~mask & 0xFFFFFFFF) for _ in range(20)]
    for w in words:
        d = D.decode32(w)
        assert (d.name if d else None) == _by_opcode(w), hex(w)


def test_cached_decode_matches_decoding():
    rng = random.Random(6)
    for _ in range(5000):
        w = rng.getrandbits(32)
        key = w & 0xFFFF if w & 3 != 3 else w
        first = D.decode_key(key)
        assert D.decode_key(key) is first
        halves = {0: key & 0xFFFF, 2: key >> 16}
        assert D.decode(halves.__getitem__, 0) is first
