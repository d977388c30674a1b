"""The Python backend's persistent translation cache (accel/tcg/tb_persist_python.py):
a second run takes the first run's interpreter programs and compiled code and behaves
as qemu-riscv64 does; a rebuilt program, rewritten code, fork children, a damaged
cache file and tb-cache=off all still run correctly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long s = 0;
    for (long i = 0; i < 20000; i++) s += (i * VALUE) % 7;
    printf("sum %ld\n", s);
    return (int)(s & 63);
}
"""

# Code written into an executable buffer and rewritten between calls (a loop of two
# blocks, hot enough to be compiled into a region), then a fork whose child runs it.
SMC_SRC = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
typedef long (*fn_t)(long);
int main(void) {
  uint32_t *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  fn_t f = (fn_t)code;
  for (int v = 1; v <= 3; v++) {
    uint32_t k = v * 100;
    uint32_t prog[] = {
      0x00000593u, 0x00000613u, 0x00c585b3u, 0x00167693u, 0x00069a63u,
      0x00160613u, 0xfea648e3u, 0x00058513u, 0x00008067u,
      0x00058593u | (k << 20), 0xfedff06fu,
    };
    memcpy(code, prog, sizeof prog);
    __builtin___clear_cache((char *)code, (char *)code + sizeof prog);
    printf("smc %d %ld\n", v, f(1000));
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    printf("child %ld\n", f(500));
    return 3;
  }
  int st;
  waitpid(pid, &st, 0);
  printf("parent %ld child exit %d\n", f(300), WEXITSTATUS(st));
  return 0;
}
"""


def _build(tmp: Path, text: str, name: str = "prog") -> Path:
    src = tmp / f"{name}.c"
    src.write_text(text)
    out = tmp / name
    subprocess.run(["riscv64-linux-gnu-gcc", "-O2", "-static", "-o", str(out), str(src), "-lm"],
                   check=True)
    return out


def _run(prog: Path, cache: Path, *accel: str,
         env_extra: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    stats = cache / "stats.json"
    if stats.exists():
        stats.unlink()
    env = {"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(cache), "PYQEMU_STATS": str(stats),
           **(env_extra or {})}
    cmd = [sys.executable, "-m", "pyqemu.cli.riscv64_user", "-accel",
           f"tcg,backend=python{''.join(',' + a for a in accel)}", str(prog)]
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=300, cwd=cache)
    assert b"Traceback" not in r.stderr, r.stderr.decode()
    return r, json.loads(stats.read_text()) if stats.exists() else {}


def _expected(prog: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-riscv64", str(prog)], capture_output=True, timeout=300,
                          cwd=cwd)


def _same(r, want) -> None:
    assert (r.stdout, r.stderr, r.returncode) == (want.stdout, want.stderr, want.returncode)


def _files(cache: Path) -> list[Path]:
    return list((cache / "pyqemu" / "tb-python").rglob("*.tbpy"))


def test_second_run_reuses_blocks(tmp_path):
    prog = _build(tmp_path, SRC.replace("VALUE", "3"))
    want = _expected(prog, tmp_path)
    first, s1 = _run(prog, tmp_path)
    second, s2 = _run(prog, tmp_path)
    _same(first, want)
    _same(second, want)
    assert s1["reused_tbs"] == 0 and s1["tbs"] > 50
    # Every block the second run needed came from the cache, hot ones compiled.
    assert s2["reused_tbs"] == s2["tbs"] >= s1["tbs"] - 2
    assert len(_files(tmp_path)) == 1


def test_changed_program_is_translated_again(tmp_path):
    prog = _build(tmp_path, SRC.replace("VALUE", "3"))
    _run(prog, tmp_path)
    # Same path, new contents (and mtime): the old blocks must not run.
    shutil.copy(_build(tmp_path, SRC.replace("VALUE", "5"), "other"), prog)
    os.utime(prog, ns=(1, 1))
    want = _expected(prog, tmp_path)
    r, s = _run(prog, tmp_path)
    _same(r, want)
    assert s["reused_tbs"] == 0


def test_blocks_are_checked_against_the_guest_bytes(tmp_path):
    """Even under the same cache file (the same path, size and mtime), a block whose
    bytes changed is not reused."""
    prog = _build(tmp_path, SRC.replace("VALUE", "3"))
    _run(prog, tmp_path)
    st = prog.stat()
    other = _build(tmp_path, SRC.replace("VALUE", "5"), "other")
    assert other.stat().st_size == st.st_size  # (only an immediate differs)
    shutil.copy(other, prog)
    os.utime(prog, ns=(st.st_atime_ns, st.st_mtime_ns))
    want = _expected(prog, tmp_path)
    r, s = _run(prog, tmp_path)
    _same(r, want)
    assert 0 < s["reused_tbs"] < s["tbs"]  # the C library's blocks, not main's


def test_unit_find_checks_digest(tmp_path):
    from pyqemu.accel.tcg import tb_persist_python as tpp

    blocks = tpp.ProgramBlocks(str(tmp_path / "x.tbpy"))
    code = {0x1000: b"\x13\x05\x10\x00\x67\x80\x00\x00"}

    def read(s, t):
        return code[0x1000][s - 0x1000:t - 0x1000]

    from pyqemu.accel.tcg import tb_persist

    blocks.add(0x1000, (((0x1000, 0x1008),), tb_persist.digest(code[0x1000]), 2, 0x1008,
                        (0x1008,), tpp.INTERP, ([], [], ())))
    assert blocks.find(0x1000, read) is not None
    code[0x1000] = b"\x13\x05\x20\x00\x67\x80\x00\x00"
    assert blocks.find(0x1000, read) is None
    blocks.save()
    again = tpp.ProgramBlocks(str(tmp_path / "x.tbpy"))
    code[0x1000] = b"\x13\x05\x10\x00\x67\x80\x00\x00"
    assert again.find(0x1000, read) is not None


def test_rewritten_code_and_fork(tmp_path):
    """Code rewritten at one address (three versions, each a hot two-block loop), and
    a fork child running it: the warm run takes each version's own blocks."""
    prog = _build(tmp_path, SMC_SRC, "smc")
    want = _expected(prog, tmp_path)
    assert b"smc 3" in want.stdout and b"child" in want.stdout
    first, _ = _run(prog, tmp_path)
    second, s2 = _run(prog, tmp_path)
    _same(first, want)
    _same(second, want)
    assert s2["reused_tbs"] > 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped"])
def test_damaged_cache_file_is_ignored(tmp_path, damage):
    prog = _build(tmp_path, SRC.replace("VALUE", "3"))
    _run(prog, tmp_path)
    for f in _files(tmp_path):
        data = f.read_bytes()
        if damage == "garbage":
            f.write_bytes(b"garbage" * 100)
        elif damage == "truncated":
            f.write_bytes(data[:len(data) // 2])
        else:
            mid = len(data) // 2
            f.write_bytes(data[:mid] + bytes([data[mid] ^ 0x40]) + data[mid + 1:])
    want = _expected(prog, tmp_path)
    r, s = _run(prog, tmp_path)
    _same(r, want)
    assert s["reused_tbs"] == 0


@pytest.mark.parametrize("how", ["option", "env"])
def test_tb_cache_off(tmp_path, how):
    prog = _build(tmp_path, SRC.replace("VALUE", "3"))
    want = _expected(prog, tmp_path)
    args = ("tb-cache=off",) if how == "option" else ()
    env = {"PYQEMU_TB_CACHE": "off"} if how == "env" else {}
    for _ in range(2):
        r, s = _run(prog, tmp_path, *args, env_extra=env)
        _same(r, want)
        assert s["reused_tbs"] == 0
    assert not _files(tmp_path)


# Hot loops of several blocks (regions) whose members keep registers signed (W
# arithmetic) or as host floats: a jump between members hands them over in those forms
# (region.py); cold and warm runs must agree with QEMU, including fflags.
HANDOVER_SRC = r"""
#include <fenv.h>
#include <stdio.h>
__attribute__((noinline)) static int mix(int n) {
  int a = 7, b = -3;
  for (int i = 0; i < n; i++) {
    if (i % 3) a = a * 5 - b; else b = (b ^ a) + i;
    if (a < 0) a = -a / 3;
  }
  return a ^ b;
}
__attribute__((noinline)) static double walk(int n, double k) {
  double x = 0.5, y = -1.25, z = 3.0;
  for (int i = 0; i < n; i++) {
    x = x * k + y;
    if (x > 4.0) { x = x / 3.0 - z; z = z * 0.999 + 1e-3; } else y = y - x * 1e-4;
    if (y < -100.0) y = 1.0 / y;
  }
  return x + y * 2 + z;
}
int main(void) {
  printf("mix %d\n", mix(30000));
  feclearexcept(FE_ALL_EXCEPT);
  printf("walk %.17g\n", walk(20000, 0.9));
  printf("flags %d\n", fetestexcept(FE_ALL_EXCEPT));
  return 0;
}
"""


def test_region_handover_forms(tmp_path):
    prog = _build(tmp_path, HANDOVER_SRC, "handover")
    want = _expected(prog, tmp_path)
    assert b"walk" in want.stdout
    for _ in range(2):
        r, _ = _run(prog, tmp_path)
        _same(r, want)
