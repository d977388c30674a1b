"""ACPI tables of the pc board under direct kernel boot, and the PM1 poweroff path."""

from __future__ import annotations

import struct

from kvm.kvmlib import ROOT, pyqemu_cmd, run_vmm
from pyqemu.hw.i386.acpi import build_tables
from pyqemu.hw.i386.acpi_pm import SLP_TYP_S5

BASE = 0xE0000


def _tables(ncpus: int) -> tuple[bytes, dict[bytes, bytes]]:
    blob, rsdp_addr = build_tables(BASE, ncpus)
    rsdp = blob[rsdp_addr - BASE:rsdp_addr - BASE + 36]
    assert rsdp[:8] == b"RSD PTR " and sum(rsdp[:20]) & 0xFF == 0 and sum(rsdp) & 0xFF == 0
    xsdt_addr = struct.unpack_from("<Q", rsdp, 24)[0]
    tables = {}

    def table(addr: int) -> bytes:
        length = struct.unpack_from("<I", blob, addr - BASE + 4)[0]
        t = blob[addr - BASE:addr - BASE + length]
        assert sum(t) & 0xFF == 0, t[:4]
        return t

    xsdt = table(xsdt_addr)
    for (addr,) in struct.iter_unpack("<Q", xsdt[36:]):
        t = table(addr)
        tables[t[:4]] = t
    fadt = tables[b"FACP"]
    tables[b"DSDT"] = table(struct.unpack_from("<Q", fadt, 140)[0])
    return rsdp, tables


def test_tables_are_well_formed() -> None:
    _, tables = _tables(4)
    assert set(tables) == {b"FACP", b"APIC", b"DSDT"}
    fadt = tables[b"FACP"]
    assert len(fadt) == 244
    assert struct.unpack_from("<H", fadt, 46)[0] == 9                 # SCI_INT
    assert struct.unpack_from("<I", fadt, 64)[0] == 0x604             # PM1a_CNT_BLK
    assert fadt[116 + 4:116 + 12] == struct.pack("<Q", 0xCF9) and fadt[128] == 6
    assert b"_S5_" in tables[b"DSDT"]


def test_madt_lists_every_cpu() -> None:
    for n in (1, 4, 8):
        _, tables = _tables(n)
        madt = tables[b"APIC"]
        pos, lapics, ioapics = 44, [], 0
        while pos < len(madt):
            kind, length = madt[pos], madt[pos + 1]
            if kind == 0:
                lapics.append(madt[pos + 3])
            ioapics += kind == 1
            pos += length
        assert lapics == list(range(n)) and ioapics == 1


def test_pm1_s5_powers_off(tmp_path) -> None:
    """A guest writing SLP_TYP=S5 | SLP_EN to PM1a_CNT ends pyqemu with status 0."""
    src = tmp_path / "off.S"
    src.write_text(f"""
    .section .reset, "ax"
    .code16
    ljmp $0xF000, $(start - 0xF0000)
    .fill 11, 1, 0xCC
    .text
start:
    mov $0x3F8, %dx
    mov $'z', %al
    out %al, %dx
    mov $0x604, %dx
    mov ${(SLP_TYP_S5 << 10) | (1 << 13):#x}, %ax
    out %ax, %dx
    mov $0x7F, %al
    out %al, $0xF4
""")
    import subprocess
    obj, image = tmp_path / "off.o", tmp_path / "off.bin"
    subprocess.run(["as", "--64", "-o", str(obj), str(src)], check=True)
    subprocess.run(["ld", "-m", "elf_x86_64", "-T", str(ROOT / "tests/kvm/guests/guest.ld"),
                    "-o", str(image), str(obj)], check=True)
    proc = run_vmm(pyqemu_cmd(["-bios", str(image), "-device",
                               "isa-debug-exit,iobase=0xf4,iosize=4"]))
    assert proc.stdout == b"z" and proc.returncode == 0, proc.stderr.decode()
