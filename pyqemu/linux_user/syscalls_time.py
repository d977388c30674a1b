"""Clocks, sleeps and interval timers.

struct timespec, timeval, itimerval and tms have the same 64-bit layout on riscv64 and
x86-64, so these pass through to the host kernel on guest buffers. A sleep interrupted
by a handled signal returns EINTR (with the remaining time), never restarts: signal(7).
"""

from __future__ import annotations

import ctypes
import errno

from pyqemu.linux_user.hostcall import call, optr, ptr
from pyqemu.linux_user.syscall_registry import s32, syscall
from pyqemu.linux_user.syscalls_files import eintr

TIMER_ABSTIME = 1
_libc = ctypes.CDLL(None, use_errno=True)


@syscall("clock_gettime")
def sys_clock_gettime(p, cpu, clk, tp, *_):
    return call("clock_gettime", s32(clk), ptr(p.mem, tp, 16))


@syscall("clock_getres")
def sys_clock_getres(p, cpu, clk, tp, *_):
    return call("clock_getres", s32(clk), optr(p.mem, tp, 16))


@syscall("gettimeofday")
def sys_gettimeofday(p, cpu, tv, tz, *_):
    return call("gettimeofday", optr(p.mem, tv, 16), optr(p.mem, tz, 8))


@syscall("nanosleep")
def sys_nanosleep(p, cpu, req, rem, *_):
    return eintr(p, call, "clock_nanosleep", 1, 0, ptr(p.mem, req, 16), optr(p.mem, rem, 16),
                 restartable=False)


@syscall("clock_nanosleep")
def sys_clock_nanosleep(p, cpu, clk, flags, req, rem, *_):
    # clock_nanosleep returns the error number instead of setting errno.
    try:
        return eintr(p, call, "clock_nanosleep", s32(clk), s32(flags), ptr(p.mem, req, 16),
                     optr(p.mem, rem, 16), restartable=False)
    except OSError as e:
        return -(e.errno or errno.EINVAL)


@syscall("times")
def sys_times(p, cpu, buf, *_):
    return call("times", optr(p.mem, buf, 32))


@syscall("getitimer")
def sys_getitimer(p, cpu, which, cur, *_):
    r = _libc.getitimer(s32(which), ctypes.c_void_p(ptr(p.mem, cur, 32)))
    return -ctypes.get_errno() if r < 0 else 0


@syscall("setitimer")
def sys_setitimer(p, cpu, which, new, old, *_):
    # A real-time timer raises a host SIGALRM, which reaches the guest through the host
    # handler installed for its disposition (or kills us by default, as it would natively).
    r = _libc.setitimer(s32(which), ctypes.c_void_p(ptr(p.mem, new, 32)), ctypes.c_void_p(optr(p.mem, old, 32)))
    return -ctypes.get_errno() if r < 0 else 0
