"""File descriptor system calls: I/O, duplication, fcntl, ioctl, pipes, getdents64.

Guest descriptors are host descriptors. Calls go to the host kernel through ctypes
(hostcall.py) rather than os.*: Python's wrappers make new descriptors close-on-exec
(PEP 446) and retry EINTR, both wrong for a guest. O_* and F_* values of riscv64
(asm-generic/fcntl.h) equal the x86-64 host's, so flags pass through unchanged.
"""

from __future__ import annotations

import errno

from pyqemu.linux_user.hostcall import HostIovec, call, optr, ptr
from pyqemu.linux_user.syscall_registry import s32, syscall

F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW = 0, 1, 2, 3, 4, 5, 6, 7
F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG = 8, 9, 10, 11
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS = 1030, 1031, 1032, 1033, 1034
_FCNTL_FLOCK = {F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW}
_FCNTL_INT = {F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG,
              F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS}
FLOCK_SIZE = 32  # struct flock: l_type, l_whence, l_start, l_len, l_pid (+pad), same on both

# Terminal and file ioctls (asm-generic/ioctls.h, shared by riscv64 and x86-64) with the
# size of the structure their argument points to; 0 = the argument is a plain integer.
IOCTL_PTR = {
    0x5401: 60, 0x5402: 60, 0x5403: 60, 0x5404: 60,  # TCGETS/TCSETS/TCSETSW/TCSETSF termios
    0x5413: 8, 0x5414: 8,  # TIOCGWINSZ/TIOCSWINSZ
    0x540F: 4, 0x5410: 4, 0x5429: 4,  # TIOCGPGRP/TIOCSPGRP/TIOCGSID
    0x541B: 4, 0x5421: 4, 0x5452: 4,  # FIONREAD, FIONBIO, FIOASYNC
    0x80045430: 4, 0x40045431: 4,  # TIOCGPTN, TIOCSPTLCK
}
IOCTL_INT = {0x5409, 0x540A, 0x540B, 0x540E, 0x5422, 0x5450, 0x5451, 0x5425, 0x5427, 0x5428}


def eintr(p, fn, *args, restartable: bool = True) -> int:
    """A host call that may block: EINTR becomes a guest EINTR or an SA_RESTART restart."""
    try:
        return fn(*args)
    except OSError as e:
        if e.errno == errno.EINTR:
            raise p._interrupt_kind(restartable) from None
        raise


@syscall("read")
def sys_read(p, cpu, fd, buf, count, *_):
    if p.signalfds:
        from pyqemu.linux_user.syscalls_signalfd import signalfd_read
        r = signalfd_read(p, cpu, s32(fd), buf, count)
        if r is not None:
            return r
    return eintr(p, call, "read", s32(fd), ptr(p.mem, buf, count) if count else 0, count)


@syscall("write")
def sys_write(p, cpu, fd, buf, count, *_):
    return eintr(p, call, "write", s32(fd), ptr(p.mem, buf, count) if count else 0, count)


@syscall("pread64")
def sys_pread64(p, cpu, fd, buf, count, off, *_):
    return eintr(p, call, "pread64", s32(fd), ptr(p.mem, buf, count) if count else 0, count, off)


@syscall("pwrite64")
def sys_pwrite64(p, cpu, fd, buf, count, off, *_):
    return eintr(p, call, "pwrite64", s32(fd), ptr(p.mem, buf, count) if count else 0, count, off)


@syscall("readv", "writev")
def sys_readv_writev(p, cpu, fd, iov, cnt, *_):
    v = HostIovec(p.mem, iov, s32(cnt))
    name = "readv" if cpu.q[17] == 65 else "writev"
    return eintr(p, call, name, s32(fd), v.address, v.cnt)


@syscall("preadv", "pwritev")
def sys_preadv_pwritev(p, cpu, fd, iov, cnt, pos_l, pos_h, *_):
    v = HostIovec(p.mem, iov, s32(cnt))
    name = "preadv" if cpu.q[17] == 69 else "pwritev"
    return eintr(p, call, name, s32(fd), v.address, v.cnt, pos_l, 0)


@syscall("lseek")
def sys_lseek(p, cpu, fd, off, whence, *_):
    return call("lseek", s32(fd), off, s32(whence))


@syscall("close")
def sys_close(p, cpu, fd, *_):
    return call("close", s32(fd))


@syscall("close_range")
def sys_close_range(p, cpu, first, last, flags, *_):
    return call("close_range", first & 0xFFFFFFFF, last & 0xFFFFFFFF, flags & 0xFFFFFFFF)


@syscall("dup")
def sys_dup(p, cpu, fd, *_):
    return call("dup", s32(fd))


@syscall("dup3")
def sys_dup3(p, cpu, old, new, flags, *_):
    return call("dup3", s32(old), s32(new), s32(flags))


@syscall("fcntl")
def sys_fcntl(p, cpu, fd, cmd, arg, *_):
    cmd = s32(cmd)
    if cmd in _FCNTL_FLOCK:
        return eintr(p, call, "fcntl", s32(fd), cmd, ptr(p.mem, arg, FLOCK_SIZE))
    if cmd in _FCNTL_INT:
        return call("fcntl", s32(fd), cmd, arg)
    return -errno.EINVAL


@syscall("ioctl")
def sys_ioctl(p, cpu, fd, req, arg, *_):
    req &= 0xFFFFFFFF
    size = IOCTL_PTR.get(req)
    if size is not None:
        return call("ioctl", s32(fd), req, ptr(p.mem, arg, size))
    if req in IOCTL_INT:
        return call("ioctl", s32(fd), req, arg)
    return -errno.ENOTTY


@syscall("pipe2")
def sys_pipe2(p, cpu, fds, flags, *_):
    return call("pipe2", ptr(p.mem, fds, 8), s32(flags))


@syscall("getdents64")
def sys_getdents64(p, cpu, fd, dirp, count, *_):
    # struct linux_dirent64 is architecture-independent.
    return call("getdents64", s32(fd), ptr(p.mem, dirp, count), count & 0xFFFFFFFF)


@syscall("ftruncate")
def sys_ftruncate(p, cpu, fd, length, *_):
    return call("ftruncate", s32(fd), length)


@syscall("fsync", "fdatasync", "syncfs")
def sys_fsync(p, cpu, fd, *_):
    name = {82: "fsync", 83: "fdatasync", 267: "syncfs"}[cpu.q[17]]
    return call(name, s32(fd))


@syscall("sync")
def sys_sync(p, cpu, *_):
    call("sync")
    return 0


@syscall("flock")
def sys_flock(p, cpu, fd, op, *_):
    return eintr(p, call, "flock", s32(fd), s32(op))


@syscall("fallocate")
def sys_fallocate(p, cpu, fd, mode, off, length, *_):
    return call("fallocate", s32(fd), s32(mode), off, length)


@syscall("fadvise64")
def sys_fadvise64(p, cpu, fd, off, length, advice, *_):
    return call("fadvise64", s32(fd), off, length, s32(advice))


@syscall("sendfile")
def sys_sendfile(p, cpu, out_fd, in_fd, offp, count, *_):
    return eintr(p, call, "sendfile", s32(out_fd), s32(in_fd), optr(p.mem, offp, 8), count)


@syscall("copy_file_range")
def sys_copy_file_range(p, cpu, fd_in, off_in, fd_out, off_out, length, flags):
    return call("copy_file_range", s32(fd_in), optr(p.mem, off_in, 8), s32(fd_out),
                optr(p.mem, off_out, 8), length, flags & 0xFFFFFFFF)


@syscall("splice")
def sys_splice(p, cpu, fd_in, off_in, fd_out, off_out, length, flags):
    return eintr(p, call, "splice", s32(fd_in), optr(p.mem, off_in, 8), s32(fd_out),
                 optr(p.mem, off_out, 8), length, flags & 0xFFFFFFFF)


@syscall("eventfd2")
def sys_eventfd2(p, cpu, initval, flags, *_):
    return call("eventfd2", initval & 0xFFFFFFFF, s32(flags))


@syscall("memfd_create")
def sys_memfd_create(p, cpu, name, flags, *_):
    p.mem.read_cstr(name)
    return call("memfd_create", ptr(p.mem, name), flags & 0xFFFFFFFF)


@syscall("ppoll")
def sys_ppoll(p, cpu, fds, nfds, tmo, sigmask, sigsetsize, *_):
    # struct pollfd is the same on both; the temporary signal mask is the guest's own
    # business (signals are delivered by the emulator), so the host call gets none.
    n = nfds & 0xFFFFFFFF
    if n > 65536:
        return -errno.EINVAL
    return eintr(p, call, "ppoll", optr(p.mem, fds, 8 * n) if n else 0, n, optr(p.mem, tmo, 16), 0, 8,
                 restartable=False)


@syscall("pselect6")
def sys_pselect6(p, cpu, nfds, rd, wr, ex, tmo, sig):
    n = s32(nfds)
    if n < 0:
        return -errno.EINVAL
    size = (n + 63) // 64 * 8
    return eintr(p, call, "pselect6", n, optr(p.mem, rd, size), optr(p.mem, wr, size),
                 optr(p.mem, ex, size), optr(p.mem, tmo, 16), 0, restartable=False)


@syscall("epoll_create1")
def sys_epoll_create1(p, cpu, flags, *_):
    return call("epoll_create1", s32(flags))


# struct epoll_event is packed on x86-64 (12 bytes) but naturally aligned (16 bytes) on
# riscv64: events (u32), 4 bytes of padding, data (u64). Convert in both directions.
@syscall("epoll_ctl")
def sys_epoll_ctl(p, cpu, epfd, op, fd, event, *_):
    import ctypes
    buf = (ctypes.c_char * 12)()
    if event:
        raw = p.mem.read(event, 16)
        buf[0:4] = raw[0:4]
        buf[4:12] = raw[8:16]
    return call("epoll_ctl", s32(epfd), s32(op), s32(fd), ctypes.addressof(buf) if event else 0)


@syscall("epoll_pwait")
def sys_epoll_pwait(p, cpu, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    import ctypes
    n = s32(maxevents)
    if n <= 0 or n > 65536:
        return -errno.EINVAL
    ptr(p.mem, events, 16 * n)
    buf = (ctypes.c_char * (12 * n))()
    got = eintr(p, call, "epoll_pwait", s32(epfd), ctypes.addressof(buf), n, s32(timeout), 0, 8, restartable=False)
    out = bytearray(16 * got)
    for i in range(got):
        out[16 * i:16 * i + 4] = buf[12 * i:12 * i + 4]
        out[16 * i + 8:16 * i + 16] = buf[12 * i + 4:12 * i + 12]
    p.mem.write(events, bytes(out))
    return got


@syscall("timerfd_create")
def sys_timerfd_create(p, cpu, clock, flags, *_):
    return call("timerfd_create", s32(clock), s32(flags))


@syscall("timerfd_settime")
def sys_timerfd_settime(p, cpu, fd, flags, new, old, *_):
    return call("timerfd_settime", s32(fd), s32(flags), ptr(p.mem, new, 32), optr(p.mem, old, 32))


@syscall("timerfd_gettime")
def sys_timerfd_gettime(p, cpu, fd, cur, *_):
    return call("timerfd_gettime", s32(fd), ptr(p.mem, cur, 32))


@syscall("inotify_init1")
def sys_inotify_init1(p, cpu, flags, *_):
    return call("inotify_init1", s32(flags))

