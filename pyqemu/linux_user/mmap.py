"""The guest's virtual memory areas and the mmap family of system calls.

Host pages of the guest region are always readable and writable (guest_memory.py), so a
guest mapping is a record here: a VMA says what the guest may do with a range and
where its contents came from (for /proc/self/maps and for MAP_SHARED write-back). The
table's two primitives, _cut and _insert, copy each change of protection into the
guest memory's page permission table, which native code tests at every access.
Semantics follow mmap(2), munmap(2), mprotect(2), mremap(2), brk(2) and madvise(2):
all lengths are rounded to pages, MAP_FIXED replaces whatever was there, a new
anonymous page reads as zero.

Placement is Linux's top-down allocator: a mapping without a usable hint goes in the
highest free gap below ``mmap_base`` (just under the stack's maximum size), so the
layout resembles a native process: program and heap low, libraries and anonymous
mappings above them, the stack on top.

That whole layout sits in the guest's first GiB (``COMPACT_TOP``), not at the top of
the 2**38 bytes the guest may use: a pointer below 2**30 is a one-digit Python int, and
CPython's arithmetic, comparisons and subscripts on one-digit ints take their fast
paths, which the Python backend's generated code (every stack access, every pointer
increment) runs into all the time. A mapping that no longer fits below the stack goes
in the highest free gap above it, so a guest still has the whole space. (Real Linux
and qemu-riscv64 put the stack near the top; no program may depend on where.)
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
import threading
from collections.abc import Callable

from pyqemu.linux_user.guest_memory import (
    LOW,
    SPAN,
    GuestFault,
    GuestMemory,
    share_pages,
    unshare_pages,
)

from ..record import Record

PAGE = 4096
PAGE_MASK = PAGE - 1

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 0x01, 0x02, 0x03
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_STACK = 0x20000
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV_DONTNEED, MADV_REMOVE, MADV_FREE = 4, 9, 8

# The first GiB, where the usual layout goes (see above).
COMPACT_TOP = 1 << 30
# Where the guest stack ends and how much room it may grow into (RLIMIT_STACK 8 MiB).
STACK_TOP = COMPACT_TOP - PAGE
STACK_MAX = 8 << 20
# A gap between the stack's limit and mmap_base (Linux keeps 128 MiB or more; 16 MiB
# leaves the first GiB to mappings).
MMAP_BASE = (STACK_TOP - STACK_MAX - (16 << 20)) & ~PAGE_MASK
# Where a PIE program is loaded (Linux's ELF_ET_DYN_BASE is 2/3 of the task size): low,
# so that its brk heap has room to grow up towards the mappings.
ET_DYN_BASE = 0x4000000


def page_up(n: int) -> int:
    return (n + PAGE_MASK) & ~PAGE_MASK


class Vma(Record):
    """One guest mapping [start, end): protection, mmap flags and where it came from:
    name is the path of a file mapping, or [heap], [stack]...; offset the file offset of
    ``start``; shared_fd a dup of the file for MAP_SHARED write-back."""

    _fields = ("start", "end", "prot", "flags", "name", "offset", "dev", "inode", "shared_fd")

    def __init__(self, start: int, end: int, prot: int,
                 flags: int = MAP_PRIVATE | MAP_ANONYMOUS, name: str = "", offset: int = 0,
                 dev: int = 0, inode: int = 0, shared_fd: int = -1) -> None:
        self.start = start
        self.end = end
        self.prot = prot
        self.flags = flags
        self.name = name
        self.offset = offset
        self.dev = dev
        self.inode = inode
        self.shared_fd = shared_fd

    def perms(self) -> str:
        return ("r" if self.prot & PROT_READ else "-") + ("w" if self.prot & PROT_WRITE else "-") + \
            ("x" if self.prot & PROT_EXEC else "-") + \
            ("s" if (self.flags & MAP_TYPE) in (MAP_SHARED, MAP_SHARED_VALIDATE) else "p")


class MemoryMap:
    """The VMA table of one process and the memory system calls over it.

    Errors are raised as OSError(errno) so syscall wrappers turn them into -errno.
    """

    def __init__(self, mem: GuestMemory) -> None:
        self.mem = mem
        self.vmas: list[Vma] = []
        self._starts: list[int] = []
        self.lock = threading.RLock()
        self.mmap_base = MMAP_BASE
        self.start_brk = 0
        self.brk_cur = 0
        # Called with [start, end) whenever code in that range may have changed.
        self.on_invalidate: Callable[[int, int], None] = lambda start, end: None

    # --- table primitives -------------------------------------------------------------
    def _reindex(self) -> None:
        self._starts = [v.start for v in self.vmas]

    # Readers take the lock too: another guest thread's mmap or mprotect changes the
    # table in several steps (vmas, then _starts), and the translator of a thread that
    # looked in between saw a library's text as unmapped (a SIGSEGV at a valid pc, about
    # one run in twenty of a dynamic multi-threaded program on the Python backend).
    def find(self, addr: int) -> Vma | None:
        """The VMA containing addr, if any."""
        with self.lock:
            i = bisect.bisect_right(self._starts, addr) - 1
            if i >= 0:
                v = self.vmas[i]
                if addr < v.end:
                    return v
        return None

    def can_execute(self, addr: int) -> bool:
        """May the guest fetch an instruction at addr? (The translator asks before a TB.)"""
        v = self.find(addr)
        return v is not None and bool(v.prot & PROT_EXEC)

    def overlapping(self, start: int, end: int) -> list[Vma]:
        with self.lock:
            i = max(bisect.bisect_right(self._starts, start) - 1, 0)
            out = []
            for v in self.vmas[i:]:
                if v.start >= end:
                    break
                if v.end > start:
                    out.append(v)
        return out

    def check_range(self, addr: int, n: int, prot: int) -> bool:
        """Is all of [addr, addr+n) mapped with at least ``prot``? (EFAULT checks.)"""
        if n <= 0:
            return True
        end = addr + n
        pos = addr
        for v in self.overlapping(addr, end):
            if v.start > pos or (v.prot & prot) != prot:
                return False
            pos = v.end
            if pos >= end:
                return True
        return pos >= end

    def _cut(self, start: int, end: int) -> list[Vma]:
        """Remove [start, end) from the table, splitting VMAs at the edges; return the removed parts."""
        removed: list[Vma] = []
        keep: list[Vma] = []
        for v in self.vmas:
            if v.end <= start or v.start >= end:
                keep.append(v)
                continue
            if v.start < start:
                keep.append(v.replace(end=start))
            if v.end > end:
                keep.append(v.replace(start=end, offset=v.offset + (end - v.start)))
            lo, hi = max(v.start, start), min(v.end, end)
            removed.append(v.replace(start=lo, end=hi, offset=v.offset + (lo - v.start)))
        keep.sort(key=lambda v: v.start)
        self.vmas = keep
        self._reindex()
        if removed:
            self.mem.set_prot(start, end, 0)
        return removed

    def _insert(self, vma: Vma) -> None:
        i = bisect.bisect_left(self._starts, vma.start)
        self.vmas.insert(i, vma)
        self._starts.insert(i, vma.start)
        self.mem.set_prot(vma.start, vma.end, vma.prot)
        self._merge_around(i)

    def _merge_around(self, i: int) -> None:
        """Join neighbours that are indistinguishable, as the kernel does for anonymous memory."""
        def same(a: Vma, b: Vma) -> bool:
            return (a.end == b.start and a.prot == b.prot and a.flags == b.flags and a.name == b.name
                    and a.shared_fd < 0 and b.shared_fd < 0 and a.inode == b.inode
                    and (a.inode == 0 or a.offset + (a.end - a.start) == b.offset))
        j = min(i + 1, len(self.vmas) - 1)
        while j > 0 and j >= i - 1:
            a, b = self.vmas[j - 1], self.vmas[j]
            if same(a, b):
                a.end = b.end
                del self.vmas[j]
            j -= 1
        self._reindex()

    def _release(self, parts: list[Vma]) -> None:
        """Write back shared file pages and drop the host pages of removed ranges."""
        for v in parts:
            self._writeback(v)
            if v.flags & MAP_ANONYMOUS and (v.flags & MAP_TYPE) != MAP_PRIVATE:
                unshare_pages(self.mem, v.start, v.end - v.start)
            else:
                self.mem.discard(v.start, v.end - v.start)
            if v.prot & PROT_EXEC:
                self.on_invalidate(v.start, v.end)
            if v.shared_fd >= 0 and not any(w.shared_fd == v.shared_fd for w in self.vmas):
                try:
                    os.close(v.shared_fd)
                except OSError:
                    pass

    def _writeback(self, v: Vma) -> None:
        if v.shared_fd < 0 or not v.prot & PROT_WRITE:
            return
        try:
            size = os.fstat(v.shared_fd).st_size
            n = min(v.end - v.start, max(size - v.offset, 0))
            if n > 0:
                os.pwrite(v.shared_fd, self.mem.read(v.start, n), v.offset)
        except OSError:
            pass

    # --- placement ----------------------------------------------------------------------
    def find_free(self, length: int, below: int | None = None) -> int:
        """Highest free, page-aligned range of ``length`` bytes below ``below`` (top-down);
        without ``below``, below mmap_base, else above the stack (see the module's
        docstring)."""
        if below is not None:
            return self._highest_gap(length, below, LOW + PAGE)
        try:
            return self._highest_gap(length, self.mmap_base, LOW + PAGE)
        except OSError:
            return self._highest_gap(length, SPAN, COMPACT_TOP)

    def _highest_gap(self, length: int, top: int, floor: int) -> int:
        i = bisect.bisect_left(self._starts, top)
        for v in reversed(self.vmas[:i]):
            if v.end <= top - length:
                break
            top = min(top, v.start)
        if top - length >= floor:
            return top - length
        raise OSError(errno.ENOMEM, "out of guest address space")

    def _is_free(self, start: int, end: int) -> bool:
        return start >= LOW and end <= SPAN and not self.overlapping(start, end)

    # --- system calls -------------------------------------------------------------------
    def mmap(self, addr: int, length: int, prot: int, flags: int, fd: int = -1, offset: int = 0,
             name: str | None = None) -> int:
        """mmap(2) in guest addresses; file contents are copied in (private semantics)."""
        if length == 0 or offset & PAGE_MASK:
            raise OSError(errno.EINVAL, "bad mmap arguments")
        mtype = flags & MAP_TYPE
        if mtype not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
            raise OSError(errno.EINVAL, "bad mmap type")
        length = page_up(length)
        if length >= SPAN:
            raise OSError(errno.ENOMEM, "too long")
        anon = bool(flags & MAP_ANONYMOUS)
        st = None
        if not anon:
            st = os.fstat(fd)  # EBADF for a bad descriptor, as the kernel checks first
            if stat.S_ISDIR(st.st_mode):
                raise OSError(errno.ENODEV, "directory")
        with self.lock:
            if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
                if addr & PAGE_MASK:
                    raise OSError(errno.EINVAL, "unaligned fixed address")
                if addr < LOW or addr + length > SPAN:
                    raise OSError(errno.ENOMEM if addr >= LOW else errno.EPERM, "out of range")
                if flags & MAP_FIXED_NOREPLACE and not (flags & MAP_FIXED) and self.overlapping(addr, addr + length):
                    raise OSError(errno.EEXIST, "range in use")
                start = addr
            else:
                hint = addr & ~PAGE_MASK
                if hint and self._is_free(hint, hint + length):
                    start = hint
                else:
                    start = self.find_free(length)
            end = start + length
            self._release(self._cut(start, end))
            vma = Vma(start, end, prot, flags & ~(MAP_FIXED | MAP_FIXED_NOREPLACE))
            if anon:
                vma.name = name or ""
                if mtype != MAP_PRIVATE:
                    share_pages(self.mem, start, length)
            else:
                assert st is not None
                vma.name = name if name is not None else _fd_path(fd)
                vma.offset, vma.dev, vma.inode = offset, st.st_dev, st.st_ino
                self._copy_file(fd, start, length, offset)
                if mtype != MAP_PRIVATE and prot & PROT_WRITE:
                    vma.shared_fd = os.dup(fd)
            self._insert(vma)
        if prot & PROT_EXEC:
            self.on_invalidate(start, end)
        return start

    def _copy_file(self, fd: int, start: int, length: int, offset: int) -> None:
        """Fill [start, start+length) from the file; past its end the pages stay zero."""
        pos = 0
        while pos < length:
            n = os.preadv(fd, [self.mem.view(start + pos, length - pos)], offset + pos)
            if n <= 0:
                break
            pos += n

    def munmap(self, addr: int, length: int) -> None:
        if addr & PAGE_MASK or length == 0 or addr < LOW or addr + length > SPAN:
            raise OSError(errno.EINVAL, "bad munmap arguments")
        with self.lock:
            self._release(self._cut(addr, addr + page_up(length)))

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        if addr & PAGE_MASK:
            raise OSError(errno.EINVAL, "unaligned")
        end = addr + page_up(length)
        with self.lock:
            if not self.check_range(addr, end - addr, 0):
                raise OSError(errno.ENOMEM, "unmapped range")
            changed = False
            for v in self._cut(addr, end):
                changed |= bool((v.prot ^ prot) & PROT_EXEC)
                v.prot = prot
                self._insert(v)
        if changed:
            self.on_invalidate(addr, end)

    def msync(self, addr: int, length: int) -> None:
        with self.lock:
            if not self.check_range(addr, page_up(length), 0):
                raise OSError(errno.ENOMEM, "unmapped range")
            for v in self.overlapping(addr, addr + page_up(length)):
                self._writeback(v)

    def madvise(self, addr: int, length: int, advice: int) -> None:
        if addr & PAGE_MASK:
            raise OSError(errno.EINVAL, "unaligned")
        if advice in (MADV_DONTNEED, MADV_REMOVE, MADV_FREE) and length:
            with self.lock:
                for v in self.overlapping(addr, addr + page_up(length)):
                    # Only private anonymous memory reads back as zero; file pages would be
                    # re-read from the file, which we cannot do lazily: leave them.
                    if v.flags & MAP_ANONYMOUS and (v.flags & MAP_TYPE) == MAP_PRIVATE:
                        lo, hi = max(v.start, addr), min(v.end, addr + page_up(length))
                        self.mem.discard(lo, hi - lo)

    def mremap(self, old: int, old_len: int, new_len: int, flags: int, new_addr: int = 0) -> int:
        """mremap(2): grow in place when the following range is free, else move (MAYMOVE)."""
        if old & PAGE_MASK or new_len == 0:
            raise OSError(errno.EINVAL, "bad mremap arguments")
        old_len, new_len = page_up(old_len), page_up(new_len)
        with self.lock:
            v = self.find(old)
            if v is None or old + old_len > v.end:
                raise OSError(errno.EFAULT, "not one mapping")
            if flags & MREMAP_FIXED:
                if not flags & MREMAP_MAYMOVE:
                    raise OSError(errno.EINVAL, "FIXED needs MAYMOVE")
                return self._move(v, old, old_len, new_len, new_addr)
            if new_len <= old_len:
                self._release(self._cut(old + new_len, old + old_len))
                return old
            if self._is_free(old + old_len, old + new_len):
                grown = v.replace(start=old + old_len, end=old + new_len,
                                offset=v.offset + (old + old_len - v.start), shared_fd=-1)
                self._insert(grown)
                return old
            if not flags & MREMAP_MAYMOVE:
                raise OSError(errno.ENOMEM, "cannot grow in place")
            return self._move(v, old, old_len, new_len, self.find_free(new_len))

    def _move(self, v: Vma, old: int, old_len: int, new_len: int, dest: int) -> int:
        data = self.mem.read(old, min(old_len, new_len))
        self._release(self._cut(dest, dest + new_len))
        moved = [p.replace(start=p.start - old + dest, end=p.end - old + dest)
                 for p in self._cut(old, old + old_len)]
        self.mem.discard(old, old_len)
        if v.prot & PROT_EXEC:
            self.on_invalidate(old, old + old_len)
        self.mem.write(dest, data)
        for p in moved:
            if p.start < dest + new_len:
                p.end = min(p.end, dest + new_len)
                self._insert(p)
        if new_len > old_len:
            self._insert(v.replace(start=dest + old_len, end=dest + new_len, shared_fd=-1,
                                 offset=v.offset + old_len))
        return dest

    def brk(self, new: int) -> int:
        """brk(2): the kernel returns the new break on success and the old one on failure."""
        with self.lock:
            if new < self.start_brk:
                return self.brk_cur
            old_top, new_top = page_up(self.brk_cur), page_up(new)
            if new_top > old_top:
                if not self._is_free(old_top, new_top) or new_top > self.mmap_base:
                    return self.brk_cur
                self._insert(Vma(old_top, new_top, PROT_READ | PROT_WRITE, name="[heap]"))
            elif new_top < old_top:
                self._release(self._cut(new_top, old_top))
            self.brk_cur = new
            return new

    # --- reporting ----------------------------------------------------------------------
    def maps_text(self) -> str:
        """/proc/self/maps lines (proc(5) format) for the guest's view."""
        lines = []
        for v in self.vmas:
            dev = f"{os.major(v.dev):02x}:{os.minor(v.dev):02x}"
            head = f"{v.start:08x}-{v.end:08x} {v.perms()} {v.offset:08x} {dev} {v.inode}"
            lines.append(f"{head:<72} {v.name}\n" if v.name else f"{head} \n")
        return "".join(lines)


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def guest_range_ok(mm: MemoryMap, addr: int, n: int, write: bool) -> None:
    """Raise GuestFault unless the guest may access [addr, addr+n) (syscall EFAULT checks)."""
    if n and not mm.check_range(addr, n, PROT_WRITE if write else PROT_READ):
        raise GuestFault(addr, write)
