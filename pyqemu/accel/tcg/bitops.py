"""Bit operations the TCG IR names as helpers (rotl, rotr, ctz, bswap64), shared by
the user-mode and system-mode runtimes of the Python backend; kept alone so that a
system-mode run on native code does not import the user-mode engine (start-up time)."""

from __future__ import annotations

MASK64 = 0xFFFFFFFFFFFFFFFF


def _rotl(a: int, b: int) -> int:
    b &= 63
    return ((a << b) | (a >> (64 - b))) & MASK64


def _rotr(a: int, b: int) -> int:
    b &= 63
    return ((a >> b) | (a << (64 - b))) & MASK64


def _ctz(a: int) -> int:
    return 64 if a == 0 else (a & -a).bit_length() - 1


def _bswap64(a: int) -> int:
    return int.from_bytes(a.to_bytes(8, "little"), "big")
