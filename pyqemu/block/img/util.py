"""Shared helpers of the img tool: sizes, -o option lists, progress lines."""

from __future__ import annotations

import math
import sys

from pyqemu.block.driver import BlockError
from pyqemu.block.qcow2.create import Qcow2Options
from pyqemu.block.qcow2.header import COMPRESSION_ZLIB, COMPRESSION_ZSTD

_SUFFIXES = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
             "p": 1 << 50, "e": 1 << 60}


def parse_size(text: str) -> int:
    """'10G', '64k', '512' -> bytes (qemu's suffixes, binary multiples)."""
    t = text.strip()
    num = t.rstrip("bBkKmMgGtTpPeE")
    suffix = t[len(num):].lower()
    if suffix not in _SUFFIXES or not num:
        raise ValueError(text)
    try:
        value = float(num) if "." in num else int(num, 0)
    except ValueError:
        raise ValueError(text) from None
    size = int(value * _SUFFIXES[suffix])
    if size < 0 or (isinstance(value, float) and value * _SUFFIXES[suffix] != size):
        raise ValueError(text)
    return size


def size_to_str(value: int) -> str:
    """qemu's human size: '%0.3g' with binary suffixes ('196 KiB', '1.4 MiB')."""
    suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
    i = 0 if value <= 0 else min(int(math.log2(value) // 10), 6)
    return f"{value / (1 << (10 * i)):0.3g} {suffixes[i]}B"


def parse_opts(text: str) -> dict[str, str]:
    """'a=1,b=2' (',,' escapes a comma) -> dict, in qemu's -o syntax."""
    out: dict[str, str] = {}
    parts: list[str] = []
    cur = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                cur += ","
                i += 2
                continue
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    for p in parts:
        if not p:
            continue
        k, sep, v = p.partition("=")
        out[k.strip()] = v if sep else "on"
    return out


def _bool(name: str, v: str) -> bool:
    if v in ("on", "yes", "true"):
        return True
    if v in ("off", "no", "false"):
        return False
    raise BlockError(f"Parameter '{name}' expects 'on' or 'off'")


QCOW2_OPTS = ("size", "compat", "backing_file", "backing_fmt", "encryption", "cluster_size",
              "preallocation", "lazy_refcounts", "refcount_bits", "compression_type",
              "extended_l2", "data_file", "data_file_raw", "encrypt.format")


def qcow2_options(opts: dict[str, str], base: Qcow2Options | None = None) -> Qcow2Options:
    o = base or Qcow2Options()
    for k, v in opts.items():
        if k == "cluster_size":
            try:
                o.cluster_size = parse_size(v)
            except ValueError:
                raise BlockError("Cluster size must be a power of two between 512 and 2048k") from None
        elif k == "compat":
            if v in ("0.10", "v2"):
                o.version = 2
            elif v in ("1.1", "v3"):
                o.version = 3
            else:
                raise BlockError(f"Parameter 'version' does not accept value '{v}'")
        elif k == "compression_type":
            if v not in ("zlib", "zstd"):
                raise BlockError(f"Parameter 'compression-type' does not accept value '{v}'")
            o.compression_type = COMPRESSION_ZSTD if v == "zstd" else COMPRESSION_ZLIB
        elif k == "lazy_refcounts":
            o.lazy_refcounts = _bool(k, v)
        elif k == "extended_l2":
            o.extended_l2 = _bool(k, v)
        elif k == "refcount_bits":
            try:
                o.refcount_bits = int(v)
            except ValueError:
                raise BlockError("Refcount width must be a power of two and may not exceed 64 bits") from None
        elif k == "preallocation":
            o.preallocation = v
        elif k == "backing_file":
            o.backing_file = v
        elif k == "backing_fmt":
            o.backing_fmt = v
        elif k in ("size",):
            pass
        elif k in ("encryption", "encrypt.format", "data_file", "data_file_raw"):
            if v not in ("off", ""):
                raise BlockError(f"Parameter '{k}' is not supported by pyqemu")
        else:
            raise BlockError(f"Invalid parameter '{k}'")
    return o


class Progress:
    """qemu-img -p: '    (12.34/100%)' rewritten in place on stdout."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = -1.0
        if enabled:
            self.show(0.0)

    def show(self, pct: float) -> None:
        if not self.enabled or pct - self.last < 1.0 and pct < 100.0:
            return
        self.last = pct
        sys.stdout.write(f"    ({pct:3.2f}/100%)\r")
        sys.stdout.flush()

    def done(self) -> None:
        if self.enabled:
            if self.last < 100.0:
                self.show(100.0)
            sys.stdout.write("\n")
            sys.stdout.flush()
