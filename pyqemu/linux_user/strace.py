"""``-strace``: system call log on stderr in qemu-riscv64's format.

Each call prints ``<pid> name(args)`` before it runs and `` = result`` after, so output
the call itself produces (a write to stderr) appears in between, as with qemu. Calls with
a known signature print symbolic flags, strings and pointers the way qemu's strace.list
does; others print their six registers in decimal. Errors print as
``-1 errno=N (message)``.
"""

from __future__ import annotations

import os
import sys

from pyqemu.linux_user import signals as sg
from pyqemu.linux_user.syscall_nr import SYSCALL_NAMES

# Argument kinds per call (see _fmt). Calls not listed print raw decimal registers.
FORMATS: dict[str, str] = {
    "brk": "P", "close": "d", "dup": "d", "dup3": "d d d", "exit": "d", "exit_group": "d",
    "read": "d x d", "write": "d x d", "pread64": "d x d d", "pwrite64": "d x d d",
    "readv": "d x d", "writev": "d x d", "lseek": "d d whence",
    "openat": "at s oflags mode?", "faccessat": "at s amode atflags",
    "faccessat2": "at s amode atflags", "newfstatat": "at s p x", "fstat": "d p",
    "statx": "at s atflags x p", "readlinkat": "at s p d", "mkdirat": "at s mode",
    "unlinkat": "at s atflags", "symlinkat": "s at s", "chdir": "s", "getcwd": "x d",
    "getdents64": "d x d", "ftruncate": "d d", "fchmod": "d mode", "umask": "mode",
    "mmap": "P d prot mflags d x", "munmap": "P d", "mprotect": "P d prot",
    "madvise": "P d madv", "rt_sigaction": "sig p p", "rt_sigprocmask": "how p p",
    "sigaltstack": "x x", "kill": "d sig", "tgkill": "d d sig", "tkill": "d sig",
    "gettid": "", "getpid": "", "getppid": "", "getuid": "", "geteuid": "", "getgid": "",
    "getegid": "", "uname": "x", "clock_gettime": "clk p", "clock_getres": "clk p",
    "clock_nanosleep": "clk d ts p", "nanosleep": "ts p", "ioctl": "d ioctl p",
    "fcntl": "d fcntl", "getrandom": "x d d", "futex": "P futex d p P d",
    "recvmsg": "d x d", "execve": "s argv", "sched_yield": "", "clone": "clone",
}
CLONE_FLAGS = [(0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
               (0x4000, "CLONE_VFORK"), (0x10000, "CLONE_THREAD"), (0x40000, "CLONE_SYSVSEM"),
               (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
               (0x200000, "CLONE_CHILD_CLEARTID"), (0x1000000, "CLONE_CHILD_SETTID")]
RESULT_PTR = {"brk", "mmap"}
NO_RESULT = {"exit", "exit_group"}

O_FLAGS = [(0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
           (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"), (0o40000, "O_DIRECT"),
           (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
           (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"), (0o4000000, "O_SYNC"),
           (0o10000000, "O_PATH")]
PROT = [(4, "PROT_EXEC"), (1, "PROT_READ"), (2, "PROT_WRITE")]
MFLAGS = [(0x01, "MAP_SHARED"), (0x02, "MAP_PRIVATE"), (0x20, "MAP_ANONYMOUS"), (0x800, "MAP_DENYWRITE"),
          (0x10, "MAP_FIXED"), (0x100, "MAP_GROWSDOWN"), (0x1000, "MAP_EXECUTABLE"),
          (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"),
          (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"),
          (0x100000, "MAP_FIXED_NOREPLACE")]
AT_FLAGS = [(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_EACCESS"), (0x400, "AT_SYMLINK_FOLLOW"),
            (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH")]
AMODE = [(4, "R_OK"), (2, "W_OK"), (1, "X_OK")]
CLOCKS = ["CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID",
          "CLOCK_MONOTONIC_RAW", "CLOCK_REALTIME_COARSE", "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME"]
WHENCE = ["SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE"]
HOW = ["SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK"]
MADV = {0: "MADV_NORMAL", 1: "MADV_RANDOM", 2: "MADV_SEQUENTIAL", 3: "MADV_WILLNEED", 4: "MADV_DONTNEED",
        8: "MADV_FREE", 9: "MADV_REMOVE", 10: "MADV_DONTFORK", 11: "MADV_DOFORK", 14: "MADV_HUGEPAGE"}
IOCTLS = {0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF", 0x5413: "TIOCGWINSZ",
          0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD", 0x5421: "FIONBIO", 0x540F: "TIOCGPGRP"}
FCNTL = {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK",
         6: "F_SETLK", 7: "F_SETLKW", 1030: "F_DUPFD_CLOEXEC"}
FUTEX = ["FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP",
         "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET"]


def _s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _flags(v: int, table: list[tuple[int, str]], zero: str = "0") -> str:
    names = []
    for bit, name in table:
        if v & bit:
            names.append(name)
            v &= ~bit
    if v:
        names.append(f"{v:#x}")
    return "|".join(names) if names else zero


def _ptr(v: int) -> str:
    return "NULL" if v == 0 else f"0x{v:016x}"


def _string(p, v: int) -> str:
    if v == 0:
        return "NULL"
    try:
        raw = p.mem.read_cstr(v, 4096)
    except Exception:
        return f"{v:#x}"
    return '"' + raw.decode("utf-8", "backslashreplace") + '"'


def _fmt(p, kind: str, v: int, args: tuple, i: int) -> str | None:
    if kind == "d":
        return str(_s64(v))
    if kind == "x":
        return f"{v:#x}" if v else "0"
    if kind == "p":
        return _ptr(v)
    if kind == "P":
        return _ptr(v)
    if kind == "s":
        return _string(p, v)
    if kind == "at":
        return "AT_FDCWD" if _s32(v) == -100 else str(_s32(v))
    if kind == "oflags":
        acc = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"][v & 3]
        rest = _flags(v & ~3, O_FLAGS, "")
        return acc + ("|" + rest if rest else "")
    if kind == "mode?":
        return f"0{v:o}" if args[2] & 0o100 else None
    if kind == "mode":
        return f"0{v:o}" if v else "0"
    if kind == "prot":
        return _flags(v, PROT, "PROT_NONE")
    if kind == "mflags":
        return _flags(v, MFLAGS)
    if kind == "atflags":
        return _flags(v, AT_FLAGS)
    if kind == "amode":
        return _flags(v, AMODE, "F_OK")
    if kind == "sig":
        return sg.signal_name(v) if 0 < v <= 31 else str(_s32(v))
    if kind == "how":
        return HOW[v] if v < 3 else str(v)
    if kind == "clk":
        return CLOCKS[v] if v < len(CLOCKS) else str(_s32(v))
    if kind == "whence":
        return WHENCE[v] if v < len(WHENCE) else str(v)
    if kind == "madv":
        return MADV.get(v, str(v))
    if kind == "ioctl":
        return IOCTLS.get(v & 0xFFFFFFFF, f"{v:#x}")
    if kind == "fcntl":
        return FCNTL.get(v, str(v)) + ("," + str(_s64(args[2])) if v in (0, 2, 4, 1030) else "")
    if kind == "futex":
        cmd = v & 0x7F
        name = FUTEX[cmd] if cmd < len(FUTEX) else str(cmd)
        return ("FUTEX_PRIVATE_FLAG|" if v & 128 else "") + ("FUTEX_CLOCK_REALTIME|" if v & 256 else "") + name
    if kind == "ts":
        if not v:
            return "NULL"
        try:
            sec, nsec = p.mem.read_u64(v), p.mem.read_u64(v + 8)
        except Exception:
            return f"{v:#x}"
        return f"{{tv_sec = {_s64(sec)},tv_nsec = {_s64(nsec)}}}"
    if kind == "clone":
        return (f"{_flags(v, CLONE_FLAGS)},child_stack={_ptr(args[1]).replace('NULL', '0x' + '0' * 16)},"
                f"parent_tidptr=0x{args[2]:016x},tls=0x{args[3]:016x},child_tidptr=0x{args[4]:016x}")
    if kind == "argv":
        items = []
        try:
            while v and len(items) < 64:
                s = p.mem.read_u64(v)
                if not s:
                    break
                items.append(_string(p, s))
                v += 8
        except Exception:
            pass
        return "{" + ",".join(items + ["NULL"]) + "}"
    return str(_s64(v))


def format_call(p, nr: int, args: tuple) -> str:
    name = SYSCALL_NAMES.get(nr)
    if name is None:
        return f"Unknown syscall {nr}"
    fmt = FORMATS.get(name)
    if fmt is None:
        parts = [str(_s64(a)) for a in args]
    else:
        parts = []
        for i, kind in enumerate(fmt.split()):
            s = _fmt(p, kind, args[i], args, i)
            if s is not None:
                parts.append(s)
    return f"{name}({','.join(parts)})"


def format_result(nr: int, ret: int | None, p=None, args: tuple = ()) -> str:
    name = SYSCALL_NAMES.get(nr, "")
    if name in NO_RESULT:
        return "\n"
    if ret is None:
        return " = -1 errno=513 (Successful exit from sigreturn)\n" if name == "rt_sigreturn" else " = 0\n"
    r = _s64(ret & 0xFFFFFFFFFFFFFFFF)
    if -4096 < r < 0:
        return f" = -1 errno={-r} ({os.strerror(-r)})\n"
    if name in RESULT_PTR:
        return f" = 0x{r & 0xFFFFFFFFFFFFFFFF:016x}\n"
    if name == "clock_gettime" and p is not None and r == 0:
        return f" = 0 ({_fmt(p, 'ts', args[1], args, 1)})\n"
    return f" = {r}\n"


def enter(p, nr: int, args: tuple) -> None:
    """Print the call half of the line (flushed: the call may write to the same stream)."""
    sys.stderr.write(f"{os.getpid()} {format_call(p, nr, args)}")
    sys.stderr.flush()


def leave(p, nr: int, args: tuple, ret: int | None) -> None:
    sys.stderr.write(format_result(nr, ret, p, args))
    sys.stderr.flush()


def signal_line(info: sg.SigInfo) -> str:
    """qemu's line for a delivered signal: --- SIGSEGV {si_signo=SIGSEGV, ...} ---"""
    name = sg.signal_name(info.signo)
    body = f"si_signo={name}, si_code={info.code}"
    if info.addr is not None:
        body += ", si_addr=" + ("NULL" if info.addr == 0 else f"0x{info.addr:016x}")
    elif info.signo == sg.SIGCHLD:
        body += f", si_pid={info.pid}, si_uid={info.uid}, si_status={info.status}"
    else:
        body += f", si_pid={info.pid}, si_uid={info.uid}"
    return f"--- {name} {{{body}}} ---\n"


def trace_signal(info: sg.SigInfo) -> None:
    sys.stderr.write(signal_line(info))
    sys.stderr.flush()
