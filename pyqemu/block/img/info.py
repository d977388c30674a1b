"""`info` and `snapshot -l` output: qemu-img's text layout and --output=json shape."""

from __future__ import annotations

import json
import os
import time

from pyqemu.block.chain import chain_list
from pyqemu.block.driver import BlockDriver, SnapshotInfo
from pyqemu.block.img.util import size_to_str
from pyqemu.block.qcow2.header import COMPAT_LAZY_REFCOUNTS, INCOMPAT_CORRUPT, INCOMPAT_DIRTY


def _qcow2_specific(img) -> dict:
    h = img.header
    ctype = "zstd" if h.compression_type else "zlib"
    if h.version == 2:
        return {"compat": "0.10", "compression-type": ctype, "refcount-bits": 1 << h.refcount_order}
    return {
        "compat": "1.1",
        "compression-type": ctype,
        "lazy-refcounts": bool(h.compatible_features & COMPAT_LAZY_REFCOUNTS),
        "refcount-bits": 1 << h.refcount_order,
        "corrupt": bool(h.incompatible_features & INCOMPAT_CORRUPT),
        "extended-l2": h.extended_l2,
    }


def snapshot_json(s: SnapshotInfo) -> dict:
    d = {}
    if s.icount is not None:
        d["icount"] = s.icount
    d.update({"vm-clock-nsec": s.vm_clock_nsec % 10**9, "name": s.name, "date-sec": s.date_sec,
              "date-nsec": s.date_nsec, "vm-clock-sec": s.vm_clock_nsec // 10**9, "id": s.id,
              "vm-state-size": s.vm_state_size})
    return d


def image_info(drv: BlockDriver) -> dict:
    """One image's ImageInfo, keys in qemu-img 7.2's order."""
    d: dict = {}
    snaps = drv.snapshots()
    if snaps:
        d["snapshots"] = [snapshot_json(s) for s in snaps]
    qcow2 = drv.format_name == "qcow2"
    if qcow2 and drv.header.backing_file and drv.header.backing_format:
        d["backing-filename-format"] = drv.header.backing_format
    d["virtual-size"] = drv.size()
    d["filename"] = drv.filename
    if qcow2:
        d["cluster-size"] = drv.cluster_size
    d["format"] = drv.format_name
    d["actual-size"] = drv.actual_size()
    if qcow2:
        d["format-specific"] = {"type": "qcow2", "data": _qcow2_specific(drv)}
        if drv.header.backing_file:
            bf = drv.header.backing_file
            d["full-backing-filename"] = (drv.backing.filename if drv.backing is not None
                                          else os.path.join(os.path.dirname(drv.filename), bf))
            d["backing-filename"] = bf
        d["dirty-flag"] = bool(drv.header.incompatible_features & INCOMPAT_DIRTY)
    else:
        d["dirty-flag"] = False
    return d


def snapshot_table_text(snaps: list[SnapshotInfo]) -> str:
    lines = [f"{'ID':<9} {'TAG':<17} {'VM SIZE':>7}{'DATE':>20}{'VM CLOCK':>13}{'ICOUNT':>11}"]
    for s in snaps:
        date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.date_sec))
        ns = s.vm_clock_nsec
        secs = ns // 10**9
        clock = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{ns // 10**6 % 1000:03d}"
        icount = "" if s.icount is None else str(s.icount)
        lines.append(f"{s.id:<9} {s.name:<17} {size_to_str(s.vm_state_size):>7}{date:>20}"
                     f"{clock:>13}{icount:>11}")
    return "\n".join(lines) + "\n"


def info_text(info: dict) -> str:
    out = [f"image: {info['filename']}", f"file format: {info['format']}",
           f"virtual size: {size_to_str(info['virtual-size'])} ({info['virtual-size']} bytes)",
           f"disk size: {size_to_str(info['actual-size'])}"]
    if "cluster-size" in info:
        out.append(f"cluster_size: {info['cluster-size']}")
    if "backing-filename" in info:
        line = f"backing file: {info['backing-filename']}"
        if info["full-backing-filename"] != info["backing-filename"]:
            line += f" (actual path: {info['full-backing-filename']})"
        out.append(line)
        if "backing-filename-format" in info:
            out.append(f"backing file format: {info['backing-filename-format']}")
    text = "\n".join(out) + "\n"
    if "snapshots" in info:
        snaps = [SnapshotInfo(s["id"], s["name"], s["vm-state-size"], s["date-sec"], s["date-nsec"],
                              s["vm-clock-sec"] * 10**9 + s["vm-clock-nsec"], s.get("icount"))
                 for s in info["snapshots"]]
        text += "Snapshot list:\n" + snapshot_table_text(snaps)
    if "format-specific" in info:
        text += "Format specific information:\n"
        for k, v in info["format-specific"]["data"].items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            text += f"    {k.replace('-', ' ')}: {v}\n"
    return text


def info_output(top: BlockDriver, as_json: bool, backing_chain: bool) -> str:
    drivers = chain_list(top) if backing_chain else [top]
    infos = [image_info(d) for d in drivers]
    if as_json:
        return json.dumps(infos if backing_chain else infos[0], indent=4) + "\n"
    return "\n".join(info_text(i) for i in infos)
