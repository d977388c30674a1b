"""VMA table semantics: placement, MAP_FIXED replacement, splitting, brk, mremap."""

from __future__ import annotations

import errno
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyqemu.linux_user.guest_memory import PERM_READ, PERM_WRITE, SPAN, GuestMemory
from pyqemu.linux_user.mmap import (
    COMPACT_TOP,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MAP_SHARED,
    MMAP_BASE,
    MREMAP_MAYMOVE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    MemoryMap,
)

ANON = MAP_PRIVATE | MAP_ANONYMOUS
RW = PROT_READ | PROT_WRITE


@pytest.fixture
def mm() -> MemoryMap:
    return MemoryMap(GuestMemory())


def spans(mm: MemoryMap) -> list[tuple[int, int, int]]:
    return [(v.start, v.end, v.prot) for v in mm.vmas]


def test_top_down_placement_and_zero_fill(mm) -> None:
    a = mm.mmap(0, 5000, RW, ANON)
    b = mm.mmap(0, 4096, RW, ANON)
    assert a + 8192 == MMAP_BASE and b == a - 4096
    mm.mem.write(a, b"dirty")
    mm.munmap(a, 8192)
    c = mm.mmap(0, 8192, RW, ANON)
    assert c == a and mm.mem.read(c, 5) == bytes(5)


def test_mappings_that_do_not_fit_below_the_stack_go_above_it(mm) -> None:
    """The usual layout is in the first GiB (one-digit ints for the Python backend);
    the rest of the guest's 2**38 bytes still serves big mappings."""
    low = mm.mmap(0, 64 << 20, RW, ANON)
    assert low + (64 << 20) <= MMAP_BASE < COMPACT_TOP
    big = [mm.mmap(0, 600 << 20, RW, ANON) for _ in range(3)]
    assert big[0] < COMPACT_TOP and all(COMPACT_TOP <= b < SPAN for b in big[1:])
    assert len({b for b in big}) == 3 and big[1] + (600 << 20) <= SPAN
    mm.mem.write(big[2] + (600 << 20) - 8, b"12345678")
    assert mm.mem.read(big[2] + (600 << 20) - 8, 8) == b"12345678"
    with pytest.raises(OSError) as e:
        mm.mmap(0, SPAN, RW, ANON)
    assert e.value.errno == errno.ENOMEM


def test_fixed_mapping_splits_neighbours(mm) -> None:
    base = 0x100000
    mm.mmap(base, 0x4000, RW, ANON | MAP_FIXED)
    mm.mmap(base + 0x1000, 0x1000, PROT_READ | PROT_EXEC, ANON | MAP_FIXED)
    assert spans(mm) == [(base, base + 0x1000, RW), (base + 0x1000, base + 0x2000, PROT_READ | PROT_EXEC),
                         (base + 0x2000, base + 0x4000, RW)]
    assert mm.can_execute(base + 0x1800) and not mm.can_execute(base + 0x2000)
    with pytest.raises(OSError) as e:
        mm.mmap(base, 0x1000, RW, ANON | MAP_FIXED_NOREPLACE)
    assert e.value.errno == errno.EEXIST


def test_munmap_hole_and_mprotect_merge(mm) -> None:
    base = 0x200000
    mm.mmap(base, 0x3000, RW, ANON | MAP_FIXED)
    mm.munmap(base + 0x1000, 0x1000)
    assert spans(mm) == [(base, base + 0x1000, RW), (base + 0x2000, base + 0x3000, RW)]
    mm.mmap(base + 0x1000, 0x1000, RW, ANON | MAP_FIXED)
    assert spans(mm) == [(base, base + 0x3000, RW)]
    mm.mprotect(base + 0x1000, 0x1000, PROT_READ)
    assert len(mm.vmas) == 3
    mm.mprotect(base + 0x1000, 0x1000, RW)
    assert spans(mm) == [(base, base + 0x3000, RW)]
    with pytest.raises(OSError) as e:
        mm.mprotect(base + 0x3000, 0x1000, RW)
    assert e.value.errno == errno.ENOMEM


def test_invalidate_on_exec_changes(mm) -> None:
    seen = []
    mm.on_invalidate = lambda s, e: seen.append((s, e))
    base = 0x300000
    mm.mmap(base, 0x2000, PROT_READ | PROT_EXEC, ANON | MAP_FIXED)
    mm.mprotect(base, 0x1000, RW)
    mm.munmap(base + 0x1000, 0x1000)
    assert (base, base + 0x1000) in seen and (base + 0x1000, base + 0x2000) in seen


def test_brk(mm) -> None:
    mm.start_brk = mm.brk_cur = 0x400000
    assert mm.brk(0x400000 + 10) == 0x400000 + 10
    mm.mem.write(0x400000, b"x")
    assert mm.brk(0x400000 + 0x5000) == 0x405000
    assert mm.find(0x404fff).name == "[heap]"
    assert mm.brk(0x3FF000) == 0x405000  # below the start: refused, old break returned
    assert mm.brk(0x400000) == 0x400000
    assert mm.find(0x400000) is None


def test_mremap_grow_in_place_and_move(mm) -> None:
    base = 0x500000
    mm.mmap(base, 0x1000, RW, ANON | MAP_FIXED)
    mm.mem.write(base, b"keep")
    assert mm.mremap(base, 0x1000, 0x3000, 0) == base
    mm.mmap(base + 0x3000, 0x1000, PROT_READ, ANON | MAP_FIXED)
    with pytest.raises(OSError):
        mm.mremap(base, 0x3000, 0x5000, 0)
    new = mm.mremap(base, 0x3000, 0x5000, MREMAP_MAYMOVE)
    assert new != base and mm.mem.read(new, 4) == b"keep"
    assert mm.find(base) is None and mm.find(new + 0x4fff) is not None


def test_file_mapping_private_and_shared(mm, tmp_path) -> None:
    f = tmp_path / "data"
    f.write_bytes(b"A" * 4096 + b"B" * 100)
    fd = os.open(f, os.O_RDWR)
    try:
        a = mm.mmap(0, 8192, PROT_READ, MAP_PRIVATE, fd, 0)
        assert mm.mem.read(a, 4) == b"AAAA"
        assert mm.mem.read(a + 4096, 101) == b"B" * 100 + b"\0"
        b = mm.mmap(0, 4096, RW, MAP_SHARED, fd, 4096)
        mm.mem.write(b, b"xy")
        mm.munmap(b, 4096)
        assert f.read_bytes()[4096:4099] == b"xyB"
        assert str(f) in mm.maps_text()
    finally:
        os.close(fd)


def test_check_range(mm) -> None:
    base = 0x600000
    mm.mmap(base, 0x2000, RW, ANON | MAP_FIXED)
    mm.mprotect(base + 0x1000, 0x1000, PROT_READ)
    assert mm.check_range(base, 0x2000, PROT_READ)
    assert not mm.check_range(base, 0x2000, PROT_WRITE)
    assert not mm.check_range(base + 0x1800, 0x1000, PROT_READ)


def test_shared_anonymous_memory_survives_fork(mm) -> None:
    a = mm.mmap(0, 8192, RW, MAP_SHARED | MAP_ANONYMOUS)
    b = mm.mmap(0, 4096, RW, ANON)
    pid = os.fork()
    if pid == 0:
        mm.mem.write(a + 4096, b"from child")
        mm.mem.write(b, b"private")
        os._exit(0)
    os.waitpid(pid, 0)
    assert mm.mem.read(a + 4096, 10) == b"from child"
    assert mm.mem.read(b, 7) == bytes(7)
    mm.munmap(a, 8192)
    c = mm.mmap(a, 8192, RW, ANON | MAP_FIXED)
    assert mm.mem.read(c + 4096, 10) == bytes(10)


def test_lookups_stay_consistent_while_another_thread_splits_vmas(mm) -> None:
    """A translator asks find/can_execute while another guest thread's mprotect splits
    and merges VMAs (thread stacks, guard pages): it must never see a library's text as
    unmapped. The switch interval is made tiny so that the interpreter changes threads
    inside the table updates."""
    import sys
    import threading

    text = mm.mmap(0, 16 * 4096, PROT_READ | PROT_EXEC, ANON)
    stack = mm.mmap(0, 64 * 4096, RW, ANON)  # below text: its changes shift the indices
    stop = threading.Event()
    bad = []

    def churn() -> None:
        while not stop.is_set():
            for k in range(1, 63, 2):
                mm.mprotect(stack + k * 4096, 4096, PROT_READ)  # split in three
            mm.mprotect(stack, 64 * 4096, RW)  # merged again

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(20000):
            if not mm.can_execute(text + 5 * 4096):
                bad.append("can_execute")
            v = mm.find(text)
            if v is None or not v.start <= text < v.end:
                bad.append("find")
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
    assert not bad, f"{len(bad)} inconsistent lookups, e.g. {bad[0]}"


# --- the page permission table (what native code tests at every access) ---------------
_WINDOW = 16  # pages, from a fixed base


def _expected_may(mm: MemoryMap, g: int, n: int, write: bool) -> bool:
    """From the VMA table alone: every byte of [g, g+n) in a mapping that allows the
    access (write-only and exec-only pages can be read, as under qemu-riscv64)."""
    for b in (g, g + n - 1):
        v = mm.find(b)
        if v is None or not (v.prot & PROT_WRITE if write else v.prot & 7):
            return False
    return True


@given(steps=st.lists(st.tuples(st.sampled_from(["mmap", "mprotect", "munmap"]),
                                st.integers(0, _WINDOW - 1), st.integers(1, 4),
                                st.sampled_from([0, PROT_READ, RW, PROT_WRITE, PROT_EXEC,
                                                 PROT_READ | PROT_EXEC])),
                      max_size=12),
       probes=st.lists(st.tuples(st.integers(0, _WINDOW * 4096 - 1),
                                 st.sampled_from([1, 2, 4, 8]), st.booleans()), max_size=40))
@settings(max_examples=150, deadline=None)
def test_permission_table_follows_the_vma_table(steps, probes) -> None:
    mm = MemoryMap(GuestMemory())
    base = 0x200000
    for kind, page, n, prot in steps:
        start, end = base + page * 4096, base + min(page + n, _WINDOW) * 4096
        try:
            if kind == "mmap":
                mm.mmap(start, end - start, prot, ANON | MAP_FIXED)
            elif kind == "mprotect":
                mm.mprotect(start, end - start, prot)
            else:
                mm.munmap(start, end - start)
        except OSError:
            pass
    mem = mm.mem
    for off, size, write in probes + [(p * 4096 - 4, 8, w) for p in range(1, _WINDOW)
                                      for w in (False, True)]:
        g = base + off
        bit = PERM_WRITE if write else PERM_READ
        assert mem.may(g, size, bit) == _expected_may(mm, g, size, write), (hex(g), size, write)
