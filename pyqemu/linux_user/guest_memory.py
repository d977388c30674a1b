"""The guest address space of a user-mode process: one reserved host region.

Guest virtual addresses [LOW, SPAN) live in one anonymous, MAP_NORESERVE host mapping
(host pages are only committed when touched). Guest address ``g`` is host offset
``(g - LOW) mod SPAN``. The rotation by LOW is what makes low addresses fault without
any test on the fast path: addresses below LOW (NULL and small offsets from it, which
Linux never maps: mmap_min_addr is 64 KiB) land at offsets past the end of the region,
so indexing a view raises IndexError, which the CPU loop turns into SIGSEGV.

Generated code folds ``- LOW`` into the displacement: a load of ``imm(rs1)`` is
``h = (rs1 + (imm - LOW)) & HMASK`` and then ``m64[h >> 3]`` when ``h`` is aligned.

Host pages stay readable and writable whatever the guest asked for: the guest's
protections are kept in the VMA table (linux_user/mmap.py) and mirrored, one byte per
page, in the page permission table below, which native code tests before every access.
Instruction fetch and syscalls that touch guest buffers check the VMA table. (The
Python backend does not test the permission table: unmapped pages read as zero there.)
Python code must never touch a host PROT_NONE page: that would be a host segfault.

The permission table: for each page of the region (host offset >> 12), PERM_READ and
PERM_WRITE bits; zero, what an untouched page of the table holds, is no access (as
for the offsets past the region's end, the addresses below LOW). Native code tests the
byte of the page an access starts in; an access that is not aligned to its size may
run into the next page, and takes a slower path that tests that page's byte too.
(A table that ANDs each page with its successor would clear every access with one
test, but refuses the last page of every mapping, the top of the stack among them,
where most of a program's stack accesses are: fib ran 65% slower that way.)
"""

from __future__ import annotations

import ctypes
import mmap
import struct

LOW = 0x10000  # lowest guest address that can be mapped (Linux mmap_min_addr)
SPAN_BITS = 38  # guest addresses below 2**38, the Sv39 user half
SPAN = 1 << SPAN_BITS
HMASK = SPAN - 1
REGION_SIZE = SPAN - LOW
# Bytes mapped past the region's end, never guest-visible (the permission table refuses
# accesses that would reach them; the page keeps a stray host access harmless).
GUARD = 4096
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)

PAGE_BITS = 12
PERM_PAGES = SPAN >> PAGE_BITS  # one entry per page of host offsets [0, SPAN)
PERM_READ, PERM_WRITE = 1, 2


def perm_bits(prot: int) -> int:
    """Table bits for a guest protection (PROT_READ 1, PROT_WRITE 2, PROT_EXEC 4). As
    under qemu-riscv64, write-only and execute-only pages can be read."""
    if prot & 2:
        return PERM_READ | PERM_WRITE
    return PERM_READ if prot & 5 else 0


class GuestFault(Exception):
    """A guest access to an address the guest cannot touch (becomes SIGSEGV)."""

    def __init__(self, addr: int, write: bool = False) -> None:
        super().__init__(f"guest fault at {addr:#x}")
        self.addr = addr
        self.write = write


def host_offset(g: int) -> int:
    return (g - LOW) & HMASK


class GuestMemory:
    """The region plus typed views used by generated code and by syscalls."""

    def __init__(self) -> None:
        self.mm = mmap.mmap(-1, REGION_SIZE + GUARD,
                            flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE)
        mv = memoryview(self.mm)[:REGION_SIZE]
        self.m8 = mv
        self.m16 = mv.cast("H")
        self.m32 = mv.cast("I")
        self.m64 = mv.cast("Q")
        self.s8 = mv.cast("b")
        self.s16 = mv.cast("h")
        self.s32 = mv.cast("i")
        self.s64 = mv.cast("q")
        self.host_base = ctypes.addressof(ctypes.c_char.from_buffer(self.mm))
        # The page permission table (see the module's docstring): 64 MiB of address
        # space, of which only the pages describing mapped guest memory are touched.
        # (One page more: the byte after the last page's, which the straddle test of
        # native code may read, is zero.)
        self.perm = mmap.mmap(-1, PERM_PAGES + 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                              | _MAP_NORESERVE)
        self.perm_base = ctypes.addressof(ctypes.c_char.from_buffer(self.perm))

    def set_prot(self, g: int, end: int, prot: int) -> None:
        """Record the guest protection of the pages of [g, end) (page-aligned, inside
        the space) in the permission table."""
        if end <= g:
            return
        first = ((g - LOW) & HMASK) >> PAGE_BITS
        n = (end - g) >> PAGE_BITS
        self.perm[first:first + n] = bytes([perm_bits(prot)]) * n

    def may(self, g: int, n: int, bit: int) -> bool:
        """May the guest access [g, g+n) (n <= 8) so (PERM_READ or PERM_WRITE)?"""
        h = (g - LOW) & HMASK
        page = h >> PAGE_BITS
        if not self.perm[page] & bit:
            return False
        last = (h + n - 1) >> PAGE_BITS
        return last == page or bool(self.perm[last] & bit)

    # --- checked byte access for syscalls and loaders -------------------------------
    def _range(self, g: int, n: int) -> int:
        h = (g - LOW) & HMASK
        if g < LOW or g + n > SPAN or n < 0:
            raise GuestFault(g)
        return h

    def read(self, g: int, n: int) -> bytes:
        h = self._range(g, n)
        return self.mm[h:h + n]

    def write(self, g: int, data: bytes | bytearray | memoryview) -> None:
        h = self._range(g, len(data))
        self.mm[h:h + len(data)] = data

    def view(self, g: int, n: int) -> memoryview:
        """A writable view of guest bytes (for readinto / zero-copy writes)."""
        h = self._range(g, n)
        return self.m8[h:h + n]

    def fill(self, g: int, n: int, byte: int = 0) -> None:
        h = self._range(g, n)
        self.mm[h:h + n] = bytes([byte]) * n

    def read_cstr(self, g: int, limit: int = 1 << 20) -> bytes:
        h = self._range(g, 1)
        end = self.mm.find(b"\0", h, min(h + limit, REGION_SIZE))
        if end < 0:
            raise GuestFault(g)
        return self.mm[h:end]

    def read_u8(self, g: int) -> int:
        return self.mm[self._range(g, 1)]

    def read_u16(self, g: int) -> int:
        return struct.unpack_from("<H", self.mm, self._range(g, 2))[0]

    def read_u32(self, g: int) -> int:
        return struct.unpack_from("<I", self.mm, self._range(g, 4))[0]

    def read_u64(self, g: int) -> int:
        return struct.unpack_from("<Q", self.mm, self._range(g, 8))[0]

    def write_u8(self, g: int, v: int) -> None:
        self.mm[self._range(g, 1)] = v & 0xFF

    def write_u16(self, g: int, v: int) -> None:
        struct.pack_into("<H", self.mm, self._range(g, 2), v & 0xFFFF)

    def write_u32(self, g: int, v: int) -> None:
        struct.pack_into("<I", self.mm, self._range(g, 4), v & 0xFFFFFFFF)

    def write_u64(self, g: int, v: int) -> None:
        struct.pack_into("<Q", self.mm, self._range(g, 8), v & 0xFFFFFFFFFFFFFFFF)

    def discard(self, g: int, n: int) -> None:
        """Give pages back to the host (munmap, MADV_DONTNEED): they read as zero again."""
        h = self._range(g, n)
        start = h & ~0xFFF
        end = (h + n + 0xFFF) & ~0xFFF
        if end > start:
            self.mm.madvise(mmap.MADV_DONTNEED, start, end - start)

    def host_address(self, g: int) -> int:
        """Host virtual address of guest address g (for futex and native code)."""
        return self.host_base + ((g - LOW) & HMASK)


# --- shared pages (linux_user extension) ---------------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long]
_MAP_FIXED = 0x10
_MAP_SHARED = 0x01


def _remap(mem: GuestMemory, g: int, n: int, flags: int) -> None:
    """Replace the host pages behind guest [g, g+n) in place (page-aligned, read+write)."""
    h = mem._range(g, n)
    if h & 0xFFF or n & 0xFFF:
        raise ValueError("unaligned remap")
    addr = mem.host_base + h
    r = _libc.mmap(addr, n, mmap.PROT_READ | mmap.PROT_WRITE, flags | _MAP_FIXED | mmap.MAP_ANONYMOUS, -1, 0)
    if r is None or r != addr:
        raise OSError(ctypes.get_errno(), "mmap")


def share_pages(mem: GuestMemory, g: int, n: int) -> None:
    """Back guest [g, g+n) with fresh MAP_SHARED anonymous host memory, so that a forked
    child and its parent see each other's writes (MAP_SHARED|MAP_ANONYMOUS semantics)."""
    _remap(mem, g, n, _MAP_SHARED)


def unshare_pages(mem: GuestMemory, g: int, n: int) -> None:
    """Give guest [g, g+n) ordinary private zero pages again (after munmap of shared memory)."""
    _remap(mem, g, n, mmap.MAP_PRIVATE | _MAP_NORESERVE)
