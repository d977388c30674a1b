"""ACPI tables for direct kernel boot: enough for CPUs, interrupts, reset and poweroff.

ACPI 6.x specification, chapter 5:
* RSDP (5.2.5) "RSD PTR ", revision 2, pointing to the RSDT and the XSDT;
* FADT (5.2.9, revision 3 layout, 244 bytes): SCI on IRQ 9, the PM1a event and control
  blocks and the PM timer of :mod:`acpi_pm`, the reset register (0xCF9 <- 0x06), no
  SMI command port (so ACPI mode is always on), the DSDT and the FACS;
* DSDT (5.2.11.1) whose AML defines only ``\\_S5_`` — the SLP_TYP the OS writes to
  PM1a_CNT with SLP_EN to power off;
* MADT (5.2.12): one Processor Local APIC entry per vCPU, the IOAPIC at 0xFEC00000,
  interrupt source overrides for ISA IRQ 0 -> GSI 2 (the PIT) and IRQ 9 (SCI, level,
  active high), and LINT1 as NMI on every processor.

The tables sit in the reserved BIOS area at 0xE0000 (where an OS also scans for the
RSDP), and the boot loader passes the RSDP address in boot_params.acpi_rsdp_addr.
"""

from __future__ import annotations

import struct

from pyqemu.hw.i386.acpi_pm import PM_BASE, SLP_TYP_S5

OEM_ID = b"PYQEMU"
OEM_TABLE_ID = b"PYQEMUPC"
IOAPIC_ADDR = 0xFEC0_0000
LAPIC_ADDR = 0xFEE0_0000
SCI_IRQ = 9


def _checksum(data: bytes | bytearray) -> int:
    return (-sum(data)) & 0xFF


def _table(signature: bytes, revision: int, body: bytes) -> bytes:
    length = 36 + len(body)
    hdr = struct.pack("<4sIBB6s8sI4sI", signature, length, revision, 0, OEM_ID, OEM_TABLE_ID,
                      1, b"PYQM", 1)
    t = bytearray(hdr + body)
    t[9] = _checksum(t)
    return bytes(t)


def _gas(space: int, bits: int, access: int, address: int) -> bytes:
    """Generic Address Structure (5.2.3.2): 1 = system I/O space."""
    return struct.pack("<BBBBQ", space, bits, 0, access, address)


def dsdt() -> bytes:
    # Name (_S5_, Package (4) { SLP_TYP_S5, SLP_TYP_S5, Zero, Zero })
    s5 = bytes([0x08]) + b"_S5_" + bytes([0x12, 0x08, 0x04, 0x0A, SLP_TYP_S5, 0x0A,
                                          SLP_TYP_S5, 0x00, 0x00])
    return _table(b"DSDT", 2, s5)


def facs() -> bytes:
    # signature, length, hardware signature, waking vector, global lock, flags,
    # X waking vector, version, reserved
    body = struct.pack("<4sIIIIIQB3xI24x", b"FACS", 64, 0, 0, 0, 0, 0, 2, 0)
    return body


def fadt(facs_addr: int, dsdt_addr: int) -> bytes:
    pm1_evt, pm1_cnt, pm_tmr = PM_BASE, PM_BASE + 4, PM_BASE + 8
    flags = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 10)   # WBINVD, C1, PWR/SLP
    # button are control methods (none), RESET_REG_SUP
    body = struct.pack(
        "<IIBBHIBBBBIIIIIIIIBBBBBBBBHHHHBBBBBHBI",
        facs_addr, dsdt_addr, 0, 0, SCI_IRQ, 0,   # ..., SCI_INT, SMI_CMD (none)
        0, 0, 0, 0,                                # ACPI_ENABLE/DISABLE, S4BIOS, PSTATE
        pm1_evt, 0, pm1_cnt, 0, 0, pm_tmr, 0, 0,   # PM1a/b EVT, PM1a/b CNT, PM2, TMR, GPE0/1
        4, 2, 0, 4, 0, 0, 0, 0,                    # lengths, GPE1_BASE, CST_CNT
        0x0FFF, 0x0FFF, 0, 0,                      # no C2/C3; flush size/stride
        0, 0, 0, 0, 0x32,                          # duty, alarms, RTC century (CMOS 0x32)
        0x0003, 0, flags)                          # IAPC_BOOT_ARCH: legacy devices, 8042
    body += _gas(1, 8, 1, 0xCF9) + bytes([0x06]) + b"\0\0\0"   # RESET_REG, RESET_VALUE
    body += struct.pack("<QQ", facs_addr, dsdt_addr)            # X_FIRMWARE_CTRL, X_DSDT
    body += _gas(1, 32, 2, pm1_evt) + _gas(0, 0, 0, 0)          # X_PM1a/b_EVT_BLK
    body += _gas(1, 16, 2, pm1_cnt) + _gas(0, 0, 0, 0)          # X_PM1a/b_CNT_BLK
    body += _gas(0, 0, 0, 0)                                    # X_PM2_CNT_BLK
    body += _gas(1, 32, 3, pm_tmr)                              # X_PM_TMR_BLK
    body += _gas(0, 0, 0, 0) + _gas(0, 0, 0, 0)                 # X_GPE0/1_BLK
    t = _table(b"FACP", 3, body)
    assert len(t) == 244, len(t)
    return t


def madt(ncpus: int) -> bytes:
    body = struct.pack("<II", LAPIC_ADDR, 1)                    # PCAT_COMPAT: has 8259s
    for i in range(ncpus):
        body += struct.pack("<BBBBI", 0, 8, i, i, 1)            # Local APIC, enabled
    body += struct.pack("<BBBBII", 1, 12, ncpus, 0, IOAPIC_ADDR, 0)
    body += struct.pack("<BBBBIH", 2, 10, 0, 0, 2, 0)           # IRQ 0 -> GSI 2
    body += struct.pack("<BBBBIH", 2, 10, 0, SCI_IRQ, SCI_IRQ, 0x000D)  # level, high
    body += struct.pack("<BBBHB", 4, 6, 0xFF, 0, 1)             # LINT1 = NMI, all CPUs
    return _table(b"APIC", 3, body)


def build_tables(base: int, ncpus: int) -> tuple[bytes, int]:
    """All tables laid out from base; returns (blob, RSDP address)."""
    blob = bytearray()

    def place(data: bytes, align: int = 16) -> int:
        blob.extend(b"\0" * (-len(blob) % align))
        addr = base + len(blob)
        blob.extend(data)
        return addr

    rsdp_addr = place(b"\0" * 36)            # filled last; first, so scans find it early
    facs_addr = place(facs(), 64)
    dsdt_addr = place(dsdt())
    fadt_addr = place(fadt(facs_addr, dsdt_addr))
    madt_addr = place(madt(ncpus))
    entries = [fadt_addr, madt_addr]
    rsdt_addr = place(_table(b"RSDT", 1, struct.pack(f"<{len(entries)}I", *entries)))
    xsdt_addr = place(_table(b"XSDT", 1, struct.pack(f"<{len(entries)}Q", *entries)))
    rsdp = bytearray(struct.pack("<8sB6sBIIQB3x", b"RSD PTR ", 0, OEM_ID, 2, rsdt_addr, 36,
                                 xsdt_addr, 0))
    rsdp[8] = _checksum(rsdp[:20])
    rsdp[32] = _checksum(rsdp)
    off = rsdp_addr - base
    blob[off:off + 36] = rsdp
    return bytes(blob), rsdp_addr
