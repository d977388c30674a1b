"""The virt board: device tree against qemu-system-riscv64's, boot ROM, CLI errors."""

import os
import shutil
import struct
import subprocess
import sys

import pytest

from pyqemu.hw import fdt
from pyqemu.hw.core.machine import MachineConfig
from pyqemu.hw.riscv.virt import RiscvVirt

QEMU = shutil.which("qemu-system-riscv64")
need_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 not installed")
PYQEMU = [sys.executable, "-m", "pyqemu.cli.system_riscv64"]
UBOOT = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin"

# Nodes QEMU builds that this board does not (yet): no fw-cfg, flash, PCIe, platform bus;
# the PMU node describes the CPU's counters and comes with the CPU model.
NOT_BUILT = ("/fw-cfg@", "/flash@", "/platform-bus@", "/pmu", "/soc/pci@")
# Properties whose value is random or describes the CPU model, not the board.
SKIP_PROPS = {"rng-seed", "riscv,isa", "mmu-type", "phandle"}
# Properties holding phandles: compared by the path of the node they point to.
PHANDLE_PROPS = {"interrupt-parent", "regmap", "cpu"}
PHANDLE_PAIRS = {"interrupts-extended"}


def dump_qemu(tmp_path, *args):
    out = tmp_path / "qemu.dtb"
    r = subprocess.run([QEMU, "-M", f"virt,dumpdtb={out}", *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def dump_pyqemu(tmp_path, *args):
    out = tmp_path / "pyqemu.dtb"
    r = subprocess.run(PYQEMU + ["-M", f"virt,dumpdtb={out}", *args], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "dtb dumped" in r.stderr
    return out.read_bytes()


def normalise(blob):
    """{path: {prop: value}} with phandles replaced by target paths; node order kept."""
    root = fdt.from_dtb(blob)
    nodes = list(root.walk())
    by_phandle = {}
    for path, node in nodes:
        if "phandle" in node.props:
            by_phandle[node.get_cells("phandle")[0]] = path
    out = {}
    for path, node in nodes:
        if path.startswith(NOT_BUILT):
            continue
        props = {}
        for name, value in node.props.items():
            if name in SKIP_PROPS:
                continue
            if name in PHANDLE_PROPS:
                props[name] = [by_phandle[c] for c in node.get_cells(name)]
            elif name in PHANDLE_PAIRS:
                c = node.get_cells(name)
                props[name] = [(by_phandle[c[i]], c[i + 1]) for i in range(0, len(c), 2)]
            else:
                props[name] = value
        out[path] = props
    return out


@need_qemu
@pytest.mark.parametrize("args", [(), ("-m", "256M", "-smp", "2"), ("-m", "1G", "-smp", "4"),
                                  ("-m", "3584M", "-smp", "8")])
def test_dtb_matches_qemu(tmp_path, args):
    ours_blob = dump_pyqemu(tmp_path, *args)
    # dtc accepts what we wrote (and decompiles it).
    r = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", "-o", "/dev/null", "-"],
                       input=ours_blob, capture_output=True)
    assert r.returncode == 0, r.stderr
    theirs, ours = normalise(dump_qemu(tmp_path, *args)), normalise(ours_blob)
    assert list(theirs) == [p for p in ours if p in theirs]     # same nodes, same order
    assert set(ours) == set(theirs)
    for path in theirs:
        assert ours[path] == theirs[path], path


@need_qemu
def test_chosen_for_kernel_initrd_append_matches_qemu(tmp_path):
    initrd = tmp_path / "initrd"
    initrd.write_bytes(os.urandom(100_000))
    args = ("-m", "512M", "-kernel", UBOOT, "-initrd", str(initrd), "-append",
            "console=ttyS0 root=/dev/vda rw")
    theirs = fdt.from_dtb(dump_qemu(tmp_path, *args)).find("/chosen")
    ours = fdt.from_dtb(dump_pyqemu(tmp_path, *args)).find("/chosen")
    for prop in ("bootargs", "linux,initrd-start", "linux,initrd-end", "stdout-path"):
        assert int.from_bytes(ours.props[prop][-4:], "big") == \
            int.from_bytes(theirs.props[prop][-4:], "big") or ours.props[prop] == theirs.props[prop]
    assert ours.props["bootargs"] == theirs.props["bootargs"]


def test_fdtget_reads_our_blob(tmp_path):
    blob = dump_pyqemu(tmp_path, "-smp", "3", "-m", "2G")
    f = tmp_path / "pyqemu.dtb"
    def get(*a):
        return subprocess.run(["fdtget", str(f), *a], capture_output=True, text=True,
                              check=True).stdout.split()
    assert get("-t", "x", "/memory@80000000", "reg") == ["0", "80000000", "0", "80000000"]
    assert get("/soc/serial@10000000", "compatible") == ["ns16550a"]
    assert get("-l", "/cpus") == ["cpu@0", "cpu@1", "cpu@2", "cpu-map"]
    assert fdt.to_dtb(fdt.from_dtb(blob)) == blob          # reader/writer round trip


def make_board(**kw):
    return RiscvVirt(MachineConfig(type="virt", ram_size=kw.pop("ram_size", 128 << 20), **kw))


def test_boot_rom_and_placement(tmp_path):
    m = make_board(bios="default", kernel=UBOOT, ram_size=256 << 20, smp=2)
    m.load_firmware()
    rom = m.sysmem.read(0x1000, 0x58)
    insns = struct.unpack("<6I", rom[:24])
    assert insns[0] == 0x00000297                  # auipc t0, 0
    assert insns[2] == 0xF1402573                  # csrr a0, mhartid
    assert insns[5] == 0x00028067                  # jr t0
    start, fdt_addr = struct.unpack("<QQ", rom[24:40])
    magic, version, next_addr, next_mode, _opts, boot_hart = struct.unpack("<6Q", rom[40:88])
    assert start == 0x80000000 and next_addr == 0x80200000
    assert (magic, version, next_mode, boot_hart) == (0x4942534F, 2, 1, 0)
    assert fdt_addr == 0x8FE00000
    assert fdt.from_dtb(m.sysmem.read(fdt_addr, 0x10000)).find("/chosen") is not None
    with open("/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin", "rb") as f:
        assert m.sysmem.read(0x80000000, 64) == f.read(64)
    with open(UBOOT, "rb") as f:
        assert m.sysmem.read(0x80200000, 64) == f.read(64)


def test_bios_none_jumps_to_kernel(tmp_path):
    k = tmp_path / "k.bin"
    k.write_bytes(b"\x6f\x00\x00\x00")             # j .
    m = make_board(bios="none", kernel=str(k))
    m.load_firmware()
    start = struct.unpack("<Q", m.sysmem.read(0x1018, 8))[0]
    assert start == 0x80000000 and m.sysmem.read(0x80000000, 4) == k.read_bytes()


def test_elf_kernel_loads_at_its_addresses(tmp_path):
    src = tmp_path / "k.S"
    src.write_text(".option norvc\n.globl _start\n_start: j _start\n.data\n.quad 0x1122334455667788\n")
    elf = tmp_path / "k.elf"
    cc = shutil.which("riscv64-linux-gnu-gcc")
    if cc is None:
        pytest.skip("riscv64-linux-gnu-gcc not installed")
    subprocess.run([cc, "-nostdlib", "-static", "-Wl,-Ttext-segment=0x80400000", "-o", str(elf), str(src)],
                   check=True)
    m = make_board(bios="default", kernel=str(elf))
    m.load_firmware()
    rom = m.sysmem.read(0x1000, 0x58)
    entry = struct.unpack("<Q", rom[0x28 + 16:0x28 + 24])[0]                # next_addr
    assert 0x80400000 < entry < 0x80401000
    assert m.sysmem.read(entry, 4) == b"\x6f\x00\x00\x00"


@pytest.mark.parametrize("argv, message", [
    (["-drive", "file=/nonexistent,if=none,id=hd0"], "-drive file=/nonexistent,if=none,id=hd0: "
                                                     "Could not open '/nonexistent'"),
    (["-drive", "file=/dev/null,format=vmdk"], "Unknown driver 'vmdk'"),
    (["-drive", "file=/dev/null,bogus=on"], "Invalid parameter 'bogus'"),
    (["-device", "virtio-blk-device,drive=nope"], "can't find value 'nope'"),
    (["-device", "no-such-device"], "'no-such-device' is not a valid device model name"),
    (["-device", "virtio-rng-device,bogus=1"], "Property 'virtio-rng-device.bogus' not found"),
    (["-M", "virt,bogus=1"], "Property 'virt-machine.bogus' not found"),
    (["-M", "sifive_u"], "unsupported machine type"),
    (["-smp", "600"], "Invalid SMP CPUs 600"),
    (["-smp", "x"], "-smp x: Parameter 'cpus' expects a number"),
    (["-m", "lots"], "-m lots: Parameter 'size'"),
    (["-kernel", "/nonexistent"], "could not load kernel '/nonexistent'"),
    (["-bios", "/nonexistent"], "could not load firmware '/nonexistent'"),
    (["-initrd", "/etc/hostname"], "Linux kernel required for -initrd"),
    (["-dtb", "/etc/hostname", "-kernel", UBOOT], "-dtb /etc/hostname: "),
    (["-serial", "bogus"], "-serial bogus: 'bogus' is not a valid char driver"),
    (["-chardev", "file,id=c0"], "-chardev file,id=c0: chardev: file: no filename given"),
    (["-frobnicate"], "-frobnicate: invalid option"),
    (["-kernel"], "-kernel: requires an argument"),
    (["-accel", "hax"], "-accel hax: invalid accelerator hax"),
    (["-accel", "kvm"], "-accel kvm: KVM cannot run riscv64 guests on this x86_64 host"),
    (["-accel", "tcg,frob=1", "-kernel", UBOOT], "-accel tcg: Property 'tcg-accel.frob' not found"),
    (["-accel", "tcg,tb-cache=maybe", "-kernel", UBOOT], "tb-cache=maybe: expected on or off"),
])
def test_cli_errors_are_one_line(argv, message):
    r = subprocess.run(PYQEMU + argv, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) in (1, 2) and lines[0].startswith("pyqemu-system-riscv64: "), r.stderr
    assert message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_user_dtb_gets_chosen(tmp_path):
    user = tmp_path / "user.dtb"
    root = fdt.FdtNode("")
    root.set("model", "mine")
    user.write_bytes(fdt.to_dtb(root))
    m = make_board(kernel=UBOOT, dtb=str(user), append="hello")
    tree = fdt.from_dtb(m.device_tree())
    assert tree.props["model"] == b"mine\0" and tree.find("/chosen").props["bootargs"] == b"hello\0"


def test_virtio_devices_fill_slots_from_the_top(tmp_path):
    disk = tmp_path / "d.raw"
    disk.write_bytes(bytes(1 << 20))
    m = make_board(drives=[], devices=[("virtio-rng-device", {})])
    assert m.sysmem.load(0x10008008, 4) == 4 and m.sysmem.load(0x10007008, 4) == 0
    from pyqemu.hw.core.machine import DriveConfig
    m = make_board(drives=[DriveConfig("hd0", str(disk), "none", "raw")],
                   devices=[("virtio-blk-device", {"drive": "hd0"}), ("virtio-rng-device", {})])
    assert m.sysmem.load(0x10008008, 4) == 2 and m.sysmem.load(0x10007008, 4) == 4


def qemu_words(args, addr, count):
    """Words of guest memory as the real QEMU has them before the first instruction."""
    r = subprocess.run([QEMU, "-M", "virt", "-display", "none", "-S", "-monitor", "stdio",
                        "-serial", "null", *args], input=f"xp /{count}wx {addr:#x}\nquit\n",
                       capture_output=True, text=True, timeout=60)
    words = []
    for line in r.stdout.splitlines():
        if line.startswith("0000"):
            words += [int(w, 16) for w in line.split(":")[1].split()]
    assert len(words) == count, r.stdout + r.stderr
    return words


@need_qemu
@pytest.mark.parametrize("args", [
    ("-m", "256M", "-smp", "2", "-kernel", UBOOT),
    ("-m", "1G", "-bios", "none", "-kernel", UBOOT),
    ("-m", "4G", "-smp", "3"),
])
def test_boot_rom_matches_qemu(args):
    cfg = {"-m": "128M", "-smp": "1", "-kernel": None, "-bios": None}
    for i in range(0, len(args), 2):
        cfg[args[i]] = args[i + 1]
    from pyqemu.qom.device import parse_size
    m = make_board(ram_size=parse_size(cfg["-m"]), smp=int(cfg["-smp"]), kernel=cfg["-kernel"],
                   bios=cfg["-bios"])
    m.load_firmware()
    ours = list(struct.unpack("<22I", m.sysmem.read(0x1000, 88)))
    assert ours == qemu_words(args, 0x1000, 22)
