"""signalfd4(2): a descriptor that reads the guest's pending signals.

The host's signals are the emulator's (host_dispositions.py): a host signalfd would
not see the guest's. So the guest's descriptor is one end of a host socket pair. The
other end stays with pyqemu, which keeps one byte in the pair while a signal that the
descriptor's mask selects is pending: poll, select and epoll on the guest's end see
what they would see on Linux. read() takes the pending signals and writes one struct
signalfd_siginfo (128 bytes) for each; it never reads the socket. A descriptor is
known by its socket's inode, so dup()s of it, and a child's copy after fork, work too.
pyqemu keeps both ends for the life of the process (the inode cannot come back with
another socket while it does): a pair of descriptors per signalfd ever made.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time

from pyqemu.linux_user import signals as sg
from pyqemu.linux_user.syscall_registry import s32, syscall

SFD_NONBLOCK, SFD_CLOEXEC = 0o4000, 0o2000000
SIGINFO_RECORD = 128  # sizeof(struct signalfd_siginfo)


class SignalFd:
    """One signalfd: its signal mask, pyqemu's end of the socket pair (which writes the
    byte) and a duplicate of the guest's end (which takes it back)."""

    def __init__(self, mask: int, ours: socket.socket, theirs: socket.socket) -> None:
        self.mask = mask
        self.ours = ours
        self.theirs = theirs
        self.ready = False  # whether the byte is in the pair


def _pack(info: sg.SigInfo) -> bytes:
    """struct signalfd_siginfo: ssi_signo, ssi_errno, ssi_code, ssi_pid, ssi_uid, ssi_fd,
    ssi_tid, ssi_band, ssi_overrun, ssi_trapno, ssi_status, ssi_int, ssi_ptr, ssi_utime,
    ssi_stime, ssi_addr (then padding to 128 bytes)."""
    rec = bytearray(SIGINFO_RECORD)
    status = info.status if info.signo == sg.SIGCHLD else 0
    struct.pack_into("<IiiIIiIIIIiiQQQQ", rec, 0, info.signo, info.errno, info.code,
                     info.pid & 0xFFFFFFFF, info.uid & 0xFFFFFFFF, 0, 0, 0, 0, 0, status,
                     info.value & 0xFFFFFFFF, info.value & 0xFFFFFFFFFFFFFFFF, 0, 0,
                     (info.addr or 0) & 0xFFFFFFFFFFFFFFFF)
    return bytes(rec)


def _find(p, fd: int) -> SignalFd | None:
    if not p.signalfds:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return p.signalfds.get((st.st_dev, st.st_ino))


def update_readiness(p) -> None:
    """Put the byte in (or take it out of) each signalfd's pair as its signals are
    pending or not (called whenever the pending sets change)."""
    if not p.signalfds:
        return
    with p.sig_lock:
        pending = 0
        for i in p.shared_pending:
            pending |= sg.bit(i.signo)
        for ts in p.threads.values():
            for i in ts.pending:
                pending |= sg.bit(i.signo)
    for sfd in p.signalfds.values():
        want = bool(pending & sfd.mask)
        if want == sfd.ready:
            continue
        try:
            if want:
                sfd.ours.send(b"s", socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
            else:
                sfd.theirs.recv(16, socket.MSG_DONTWAIT)
        except OSError:
            pass
        sfd.ready = want


@syscall("signalfd4")
def sys_signalfd4(p, cpu, fd, mask_addr, sizemask, flags, *_):
    fd, flags = s32(fd), s32(flags)
    if sizemask != 8 or flags & ~(SFD_NONBLOCK | SFD_CLOEXEC):
        return -errno.EINVAL
    mask = p.mem.read_u64(mask_addr) & ~sg.UNBLOCKABLE
    if fd != -1:
        sfd = _find(p, fd)
        if sfd is None:
            return -errno.EINVAL
        sfd.mask = mask
        update_readiness(p)
        return fd
    theirs, ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    guest = os.dup(theirs.fileno())
    os.set_inheritable(guest, not flags & SFD_CLOEXEC)
    os.set_blocking(guest, not flags & SFD_NONBLOCK)
    st = os.fstat(guest)
    p.signalfds[(st.st_dev, st.st_ino)] = SignalFd(mask, ours, theirs)
    update_readiness(p)
    return guest


def signalfd_read(p, cpu, fd: int, buf: int, count: int) -> int | None:
    """read() on a signalfd, or None when fd is not one."""
    sfd = _find(p, fd)
    if sfd is None:
        return None
    if count < SIGINFO_RECORD:
        return -errno.EINVAL
    ts = p.thread_of(cpu)
    while True:
        p._drain_host_signals()
        taken = []
        with p.sig_lock:
            # The lowest-numbered signals first, as the kernel dequeues them.
            found = sorted((i.signo, n, k) for n, lst in enumerate((ts.pending, p.shared_pending))
                           for k, i in enumerate(lst) if sfd.mask & sg.bit(i.signo))
            found = found[:count // SIGINFO_RECORD]
            lists = (ts.pending, p.shared_pending)
            taken = [lists[n][k] for _, n, k in found]
            for _, n, k in sorted(found, key=lambda f: (f[1], -f[2])):
                del lists[n][k]
        if taken:
            p.mem.write(buf, b"".join(_pack(i) for i in taken))
            update_readiness(p)
            p._update_exit_request()
            return len(taken) * SIGINFO_RECORD
        if not os.get_blocking(fd):
            return -errno.EAGAIN
        with p.sig_lock:
            if p._deliverable(ts):
                raise p._interrupt_kind()
        time.sleep(0.005)
