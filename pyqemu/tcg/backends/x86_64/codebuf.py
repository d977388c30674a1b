"""The code buffer: executable memory for translated blocks, like QEMU's code_gen_buffer.

One memfd is mapped twice: read+write for Python to emit and patch code, read+execute
for the CPU to run it, so no page is ever writable and executable at once (W^X). The
buffer starts with a data area that generated code reaches RIP-relative (the exit
request flag, the jump cache), then the prologue/epilogue, then blocks. When the
buffer is full the owner flushes everything and starts again at ``code_start``.
"""

from __future__ import annotations

import ctypes
import mmap
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

JC_BITS = 12  # jump cache: 4096 entries of {guest pc, host address}
JC_ENTRIES = 1 << JC_BITS
JC_INVALID = 1  # an odd pc: never a RISC-V instruction address

# Data area layout (byte offsets from the start of the buffer).
EXIT_FLAG = 0  # uint64: nonzero asks generated code to return at the next block entry
JUMP_CACHE = 64  # JC_ENTRIES x (pc, host)
FP_DATA = JUMP_CACHE + JC_ENTRIES * 16
MXCSR_TABLE = FP_DATA  # uint32 MXCSR per RISC-V rounding mode 0..3 (RNE RTZ RDN RUP)
MXCSR_DEFAULT = FP_DATA + 16  # uint32: what C and Python code expect (nearest, all masked)
FFLAGS_TABLE = FP_DATA + 32  # 64 bytes: MXCSR exception bits -> RISC-V fflags
# The user-mode interpreter (target/riscv/interp_x86_64/): pages checked executable,
# tier-up counters, the compressed-instruction expansion table.
INTERP_RW_BASE = FP_DATA + 128  # uint64: the writable mapping's address (counters)
INTERP_PAGE_ENTRIES = 1024
INTERP_COUNTERS = 65536
INTERP_PAGE_CACHE = FP_DATA + 4096  # INTERP_PAGE_ENTRIES x uint64 page number
INTERP_COUNTER_TABLE = INTERP_PAGE_CACHE + 8 * INTERP_PAGE_ENTRIES  # uint16 each
RVC_TABLE = INTERP_COUNTER_TABLE + 2 * INTERP_COUNTERS  # 65536 x uint32
DATA_SIZE = RVC_TABLE + 4 * 65536

_NO_PAGES = memoryview(bytes(b"\xff" * 8 * INTERP_PAGE_ENTRIES)).cast("Q")
_MXCSR_BASE = 0x1F80  # every exception masked, round to nearest, flags clear
_RC = (0, 3, 1, 2)  # MXCSR.RC for RNE, RTZ, RDN, RUP


def _fflags(mx: int) -> int:
    """x86 IE DE ZE OE UE PE (bits 0..5) -> RISC-V NV DZ OF UF NX (bits 4..0); DE has no
    RISC-V counterpart (denormal operands are not an exception there)."""
    return ((mx & 1) << 4) | ((mx >> 2 & 1) << 3) | ((mx >> 3 & 1) << 2) | \
        ((mx >> 4 & 1) << 1) | (mx >> 5 & 1)


class CodeBuffer:
    """size bytes of W^X code memory; ``rw`` is a writable memoryview of all of it."""

    def __init__(self, size: int = 32 << 20) -> None:
        self.size = size
        fd = os.memfd_create("pyqemu-tcg", 0)
        try:
            os.ftruncate(fd, size)
            self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            addr = _libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_EXEC, mmap.MAP_SHARED, fd, 0)
            if addr is None or addr == ctypes.c_void_p(-1).value:
                raise OSError(ctypes.get_errno(), "mmap of the code buffer (PROT_EXEC) failed")
        finally:
            os.close(fd)
        self.exec_base = addr  # host address of offset 0 as the CPU executes it
        self.rw = memoryview(self.mm)
        self.q = self.rw[:DATA_SIZE].cast("Q")
        # Generated code reaches the data area through the executable mapping, which is
        # read-only: what it writes (the interpreter's counters) goes through this.
        self.q[INTERP_RW_BASE // 8] = ctypes.addressof(ctypes.c_char.from_buffer(self.mm))
        self.exit_flag = self.rw[EXIT_FLAG:EXIT_FLAG + 8].cast("Q")
        self.code_start = DATA_SIZE
        self.top = DATA_SIZE
        self.clear_jump_cache()
        for rm, rc in enumerate(_RC):
            self.rw[MXCSR_TABLE + 4 * rm:MXCSR_TABLE + 4 * rm + 4] = \
                (_MXCSR_BASE | rc << 13).to_bytes(4, "little")
        self.rw[MXCSR_DEFAULT:MXCSR_DEFAULT + 4] = _MXCSR_BASE.to_bytes(4, "little")
        self.rw[FFLAGS_TABLE:FFLAGS_TABLE + 64] = bytes(_fflags(m) for m in range(64))

    def clear_jump_cache(self) -> None:
        jc = JUMP_CACHE // 8
        q = self.q
        for i in range(JC_ENTRIES):
            q[jc + 2 * i] = JC_INVALID

    def clear_interp_pages(self) -> None:
        """Forget which pages the interpreter may fetch from (all ones: no page)."""
        base = INTERP_PAGE_CACHE // 8
        self.q[base:base + INTERP_PAGE_ENTRIES] = _NO_PAGES

    def set_jump_cache(self, pc: int, host: int) -> None:
        i = JUMP_CACHE // 8 + 2 * ((pc >> 1) & (JC_ENTRIES - 1))
        self.q[i] = JC_INVALID  # never a matching tag with a stale address
        self.q[i + 1] = host
        self.q[i] = pc

    def place(self, code: bytes | bytearray, at: int) -> None:
        self.rw[at:at + len(code)] = code

    def reset(self, to: int) -> None:
        """Forget every block above ``to`` (the prologue stays)."""
        self.top = to
        self.clear_jump_cache()

    def close(self) -> None:
        self.rw.release()
        self.q.release()
        self.exit_flag.release()
        _libc.munmap(self.exec_base, self.size)
