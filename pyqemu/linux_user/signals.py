"""Guest signal state and the riscv64 Linux signal frame.

Signal numbers are asm-generic's (same as the x86-64 host for 1..64). A guest handler
runs on an ``rt_sigframe`` (arch/riscv/kernel/signal.c): ``struct siginfo`` (128 bytes)
followed by ``struct ucontext`` (asm/ucontext.h): uc_flags, uc_link, uc_stack, uc_sigmask,
padding to 128 bytes of mask room, then (16-byte aligned, offset 176) ``struct sigcontext``:
``user_regs_struct`` (pc, x1..x31) and the FP union, of which the D-extension view
(f[32] and fcsr) is used. The frame is 16-byte aligned below the interrupted sp (or at
the top of the alternate stack). The handler gets a0 = signo, a1 = &info, a2 = &uc and
returns through ra, which points at a ``li a7, 139; ecall`` trampoline.
"""

from __future__ import annotations

import signal
import struct

from pyqemu.linux_user.guest_memory import GuestMemory
from pyqemu.target.riscv.cpu_state import RiscvCPU

from ..record import Record

NSIG = 64
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE = 1, 2, 3, 4, 5, 6, 7, 8
SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 9, 10, 11, 12, 13, 14, 15
SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH = 17, 18, 19, 20, 21, 22, 23, 28
SIGSYS = 31

SIG_DFL, SIG_IGN = 0, 1
SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO = 0x1, 0x2, 0x4
SA_RESTORER, SA_ONSTACK, SA_RESTART = 0x04000000, 0x08000000, 0x10000000
SA_NODEFER, SA_RESETHAND = 0x40000000, 0x80000000
SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = 2048

# si_code values (asm-generic/siginfo.h)
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6
SEGV_MAPERR, SEGV_ACCERR = 1, 2
ILL_ILLOPC = 1
BUS_ADRALN = 1
TRAP_BRKPT = 1
CLD_EXITED, CLD_KILLED, CLD_DUMPED = 1, 2, 3

SIGINFO_SIZE = 128
UC_SIGMASK = 40
UC_MCONTEXT = 176
FP_OFFSET = UC_MCONTEXT + 32 * 8
UCONTEXT_SIZE = 960
FRAME_SIZE = SIGINFO_SIZE + UCONTEXT_SIZE

_DEFAULT_IGNORE = frozenset({SIGCHLD, SIGCONT, SIGURG, SIGWINCH})
IGNORED_BY_DEFAULT = sum(1 << (s - 1) for s in _DEFAULT_IGNORE)  # as a signal set
_DEFAULT_STOP = frozenset({SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU})
# Faults raised by an instruction: a blocked or ignored one still kills (force_sig_fault).
SYNC_SIGNALS = frozenset({SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP})
UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))


def bit(sig: int) -> int:
    return 1 << (sig - 1)


def default_action(sig: int) -> str:
    """'ignore', 'stop' or 'terminate' (signal(7) table; core vs. term is the host's business)."""
    if sig in _DEFAULT_IGNORE:
        return "ignore"
    if sig in _DEFAULT_STOP:
        return "stop"
    return "terminate"


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


class SigAction(Record):
    """The guest's struct sigaction on riscv64: handler, flags, mask (no sa_restorer slot)."""

    _fields = ("handler", "flags", "mask")

    def __init__(self, handler: int = SIG_DFL, flags: int = 0, mask: int = 0) -> None:
        self.handler = handler
        self.flags = flags
        self.mask = mask

    FORMAT = struct.Struct("<QQQ")

    def pack(self) -> bytes:
        return self.FORMAT.pack(self.handler, self.flags, self.mask)

    @classmethod
    def unpack(cls, raw: bytes) -> SigAction:
        h, f, m = cls.FORMAT.unpack(raw)
        return cls(h, f, m)


class SigInfo(Record):
    """The parts of siginfo_t the emulator fills in: addr is the fault address
    (SIGSEGV/SIGBUS/SIGILL/SIGTRAP), status SIGCHLD's, value sigqueue's and timers'."""

    _fields = ("signo", "code", "errno", "pid", "uid", "addr", "status", "value")

    def __init__(self, signo: int, code: int = SI_USER, errno: int = 0, pid: int = 0,
                 uid: int = 0, addr: int | None = None, status: int = 0,
                 value: int = 0) -> None:
        self.signo = signo
        self.code = code
        self.errno = errno
        self.pid = pid
        self.uid = uid
        self.addr = addr
        self.status = status
        self.value = value

    def pack(self) -> bytes:
        buf = bytearray(SIGINFO_SIZE)
        struct.pack_into("<iii", buf, 0, self.signo, self.errno, self.code)
        if self.addr is not None:
            struct.pack_into("<Q", buf, 16, self.addr & 0xFFFFFFFFFFFFFFFF)
        else:
            struct.pack_into("<iIiiQ", buf, 16, self.pid, self.uid, self.status, 0, self.value)
            if self.signo == SIGCHLD:
                struct.pack_into("<iIi", buf, 16, self.pid, self.uid, self.status)
        return bytes(buf)


class ThreadState(Record):
    """Per-thread signal and bookkeeping state (one per guest thread / RiscvCPU).
    saved_mask: the mask to restore after rt_sigsuspend's handler ran (None when not
    suspended)."""

    _fields = ("tid", "cpu", "mask", "pending", "ss_sp", "ss_flags", "ss_size",
               "clear_child_tid", "robust_list", "saved_mask")

    def __init__(self, tid: int, cpu: RiscvCPU | None = None, mask: int = 0,
                 pending: list[SigInfo] | None = None, ss_sp: int = 0,
                 ss_flags: int = SS_DISABLE, ss_size: int = 0, clear_child_tid: int = 0,
                 robust_list: int = 0, saved_mask: int | None = None) -> None:
        self.tid = tid
        self.cpu = cpu
        self.mask = mask
        self.pending: list[SigInfo] = [] if pending is None else pending
        self.ss_sp = ss_sp
        self.ss_flags = ss_flags
        self.ss_size = ss_size
        self.clear_child_tid = clear_child_tid
        self.robust_list = robust_list
        self.saved_mask = saved_mask

    def on_altstack(self, sp: int) -> bool:
        return self.ss_flags != SS_DISABLE and self.ss_sp < sp <= self.ss_sp + self.ss_size


def build_frame(mem: GuestMemory, cpu: RiscvCPU, ts: ThreadState, act: SigAction, info: SigInfo,
                old_mask: int, trampoline: int) -> None:
    """Push an rt_sigframe and redirect the hart to the handler (setup_rt_frame)."""
    sp = cpu.get_x(2)
    if act.flags & SA_ONSTACK and ts.ss_flags == 0 and not ts.on_altstack(sp):
        sp = ts.ss_sp + ts.ss_size
    frame = (sp - FRAME_SIZE) & ~15
    buf = bytearray(FRAME_SIZE)
    buf[0:SIGINFO_SIZE] = info.pack()
    uc = SIGINFO_SIZE
    ss_flags = SS_ONSTACK if ts.on_altstack(cpu.get_x(2)) else ts.ss_flags
    struct.pack_into("<QQQiiQQ", buf, uc, 0, 0, ts.ss_sp, ss_flags, 0, ts.ss_size, old_mask)
    q = cpu.q
    regs = [cpu.pc] + [q[i] for i in range(1, 32)]
    struct.pack_into("<32Q", buf, uc + UC_MCONTEXT, *regs)
    struct.pack_into("<32QI", buf, uc + FP_OFFSET, *[q[32 + i] for i in range(32)], cpu.fcsr)
    mem.write(frame, buf)
    if ts.ss_flags & SS_AUTODISARM and ts.on_altstack(frame + 1):
        ts.ss_sp, ts.ss_size, ts.ss_flags = 0, 0, SS_DISABLE
    cpu.set_x(2, frame)
    cpu.set_x(10, info.signo)
    cpu.set_x(11, frame)
    cpu.set_x(12, frame + uc)
    cpu.set_x(1, trampoline)
    cpu.pc = act.handler


def restore_frame(mem: GuestMemory, cpu: RiscvCPU, ts: ThreadState) -> int:
    """rt_sigreturn: reload registers and mask from the frame at sp; return the mask."""
    frame = cpu.get_x(2)
    uc = frame + SIGINFO_SIZE
    raw = mem.read(uc, UCONTEXT_SIZE)
    ss_sp, ss_flags, _pad, ss_size = struct.unpack_from("<QiiQ", raw, 16)
    mask = struct.unpack_from("<Q", raw, UC_SIGMASK)[0]
    regs = struct.unpack_from("<32Q", raw, UC_MCONTEXT)
    fregs = struct.unpack_from("<32QI", raw, FP_OFFSET)
    q = cpu.q
    cpu.pc = regs[0]
    for i in range(1, 32):
        q[i] = regs[i]
    for i in range(32):
        q[32 + i] = fregs[i]
    cpu.fcsr = fregs[32]
    # restore_altstack(): a handler may have edited uc_stack to change the alternate stack.
    if not ts.on_altstack(cpu.get_x(2)):
        if ss_flags & SS_DISABLE:
            ts.ss_sp, ts.ss_size, ts.ss_flags = 0, 0, SS_DISABLE
        elif ss_size >= MINSIGSTKSZ:
            ts.ss_sp, ts.ss_size, ts.ss_flags = ss_sp, ss_size, ss_flags & SS_AUTODISARM
    return mask & ~UNBLOCKABLE
