"""The Linux x86 boot protocol, checked by a guest kernel of our own.

tests/kvm/guests/bootparams.S is a bzImage whose 64-bit entry prints what it finds in
boot_params (e820, command line, initrd size and checksum).  pyqemu enters it directly
in 64-bit mode; QEMU boots it through SeaBIOS and the image's own real-mode setup.  The
output from the 64-bit entry on, and the exit status, must be the same.
"""

from __future__ import annotations

import random

import pytest

from kvm.kvmlib import CACHE, DEBUG_EXIT, build_guest, pyqemu_cmd, qemu_cmd, run_vmm

MARKER = b"64-bit entry reached"


@pytest.fixture(scope="module")
def boot_files():
    kernel = build_guest("bootparams", "kernel.ld", ".bzImage")
    initrd = CACHE / "bootparams-initrd.img"
    if not initrd.exists():
        rng = random.Random(7)
        initrd.write_bytes(bytes(rng.getrandbits(8) for _ in range(300_001)))
    return kernel, initrd


@pytest.mark.parametrize("mem", ["128M"])
def test_boot_params_match_qemu(boot_files, mem: str) -> None:
    kernel, initrd = boot_files
    args = ["-m", mem, "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", "console=ttyS0 root=/dev/vda rw quiet pyqemu=1", *DEBUG_EXIT]
    ref = run_vmm(qemu_cmd([*args, "-net", "none"]), timeout=600)
    ours = run_vmm(pyqemu_cmd(args), timeout=120)
    assert MARKER in ref.stdout, ref.stdout[-500:]
    ref_out = ref.stdout[ref.stdout.index(MARKER):].decode()
    assert ours.stdout.decode() == ref_out, ours.stderr.decode()
    assert ours.returncode == ref.returncode == (0x70 << 1) | 1
    assert "checksum=" in ref_out and '"console=ttyS0 root=/dev/vda rw quiet pyqemu=1"' in ref_out


def test_boot_params_large_memory(boot_files) -> None:
    """With 3.5 GiB the RAM splits around the PCI hole; the initrd stays below 4 GiB."""
    kernel, initrd = boot_files
    ours = run_vmm(pyqemu_cmd(["-m", "3584M", "-kernel", str(kernel), "-initrd", str(initrd),
                               "-append", "x", *DEBUG_EXIT]))
    out = ours.stdout.decode()
    assert "e820: usable [1 MiB, 16 MiB): yes" in out, ours.stderr.decode()
    assert "initrd page aligned: yes" in out
    assert ours.returncode == (0x70 << 1) | 1


def test_pvh_elf_matches_qemu(boot_files) -> None:
    """An ELF kernel with a XEN_ELFNOTE_PHYS32_ENTRY note boots through PVH."""
    _, initrd = boot_files
    kernel = build_guest("pvh", "pvh.ld", ".elf")
    args = ["-m", "128M", "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", "console=ttyS0 pvh=1", *DEBUG_EXIT]
    ref = run_vmm(qemu_cmd([*args, "-net", "none"]), timeout=600)
    ours = run_vmm(pyqemu_cmd(args), timeout=120)
    marker = b"PVH entry reached"
    assert marker in ref.stdout, ref.stdout[-500:]
    assert ours.stdout == ref.stdout[ref.stdout.index(marker):], ours.stderr.decode()
    assert ours.returncode == ref.returncode == (0x78 << 1) | 1


def test_elf_without_pvh_note_is_refused(tmp_path) -> None:
    elf = build_guest("pvh", "pvh.ld", ".elf").read_bytes()
    bad = tmp_path / "nonote.elf"
    bad.write_bytes(elf.replace(b"Xen\0", b"Nex\0"))
    proc = run_vmm(pyqemu_cmd(["-kernel", str(bad)]))
    err = proc.stderr.decode()
    assert proc.returncode == 1 and "PVH entry note" in err and "Traceback" not in err, err
