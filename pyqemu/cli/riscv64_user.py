"""``pyqemu-riscv64``: run a riscv64 Linux program, with qemu-riscv64's command line."""

from __future__ import annotations

import gc
import os
import sys
import threading

from .. import __version__
from .log import Log, LogError, help_text, parse_items

PROG = "pyqemu-riscv64"

USAGE = f"""usage: {PROG} [options] program [arguments...]
Linux CPU emulator (compiled for riscv64 emulation)

Options and associated environment variables:

Argument             Env-variable      Description
-h                                     print this help
-help
-L path              QEMU_LD_PREFIX    set the elf interpreter prefix to 'path'
-cpu model           QEMU_CPU          select CPU (-cpu help for list)
-E var=value         QEMU_SET_ENV      sets targets environment variable (see below)
-U var               QEMU_UNSET_ENV    unsets targets environment variable (see below)
-0 argv0             QEMU_ARGV0        forces target process argv[0] to be 'argv0'
-d item[,...]        QEMU_LOG          enable logging of specified items (use '-d help' for a list of items)
-D logfile           QEMU_LOG_FILENAME write logs to 'logfile' (default stderr)
-strace              QEMU_STRACE       log system calls
-g port              QEMU_GDB          wait gdb connection to 'port'
-accel tcg[,backend=native|python][,tb-cache=on|off]
                                      select the accelerator and TCG backend (native:
                                      x86-64 machine code, the default there); tb-cache:
                                      keep translations across runs (default on)
-version             QEMU_VERSION      display version information and exit

Defaults:
QEMU_LD_PREFIX  = /etc/qemu-binfmt/riscv64

You can use -E and -U options or the QEMU_SET_ENV and
QEMU_UNSET_ENV environment variables to set and unset
environment variables for the target process.
It is possible to provide several variables by separating them
by commas in getsubopt(3) style. Additionally it is possible to
provide the -E and -U options multiple times.
"""

CPUS = ("rv64", "any", "max", "sifive-u54", "sifive-e51")

# option -> takes an argument
OPTIONS = {"-h": False, "-help": False, "--help": False, "-L": True, "-cpu": True, "-E": True,
           "-U": True, "-0": True, "-d": True, "-D": True, "-strace": False, "-version": False,
           "--version": False, "-s": True, "-g": True, "-B": True, "-R": True, "-seed": True,
           "-singlestep": False, "-one-insn-per-tb": False, "-accel": True, "-p": True,
           "-r": True, "-dfilter": True, "-trace": True, "-plugin": True}


def fail(msg: str) -> None:
    sys.stderr.write(f"{PROG}: {msg}\n")
    sys.exit(1)


class Options:
    def __init__(self) -> None:
        self.ld_prefix = os.environ.get("QEMU_LD_PREFIX", "/etc/qemu-binfmt/riscv64")
        self.set_env: list[str] = []
        self.unset_env: list[str] = []
        self.argv0: str | None = os.environ.get("QEMU_ARGV0")
        self.log_items = os.environ.get("QEMU_LOG", "")
        self.log_file = os.environ.get("QEMU_LOG_FILENAME")
        self.strace = "QEMU_STRACE" in os.environ
        self.cpu = os.environ.get("QEMU_CPU", "rv64")
        self.singlestep = "QEMU_SINGLESTEP" in os.environ
        self.gdb: str | None = os.environ.get("QEMU_GDB")  # -g: wait for gdb on this port
        self.backend: str | None = None  # -accel tcg,backend=...: None picks the default
        self.tb_cache: str | None = None  # -accel tcg,tb-cache=on|off (either backend)
        self.passthrough: list[str] = []  # options a re-exec (execve) must repeat
        if "QEMU_SET_ENV" in os.environ:
            self.set_env += os.environ["QEMU_SET_ENV"].split(",")
        if "QEMU_UNSET_ENV" in os.environ:
            self.unset_env += os.environ["QEMU_UNSET_ENV"].split(",")


def parse(argv: list[str]) -> tuple[Options, list[str]]:
    o = Options()
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-") or a == "-":
            break
        if a == "--":
            i += 1
            break
        if a not in OPTIONS:

            sys.stderr.write(f"{PROG}: unknown option '{a[1:]}'\n")
            sys.exit(1)
        val = None
        if OPTIONS[a]:
            if i + 1 >= len(argv):
                sys.stderr.write(f"{PROG}: option '{a[1:]}' needs an argument\n")
                sys.exit(1)
            val = argv[i + 1]
            i += 1
        i += 1
        if a in ("-h", "-help", "--help"):
            sys.stdout.write(USAGE)
            sys.exit(0)
        if a in ("-version", "--version"):
            sys.stdout.write(f"{PROG} version {__version__} (pyqemu)\n"
                             "A Python reimplementation of QEMU's user-mode emulation\n")
            sys.exit(0)
        if a == "-L":
            o.ld_prefix = val
        elif a == "-E":
            o.set_env += val.split(",")
        elif a == "-U":
            o.unset_env += val.split(",")
        elif a == "-0":
            o.argv0 = val
        elif a == "-d":
            o.log_items = val
        elif a == "-D":
            o.log_file = val
        elif a in ("-singlestep", "-one-insn-per-tb"):
            o.singlestep = True
        elif a == "-strace":
            o.strace = True
        elif a == "-g":
            o.gdb = val
        elif a == "-cpu":
            if val == "help":
                sys.stdout.write("Available CPUs:\n" + "".join(f"  {c}\n" for c in CPUS))
                sys.exit(0)
            if val.split(",")[0] not in CPUS:
                fail(f"unable to find CPU model '{val}'")
            o.cpu = val
        elif a == "-accel":
            parts = val.split(",")
            if parts[0] != "tcg":
                fail(f"invalid accelerator {parts[0]}")
            for p in parts[1:]:
                if p in ("backend=python", "backend=native"):
                    o.backend = p.split("=", 1)[1]
                elif p in ("tb-cache=on", "tb-cache=off"):
                    o.tb_cache = p.split("=", 1)[1]
                else:
                    fail(f"-accel {val}: unsupported option '{p}'")
        if a in ("-L", "-cpu", "-E", "-U", "-strace", "-accel"):
            o.passthrough += [a] + ([val] if val is not None else [])
    return o, argv[i:]


def _host_environment() -> dict[str, str]:
    """The environment this process was started with.

    CPython may add to os.environ at start-up (PEP 538 sets LC_CTYPE when the locale is
    C), and the guest must see exactly what qemu-riscv64 would pass on: the exec-time
    block, which /proc/self/environ still shows.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return dict(os.environ)
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[os.fsdecode(k)] = os.fsdecode(v)
    return env


def guest_environment(o: Options) -> list[str]:
    env = _host_environment()
    for name in o.unset_env:
        env.pop(name, None)
    for item in o.set_env:
        if "=" in item:
            k, v = item.split("=", 1)
            env[k] = v
    return [f"{k}={v}" for k, v in env.items()]


def _make_engine(o: Options, process, log):
    """The CPU loop: native x86-64 code by default on x86-64 hosts, the Python backend
    elsewhere, on request, and under gdb (the gdbstub drives the Python loop)."""
    if o.backend == "python":
        backend = "python"  # (the native backend's modules take a while to import)
    else:
        from ..accel.tcg import native_user

        backend = o.backend or ("native" if native_user.host_supported() and not o.gdb
                                else "python")
    if backend == "native" and not native_user.host_supported():
        fail("-accel tcg,backend=native: the native backend needs an x86-64 Linux host")
    if backend == "native" and o.gdb:
        fail("-g: the gdbstub works with -accel tcg,backend=python only")
    max_insns = 1 if o.singlestep else 0
    if backend == "native":
        return native_user.NativeUserEngine(process.mem, process.mm.can_execute, process,
                                            process, log, max_insns=max_insns,
                                            tb_cache=o.tb_cache)
    from ..accel.tcg.cpu_exec import UserEngine  # the Python backend, imported when used

    return UserEngine(process.mem, process.mm.can_execute, process.exit_request, process, log,
                      max_insns=max_insns, tb_cache=o.tb_cache)


def main(argv: list[str] | None = None) -> None:
    # Start-up makes tens of thousands of objects that live as long as the process
    # (modules, classes, the guest's mappings): the collector's passes over them while
    # they are made find nothing to free and cost a short run a tenth of its start-up.
    # It is switched back on, with those objects frozen out of its view, when the
    # guest starts (start_collector).
    gc.disable()
    try:
        _main(sys.argv[1:] if argv is None else argv)
    finally:
        gc.enable()


def _main(args: list[str]) -> None:
    o, rest = parse(args)
    if not rest:
        sys.stdout.write(USAGE)
        sys.exit(1)
    try:
        items = parse_items(o.log_items)
    except LogError as e:
        if str(e) == "help":
            sys.stdout.write(help_text())
            sys.exit(0)
        fail(str(e))
    if "strace" in items:
        o.strace = True
    log = Log(items, o.log_file) if items else None

    from ..linux_user.elf_loader import LoadError
    from ..linux_user.process import Process

    path = rest[0]
    guest_argv = [o.argv0 if o.argv0 is not None else path] + rest[1:]
    exec_argv = [sys.executable, "-m", "pyqemu.cli.riscv64_user"] + o.passthrough
    ld_prefix = o.ld_prefix if o.ld_prefix and os.path.isdir(o.ld_prefix) else None
    try:
        process, cpu = Process.create(path, guest_argv, guest_environment(o), ld_prefix,
                                      o.strace, exec_argv)
    except LoadError as e:
        fail(str(e))
    engine = _make_engine(o, process, log)
    process.invalidate_code = engine.invalidate_code
    process.run_thread = engine.run
    if hasattr(engine, "thread_started"):
        process.on_thread_start = engine.thread_started
    threading.stack_size(64 << 20)
    sys.setrecursionlimit(10000)
    if o.gdb:
        from ..gdbstub.user import start_user_gdbstub

        try:
            start_user_gdbstub(o.gdb, engine, process)
        except (OSError, ValueError):
            fail(f"could not open gdbserver on {o.gdb}")
    start_collector()
    engine.run(cpu)


def start_collector() -> None:
    """The cyclic garbage collector on again, for what the guest run makes, with what
    exists now moved out of its generations (gc.freeze: start-up's objects stay)."""
    gc.freeze()
    gc.enable()


if __name__ == "__main__":
    main()
