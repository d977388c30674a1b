"""AddressSpace: the guest physical (or port I/O) map of RAM blocks and MMIO regions.

DESIGN.md section 3 "Memory".  A map is a sorted, non-overlapping list of
:class:`Section`s, each either RAM (a :class:`RamBlock`, host memory reached without a
copy) or MMIO (any object with ``read(offset, size) -> int`` and
``write(offset, size, value)``).  Two kinds of access go through it:

* CPU-style accesses (:meth:`AddressSpace.load` / :meth:`AddressSpace.store`) dispatch to
  RAM or to the device; an address nobody claims raises :class:`GuestMemoryError`,
  which the CPU turns into an access fault (RISC-V) — the port-I/O space instead
  reads all-ones and drops writes, as an x86 bus does.
* Device DMA (:meth:`AddressSpace.read` / :meth:`AddressSpace.write` /
  :meth:`AddressSpace.ram_view`) reaches RAM only and is bounds-checked: a
  guest-supplied address or length that leaves guest RAM raises
  :class:`GuestMemoryError` before any host byte is touched.

Listeners (KVM, a softmmu TLB) learn about RAM mapped and unmapped, so that
``KVM_SET_USER_MEMORY_REGION`` or a TLB flush can follow the map.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pyqemu.memory.ram import RamBlock


class GuestMemoryError(Exception):
    """A guest physical access outside RAM (DMA) or outside every region (CPU)."""

    def __init__(self, addr: int, size: int, is_write: bool, why: str = "") -> None:
        self.addr = addr
        self.size = size
        self.is_write = is_write
        kind = "write" if is_write else "read"
        super().__init__(f"guest {kind} of {size} bytes at {addr:#x} "
                         f"{why or 'is outside guest memory'}")


class MmioRegion(Protocol):
    """What a device exposes on a bus: offset is relative to the region's base.

    ``size`` is the access width in bytes (1, 2, 4 or 8).  Values are little-endian
    integers of that width.  A device must never raise for a guest access: an offset
    or width it does not implement reads as 0 and ignores writes (or whatever its
    datasheet says).
    """

    def read(self, offset: int, size: int) -> int: ...

    def write(self, offset: int, size: int, value: int) -> None: ...


@dataclass(eq=False)
class Section:
    """One mapped range: [base, base + size) of the address space."""

    base: int
    size: int
    name: str
    ram: RamBlock | None = None
    mmio: MmioRegion | None = None
    ram_offset: int = 0           # where in ``ram`` this section starts

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def is_ram(self) -> bool:
        return self.ram is not None

    @property
    def readonly(self) -> bool:
        return self.ram is not None and self.ram.readonly

    def host_addr(self, addr: int) -> int:
        """Host virtual address of guest address ``addr`` inside this RAM section."""
        assert self.ram is not None
        return self.ram.host_addr + self.ram_offset + (addr - self.base)


MASKS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF, 8: 0xFFFF_FFFF_FFFF_FFFF}


class AddressSpace:
    """A guest physical address space (``size`` bytes of addresses, 2**64 by default)."""

    # What an unclaimed CPU access does: raise (RISC-V access fault) or float the bus.
    unassigned_raises = True

    def __init__(self, name: str = "memory", size: int = 1 << 64) -> None:
        self.name = name
        self.size = size
        self.sections: list[Section] = []
        self._starts: list[int] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str, Section], None]] = []
        # Held around every MMIO callback when set: the machine puts its BQL here, so a
        # vCPU thread entering a device is serialised with the main loop (DESIGN.md 1).
        self.mmio_lock: threading.RLock | None = None
        # Told (address, length) of every write into RAM that does not come from a
        # CPU's TLB fast path: device DMA, loaders, slow-path stores. The TCG
        # accelerator watches pages holding translated code this way.
        self.ram_write_hooks: list[Callable[[int, int], None]] = []

    # --- building the map -------------------------------------------------------
    def add_listener(self, callback: Callable[[str, Section], None]) -> None:
        """callback(event, section) with event "add" or "del"; existing RAM is replayed."""
        self._listeners.append(callback)
        for s in self.sections:
            callback("add", s)

    def add_ram(self, base: int, size: int, name: str, readonly: bool = False) -> RamBlock:
        """Allocate a fresh RAM (or ROM) block and map it at base."""
        block = RamBlock(name, size, readonly)
        self.map_ram(base, block)
        return block

    def map_ram(self, base: int, block: RamBlock, offset: int = 0, size: int | None = None,
                name: str | None = None) -> Section:
        """Map [offset, offset+size) of an existing block at base (aliases share bytes)."""
        size = block.size - offset if size is None else size
        if offset < 0 or size <= 0 or offset + size > block.size:
            raise ValueError(f"{block.name}: bad alias range {offset:#x}+{size:#x}")
        return self._insert(Section(base, size, name or block.name, ram=block, ram_offset=offset))

    def map_mmio(self, base: int, size: int, region: MmioRegion, name: str) -> Section:
        return self._insert(Section(base, size, name, mmio=region))

    def unmap(self, section: Section) -> None:
        with self._lock:
            i = self.sections.index(section)
            del self.sections[i]
            self._starts = [s.base for s in self.sections]
        for cb in self._listeners:
            cb("del", section)

    def _insert(self, sec: Section) -> Section:
        if sec.base < 0 or sec.size <= 0 or sec.end > self.size:
            raise ValueError(f"{self.name}: region {sec.name} [{sec.base:#x}, {sec.end:#x}) "
                             f"is outside the address space")
        with self._lock:
            i = bisect.bisect_right(self._starts, sec.base)
            prev = self.sections[i - 1] if i else None
            nxt = self.sections[i] if i < len(self.sections) else None
            for other in (prev, nxt):
                if other is not None and other.base < sec.end and sec.base < other.end:
                    raise ValueError(f"{self.name}: region {sec.name} [{sec.base:#x}, "
                                     f"{sec.end:#x}) overlaps {other.name} "
                                     f"[{other.base:#x}, {other.end:#x})")
            self.sections.insert(i, sec)
            self._starts = [s.base for s in self.sections]
        for cb in self._listeners:
            cb("add", sec)
        return sec

    # --- lookup -----------------------------------------------------------------
    def lookup(self, addr: int) -> Section | None:
        """The section containing addr, or None."""
        starts = self._starts
        sections = self.sections
        i = bisect.bisect_right(starts, addr) - 1
        if i < 0:
            return None
        try:
            s = sections[i]
        except IndexError:     # the map changed under us; retry under the lock
            with self._lock:
                return self.lookup(addr)
        return s if addr < s.base + s.size else None

    def ram_sections(self) -> list[Section]:
        return [s for s in self.sections if s.ram is not None]

    # --- CPU-style accesses (RAM or MMIO) ---------------------------------------
    def load(self, addr: int, size: int) -> int:
        """A size-byte little-endian load, as a CPU or a device register read does."""
        s = self.lookup(addr)
        if s is None or addr + size > s.base + s.size:
            return self._unassigned(addr, size, False)
        if s.ram is not None:
            o = s.ram_offset + addr - s.base
            return int.from_bytes(s.ram.view[o:o + size], "little")
        lock = self.mmio_lock
        if lock is None:
            return s.mmio.read(addr - s.base, size) & MASKS.get(size, (1 << (8 * size)) - 1)
        with lock:
            return s.mmio.read(addr - s.base, size) & MASKS.get(size, (1 << (8 * size)) - 1)

    def store(self, addr: int, size: int, value: int) -> None:
        s = self.lookup(addr)
        if s is None or addr + size > s.base + s.size:
            self._unassigned(addr, size, True)
            return
        value &= MASKS.get(size, (1 << (8 * size)) - 1)
        if s.ram is not None:
            if s.ram.readonly:
                return               # ROM: writes are silently discarded
            o = s.ram_offset + addr - s.base
            s.ram.view[o:o + size] = value.to_bytes(size, "little")
            for hook in self.ram_write_hooks:
                hook(addr, size)
            return
        lock = self.mmio_lock
        if lock is None:
            s.mmio.write(addr - s.base, size, value)
        else:
            with lock:
                s.mmio.write(addr - s.base, size, value)

    def _unassigned(self, addr: int, size: int, is_write: bool) -> int:
        if self.unassigned_raises:
            raise GuestMemoryError(addr, size, is_write, "hits no device or memory")
        return 0 if is_write else MASKS.get(size, (1 << (8 * size)) - 1)

    # --- DMA: RAM only, bounds-checked ----------------------------------------
    def _ram_pieces(self, addr: int, n: int, is_write: bool) -> list[tuple[Section, int, int]]:
        """Split [addr, addr+n) into (section, offset-in-block, length) pieces, all RAM."""
        if n < 0 or addr < 0 or addr + n > self.size:
            raise GuestMemoryError(addr, max(n, 0), is_write)
        pieces = []
        cur, left = addr, n
        while left > 0:
            s = self.lookup(cur)
            if s is None or s.ram is None:
                raise GuestMemoryError(addr, n, is_write)
            if is_write and s.ram.readonly:
                raise GuestMemoryError(addr, n, is_write, "targets read-only memory")
            take = min(left, s.base + s.size - cur)
            pieces.append((s, s.ram_offset + cur - s.base, take))
            cur += take
            left -= take
        return pieces

    def check_ram(self, addr: int, n: int, is_write: bool = False) -> None:
        """Raise GuestMemoryError unless [addr, addr+n) is entirely guest RAM."""
        self._ram_pieces(addr, n, is_write)

    def read(self, addr: int, n: int) -> bytes:
        pieces = self._ram_pieces(addr, n, False)
        if len(pieces) == 1:
            s, o, k = pieces[0]
            return bytes(s.ram.view[o:o + k])
        return b"".join(bytes(s.ram.view[o:o + k]) for s, o, k in pieces)

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        mv = memoryview(data).cast("B")
        pos = 0
        for s, o, k in self._ram_pieces(addr, len(mv), True):
            s.ram.view[o:o + k] = mv[pos:pos + k]
            pos += k
        for hook in self.ram_write_hooks:
            hook(addr, len(mv))

    def ram_view(self, addr: int, n: int, is_write: bool = False) -> memoryview:
        """A zero-copy view of n bytes of guest RAM; must not span two RAM blocks."""
        pieces = self._ram_pieces(addr, n, is_write)
        if len(pieces) > 1:
            raise GuestMemoryError(addr, n, is_write, "spans two RAM blocks")
        if not pieces:
            return memoryview(b"")
        s, o, k = pieces[0]
        if is_write:
            for hook in self.ram_write_hooks:  # written through the view from now on
                hook(addr, n)
        return s.ram.view[o:o + k]

    def read_uint(self, addr: int, size: int) -> int:
        return int.from_bytes(self.read(addr, size), "little")

    def write_uint(self, addr: int, size: int, value: int) -> None:
        self.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def host_address(self, addr: int, n: int = 1) -> int:
        """Host virtual address of guest RAM at addr (n bytes must stay in one block)."""
        s = self.lookup(addr)
        if s is None or s.ram is None or addr + n > s.base + s.size:
            raise GuestMemoryError(addr, n, False)
        return s.host_addr(addr)

    def describe(self) -> str:
        """The map in the style of HMP ``info mtree`` (one line per section)."""
        lines = [f"address-space: {self.name}"]
        for s in self.sections:
            kind = ("rom" if s.readonly else "ram") if s.ram is not None else "i/o"
            lines.append(f"  {s.base:016x}-{s.end - 1:016x} ({kind}): {s.name}")
        return "\n".join(lines)


class IoPortSpace(AddressSpace):
    """x86 port I/O: 64 KiB of ports, devices only; unclaimed ports float high."""

    unassigned_raises = False

    def __init__(self, name: str = "io") -> None:
        super().__init__(name, 0x10000)

    def inp(self, port: int, size: int) -> int:
        return self.load(port, size)

    def outp(self, port: int, size: int, value: int) -> None:
        self.store(port, size, value)
