"""ELF loading: segments land where the program headers say, errors read like qemu's."""

from __future__ import annotations

import os
import shutil
import struct

import pytest

from pyqemu.linux_user.elf_loader import LoadError, load_program
from pyqemu.linux_user.guest_memory import GuestMemory
from pyqemu.linux_user.mmap import ET_DYN_BASE, PROT_EXEC, PROT_WRITE, MemoryMap

from .guest_build import HELLO, SYSROOT, build

PHDR = struct.Struct("<IIQQQQQQ")


def program_headers(path: str) -> list[tuple]:
    with open(path, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    return data, [PHDR.unpack_from(data, phoff + i * PHDR.size) for i in range(phnum)]


def load(path: str, prefix: str | None = None):
    mm = MemoryMap(GuestMemory())
    return mm, load_program(mm, path, prefix)


@pytest.mark.parametrize("mode", ["static", "static-pie", "dynamic"])
def test_segments_are_in_memory(mode: str) -> None:
    path = build(HELLO, mode)
    mm, prog = load(path, SYSROOT)
    data, phdrs = program_headers(path)
    bias = prog.exe.bias
    if mode == "static":
        assert bias == 0
    else:
        assert prog.exe.lo == ET_DYN_BASE
    for p_type, flags, off, vaddr, _pa, filesz, memsz, _al in phdrs:
        if p_type != 1:
            continue
        assert mm.mem.read(vaddr + bias, filesz) == data[off:off + filesz]
        # .bss reads as zero
        tail = memsz - filesz
        if tail:
            assert mm.mem.read(vaddr + bias + filesz, min(tail, 4096)) == bytes(min(tail, 4096))
        vma = mm.find(vaddr + bias)
        assert vma is not None
        assert bool(vma.prot & PROT_EXEC) == bool(flags & 1)
        assert bool(vma.prot & PROT_WRITE) == bool(flags & 2)
    assert mm.can_execute(prog.exe.entry)
    assert not mm.can_execute(mm.start_brk)
    assert mm.start_brk % 4096 == 0 and mm.start_brk >= prog.exe.hi
    if mode == "dynamic":
        assert prog.interp is not None
        assert prog.entry == prog.interp.entry
        assert mm.can_execute(prog.interp.entry)
        assert "ld-linux-riscv64" in mm.maps_text()
    else:
        assert prog.interp is None
        assert prog.entry == prog.exe.entry


def test_phdr_address_points_at_program_headers() -> None:
    path = build(HELLO, "static-pie")
    mm, prog = load(path)
    data, phdrs = program_headers(path)
    raw = mm.mem.read(prog.exe.phdr, prog.exe.phnum * PHDR.size)
    assert [PHDR.unpack_from(raw, i * PHDR.size) for i in range(prog.exe.phnum)] == phdrs


def _expect(path: str, message: str, prefix: str | None = None) -> None:
    with pytest.raises(LoadError) as e:
        load(path, prefix)
    assert str(e.value) == message


def test_load_errors_match_qemu(tmp_path) -> None:
    _expect(str(tmp_path / "nope"), f"Error while loading {tmp_path / 'nope'}: No such file or directory")
    _expect(str(tmp_path), f"Error while loading {tmp_path}: Permission denied")
    noexec = tmp_path / "noexec"
    shutil.copy(build(HELLO), noexec)
    os.chmod(noexec, 0o644)
    _expect(str(noexec), f"Error while loading {noexec}: Permission denied")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    os.chmod(empty, 0o755)
    _expect(str(empty), f"Error while loading {empty}: Exec format error")
    _expect("/bin/sh" if os.path.exists("/bin/sh") else "/usr/bin/env",
            f"{'/bin/sh' if os.path.exists('/bin/sh') else '/usr/bin/env'}: Invalid ELF image for this architecture")
    trunc = tmp_path / "trunc"
    trunc.write_bytes(open(build(HELLO), "rb").read()[:100])
    os.chmod(trunc, 0o755)
    _expect(str(trunc), f"{trunc}: Error mapping file: Invalid argument")


def test_missing_interpreter(tmp_path) -> None:
    _expect(build(HELLO, "dynamic"),
            "Could not open '/lib/ld-linux-riscv64-lp64d.so.1': No such file or directory",
            str(tmp_path))
