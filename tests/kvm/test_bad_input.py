"""Mistakes a user can make: one clear line on stderr and exit status 1, no traceback."""

from __future__ import annotations

import pytest

from kvm.kvmlib import DEBUG_EXIT, build_guest, pyqemu_cmd, run_vmm

PROG = "pyqemu-system-x86_64: "


def _one_line_error(proc, *needles: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PROG), err
    for n in needles:
        assert n in lines[0], err
    return lines[0]


@pytest.fixture(scope="module")
def junk(tmp_path_factory):
    p = tmp_path_factory.mktemp("bad") / "junk.bin"
    p.write_bytes(b"\x00not a kernel at all" * 2000)
    return p


def test_kernel_neither_bzimage_nor_elf(junk) -> None:
    proc = run_vmm(pyqemu_cmd(["-kernel", str(junk)]))
    _one_line_error(proc, "neither a bzImage", "nor an ELF")


def test_kernel_missing_file() -> None:
    proc = run_vmm(pyqemu_cmd(["-kernel", "/nonexistent/vmlinuz"]))
    _one_line_error(proc, "/nonexistent/vmlinuz", "No such file")


def test_initrd_missing_file() -> None:
    kernel = build_guest("bootparams", "kernel.ld", ".bzImage")
    proc = run_vmm(pyqemu_cmd(["-kernel", str(kernel), "-initrd", "/nonexistent/initrd"]))
    _one_line_error(proc, "initrd", "No such file")


def test_memory_larger_than_host() -> None:
    proc = run_vmm(pyqemu_cmd(["-m", "64T", "-bios", str(build_guest("realmode"))]))
    _one_line_error(proc, "cannot set up guest memory", "Cannot allocate memory")


def test_bios_of_a_bad_size(junk) -> None:
    proc = run_vmm(pyqemu_cmd(["-bios", str(junk)]))
    _one_line_error(proc, "could not load PC BIOS")


@pytest.mark.no_kvm_needed
def test_no_dev_kvm() -> None:
    proc = run_vmm(pyqemu_cmd(["-bios", str(build_guest("realmode")), *DEBUG_EXIT]),
                   env={"PYQEMU_KVM_DEVICE": "/nonexistent/kvm"})
    _one_line_error(proc, "Could not access KVM kernel module", "No such file")


@pytest.mark.no_kvm_needed
def test_kvm_device_that_is_not_kvm() -> None:
    proc = run_vmm(pyqemu_cmd(["-bios", str(build_guest("realmode")), *DEBUG_EXIT]),
                   env={"PYQEMU_KVM_DEVICE": "/dev/null"})
    _one_line_error(proc, "not a KVM device")


def test_unknown_device() -> None:
    proc = run_vmm(pyqemu_cmd(["-device", "no-such-device", "-bios",
                               str(build_guest("realmode"))]))
    _one_line_error(proc, "no-such-device")


def test_unknown_cpu_model() -> None:
    proc = run_vmm(pyqemu_cmd(["-cpu", "pentium9000"]))
    _one_line_error(proc, "pentium9000")


def test_too_many_cpus() -> None:
    proc = run_vmm(pyqemu_cmd(["-smp", "100000", "-bios", str(build_guest("realmode"))]))
    _one_line_error(proc, "100000")


def test_truncated_bzimage(tmp_path) -> None:
    kernel = build_guest("bootparams", "kernel.ld", ".bzImage").read_bytes()
    bad = tmp_path / "short.bzImage"
    bad.write_bytes(kernel[:0x400])
    proc = run_vmm(pyqemu_cmd(["-kernel", str(bad)]))
    _one_line_error(proc, "truncated")


