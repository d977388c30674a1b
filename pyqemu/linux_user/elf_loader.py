"""Load a riscv64 Linux ELF program (and its interpreter) into the guest address space.

Follows what binfmt_elf does (ELF-64 object file format, System V gABI ch. 4-5):
PT_LOAD segments are mapped page-granular with the segment's protection, the bytes past
p_filesz up to p_memsz are zero (.bss), an ET_DYN program without PT_INTERP (static-pie)
is placed at ELF_ET_DYN_BASE, and a PT_INTERP dynamic linker is loaded wherever the
top-down allocator puts it. The break starts at the page after the program's end.

User errors are LoadError with a one-line message in qemu-riscv64's words.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

from pyqemu.linux_user.mmap import (
    ET_DYN_BASE,
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_MASK,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    MemoryMap,
    page_up,
)
from pyqemu.record import Record

EM_RISCV = 243
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_PHDR = 1, 3, 6
PF_X, PF_W, PF_R = 1, 2, 4
EF_RISCV_FLOAT_ABI = 0x6
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")


class LoadError(Exception):
    """A program that cannot be loaded; str() is the one-line message, ``status`` the exit code."""

    def __init__(self, msg: str, status: int = 1) -> None:
        super().__init__(msg)
        self.status = status


class Segment(Record):
    """A program header: PT_ type, PF_ flags, file offset, address and sizes."""

    _fields = ("type", "flags", "offset", "vaddr", "filesz", "memsz")

    def __init__(self, type: int, flags: int, offset: int, vaddr: int, filesz: int,  # noqa: A002
                 memsz: int) -> None:
        self.type = type
        self.flags = flags
        self.offset = offset
        self.vaddr = vaddr
        self.filesz = filesz
        self.memsz = memsz


class ElfImage(Record):
    """Where one ELF file ended up in guest memory: lo is the lowest mapped address, hi
    the end of the highest segment (bss included)."""

    _fields = ("path", "entry", "bias", "phdr", "phnum", "phent", "lo", "hi", "e_flags",
               "interp")

    def __init__(self, path: str, entry: int, bias: int, phdr: int, phnum: int, phent: int,
                 lo: int, hi: int, e_flags: int, interp: str | None) -> None:
        self.path = path
        self.entry = entry
        self.bias = bias
        self.phdr = phdr
        self.phnum = phnum
        self.phent = phent
        self.lo = lo
        self.hi = hi
        self.e_flags = e_flags
        self.interp = interp


class LoadedProgram(Record):
    """Everything the initial stack and the process need to know (auxv inputs)."""

    _fields = ("exe", "interp")

    def __init__(self, exe: ElfImage, interp: ElfImage | None) -> None:
        self.exe = exe
        self.interp = interp

    @property
    def entry(self) -> int:
        return (self.interp or self.exe).entry


def _prot(flags: int) -> int:
    return (PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0) | \
        (PROT_EXEC if flags & PF_X else 0)


def open_executable(path: str) -> int:
    """Open a program like qemu's loader: regular file with some execute bit, else EACCES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise LoadError(f"Error while loading {path}: {os.strerror(e.errno or errno.EIO)}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
        os.close(fd)
        raise LoadError(f"Error while loading {path}: {os.strerror(errno.EACCES)}")
    return fd


def _read_headers(fd: int, path: str, shown: str) -> tuple[tuple, list[Segment]]:
    head = os.pread(fd, EHDR.size, 0)
    if len(head) < EHDR.size or head[:4] != b"\x7fELF":
        raise LoadError(f"Error while loading {shown}: {os.strerror(errno.ENOEXEC)}")
    eh = EHDR.unpack(head)
    ident, e_type, e_machine = eh[0], eh[1], eh[2]
    if ident[4] != 2 or ident[5] != 1 or e_machine != EM_RISCV or e_type not in (ET_EXEC, ET_DYN) \
            or eh[9] != PHDR.size:
        raise LoadError(f"{shown}: Invalid ELF image for this architecture", 255)
    phoff, phnum = eh[5], eh[10]
    raw = os.pread(fd, PHDR.size * phnum, phoff)
    if len(raw) < PHDR.size * phnum or phnum == 0:
        raise LoadError(f"{shown}: Error mapping file: {os.strerror(errno.EINVAL)}", 255)
    segs = []
    for i in range(phnum):
        p_type, p_flags, off, vaddr, _paddr, filesz, memsz, _align = PHDR.unpack_from(raw, i * PHDR.size)
        segs.append(Segment(p_type, p_flags, off, vaddr, filesz, memsz))
    return eh, segs


def load_elf(mm: MemoryMap, fd: int, path: str, shown: str, is_interp: bool) -> ElfImage:
    """Map one ELF file's PT_LOAD segments; return where it landed."""
    eh, segs = _read_headers(fd, path, shown)
    e_type, entry, phoff, e_flags, phnum = eh[1], eh[4], eh[5], eh[7], eh[10]
    loads = [s for s in segs if s.type == PT_LOAD]
    if not loads:
        raise LoadError(f"{shown}: Invalid ELF image for this architecture", 255)
    size = os.fstat(fd).st_size
    for s in loads:
        if s.offset + s.filesz > size or s.filesz > s.memsz or \
                (s.offset - s.vaddr) & PAGE_MASK:
            raise LoadError(f"{shown}: Error mapping file: {os.strerror(errno.EINVAL)}", 255)
    lo = min(s.vaddr for s in loads) & ~PAGE_MASK
    hi = page_up(max(s.vaddr + s.memsz for s in loads))
    if e_type == ET_DYN:
        if is_interp:
            base = mm.find_free(hi - lo)
        else:
            base = ET_DYN_BASE
        bias = base - lo
    else:
        bias = 0
    # Reserve the whole span first so segments sharing a page do not erase each other,
    # then give each segment its protection and drop the holes between them.
    try:
        mm.mmap(lo + bias, hi - lo, PROT_READ | PROT_WRITE, MAP_PRIVATE | 0x20 | MAP_FIXED)
    except OSError:
        raise LoadError(f"{shown}: Error mapping file: {os.strerror(errno.ENOMEM)}", 255) from None
    st = os.fstat(fd)
    name = os.path.realpath(path)
    covered: list[tuple[int, int]] = []
    for s in loads:
        pos = 0
        dst = s.vaddr + bias
        while pos < s.filesz:
            n = os.preadv(fd, [mm.mem.view(dst + pos, s.filesz - pos)], s.offset + pos)
            if n <= 0:
                raise LoadError(f"{shown}: Error mapping file: {os.strerror(errno.EINVAL)}", 255)
            pos += n
    for s in loads:
        start = (s.vaddr + bias) & ~PAGE_MASK
        end = page_up(s.vaddr + bias + s.memsz)
        mm.mprotect(start, end - start, _prot(s.flags))
        for v in mm.overlapping(start, end):
            # File-backed part keeps the file's name, like /proc/self/maps of a native process.
            if v.start < page_up(s.vaddr + bias + s.filesz) or s.filesz == s.memsz:
                v.name, v.inode, v.dev = name, st.st_ino, st.st_dev
                v.offset = (s.offset & ~PAGE_MASK) + (v.start - start)
                v.flags = MAP_PRIVATE
        covered.append((start, end))
    covered.sort()
    pos = lo + bias
    for start, end in covered:
        if start > pos:
            mm.munmap(pos, start - pos)
        pos = max(pos, end)
    # The table was edited in place: give adjacent entries a chance to merge back.
    mm.vmas.sort(key=lambda v: v.start)
    mm._reindex()

    phdr = 0
    for s in segs:
        if s.type == PT_PHDR:
            phdr = s.vaddr + bias
    if not phdr:
        for s in loads:
            if s.offset <= phoff < s.offset + s.filesz:
                phdr = s.vaddr + (phoff - s.offset) + bias
    interp = None
    for s in segs:
        if s.type == PT_INTERP:
            interp = os.pread(fd, s.filesz, s.offset).split(b"\0")[0].decode("utf-8", "replace")
    return ElfImage(path=name, entry=entry + bias, bias=bias, phdr=phdr, phnum=phnum,
                    phent=PHDR.size, lo=lo + bias, hi=max(s.vaddr + s.memsz for s in loads) + bias,
                    e_flags=e_flags, interp=interp)


def prefixed_path(ld_prefix: str | None, path: str) -> str:
    """qemu's -L rule: an absolute path is looked up under the prefix first, if it exists there."""
    if ld_prefix and path.startswith("/") and path != "/":
        candidate = ld_prefix.rstrip("/") + path
        if os.path.lexists(candidate):
            return candidate
    return path


def load_program(mm: MemoryMap, path: str, ld_prefix: str | None) -> LoadedProgram:
    """Load the program at ``path`` and, for a dynamic one, its interpreter from the -L prefix."""
    fd = open_executable(path)
    try:
        exe = load_elf(mm, fd, path, path, is_interp=False)
    finally:
        os.close(fd)
    mm.start_brk = mm.brk_cur = page_up(exe.hi)
    interp = None
    if exe.interp is not None:
        ipath = prefixed_path(ld_prefix, exe.interp)
        try:
            ifd = os.open(ipath, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise LoadError(f"Could not open '{exe.interp}': {os.strerror(e.errno or errno.EIO)}", 255) \
                from None
        try:
            interp = load_elf(mm, ifd, ipath, exe.interp, is_interp=True)
        finally:
            os.close(ifd)
    return LoadedProgram(exe=exe, interp=interp)
