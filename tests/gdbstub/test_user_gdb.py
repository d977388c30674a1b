"""gdb-multiarch on pyqemu-riscv64 -g: breakpoints, steps, registers, disassembly,
watchpoints, signals and the exit, checked against qemu-riscv64 -g where it can do the
same (qemu's user mode has no watchpoints)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .gdbutil import GUESTS, ROOT, finish, free_port, run_gdb, start_user

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from guestlib import build_guest  # noqa: E402


@pytest.fixture(scope="module")
def debugme() -> Path:
    return build_guest(GUESTS / "debugme.c", "static", ("-O0", "-g"))


def _session(binary: Path, commands: list[str], qemu: bool = False,
             args: tuple[str, ...] = ()) -> tuple[str, int, str]:
    port = free_port()
    proc = start_user(binary, port, args, qemu=qemu)
    try:
        out = run_gdb(commands, port, binary)
    finally:
        status, stdout = finish(proc)
    return out, status, stdout


def _stops(out: str) -> list[str]:
    """The lines that say where gdb stopped and what it showed, without run-dependent
    parts (the stack address, the inferior's name)."""
    keep = []
    for line in out.splitlines():
        if line.startswith(("sp ", "The target architecture")) or "in _start ()" in line:
            continue
        line = re.sub(r"\(process \d+\)|\(Remote target\)", "", line)
        # Stack addresses: qemu and pyqemu place the stack differently.
        keep.append(re.sub(r"0x(3f|40)[0-9a-f]{6,8}\b", "STACK", line))
    return keep


def test_break_step_registers_like_qemu(debugme: Path) -> None:
    script = ["break bump", "continue", "info registers pc ra a0 gp", "x/8i $pc", "stepi",
              "p $pc", "next", "step", "bt", "info frame", "finish", "delete", "continue"]
    ours, status, stdout = _session(debugme, script)
    ref, ref_status, ref_stdout = _session(debugme, script, qemu=True)
    assert "Breakpoint 1, bump (by=1)" in ours
    assert "=> 0x" in ours and "exited with code 012" in ours
    assert (status, stdout) == (ref_status, ref_stdout) == (10, "total 10\n")
    assert _stops(ours) == _stops(ref)


def test_watchpoint_old_and_new_values_then_exit(debugme: Path) -> None:
    out, status, stdout = _session(debugme, [
        "break bump", "continue", "delete", "watch counter", "continue", "continue",
        "rwatch counter", "continue", "delete", "continue"])
    assert "Hardware watchpoint 2: counter" in out
    assert re.search(r"Old value = 0\s+New value = 1", out), out
    assert re.search(r"Old value = 1\s+New value = 3", out), out
    assert "Hardware read watchpoint 3: counter" in out and "Value = 3" in out
    assert "exited with code 012" in out
    assert (status, stdout) == (10, "total 10\n")


def test_signal_reported_then_fatal(debugme: Path) -> None:
    out, status, _ = _session(debugme, ["continue", "p $pc == (long)&main || 1",
                                        "continue"], args=("crash",))
    assert "Program received signal SIGSEGV" in out
    assert "Program terminated with signal SIGSEGV" in out
    assert status == -11


def test_qemu_gdb_environment_variable(debugme: Path) -> None:
    port = free_port()
    proc = start_user(debugme, port, env={"QEMU_GDB": str(port)})
    try:
        out = run_gdb(["break main", "continue", "continue"], port, debugme)
    finally:
        status, stdout = finish(proc)
    assert "Breakpoint 1, main" in out and "exited with code 012" in out
    assert status == 10


def test_guest_threads_are_gdb_threads() -> None:
    binary = build_guest(GUESTS / "threads.c", "static", ("-O0", "-g"))
    out, status, stdout = _session(binary, ["break worker", "continue", "info threads",
                                            "bt 1", "thread 1", "delete", "continue"])
    assert "Thread 2 hit Breakpoint 1, worker (arg=0x2a)" in out, out
    rows = re.findall(r"^\*?\s+(\d+)\s+Thread (\d+)", out, re.M)
    assert [r[0] for r in rows] == ["1", "2"] and rows[0][1] != rows[1][1], out
    assert "[Switching to thread 1" in out and "exited normally" in out
    assert (status, stdout) == (0, "shared 42\n")


def test_dynamic_pie_program_with_shared_libraries() -> None:
    """gdb relocates a PIE and finds ld.so and libc through the auxiliary vector."""
    binary = build_guest(GUESTS / "debugme.c", "dynamic", ("-O0", "-g"))
    port = free_port()
    proc = start_user(binary, port, ("-L", "/usr/riscv64-linux-gnu"), prefix=True)
    try:
        out = run_gdb(["set sysroot /usr/riscv64-linux-gnu", "break bump", "continue", "bt",
                       "info sharedlibrary", "delete", "continue"], port, binary)
    finally:
        status, stdout = finish(proc)
    assert "Breakpoint 1, bump (by=1)" in out and re.search(r"#1 .* in main \(", out), out
    assert "/usr/riscv64-linux-gnu/lib/libc.so.6" in out and "exited with code 012" in out
    assert (status, stdout) == (10, "total 10\n")


def test_signal_sent_to_the_guest_stops_then_passes_like_qemu(debugme: Path) -> None:
    script = ["continue", "bt 1", "continue"]
    ours, status, stdout = _session(debugme, script, args=("usr1",))
    ref, ref_status, ref_stdout = _session(debugme, script, qemu=True, args=("usr1",))
    assert "Program received signal SIGUSR1" in ours
    assert (status, stdout) == (ref_status, ref_stdout) == (310 & 0x7F, "total 310\n")
    assert _stops(ours) == _stops(ref)


def test_forked_children_run_undebugged() -> None:
    """fork, exec, a child killed by a signal: under gdb as without it."""
    binary = build_guest(ROOT / "tests" / "guest" / "c" / "fork_exec_wait.c")
    ref = subprocess.run(["qemu-riscv64", str(binary)], cwd=ROOT, capture_output=True,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C"}, timeout=120)
    out, status, stdout = _session(binary, ["break main", "continue", "continue"])
    assert "Breakpoint 1, " in out and "exited with code" in out
    assert (status, stdout) == (ref.returncode, ref.stdout.decode()), out


def test_every_thread_reaching_a_breakpoint_is_reported() -> None:
    binary = build_guest(GUESTS / "workers.c", "static", ("-O0", "-g"))
    out, status, stdout = _session(binary, ["break work"] + ["continue"] * 5)
    hits = re.findall(r"hit Breakpoint 1, work \(id=(\d)\)", out)
    assert sorted(hits) == ["1", "2", "3", "4"], out
    assert "exited normally" in out
    assert (status, stdout) == (0, "done 10\n")
