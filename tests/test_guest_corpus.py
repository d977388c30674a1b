"""The differential corpus: every program in tests/guest/{c,cxx,asm} runs under Debian's
qemu-riscv64 and under pyqemu-riscv64, static and dynamic; stdout, stderr and the exit
status must be identical. Every program runs on both TCG backends: native x86-64 code
(where the host is x86-64) and the portable Python backend.

Each program gets a fresh directory as argv[1] and as its working directory (one for
each emulator, so files it writes cannot leak from one run into the other); after the
run the two directories must hold the same files with the same contents.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
from guestlib import build_guest, run_both

HERE = Path(__file__).resolve().parent / "guest"
SOURCES = sorted(p for d in ("c", "cxx") for p in (HERE / d).glob("*.c*")
                 if p.suffix in (".c", ".cc", ".cpp"))
ASM = sorted((HERE / "asm").glob("*.S"))

CASES = [pytest.param(src, kind, id=f"{src.parent.name}/{src.stem}-{kind}")
         for src in SOURCES for kind in ("static", "dynamic")]
CASES += [pytest.param(src, "static", id=f"asm/{src.stem}") for src in ASM]
BACKENDS = ["native", "python"] if platform.machine() == "x86_64" else ["python"]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_corpus_is_not_empty():
    assert len(SOURCES) >= 5, "the guest corpus went missing"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src,kind", CASES)
def test_same_as_qemu(src: Path, kind: str, backend: str, tmp_path: Path):
    binary = build_guest(src, kind)
    ref_dir = tmp_path / "ref"
    our_dir = tmp_path / "ours"
    ref_dir.mkdir()
    our_dir.mkdir()
    ref, ours = run_both(binary, ["."], ref_dir, our_dir, dynamic=kind == "dynamic",
                         backend=backend)
    assert ours.stdout.decode(errors="replace") == ref.stdout.decode(errors="replace")
    assert ours.stderr.decode(errors="replace") == ref.stderr.decode(errors="replace")
    assert ours.returncode == ref.returncode
    assert _tree(our_dir) == _tree(ref_dir)
