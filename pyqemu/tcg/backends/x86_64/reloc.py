"""Relocations of a block's machine code: the fields that depend on where the code is
placed and what it is linked with (codegen.BlockCodegen records them). Every placement
applies them, so a block's code can be kept and placed again elsewhere (the
persistent translation cache does).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .regs import EXIT_SHIFT

RELOC_REL32 = 0  # arg (buffer offset, bytes from the field to the instruction's end)
RELOC_EXIT = 1  # imm32 = (tb_id << 8) | arg
RELOC_HELPER = 2  # imm64 = address of helper arg[0] called with arg[1] arguments


class NativeBlock:
    """A block's code with jump_slots (exit n -> rel32 offset in code), targets (exit n
    -> guest pc) and relocs ((kind, offset in code, arg))."""

    __slots__ = ("code", "jump_slots", "targets", "relocs")

    def __init__(self, code: bytes, jump_slots: dict[int, int] | None = None,
                 targets: dict[int, int] | None = None, relocs: list[tuple] | None = None):
        self.code = code
        self.jump_slots = {} if jump_slots is None else jump_slots
        self.targets = {} if targets is None else targets
        self.relocs = [] if relocs is None else relocs


def relocate(code: bytes, relocs: list[tuple], at: int, tb_id: int,
             helper_address: Callable) -> bytearray:
    """The block's code for buffer offset ``at`` and block number ``tb_id``."""
    out = bytearray(code)
    for kind, off, arg in relocs:
        if kind == RELOC_REL32:
            target, to_end = arg
            struct.pack_into("<i", out, off, target - (at + off + to_end))
        elif kind == RELOC_EXIT:
            struct.pack_into("<I", out, off, (tb_id << EXIT_SHIFT) | arg)
        else:
            struct.pack_into("<Q", out, off, helper_address(*arg))
    return out


def pack_relocs(relocs: list[tuple]) -> tuple[bytes, bytes, tuple]:
    """The compact form the persistent cache keeps (a few objects per block instead of
    one tuple per field, which is what loading a cache of 20k blocks costs): REL32
    fields as (offset, target - offset - to_end) pairs, EXIT fields as (offset, kind)
    pairs, helper fields as (offset, helper name, number of arguments)."""
    rel = bytearray()
    exits = bytearray()
    helpers = []
    for kind, off, arg in relocs:
        if kind == RELOC_REL32:
            rel += struct.pack("<Iq", off, arg[0] - off - arg[1])
        elif kind == RELOC_EXIT:
            exits += struct.pack("<II", off, arg)
        else:
            helpers.append((off, arg[0].name, arg[1]))
    return bytes(rel), bytes(exits), tuple(helpers)


def relocate_packed(code: bytes, rel: bytes, exits: bytes, helpers: list[tuple], at: int,
                    tb_id: int, helper_address: Callable) -> bytearray:
    """``relocate`` for packed relocations (helpers given as Helper objects)."""
    out = bytearray(code)
    pack_into = struct.pack_into
    for off, base in struct.iter_unpack("<Iq", rel):
        pack_into("<i", out, off, base - at)
    tag = tb_id << EXIT_SHIFT
    for off, kind in struct.iter_unpack("<II", exits):
        pack_into("<I", out, off, tag | kind)
    for off, helper, n_args in helpers:
        pack_into("<Q", out, off, helper_address(helper, n_args))
    return out
