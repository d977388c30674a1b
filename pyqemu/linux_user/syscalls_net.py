"""Socket system calls.

sockaddr, msghdr, iovec, cmsghdr and the SOL_SOCKET option numbers are the same on
riscv64 and x86-64 (both use asm-generic/socket.h), so calls pass through to the host
with guest pointers rewritten; msghdr is rebuilt because it holds pointers.
"""

from __future__ import annotations

import ctypes
import errno

from pyqemu.linux_user.hostcall import HostIovec, call, optr, ptr
from pyqemu.linux_user.syscall_registry import s32, syscall
from pyqemu.linux_user.syscalls_files import eintr


def _socklen(p, lenp: int) -> int:
    return p.mem.read_u32(lenp) if lenp else 0


@syscall("socket")
def sys_socket(p, cpu, domain, type_, proto, *_):
    return call("socket", s32(domain), s32(type_), s32(proto))


@syscall("socketpair")
def sys_socketpair(p, cpu, domain, type_, proto, sv, *_):
    return call("socketpair", s32(domain), s32(type_), s32(proto), ptr(p.mem, sv, 8))


@syscall("bind", "connect")
def sys_bind_connect(p, cpu, fd, addr, alen, *_):
    name = "bind" if cpu.q[17] == 200 else "connect"
    n = alen & 0xFFFFFFFF
    return eintr(p, call, name, s32(fd), optr(p.mem, addr, n), n)


@syscall("listen")
def sys_listen(p, cpu, fd, backlog, *_):
    return call("listen", s32(fd), s32(backlog))


@syscall("accept", "accept4")
def sys_accept4(p, cpu, fd, addr, lenp, flags, *_):
    n = _socklen(p, lenp)
    fl = s32(flags) if cpu.q[17] == 242 else 0
    return eintr(p, call, "accept4", s32(fd), optr(p.mem, addr, n) if lenp else 0, optr(p.mem, lenp, 4), fl)


@syscall("getsockname", "getpeername")
def sys_getsockname(p, cpu, fd, addr, lenp, *_):
    n = _socklen(p, lenp)
    name = "getsockname" if cpu.q[17] == 204 else "getpeername"
    return call(name, s32(fd), optr(p.mem, addr, n), ptr(p.mem, lenp, 4))


@syscall("sendto")
def sys_sendto(p, cpu, fd, buf, length, flags, addr, alen):
    n = alen & 0xFFFFFFFF
    return eintr(p, call, "sendto", s32(fd), optr(p.mem, buf, length), length, s32(flags),
                 optr(p.mem, addr, n), n)


@syscall("recvfrom")
def sys_recvfrom(p, cpu, fd, buf, length, flags, addr, lenp):
    n = _socklen(p, lenp)
    return eintr(p, call, "recvfrom", s32(fd), optr(p.mem, buf, length), length, s32(flags),
                 optr(p.mem, addr, n) if lenp else 0, optr(p.mem, lenp, 4))


@syscall("setsockopt")
def sys_setsockopt(p, cpu, fd, level, name, val, vlen, *_):
    n = vlen & 0xFFFFFFFF
    return call("setsockopt", s32(fd), s32(level), s32(name), optr(p.mem, val, n), n)


@syscall("getsockopt")
def sys_getsockopt(p, cpu, fd, level, name, val, lenp, *_):
    n = _socklen(p, lenp)
    return call("getsockopt", s32(fd), s32(level), s32(name), optr(p.mem, val, n), ptr(p.mem, lenp, 4))


@syscall("shutdown")
def sys_shutdown(p, cpu, fd, how, *_):
    return call("shutdown", s32(fd), s32(how))


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_uint64), ("namelen", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("iov", ctypes.c_uint64), ("iovlen", ctypes.c_uint64), ("control", ctypes.c_uint64),
                ("controllen", ctypes.c_uint64), ("flags", ctypes.c_int32), ("pad2", ctypes.c_int32)]


def _host_msghdr(p, msg: int) -> tuple[_MsgHdr, HostIovec]:
    raw = p.mem.read(msg, 56)
    h = _MsgHdr.from_buffer_copy(raw)
    iov = HostIovec(p.mem, h.iov, h.iovlen)
    h.name = optr(p.mem, h.name, h.namelen)
    h.iov = iov.address
    h.control = optr(p.mem, h.control, h.controllen)
    return h, iov


@syscall("sendmsg")
def sys_sendmsg(p, cpu, fd, msg, flags, *_):
    h, _iov = _host_msghdr(p, msg)
    return eintr(p, call, "sendmsg", s32(fd), ctypes.addressof(h), s32(flags))


@syscall("recvmsg")
def sys_recvmsg(p, cpu, fd, msg, flags, *_):
    h, _iov = _host_msghdr(p, msg)
    r = eintr(p, call, "recvmsg", s32(fd), ctypes.addressof(h), s32(flags))
    # The kernel updates namelen, controllen and flags: copy them back.
    p.mem.write_u32(msg + 8, h.namelen)
    p.mem.write_u64(msg + 40, h.controllen)
    p.mem.write_u32(msg + 48, h.flags & 0xFFFFFFFF)
    return r


@syscall("sendmmsg", "recvmmsg")
def sys_mmsg(p, cpu, *_):
    return -errno.ENOSYS
