"""Direct Linux boot without firmware: the x86 boot protocol's 64-bit entry.

Documentation/arch/x86/boot.rst.  A bzImage starts with the real-mode setup
(``setup_sects`` + 1 sectors, the setup header at 0x1F1 with "HdrS" at 0x202); the
protected-mode kernel follows.  For the 64-bit boot protocol (xloadflags
XLF_KERNEL_64, protocol 2.12+) the loader

* puts the protected-mode kernel at its load address (``pref_address`` for a
  relocatable kernel, else ``code32_start``, 1 MiB),
* builds a zeroed ``struct boot_params`` (the "zero page"), copies the setup header
  into it at 0x1F1 and fills type_of_loader, cmd_line_ptr, ramdisk_image/size and the
  e820 table (0x1E8 count, 0x2D0 entries of {u64 addr, u64 size, u32 type}),
* enters at load address + 0x200 in 64-bit mode with paging on, the range it uses
  identity-mapped, a GDT with __BOOT_CS = 0x10 and __BOOT_DS = 0x18 flat segments,
  interrupts off and %rsi = boot_params.

An ELF vmlinux is booted through PVH (see pvh.py).
"""

from __future__ import annotations

import struct
from typing import Any

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.hw.core.machine import MachineError

# Guest-physical layout of what the loader writes (all below the EBDA).
GDT_ADDR = 0x500
BOOT_PARAMS_ADDR = 0x7000
PML4_ADDR = 0x9000                 # PML4, PDPT, then 4 page directories (0-4 GiB)
CMDLINE_ADDR = 0x20000
KERNEL_DEFAULT_ADDR = 0x10_0000

BOOT_CS, BOOT_DS = 0x10, 0x18
XLF_KERNEL_64 = 1 << 0
LOADED_HIGH = 0x01
TYPE_OF_LOADER_UNDEFINED = 0xFF
E820_RAM, E820_RESERVED, E820_ACPI = 1, 2, 3
MAX_E820 = 128


def _u8(b: bytes, o: int) -> int:
    return b[o]


def _u16(b: bytes, o: int) -> int:
    return struct.unpack_from("<H", b, o)[0]


def _u32(b: bytes, o: int) -> int:
    return struct.unpack_from("<I", b, o)[0]


def _u64(b: bytes, o: int) -> int:
    return struct.unpack_from("<Q", b, o)[0]


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise MachineError(f"could not load {what} '{path}': {e.strerror}") from None


class LinuxLoader:
    def __init__(self, machine: Any, kernel: str, initrd: str | None, cmdline: str) -> None:
        self.machine = machine
        self.kernel_path = kernel
        self.image = read_file(kernel, "kernel")
        self.initrd = read_file(initrd, "initrd") if initrd else b""
        self.cmdline = cmdline.encode()
        self.pvh = None
        if self.image[:4] == b"\x7fELF":
            from pyqemu.hw.i386.pvh import PvhLoader
            self.pvh = PvhLoader(machine, kernel, self.image, self.initrd, self.cmdline)
            return
        self._parse_bzimage()

    # --- the setup header ------------------------------------------------------------
    def _parse_bzimage(self) -> None:
        img = self.image
        if len(img) < 0x270 or _u16(img, 0x1FE) != 0xAA55 or img[0x202:0x206] != b"HdrS":
            raise MachineError(f"-kernel {self.kernel_path}: neither a bzImage (no 'HdrS' "
                               f"setup header) nor an ELF vmlinux")
        self.version = _u16(img, 0x206)
        xloadflags = _u16(img, 0x236) if self.version >= 0x20C else 0
        if self.version < 0x20C or not xloadflags & XLF_KERNEL_64:
            raise MachineError(f"-kernel {self.kernel_path}: boot protocol "
                               f"{self.version >> 8}.{self.version & 0xFF} without a 64-bit "
                               f"entry point (need 2.12 and XLF_KERNEL_64)")
        if not _u8(img, 0x211) & LOADED_HIGH:
            raise MachineError(f"-kernel {self.kernel_path}: a zImage (not loaded high) is "
                               f"not supported")
        setup_sects = _u8(img, 0x1F1) or 4
        self.setup_size = (setup_sects + 1) * 512
        if self.setup_size >= len(img):
            raise MachineError(f"-kernel {self.kernel_path}: truncated bzImage")
        self.kernel = img[self.setup_size:]
        # The header ends where the jump at 0x200 lands: 0x202 + its 8-bit offset.
        self.header_end = 0x202 + _u8(img, 0x201)
        relocatable = _u8(img, 0x234)
        pref = _u64(img, 0x258) if self.version >= 0x20A else KERNEL_DEFAULT_ADDR
        self.init_size = max(_u32(img, 0x260) if self.version >= 0x20A else 0, len(self.kernel))
        self.load_addr = pref if relocatable else _u32(img, 0x214) or KERNEL_DEFAULT_ADDR
        self.cmdline_size = _u32(img, 0x238) if self.version >= 0x206 else 255
        self.initrd_addr_max = _u32(img, 0x22C) if self.version >= 0x203 else 0x37FF_FFFF
        if len(self.cmdline) > self.cmdline_size:
            raise MachineError(f"-append: the command line is longer than the kernel's "
                               f"limit of {self.cmdline_size} bytes")
        below = self.machine.below_4g
        if self.load_addr + self.init_size > below:
            if self.load_addr != KERNEL_DEFAULT_ADDR and relocatable and \
                    KERNEL_DEFAULT_ADDR + self.init_size <= below:
                self.load_addr = KERNEL_DEFAULT_ADDR
            else:
                raise MachineError(f"-kernel {self.kernel_path}: the kernel needs "
                                   f"{self.init_size:#x} bytes at {self.load_addr:#x}, more "
                                   f"than the guest RAM below 4 GiB")
        self.initrd_addr = 0
        if self.initrd:
            top = min(self.initrd_addr_max + 1, below)
            self.initrd_addr = (top - len(self.initrd)) & ~0xFFF
            if self.initrd_addr < self.load_addr + self.init_size:
                raise MachineError(f"-initrd: {len(self.initrd)} bytes do not fit in guest RAM "
                                   f"above the kernel")

    # --- at every reset ------------------------------------------------------------------
    def load(self) -> None:
        if self.pvh is not None:
            self.pvh.load()
            return
        mem = self.machine.sysmem
        mem.write(self.load_addr, self.kernel)
        if self.initrd:
            mem.write(self.initrd_addr, self.initrd)
        mem.write(CMDLINE_ADDR, self.cmdline + b"\0")
        bp = bytearray(4096)
        bp[0x1F1:self.header_end] = self.image[0x1F1:self.header_end]
        bp[0x210] = TYPE_OF_LOADER_UNDEFINED
        struct.pack_into("<I", bp, 0x228, CMDLINE_ADDR)
        struct.pack_into("<I", bp, 0x218, self.initrd_addr & 0xFFFF_FFFF)
        struct.pack_into("<I", bp, 0x21C, len(self.initrd) & 0xFFFF_FFFF)
        struct.pack_into("<I", bp, 0x0C0, self.initrd_addr >> 32)
        struct.pack_into("<I", bp, 0x0C4, len(self.initrd) >> 32)
        struct.pack_into("<I", bp, 0x214, self.load_addr)      # code32_start
        e820 = self.machine.e820_map()[:MAX_E820]
        bp[0x1E8] = len(e820)
        for i, (addr, size, kind) in enumerate(e820):
            struct.pack_into("<QQI", bp, 0x2D0 + 20 * i, addr, size, kind)
        rsdp = getattr(self.machine, "acpi_rsdp_addr", 0)
        struct.pack_into("<Q", bp, 0x070, rsdp)
        mem.write(BOOT_PARAMS_ADDR, bytes(bp))
        write_identity_map(mem)
        write_boot_gdt(mem)

    def setup_cpu(self, cpu: Any) -> None:
        if self.pvh is not None:
            self.pvh.setup_cpu(cpu)
            return
        enter_long_mode(cpu, rip=self.load_addr + 0x200, rsi=BOOT_PARAMS_ADDR)


def write_identity_map(mem: Any) -> None:
    """PML4 -> PDPT -> 4 page directories of 2 MiB pages: 0-4 GiB identity-mapped."""
    pml4 = bytearray(4096)
    struct.pack_into("<Q", pml4, 0, (PML4_ADDR + 0x1000) | 0x03)
    pdpt = bytearray(4096)
    for i in range(4):
        struct.pack_into("<Q", pdpt, 8 * i, (PML4_ADDR + 0x2000 + 0x1000 * i) | 0x03)
    pds = bytearray(4 * 4096)
    for i in range(4 * 512):
        struct.pack_into("<Q", pds, 8 * i, (i << 21) | 0x83)     # P | RW | PS
    mem.write(PML4_ADDR, bytes(pml4) + bytes(pdpt) + bytes(pds))


def write_boot_gdt(mem: Any) -> None:
    gdt = struct.pack("<4Q", 0, 0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF)
    mem.write(GDT_ADDR, gdt)


def _flat(selector: int, type_: int, long_mode: bool) -> api.KvmSegment:
    return api.KvmSegment(base=0, limit=0xFFFF_FFFF, selector=selector, type=type_,
                          present=1, dpl=0, db=0 if long_mode else 1, s=1,
                          l=1 if long_mode else 0, g=1, avl=0, unusable=0)


def enter_long_mode(cpu: Any, rip: int, rsi: int) -> None:
    """The register state of the 64-bit boot protocol's entry."""
    sregs = cpu.get_sregs()
    sregs.cs = _flat(BOOT_CS, 0xB, True)
    for name in ("ds", "es", "fs", "gs", "ss"):
        setattr(sregs, name, _flat(BOOT_DS, 0x3, False))
    sregs.gdt.base, sregs.gdt.limit = GDT_ADDR, 4 * 8 - 1
    sregs.idt.base, sregs.idt.limit = 0, 0
    sregs.cr3 = PML4_ADDR
    sregs.cr4 = 0x20                                   # PAE
    sregs.cr0 = 0x8001_0033                            # PG | WP | NE | ET | MP | PE
    sregs.efer = 0x500                                 # LMA | LME
    cpu.set_sregs(sregs)
    regs = api.KvmRegs()
    regs.rip = rip
    regs.rsi = rsi
    regs.rflags = 0x2
    cpu.set_regs(regs)
