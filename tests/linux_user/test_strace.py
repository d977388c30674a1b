"""-strace lines in qemu-riscv64's format."""

from __future__ import annotations

from pyqemu.linux_user import strace
from pyqemu.linux_user.signals import SigInfo
from pyqemu.linux_user.syscall_nr import NR

from .sysutil import cstr, new_process, scratch

M = (1 << 64) - 1


def test_call_formats() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    path = cstr(p, buf, "/etc/ld.so.cache")
    f = strace.format_call
    assert f(p, NR["openat"], (-100 & M, path, 0o2000000, 0, 0, 0)) == \
        'openat(AT_FDCWD,"/etc/ld.so.cache",O_RDONLY|O_CLOEXEC)'
    assert f(p, NR["openat"], (-100 & M, path, 0o1101, 0o644, 0, 0)) == \
        'openat(AT_FDCWD,"/etc/ld.so.cache",O_WRONLY|O_CREAT|O_TRUNC,0644)'
    assert f(p, NR["mmap"], (0x4000, 20480, 3, 0x812, 3, 0x122000)) == \
        "mmap(0x0000000000004000,20480,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_DENYWRITE|MAP_FIXED,3,0x122000)"
    assert f(p, NR["mmap"], (0, 8192, 5, 0x22, M, 0)) == \
        "mmap(NULL,8192,PROT_EXEC|PROT_READ,MAP_PRIVATE|MAP_ANONYMOUS,-1,0)"
    assert f(p, NR["write"], (1, 0x7df90, 94, 0, 0, 0)) == "write(1,0x7df90,94)"
    assert f(p, NR["brk"], (0, 0, 0, 0, 0, 0)) == "brk(NULL)"
    assert f(p, NR["rt_sigaction"], (10, 0x40028031b8, 0, 8, 0, 0)) == \
        "rt_sigaction(SIGUSR1,0x00000040028031b8,NULL)"
    assert f(p, NR["set_tid_address"], (512208, 466392, 0, 508848, 512192, 508848)) == \
        "set_tid_address(512208,466392,0,508848,512192,508848)"
    assert f(p, NR["exit_group"], (0, 0, 0, 0, 0, 0)) == "exit_group(0)"
    assert f(p, 9999, (0,) * 6) == "Unknown syscall 9999"


def test_result_formats() -> None:
    r = strace.format_result
    assert r(NR["brk"], 0x7d000) == " = 0x000000000007d000\n"
    assert r(NR["openat"], -2 & M) == " = -1 errno=2 (No such file or directory)\n"
    assert r(NR["set_robust_list"], -38 & M) == " = -1 errno=38 (Function not implemented)\n"
    assert r(NR["write"], 94) == " = 94\n"
    assert r(NR["exit_group"], None) == "\n"


def test_signal_line() -> None:
    assert strace.signal_line(SigInfo(11, code=1, addr=0)) == \
        "--- SIGSEGV {si_signo=SIGSEGV, si_code=1, si_addr=NULL} ---\n"
