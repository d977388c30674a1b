"""Random guest MMIO on the whole virt board: devices never raise (hypothesis)."""

from harts import RecordingHart
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyqemu.hw.core.machine import DriveConfig, MachineConfig
from pyqemu.hw.riscv.virt import RiscvVirt
from pyqemu.memory import GuestMemoryError

REGIONS = [(0x1000, 0xF000), (0x100000, 0x2000), (0x2000000, 0x10000), (0xC000000, 0x600000),
           (0x10000000, 0x9000), (0x80000000, 0x1000)]


def make(tmp_path_factory):
    disk = tmp_path_factory.mktemp("fuzz") / "d.raw"
    disk.write_bytes(bytes(1 << 20))
    m = RiscvVirt(MachineConfig(type="virt", ram_size=16 << 20, smp=2,
                                drives=[DriveConfig("hd0", str(disk), "none", "raw")],
                                devices=[("virtio-blk-device", {"drive": "hd0"}),
                                         ("virtio-rng-device", {})]))
    m.attach_cpus([RecordingHart(0), RecordingHart(1)])
    return m


access = st.tuples(st.sampled_from(REGIONS), st.integers(0, 0x5FFFFF), st.sampled_from([1, 2, 4, 8]),
                   st.integers(0, (1 << 64) - 1), st.booleans())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(access, min_size=1, max_size=60))
def test_random_mmio_never_raises(tmp_path_factory, accesses):
    m = make(tmp_path_factory)
    for (base, size), off, width, value, is_write in accesses:
        addr = base + off % size
        addr -= addr % width
        try:
            if is_write:
                m.sysmem.store(addr, width, value & ((1 << (8 * width)) - 1))
            else:
                m.sysmem.load(addr, width)
        except GuestMemoryError:
            pass        # unmapped holes between devices: the CPU raises an access fault
    m.close_block_backends()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 0x1FF), st.integers(0, (1 << 32) - 1)), max_size=80),
       st.binary(min_size=0, max_size=4096))
def test_random_virtio_driver_never_raises(tmp_path_factory, writes, ram):
    """A driver scribbling on the virtio registers with garbage rings in RAM."""
    m = make(tmp_path_factory)
    m.sysmem.write(0x80000000, ram)
    slot = 0x10008000          # the blk device
    m.sysmem.store(slot + 0x70, 4, 0xF)
    for off, value in writes:
        off &= ~3
        if off in (0x80, 0x90, 0xA0):
            value = 0x80000000 + (value & 0xFFF)   # rings in RAM that holds garbage
        m.sysmem.store(slot + off, 4, value)
        m.sysmem.store(slot + 0x50, 4, 0)          # kick
    m.close_block_backends()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=16 * 16, max_size=16 * 16), st.lists(st.integers(0, 0xFFFF), max_size=20),
       st.booleans())
def test_garbage_descriptors_give_an_error_state_not_a_traceback(tmp_path_factory, table, heads, rng):
    """A negotiated device, then random descriptor tables and avail entries."""
    from virtio_driver import MmioDriver

    m = make(tmp_path_factory)
    base = 0x10007000 if rng else 0x10008000
    drv = MmioDriver(m.sysmem, base, 0x80000000)
    assert drv.init(qsize=8 if rng else 16)
    st_ = drv.queues[0]
    m.sysmem.write(st_["desc"], table[:16 * st_["size"]])
    for h in heads:
        drv.publish(0, h)
    status = drv.status
    assert status & 0x40 or status == 0xF
    m.close_block_backends()
