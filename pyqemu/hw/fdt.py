"""Flattened device tree (DTB) building, writing and reading.

Written from the Devicetree Specification v0.4, chapter 5 "Flattened Devicetree
(DTB) Format": a 40-byte big-endian header, the memory reservation block (pairs of
u64 ending with 0,0), the structure block (FDT_BEGIN_NODE name, FDT_PROP len nameoff
value, FDT_END_NODE, ..., FDT_END — every token 4-byte aligned) and the strings block
holding property names once each.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE = 1
FDT_END_NODE = 2
FDT_PROP = 3
FDT_NOP = 4
FDT_END = 9
FDT_VERSION = 17
FDT_LAST_COMP_VERSION = 16
HEADER = struct.Struct(">10I")


class FdtError(Exception):
    """A malformed device tree blob (user-supplied -dtb)."""


def cells(*values: int) -> bytes:
    return b"".join(struct.pack(">I", v & 0xFFFF_FFFF) for v in values)


def u64(*values: int) -> bytes:
    return b"".join(struct.pack(">Q", v) for v in values)


def string(s: str) -> bytes:
    return s.encode() + b"\0"


def strings(*items: str) -> bytes:
    return b"".join(string(s) for s in items)


class FdtNode:
    """One node: a name ("cpu@0"), ordered properties (raw bytes) and children."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.props: dict[str, bytes] = {}
        self.children: list[FdtNode] = []

    # --- building -----------------------------------------------------------------------
    def child(self, name: str) -> FdtNode:
        """The child called name, created at the end if missing."""
        for c in self.children:
            if c.name == name:
                return c
        node = FdtNode(name)
        self.children.append(node)
        return node

    def set(self, name: str, value: bytes | str | int | Iterable[int] | None = None) -> FdtNode:
        """Set a property: bytes as is, str as a string, int/ints as 32-bit cells."""
        if value is None:
            data = b""
        elif isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            data = string(value)
        elif isinstance(value, int):
            data = cells(value)
        else:
            data = cells(*value)
        self.props[name] = data
        return self

    # --- queries ------------------------------------------------------------------------
    def find(self, path: str) -> FdtNode | None:
        """Node at path; a component without "@unit" matches a unique node of that base name."""
        node: FdtNode | None = self
        for part in [p for p in path.split("/") if p]:
            exact = [c for c in node.children if c.name == part]
            if not exact and "@" not in part:
                exact = [c for c in node.children if c.name.split("@")[0] == part]
            if len(exact) != 1:
                return None
            node = exact[0]
        return node

    def get_cells(self, name: str) -> list[int]:
        data = self.props[name]
        return [v for (v,) in struct.iter_unpack(">I", data)]

    def get_strings(self, name: str) -> list[str]:
        return self.props[name].rstrip(b"\0").decode(errors="replace").split("\0")

    def walk(self, path: str = "") -> Iterable[tuple[str, FdtNode]]:
        here = path + "/" + self.name if path or self.name else "/"
        here = here.replace("//", "/")
        yield here, self
        for c in self.children:
            yield from c.walk(here if here != "/" else "")


def to_dtb(root: FdtNode, reservations: Iterable[tuple[int, int]] = (),
           boot_cpuid: int = 0) -> bytes:
    """Serialise a tree into a version-17 DTB blob."""
    strtab = bytearray()
    str_offsets: dict[str, int] = {}
    structure = bytearray()

    def name_offset(name: str) -> int:
        if name not in str_offsets:
            str_offsets[name] = len(strtab)
            strtab.extend(name.encode() + b"\0")
        return str_offsets[name]

    def pad4(buf: bytearray) -> None:
        buf.extend(b"\0" * (-len(buf) % 4))

    def emit(node: FdtNode) -> None:
        structure.extend(struct.pack(">I", FDT_BEGIN_NODE))
        structure.extend(node.name.encode() + b"\0")
        pad4(structure)
        for pname, value in node.props.items():
            structure.extend(struct.pack(">III", FDT_PROP, len(value), name_offset(pname)))
            structure.extend(value)
            pad4(structure)
        for c in node.children:
            emit(c)
        structure.extend(struct.pack(">I", FDT_END_NODE))

    emit(root)
    structure.extend(struct.pack(">I", FDT_END))

    rsv = b"".join(struct.pack(">QQ", a, s) for a, s in reservations) + bytes(16)
    off_rsv = 40                          # already 8-byte aligned after the header
    off_struct = off_rsv + len(rsv)
    off_strings = off_struct + len(structure)
    total = off_strings + len(strtab)
    header = HEADER.pack(FDT_MAGIC, total, off_struct, off_strings, off_rsv, FDT_VERSION,
                         FDT_LAST_COMP_VERSION, boot_cpuid, len(strtab), len(structure))
    return header + rsv + bytes(structure) + bytes(strtab)


def from_dtb(blob: bytes) -> FdtNode:
    """Parse a DTB (any version >= 16) into a tree; raises FdtError when malformed."""
    if len(blob) < HEADER.size:
        raise FdtError("device tree blob too short")
    (magic, total, off_struct, off_strings, _off_rsv, version, _last, _boot, size_strings,
     size_struct) = HEADER.unpack_from(blob)
    if magic != FDT_MAGIC:
        raise FdtError("not a device tree blob (bad magic)")
    if total > len(blob) or off_struct + size_struct > total or off_strings + size_strings > total:
        raise FdtError("device tree blob truncated")
    if version < 16:
        raise FdtError(f"unsupported device tree version {version}")
    strtab = blob[off_strings:off_strings + size_strings]
    pos = off_struct
    end = off_struct + size_struct
    stack: list[FdtNode] = []
    root: FdtNode | None = None

    def u32(at: int) -> int:
        if at + 4 > end:
            raise FdtError("device tree structure block truncated")
        return struct.unpack_from(">I", blob, at)[0]

    while True:
        token = u32(pos)
        pos += 4
        if token == FDT_BEGIN_NODE:
            nul = blob.find(b"\0", pos, end)
            if nul < 0:
                raise FdtError("unterminated node name")
            node = FdtNode(blob[pos:nul].decode(errors="replace"))
            pos = (nul + 4) & ~3
            if stack:
                stack[-1].children.append(node)
            elif root is None:
                root = node
            else:
                raise FdtError("more than one root node")
            stack.append(node)
        elif token == FDT_PROP:
            length, nameoff = u32(pos), u32(pos + 4)
            pos += 8
            if pos + length > end or nameoff >= len(strtab) or not stack:
                raise FdtError("bad property")
            nul = strtab.find(b"\0", nameoff)
            name = strtab[nameoff:nul if nul >= 0 else len(strtab)].decode(errors="replace")
            stack[-1].props[name] = bytes(blob[pos:pos + length])
            pos = (pos + length + 3) & ~3
        elif token == FDT_END_NODE:
            if not stack:
                raise FdtError("unbalanced end of node")
            stack.pop()
        elif token == FDT_NOP:
            continue
        elif token == FDT_END:
            break
        else:
            raise FdtError(f"bad structure token {token:#x}")
    if root is None or stack:
        raise FdtError("incomplete device tree")
    return root
