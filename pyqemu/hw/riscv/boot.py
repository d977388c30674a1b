"""RISC-V boot images: firmware, kernel, initrd and device tree placement, the reset vector.

The boot flow is QEMU's: every hart starts in M-mode at the boot ROM (0x1000), whose
reset vector loads a0 = mhartid, a1 = device tree address, a2 = the address of an
OpenSBI ``fw_dynamic_info`` record (OpenSBI's include/sbi/fw_dynamic.h: magic "OSBI",
version 2, next_addr, next_mode, options, boot_hart) and jumps to the firmware entry
(or straight to the kernel with ``-bios none``).

Placement in DRAM follows the same policy as QEMU's virt so that the same guest
images work unchanged: firmware at the DRAM base; the kernel at the next 2 MiB
boundary after the firmware (RV64 Linux wants 2 MiB alignment); the initrd at
kernel + min(RAM/2, 128 MiB); the device tree at the top of DRAM below 3 GiB,
aligned down to 2 MiB.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pyqemu.memory import AddressSpace, GuestMemoryError

MiB = 1 << 20
FW_DYNAMIC_MAGIC = 0x4942534F          # "OSBI"
FW_DYNAMIC_VERSION = 2
NEXT_MODE_S = 1

# Registers used by the reset vector.
T0, A0, A1, A2 = 5, 10, 11, 12
CSR_MHARTID = 0xF14


class BootError(Exception):
    """A boot image that cannot be loaded (missing, malformed, does not fit)."""


# --- a tiny RV64 encoder for the reset vector ----------------------------------------------
def _i_type(opcode: int, funct3: int, rd: int, rs1: int, imm: int) -> int:
    return (imm & 0xFFF) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode


def auipc(rd: int, imm20: int) -> int:
    return (imm20 & 0xFFFFF) << 12 | rd << 7 | 0x17


def addi(rd: int, rs1: int, imm: int) -> int:
    return _i_type(0x13, 0, rd, rs1, imm)


def ld(rd: int, rs1: int, imm: int) -> int:
    return _i_type(0x03, 3, rd, rs1, imm)


def csrr(rd: int, csr: int) -> int:
    return _i_type(0x73, 2, rd, 0, csr)        # csrrs rd, csr, x0


def jr(rs1: int) -> int:
    return _i_type(0x67, 0, 0, rs1, 0)         # jalr x0, 0(rs1)


START_ADDR_OFF = 0x18
FDT_ADDR_OFF = 0x20
FW_DYN_OFF = 0x28


def reset_vector(start_addr: int, fdt_addr: int, next_addr: int, boot_hart: int = 0) -> bytes:
    """The boot ROM contents: six instructions, two addresses, the fw_dynamic record."""
    code = [
        auipc(T0, 0),                          # t0 = address of this ROM
        addi(A2, T0, FW_DYN_OFF),              # a2 = &fw_dynamic_info
        csrr(A0, CSR_MHARTID),                 # a0 = hart id
        ld(A1, T0, FDT_ADDR_OFF),              # a1 = device tree
        ld(T0, T0, START_ADDR_OFF),            # t0 = firmware / kernel entry
        jr(T0),
    ]
    blob = struct.pack("<6I", *code) + struct.pack("<QQ", start_addr, fdt_addr)
    assert len(blob) == FW_DYN_OFF
    blob += struct.pack("<6Q", FW_DYNAMIC_MAGIC, FW_DYNAMIC_VERSION, next_addr, NEXT_MODE_S, 0,
                        boot_hart)
    return blob


# --- image loading ---------------------------------------------------------------------------
@dataclass
class LoadedImage:
    entry: int
    start: int
    end: int          # one past the last byte loaded


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise BootError(f"could not load {what} '{path}': {e.strerror}") from None


def load_elf(data: bytes, mem: AddressSpace, what: str, path: str) -> LoadedImage:
    """Load the PT_LOAD segments of an ELF image at their physical addresses."""
    import io

    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] != "EM_RISCV":
            raise BootError(f"could not load {what} '{path}': not a RISC-V ELF image")
        lo, hi = None, 0
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            addr = seg["p_paddr"]
            body = seg.data()
            if seg["p_filesz"] > seg["p_memsz"]:
                raise BootError(f"could not load {what} '{path}': bad program header")
            mem.write(addr, body + bytes(seg["p_memsz"] - len(body)))
            lo = addr if lo is None else min(lo, addr)
            hi = max(hi, addr + seg["p_memsz"])
        if lo is None:
            raise BootError(f"could not load {what} '{path}': no loadable segments")
        return LoadedImage(elf["e_entry"], lo, hi)
    except (ELFError, struct.error, ValueError) as e:
        raise BootError(f"could not load {what} '{path}': malformed ELF ({e})") from None
    except GuestMemoryError:
        raise BootError(f"could not load {what} '{path}': segment outside guest RAM") from None


def load_image(data: bytes, path: str, what: str, mem: AddressSpace, addr: int) -> LoadedImage:
    """An ELF goes where its headers say; anything else is loaded raw at addr."""
    if data[:4] == b"\x7fELF":
        return load_elf(data, mem, what, path)
    try:
        mem.write(addr, data)
    except GuestMemoryError:
        raise BootError(f"could not load {what} '{path}': {len(data)} bytes at {addr:#x} do not "
                        f"fit in guest RAM") from None
    return LoadedImage(addr, addr, addr + len(data))


def kernel_start(firmware_end: int) -> int:
    return (firmware_end + 2 * MiB - 1) & ~(2 * MiB - 1)


def initrd_start(kernel_entry: int, ram_size: int) -> int:
    return kernel_entry + min(ram_size // 2, 128 * MiB)


def fdt_address(dram_base: int, ram_size: int, fdt_size: int) -> int:
    top = dram_base + ram_size
    if dram_base < 3072 * MiB:
        top = min(top, 3072 * MiB)
    return (top - fdt_size) & ~(2 * MiB - 1)
