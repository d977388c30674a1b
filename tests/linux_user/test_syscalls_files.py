"""File, stat and directory system calls against the host, through guest buffers."""

from __future__ import annotations

import errno
import os
import struct

from pyqemu.linux_user.syscalls_fs import AT_FDCWD, STAT_FORMAT

from .sysutil import cstr, new_process, sc, scratch

FDCWD = AT_FDCWD & (2**64 - 1)


def test_open_write_read_stat(tmp_path) -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    path = cstr(p, buf, str(tmp_path / "f.txt"))
    fd = sc(p, cpu, "openat", FDCWD, path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o640)
    assert fd >= 3
    data = buf + 0x1000
    p.mem.write(data, b"hello world")
    assert sc(p, cpu, "write", fd, data, 11) == 11
    assert sc(p, cpu, "lseek", fd, 6, 0) == 6
    assert sc(p, cpu, "read", fd, data + 0x100, 100) == 5
    assert p.mem.read(data + 0x100, 5) == b"world"
    assert sc(p, cpu, "pread64", fd, data + 0x200, 5, 0) == 5
    assert p.mem.read(data + 0x200, 5) == b"hello"
    st = buf + 0x2000
    assert sc(p, cpu, "fstat", fd, st) == 0
    fields = STAT_FORMAT.unpack(p.mem.read(st, 128))
    host = os.stat(tmp_path / "f.txt")
    assert fields[1] == host.st_ino and fields[2] == host.st_mode and fields[8] == 11
    assert fields[14] == int(host.st_mtime) and fields[9] == host.st_blksize
    assert sc(p, cpu, "close", fd) == 0
    assert sc(p, cpu, "close", fd) == -errno.EBADF
    assert sc(p, cpu, "newfstatat", FDCWD, path, st, 0) == 0
    assert STAT_FORMAT.unpack(p.mem.read(st, 128))[1] == host.st_ino
    missing = cstr(p, buf + 0x3000, str(tmp_path / "nope"))
    assert sc(p, cpu, "newfstatat", FDCWD, missing, st, 0) == -errno.ENOENT
    assert sc(p, cpu, "openat", FDCWD, missing, 0, 0) == -errno.ENOENT


def test_statx_passthrough(tmp_path) -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    (tmp_path / "x").write_bytes(b"12345")
    path = cstr(p, buf, str(tmp_path / "x"))
    assert sc(p, cpu, "statx", FDCWD, path, 0, 0x7FF, buf + 0x1000) == 0
    size, = struct.unpack_from("<Q", p.mem.read(buf + 0x1000 + 40, 8))
    assert size == 5


def test_getdents_and_directories(tmp_path) -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    d = cstr(p, buf, str(tmp_path / "dir"))
    assert sc(p, cpu, "mkdirat", FDCWD, d, 0o755) == 0
    for name in ("b", "a"):
        (tmp_path / "dir" / name).write_text(name)
    fd = sc(p, cpu, "openat", FDCWD, d, os.O_RDONLY | os.O_DIRECTORY, 0)
    n = sc(p, cpu, "getdents64", fd, buf + 0x1000, 4096)
    raw = p.mem.read(buf + 0x1000, n)
    names, pos = [], 0
    while pos < n:
        reclen, = struct.unpack_from("<H", raw, pos + 16)
        names.append(raw[pos + 19:pos + reclen].split(b"\0")[0].decode())
        pos += reclen
    assert sorted(names) == [".", "..", "a", "b"]
    sc(p, cpu, "close", fd)
    f = cstr(p, buf + 0x3000, str(tmp_path / "dir" / "a"))
    assert sc(p, cpu, "unlinkat", FDCWD, f, 0) == 0
    assert sc(p, cpu, "unlinkat", FDCWD, d, 0x200) == -errno.ENOTEMPTY
    assert sc(p, cpu, "getcwd", buf + 0x4000, 4096) > 0
    assert p.mem.read_cstr(buf + 0x4000).decode() == os.getcwd()


def test_readlink_proc_self_exe_and_maps() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    path = cstr(p, buf, "/proc/self/exe")
    n = sc(p, cpu, "readlinkat", FDCWD, path, buf + 0x100, 4096)
    assert p.mem.read(buf + 0x100, n).decode() == p.exe_path
    maps = cstr(p, buf, "/proc/self/maps")
    fd = sc(p, cpu, "openat", FDCWD, maps, 0, 0)
    n = sc(p, cpu, "read", fd, buf + 0x1000, 0x8000)
    text = p.mem.read(buf + 0x1000, n).decode()
    assert "[stack]" in text and p.exe_path in text
    cpuinfo = cstr(p, buf, "/proc/cpuinfo")
    fd = sc(p, cpu, "openat", FDCWD, cpuinfo, 0, 0)
    n = sc(p, cpu, "read", fd, buf + 0x1000, 0x8000)
    assert b"rv64" in p.mem.read(buf + 0x1000, n)


def test_pipe_dup_fcntl_and_bad_pointer() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    assert sc(p, cpu, "pipe2", buf, os.O_CLOEXEC) == 0
    r, w = struct.unpack("<ii", p.mem.read(buf, 8))
    assert sc(p, cpu, "fcntl", r, 1, 0) == 1  # F_GETFD: FD_CLOEXEC
    w2 = sc(p, cpu, "dup", w)
    assert sc(p, cpu, "fcntl", w2, 1, 0) == 0  # dup clears close-on-exec
    p.mem.write(buf + 0x100, b"ping")
    assert sc(p, cpu, "write", w2, buf + 0x100, 4) == 4
    assert sc(p, cpu, "read", r, buf + 0x200, 10) == 4
    assert sc(p, cpu, "read", r, 8, 10) == -errno.EFAULT  # NULL page
    assert sc(p, cpu, "write", w, 1 << 40, 10) == -errno.EFAULT  # beyond the address space
    for fd in (r, w, w2):
        sc(p, cpu, "close", fd)


def test_ioctl_tcgets_on_pipe_is_enotty() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    sc(p, cpu, "pipe2", buf, 0)
    r, _w = struct.unpack("<ii", p.mem.read(buf, 8))
    assert sc(p, cpu, "ioctl", r, 0x5401, buf + 0x100) == -errno.ENOTTY
    assert sc(p, cpu, "ioctl", r, 0x12345678, 0) == -errno.ENOTTY


def test_socketpair_roundtrip() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    assert sc(p, cpu, "socketpair", 1, 1, 0, buf) == 0
    a, b = struct.unpack("<ii", p.mem.read(buf, 8))
    p.mem.write(buf + 0x100, b"data")
    assert sc(p, cpu, "sendto", a, buf + 0x100, 4, 0, 0, 0) == 4
    assert sc(p, cpu, "recvfrom", b, buf + 0x200, 16, 0, 0, 0) == 4
    assert p.mem.read(buf + 0x200, 4) == b"data"
