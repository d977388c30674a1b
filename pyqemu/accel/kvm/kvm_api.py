"""The /dev/kvm user-space API: ioctl numbers, constants and ctypes structures.

Written from the KVM API documentation (Documentation/virt/kvm/api.rst, "4. API
Description" and "5. The kvm_run structure") for x86-64 hosts.  Every structure here
is laid out exactly as the kernel's UAPI header declares it; ``_check_layout`` pins
the sizes that the ioctl numbers encode, so a wrong field shows up at import time.
"""

from __future__ import annotations

import ctypes
from ctypes import c_int32, c_uint8, c_uint16, c_uint32, c_uint64

# --- ioctl number encoding (asm-generic/ioctl.h) -------------------------------------
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2
KVMIO = 0xAE


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (KVMIO << 8) | nr


def _io(nr: int) -> int:
    return _ioc(_IOC_NONE, nr, 0)


def _iow(nr: int, struct: type) -> int:
    return _ioc(_IOC_WRITE, nr, ctypes.sizeof(struct))


def _ior(nr: int, struct: type) -> int:
    return _ioc(_IOC_READ, nr, ctypes.sizeof(struct))


def _iowr(nr: int, struct: type) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, nr, ctypes.sizeof(struct))


# --- structures ----------------------------------------------------------------------
class KvmUserspaceMemoryRegion(ctypes.Structure):
    _fields_ = [("slot", c_uint32), ("flags", c_uint32), ("guest_phys_addr", c_uint64),
                ("memory_size", c_uint64), ("userspace_addr", c_uint64)]


KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
KVM_MEM_READONLY = 1 << 1


class KvmRegs(ctypes.Structure):
    _fields_ = [(n, c_uint64) for n in (
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags")]


class KvmSegment(ctypes.Structure):
    _fields_ = [("base", c_uint64), ("limit", c_uint32), ("selector", c_uint16),
                ("type", c_uint8), ("present", c_uint8), ("dpl", c_uint8), ("db", c_uint8),
                ("s", c_uint8), ("l", c_uint8), ("g", c_uint8), ("avl", c_uint8),
                ("unusable", c_uint8), ("padding", c_uint8)]


class KvmDtable(ctypes.Structure):
    _fields_ = [("base", c_uint64), ("limit", c_uint16), ("padding", c_uint16 * 3)]


KVM_NR_INTERRUPTS = 256


class KvmSregs(ctypes.Structure):
    _fields_ = [("cs", KvmSegment), ("ds", KvmSegment), ("es", KvmSegment),
                ("fs", KvmSegment), ("gs", KvmSegment), ("ss", KvmSegment),
                ("tr", KvmSegment), ("ldt", KvmSegment),
                ("gdt", KvmDtable), ("idt", KvmDtable),
                ("cr0", c_uint64), ("cr2", c_uint64), ("cr3", c_uint64), ("cr4", c_uint64),
                ("cr8", c_uint64), ("efer", c_uint64), ("apic_base", c_uint64),
                ("interrupt_bitmap", c_uint64 * ((KVM_NR_INTERRUPTS + 63) // 64))]


class KvmFpu(ctypes.Structure):
    _fields_ = [("fpr", c_uint8 * 128), ("fcw", c_uint16), ("fsw", c_uint16),
                ("ftwx", c_uint8), ("pad1", c_uint8), ("last_opcode", c_uint16),
                ("last_ip", c_uint64), ("last_dp", c_uint64), ("xmm", c_uint8 * 256),
                ("mxcsr", c_uint32), ("pad2", c_uint32)]


class KvmMsrEntry(ctypes.Structure):
    _fields_ = [("index", c_uint32), ("reserved", c_uint32), ("data", c_uint64)]


class KvmMsrsHeader(ctypes.Structure):
    _fields_ = [("nmsrs", c_uint32), ("pad", c_uint32)]


def kvm_msrs(n: int) -> type:
    """struct kvm_msrs with room for n entries (flexible array member)."""
    return type(f"KvmMsrs{n}", (ctypes.Structure,), {
        "_fields_": [("nmsrs", c_uint32), ("pad", c_uint32), ("entries", KvmMsrEntry * n)]})


class KvmMsrListHeader(ctypes.Structure):
    _fields_ = [("nmsrs", c_uint32)]


def kvm_msr_list(n: int) -> type:
    return type(f"KvmMsrList{n}", (ctypes.Structure,), {
        "_fields_": [("nmsrs", c_uint32), ("indices", c_uint32 * n)]})


class KvmCpuidEntry2(ctypes.Structure):
    _fields_ = [("function", c_uint32), ("index", c_uint32), ("flags", c_uint32),
                ("eax", c_uint32), ("ebx", c_uint32), ("ecx", c_uint32), ("edx", c_uint32),
                ("padding", c_uint32 * 3)]


KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0


class KvmCpuid2Header(ctypes.Structure):
    _fields_ = [("nent", c_uint32), ("padding", c_uint32)]


def kvm_cpuid2(n: int) -> type:
    return type(f"KvmCpuid2_{n}", (ctypes.Structure,), {
        "_fields_": [("nent", c_uint32), ("padding", c_uint32), ("entries", KvmCpuidEntry2 * n)]})


class KvmIrqLevel(ctypes.Structure):
    # union { __u32 irq; __s32 status; } then __u32 level
    _fields_ = [("irq", c_uint32), ("level", c_uint32)]


class KvmPitConfig(ctypes.Structure):
    _fields_ = [("flags", c_uint32), ("pad", c_uint32 * 15)]


KVM_PIT_SPEAKER_DUMMY = 1


class KvmIrqRoutingIrqchip(ctypes.Structure):
    _fields_ = [("irqchip", c_uint32), ("pin", c_uint32)]


class KvmIrqRoutingMsi(ctypes.Structure):
    _fields_ = [("address_lo", c_uint32), ("address_hi", c_uint32), ("data", c_uint32),
                ("devid", c_uint32)]


class _KvmIrqRoutingUnion(ctypes.Union):
    _fields_ = [("irqchip", KvmIrqRoutingIrqchip), ("msi", KvmIrqRoutingMsi),
                ("pad", c_uint32 * 8)]


class KvmIrqRoutingEntry(ctypes.Structure):
    _fields_ = [("gsi", c_uint32), ("type", c_uint32), ("flags", c_uint32), ("pad", c_uint32),
                ("u", _KvmIrqRoutingUnion)]


class KvmIrqRoutingHeader(ctypes.Structure):
    _fields_ = [("nr", c_uint32), ("flags", c_uint32)]


def kvm_irq_routing(n: int) -> type:
    return type(f"KvmIrqRouting{n}", (ctypes.Structure,), {
        "_fields_": [("nr", c_uint32), ("flags", c_uint32), ("entries", KvmIrqRoutingEntry * n)]})


KVM_IRQ_ROUTING_IRQCHIP = 1
KVM_IRQ_ROUTING_MSI = 2
KVM_IRQCHIP_PIC_MASTER = 0
KVM_IRQCHIP_PIC_SLAVE = 1
KVM_IRQCHIP_IOAPIC = 2


class KvmIrqfd(ctypes.Structure):
    _fields_ = [("fd", c_uint32), ("gsi", c_uint32), ("flags", c_uint32),
                ("resamplefd", c_uint32), ("pad", c_uint8 * 16)]


KVM_IRQFD_FLAG_DEASSIGN = 1 << 0
KVM_IRQFD_FLAG_RESAMPLE = 1 << 1


class KvmIoeventfd(ctypes.Structure):
    _fields_ = [("datamatch", c_uint64), ("addr", c_uint64), ("len", c_uint32),
                ("fd", c_int32), ("flags", c_uint32), ("pad", c_uint8 * 36)]


KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0
KVM_IOEVENTFD_FLAG_PIO = 1 << 1
KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2


class KvmMsi(ctypes.Structure):
    _fields_ = [("address_lo", c_uint32), ("address_hi", c_uint32), ("data", c_uint32),
                ("flags", c_uint32), ("devid", c_uint32), ("pad", c_uint8 * 12)]


class KvmMpState(ctypes.Structure):
    _fields_ = [("mp_state", c_uint32)]


KVM_MP_STATE_RUNNABLE = 0
KVM_MP_STATE_UNINITIALIZED = 1
KVM_MP_STATE_INIT_RECEIVED = 2
KVM_MP_STATE_HALTED = 3
KVM_MP_STATE_SIPI_RECEIVED = 4


class KvmClockData(ctypes.Structure):
    _fields_ = [("clock", c_uint64), ("flags", c_uint32), ("pad0", c_uint32),
                ("realtime", c_uint64), ("host_tsc", c_uint64), ("pad", c_uint32 * 4)]


class KvmGuestDebug(ctypes.Structure):
    # struct kvm_guest_debug_arch on x86 is __u64 debugreg[8]
    _fields_ = [("control", c_uint32), ("pad", c_uint32), ("debugreg", c_uint64 * 8)]


KVM_GUESTDBG_ENABLE = 0x00000001
KVM_GUESTDBG_SINGLESTEP = 0x00000002
KVM_GUESTDBG_USE_SW_BP = 0x00010000
KVM_GUESTDBG_USE_HW_BP = 0x00020000


class KvmLapicState(ctypes.Structure):
    _fields_ = [("regs", c_uint8 * 1024)]


class KvmPicState(ctypes.Structure):
    _fields_ = [(n, c_uint8) for n in (
        "last_irr", "irr", "imr", "isr", "priority_add", "irq_base", "read_reg_select",
        "poll", "special_mask", "init_state", "auto_eoi", "rotate_on_auto_eoi",
        "special_fully_nested_mode", "init4", "elcr", "elcr_mask")]


KVM_IOAPIC_NUM_PINS = 24


class KvmIoapicState(ctypes.Structure):
    _fields_ = [("base_address", c_uint64), ("ioregsel", c_uint32), ("id", c_uint32),
                ("irr", c_uint32), ("pad", c_uint32),
                ("redirtbl", c_uint64 * KVM_IOAPIC_NUM_PINS)]


class _KvmIrqchipUnion(ctypes.Union):
    _fields_ = [("dummy", ctypes.c_char * 512), ("pic", KvmPicState),
                ("ioapic", KvmIoapicState)]


class KvmIrqchip(ctypes.Structure):
    _fields_ = [("chip_id", c_uint32), ("pad", c_uint32), ("chip", _KvmIrqchipUnion)]


class KvmEnableCap(ctypes.Structure):
    _fields_ = [("cap", c_uint32), ("flags", c_uint32), ("args", c_uint64 * 4),
                ("pad", c_uint8 * 64)]


# --- struct kvm_run (api.rst section 5) ---------------------------------------------
class KvmRunIo(ctypes.Structure):
    _fields_ = [("direction", c_uint8), ("size", c_uint8), ("port", c_uint16),
                ("count", c_uint32), ("data_offset", c_uint64)]


KVM_EXIT_IO_IN = 0
KVM_EXIT_IO_OUT = 1


class KvmRunMmio(ctypes.Structure):
    _fields_ = [("phys_addr", c_uint64), ("data", c_uint8 * 8), ("len", c_uint32),
                ("is_write", c_uint8)]


class KvmRunFailEntry(ctypes.Structure):
    _fields_ = [("hardware_entry_failure_reason", c_uint64), ("cpu", c_uint32)]


class KvmRunInternal(ctypes.Structure):
    _fields_ = [("suberror", c_uint32), ("ndata", c_uint32), ("data", c_uint64 * 16)]


class KvmRunSystemEvent(ctypes.Structure):
    _fields_ = [("type", c_uint32), ("ndata", c_uint32), ("data", c_uint64 * 16)]


class KvmRunEx(ctypes.Structure):
    _fields_ = [("exception", c_uint32), ("error_code", c_uint32)]


class KvmRunDebug(ctypes.Structure):
    # struct kvm_debug_exit_arch (x86): exception, pad, pc, dr6, dr7
    _fields_ = [("exception", c_uint32), ("pad", c_uint32), ("pc", c_uint64),
                ("dr6", c_uint64), ("dr7", c_uint64)]


class _KvmRunExit(ctypes.Union):
    _fields_ = [("io", KvmRunIo), ("mmio", KvmRunMmio), ("fail_entry", KvmRunFailEntry),
                ("internal", KvmRunInternal), ("system_event", KvmRunSystemEvent),
                ("ex", KvmRunEx), ("debug", KvmRunDebug), ("hardware_exit_reason", c_uint64),
                ("padding", c_uint8 * 256)]


class KvmRun(ctypes.Structure):
    _fields_ = [("request_interrupt_window", c_uint8), ("immediate_exit", c_uint8),
                ("padding1", c_uint8 * 6), ("exit_reason", c_uint32),
                ("ready_for_interrupt_injection", c_uint8), ("if_flag", c_uint8),
                ("flags", c_uint16), ("cr8", c_uint64), ("apic_base", c_uint64),
                ("exit", _KvmRunExit),
                ("kvm_valid_regs", c_uint64), ("kvm_dirty_regs", c_uint64)]


KVM_EXIT_UNKNOWN = 0
KVM_EXIT_EXCEPTION = 1
KVM_EXIT_IO = 2
KVM_EXIT_HYPERCALL = 3
KVM_EXIT_DEBUG = 4
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_IRQ_WINDOW_OPEN = 7
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTR = 10
KVM_EXIT_SET_TPR = 11
KVM_EXIT_TPR_ACCESS = 12
KVM_EXIT_NMI = 16
KVM_EXIT_INTERNAL_ERROR = 17
KVM_EXIT_SYSTEM_EVENT = 24
KVM_EXIT_IOAPIC_EOI = 26

EXIT_REASON_NAMES = {v: k[len("KVM_EXIT_"):] for k, v in globals().items()
                     if k.startswith("KVM_EXIT_") and k not in ("KVM_EXIT_IO_IN", "KVM_EXIT_IO_OUT")}

KVM_SYSTEM_EVENT_SHUTDOWN = 1
KVM_SYSTEM_EVENT_RESET = 2
KVM_SYSTEM_EVENT_CRASH = 3

KVM_INTERNAL_ERROR_EMULATION = 1
KVM_INTERNAL_ERROR_SIMUL_EX = 2
KVM_INTERNAL_ERROR_DELIVERY_EV = 3

# --- capabilities (KVM_CHECK_EXTENSION) -----------------------------------------------
KVM_CAP_IRQCHIP = 0
KVM_CAP_HLT = 1
KVM_CAP_USER_MEMORY = 3
KVM_CAP_SET_TSS_ADDR = 4
KVM_CAP_EXT_CPUID = 7
KVM_CAP_NR_VCPUS = 9
KVM_CAP_NR_MEMSLOTS = 10
KVM_CAP_PIT = 11
KVM_CAP_MP_STATE = 14
KVM_CAP_IRQ_ROUTING = 25
KVM_CAP_SET_GUEST_DEBUG = 23
KVM_CAP_IRQFD = 32
KVM_CAP_PIT2 = 33
KVM_CAP_SET_IDENTITY_MAP_ADDR = 37
KVM_CAP_IOEVENTFD = 36
KVM_CAP_ADJUST_CLOCK = 39
KVM_CAP_READONLY_MEM = 81
KVM_CAP_MAX_VCPUS = 66
KVM_CAP_SIGNAL_MSI = 77
KVM_CAP_IMMEDIATE_EXIT = 136

KVM_API_VERSION = 12

# --- ioctls -----------------------------------------------------------------------------
# system fd (/dev/kvm)
KVM_GET_API_VERSION = _io(0x00)
KVM_CREATE_VM = _io(0x01)
KVM_GET_MSR_INDEX_LIST = _iowr(0x02, KvmMsrListHeader)
KVM_CHECK_EXTENSION = _io(0x03)
KVM_GET_VCPU_MMAP_SIZE = _io(0x04)
KVM_GET_SUPPORTED_CPUID = _iowr(0x05, KvmCpuid2Header)
# VM fd
KVM_CREATE_VCPU = _io(0x41)
KVM_SET_USER_MEMORY_REGION = _iow(0x46, KvmUserspaceMemoryRegion)
KVM_SET_TSS_ADDR = _io(0x47)
KVM_SET_IDENTITY_MAP_ADDR = _iow(0x48, c_uint64)
KVM_CREATE_IRQCHIP = _io(0x60)
KVM_IRQ_LINE = _iow(0x61, KvmIrqLevel)
KVM_GET_IRQCHIP = _iowr(0x62, KvmIrqchip)
KVM_SET_IRQCHIP = _ior(0x63, KvmIrqchip)      # (sic: declared _IOR in the UAPI header)
KVM_SET_GSI_ROUTING = _iow(0x6A, KvmIrqRoutingHeader)
KVM_IRQFD = _iow(0x76, KvmIrqfd)
KVM_CREATE_PIT2 = _iow(0x77, KvmPitConfig)
KVM_IOEVENTFD = _iow(0x79, KvmIoeventfd)
KVM_SET_CLOCK = _iow(0x7B, KvmClockData)
KVM_GET_CLOCK = _ior(0x7C, KvmClockData)
KVM_SIGNAL_MSI = _iow(0xA5, KvmMsi)
KVM_ENABLE_CAP = _iow(0xA3, KvmEnableCap)
# vCPU fd
KVM_RUN = _io(0x80)
KVM_GET_REGS = _ior(0x81, KvmRegs)
KVM_SET_REGS = _iow(0x82, KvmRegs)
KVM_GET_SREGS = _ior(0x83, KvmSregs)
KVM_SET_SREGS = _iow(0x84, KvmSregs)
KVM_GET_MSRS = _iowr(0x88, KvmMsrsHeader)
KVM_SET_MSRS = _iow(0x89, KvmMsrsHeader)
KVM_GET_FPU = _ior(0x8C, KvmFpu)
KVM_SET_FPU = _iow(0x8D, KvmFpu)
KVM_GET_LAPIC = _ior(0x8E, KvmLapicState)
KVM_SET_LAPIC = _iow(0x8F, KvmLapicState)
KVM_SET_CPUID2 = _iow(0x90, KvmCpuid2Header)
KVM_GET_MP_STATE = _ior(0x98, KvmMpState)
KVM_SET_MP_STATE = _iow(0x99, KvmMpState)
KVM_SET_GUEST_DEBUG = _iow(0x9B, KvmGuestDebug)
KVM_KVMCLOCK_CTRL = _io(0xAD)


def _check_layout() -> None:
    expected = {KvmUserspaceMemoryRegion: 32, KvmRegs: 144, KvmSegment: 24, KvmDtable: 16,
                KvmSregs: 312, KvmFpu: 416, KvmCpuidEntry2: 40, KvmIrqRoutingEntry: 48,
                KvmIrqfd: 32, KvmIoeventfd: 64, KvmMsi: 32, KvmClockData: 48,
                KvmGuestDebug: 72, KvmPitConfig: 64, KvmEnableCap: 104, KvmIrqchip: 520,
                KvmIoapicState: 216}
    for struct, size in expected.items():
        assert ctypes.sizeof(struct) == size, (struct.__name__, ctypes.sizeof(struct))
    assert KvmRun.exit.offset == 32 and KvmRun.kvm_valid_regs.offset == 288
    assert KVM_RUN == 0xAE80 and KVM_SET_USER_MEMORY_REGION == 0x4020AE46
    assert KVM_GET_SUPPORTED_CPUID == 0xC008AE05 and KVM_SET_SREGS == 0x4138AE84


_check_layout()
