"""gdb-multiarch on pyqemu-system-x86_64 -accel kvm -gdb -S, side by side with
qemu-system-x86_64: breakpoints, registers, disassembly, single-steps and a watchpoint
in a long-mode guest, and software breakpoints in RAM code (a PVH kernel)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .gdbutil import ROOT, STARTED, RawGdb, free_port, run_gdb, wait_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kvm.kvmlib import CACHE, DEBUG_EXIT, GUESTS, build_guest, kvm_usable  # noqa: E402

pytestmark = pytest.mark.skipif(kvm_usable() is not None, reason=str(kvm_usable()))
QEMU = shutil.which("qemu-system-x86_64")
PYQEMU = [sys.executable, "-m", "pyqemu.cli.system_x86_64"]


def _elf_of(name: str) -> Path:
    """The BIOS guest linked as an ELF too, for gdb's symbols (same addresses)."""
    image = build_guest(name)
    elf = image.with_suffix(".elf")
    if not elf.exists():
        obj = CACHE / f"{image.stem}-gdb.o"
        subprocess.run(["as", "--64", "-I", str(GUESTS), "-o", str(obj),
                        str(GUESTS / f"{name}.S")], check=True)
        subprocess.run(["ld", "-m", "elf_x86_64", "-T", str(GUESTS / "guest.ld"),
                        "--oformat", "elf64-x86-64", "-o", str(elf), str(obj)], check=True)
        obj.unlink()
    return elf


def _session(args: list[str], script: list[str], elf: Path,
             qemu: bool = False) -> tuple[str, int, str]:
    port = free_port()
    cmd = [QEMU] if qemu else PYQEMU
    proc = subprocess.Popen([*cmd, "-accel", "kvm", "-M", "pc", "-nographic", *args,
                             *DEBUG_EXIT, "-gdb", f"tcp::{port}", "-S"],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    STARTED.append(proc)
    wait_port(port, proc)
    out = run_gdb(script, port, elf, arch="i386:x86-64")
    console, _ = proc.communicate(timeout=120)
    return out, proc.returncode, console.decode(errors="replace")


def test_longmode_guest_like_qemu() -> None:
    if QEMU is None:
        pytest.fail("qemu-system-x86_64 is missing: run scripts/setup.sh")
    elf = _elf_of("longmode")
    args = ["-bios", str(build_guest("longmode"))]
    script = ["break *main64", "continue", "info registers rip rsp cs eflags", "x/3i $pc",
              "stepi", "stepi", "p $pc", "bt 1", "delete", "watch *(char *)0x1234567",
              "continue"]
    ours, status, console = _session(args, script, elf)
    # Software breakpoints do not work under this host's nested KVM for QEMU (int3 is
    # emulated and fails): QEMU runs the same script with hbreak.
    ref, ref_status, ref_console = _session(args, [x.replace("break", "hbreak", 1)
                                                    for x in script], elf, qemu=True)
    assert "Breakpoint 1, 0x00000000000f017e in main64 ()" in ours, ours
    assert "=> 0xf017e <main64>:\tlea" in ours and "in puts64 ()" in ours
    assert (status, console) == (ref_status, ref_console) and "bye" in console
    # qemu 7.2 drops the connection when the guest exits; we report the exit (W).
    mine = [x for x in ours.splitlines()[:-1] if "breakpoint 1 at" not in x.lower()]
    theirs = [x for x in ref.splitlines()[:-1] if "breakpoint 1 at" not in x.lower()]
    assert mine == theirs
    assert re.search(r"exited with code 0?101", ours.splitlines()[-1])


def test_software_breakpoint_in_ram_code_hits_twice() -> None:
    kernel = build_guest("pvh", "pvh.ld", ".elf")
    out, status, console = _session(
        ["-m", "128M", "-kernel", str(kernel), "-append", "console=ttyS0 pvh=1"],
        ["break *hex32", "continue", "info registers rip", "continue", "bt 1",
         "info threads", "delete", "continue"], kernel)
    assert out.count("Breakpoint 1, 0x0000000000100104 in hex32 ()") == 2, out
    assert re.search(r"\* 1\s+Thread 1 \(CPU#0\)", out), out
    assert "PVH entry reached" in console and status == (0x78 << 1) | 1


def test_ctrl_c_stops_a_running_vcpu_and_kill_ends_the_machine() -> None:
    """speedloop.S counts ecx down from 5,000,000: each Ctrl-C finds it further along."""
    port = free_port()
    proc = subprocess.Popen([*PYQEMU, "-accel", "kvm", "-M", "pc", "-nographic", "-bios",
                             str(build_guest("speedloop")), *DEBUG_EXIT, "-gdb",
                             f"tcp::{port}", "-S"], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    STARTED.append(proc)
    wait_port(port, proc)
    g = RawGdb(port)
    seen = []
    for _ in range(2):
        g.send("c")
        time.sleep(0.5)
        g.send_raw(b"\x03")
        assert g.packet() == "T02thread:1;"
        seen.append(int.from_bytes(bytes.fromhex(g.ask("p2")), "little") & 0xFFFFFFFF)
    assert 5_000_000 > seen[0] > seen[1] > 0 or seen[1] == 0, seen
    g.send("k")
    g.close()
    proc.communicate(timeout=60)
    assert proc.returncode == 0
