"""Signal system calls: rt_sigaction, rt_sigprocmask, rt_sigreturn, sigaltstack,
rt_sigsuspend, rt_sigpending, rt_sigtimedwait, kill, tkill, tgkill (signal(7)).

Signals sent by the guest to its own process are queued inside the emulator (a host
SIGSEGV sent to ourselves would kill the emulator); signals for other processes go to
the host kernel.
"""

from __future__ import annotations

import errno
import os
import struct
import time

from pyqemu.linux_user import signals as sg
from pyqemu.linux_user.signals import SigAction, SigInfo
from pyqemu.linux_user.syscall_registry import s32, syscall

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2


def _check_sig(sig: int) -> None:
    if not 1 <= sig <= sg.NSIG:
        raise OSError(errno.EINVAL, "bad signal")


@syscall("rt_sigaction")
def sys_rt_sigaction(p, cpu, sig, act, oact, sigsetsize, *_):
    sig = s32(sig)
    _check_sig(sig)
    if sigsetsize != 8:
        return -errno.EINVAL
    new = SigAction.unpack(p.mem.read(act, 24)) if act else None
    if new is not None and sig in (sg.SIGKILL, sg.SIGSTOP):
        return -errno.EINVAL
    with p.sig_lock:
        old = p.sigactions[sig]
        if oact:
            p.mem.write(oact, old.pack())
        if new is not None:
            new.mask &= ~sg.UNBLOCKABLE
            p.sigactions[sig] = new
            # Setting SIG_IGN (or a default-ignore SIG_DFL) discards what is pending.
            if new.handler == sg.SIG_IGN or (new.handler == sg.SIG_DFL and
                                             sg.default_action(sig) == "ignore"):
                p.shared_pending[:] = [i for i in p.shared_pending if i.signo != sig]
                for ts in p.threads.values():
                    ts.pending[:] = [i for i in ts.pending if i.signo != sig]
    if new is not None:
        p.update_host_handler(sig)
    return 0


@syscall("rt_sigprocmask")
def sys_rt_sigprocmask(p, cpu, how, nset, oset, sigsetsize, *_):
    if sigsetsize != 8:
        return -errno.EINVAL
    ts = p.thread_of(cpu)
    old = ts.mask
    if nset:
        m = p.mem.read_u64(nset)
        how = s32(how)
        if how == SIG_BLOCK:
            ts.mask = old | m
        elif how == SIG_UNBLOCK:
            ts.mask = old & ~m
        elif how == SIG_SETMASK:
            ts.mask = m
        else:
            return -errno.EINVAL
        ts.mask &= ~sg.UNBLOCKABLE
        p.masks_changed()
    if oset:
        p.mem.write_u64(oset, old)
    p._update_exit_request()
    return 0


@syscall("rt_sigreturn")
def sys_rt_sigreturn(p, cpu, *_):
    ts = p.thread_of(cpu)
    ts.mask = sg.restore_frame(p.mem, cpu, ts)
    p.masks_changed()
    p._update_exit_request()
    return None  # a0 was restored with everything else


@syscall("sigaltstack")
def sys_sigaltstack(p, cpu, ss, old, *_):
    ts = p.thread_of(cpu)
    sp = cpu.get_x(2)
    if old:
        flags = sg.SS_ONSTACK if ts.on_altstack(sp) else ts.ss_flags
        p.mem.write(old, struct.pack("<QiiQ", ts.ss_sp, flags, 0, ts.ss_size))
    if ss:
        new_sp, flags, _pad, size = struct.unpack("<QiiQ", p.mem.read(ss, 24))
        if ts.on_altstack(sp):
            return -errno.EPERM
        mode = flags & ~sg.SS_AUTODISARM
        if mode not in (0, sg.SS_DISABLE, sg.SS_ONSTACK):
            return -errno.EINVAL
        if mode == sg.SS_DISABLE:
            ts.ss_sp, ts.ss_size, ts.ss_flags = 0, 0, sg.SS_DISABLE
        else:
            if size < sg.MINSIGSTKSZ:
                return -errno.ENOMEM
            ts.ss_sp, ts.ss_size, ts.ss_flags = new_sp, size, flags & sg.SS_AUTODISARM
    return 0


def _wait_for_signal(p, ts, deadline: float | None = None) -> bool:
    """Sleep until a signal is deliverable to this thread (True) or the deadline passes."""
    while True:
        p._drain_host_signals()
        with p.sig_lock:
            if p._deliverable(ts):
                return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.005 if deadline is None else max(min(0.005, deadline - time.monotonic()), 0))


@syscall("rt_sigsuspend")
def sys_rt_sigsuspend(p, cpu, mask, sigsetsize, *_):
    if sigsetsize != 8:
        return -errno.EINVAL
    ts = p.thread_of(cpu)
    new = p.mem.read_u64(mask) & ~sg.UNBLOCKABLE
    ts.saved_mask = ts.mask
    ts.mask = new
    p.masks_changed()
    _wait_for_signal(p, ts)
    # deliver_signals() builds the frame with saved_mask as the mask to restore.
    return -errno.EINTR


@syscall("rt_sigpending")
def sys_rt_sigpending(p, cpu, set_, sigsetsize, *_):
    ts = p.thread_of(cpu)
    p._drain_host_signals()
    m = 0
    with p.sig_lock:
        for i in ts.pending + p.shared_pending:
            m |= sg.bit(i.signo)
    p.mem.write_u64(set_, m & ts.mask)
    return 0


@syscall("rt_sigtimedwait")
def sys_rt_sigtimedwait(p, cpu, set_, info, timeout, sigsetsize, *_):
    ts = p.thread_of(cpu)
    want = p.mem.read_u64(set_)
    deadline = None
    if timeout:
        sec, nsec = struct.unpack("<qq", p.mem.read(timeout, 16))
        deadline = time.monotonic() + sec + nsec / 1e9
    while True:
        p._drain_host_signals()
        with p.sig_lock:
            # The lowest-numbered signal first, the thread's own before the process's,
            # as the kernel dequeues them.
            found = [(i.signo, n, k) for n, lst in enumerate((ts.pending, p.shared_pending))
                     for k, i in enumerate(lst) if want & sg.bit(i.signo)]
            if found:
                _, n, k = min(found)
                i = (ts.pending, p.shared_pending)[n].pop(k)
                if info:
                    p.mem.write(info, i.pack())
                p._update_exit_request()
                return i.signo
            if p._deliverable(ts):
                return -errno.EINTR
        if deadline is not None and time.monotonic() >= deadline:
            return -errno.EAGAIN
        time.sleep(0.005)


def _self_kill(p, sig: int, ts=None, code: int = sg.SI_USER) -> int:
    if sig == 0:
        return 0
    if sig == sg.SIGKILL:
        p.die(sig)
    if sig == sg.SIGSTOP:
        os.kill(os.getpid(), sig)
        return 0
    p.queue_signal(SigInfo(sig, code=code, pid=os.getpid(), uid=os.getuid()), ts)
    return 0


@syscall("kill")
def sys_kill(p, cpu, pid, sig, *_):
    pid, sig = s32(pid), s32(sig)
    if not 0 <= sig <= sg.NSIG:
        return -errno.EINVAL
    if pid == os.getpid():
        return _self_kill(p, sig)
    os.kill(pid, sig)
    return 0


def _find_thread(p, tid: int):
    with p.sig_lock:
        for ts in p.threads.values():
            if ts.tid == tid:
                return ts
    return None


@syscall("tgkill")
def sys_tgkill(p, cpu, tgid, tid, sig, *_):
    tgid, tid, sig = s32(tgid), s32(tid), s32(sig)
    if not 0 <= sig <= sg.NSIG or tid <= 0:
        return -errno.EINVAL
    if tgid == os.getpid():
        ts = _find_thread(p, tid)
        if ts is None:
            return -errno.ESRCH
        return _self_kill(p, sig, ts, sg.SI_TKILL)
    os.kill(tgid, sig) if tgid == tid else os.kill(tid, sig)
    return 0


@syscall("tkill")
def sys_tkill(p, cpu, tid, sig, *_):
    tid, sig = s32(tid), s32(sig)
    ts = _find_thread(p, tid)
    if ts is None:
        os.kill(tid, sig)
        return 0
    return _self_kill(p, sig, ts, sg.SI_TKILL)


@syscall("rt_sigqueueinfo")
def sys_rt_sigqueueinfo(p, cpu, pid, sig, info, *_):
    pid, sig = s32(pid), s32(sig)
    if pid != os.getpid():
        return -errno.EPERM
    raw = p.mem.read(info, 128)
    code, = struct.unpack_from("<i", raw, 8)
    value, = struct.unpack_from("<Q", raw, 24)
    p.queue_signal(SigInfo(sig, code=code, pid=os.getpid(), uid=os.getuid(), value=value))
    return 0
