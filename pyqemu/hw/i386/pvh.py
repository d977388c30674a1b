"""PVH direct boot of an ELF kernel (Xen's HVM direct boot ABI, used for vmlinux).

The kernel announces its 32-bit entry in an ELF note: owner "Xen", type
XEN_ELFNOTE_PHYS32_ENTRY (18), descriptor = entry address.  The loader copies the
PT_LOAD segments to their physical addresses and enters in 32-bit protected mode,
paging off, flat CS/DS/ES/SS, with %ebx = the physical address of struct
hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h, version 1):

    magic 0x336EC578, version, flags, nr_modules, modlist_paddr, cmdline_paddr,
    rsdp_paddr, memmap_paddr, memmap_entries

Modules (the initrd) are {paddr, size, cmdline_paddr, reserved}; memory-map entries
are {addr, size, type, reserved}, types as in e820.
"""

from __future__ import annotations

import struct
from typing import Any

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.hw.core.machine import MachineError

XEN_ELFNOTE_PHYS32_ENTRY = 18
START_MAGIC = 0x336E_C578
START_INFO_ADDR = 0x6000
MODLIST_ADDR = 0x6100
MEMMAP_ADDR = 0x6200
PVH_GDT_ADDR = 0x500
CMDLINE_ADDR = 0x20000
PT_LOAD, PT_NOTE = 1, 4


class PvhLoader:
    def __init__(self, machine: Any, path: str, image: bytes, initrd: bytes,
                 cmdline: bytes) -> None:
        self.machine = machine
        self.path = path
        self.image = image
        self.initrd = initrd
        self.cmdline = cmdline
        self.segments: list[tuple[int, bytes, int]] = []     # (paddr, bytes, memsz)
        self.entry = 0
        try:
            self._parse()
        except (struct.error, IndexError):
            raise MachineError(f"-kernel {path}: truncated or malformed ELF image") from None
        if not self.entry:
            raise MachineError(f"-kernel {path}: ELF image without a PVH entry note "
                               f"(XEN_ELFNOTE_PHYS32_ENTRY)")
        end = max(p + m for p, _, m in self.segments)
        below = machine.below_4g
        if end > below:
            raise MachineError(f"-kernel {path}: the kernel ends at {end:#x}, beyond the "
                               f"guest RAM below 4 GiB")
        self.initrd_addr = 0
        if initrd:
            self.initrd_addr = (below - len(initrd)) & ~0xFFF
            if self.initrd_addr < end:
                raise MachineError(f"-initrd: {len(initrd)} bytes do not fit in guest RAM "
                                   f"above the kernel")

    def _parse(self) -> None:
        img = self.image
        is64 = img[4] == 2
        little = img[5] == 1
        if not little or img[4] not in (1, 2):
            raise MachineError(f"-kernel {self.path}: not a little-endian ELF32/ELF64 image")
        if is64:
            phoff, = struct.unpack_from("<Q", img, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", img, 0x36)
        else:
            phoff, = struct.unpack_from("<I", img, 0x1C)
            phentsize, phnum = struct.unpack_from("<HH", img, 0x2A)
        for i in range(phnum):
            o = phoff + i * phentsize
            if is64:
                p_type, _flags, off, _va, pa, filesz, memsz = struct.unpack_from("<IIQQQQQ", img, o)
            else:
                p_type, off, _va, pa, filesz, memsz = struct.unpack_from("<IIIIII", img, o)
            if p_type == PT_LOAD and memsz:
                if off + filesz > len(img) or filesz > memsz:
                    raise MachineError(f"-kernel {self.path}: segment {i} lies outside the "
                                       f"file")
                self.segments.append((pa, img[off:off + filesz], memsz))
            elif p_type == PT_NOTE:
                self._notes(img[off:off + filesz])
        if not self.segments:
            raise MachineError(f"-kernel {self.path}: ELF image with nothing to load")

    def _notes(self, data: bytes) -> None:
        pos = 0
        while pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = data[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            desc_off = pos + 12 + ((namesz + 3) & ~3)
            desc = data[desc_off:desc_off + descsz]
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY and len(desc) >= 4:
                self.entry = int.from_bytes(desc[:8] if len(desc) >= 8 else desc[:4], "little")
                self.entry &= 0xFFFF_FFFF
            pos = desc_off + ((descsz + 3) & ~3)

    def load(self) -> None:
        mem = self.machine.sysmem
        for paddr, data, memsz in self.segments:
            mem.write(paddr, data + bytes(memsz - len(data)))
        if self.initrd:
            mem.write(self.initrd_addr, self.initrd)
        mem.write(CMDLINE_ADDR, self.cmdline + b"\0")
        mem.write(MODLIST_ADDR, struct.pack("<QQQQ", self.initrd_addr, len(self.initrd), 0, 0))
        e820 = self.machine.e820_map()
        mem.write(MEMMAP_ADDR, b"".join(struct.pack("<QQII", a, s, t, 0) for a, s, t in e820))
        info = struct.pack("<IIIIQQQQII", START_MAGIC, 1, 0, 1 if self.initrd else 0,
                           MODLIST_ADDR, CMDLINE_ADDR,
                           getattr(self.machine, "acpi_rsdp_addr", 0), MEMMAP_ADDR,
                           len(e820), 0)
        mem.write(START_INFO_ADDR, info)
        mem.write(PVH_GDT_ADDR, struct.pack("<3Q", 0, 0x00CF_9B00_0000_FFFF,
                                            0x00CF_9300_0000_FFFF))

    def setup_cpu(self, cpu: Any) -> None:
        sregs = cpu.get_sregs()

        def flat(sel: int, type_: int) -> api.KvmSegment:
            return api.KvmSegment(base=0, limit=0xFFFF_FFFF, selector=sel, type=type_,
                                  present=1, dpl=0, db=1, s=1, l=0, g=1, avl=0, unusable=0)

        sregs.cs = flat(0x08, 0xB)
        for name in ("ds", "es", "fs", "gs", "ss"):
            setattr(sregs, name, flat(0x10, 0x3))
        sregs.gdt.base, sregs.gdt.limit = PVH_GDT_ADDR, 3 * 8 - 1
        sregs.cr0 = 0x11                  # PE | ET, paging off
        sregs.cr3 = sregs.cr4 = 0
        sregs.efer = 0
        cpu.set_sregs(sregs)
        regs = api.KvmRegs()
        regs.rip = self.entry
        regs.rbx = START_INFO_ADDR
        regs.rflags = 0x2
        cpu.set_regs(regs)
