"""Process and thread system calls: exit, clone (threads and fork), execve, wait, ids,
limits, futex, and the small informational calls (uname, sysinfo, getrandom...).

Threads are host threads running the CPU loop (``process.run_thread``); fork is a host
fork, so the child gets a copy of the guest memory for free; execve of a riscv64 ELF
re-executes the emulator on it (``process.exec_argv``), anything else runs natively,
which is what qemu-riscv64 does without binfmt_misc.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
import sys
import threading
import time

from pyqemu.linux_user import proc_files
from pyqemu.linux_user import process as pr
from pyqemu.linux_user.elf_loader import EM_RISCV
from pyqemu.linux_user.futex import do_futex
from pyqemu.linux_user.hostcall import call, optr, ptr
from pyqemu.linux_user.syscall_registry import s32, syscall
from pyqemu.linux_user.syscalls_files import eintr
from pyqemu.linux_user.syscalls_fs import guest_path
from pyqemu.target.riscv.cpu_state import LR_ADDR, RESERVATION_NONE, RiscvCPU

PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_SET_NAME, PR_GET_NAME = 15, 16


def exit_process(p, status: int) -> None:
    """exit_group: flush what the guest would expect on disk, then leave at once."""
    for v in list(p.mm.vmas):
        p.mm._writeback(v)
    sys.stdout.flush()
    gdb = getattr(p, "gdb", None)
    if gdb is not None:
        gdb.on_exit(status & 0xFF)  # gdb hears "exited with code N" first
    os._exit(status & 0xFF)


@syscall("exit_group")
def sys_exit_group(p, cpu, status, *_):
    exit_process(p, status)


@syscall("exit")
def sys_exit(p, cpu, status, *_):
    ts = p.thread_of(cpu)
    with p.sig_lock:
        others = [t for t in p.threads.values() if t is not ts]
    if not others:
        exit_process(p, status)
    if ts.tid == os.getpid():
        # The thread-group leader leaves, the process lives on until the last thread:
        # wait here (the CLI would otherwise end the host process with this thread).
        p.end_thread(cpu)
        while True:
            with p.sig_lock:
                if not p.threads:
                    break
            time.sleep(0.02)
        exit_process(p, status)
    raise pr.ThreadExit()


@syscall("set_tid_address")
def sys_set_tid_address(p, cpu, tidptr, *_):
    ts = p.thread_of(cpu)
    ts.clear_child_tid = tidptr
    return ts.tid


@syscall("set_robust_list", "get_robust_list", "rseq", "clone3")
def sys_enosys(p, cpu, *_):
    return -errno.ENOSYS


@syscall("gettid")
def sys_gettid(p, cpu, *_):
    return p.thread_of(cpu).tid


@syscall("getpid")
def sys_getpid(p, cpu, *_):
    return os.getpid()


@syscall("getppid")
def sys_getppid(p, cpu, *_):
    return os.getppid()


@syscall("getuid", "geteuid", "getgid", "getegid")
def sys_ids(p, cpu, *_):
    return {174: os.getuid, 175: os.geteuid, 176: os.getgid, 177: os.getegid}[cpu.q[17]]()


@syscall("getresuid", "getresgid")
def sys_getres(p, cpu, a, b, c, *_):
    name = "getresuid" if cpu.q[17] == 148 else "getresgid"
    return call(name, ptr(p.mem, a, 4), ptr(p.mem, b, 4), ptr(p.mem, c, 4))


@syscall("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid")
def sys_setids(p, cpu, a, b, c, *_):
    nr = cpu.q[17]
    m = {146: lambda: os.setuid(a), 144: lambda: os.setgid(a), 145: lambda: os.setreuid(s32(a), s32(b)),
         143: lambda: os.setregid(s32(a), s32(b)), 147: lambda: os.setresuid(s32(a), s32(b), s32(c)),
         149: lambda: os.setresgid(s32(a), s32(b), s32(c))}
    if nr in m:
        m[nr]()
        return 0
    return os.getuid() if nr == 151 else os.getgid()


@syscall("getgroups")
def sys_getgroups(p, cpu, size, lst, *_):
    n = s32(size)
    return call("getgroups", n, optr(p.mem, lst, 4 * max(n, 0)) if n > 0 else 0)


@syscall("setgroups")
def sys_setgroups(p, cpu, size, lst, *_):
    return call("setgroups", s32(size), optr(p.mem, lst, 4 * max(s32(size), 0)))


@syscall("getpgid")
def sys_getpgid(p, cpu, pid, *_):
    return os.getpgid(s32(pid))


@syscall("setpgid")
def sys_setpgid(p, cpu, pid, pgid, *_):
    os.setpgid(s32(pid), s32(pgid))
    return 0


@syscall("getsid")
def sys_getsid(p, cpu, pid, *_):
    return os.getsid(s32(pid))


@syscall("setsid")
def sys_setsid(p, cpu, *_):
    return os.setsid()


# --- clone: threads and fork ----------------------------------------------------------------
@syscall("clone")
def sys_clone(p, cpu, flags, newsp, ptid, tls, ctid, *_):
    """clone(flags, newsp, parent_tid, tls, child_tid): the generic argument order."""
    if flags & pr.CLONE_VM and flags & pr.CLONE_THREAD:
        if not flags & pr.CLONE_SIGHAND:
            return -errno.EINVAL
        child = RiscvCPU()
        child.copy_from(cpu)
        child.set_x(10, 0)
        child.q[LR_ADDR] = RESERVATION_NONE
        if newsp:
            child.set_x(2, newsp)
        if flags & pr.CLONE_SETTLS:
            child.set_x(4, tls)
        return p.start_thread(cpu, child, ptid, ctid, flags)
    if flags & pr.CLONE_VM and not flags & pr.CLONE_VFORK:
        return -errno.EINVAL  # a separate process sharing memory: not supported
    return _fork(p, cpu, flags, newsp, ptid, tls, ctid)


def _fork(p, cpu, flags, newsp, ptid, tls, ctid) -> int:
    """fork/vfork as a host fork. For vfork the parent waits until the child execs or
    exits (a close-on-exec pipe reaches EOF), which is the ordering vfork guarantees."""
    vfork = bool(flags & pr.CLONE_VFORK)
    rfd = wfd = -1
    if vfork:
        r0, w0 = os.pipe()
        rfd, wfd = fcntl.fcntl(r0, fcntl.F_DUPFD_CLOEXEC, 900), fcntl.fcntl(w0, fcntl.F_DUPFD_CLOEXEC, 900)
        os.close(r0)
        os.close(w0)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        if getattr(p, "gdb", None) is not None:
            p.gdb.forked_child()  # the debugger stays with the parent
        if vfork:
            os.close(rfd)
            p.vfork_fd = wfd
        ts = p.thread_of(cpu)
        with p.sig_lock:
            p.threads = {id(cpu): ts}
        ts.tid = os.getpid()
        p.main_thread = threading.current_thread()
        if newsp:
            cpu.set_x(2, newsp)
        if flags & pr.CLONE_SETTLS:
            cpu.set_x(4, tls)
        if flags & pr.CLONE_CHILD_SETTID:
            p.mem.write_u32(ctid, ts.tid)
        if flags & pr.CLONE_CHILD_CLEARTID:
            ts.clear_child_tid = ctid
        return 0
    if flags & pr.CLONE_PARENT_SETTID:
        p.mem.write_u32(ptid, pid)
    if vfork:
        os.close(wfd)
        try:
            while os.read(rfd, 1):
                pass
        except OSError:
            pass
        os.close(rfd)
    return pid


# --- execve -------------------------------------------------------------------------------
def _read_ptr_array(p, addr: int) -> list[bytes]:
    out = []
    while addr:
        s = p.mem.read_u64(addr)
        if not s:
            break
        out.append(p.mem.read_cstr(s))
        addr += 8
        if len(out) > 1 << 16:
            raise OSError(errno.E2BIG, "too many arguments")
    return out


def _is_riscv_elf(path: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return len(head) == 20 and head[:4] == b"\x7fELF" and head[4] == 2 and \
        struct.unpack_from("<H", head, 18)[0] == EM_RISCV


@syscall("execve")
def sys_execve(p, cpu, path, argv, envp, *_):
    raw = p.mem.read_cstr(path, 4096)
    args = _read_ptr_array(p, argv)
    env = _read_ptr_array(p, envp)
    host = proc_files.stat_path(p, raw) or guest_path(p, path)
    if not os.access(host, os.F_OK):
        return -errno.ENOENT
    if os.path.isdir(host) or not os.access(host, os.X_OK):
        return -errno.EACCES
    for v in list(p.mm.vmas):
        p.mm._writeback(v)
    env_map = dict(e.split(b"=", 1) for e in env if b"=" in e)
    if _is_riscv_elf(host):
        exe = [os.fsencode(a) for a in p.exec_argv]
        argv0 = args[0] if args else raw
        new_argv = exe + [b"-0", argv0, os.fsencode(os.path.abspath(os.fsdecode(host)))] + args[1:]
        os.execve(exe[0], new_argv, env_map)
    os.execve(host, args or [raw], env_map)
    return -errno.ENOEXEC


# --- wait ----------------------------------------------------------------------------------
@syscall("wait4")
def sys_wait4(p, cpu, pid, status, options, rusage, *_):
    # The status goes to our own word when the guest passes NULL: a SIGCHLD still
    # pending for that child describes it from p.reaped (Process._child_info).
    own = ctypes.c_uint32()
    where = optr(p.mem, status, 4) if status else ctypes.addressof(own)
    r = eintr(p, call, "wait4", s32(pid), where, s32(options), optr(p.mem, rusage, 144))
    if r > 0:
        p.reaped.append((r, p.mem.read_u32(status) if status else own.value))
    return r


@syscall("waitid")
def sys_waitid(p, cpu, idtype, id_, infop, options, rusage, *_):
    return eintr(p, call, "waitid", s32(idtype), s32(id_), optr(p.mem, infop, 128), s32(options),
                 optr(p.mem, rusage, 144))


# --- futex --------------------------------------------------------------------------------
@syscall("futex")
def sys_futex(p, cpu, uaddr, op, val, utime, uaddr2, val3):
    ts = p.thread_of(cpu)

    def interrupted() -> bool:
        if p.host_signals:
            return True
        with p.sig_lock:
            return p._deliverable(ts)
    try:
        return do_futex(p.mem, uaddr, s32(op), val, utime, uaddr2, val3, interrupted)
    except OSError as e:
        if e.errno == errno.EINTR:
            raise p._interrupt_kind() from None
        raise


# --- limits, scheduling, system information -------------------------------------------------
@syscall("prlimit64")
def sys_prlimit64(p, cpu, pid, resource, new, old, *_):
    return call("prlimit64", s32(pid), s32(resource), optr(p.mem, new, 16), optr(p.mem, old, 16))


@syscall("getrlimit")
def sys_getrlimit(p, cpu, resource, old, *_):
    return call("prlimit64", 0, s32(resource), 0, ptr(p.mem, old, 16))


@syscall("setrlimit")
def sys_setrlimit(p, cpu, resource, new, *_):
    return call("prlimit64", 0, s32(resource), ptr(p.mem, new, 16), 0)


@syscall("getrusage")
def sys_getrusage(p, cpu, who, usage, *_):
    return call("getrusage", s32(who), ptr(p.mem, usage, 144))


@syscall("sched_getaffinity")
def sys_sched_getaffinity(p, cpu, pid, size, mask, *_):
    return call("sched_getaffinity", s32(pid), size, ptr(p.mem, mask, size))


@syscall("sched_setaffinity")
def sys_sched_setaffinity(p, cpu, pid, size, mask, *_):
    return call("sched_setaffinity", s32(pid), size, ptr(p.mem, mask, size))


@syscall("sched_yield")
def sys_sched_yield(p, cpu, *_):
    os.sched_yield()
    return 0


@syscall("sched_getscheduler", "sched_getparam", "sched_setscheduler", "sched_setparam",
         "setpriority")
def sys_sched_misc(p, cpu, pid, a, *_):
    if cpu.q[17] == 121 and a:
        p.mem.write_u32(a, 0)
    return 0


@syscall("getpriority")
def sys_getpriority(p, cpu, which, who, *_):
    return 20 - os.getpriority(s32(which), s32(who))


@syscall("sched_get_priority_max", "sched_get_priority_min")
def sys_sched_prio(p, cpu, policy, *_):
    return 0 if s32(policy) in (0, 3, 5) else 99 if cpu.q[17] == 125 else 1


@syscall("getcpu")
def sys_getcpu(p, cpu, cpup, nodep, *_):
    if cpup:
        p.mem.write_u32(cpup, 0)
    if nodep:
        p.mem.write_u32(nodep, 0)
    return 0


@syscall("uname")
def sys_uname(p, cpu, buf, *_):
    u = os.uname()
    try:
        with open("/proc/sys/kernel/domainname") as f:
            domain = f.read().strip()
    except OSError:
        domain = "(none)"
    fields = [u.sysname, u.nodename, u.release, u.version, "riscv64", domain]
    p.mem.write(buf, b"".join(os.fsencode(f)[:64].ljust(65, b"\0") for f in fields))
    return 0


@syscall("sysinfo")
def sys_sysinfo(p, cpu, info, *_):
    return call("sysinfo", ptr(p.mem, info, 112))


@syscall("getrandom")
def sys_getrandom(p, cpu, buf, n, flags, *_):
    return eintr(p, call, "getrandom", ptr(p.mem, buf, n) if n else 0, n, flags & 0xFFFFFFFF)


@syscall("personality")
def sys_personality(p, cpu, persona, *_):
    return 0


@syscall("capget")
def sys_capget(p, cpu, hdr, data, *_):
    return call("capget", ptr(p.mem, hdr, 8), optr(p.mem, data, 24))


@syscall("prctl")
def sys_prctl(p, cpu, option, a2, a3, a4, a5, *_):
    option = s32(option)
    if option == PR_SET_NAME:
        p.thread_of(cpu).name = p.mem.read_cstr(a2, 16)[:15]
        return 0
    if option == PR_GET_NAME:
        name = getattr(p.thread_of(cpu), "name", os.path.basename(os.fsencode(p.exe_path))[:15])
        p.mem.write(a2, name.ljust(16, b"\0"))
        return 0
    if option in (PR_GET_DUMPABLE,):
        return 1
    if option in (PR_SET_DUMPABLE, PR_SET_PDEATHSIG):
        return 0
    return -errno.EINVAL
