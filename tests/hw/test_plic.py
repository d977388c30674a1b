"""PLIC: priorities, per-context enables and thresholds, claim/complete, level gateways."""

from harts import RecordingHart

from pyqemu.hw.intc.plic import MIP_MEIP, MIP_SEIP, Plic
from pyqemu.memory import AddressSpace

BASE = 0x0C00_0000


def setup(num_harts=2):
    harts = [RecordingHart(i) for i in range(num_harts)]
    plic = Plic(num_harts, 96, harts=harts)
    a = AddressSpace()
    a.map_mmio(BASE, plic.size, plic, "plic")
    return plic, a, harts


def ctx_reg(ctx, reg):
    return BASE + 0x200000 + 0x1000 * ctx + reg


def enable(a, ctx, source):
    addr = BASE + 0x2000 + 0x80 * ctx + 4 * (source // 32)
    a.store(addr, 4, a.load(addr, 4) | 1 << (source % 32))


def test_layout_matches_qemu_virt():
    plic, _, _ = setup(4)
    assert plic.num_contexts == 8 and plic.size == 0x208000


def test_claim_complete_flow():
    plic, a, harts = setup()
    a.store(BASE + 4 * 10, 4, 1)
    enable(a, 1, 10)                  # hart 0 S-mode context
    plic.irqs[10].raise_()
    assert harts[0].pending(MIP_SEIP) and not harts[0].pending(MIP_MEIP)
    assert harts[0].kicks == 1
    assert a.load(BASE + 0x1000, 4) == 1 << 10
    assert a.load(ctx_reg(1, 4), 4) == 10          # claim
    assert not harts[0].pending(MIP_SEIP)
    assert a.load(BASE + 0x1000, 4) == 0
    assert a.load(ctx_reg(1, 4), 4) == 0           # nothing else to claim
    a.store(ctx_reg(1, 4), 4, 10)                  # complete while the line is still high
    assert harts[0].pending(MIP_SEIP)              # the gateway forwards again
    plic.irqs[10].lower()
    assert not harts[0].pending(MIP_SEIP)


def test_priority_threshold_and_ties():
    plic, a, harts = setup()
    for s, p in ((3, 2), (5, 7), (7, 7)):
        a.store(BASE + 4 * s, 4, p)
        enable(a, 0, s)
        plic.set_irq(s, True)
    assert a.load(BASE + 4 * 5, 4) == 7
    a.store(BASE + 4 * 3, 4, 0xFF)                 # WARL: 3 priority bits
    assert a.load(BASE + 4 * 3, 4) == 7
    a.store(BASE + 4 * 3, 4, 2)
    a.store(ctx_reg(0, 0), 4, 7)                   # threshold 7 masks everything
    assert not harts[0].pending(MIP_MEIP)
    a.store(ctx_reg(0, 0), 4, 2)
    assert harts[0].pending(MIP_MEIP)
    assert a.load(ctx_reg(0, 4), 4) == 5           # 5 and 7 tie: lowest id
    assert a.load(ctx_reg(0, 4), 4) == 7
    assert a.load(ctx_reg(0, 4), 4) == 0           # 3 has priority 2 = threshold
    assert not harts[0].pending(MIP_MEIP)


def test_contexts_are_independent():
    plic, a, harts = setup()
    a.store(BASE + 4 * 1, 4, 1)
    enable(a, 3, 1)                                # hart 1 S-mode
    plic.set_irq(1, True)
    assert harts[1].pending(MIP_SEIP) and not harts[0].mip
    # Completing from a context where the source is not enabled is ignored.
    assert a.load(ctx_reg(3, 4), 4) == 1
    a.store(ctx_reg(0, 4), 4, 1)
    assert plic._bit(plic.claimed, 1)
    a.store(ctx_reg(3, 4), 4, 1)
    assert not plic._bit(plic.claimed, 1)


def test_hostile_accesses_are_harmless():
    plic, a, harts = setup()
    for off in (0x0, 0x1000, 0x2000, 0x2000 + 0x80 * 4, 0x1FFFFC, 0x200000 + 0x1000 * 3 + 8,
                0x200008, 0x3, 0x1001):
        for size in (1, 2, 4, 8):
            a.store(BASE + off - off % size, size, 0xFFFF_FFFF_FFFF_FFFF)
            a.load(BASE + off - off % size, size)
    a.store(ctx_reg(0, 4), 4, 12345)              # complete of a bogus id
    a.store(BASE + 0x2000, 4, 0xFFFF_FFFF)
    assert a.load(BASE + 0x2000, 4) == 0xFFFF_FFFE   # source 0 hardwired off
    a.store(BASE + 0x2008, 4, 0xFFFF_FFFF)           # sources 64..95 exist
    assert a.load(BASE + 0x2008, 4) == 0xFFFF_FFFF
    a.store(BASE + 0x200C, 4, 0xFFFF_FFFF)           # beyond 96 sources
    assert a.load(BASE + 0x200C, 4) == 0
    plic.set_irq(0, True)
    plic.set_irq(500, True)


def test_reset_keeps_asserted_lines_pending():
    plic, a, harts = setup()
    plic.set_irq(4, True)
    plic.reset()
    assert a.load(BASE + 0x1000, 4) == 1 << 4
