"""Direct host system calls on guest buffers.

Where the riscv64 and x86-64 Linux ABIs share a structure layout (iovec, pollfd,
sockaddr, linux_dirent64, struct statx, utsname, timespec, rusage, termios...), the
emulator hands the host kernel a pointer into the guest region instead of copying.
ctypes releases the GIL for the call, so a blocking read in one guest thread does not
stop the others, and a signal interrupts it with EINTR like on a native process.

Every guest pointer goes through ``ptr``: the whole buffer must lie inside the guest
region (otherwise GuestFault -> EFAULT), so the host kernel never writes elsewhere.
"""

from __future__ import annotations

import ctypes
import errno
import os

from pyqemu.linux_user.guest_memory import LOW, SPAN, GuestFault, GuestMemory

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long] * 7

# x86-64 host system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
HOST = dict(
    read=0, write=1, ioctl=16, pread64=17, pwrite64=18, readv=19, writev=20, mincore=27,
    sendfile=40, socket=41, connect=42, sendto=44, recvfrom=45, sendmsg=46, recvmsg=47,
    shutdown=48, bind=49, listen=50, getsockname=51, getpeername=52, socketpair=53,
    setsockopt=54, getsockopt=55, wait4=61, uname=63, fcntl=72, flock=73, getrusage=98,
    sysinfo=99, times=100, getgroups=115, setgroups=116, setresuid=117, getresuid=118,
    setresgid=119, getresgid=120, capget=125, statfs=137, fstatfs=138,
    sched_setaffinity=203, sched_getaffinity=204, getdents64=217, fadvise64=221,
    clock_nanosleep=230, epoll_ctl=233, waitid=247, mknodat=259, fchownat=260, pselect6=270,
    ppoll=271, splice=275, tee=276, utimensat=280, epoll_pwait=281, timerfd_create=283,
    fallocate=285, timerfd_settime=286, timerfd_gettime=287, accept4=288, eventfd2=290,
    epoll_create1=291, pipe2=293, inotify_init1=294, preadv=295, pwritev=296, prlimit64=302,
    getcpu=309, getrandom=318, memfd_create=319, copy_file_range=326, statx=332,
    close_range=436, faccessat2=439, clock_gettime=228, clock_getres=229, gettimeofday=96,
    rt_sigtimedwait=128, close=3, lseek=8, dup=32, kill=62, fsync=74, fdatasync=75,
    truncate=76, ftruncate=77, getcwd=79, chdir=80, fchdir=81, fchmod=91, fchown=93, umask=95,
    sync=162, tkill=200, tgkill=234, openat=257, mkdirat=258, newfstatat=262, unlinkat=263,
    linkat=265, symlinkat=266, readlinkat=267, fchmodat=268, faccessat=269, dup3=292,
    syncfs=306, renameat2=316,
)


def call(name: str, *args: int) -> int:
    """Host syscall by name; returns the result or raises OSError(errno)."""
    full = list(args) + [0] * (6 - len(args))
    r = _syscall(HOST[name], *full)
    if r == -1:
        e = ctypes.get_errno()
        if e:
            raise OSError(e, os.strerror(e))
    return r


def ptr(mem: GuestMemory, g: int, n: int = 1) -> int:
    """Host address of a guest buffer [g, g+n), checked to lie in the guest region."""
    if g < LOW or g + n > SPAN or n < 0:
        raise GuestFault(g)
    return mem.host_address(g)


def optr(mem: GuestMemory, g: int, n: int = 1) -> int:
    """Like ptr, but a NULL guest pointer stays NULL (optional arguments)."""
    return 0 if g == 0 else ptr(mem, g, n)


def iovec_total(mem: GuestMemory, iov: int, cnt: int) -> int:
    """Validate a guest iovec array in place (same layout as the host's); return the byte count."""
    if cnt < 0 or cnt > 1024:
        raise OSError(errno.EINVAL, "iovcnt")
    total = 0
    for i in range(cnt):
        base = mem.read_u64(iov + 16 * i)
        length = mem.read_u64(iov + 16 * i + 8)
        if length:
            ptr(mem, base, length)
        total += length
    return total


class HostIovec:
    """A host copy of a guest iovec array with pointers rewritten to host addresses."""

    def __init__(self, mem: GuestMemory, iov: int, cnt: int) -> None:
        if cnt < 0 or cnt > 1024:
            raise OSError(errno.EINVAL, "iovcnt")
        self.arr = (ctypes.c_uint64 * (2 * cnt + 2))()
        for i in range(cnt):
            base = mem.read_u64(iov + 16 * i)
            length = mem.read_u64(iov + 16 * i + 8)
            self.arr[2 * i] = ptr(mem, base, length) if length else 0
            self.arr[2 * i + 1] = length
        self.cnt = cnt

    @property
    def address(self) -> int:
        return ctypes.addressof(self.arr)
