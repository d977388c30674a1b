"""pyqemu-img: qemu-img's command line (subcommands, options, messages, exit codes).

Errors are one line on stderr, ``pyqemu-img: ...``, and a non-zero exit status; the
operations themselves live in pyqemu/block/img/.
"""

from __future__ import annotations

import getopt
import json
import os
import sys

from pyqemu.block.chain import open_image
from pyqemu.block.driver import BlockError

PROG = "pyqemu-img"

USAGE = f"""usage: {PROG} [standard options] command [command options]
Commands:
  amend [-f fmt] -o options filename
  check [-f fmt] [--output=ofmt] [-r [leaks | all]] filename
  commit [-f fmt] [-d] [-p] filename
  compare [-f fmt] [-F fmt] [-p] [-q] [-s] filename1 filename2
  convert [-c] [-p] [-n] [-f fmt] [-O output_fmt] [-o options] [-B backing_file] filename [filename2 [...]] output_filename
  create [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]
  info [-f fmt] [--output=ofmt] [--backing-chain] filename
  map [-f fmt] [--output=ofmt] filename
  measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] filename]
  rebase [-f fmt] [-u] -b backing_file [-F backing_fmt] filename
  resize [-f fmt] [--shrink] filename [+ | -]size
  snapshot [-l | -a snapshot | -c snapshot | -d snapshot] filename
"""


class UsageError(Exception):
    pass


def _open(filename: str, fmt: str | None = None, read_only: bool = True, backing: bool = True):
    try:
        return open_image(filename, fmt, read_only, backing)
    except BlockError as e:
        msg = str(e)
        if not msg.startswith("Could not open"):
            msg = f"Could not open '{filename}': {msg}"
        raise BlockError(msg) from None


def _parse(argv: list[str], short: str, long: list[str]) -> tuple[dict, list[str]]:
    try:
        opts, args = getopt.gnu_getopt(argv, short, long)
    except getopt.GetoptError as e:
        raise UsageError(str(e)) from None
    d: dict = {}
    for k, v in opts:
        if k == "-o" and "-o" in d:
            d["-o"] += "," + v
        else:
            d[k] = v
    if "-h" in d or "--help" in d:
        print(USAGE, end="")
        raise SystemExit(0)
    return d, args


def _output_json(o: dict) -> bool:
    fmt = o.get("--output", "human")
    if fmt not in ("human", "json"):
        raise BlockError("--output must be used with human or json as argument.")
    return fmt == "json"


def cmd_create(argv: list[str]) -> int:
    from pyqemu.block.img.create import create_image
    from pyqemu.block.img.util import parse_opts, parse_size
    o, args = _parse(argv, "F:b:f:ho:qu", ["object=", "help"])
    if not args:
        raise UsageError("Expecting image file name")
    fmt = o.get("-f", "raw")
    size = None
    if len(args) >= 2:
        try:
            size = parse_size(args[1])
        except ValueError:
            raise BlockError("Invalid image size specified. You may use k, M, G, T, P or E "
                             "suffixes for\npyqemu-img: kilobytes, megabytes, gigabytes, "
                             "terabytes, petabytes and exabytes.") from None
    if len(args) > 2:
        raise UsageError(f"Unexpected argument: {args[2]}")
    try:
        create_image(args[0], fmt, size, parse_opts(o.get("-o", "")), o.get("-b"), o.get("-F"),
                     "-u" in o, "-q" in o)
    except BlockError as e:
        raise BlockError(f"{args[0]}: {e}") from None
    return 0


def cmd_info(argv: list[str]) -> int:
    from pyqemu.block.img.info import info_output
    o, args = _parse(argv, "f:hU", ["output=", "backing-chain", "force-share", "help",
                                    "image-opts", "object="])
    if len(args) != 1:
        raise UsageError("Expecting one image file name")
    as_json = _output_json(o)
    drv = _open(args[0], o.get("-f"))
    try:
        sys.stdout.write(info_output(drv, as_json, "--backing-chain" in o))
    finally:
        drv.close()
    return 0


def cmd_check(argv: list[str]) -> int:
    from pyqemu.block.img.ops import cmd_check as check
    o, args = _parse(argv, "hf:r:T:qU", ["output=", "repair=", "help", "force-share",
                                         "object=", "image-opts"])
    if len(args) != 1:
        raise UsageError("Expecting one image file name")
    repair = o.get("-r", o.get("--repair"))
    if repair not in (None, "leaks", "all"):
        raise BlockError(f"Unknown option value for -r (expecting 'leaks' or 'all'): {repair}")
    as_json = _output_json(o)
    try:
        return check(args[0], o.get("-f"), repair, as_json)
    except BlockError as e:
        msg = str(e)
        if not msg.startswith("Could not open") and "does not support checks" not in msg:
            msg = f"Could not open '{args[0]}': {msg}"
        if "does not support checks" in msg:
            print(f"{PROG}: {msg}", file=sys.stderr)
            return 63
        raise BlockError(msg) from None


def cmd_convert(argv: list[str]) -> int:
    from pyqemu.block.img.convert import convert
    from pyqemu.block.img.create import create_image
    from pyqemu.block.img.util import parse_opts
    o, args = _parse(argv, "hf:O:B:Cco:l:S:pt:T:qnm:WUr:F:",
                     ["help", "target-is-zero", "object=", "force-share", "image-opts",
                      "target-image-opts", "salvage", "bitmaps", "skip-broken-bitmaps"])
    if len(args) < 2:
        raise UsageError("Expecting image file name")
    srcs, out = args[:-1], args[-1]
    out_fmt = o.get("-O", "raw")
    if out_fmt not in ("raw", "qcow2"):
        raise BlockError(f"Unknown file format '{out_fmt}'")
    opts = parse_opts(o.get("-o", ""))
    backing = o.get("-B")
    if "-c" in o and out_fmt != "qcow2":
        raise BlockError("Compression not supported for this file format")
    src_drvs = [_open(s, o.get("-f")) for s in srcs]
    total = sum(d.size() for d in src_drvs)
    for d in src_drvs:
        d.close()
    workers = int(o.get("-m", "0") or 0)
    if "-n" not in o:
        bfmt = o.get("-F")
        if backing and not bfmt:
            from pyqemu.block.chain import probe_format, resolve_backing
            bfmt = probe_format(resolve_backing(out, backing))
        try:
            create_image(out, out_fmt, total, opts, backing, bfmt, False, True)
        except BlockError as e:
            raise BlockError(f"{out}: {e}") from None
    target = _open(out, out_fmt, read_only=False)
    try:
        convert(srcs, o.get("-f"), target, "-c" in o, "-p" in o and "-q" not in o, workers)
    finally:
        target.close()
    return 0


def cmd_snapshot(argv: list[str]) -> int:
    from pyqemu.block.img.info import snapshot_table_text
    from pyqemu.block.qcow2 import snapshot as snap
    o, args = _parse(argv, "la:c:d:hqU", ["help", "force-share", "object=", "image-opts"])
    if len(args) != 1:
        raise UsageError("Expecting one image file name")
    actions = [k for k in ("-l", "-a", "-c", "-d") if k in o]
    if len(actions) > 1:
        raise UsageError("Cannot mix '-l', '-a', '-c', '-d'")
    action = actions[0] if actions else "-l"
    drv = _open(args[0], None, read_only=action == "-l", backing=action == "-l")
    try:
        if drv.format_name != "qcow2":
            raise BlockError("Could not create snapshot: Operation not supported" if action == "-c"
                             else "Operation not supported")
        name = o.get(action)
        if action == "-l":
            snaps = drv.snapshots()
            if snaps:
                sys.stdout.write("Snapshot list:\n" + snapshot_table_text(snaps))
        elif action == "-c":
            try:
                snap.create_snapshot(drv, name)
            except BlockError as e:
                raise BlockError(f"Could not create snapshot '{name}': {e}") from None
        elif action == "-a":
            try:
                snap.apply_snapshot(drv, name)
            except BlockError as e:
                msg = "Failed to load snapshot: No such file or directory" if "not found" in str(e) else e
                raise BlockError(f"Could not apply snapshot '{name}': {msg}") from None
        else:
            try:
                snap.delete_snapshot(drv, name)
            except BlockError as e:
                raise BlockError(f"Could not delete snapshot '{name}': {e}") from None
    finally:
        drv.close()
    return 0


def cmd_commit(argv: list[str]) -> int:
    from pyqemu.block.img.ops import cmd_commit as commit
    o, args = _parse(argv, "qf:ht:b:dpr:", ["help", "object=", "image-opts"])
    if len(args) != 1:
        raise UsageError("Expecting one image file name")
    commit(args[0], o.get("-f"), "-d" in o, "-p" in o)
    return 0


def cmd_rebase(argv: list[str]) -> int:
    from pyqemu.block.img.ops import cmd_rebase as rebase
    o, args = _parse(argv, "hf:F:b:upt:T:qUc", ["help", "object=", "image-opts", "force-share"])
    if len(args) != 1:
        raise UsageError("Expecting one image file name")
    if "-b" not in o:
        raise UsageError("Must specify backing file (-b) or use unsafe mode (-u)")
    rebase(args[0], o.get("-f"), o["-b"], o.get("-F"), "-u" in o)
    return 0


def cmd_resize(argv: list[str]) -> int:
    from pyqemu.block.img.ops import cmd_resize as resize
    # a leading '-' size (shrink by) must not be taken for an option
    argv = [("\0" + a if a[:1] == "-" and a[1:2].isdigit() else a) for a in argv]
    o, args = _parse(argv, "f:hq", ["help", "shrink", "object=", "image-opts", "preallocation="])
    args = [a.lstrip("\0") for a in args]
    if len(args) != 2:
        raise UsageError("Expecting image file name and size")
    resize(args[0], o.get("-f"), args[1], "--shrink" in o)
    return 0


def cmd_map(argv: list[str]) -> int:
    from pyqemu.block.img.inspect import map_output
    o, args = _parse(argv, "f:hU", ["output=", "help", "force-share", "image-opts", "object=",
                                    "start-offset=", "max-length="])
    if len(args) != 1:
        raise UsageError("Expecting one image file name")
    as_json = _output_json(o)
    drv = _open(args[0], o.get("-f"))
    try:
        sys.stdout.write(map_output(drv, as_json))
    finally:
        drv.close()
    return 0


def cmd_compare(argv: list[str]) -> int:
    from pyqemu.block.img.ops import cmd_compare as compare
    o, args = _parse(argv, "hf:F:T:pqsU", ["help", "force-share", "object=", "image-opts"])
    if len(args) != 2:
        raise UsageError("Expecting two image file names")
    try:
        return compare(args[0], args[1], o.get("-f"), o.get("-F", o.get("-f")), "-s" in o, "-q" in o)
    except BlockError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2


def cmd_measure(argv: list[str]) -> int:
    from pyqemu.block.img.inspect import measure
    from pyqemu.block.img.util import parse_opts, parse_size, qcow2_options
    o, args = _parse(argv, "hf:O:o:l:U", ["output=", "size=", "help", "force-share",
                                          "object=", "image-opts"])
    as_json = _output_json(o)
    out_fmt = o.get("-O", "raw")
    opts = qcow2_options(parse_opts(o.get("-o", ""))) if out_fmt == "qcow2" else None
    if ("--size" in o) == bool(args):
        raise BlockError("Either --size N or one filename must be specified.")
    drv = None
    if "--size" in o:
        try:
            size = parse_size(o["--size"])
        except ValueError:
            raise BlockError("Invalid image size specified.") from None
    else:
        drv = _open(args[0], o.get("-f"))
        size = drv.size()
    try:
        m = measure(size, drv, out_fmt, opts.cluster_size if opts else 65536,
                    opts.refcount_bits if opts else 16, opts.extended_l2 if opts else False)
    finally:
        if drv is not None:
            drv.close()
    if as_json:
        d = ({"bitmaps": 0} if drv is not None and out_fmt == "qcow2" else {}) | m
        print(json.dumps(d, indent=4))
    else:
        print(f"required size: {m['required']}\nfully allocated size: {m['fully-allocated']}")
        if drv is not None and out_fmt == "qcow2":
            print("bitmaps size: 0")
    return 0


def cmd_amend(argv: list[str]) -> int:
    from pyqemu.block.img.create import amend_image
    from pyqemu.block.img.util import parse_opts
    o, args = _parse(argv, "ho:f:t:pq", ["help", "object=", "image-opts", "force"])
    if len(args) != 1:
        raise UsageError("Expecting one image file name")
    if "-o" not in o:
        raise UsageError("Must specify options (-o)")
    amend_image(args[0], o.get("-f"), parse_opts(o["-o"]))
    return 0


COMMANDS = {
    "create": cmd_create, "info": cmd_info, "check": cmd_check, "convert": cmd_convert,
    "snapshot": cmd_snapshot, "commit": cmd_commit, "rebase": cmd_rebase, "resize": cmd_resize,
    "map": cmd_map, "compare": cmd_compare, "measure": cmd_measure, "amend": cmd_amend,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(f"{PROG}: Not enough arguments\nTry '{PROG} --help' for more information", file=sys.stderr)
        return 1
    if argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if argv[0] in ("-V", "--version"):
        print("pyqemu-img version 7.2.0 (pyqemu)")
        return 0
    cmd = COMMANDS.get(argv[0])
    if cmd is None:
        print(f"{PROG}: Command not found: {argv[0]}", file=sys.stderr)
        return 1
    try:
        rc = cmd(argv[1:])
    except UsageError as e:
        print(f"{PROG}: {e}\nTry '{PROG} --help' for more information", file=sys.stderr)
        return 1
    except BlockError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{PROG}: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:      # never a traceback for the user
        if os.environ.get("PYQEMU_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
