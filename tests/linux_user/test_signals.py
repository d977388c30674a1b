"""Signal dispositions, masks, the riscv64 rt_sigframe and rt_sigreturn."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading

import pytest

from pyqemu.linux_user import signals as sg

from .guest_build import build
from .sysutil import new_process, sc, scratch

HANDLER = 0x123450


@pytest.fixture(autouse=True)
def restore_host_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def install(p, cpu, buf, sig, handler, flags=sg.SA_SIGINFO, mask=0):
    p.mem.write(buf, struct.pack("<QQQ", handler, flags, mask))
    assert sc(p, cpu, "rt_sigaction", sig, buf, 0, 8) == 0


def test_sigaction_roundtrip_and_mask() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    install(p, cpu, buf, sg.SIGUSR1, HANDLER, sg.SA_SIGINFO | sg.SA_RESTART, 1 << 4)
    assert sc(p, cpu, "rt_sigaction", sg.SIGUSR1, 0, buf + 0x100, 8) == 0
    assert struct.unpack("<QQQ", p.mem.read(buf + 0x100, 24)) == (HANDLER, sg.SA_SIGINFO | sg.SA_RESTART, 16)
    assert sc(p, cpu, "rt_sigaction", sg.SIGKILL, buf, 0, 8) == -22
    p.mem.write_u64(buf + 0x200, sg.bit(sg.SIGUSR2) | sg.bit(sg.SIGKILL))
    assert sc(p, cpu, "rt_sigprocmask", 0, buf + 0x200, buf + 0x208, 8) == 0
    assert sc(p, cpu, "rt_sigprocmask", 0, 0, buf + 0x208, 8) == 0
    assert p.mem.read_u64(buf + 0x208) == sg.bit(sg.SIGUSR2)  # SIGKILL cannot be blocked


def test_kill_self_delivers_frame_and_sigreturn_restores() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    install(p, cpu, buf, sg.SIGUSR1, HANDLER)
    for i in range(1, 32):
        if i != 2:
            cpu.set_x(i, 0x1000 + i)
    cpu.set_f(5, 0x4014000000000000)
    cpu.fcsr = 0x21
    sp_before = cpu.get_x(2)
    pc_before = cpu.pc
    assert sc(p, cpu, "kill", os.getpid(), sg.SIGUSR1) == 0
    assert p.exit_request[0] == 1
    p.deliver_signals(cpu)
    assert p.exit_request[0] == 0
    assert cpu.pc == HANDLER
    assert cpu.get_x(10) == sg.SIGUSR1
    frame = cpu.get_x(2)
    assert frame % 16 == 0 and frame < sp_before
    assert cpu.get_x(11) == frame and cpu.get_x(12) == frame + 128
    assert cpu.get_x(1) == p.trampoline and p.mm.can_execute(p.trampoline)
    signo, _errno, code = struct.unpack("<iii", p.mem.read(frame, 12))
    pid, = struct.unpack("<i", p.mem.read(frame + 16, 4))
    assert (signo, code, pid) == (sg.SIGUSR1, 0, os.getpid())
    uc = frame + 128
    assert p.mem.read_u64(uc + 176) == pc_before  # sc_regs.pc
    assert p.mem.read_u64(uc + 176 + 8 * 17) == 129  # a7 held the kill syscall number
    assert p.mem.read_u64(uc + 176 + 256 + 8 * 5) == 0x4014000000000000
    assert p.mem.read_u32(uc + 176 + 256 + 256) == 0x21
    # Inside the handler the signal is blocked.
    assert p.thread_of(cpu).mask & sg.bit(sg.SIGUSR1)
    # The handler clobbers registers, then returns through the trampoline.
    cpu.set_x(8, 0xdead)
    cpu.fcsr = 0
    assert p.mem.read(p.trampoline, 8) == struct.pack("<II", 0x08B00893, 0x00000073)
    cpu.set_x(17, 139)
    p.syscall(cpu)
    assert cpu.pc == pc_before and cpu.get_x(2) == sp_before
    assert cpu.get_x(8) == 0x1008 and cpu.get_x(10) == 0 and cpu.fcsr == 0x21
    assert not p.thread_of(cpu).mask & sg.bit(sg.SIGUSR1)


def test_blocked_signal_stays_pending_until_unblocked() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    install(p, cpu, buf, sg.SIGUSR2, HANDLER)
    p.mem.write_u64(buf + 0x100, sg.bit(sg.SIGUSR2))
    sc(p, cpu, "rt_sigprocmask", 0, buf + 0x100, 0, 8)
    sc(p, cpu, "tgkill", os.getpid(), os.getpid(), sg.SIGUSR2)
    assert p.exit_request[0] == 0
    sc(p, cpu, "rt_sigpending", buf + 0x200, 8)
    assert p.mem.read_u64(buf + 0x200) == sg.bit(sg.SIGUSR2)
    pc = cpu.pc
    p.deliver_signals(cpu)
    assert cpu.pc == pc
    sc(p, cpu, "rt_sigprocmask", 1, buf + 0x100, 0, 8)
    assert p.exit_request[0] == 1
    p.deliver_signals(cpu)
    assert cpu.pc == HANDLER


def test_guest_fault_runs_handler_on_altstack() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu, 0x20000)
    install(p, cpu, buf, sg.SIGSEGV, HANDLER, sg.SA_SIGINFO | sg.SA_ONSTACK)
    alt = buf + 0x10000
    p.mem.write(buf + 0x100, struct.pack("<QiiQ", alt, 0, 0, 0x8000))
    assert sc(p, cpu, "sigaltstack", buf + 0x100, 0, 0) == 0
    cpu.pc = 0x10100
    p.guest_fault(cpu, sg.SIGSEGV, sg.SEGV_MAPERR, 0x8)
    frame = cpu.get_x(2)
    assert alt < frame < alt + 0x8000
    assert cpu.pc == HANDLER
    assert struct.unpack("<iii", p.mem.read(frame, 12)) == (sg.SIGSEGV, 0, sg.SEGV_MAPERR)
    assert p.mem.read_u64(frame + 16) == 8


def test_default_fault_kills_with_the_signal() -> None:
    pid = os.fork()
    if pid == 0:
        try:
            p, cpu = new_process()
            p.guest_fault(cpu, sg.SIGSEGV, sg.SEGV_MAPERR, 0)
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV


def test_host_signal_reaches_guest_handler() -> None:
    p, cpu = new_process()
    buf = scratch(p, cpu)
    install(p, cpu, buf, sg.SIGUSR1, HANDLER)
    os.kill(os.getpid(), signal.SIGUSR1)  # Python runs the handler before returning here
    assert p.exit_request[0] == 1
    p.deliver_signals(cpu)
    assert cpu.pc == HANDLER


INHERIT = r"""
#include <signal.h>
#include <stdio.h>
int main(void) {
    int sigs[] = {SIGHUP, SIGINT, SIGUSR1, SIGTERM, SIGPIPE};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        sigaction(sigs[i], 0, &old);
        printf("%d:%s\n", sigs[i], old.sa_handler == SIG_IGN ? "ignored" : "default");
    }
    return 0;
}
"""


def test_ignored_signals_are_inherited_like_qemu() -> None:
    """`nohup`-style: a signal the emulator's parent ignores starts ignored in the guest
    (execve keeps SIG_IGN); the others start at their default, whatever Python set."""
    exe = build(INHERIT)

    def ignore_hup_and_usr1() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)

    runs = [subprocess.run(cmd, capture_output=True, preexec_fn=ignore_hup_and_usr1,
                           timeout=120, check=True).stdout
            for cmd in (["qemu-riscv64", exe], [sys.executable, "-m", "pyqemu.cli.riscv64_user", exe])]
    assert runs[0] == b"1:ignored\n2:default\n10:ignored\n15:default\n13:default\n"
    assert runs[1] == runs[0]


def test_a_thread_switches_the_host_disposition_at_once() -> None:
    """Not only the main thread: the host catches the signal as soon as the call returns."""
    p, cpu = new_process()
    buf = scratch(p, cpu)
    p.mem.write(buf, struct.pack("<QQQ", HANDLER, sg.SA_SIGINFO, 0))
    worker = threading.Thread(target=sc, args=(p, cpu, "rt_sigaction", sg.SIGUSR2, buf, 0, 8))
    worker.start()
    worker.join()
    os.kill(os.getpid(), signal.SIGUSR2)  # with the default action this would kill pytest
    assert p.host_signals and p.host_signals[-1] == signal.SIGUSR2


READ_STDIN = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char b[16];
    ssize_t n = read(0, b, sizeof b);
    printf("read %zd\n", n);
    return 0;
}
"""


@pytest.mark.parametrize("backend", ["native", "python"])
def test_ctrl_c_ends_a_guest_waiting_in_read(backend: str) -> None:
    """SIGINT at the default action while the guest waits in read(): the host catches
    it (so that a guest that blocks it would keep it pending), the read is interrupted
    and the default action ends the process by SIGINT, as under qemu-riscv64. The
    signal must reach the thread in the system call, not a helper thread."""
    import time

    exe = build(READ_STDIN)
    r, w = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "pyqemu.cli.riscv64_user", "-accel",
                                 f"tcg,backend={backend}", exe], stdin=r,
                                stdout=subprocess.PIPE)
        time.sleep(3)  # start-up, then the read
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(r)
        os.close(w)
    assert proc.returncode == -signal.SIGINT and out == b""
