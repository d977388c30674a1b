"""virtio core + virtio-mmio + virtio-blk/rng, driven by a guest-style driver in guest RAM.

Disk images are real: raw files and qcow2 images created and checked by qemu-img.
"""

import shutil
import struct
import subprocess

import pytest
from virtio_driver import DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, MmioDriver

from pyqemu.block.chain import open_image
from pyqemu.hw.irq import IrqLine
from pyqemu.hw.virtio.virtio_blk import VirtioBlk
from pyqemu.hw.virtio.virtio_mmio import VirtioMmio
from pyqemu.hw.virtio.virtio_rng import VirtioRng
from pyqemu.memory import AddressSpace

RAM = 0x8000_0000
MMIO = 0x1000_1000
NEEDS_RESET = 0x40

need_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")


def rig(device):
    mem = AddressSpace()
    mem.add_ram(RAM, 4 << 20, "ram")
    levels = []
    irq = IrqLine(levels.append)
    slot = VirtioMmio(mem, irq)
    mem.map_mmio(MMIO, slot.size, slot, "virtio-mmio")
    if device is not None:
        slot.plug(device)
        device.realize()
    return mem, slot, irq, MmioDriver(mem, MMIO, RAM + (1 << 20))


def blk_request(drv, mem, rtype, sector, data=b"", read_len=0):
    hdr = drv.alloc(16)
    mem.write(hdr, struct.pack("<IIQ", rtype, 0, sector))
    bufs = [(hdr, 16, False)]
    if data:
        d = drv.alloc(len(data))
        mem.write(d, data)
        bufs.append((d, len(data), False))
    rd = None
    if read_len:
        rd = drv.alloc(read_len)
        bufs.append((rd, read_len, True))
    st = drv.alloc(1)
    mem.write(st, b"\xff")
    bufs.append((st, 1, True))
    drv.submit_chain(0, bufs)
    return rd, st


def test_empty_slot_and_identity():
    mem, slot, irq, drv = rig(None)
    assert drv.r(0) == 0x74726976 and drv.r(4) == 2 and drv.r(8) == 0
    assert drv.r(0xC) == 0x554D4551
    drv.w(0x70, 0xF)               # writes to an empty slot go nowhere
    assert drv.r(0x70) == 0


def test_feature_negotiation_requires_version_1(tmp_path):
    img = tmp_path / "d.raw"
    img.write_bytes(bytes(1 << 20))
    mem, slot, irq, drv = rig(VirtioBlk(open_image(str(img), "raw", read_only=False)))
    assert drv.r(8) == 2
    assert not drv.init(want_features=0)           # legacy driver: FEATURES_OK refused
    assert drv.init()
    assert slot.device.read_config(0, 8) == 2048   # capacity in sectors
    assert drv.r(0x100 + 20) == 512                # blk_size


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@need_qemu_img
def test_blk_read_write_roundtrip(tmp_path, fmt):
    img = tmp_path / f"disk.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(img), "4M"], check=True)
    subprocess.run(["qemu-io", "-f", fmt, "-c", "write -P 0xab 4096 8192", str(img)],
                   check=True, capture_output=True)
    backend = open_image(str(img), fmt, read_only=False)
    dev = VirtioBlk(backend)
    mem, slot, irq, drv = rig(dev)
    assert drv.init()
    rd, st = blk_request(drv, mem, 0, 8, read_len=8192)
    assert mem.read(st, 1) == b"\x00"
    assert mem.read(rd, 8192) == b"\xab" * 8192
    assert irq.level and drv.ack_interrupt() == 1 and not irq.level
    assert drv.used(0) == [(0, 8193)]
    payload = bytes(range(256)) * 16
    _, st = blk_request(drv, mem, 1, 100, data=payload)
    assert mem.read(st, 1) == b"\x00"
    _, st = blk_request(drv, mem, 4, 0)            # flush
    assert mem.read(st, 1) == b"\x00"
    backend.close()
    # qemu-io sees what the guest wrote; qemu-img check finds the qcow2 clean.
    r = subprocess.run(["qemu-io", "-f", fmt, "-c", "read -P 0x00 0 4096", "-c",
                        f"read -v {100 * 512} 16", str(img)], capture_output=True, text=True)
    assert "00 01 02 03" in r.stdout, r.stdout
    if fmt == "qcow2":
        subprocess.run(["qemu-img", "check", str(img)], check=True, capture_output=True)


def test_blk_errors_are_guest_visible(tmp_path):
    img = tmp_path / "d.raw"
    img.write_bytes(bytes(64 << 10))
    mem, slot, irq, drv = rig(VirtioBlk(open_image(str(img), "raw", read_only=True)))
    assert drv.init()
    assert (slot.device.device_features() >> 5) & 1          # VIRTIO_BLK_F_RO
    _, st = blk_request(drv, mem, 0, 1 << 40, read_len=512)  # past the end
    assert mem.read(st, 1) == b"\x01"
    _, st = blk_request(drv, mem, 1, 0, data=bytes(512))     # write to read-only
    assert mem.read(st, 1) == b"\x01"
    _, st = blk_request(drv, mem, 99, 0)                     # unknown type
    assert mem.read(st, 1) == b"\x02"
    _, st = blk_request(drv, mem, 0, 0, read_len=100)        # not whole sectors
    assert mem.read(st, 1) == b"\x01"
    rd, st = blk_request(drv, mem, 8, 0, read_len=20)        # GET_ID
    assert mem.read(st, 1) == b"\x00"
    assert not drv.status & NEEDS_RESET


def test_rng():
    mem, slot, irq, drv = rig(VirtioRng())
    assert drv.init(qsize=8)
    buf = drv.alloc(64)
    drv.submit_chain(0, [(buf, 64, True)])
    assert drv.used(0) == [(0, 64)]
    assert mem.read(buf, 64) != bytes(64)


def test_event_idx_suppresses_interrupts():
    mem, slot, irq, drv = rig(VirtioRng())
    assert drv.init(qsize=8)
    st = drv.queues[0]
    # used_event = 5: the driver wants an interrupt only when used idx passes 5.
    mem.write_uint(st["avail"] + 4 + 2 * st["size"], 2, 5)
    buf = drv.alloc(8)
    kicks = []
    for _ in range(7):
        drv.submit_chain(0, [(buf, 8, True)])
        kicks.append(drv.ack_interrupt())
    assert kicks == [1, 0, 0, 0, 0, 1, 0]


# --- hostile drivers -----------------------------------------------------------------------

def hostile(setup):
    """Run setup(drv, mem) against a fresh rng device and return (drv, device)."""
    dev = VirtioRng()
    mem, slot, irq, drv = rig(dev)
    assert drv.init(qsize=8)
    drv.ack_interrupt()
    setup(drv, mem)
    return drv, dev, irq


def test_descriptor_loop():
    def setup(drv, mem):
        buf = drv.alloc(16)
        drv.write_desc(0, 0, buf, 16, DESC_F_WRITE | DESC_F_NEXT, 1)
        drv.write_desc(0, 1, buf, 16, DESC_F_WRITE | DESC_F_NEXT, 0)
        drv.publish(0, 0)
    drv, dev, irq = hostile(setup)
    assert drv.status & NEEDS_RESET and "loops" in dev.error_message
    assert irq.level and drv.ack_interrupt() & 2   # configuration change interrupt


@pytest.mark.parametrize("case", ["head", "next", "outside_ram", "mmio_buffer", "avail_jump",
                                  "nested_indirect", "indirect_len", "indirect_next",
                                  "read_after_write", "huge_len", "wrapping_addr"])
def test_hostile_descriptors(case):
    def setup(drv, mem):
        buf = drv.alloc(64)
        if case == "head":
            drv.publish(0, 8)
        elif case == "next":
            drv.write_desc(0, 0, buf, 8, DESC_F_WRITE | DESC_F_NEXT, 200)
            drv.publish(0, 0)
        elif case == "outside_ram":
            drv.write_desc(0, 0, 0x1000, 8, DESC_F_WRITE)
            drv.publish(0, 0)
        elif case == "mmio_buffer":
            drv.write_desc(0, 0, MMIO, 8, DESC_F_WRITE)   # DMA into the device's registers
            drv.publish(0, 0)
        elif case == "avail_jump":
            mem.write_uint(drv.queues[0]["avail"] + 2, 2, 500)
            drv.w(0x50, 0)
        elif case in ("nested_indirect", "indirect_len", "indirect_next"):
            table = drv.alloc(32)
            mem.write(table, struct.pack("<QIHH", table, 16, DESC_F_INDIRECT, 0)
                      + struct.pack("<QIHH", buf, 8, DESC_F_WRITE, 0))
            if case == "nested_indirect":
                drv.write_desc(0, 0, table, 32, DESC_F_INDIRECT)
            elif case == "indirect_len":
                drv.write_desc(0, 0, table, 20, DESC_F_INDIRECT)
            else:
                drv.write_desc(0, 0, table, 32, DESC_F_INDIRECT | DESC_F_NEXT, 1)
            drv.publish(0, 0)
        elif case == "read_after_write":
            drv.write_desc(0, 0, buf, 8, DESC_F_WRITE | DESC_F_NEXT, 1)
            drv.write_desc(0, 1, buf, 8, 0)
            drv.publish(0, 0)
        elif case == "huge_len":
            drv.write_desc(0, 0, buf, 0xFFFF_FFFF, DESC_F_WRITE)
            drv.publish(0, 0)
        elif case == "wrapping_addr":
            drv.write_desc(0, 0, 0xFFFF_FFFF_FFFF_FFF0, 0x100, DESC_F_WRITE)
            drv.publish(0, 0)
    drv, dev, irq = hostile(setup)
    assert drv.status & NEEDS_RESET, case
    assert dev.error_message


def test_ring_outside_ram_refused_and_reset_recovers():
    dev = VirtioRng()
    mem, slot, irq, drv = rig(dev)
    drv.w(0x70, 0)
    drv.w(0x70, 3)
    drv.w(0x24, 1)
    drv.w(0x20, 1)
    drv.w(0x70, 0xB)
    drv.w(0x30, 0)
    drv.w(0x38, 8)
    drv.w(0x80, 0x10)              # descriptor table at 0x10: not RAM
    drv.w(0x44, 1)
    assert drv.r(0x44) == 0 and drv.status & NEEDS_RESET
    drv.w(0x70, 0)                 # driver reset clears the error
    assert drv.status == 0
    assert drv.init(qsize=8)
    buf = drv.alloc(8)
    drv.submit_chain(0, [(buf, 8, True)])
    assert drv.used(0) == [(0, 8)]


def test_bad_queue_size_and_register_abuse():
    dev = VirtioRng()
    mem, slot, irq, drv = rig(dev)
    for off in range(0, 0x200, 4):
        for size in (1, 2, 4, 8):
            if off % size == 0:
                drv.w(off, 0xFFFF_FFFF_FFFF_FFFF & ((1 << (8 * size)) - 1), size)
                drv.r(off, size)
    drv.w(0x70, 0)
    drv.w(0x30, 0)
    drv.w(0x38, 3)                 # not a power of two
    drv.w(0x44, 1)
    assert drv.r(0x44) == 0


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@need_qemu_img
def test_drive_snapshot_leaves_the_image_untouched(tmp_path, fmt):
    import glob

    from pyqemu.hw.core.drive import open_drive
    from pyqemu.hw.core.machine import DriveConfig

    img = tmp_path / f"disk.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(img), "1M"], check=True)
    before = img.read_bytes()
    overlays = set(glob.glob("/tmp/pyqemu-snapshot-*"))
    backend = open_drive(DriveConfig("hd0", str(img), "none", None, snapshot=True))
    mem, slot, irq, drv = rig(VirtioBlk(backend))
    assert drv.init()
    _, st = blk_request(drv, mem, 1, 0, data=b"\x55" * 512)
    rd, st2 = blk_request(drv, mem, 0, 0, read_len=512)
    assert mem.read(st, 1) == mem.read(st2, 1) == b"\x00" and mem.read(rd, 512) == b"\x55" * 512
    backend.close()
    assert img.read_bytes() == before
    assert set(glob.glob("/tmp/pyqemu-snapshot-*")) == overlays     # nothing left behind
