"""Physical memory as a debugger sees it: RAM and ROM only, never device registers
(reading one may have side effects), and ROM is writable, as gdb needs it to be for
software breakpoints in firmware."""

from __future__ import annotations


def _pieces(phys, addr: int, n: int):
    """(section, offset in its RAM block, length) up to the first byte that is not
    RAM or ROM."""
    cur, end = addr, addr + n
    while cur < end:
        s = phys.lookup(cur)
        if s is None or s.ram is None:
            return
        take = min(end, s.base + s.size) - cur
        yield s, s.ram_offset + cur - s.base, take
        cur += take


def debug_read(phys, addr: int, n: int) -> bytes:
    """The bytes at [addr, addr + n) up to the first one that is not memory."""
    return b"".join(bytes(s.ram.view[o:o + k]) for s, o, k in _pieces(phys, addr, n))


def debug_write(phys, addr: int, data: bytes) -> int:
    """Write what is memory (ROM included); returns how many bytes were written."""
    pos = 0
    for s, o, k in _pieces(phys, addr, len(data)):
        s.ram.view[o:o + k] = data[pos:pos + k]
        pos += k
    return pos
