"""RISC-V hart architectural state as one flat, fixed-layout buffer (DESIGN §3).

Integer and FP registers hold raw 64-bit patterns (unsigned Python ints when read):
x registers are XLEN=64 values, f registers hold doubles or NaN-boxed singles
(upper 32 bits all ones, RISC-V unprivileged spec §13.2).

Python code reads and writes the words through ``cpu.q``: a memoryview of unsigned
64-bit words over the buffer, or, for a hart the Python backend runs in user mode, a
list of the same words (RiscvCPU.use_word_list: list subscripts are three times as
fast). The word index of every field is a constant below, so generated code
addresses fields as ``q[IDX]``.
"""

from __future__ import annotations

import ctypes

# Word indices into the state buffer (each field is one uint64 slot).
X0 = 0  # x0..x31 at 0..31
F0 = 32  # f0..f31 at 32..63
PC = 64
FFLAGS = 65  # accrued exception flags NV DZ OF UF NX (bits 4..0)
FRM = 66  # dynamic rounding mode (0..4)
LR_ADDR = 67  # LR/SC reservation address, or RESERVATION_NONE
LR_VALUE = 68  # value loaded by LR (user mode emulates SC as compare-and-swap)
INSTRET = 69  # instructions retired up to the last exit to the loop
PRIV = 70  # privilege level (3 M, 1 S, 0 U); user mode keeps 0
SFENCE_VA = 71  # sfence.vma's rs1 for the loop (all ones: every address)
# Privileged state (system emulation; privileged ISA ch. 3, 4). Each CSR is one word.
MSTATUS = 80
MISA = 81
MEDELEG = 82
MIDELEG = 83
MIE = 84
MIP = 85  # the software-writable bits; devices drive the others (hart.hw_mip)
MTVEC = 86
MSCRATCH = 87
MEPC = 88
MCAUSE = 89
MTVAL = 90
MCOUNTEREN = 91
STVEC = 92
SSCRATCH = 93
SEPC = 94
SCAUSE = 95
STVAL = 96
SCOUNTEREN = 97
SATP = 98
MENVCFG = 99
SENVCFG = 100
MCOUNTINHIBIT = 101
MHARTID = 102
STIMECMP = 103
MSECCFG = 104
# The mip bits devices drive (hart.hw_mip), kept in the buffer so that generated code
# can tell whether enabling interrupts makes one deliverable.
HW_MIP = 105
SFENCE_ASID = 106  # sfence.vma's rs2 for the loop (all ones: every address space)
PMPCFG = 112  # pmpcfg0, pmpcfg2, ... pmpcfg14 (RV64: even numbers only): 8 words
PMPADDR = 120  # pmpaddr0..63
NUM_WORDS = 192

RESERVATION_NONE = (1 << 64) - 1
# In the list form of the words (RiscvCPU.use_word_list), one more element: the hart's
# (uint64 view, double view) of one 8-byte buffer, with which generated code converts
# FP register bits to a host float and back (a store and a load, where struct's pack
# and unpack are two calls). Each hart has its own, so threads never share it.
CONV = NUM_WORDS


def conversion_buffer() -> tuple[memoryview, memoryview]:
    raw = memoryview(bytearray(8))
    return raw.cast("Q"), raw.cast("d")


class RiscvCPUState(ctypes.Structure):
    """The flat buffer. Field offsets are fixed: native code reaches them from one register."""

    _fields_ = [
        ("x", ctypes.c_uint64 * 32),
        ("f", ctypes.c_uint64 * 32),
        ("pc", ctypes.c_uint64),
        ("fflags", ctypes.c_uint64),
        ("frm", ctypes.c_uint64),
        ("lr_addr", ctypes.c_uint64),
        ("lr_value", ctypes.c_uint64),
        ("instret", ctypes.c_uint64),
        ("priv", ctypes.c_uint64),
        ("sfence_va", ctypes.c_uint64),
        ("_reserved", ctypes.c_uint64 * (MSTATUS - 72)),
        ("csr", ctypes.c_uint64 * (NUM_WORDS - MSTATUS)),  # MSTATUS.. by index above
    ]


assert ctypes.sizeof(RiscvCPUState) == NUM_WORDS * 8


class RiscvCPU:
    """One hart: its state buffer plus the word view generated code uses."""

    def __init__(self) -> None:
        self.state = RiscvCPUState()
        self.q = memoryview(self.state).cast("B").cast("Q")
        self.q[LR_ADDR] = RESERVATION_NONE

    # Convenience accessors for loaders, syscalls, gdbstub and tests.
    @property
    def pc(self) -> int:
        return self.q[PC]

    @pc.setter
    def pc(self, value: int) -> None:
        self.q[PC] = value & 0xFFFFFFFFFFFFFFFF

    def get_x(self, n: int) -> int:
        return self.q[n] if n else 0

    def set_x(self, n: int, value: int) -> None:
        if n:
            self.q[n] = value & 0xFFFFFFFFFFFFFFFF

    def get_f(self, n: int) -> int:
        return self.q[F0 + n]

    def set_f(self, n: int, value: int) -> None:
        self.q[F0 + n] = value & 0xFFFFFFFFFFFFFFFF

    @property
    def fcsr(self) -> int:
        return (self.q[FRM] << 5) | self.q[FFLAGS]

    @fcsr.setter
    def fcsr(self, value: int) -> None:
        self.q[FFLAGS] = value & 0x1F
        self.q[FRM] = (value >> 5) & 0x7

    def use_word_list(self) -> None:
        """Hold the words in a Python list from now on (the Python backend's loop).

        Generated Python code loads and stores registers as ``q[IDX]``; a list element
        is a reference to an int already made, where a memoryview word is converted to
        and from a Python int at each access (three times as slow). The ctypes buffer is
        no longer kept up to date: only the native backends read it, and a hart runs
        under one backend for its whole life."""
        if not isinstance(self.q, list):
            self.q = [*self.q, conversion_buffer()]

    def copy_from(self, other: RiscvCPU) -> None:
        """Duplicate another hart's state (clone of a thread)."""
        if isinstance(other.q, list):
            self.q = list(other.q)
            self.q[CONV] = conversion_buffer()
            return
        ctypes.memmove(ctypes.addressof(self.state), ctypes.addressof(other.state),
                       ctypes.sizeof(RiscvCPUState))
