"""Debian's stock kernel under pyqemu -accel kvm, where KVM runs guests at hardware speed.

The guest is built by scripts/build-x86-linux-guest.sh (linux-image-amd64 and
busybox-static from Debian, an initramfs whose /init loads the virtio modules).  With
-smp 4 it must reach /init, write a marker to its virtio disk, reboot, find the marker
and power off (exit status 0); the time to /init is compared with QEMU's.

On hosts where /dev/kvm runs guests through an instruction emulator (nested
paravirtual KVM: ~2 MIPS) the kernel's decompressor alone takes many minutes, so the
test measures a small guest loop first and skips, saying so, when KVM is that slow.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from kvm.kvmlib import DEBUG_EXIT, ROOT, build_guest, pyqemu_cmd, qemu_cmd, run_vmm

LOOP_INSNS = 10_000_000           # speedloop.S: 5M iterations of dec/jnz
MIN_MIPS = 500                    # hardware speed is thousands of MIPS
GUEST_DIR = ROOT / ".cache" / "x86-linux"


def kvm_mips() -> float:
    """Guest instructions per microsecond under pyqemu, start-up cost subtracted."""
    loop = build_guest("speedloop")
    empty = build_guest("realmode")
    t0 = time.perf_counter()
    run_vmm(pyqemu_cmd(["-bios", str(empty), *DEBUG_EXIT]), timeout=60)
    t1 = time.perf_counter()
    proc = run_vmm(pyqemu_cmd(["-bios", str(loop), *DEBUG_EXIT]), timeout=600)
    t2 = time.perf_counter()
    assert proc.returncode == 3, proc.stderr.decode()
    return LOOP_INSNS / max((t2 - t1) - (t1 - t0), 1e-3) / 1e6


@pytest.fixture(scope="module")
def hardware_speed_kvm():
    mips = kvm_mips()
    if mips < MIN_MIPS:
        pytest.skip(f"KVM here runs guests at about {mips:.0f} MIPS (an emulating, nested "
                    f"KVM), far from hardware speed: a Linux boot would take too long")
    return mips


@pytest.fixture(scope="module")
def linux_guest(hardware_speed_kvm):
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "build-x86-linux-guest.sh"),
                           str(GUEST_DIR)], capture_output=True, timeout=1200)
    if proc.returncode != 0:
        pytest.skip(f"cannot build the Debian guest: {proc.stderr.decode()[-300:]}")
    return GUEST_DIR / "vmlinuz", GUEST_DIR / "initramfs.cpio.gz"


def _time_to_init(cmd: list[str]) -> tuple[float, bytes, int]:
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, cwd=ROOT)
    out = b""
    reached = None
    deadline = t0 + 300
    while time.perf_counter() < deadline:
        chunk = p.stdout.read1(4096)
        if not chunk:
            break
        out += chunk
        if reached is None and b"pyqemu-init-reached" in out:
            reached = time.perf_counter() - t0
    p.wait(timeout=60)
    return (reached if reached is not None else float("inf")), out, p.returncode


def test_debian_kernel_smp4_disk_survives_reboot(linux_guest, tmp_path) -> None:
    kernel, initrd = linux_guest
    times = {}
    for who, build in (("qemu", qemu_cmd), ("pyqemu", pyqemu_cmd)):
        disk = tmp_path / f"{who}.raw"
        disk.write_bytes(bytes(1 << 20))
        cmd = build(["-m", "512M", "-smp", "4", "-kernel", str(kernel), "-initrd", str(initrd),
                     "-append", "console=ttyS0 pyqemu.test=disk",
                     "-drive", f"file={disk},if=virtio,format=raw"])
        t, out, status = _time_to_init(cmd)
        assert b"marker found after reboot: pyqemu-survived-reboot" in out, out[-2000:]
        assert status == 0, out[-2000:]
        times[who] = t
    assert times["pyqemu"] <= times["qemu"] * 1.0 + 0.5, times
