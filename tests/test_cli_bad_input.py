"""Bad input to pyqemu-riscv64: one clear line on stderr and exit status 1, like
qemu-riscv64; and a guest that jumps to unmapped memory dies of SIGSEGV."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from guestlib import GUEST_ENV, PYQEMU, build_guest

HERE = Path(__file__).resolve().parent


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=GUEST_ENV, capture_output=True, timeout=120)


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    src = tmp_path / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void){puts("hi");return 3;}\n')
    return build_guest(src, "static")


def _cases(tmp: Path, hello: Path) -> dict[str, Path]:
    truncated = tmp / "truncated"
    truncated.write_bytes(hello.read_bytes()[:200])
    truncated.chmod(0o755)
    other = tmp / "x86prog"
    shutil.copy("/bin/true", other)
    noexec = tmp / "noexec"
    shutil.copy(hello, noexec)
    noexec.chmod(0o644)
    directory = tmp / "adir"
    directory.mkdir()
    garbage = tmp / "garbage"
    garbage.write_bytes(os.urandom(4096))
    garbage.chmod(0o755)
    return {"truncated": truncated, "other-machine": other, "no-exec": noexec,
            "directory": directory, "missing": tmp / "does-not-exist", "garbage": garbage}


@pytest.mark.parametrize("case", ["truncated", "other-machine", "no-exec", "directory",
                                  "missing", "garbage"])
def test_bad_program_one_line_exit_1(case: str, tmp_path: Path, hello: Path):
    path = _cases(tmp_path, hello)[case]
    ref = run(["qemu-riscv64", str(path)], tmp_path)
    ours = run([*PYQEMU, str(path)], tmp_path)
    assert ours.returncode == 1
    lines = ours.stderr.decode().splitlines()
    assert len(lines) == 1, ours.stderr
    assert "Traceback" not in ours.stderr.decode()
    if ref.returncode == 1 and ref.stderr.strip():
        # Same message as qemu's after the program-name prefix. (Debian's qemu-riscv64
        # 7.2 prints nothing for most of these, and maps a truncated ELF and dies of
        # SIGILL: there we keep our clear error, as the issue asks.)
        assert lines[0].split(": ", 1)[1] == ref.stderr.decode().strip().split(": ", 1)[1]


def test_missing_interpreter(tmp_path: Path):
    src = tmp_path / "dyn.c"
    src.write_text("int main(void){return 0;}\n")
    binary = build_guest(src, "dynamic")
    ref = run(["qemu-riscv64", "-L", str(tmp_path), str(binary)], tmp_path)
    ours = run([*PYQEMU, "-L", str(tmp_path), str(binary)], tmp_path)
    # qemu-riscv64 exits 255 here; the issue asks for status 1 with qemu's message.
    assert ours.returncode == 1
    assert ours.stderr.decode().split(": ", 1)[1] == ref.stderr.decode().split(": ", 1)[1]
    assert len(ours.stderr.decode().splitlines()) == 1
    assert "Traceback" not in ours.stderr.decode()


def test_jump_to_unmapped_memory_is_sigsegv(tmp_path: Path):
    src = tmp_path / "wild.c"
    src.write_text("int main(void){ void (*f)(void) = (void (*)(void))0x12345678; f();"
                   " return 0; }\n")
    binary = build_guest(src, "static")
    ref = run(["qemu-riscv64", str(binary)], tmp_path)
    ours = run([*PYQEMU, str(binary)], tmp_path)
    assert ref.returncode == ours.returncode == -11
    assert "Traceback" not in ours.stderr.decode()


def test_usage_and_version(tmp_path: Path):
    out = run([*PYQEMU, "-version"], tmp_path)
    assert out.returncode == 0 and b"version" in out.stdout
    out = run([*PYQEMU, "-h"], tmp_path)
    assert out.returncode == 0 and b"usage:" in out.stdout
    out = run([*PYQEMU, "-bogus"], tmp_path)
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1


def test_env_options(tmp_path: Path):
    src = tmp_path / "env.c"
    src.write_text('#include <stdio.h>\n#include <stdlib.h>\nint main(void){'
                   'const char*a=getenv("FOO"),*b=getenv("PATH");'
                   'printf("%s %s\\n", a?a:"-", b?b:"-");return 0;}\n')
    binary = build_guest(src, "static")
    args = ["-E", "FOO=bar", "-U", "PATH", str(binary)]
    ref = run(["qemu-riscv64", *args], tmp_path)
    ours = run([*PYQEMU, *args], tmp_path)
    assert ours.stdout == ref.stdout == b"bar -\n"
