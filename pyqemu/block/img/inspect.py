"""`map` (allocation of a whole chain) and `measure` (size a conversion would need)."""

from __future__ import annotations

import json

from pyqemu.block.chain import chain_list
from pyqemu.block.driver import (
    STATUS_ALLOCATED,
    STATUS_COMPRESSED,
    STATUS_DATA,
    STATUS_ZERO,
    BlockDriver,
)


def chain_status(top: BlockDriver, off: int, n: int) -> tuple[int, int, int, int | None, str]:
    """(length, depth, flags, host offset, filename) of the run at off through the chain."""
    layers = chain_list(top)
    for depth, d in enumerate(layers):
        if off >= d.size():
            # past this layer's end: reads as zeros from here down
            return n, depth, STATUS_ZERO, None, d.filename
        st = d.block_status(off, min(n, d.size() - off))
        n = min(n, st.length)
        if st.flags & STATUS_ALLOCATED:
            return n, depth, st.flags, st.host_offset, d.filename
    return n, len(layers) - 1, STATUS_ZERO, None, layers[-1].filename


def map_entries(top: BlockDriver) -> list[dict]:
    size = top.size()
    out: list[dict] = []
    off = 0
    while off < size:
        n, depth, flags, host, fname = chain_status(top, off, size - off)
        present = bool(flags & STATUS_ALLOCATED)
        e = {"start": off, "length": n, "depth": depth, "present": present,
             "zero": bool(flags & STATUS_ZERO), "data": bool(flags & STATUS_DATA)}
        if host is not None and flags & STATUS_DATA and not flags & STATUS_COMPRESSED:
            e["offset"] = host
        e["_file"] = fname
        if out:
            p = out[-1]
            same = all(p[k] == e[k] for k in ("depth", "present", "zero", "data", "_file"))
            contig = ("offset" not in p and "offset" not in e) or (
                "offset" in p and "offset" in e and p["offset"] + p["length"] == e["offset"])
            if same and contig:
                p["length"] += n
                off += n
                continue
        out.append(e)
        off += n
    return out


def _hex(v: int) -> str:
    return f"{v:#x}" if v else "0"


def map_output(top: BlockDriver, as_json: bool) -> str:
    entries = map_entries(top)
    if as_json:
        lines = []
        for e in entries:
            parts = [f'"{k}": {json.dumps(v)}' for k, v in e.items() if k != "_file"]
            lines.append("{ " + ", ".join(parts) + "}")
        return "[" + ",\n".join(lines) + "]\n"
    out = [f"{'Offset':<16}{'Length':<16}{'Mapped to':<16}File"]
    merged: list[list] = []
    for e in entries:
        if "offset" not in e:
            continue
        if merged and merged[-1][3] == e["_file"] and merged[-1][0] + merged[-1][1] == e["start"] \
                and merged[-1][2] + merged[-1][1] == e["offset"]:
            merged[-1][1] += e["length"]
        else:
            merged.append([e["start"], e["length"], e["offset"], e["_file"]])
    for s, n, h, f in merged:
        out.append(f"{_hex(s):<16}{_hex(n):<16}{_hex(h):<16}{f}")
    return "\n".join(out) + "\n"


def qcow2_meta_clusters(size: int, cluster_size: int, refcount_bits: int, extended_l2: bool,
                        data_clusters: int) -> int:
    """Clusters of header, L1, L2 and refcount metadata for an image of `size`."""
    cs = cluster_size
    entry = 16 if extended_l2 else 8
    guest = -(-size // cs)
    l2 = -(-guest * entry // cs)
    l2_per = cs // entry
    l1_entries = -(-guest // l2_per)
    l1 = -(-l1_entries * 8 // cs)
    base = 1 + l1 + l2 + data_clusters
    per_block = cs * 8 // refcount_bits
    blocks = table = 0
    while True:
        total = base + blocks + table
        nb = -(-total // per_block)
        nt = -(-nb * 8 // cs)
        if nb == blocks and nt == table:
            break
        blocks, table = nb, nt
    return base - data_clusters + blocks + table


def measure(size: int, top: BlockDriver | None, out_fmt: str, cluster_size: int,
            refcount_bits: int, extended_l2: bool) -> dict:
    cs = cluster_size
    allocated = 0
    if top is not None:
        off = 0
        last_counted = -1
        while off < size:
            n, _, flags, _, _ = chain_status(top, off, size - off)
            if flags & STATUS_ALLOCATED and flags & STATUS_DATA:
                first = off // cs
                last = (off + n - 1) // cs
                if first == last_counted:   # run starting inside an already counted cluster
                    first += 1
                allocated += max(0, last - first + 1)
                last_counted = last
            off += n
    if out_fmt == "raw":
        return {"required": allocated * cs if top is not None else size, "fully-allocated": size}
    guest = -(-size // cs)
    req_data = allocated if top is not None else 0
    # like qemu, refcount metadata is sized for a fully allocated image in both numbers
    meta_full = qcow2_meta_clusters(size, cs, refcount_bits, extended_l2, guest)
    return {"required": (meta_full + req_data) * cs, "fully-allocated": (meta_full + guest) * cs}
