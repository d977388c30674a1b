"""virtio-blk-pci driven by the guest itself (tests/kvm/guests/virtio_blk.S): PCI
enumeration and BAR placement, capability walk, feature negotiation, a split queue,
then reads and a write of real disk images.  Same console output and exit status as
qemu-system-x86_64 -accel kvm, and the same bytes on disk afterwards."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kvm.kvmlib import DEBUG_EXIT, assert_same, build_guest, pyqemu_cmd, qemu_cmd, run_vmm

SECTOR0 = b"pyqemu virtio-blk test disk, sector zero\n"
PAYLOAD = b"written by the guest through virtio-blk\n"


@pytest.fixture
def disk(tmp_path):
    data = bytearray(1 << 20)
    data[:len(SECTOR0)] = SECTOR0
    data[512:1024] = b"\xaa" * 512
    path = tmp_path / "disk.raw"
    path.write_bytes(bytes(data))
    return path


def _run_pair(image, ref_disk, our_disk, fmt: str):
    args = ["-bios", str(image), *DEBUG_EXIT]
    ref = run_vmm(qemu_cmd([*args, "-drive", f"file={ref_disk},if=virtio,format={fmt}"]))
    ours = run_vmm(pyqemu_cmd([*args, "-drive", f"file={our_disk},if=virtio,format={fmt}"]))
    return ref, ours


@pytest.mark.parametrize("guest", ["virtio_blk", "virtio_msix"])
def test_read_write_raw(disk, tmp_path, guest: str) -> None:
    """virtio_blk polls the used ring; virtio_msix sleeps until MSI-X interrupts
    (routed GSIs and irqfds in pyqemu) wake it."""
    image = build_guest(guest)
    ref_disk, our_disk = tmp_path / "ref.raw", tmp_path / "ours.raw"
    shutil.copy(disk, ref_disk)
    shutil.copy(disk, our_disk)
    ref, ours = _run_pair(image, ref_disk, our_disk, "raw")
    assert b"read sector 1: " + PAYLOAD in ref.stdout, ref.stdout
    assert_same(ref, ours)
    assert our_disk.read_bytes() == ref_disk.read_bytes()
    assert our_disk.read_bytes()[512:512 + len(PAYLOAD)] == PAYLOAD
    if guest == "virtio_msix":
        assert b"MSI-X interrupts taken: 0004" in ours.stdout


def test_read_write_qcow2(disk, tmp_path) -> None:
    image = build_guest("virtio_blk")
    disks = {}
    for who in ("ref", "ours"):
        disks[who] = tmp_path / f"{who}.qcow2"
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(disk),
                        str(disks[who])], check=True)
    ref, ours = _run_pair(image, disks["ref"], disks["ours"], "qcow2")
    assert_same(ref, ours)
    check = subprocess.run(["qemu-img", "check", str(disks["ours"])], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    cmp = subprocess.run(["qemu-img", "compare", str(disks["ref"]), str(disks["ours"])],
                         capture_output=True)
    assert cmp.returncode == 0, cmp.stdout


def test_ring_outside_ram_is_a_device_error(disk, tmp_path) -> None:
    """A guest that points a virtqueue outside its RAM: DEVICE_NEEDS_RESET, one line on
    stderr, no traceback, nothing written."""
    image = build_guest("virtio_bad_ring")
    ref_disk, our_disk = tmp_path / "ref.raw", tmp_path / "ours.raw"
    shutil.copy(disk, ref_disk)
    shutil.copy(disk, our_disk)
    ref, ours = _run_pair(image, ref_disk, our_disk, "raw")
    assert b"DEVICE_NEEDS_RESET after a ring outside RAM: yes" in ref.stdout, ref.stdout
    assert_same(ref, ours)
    err = ours.stderr.decode()
    assert "Traceback" not in err and "outside guest" in err, err
    assert our_disk.read_bytes() == disk.read_bytes()
