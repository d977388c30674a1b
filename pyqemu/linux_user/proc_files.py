"""/proc files that must describe the guest rather than the emulator (proc(5)).

/proc/self/exe is the guest program; /proc/self/maps, auxv and cmdline are generated
from the process; /proc/cpuinfo describes a riscv64 hart. Generated files are served as
memfds holding the content, so read/lseek/fstat work as on any file.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from pyqemu.linux_user.hostcall import call

O_CLOEXEC = 0o2000000
O_DIRECTORY = 0o200000

CPUINFO = """processor\t: 0
hart\t\t: 0
isa\t\t: rv64imafdc_zicsr_zifencei
mmu\t\t: sv39
mvendorid\t: 0x0
marchid\t\t: 0x0
mimpid\t\t: 0x0

"""


def _self_relative(p, path: bytes) -> bytes | None:
    """The part after /proc/self/ (or /proc/<our pid>/), or None for other paths."""
    for prefix in (b"/proc/self/", b"/proc/thread-self/", f"/proc/{os.getpid()}/".encode()):
        if path.startswith(prefix):
            return path[len(prefix):]
    return None


def _memfd(content: bytes, cloexec: bool) -> int:
    name = ctypes.create_string_buffer(b"pyqemu-proc")
    fd = call("memfd_create", ctypes.addressof(name), 1 if cloexec else 0)
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def generated(p, rel: bytes) -> bytes | None:
    if rel == b"maps":
        return p.mm.maps_text().encode()
    if rel == b"auxv":
        return b"".join(struct.pack("<QQ", k, v) for k, v in p.auxv)
    if rel == b"cmdline":
        return b"".join(os.fsencode(a) + b"\0" for a in p.argv)
    if rel == b"environ":
        return b"".join(os.fsencode(a) + b"\0" for a in p.envp)
    return None


def open_special(p, dirfd: int, path: bytes, flags: int) -> int | None:
    """An fd for an emulated /proc path, or None to let the host open the path."""
    if path == b"/proc/cpuinfo":
        return _memfd(CPUINFO.encode(), bool(flags & O_CLOEXEC))
    rel = _self_relative(p, path)
    if rel is None:
        return None
    if rel == b"exe":
        return call("openat", -100, ctypes.addressof(ctypes.create_string_buffer(os.fsencode(p.exe_path))),
                    flags, 0)
    content = generated(p, rel)
    if content is None:
        return None
    if flags & O_DIRECTORY:
        return -errno.ENOTDIR
    return _memfd(content, bool(flags & O_CLOEXEC))


def stat_path(p, path: bytes) -> bytes | None:
    """The host path to stat for an emulated one (the program for /proc/self/exe)."""
    if _self_relative(p, path) == b"exe":
        return os.fsencode(p.exe_path)
    return None


def readlink_special(p, path: bytes) -> str | None:
    if _self_relative(p, path) == b"exe":
        return p.exe_path
    return None
