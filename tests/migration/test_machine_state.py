"""The VM state stream in-process: a round trip restores RAM, harts and devices, and
damaged or foreign streams are refused with a MigrationError before they can break a
device (the bytes come from a disk image anyone may have edited)."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from pyqemu.accel.tcg.system import TcgAccelerator
from pyqemu.hw.core.machine import MachineConfig
from pyqemu.hw.riscv.virt import RiscvVirt
from pyqemu.migration import MigrationError
from pyqemu.migration.machine_state import MAGIC, load_state, parse_sections, save_state
from pyqemu.target.riscv import cpu_state as cs


def tcg_virt(**config) -> RiscvVirt:
    """A 16 MiB virt board without firmware, reset, on the TCG accelerator."""
    m = RiscvVirt(MachineConfig(type="virt", ram_size=16 << 20, bios="none", **config))
    accel = TcgAccelerator({})
    accel.init_machine(m)
    m.accel = accel
    m.reset()
    accel.reset_cpus()
    return m


@pytest.fixture
def machine():
    m = tcg_virt()
    yield m
    m.main_loop.close()


def rebuild(sections: dict[str, bytes]) -> bytes:
    out = [MAGIC, struct.pack("<I", 1)]
    for name, data in list(sections.items()) + [("end", b"")]:
        nb = name.encode()
        out += [struct.pack("<I", len(nb)), nb, struct.pack("<Q", len(data)), data]
    return b"".join(out)


def test_round_trip(machine) -> None:
    hart = machine.cpus[0]
    machine.sysmem.write(0x80001000, b"saved bytes")
    hart.q[cs.PC] = 0x80001234
    hart.q[10] = 0xDEADBEEF
    machine.plic.priority[10] = 5
    machine.uart.scr = 0x42
    machine.aclint.mtimecmp[0] = 123456789
    data = save_state(machine)
    machine.sysmem.write(0x80001000, b"other bytes")
    hart.q[cs.PC] = 0
    hart.q[10] = 1
    machine.plic.priority[10] = 0
    machine.uart.scr = 0
    machine.aclint.mtimecmp[0] = 1
    load_state(machine, data)
    assert machine.sysmem.read(0x80001000, 11) == b"saved bytes"
    assert hart.q[cs.PC] == 0x80001234 and hart.q[10] == 0xDEADBEEF
    assert machine.plic.priority[10] == 5
    assert machine.uart.scr == 0x42
    assert machine.aclint.mtimecmp[0] == 123456789


def test_refuses_damaged_streams(machine) -> None:
    good = save_state(machine)
    sections = parse_sections(good)
    bad_cases = {
        "not ours": b"QEVM\0\0\0\3" + good[8:],
        "truncated": good[: len(good) // 2],
        "no end": good[:-12],
    }
    plic = next(k for k in sections if k.endswith("riscv.sifive.plic"))
    state = json.loads(sections[plic])
    for field, value in (("priority", "x"), ("priority", [1, 2]), ("threshold", None),
                         ("enable", {"a": 1})):
        s2 = dict(state, **{field: value})
        bad_cases[f"plic {field}={value!r}"] = rebuild({**sections, plic: json.dumps(s2).encode()})
    bad_cases["plic missing field"] = rebuild(
        {**sections, plic: json.dumps({k: v for k, v in state.items() if k != "levels"}).encode()})
    ram = next(k for k in sections if k.startswith("ram:riscv_virt_board.ram"))
    bomb = struct.pack("<Q", 16 << 20) + zlib.compress(bytes(64 << 20))
    bad_cases["ram larger than the block"] = rebuild({**sections, ram: bomb})
    bad_cases["ram corrupt"] = rebuild({**sections, ram: sections[ram][:8] + b"garbage"})
    bad_cases["cpu layout"] = rebuild({**sections, "cpu:0": struct.pack("<I", 8) + bytes(8)})
    other = dict(json.loads(sections["machine"]), smp=2)
    bad_cases["other machine"] = rebuild({**sections, "machine": json.dumps(other).encode()})
    for what, data in bad_cases.items():
        with pytest.raises(MigrationError):
            load_state(machine, data)
            pytest.fail(what)
    # Still a working machine: the good stream loads.
    load_state(machine, good)


def test_virtio_queue_state_survives(tmp_path) -> None:
    """A virtio-rng on virtio-mmio with a live queue: after save, more requests, a
    system reset and load, the device is back at DRIVER_OK with its queue where it was
    and serves the guest's next request in the right ring slot."""
    import copy

    from hw.virtio_driver import DESC_F_WRITE, MmioDriver

    m = tcg_virt(devices=[("virtio-rng-device", {})])
    try:
        drv = MmioDriver(m.sysmem, 0x10008000, 0x80100000)     # the highest slot
        assert drv.init(qsize=8)
        buf = drv.alloc(64)
        drv.write_desc(0, 0, buf, 64, DESC_F_WRITE)
        drv.publish(0, 0)
        assert drv.used(0) == [(0, 64)]
        data = save_state(m)
        guest_driver = copy.deepcopy(drv.queues)     # what guest RAM says of its rings
        drv.write_desc(0, 1, buf, 32, DESC_F_WRITE)
        drv.publish(0, 1)
        assert drv.used(0) == [(1, 32)]
        m.reset()
        assert drv.status == 0
        load_state(m, data)
        drv.queues = guest_driver
        assert drv.status == 0xF
        drv.w(0x30, 0)
        assert drv.r(0x44) == 1                      # QueueReady
        drv.write_desc(0, 1, buf, 16, DESC_F_WRITE)
        drv.publish(0, 1)
        assert drv.used(0) == [(1, 16)]
    finally:
        m.main_loop.close()


def test_interrupt_lines_are_redriven(machine) -> None:
    """After load, the harts' interrupt inputs follow the restored devices, whatever
    they were before: an expired mtimecmp raises MTIP, a pending enabled PLIC source
    raises MEIP, even when the hart had those lines low (a reset in between)."""
    hart = machine.cpus[0]
    aclint, plic = machine.aclint, machine.plic
    aclint.write(0x4000, 8, aclint.read_mtime())           # expired at once: MTIP
    plic.priority[20] = 1
    plic.enable[0][0] |= 1 << 20            # context 0: hart 0, M-mode; no device on 20
    plic.set_irq(20, True)
    assert hart.hw_mip & (1 << 7) and hart.hw_mip & (1 << 11)
    data = save_state(machine)
    machine.reset()
    plic.set_irq(20, False)
    assert not hart.hw_mip & ((1 << 7) | (1 << 11))
    load_state(machine, data)
    assert hart.hw_mip & (1 << 7), "MTIP not re-driven"
    assert hart.hw_mip & (1 << 11), "MEIP not re-driven"


@pytest.fixture
def translating_machine(monkeypatch):
    """A machine whose code is all translated (no interpreter tier), so that each run
    of code leaves blocks behind."""
    monkeypatch.setenv("PYQEMU_INTERP", "off")
    m = tcg_virt()
    yield m
    m.main_loop.close()


def test_translations_follow_restored_code(translating_machine) -> None:
    """Blocks translated from code the snapshot does not hold are dropped on load;
    blocks of unchanged code are kept (a live loadvm does not retranslate them)."""
    from pyqemu.migration.snapshots import flush_cpu_caches

    machine = translating_machine
    runner = machine.accel.runners[0]
    hart = runner.hart
    wfi, loop = 0x10500073, 0xFF9FF06F                   # wfi; j -8
    v1 = struct.pack("<III", 0x00150513, wfi, loop)      # addi a0, a0, 1
    v2 = struct.pack("<III", 0x06450513, wfi, loop)      # addi a0, a0, 100

    def step() -> None:
        hart.waiting = False
        runner.step()

    machine.sysmem.write(0x80000000, v1)
    hart.q[cs.PC] = 0x80000000
    hart.q[10] = 0
    step()
    assert hart.q[10] == 1
    data = save_state(machine)
    kept = dict(runner.tbc.by_key)
    machine.sysmem.write(0x80000000, v2)
    runner.tbc.check_code_pages()                        # the guest's fence.i
    step()
    step()
    assert hart.q[10] == 201
    load_state(machine, data)
    flush_cpu_caches(machine)
    step()
    assert hart.q[10] == 2                               # v1 again, not v2's +100
    # Unchanged code keeps its translations across a load.
    machine.sysmem.write(0x80000000, v1)
    load_state(machine, data)
    before = set(runner.tbc.by_key)
    flush_cpu_caches(machine)
    assert before and set(runner.tbc.by_key) == before
    assert kept


def test_two_harts_round_trip() -> None:
    m = tcg_virt(smp=2)
    try:
        for i, hart in enumerate(m.cpus):
            hart.q[cs.PC] = 0x80000000 + 4 * i
            hart.q[5] = 100 + i
        m.aclint.write(0x4008, 8, 77)                  # hart 1's mtimecmp
        m.aclint.write(0x4, 4, 1)                      # hart 1's msip
        data = save_state(m)
        m.reset()
        m.accel.reset_cpus()
        load_state(m, data)
        assert [h.q[5] for h in m.cpus] == [100, 101]
        assert [h.q[cs.PC] for h in m.cpus] == [0x80000000, 0x80000004]
        assert m.aclint.mtimecmp[1] == 77 and m.aclint.msip == [0, 1]
        assert m.cpus[1].hw_mip & (1 << 3) and not m.cpus[0].hw_mip & (1 << 3)
    finally:
        m.main_loop.close()
