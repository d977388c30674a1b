"""Process, memory, time and informational system calls."""

from __future__ import annotations

import errno
import os
import struct
import threading
import time

from pyqemu.linux_user.process import ThreadExit
from pyqemu.target.riscv.cpu_state import RiscvCPU

from .sysutil import new_process, sc, scratch


def test_uname_reports_riscv64() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    assert sc(p, cpu, "uname", buf) == 0
    fields = [p.mem.read(buf + 65 * i, 65).split(b"\0")[0].decode() for i in range(6)]
    assert fields[0] == "Linux" and fields[4] == "riscv64"


def test_time_calls() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    assert sc(p, cpu, "clock_gettime", 1, buf) == 0
    sec, nsec = struct.unpack("<qq", p.mem.read(buf, 16))
    assert abs(sec + nsec / 1e9 - time.monotonic()) < 1
    assert sc(p, cpu, "gettimeofday", buf, 0) == 0
    assert abs(struct.unpack("<q", p.mem.read(buf, 8))[0] - time.time()) < 2
    p.mem.write(buf, struct.pack("<qq", 0, 1_000_000))
    t0 = time.monotonic()
    assert sc(p, cpu, "nanosleep", buf, 0) == 0
    assert time.monotonic() - t0 >= 0.001


def test_unknown_syscall_is_enosys() -> None:
    p, cpu = new_process()
    cpu.set_x(17, 4000)
    p.syscall(cpu)
    assert cpu.get_x(10) == (-errno.ENOSYS) & (2**64 - 1)


def test_brk_and_mmap_syscalls() -> None:
    p, cpu = new_process()
    start = sc(p, cpu, "brk", 0)
    assert start == p.mm.start_brk
    assert sc(p, cpu, "brk", start + 0x21000) == start + 0x21000
    p.mem.write(start + 0x20000, b"heap")
    a = scratch(p, cpu)
    assert sc(p, cpu, "mprotect", a, 0x1000, 5) == 0
    assert p.mm.can_execute(a)
    assert sc(p, cpu, "munmap", a, 0x10000) == 0
    assert not p.mm.can_execute(a)
    assert sc(p, cpu, "mmap", 0, 0x1000, 3, 0x22 | 0x10, (1 << 64) - 1, 0x123) == -errno.EINVAL


def test_ids_and_getrandom() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    assert sc(p, cpu, "getpid") == os.getpid()
    assert sc(p, cpu, "gettid") == os.getpid()
    assert sc(p, cpu, "getuid") == os.getuid()
    assert sc(p, cpu, "getrandom", buf, 32, 0) == 32
    assert sc(p, cpu, "set_tid_address", buf) == os.getpid()


def test_futex_wake_and_timeout() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    p.mem.write_u32(buf, 7)
    assert sc(p, cpu, "futex", buf, 129, 1) == 0  # FUTEX_WAKE_PRIVATE, nobody waiting
    assert sc(p, cpu, "futex", buf, 128, 8, 0) == -errno.EAGAIN  # value differs
    p.mem.write(buf + 16, struct.pack("<qq", 0, 20_000_000))
    assert sc(p, cpu, "futex", buf, 128, 7, buf + 16) == -errno.ETIMEDOUT


def test_clone_thread_runs_and_clears_tid() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    ran = []

    def run_thread(child: RiscvCPU) -> None:
        ran.append((child.get_x(10), child.get_x(2), child.get_x(4)))
        # the thread's own view: gettid then exit
        tid = sc(p, child, "gettid")
        ran.append(tid)
        try:
            sc(p, child, "exit", 0)
        except ThreadExit:
            raise

    p.run_thread = run_thread
    flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x80000 | 0x100000 | 0x200000 | 0x40000
    p.mem.write_u32(buf + 8, 0xFFFF)
    tid = sc(p, cpu, "clone", flags, buf + 0x8000, buf, 0x7777, buf + 8)
    assert tid > 0 and p.mem.read_u32(buf) == tid
    # The joiner waits on the child's tid word like pthread_join does.
    deadline = time.time() + 5
    while p.mem.read_u32(buf + 8) != 0 and time.time() < deadline:
        time.sleep(0.01)
    assert p.mem.read_u32(buf + 8) == 0
    assert ran[0] == (0, buf + 0x8000, 0x7777) and ran[1] == tid
    assert len(p.threads) == 1 and threading.active_count() >= 1


def test_fork_and_wait4() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    pid = sc(p, cpu, "clone", 17, 0, 0, 0, 0)
    if pid == 0:
        os._exit(42 if sc(p, cpu, "getpid") == os.getpid() else 1)
    assert sc(p, cpu, "wait4", pid, buf, 0, 0) == pid
    status = p.mem.read_u32(buf)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 42
