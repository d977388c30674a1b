"""`check` printing, `snapshot`, `commit`, `rebase`, `resize`, `compare`, `amend`."""

from __future__ import annotations

import json
import sys

from pyqemu.block.chain import open_image, probe_format
from pyqemu.block.driver import STATUS_ALLOCATED, BlockDriver, BlockError
from pyqemu.block.qcow2.check import CheckResult, check_image

CHUNK = 1 << 20


def _check_json(res: CheckResult, filename: str) -> str:
    d: dict = {"image-end-offset": res.image_end_offset}
    if res.compressed_clusters or res.allocated_clusters:
        d["compressed-clusters"] = res.compressed_clusters
    d["total-clusters"] = res.total_clusters
    if res.corruptions:
        d["corruptions"] = res.corruptions
    d["check-errors"] = res.check_errors
    if res.leaks:
        d["leaks"] = res.leaks
    if res.corruptions_fixed:
        d["corruptions-fixed"] = res.corruptions_fixed
    if res.leaks_fixed:
        d["leaks-fixed"] = res.leaks_fixed
    if res.allocated_clusters:
        d["allocated-clusters"] = res.allocated_clusters
    d["filename"] = filename
    d["format"] = "qcow2"
    if res.allocated_clusters:
        d["fragmented-clusters"] = res.fragmented_clusters
    return json.dumps(d, indent=4) + "\n"


def _check_text(res: CheckResult) -> str:
    out = ""
    if not (res.corruptions or res.leaks or res.check_errors):
        out += "No errors were found on the image.\n"
    else:
        if res.corruptions:
            out += (f"\n{res.corruptions} errors were found on the image.\n"
                    "Data may be corrupted, or further writes to the image may corrupt it.\n")
        if res.leaks:
            out += (f"\n{res.leaks} leaked clusters were found on the image.\n"
                    "This means waste of disk space, but no harm to data.\n")
        if res.check_errors:
            out += f"\n{res.check_errors} internal errors have occurred during the check.\n"
    if res.total_clusters and res.allocated_clusters:
        t = res.total_clusters
        a = res.allocated_clusters
        out += (f"{a}/{t} = {a * 100.0 / t:0.2f}% allocated, "
                f"{res.fragmented_clusters * 100.0 / a:0.2f}% fragmented, "
                f"{res.compressed_clusters * 100.0 / a:0.2f}% compressed clusters\n")
    if res.image_end_offset:
        out += f"Image end offset: {res.image_end_offset}\n"
    return out


def cmd_check(filename: str, fmt: str | None, repair: str | None, as_json: bool) -> int:
    fmt = fmt or probe_format(filename)
    if fmt != "qcow2":
        open_image(filename, fmt).close()
        raise BlockError("This image format does not support checks")
    from pyqemu.block.qcow2.image import Qcow2Image

    img = Qcow2Image(filename, read_only=repair is None, repair_dirty=False)
    try:
        res = check_image(img, repair)
        for m in res.messages:
            print(m, file=sys.stderr)
        if repair and (res.leaks_fixed or res.corruptions_fixed):
            if not as_json:
                print("The following inconsistencies were found and repaired:\n\n"
                      f"    {res.leaks_fixed} leaked clusters\n"
                      f"    {res.corruptions_fixed} corruptions\n\n"
                      "Double checking the fixed image now...")
            fixed_l, fixed_c = res.leaks_fixed, res.corruptions_fixed
            res = check_image(img, None)
            for m in res.messages:
                print(m, file=sys.stderr)
            res.leaks_fixed, res.corruptions_fixed = fixed_l, fixed_c
            if img.header.incompatible_features & 1:
                img.header.incompatible_features &= ~1
                img.write_header()
    finally:
        img.close()
    sys.stdout.write(_check_json(res, filename) if as_json else _check_text(res))
    if res.check_errors:
        return 1
    if res.corruptions:
        return 2
    if res.leaks:
        return 3
    return 0


def cmd_commit(filename: str, fmt: str | None, drop: bool, progress: bool) -> None:
    top = open_image(filename, fmt, read_only=False, backing=False)
    try:
        if top.format_name != "qcow2" or not top.header.backing_file:
            raise BlockError("Image does not have a backing file")
        from pyqemu.block.chain import resolve_backing
        base = open_image(resolve_backing(filename, top.header.backing_file),
                          top.header.backing_format, read_only=False)
        top.backing = base
        size = top.size()
        if base.size() < size:
            base.truncate(size)
        off = 0
        while off < size:
            st = top.block_status(off, min(CHUNK * 16, size - off))
            if st.flags & STATUS_ALLOCATED:
                if st.flags & 2:
                    base.write_zeroes(off, st.length)
                else:
                    base.write(off, top.read(off, st.length))
            off += st.length
        base.flush()
        if not drop:
            # empty the top image: everything now lives in the base
            off = 0
            cs = top.cluster_size
            for gc in range(top.guest_cluster_count()):
                e, bmp = top.lookup(gc)
                if e or bmp:
                    top._set_entry(gc, 0, 0)
            del off, cs
    finally:
        top.close()
    print("Image committed.")


def cmd_rebase(filename: str, fmt: str | None, backing: str, bfmt: str | None, unsafe: bool) -> None:
    from pyqemu.block.chain import resolve_backing
    top = open_image(filename, fmt, read_only=False, backing=not unsafe)
    try:
        if top.format_name != "qcow2":
            raise BlockError("Image format does not support backing files")
        if backing and bfmt is None and not unsafe:
            bfmt = probe_format(resolve_backing(filename, backing))
        if not unsafe:
            new = (open_image(resolve_backing(filename, backing), bfmt, read_only=True)
                   if backing else None)
            try:
                size = top.size()
                cs = top.cluster_size
                for off in range(0, size, cs):
                    n = min(cs, size - off)
                    st = top.block_status(off, n)
                    if st.flags & STATUS_ALLOCATED and st.length >= n:
                        continue
                    old_data = top.backing.read_chain(off, n) if top.backing else bytes(n)
                    new_data = new.read_chain(off, n) if new else bytes(n)
                    if old_data != new_data:
                        # write the old view of the whole cluster into the top image
                        top.write(off, top.read(off, n))
            finally:
                if new is not None:
                    new.close()
            top.flush()
        top.header.backing_file = backing or None
        top.header.backing_format = (bfmt if backing else None)
        top.write_header()
        top.flush()
    finally:
        top.close()


def cmd_compare(f1: str, f2: str, fmt1: str | None, fmt2: str | None, strict: bool,
                quiet: bool) -> int:
    a = open_image(f1, fmt1)
    try:
        b = open_image(f2, fmt2)
    except BlockError:
        a.close()
        raise
    try:
        s1, s2 = a.size(), b.size()
        if s1 != s2:
            if strict:
                print("Strict mode: Image size mismatch!")
                return 1
            print("Warning: Image size mismatch!")
        common = min(s1, s2)
        for off in range(0, common, CHUNK):
            n = min(CHUNK, common - off)
            x, y = a.read(off, n), b.read(off, n)
            if x != y:
                i = next(i for i in range(0, n, 512) if x[i:i + 512] != y[i:i + 512])
                print(f"Content mismatch at offset {off + i}!")
                return 1
        big = a if s1 > s2 else b
        for off in range(common, max(s1, s2), CHUNK):
            n = min(CHUNK, max(s1, s2) - off)
            x = big.read(off, n)
            if x.count(0) != n:
                i = next(i for i in range(0, n, 512) if x[i:i + 512].count(0) != len(x[i:i + 512]))
                print(f"Content mismatch at offset {off + i}!")
                return 1
        if not quiet:
            print("Images are identical.")
        return 0
    finally:
        a.close()
        b.close()


def cmd_resize(filename: str, fmt: str | None, size_text: str, shrink: bool) -> None:
    from pyqemu.block.img.util import parse_size
    drv = open_image(filename, fmt, read_only=False)
    try:
        rel = size_text[:1] if size_text[:1] in "+-" else ""
        try:
            val = parse_size(size_text[1:] if rel else size_text)
        except ValueError:
            raise BlockError("Invalid image size specified. You may use k, M, G, T, P or E suffixes for") from None
        cur = drv.size()
        new = cur + val if rel == "+" else cur - val if rel == "-" else val
        if new < 0:
            raise BlockError("New image size must be positive")
        if new < cur and shrink and drv.format_name == "raw":
            pass
        if new < cur and not shrink:
            raise BlockError("Use the --shrink option to perform a shrink operation.")
        if new < cur:
            print("qemu-img: warning: Shrinking an image will delete all data beyond the shrunken "
                  "image's end. Before performing such an operation, make sure there is no "
                  "important data there.", file=sys.stderr)
        drv.truncate(new, shrink)
        drv.flush()
    finally:
        drv.close()
    print("Image resized.")


def open_for_block(drv: BlockDriver) -> BlockDriver:
    return drv
