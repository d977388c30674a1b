"""What generated block functions need at run time, apart from the code generator.

A block's function refers to names its namespace binds (accel/tcg/tb_cache.py
instantiate): these are the backend's own (the fault handler, the float conversions).
They live apart from the generator (codegen.py, blockgen.py...) so that a run whose hot
blocks all come compiled from the persistent cache never imports the generator.
"""

from __future__ import annotations

from . import fpinline

PC_INDEX = 64  # the pc's index in the state buffer (RISC-V: cpu_state.PC)
RUNTIME = fpinline.RUNTIME  # names generated code may use besides the runtime's own

_MASK64 = (1 << 64) - 1


class ExitRequest:
    """A hart's exit request as Python-backend code tests it, on every loop back-edge
    and every jump inside a region.

    Generated code reads it as ``XR``, a name of the builtins dict its namespace gets
    (``builtins``, one per hart or user process): CPython 3.11 looks a builtin up
    with a cached index, so ``if not XR`` costs about 80 host instructions where
    ``if not X[0]`` cost 140. The value is held only there, so one store sets it.
    Writers keep the interface every engine's exit_request has: ``r[0] = 1``; hot
    readers (the CPU loops) read ``builtins["XR"]`` themselves.
    """

    __slots__ = ("builtins",)

    def __init__(self, value: int = 0) -> None:
        import builtins

        self.builtins = dict(vars(builtins))
        self.builtins["XR"] = value != 0

    def __getitem__(self, i: int) -> bool:
        return self.builtins["XR"]

    def __setitem__(self, i: int, value: int) -> None:
        self.builtins["XR"] = value != 0


def fault(q, e: BaseException, loc: dict, writeback: tuple, line_pc: list,
          line_fo: list | None = None) -> None:
    """A guest fault inside a block: write back the registers the block has written
    (bound locals; forms are not known here, so mask; registers held only as floats
    at that line from their floats), and the faulting guest pc from the traceback's
    line in the block's function."""
    line = e.__traceback__.tb_lineno - 1
    pc = line_pc[line]
    for idx, name in writeback:
        v = loc.get(name)
        if v is not None:
            q[idx] = v & _MASK64
    for item in (line_fo[line] if line_fo else ()):
        if len(item) == 3:  # (index, name, 32): a register held in form Z (zform.py)
            v = loc[item[1]] & 0xFFFFFFFF
            q[item[0]] = (v if v < 0x80000000 else v + 0xFFFFFFFF00000000)
        else:
            q[item[0]] = fpinline.bits_of_float(loc[item[1]])
    q[PC_INDEX] = pc
