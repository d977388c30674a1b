"""The persistent translation cache: a second run reuses the first run's native blocks
and behaves the same; a changed program, a damaged cache file and tb-cache=off all
fall back to translating."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the native backend generates x86-64 code")

SRC = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long s = 0;
    for (long i = 0; i < 200000; i++) s += (i * VALUE) % 7;
    printf("sum %ld\n", s);
    return (int)(s & 63);
}
"""


def _build(tmp: Path, value: int, name: str = "prog") -> Path:
    src = tmp / f"{name}.c"
    src.write_text(SRC.replace("VALUE", str(value)))
    out = tmp / name
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", "-o", str(out), str(src)],
                   check=True)
    return out


def _run(prog: Path, cache: Path, *accel: str,
         interp: str = "off") -> tuple[subprocess.CompletedProcess, dict]:
    """Run under the native backend; the interpreter tier is off unless asked for, so
    that every block the program runs is translated (and cached)."""
    stats = cache / "stats.json"
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(cache), "PYQEMU_STATS": str(stats),
           "PYQEMU_INTERP": interp}
    cmd = [sys.executable, "-m", "pyqemu.cli.riscv64_user", *accel, str(prog)]
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    return r, json.loads(stats.read_text())


def _expected(prog: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-riscv64", str(prog)], capture_output=True, timeout=300)


def test_second_run_reuses_blocks(tmp_path):
    prog = _build(tmp_path, 3)
    want = _expected(prog)
    first, s1 = _run(prog, tmp_path)
    second, s2 = _run(prog, tmp_path)
    for r in (first, second):
        assert (r.stdout, r.stderr, r.returncode) == (want.stdout, want.stderr, want.returncode)
    assert s1["reused_tbs"] == 0 and s1["tbs"] > 50
    assert s2["reused_tbs"] == s2["tbs"] == s1["tbs"]


def test_second_run_reuses_hot_blocks_with_the_interpreter(tmp_path):
    """With the interpreter tier, only hot blocks are translated: the second run finds
    each of them in the cache."""
    prog = _build(tmp_path, 3)
    want = _expected(prog)
    first, s1 = _run(prog, tmp_path, interp="on")
    second, s2 = _run(prog, tmp_path, interp="on")
    for r in (first, second):
        assert (r.stdout, r.stderr, r.returncode) == (want.stdout, want.stderr, want.returncode)
    assert s1["reused_tbs"] == 0 and 0 < s1["tbs"] and s1["tier_ups"] > 0
    assert s2["reused_tbs"] == s2["tbs"] == s1["tbs"]


def test_changed_program_is_translated_again(tmp_path):
    prog = _build(tmp_path, 3)
    _run(prog, tmp_path)
    # Same path, new contents (and mtime): the old blocks must not run.
    shutil.copy(_build(tmp_path, 5, "other"), prog)
    os.utime(prog, ns=(1, 1))
    want = _expected(prog)
    r, s = _run(prog, tmp_path)
    assert (r.stdout, r.returncode) == (want.stdout, want.returncode)
    assert s["reused_tbs"] == 0


def test_blocks_are_checked_against_the_guest_bytes(tmp_path):
    """Even under the same cache file, a block whose bytes changed is not reused."""
    from pyqemu.accel.tcg import tb_persist

    prog = _build(tmp_path, 3)
    _run(prog, tmp_path)
    files = list((tmp_path / "pyqemu" / "tb").rglob("*.tbs"))
    assert len(files) == 1
    blocks = tb_persist.PersistentBlocks(files[0])
    pc, entries = next(iter(blocks.blocks.items()))
    end = entries[0][0]
    exe = prog.read_bytes()
    # The ELF is linked at 0x10000 with its text in the first PT_LOAD: file offset = pc - base.
    base = 0x10000
    same = exe[pc - base:end - base]
    assert blocks.find(pc, lambda e: same[:e - pc]) is not None  # the same bytes: found
    assert blocks.find(pc, lambda e: b"\x13" * (e - pc)) is None  # other bytes: no match


def test_damaged_cache_file_is_ignored(tmp_path):
    prog = _build(tmp_path, 3)
    _run(prog, tmp_path)
    for f in (tmp_path / "pyqemu" / "tb").rglob("*.tbs"):
        f.write_bytes(b"garbage" * 100)
    want = _expected(prog)
    r, s = _run(prog, tmp_path)
    assert (r.stdout, r.stderr, r.returncode) == (want.stdout, want.stderr, want.returncode)
    assert s["reused_tbs"] == 0


def test_tb_cache_off(tmp_path):
    prog = _build(tmp_path, 3)
    _run(prog, tmp_path)
    r, s = _run(prog, tmp_path, "-accel", "tcg,tb-cache=off")
    assert r.returncode == _expected(prog).returncode
    assert s["reused_tbs"] == 0


def test_out_asm_shows_host_code(tmp_path):
    prog = _build(tmp_path, 3)
    log = tmp_path / "trace.log"
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "pyqemu.cli.riscv64_user", "-d",
                        "in_asm,op,out_asm", "-D", str(log), str(prog)], env=env,
                       capture_output=True, timeout=300)
    assert r.returncode == _expected(prog).returncode
    text = log.read_text()
    assert "IN:" in text and "OP:" in text and "OUT: [size=" in text
    # Host instructions as capstone prints them, the block-entry exit check first.
    assert "cmp      word ptr [rip" in text and "jmp" in text


def test_full_code_buffer_is_flushed_and_reused(tmp_path):
    """A code buffer too small for the program: it is flushed when full, repeatedly,
    and the program still runs to the same result."""
    prog = _build(tmp_path, 3)
    want = _expected(prog)
    # 48 KiB of code space; glibc's start-up alone needs several times that.
    code = (
        "import sys; from pyqemu.tcg.backends.x86_64 import codebuf as C;"
        "orig = C.CodeBuffer.__init__;"
        "C.CodeBuffer.__init__ = lambda self, size=0: orig(self, C.DATA_SIZE + 48 * 1024);"
        "from pyqemu.cli.riscv64_user import main; main(sys.argv[1:])")
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path), "PYQEMU_INTERP": "off"}
    r = subprocess.run([sys.executable, "-c", code, "-accel", "tcg,tb-cache=off", str(prog)],
                       env=env, capture_output=True, timeout=300)
    assert (r.stdout, r.returncode) == (want.stdout, want.returncode), r.stderr


def test_caches_of_other_versions_are_pruned(tmp_path):
    prog = _build(tmp_path, 3)
    root = tmp_path / "pyqemu" / "tb"
    for k in range(6):  # caches an older pyqemu left behind
        d = root / f"old{k}"
        d.mkdir(parents=True)
        (d / "x.tbs").write_bytes(b"x")
        os.utime(d, (1000 + k, 1000 + k))
    _run(prog, tmp_path)
    left = sorted(d.name for d in root.iterdir())
    assert len(left) == 1 + 3 and {"old5", "old4", "old3"} <= set(left)


def test_libraries_blocks_serve_another_program(tmp_path):
    """Dynamically linked programs share the caches of ld.so and libc: a program never
    run before translates little more than its own code, and runs as under QEMU."""
    progs = []
    for value, name in ((3, "first"), (5, "second")):
        src = tmp_path / f"{name}.c"
        src.write_text(SRC.replace("VALUE", str(value)))
        subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-o", str(tmp_path / name), str(src)],
                       check=True)
        progs.append(tmp_path / name)
    prefix = ("-L", "/usr/riscv64-linux-gnu")
    _, s1 = _run(progs[0], tmp_path, *prefix)
    r, s2 = _run(progs[1], tmp_path, *prefix)
    want = subprocess.run(["qemu-riscv64", *prefix, str(progs[1])], capture_output=True,
                          timeout=300)
    assert (r.stdout, r.returncode) == (want.stdout, want.returncode)
    assert s1["reused_tbs"] == 0
    # The second program's own blocks are new; ld.so's and libc's come from the cache.
    assert s2["reused_tbs"] > 0.8 * s2["tbs"], s2
    caches = list((tmp_path / "pyqemu" / "tb").rglob("*.tbs"))
    assert len(caches) == 4  # two programs, ld.so, libc


@pytest.mark.parametrize("interp", ["on", "off"])
def test_fork_children_run_their_own_blocks(tmp_path, interp):
    """A fork child gets a code buffer of its own; the blocks it places (from the
    parent's cache, or translated) must be its own buffer's: a stale reference to the
    parent's blocks once killed every child with SIGSEGV."""
    src = Path(__file__).resolve().parents[1] / "guest" / "c" / "fork_exec_wait.c"
    exe = tmp_path / "fork_exec_wait"
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-o", str(exe), str(src)], check=True)
    prefix = ("-L", "/usr/riscv64-linux-gnu")
    want = subprocess.run(["qemu-riscv64", *prefix, str(exe)], capture_output=True,
                          timeout=300, cwd=tmp_path)
    for _ in range(2):  # an empty cache, then the first run's
        r, _ = _run(exe, tmp_path, *prefix, interp=interp)
        assert (r.stdout, r.returncode) == (want.stdout, want.returncode)


JIT_SRC = r"""
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
int main(void) {
    /* addi a0, a0, 3; ret: code in anonymous memory, cached with the program's */
    static const unsigned code[] = {0x00350513, 0x00008067};
    unsigned *buf = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(buf, code, sizeof code);
    __builtin___clear_cache((char *)buf, (char *)buf + sizeof code);
    long (*f)(long) = (long (*)(long))buf;
    long s = 0;
    for (long i = 0; i < 100000; i++) s = f(s) % 1000003;
    printf("jit %ld\n", s);
    return 0;
}
"""


def test_relative_program_path_keeps_one_cache(tmp_path):
    """Run as ./prog: the program's blocks and those of code in anonymous memory (which
    belong to the program's cache) must land in one cache file, not in two objects of
    which the last to save drops the other's blocks."""
    (tmp_path / "jit.c").write_text(JIT_SRC)
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", "-o", str(tmp_path / "jit"),
                    str(tmp_path / "jit.c")], check=True)
    want = subprocess.run(["qemu-riscv64", "./jit"], cwd=tmp_path, capture_output=True)
    stats = tmp_path / "stats.json"
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "PYQEMU_STATS": str(stats), "PYQEMU_INTERP": "off",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    runs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-m", "pyqemu.cli.riscv64_user", "./jit"],
                           cwd=tmp_path, env=env, capture_output=True, timeout=300)
        assert (r.stdout, r.returncode) == (want.stdout, want.returncode)
        runs.append(json.loads(stats.read_text()))
    assert runs[0]["reused_tbs"] == 0
    assert runs[1]["reused_tbs"] == runs[1]["tbs"] == runs[0]["tbs"]
