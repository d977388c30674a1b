"""Path-based file system calls and the stat family.

Guest paths go through two translations before the host sees them: the -L prefix rule
(an absolute path that exists under the prefix is used from there, as qemu does) and
/proc/self emulation (proc_files.py) for the files whose host content would describe
the emulator instead of the guest.

riscv64 uses asm-generic's ``struct stat`` (128 bytes, include/uapi/asm-generic/stat.h),
which differs from x86-64's; ``struct statx`` is the same everywhere and passes through.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from pyqemu.linux_user import proc_files
from pyqemu.linux_user.elf_loader import prefixed_path
from pyqemu.linux_user.hostcall import call, optr, ptr
from pyqemu.linux_user.syscall_registry import s32, syscall

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = 0x100, 0x200, 0x400, 0x1000
AT_EACCESS = 0x200
STAT_FORMAT = struct.Struct("<QQIIIIQQqiiqqQqQqQII")
assert STAT_FORMAT.size == 128


def pack_stat(st: os.stat_result) -> bytes:
    """asm-generic struct stat from a host stat result."""
    def split(ns: int) -> tuple[int, int]:
        return ns // 1_000_000_000, ns % 1_000_000_000
    a, m, c = split(st.st_atime_ns), split(st.st_mtime_ns), split(st.st_ctime_ns)
    return STAT_FORMAT.pack(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                            st.st_rdev, 0, st.st_size, st.st_blksize, 0, st.st_blocks,
                            a[0], a[1], m[0], m[1], c[0], c[1], 0, 0)


def guest_path(p, addr: int) -> bytes:
    """Read a guest path and apply the -L prefix rule."""
    raw = p.mem.read_cstr(addr, 4096)
    if not raw:
        return raw
    return os.fsencode(prefixed_path(p.ld_prefix, os.fsdecode(raw)))


def _cbuf(path: bytes) -> ctypes.Array:
    return ctypes.create_string_buffer(path)


def _addr(buf: ctypes.Array) -> int:
    return ctypes.addressof(buf)


@syscall("openat")
def sys_openat(p, cpu, dirfd, path, flags, mode, *_):
    raw = p.mem.read_cstr(path, 4096)
    special = proc_files.open_special(p, s32(dirfd), raw, s32(flags))
    if special is not None:
        return special
    b = _cbuf(guest_path(p, path))
    from pyqemu.linux_user.syscalls_files import eintr
    return eintr(p, call, "openat", s32(dirfd), _addr(b), s32(flags), mode & 0o7777)


@syscall("newfstatat")
def sys_newfstatat(p, cpu, dirfd, path, buf, flags, *_):
    flags = s32(flags)
    raw = p.mem.read_cstr(path, 4096)
    dirfd = s32(dirfd)
    if not raw and flags & AT_EMPTY_PATH:
        st = os.fstat(dirfd) if dirfd != AT_FDCWD else os.stat(".")
    else:
        hp = proc_files.stat_path(p, raw) or guest_path(p, path)
        st = os.stat(hp, dir_fd=None if dirfd == AT_FDCWD else dirfd,
                     follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW)
    p.mem.write(buf, pack_stat(st))
    return 0


@syscall("fstat")
def sys_fstat(p, cpu, fd, buf, *_):
    p.mem.write(buf, pack_stat(os.fstat(s32(fd))))
    return 0


@syscall("statx")
def sys_statx(p, cpu, dirfd, path, flags, mask, buf, *_):
    raw = p.mem.read_cstr(path, 4096)
    hp = (proc_files.stat_path(p, raw) or guest_path(p, path)) if raw else b""
    b = _cbuf(hp)
    return call("statx", s32(dirfd), _addr(b), s32(flags), mask & 0xFFFFFFFF, ptr(p.mem, buf, 256))


@syscall("statfs")
def sys_statfs(p, cpu, path, buf, *_):
    b = _cbuf(guest_path(p, path))
    return call("statfs", _addr(b), ptr(p.mem, buf, 120))


@syscall("fstatfs")
def sys_fstatfs(p, cpu, fd, buf, *_):
    return call("fstatfs", s32(fd), ptr(p.mem, buf, 120))


@syscall("readlinkat")
def sys_readlinkat(p, cpu, dirfd, path, buf, size, *_):
    raw = p.mem.read_cstr(path, 4096)
    size = s32(size)
    if size <= 0:
        return -errno.EINVAL
    target = proc_files.readlink_special(p, raw)
    if target is None:
        b = _cbuf(guest_path(p, path))
        return call("readlinkat", s32(dirfd), _addr(b), ptr(p.mem, buf, size), size)
    data = os.fsencode(target)[:size]
    p.mem.write(buf, data)
    return len(data)


@syscall("faccessat", "faccessat2")
def sys_faccessat(p, cpu, dirfd, path, mode, flags, *_):
    raw = p.mem.read_cstr(path, 4096)
    hp = proc_files.stat_path(p, raw) or guest_path(p, path)
    b = _cbuf(hp)
    fl = s32(flags) if cpu.q[17] == 439 else 0
    return call("faccessat2", s32(dirfd), _addr(b), s32(mode), fl)


@syscall("mkdirat")
def sys_mkdirat(p, cpu, dirfd, path, mode, *_):
    b = _cbuf(guest_path(p, path))
    return call("mkdirat", s32(dirfd), _addr(b), mode & 0o7777)


@syscall("mknodat")
def sys_mknodat(p, cpu, dirfd, path, mode, dev, *_):
    b = _cbuf(guest_path(p, path))
    return call("mknodat", s32(dirfd), _addr(b), mode & 0xFFFFFFFF, dev)


@syscall("unlinkat")
def sys_unlinkat(p, cpu, dirfd, path, flags, *_):
    b = _cbuf(guest_path(p, path))
    return call("unlinkat", s32(dirfd), _addr(b), s32(flags))


@syscall("renameat", "renameat2")
def sys_renameat2(p, cpu, olddir, old, newdir, new, flags, *_):
    a, b = _cbuf(guest_path(p, old)), _cbuf(guest_path(p, new))
    fl = s32(flags) if cpu.q[17] == 276 else 0
    return call("renameat2", s32(olddir), _addr(a), s32(newdir), _addr(b), fl)


@syscall("linkat")
def sys_linkat(p, cpu, olddir, old, newdir, new, flags, *_):
    a, b = _cbuf(guest_path(p, old)), _cbuf(guest_path(p, new))
    return call("linkat", s32(olddir), _addr(a), s32(newdir), _addr(b), s32(flags))


@syscall("symlinkat")
def sys_symlinkat(p, cpu, target, newdir, path, *_):
    a = _cbuf(p.mem.read_cstr(target, 4096))
    b = _cbuf(guest_path(p, path))
    return call("symlinkat", _addr(a), s32(newdir), _addr(b))


@syscall("fchmod")
def sys_fchmod(p, cpu, fd, mode, *_):
    return call("fchmod", s32(fd), mode & 0o7777)


@syscall("fchmodat")
def sys_fchmodat(p, cpu, dirfd, path, mode, *_):
    b = _cbuf(guest_path(p, path))
    return call("fchmodat", s32(dirfd), _addr(b), mode & 0o7777)


@syscall("fchown")
def sys_fchown(p, cpu, fd, uid, gid, *_):
    return call("fchown", s32(fd), uid & 0xFFFFFFFF, gid & 0xFFFFFFFF)


@syscall("fchownat")
def sys_fchownat(p, cpu, dirfd, path, uid, gid, flags, *_):
    b = _cbuf(guest_path(p, path))
    return call("fchownat", s32(dirfd), _addr(b), uid & 0xFFFFFFFF, gid & 0xFFFFFFFF, s32(flags))


@syscall("truncate")
def sys_truncate(p, cpu, path, length, *_):
    b = _cbuf(guest_path(p, path))
    return call("truncate", _addr(b), length)


@syscall("utimensat")
def sys_utimensat(p, cpu, dirfd, path, times, flags, *_):
    b = _cbuf(guest_path(p, path)) if path else None
    return call("utimensat", s32(dirfd), _addr(b) if b is not None else 0, optr(p.mem, times, 32),
                s32(flags))


@syscall("getcwd")
def sys_getcwd(p, cpu, buf, size, *_):
    return call("getcwd", ptr(p.mem, buf, size), size)


@syscall("chdir")
def sys_chdir(p, cpu, path, *_):
    b = _cbuf(guest_path(p, path))
    return call("chdir", _addr(b))


@syscall("fchdir")
def sys_fchdir(p, cpu, fd, *_):
    return call("fchdir", s32(fd))


@syscall("umask")
def sys_umask(p, cpu, mask, *_):
    return call("umask", mask & 0o777)
