"""The initial stack follows the psABI: argc, argv, envp, auxv, 16-byte aligned sp."""

from __future__ import annotations

from pyqemu.linux_user import stack
from pyqemu.linux_user.process import Process

from .guest_build import HELLO, SYSROOT, build


def read_stack(p, sp):
    mem = p.mem
    argc = mem.read_u64(sp)
    pos = sp + 8
    argv = []
    for _ in range(argc):
        argv.append(mem.read_cstr(mem.read_u64(pos)).decode())
        pos += 8
    assert mem.read_u64(pos) == 0
    pos += 8
    envp = []
    while mem.read_u64(pos):
        envp.append(mem.read_cstr(mem.read_u64(pos)).decode())
        pos += 8
    pos += 8
    auxv = {}
    while True:
        k, v = mem.read_u64(pos), mem.read_u64(pos + 8)
        pos += 16
        if k == 0:
            break
        auxv[k] = v
    return argv, envp, auxv


def test_initial_stack_dynamic() -> None:
    path = build(HELLO, "dynamic")
    p, cpu = Process.create(path, ["prog", "a b", ""], ["X=1", "Y=é"], SYSROOT, False, [])
    sp = cpu.get_x(2)
    assert sp % 16 == 0
    argv, envp, auxv = read_stack(p, sp)
    assert argv == ["prog", "a b", ""]
    assert envp == ["X=1", "Y=é"]
    assert auxv[stack.AT_PAGESZ] == 4096
    assert auxv[stack.AT_PHDR] == p.prog.exe.phdr
    assert auxv[stack.AT_PHENT] == 56
    assert auxv[stack.AT_ENTRY] == p.prog.exe.entry
    assert auxv[stack.AT_BASE] == p.prog.interp.bias
    assert cpu.pc == p.prog.interp.entry
    assert auxv[stack.AT_HWCAP] == sum(1 << (ord(c) - 97) for c in "imafdc")
    assert len(p.mem.read(auxv[stack.AT_RANDOM], 16)) == 16
    assert p.mem.read_cstr(auxv[stack.AT_EXECFN]).decode() == path
    assert auxv[stack.AT_SECURE] == 0
    assert [cpu.get_x(i) for i in range(32) if i != 2] == [0] * 31


def test_initial_stack_static_entry() -> None:
    path = build(HELLO, "static")
    p, cpu = Process.create(path, ["x"], [], None, False, [])
    argv, envp, auxv = read_stack(p, cpu.get_x(2))
    assert argv == ["x"] and envp == []
    assert auxv[stack.AT_BASE] == 0
    assert cpu.pc == auxv[stack.AT_ENTRY] == p.prog.exe.entry
    assert p.mm.find(cpu.get_x(2)).name == "[stack]"
