"""`create` and `amend`: making images and changing their creation options."""

from __future__ import annotations

from pyqemu.block.chain import open_image, resolve_backing
from pyqemu.block.driver import BlockError
from pyqemu.block.img.util import parse_size, qcow2_options
from pyqemu.block.qcow2.create import Qcow2Options, create_qcow2
from pyqemu.block.qcow2.header import (
    COMPAT_LAZY_REFCOUNTS,
    INCOMPAT_DIRTY,
    V3_HEADER_LEN,
)
from pyqemu.block.raw import create_raw


def create_image(filename: str, fmt: str, size: int | None, opts: dict[str, str],
                 backing: str | None, backing_fmt: str | None, unsafe: bool,
                 quiet: bool) -> None:
    if "size" in opts:
        try:
            size = parse_size(opts["size"])
        except ValueError:
            raise BlockError("Parameter 'size' expects a non-negative number below 2^64") from None
    if fmt == "raw":
        for k in opts:
            if k not in ("size", "preallocation"):
                raise BlockError(f"Invalid parameter '{k}'")
        if size is None:
            raise BlockError("Image creation needs a size parameter")
        if not quiet:
            print(f"Formatting '{filename}', fmt=raw size={size}")
        create_raw(filename, size, opts.get("preallocation", "off"))
        return
    if fmt != "qcow2":
        raise BlockError(f"Unknown file format '{fmt}'")
    o = qcow2_options(opts)
    backing = backing or o.backing_file
    backing_fmt = backing_fmt or o.backing_fmt
    if backing:
        if not backing_fmt:
            raise BlockError("Backing file specified without backing format")
        o.backing_file, o.backing_fmt = backing, backing_fmt
        if not unsafe or size is None:
            try:
                b = open_image(resolve_backing(filename, backing), backing_fmt)
            except BlockError as e:
                raise BlockError(f"{e}\nCould not open backing image.") from None
            if size is None:
                size = b.size()
            b.close()
    if size is None:
        raise BlockError("Image creation needs a size parameter")
    o.validate()
    if not quiet:
        parts = [f"cluster_size={o.cluster_size}", f"extended_l2={'on' if o.extended_l2 else 'off'}"]
        if o.preallocation != "off":
            parts.append(f"preallocation={o.preallocation}")
        parts.append(f"compression_type={'zstd' if o.compression_type else 'zlib'}")
        parts.append(f"size={size}")
        if backing:
            parts += [f"backing_file={backing}", f"backing_fmt={backing_fmt}"]
        if "compat" in opts:
            parts.append(f"compat={opts['compat']}")
        parts += [f"lazy_refcounts={'on' if o.lazy_refcounts else 'off'}",
                  f"refcount_bits={o.refcount_bits}"]
        print(f"Formatting '{filename}', fmt=qcow2 " + " ".join(parts))
    create_qcow2(filename, size, o)


def amend_image(filename: str, fmt: str | None, opts: dict[str, str]) -> None:
    img = open_image(filename, fmt, read_only=False, backing=True)
    try:
        if img.format_name != "qcow2":
            raise BlockError(f"Format driver '{img.format_name}' does not support option amendment")
        h = img.header
        cur = Qcow2Options(cluster_size=img.cluster_size, version=h.version,
                           compression_type=h.compression_type,
                           lazy_refcounts=bool(h.compatible_features & COMPAT_LAZY_REFCOUNTS),
                           extended_l2=h.extended_l2, refcount_bits=1 << h.refcount_order)
        new = qcow2_options(opts, Qcow2Options(**cur.__dict__))
        if new.cluster_size != cur.cluster_size:
            raise BlockError("Changing the cluster size is not supported")
        if new.refcount_bits != cur.refcount_bits:
            raise BlockError("Changing the refcount width is not supported by pyqemu-img")
        if new.extended_l2 != cur.extended_l2:
            raise BlockError("Toggling extended L2 entries is not supported")
        if new.compression_type != cur.compression_type:
            raise BlockError("Changing the compression type is not supported")
        if new.preallocation != "off":
            raise BlockError("Cannot change preallocation mode")
        if new.version == 2 and (new.lazy_refcounts or new.refcount_bits != 16):
            new.validate()
        new.validate()
        if new.version == 2 and h.version == 3:
            _downgrade(img)
        elif new.version == 3 and h.version == 2:
            h.version = 3
            h.header_length = V3_HEADER_LEN
            h.refcount_order = 4
        if new.lazy_refcounts:
            h.compatible_features |= COMPAT_LAZY_REFCOUNTS
        else:
            img.flush()
            h.compatible_features &= ~COMPAT_LAZY_REFCOUNTS
            h.incompatible_features &= ~INCOMPAT_DIRTY
            img.lazy_dirty_set = False
        if "backing_file" in opts:
            h.backing_file = opts["backing_file"] or None
        if "backing_fmt" in opts:
            h.backing_format = opts["backing_fmt"] or None
        img.flush()
        img.write_header()
        img.flush()
    finally:
        img.close()


def _downgrade(img) -> None:
    """v3 -> v2: zero clusters have no v2 form, so expand them first."""
    from pyqemu.block.qcow2.layout import L2E_OFFSET_MASK, OFLAG_COMPRESSED, OFLAG_ZERO

    h = img.header
    if h.incompatible_features & ~INCOMPAT_DIRTY:
        raise BlockError("Cannot downgrade an image with incompatible features set")
    cs = img.cluster_size
    for gc in range(img.guest_cluster_count()):
        e, _ = img.lookup(gc)
        if e & OFLAG_ZERO and not e & OFLAG_COMPRESSED:
            img._set_entry(gc, 0, 0)
            if img.backing is not None or e & L2E_OFFSET_MASK:
                n = min(cs, img.size() - gc * cs)
                if img.backing is not None:
                    img.write(gc * cs, bytes(n))
    img.flush()
    h.version = 2
    h.header_length = 72
    h.compatible_features = 0
    h.autoclear_features = 0
