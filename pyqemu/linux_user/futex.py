"""futex(2) on guest memory, implemented with the host futex on the same bytes.

Guest futex words live in the host mapping of the guest region, so the host kernel can
wait and wake on them directly (with the GIL released by ctypes). Waits are cut into
short slices so that a thread waiting in the kernel still notices a guest signal meant
for it (the kernel would interrupt the wait with EINTR; Python can only do it by polling).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import time

from pyqemu.linux_user.guest_memory import GuestMemory

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
SYS_futex_host = 202  # x86-64 host number

FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = 0, 1, 2, 3, 4, 5
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI = 6, 7, 8
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI2 = 11, 12, 13
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
SLICE = 0.05  # seconds a waiter sleeps in the kernel before looking for signals


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _raw(addr: int, op: int, val: int, timeout: int | _Timespec | None, addr2: int, val3: int) -> int:
    tp = ctypes.byref(timeout) if isinstance(timeout, _Timespec) else ctypes.c_void_p(timeout or None)
    r = _libc.syscall(ctypes.c_long(SYS_futex_host), ctypes.c_void_p(addr), ctypes.c_int(op),
                      ctypes.c_uint(val & 0xFFFFFFFF), tp, ctypes.c_void_p(addr2 or None),
                      ctypes.c_uint(val3 & 0xFFFFFFFF))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def futex_wake(mem: GuestMemory, uaddr: int, n: int, private: bool = True) -> int:
    op = FUTEX_WAKE | (FUTEX_PRIVATE_FLAG if private else 0)
    mem.read_u32(uaddr)  # EFAULT check before handing the address to the host
    return _raw(mem.host_address(uaddr), op, n, None, 0, 0)


def futex_wait(mem: GuestMemory, uaddr: int, val: int, deadline: float | None, bitset: int,
               private: bool, interrupted) -> int:
    """Sleep while *uaddr == val until woken, the monotonic deadline, or a signal.

    ``interrupted()`` is polled between slices; returns 0 or raises OSError
    (EAGAIN value changed, ETIMEDOUT, EINTR).
    """
    mem.read_u32(uaddr)
    host = mem.host_address(uaddr)
    op = FUTEX_WAIT_BITSET | (FUTEX_PRIVATE_FLAG if private else 0)
    while True:
        now = time.monotonic()
        end = now + SLICE if deadline is None else min(now + SLICE, deadline)
        ts = _Timespec(int(end), int((end - int(end)) * 1e9))
        try:
            return _raw(host, op, val, ts, 0, bitset)
        except OSError as e:
            if e.errno not in (errno.ETIMEDOUT, errno.EINTR):
                raise
            if deadline is not None and time.monotonic() >= deadline:
                raise OSError(errno.ETIMEDOUT, "timeout") from None
            if interrupted():
                raise OSError(errno.EINTR, "interrupted") from None


def do_futex(mem: GuestMemory, uaddr: int, op: int, val: int, utime: int, uaddr2: int, val3: int,
             interrupted) -> int:
    """The futex(2) multiplexer for the guest (timeouts: struct timespec, same on both ABIs)."""
    cmd = op & 0x7F
    private = bool(op & FUTEX_PRIVATE_FLAG)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAIT else val3
        if bitset == 0:
            raise OSError(errno.EINVAL, "empty bitset")
        deadline = None
        if utime:
            sec, nsec = struct.unpack("<qq", mem.read(utime, 16))
            if sec < 0 or not 0 <= nsec < 1_000_000_000:
                raise OSError(errno.EINVAL, "bad timeout")
            t = sec + nsec / 1e9
            if cmd == FUTEX_WAIT:
                deadline = time.monotonic() + t  # relative
            elif op & FUTEX_CLOCK_REALTIME:
                deadline = time.monotonic() + (t - time.time())
            else:
                deadline = t  # absolute CLOCK_MONOTONIC, the same clock as time.monotonic()
        return futex_wait(mem, uaddr, val, deadline, bitset, private, interrupted)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        mem.read_u32(uaddr)
        return _raw(mem.host_address(uaddr), op, val, None, 0, val3)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP):
        # utime carries val2 (a count) for these operations, not a pointer.
        mem.read_u32(uaddr)
        mem.read_u32(uaddr2)
        return _raw(mem.host_address(uaddr), op, val, utime, mem.host_address(uaddr2), val3)
    if cmd in (FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI):
        mem.read_u32(uaddr)
        return _raw(mem.host_address(uaddr), op, val, None, 0, 0)
    raise OSError(errno.ENOSYS, "futex op")
