"""The KVM system and VM file descriptors: /dev/kvm, memory slots, irqchip, PIT, routing.

KVM API documentation, section 4: ioctls on the system fd (KVM_GET_API_VERSION,
KVM_CREATE_VM, KVM_CHECK_EXTENSION, KVM_GET_SUPPORTED_CPUID, KVM_GET_MSR_INDEX_LIST) and
on the VM fd (KVM_SET_USER_MEMORY_REGION, KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2,
KVM_IRQ_LINE, KVM_SET_GSI_ROUTING, KVM_IRQFD, KVM_IOEVENTFD, KVM_SIGNAL_MSI,
KVM_SET_CLOCK / KVM_GET_CLOCK).

The device node can be overridden with the environment variable ``PYQEMU_KVM_DEVICE``
(used by the tests to simulate a host without /dev/kvm).
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.hw.core.machine import MachineError

if TYPE_CHECKING:
    from pyqemu.accel.kvm.vcpu import KvmVcpu

_libc = ctypes.CDLL(None, use_errno=True)
# ctypes drops the GIL around a foreign call: a vCPU thread blocked in KVM_RUN lets the
# main loop and the other vCPUs run.
libc_ioctl = _libc.ioctl
libc_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc_ioctl.restype = ctypes.c_int

DEFAULT_DEVICE = "/dev/kvm"


class KvmError(MachineError):
    """A KVM failure worth one line to the user (the CLI prefixes the program name)."""


def ioctl(fd: int, request: int, arg: object = None) -> int:
    """ioctl(2) with a ctypes struct (passed by reference), an int, or nothing."""
    if isinstance(arg, ctypes.Structure | ctypes.Array | ctypes.Union | ctypes._SimpleCData):
        arg = ctypes.addressof(arg)
    ret = libc_ioctl(fd, request, arg)
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


class Kvm:
    """The system file descriptor: /dev/kvm."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or os.environ.get("PYQEMU_KVM_DEVICE") or DEFAULT_DEVICE
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise KvmError(f"Could not access KVM kernel module: {e.strerror} ({self.path}); "
                           f"failed to initialize kvm") from None
        try:
            version = ioctl(self.fd, api.KVM_GET_API_VERSION)
        except OSError as e:
            os.close(self.fd)
            raise KvmError(f"{self.path} is not a KVM device: {e.strerror}") from None
        if version != api.KVM_API_VERSION:
            os.close(self.fd)
            raise KvmError(f"KVM API version {version} is not supported (need "
                           f"{api.KVM_API_VERSION})")
        self.vcpu_mmap_size = ioctl(self.fd, api.KVM_GET_VCPU_MMAP_SIZE)
        self._supported_cpuid: list[api.KvmCpuidEntry2] | None = None

    def check_extension(self, cap: int) -> int:
        return ioctl(self.fd, api.KVM_CHECK_EXTENSION, cap)

    def require(self, cap: int, name: str) -> None:
        if self.check_extension(cap) <= 0:
            raise KvmError(f"kvm: host KVM lacks the required capability {name}")

    def supported_cpuid(self) -> list[api.KvmCpuidEntry2]:
        """KVM_GET_SUPPORTED_CPUID: grow the buffer while the kernel answers E2BIG."""
        if self._supported_cpuid is None:
            n = 64
            while True:
                buf = api.kvm_cpuid2(n)()
                buf.nent = n
                try:
                    ioctl(self.fd, api.KVM_GET_SUPPORTED_CPUID, buf)
                    break
                except OSError as e:
                    if e.errno != errno.E2BIG or n > 4096:
                        raise KvmError(f"KVM_GET_SUPPORTED_CPUID: {e.strerror}") from None
                    n *= 2
            self._supported_cpuid = [api.KvmCpuidEntry2.from_buffer_copy(buf.entries[i])
                                     for i in range(buf.nent)]
        return [api.KvmCpuidEntry2.from_buffer_copy(e) for e in self._supported_cpuid]

    def msr_index_list(self) -> list[int]:
        n = 256
        while True:
            buf = api.kvm_msr_list(n)()
            buf.nmsrs = n
            try:
                ioctl(self.fd, api.KVM_GET_MSR_INDEX_LIST, buf)
                return list(buf.indices[:buf.nmsrs])
            except OSError as e:
                if e.errno != errno.E2BIG or n > 65536:
                    raise KvmError(f"KVM_GET_MSR_INDEX_LIST: {e.strerror}") from None
                n = max(buf.nmsrs, n * 2)

    def create_vm(self) -> KvmVm:
        try:
            fd = ioctl(self.fd, api.KVM_CREATE_VM, 0)
        except OSError as e:
            raise KvmError(f"KVM_CREATE_VM failed: {e.strerror}") from None
        return KvmVm(self, fd)

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class MemorySlot:
    slot: int
    guest_phys_addr: int
    memory_size: int
    userspace_addr: int
    flags: int


# GSIs 0-23 are the IOAPIC pins (0-15 also the PIC's); MSI routes are allocated above.
IOAPIC_NUM_PINS = 24


class KvmVm:
    """A VM file descriptor and what hangs off it: memory slots, irqchip, routing."""

    def __init__(self, kvm: Kvm, fd: int) -> None:
        self.kvm = kvm
        self.fd = fd
        self.slots: dict[int, MemorySlot] = {}
        self._free_slot = 0
        self.readonly_mem = kvm.check_extension(api.KVM_CAP_READONLY_MEM) > 0
        self.has_irqchip = False
        self._msi_routes: dict[int, tuple[int, int]] = {}     # gsi -> (address, data)
        self._next_gsi = IOAPIC_NUM_PINS
        self._routing_lock = threading.Lock()

    # --- memory -------------------------------------------------------------------
    def set_user_memory_region(self, slot: int, guest_phys_addr: int, memory_size: int,
                               userspace_addr: int, flags: int = 0) -> None:
        region = api.KvmUserspaceMemoryRegion(slot, flags, guest_phys_addr, memory_size,
                                              userspace_addr)
        try:
            ioctl(self.fd, api.KVM_SET_USER_MEMORY_REGION, region)
        except OSError as e:
            raise KvmError(f"KVM_SET_USER_MEMORY_REGION slot {slot} at {guest_phys_addr:#x}+"
                           f"{memory_size:#x}: {e.strerror}") from None

    def map_ram(self, guest_phys_addr: int, size: int, host_addr: int,
                readonly: bool = False) -> MemorySlot:
        """Give the guest [gpa, gpa+size) backed by host memory at host_addr.

        A read-only slot (ROM) makes guest writes exit to user space as MMIO; on a host
        without KVM_CAP_READONLY_MEM the ROM is mapped writable, as QEMU does then.
        """
        flags = api.KVM_MEM_READONLY if readonly and self.readonly_mem else 0
        slot = MemorySlot(self._free_slot, guest_phys_addr, size, host_addr, flags)
        self.set_user_memory_region(slot.slot, guest_phys_addr, size, host_addr, flags)
        self.slots[slot.slot] = slot
        while self._free_slot in self.slots:
            self._free_slot += 1
        return slot

    def unmap_ram(self, slot: MemorySlot) -> None:
        self.set_user_memory_region(slot.slot, slot.guest_phys_addr, 0, slot.userspace_addr,
                                    0)
        del self.slots[slot.slot]
        self._free_slot = min(self._free_slot, slot.slot)

    def follow_address_space(self, address_space: object) -> None:
        """Keep the memory slots equal to the RAM sections of an AddressSpace."""
        by_section: dict[int, MemorySlot] = {}

        def listener(event: str, section: object) -> None:
            if getattr(section, "ram", None) is None:
                return
            if event == "add":
                host = section.host_addr(section.base)
                # KVM slots are page granular; the RAM block's mapping is page aligned.
                size = (section.size + 0xFFF) & ~0xFFF
                by_section[id(section)] = self.map_ram(section.base, size, host,
                                                       section.readonly)
            elif id(section) in by_section:
                self.unmap_ram(by_section.pop(id(section)))

        address_space.add_listener(listener)

    # --- x86 VM set-up (api.rst 4.x: KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR) -----
    def set_tss_addr(self, addr: int) -> None:
        """Three pages Intel VMX needs to emulate real mode (must not overlap guest RAM)."""
        ioctl(self.fd, api.KVM_SET_TSS_ADDR, addr)

    def set_identity_map_addr(self, addr: int) -> None:
        ioctl(self.fd, api.KVM_SET_IDENTITY_MAP_ADDR, ctypes.c_uint64(addr))

    def create_irqchip(self) -> None:
        """In-kernel 8259 pair, IOAPIC and one local APIC per vCPU created afterwards."""
        try:
            ioctl(self.fd, api.KVM_CREATE_IRQCHIP)
        except OSError as e:
            raise KvmError(f"KVM_CREATE_IRQCHIP: {e.strerror}") from None
        self.has_irqchip = True

    def create_pit2(self) -> None:
        """In-kernel 8254 PIT on ports 0x40-0x43 (speaker port 0x61 stays ours)."""
        cfg = api.KvmPitConfig(flags=api.KVM_PIT_SPEAKER_DUMMY)
        try:
            ioctl(self.fd, api.KVM_CREATE_PIT2, cfg)
        except OSError as e:
            raise KvmError(f"KVM_CREATE_PIT2: {e.strerror}") from None

    def get_irqchip(self, chip_id: int) -> api.KvmIrqchip:
        chip = api.KvmIrqchip(chip_id=chip_id)
        ioctl(self.fd, api.KVM_GET_IRQCHIP, chip)
        return chip

    def reset_irqchip(self) -> None:
        """System reset of the in-kernel 8259s and IOAPIC (KVM keeps their state).

        The IOAPIC comes out of reset with every redirection entry masked (82093AA
        datasheet, 3.2.4); the 8259s wait for their initialisation words, unmasked
        and with nothing pending, their edge/level registers kept.
        """
        if not self.has_irqchip:
            return
        ioapic = self.get_irqchip(api.KVM_IRQCHIP_IOAPIC)
        st = ioapic.chip.ioapic
        st.ioregsel = st.irr = 0
        st.id = 0
        for i in range(api.KVM_IOAPIC_NUM_PINS):
            st.redirtbl[i] = 1 << 16
        ioctl(self.fd, api.KVM_SET_IRQCHIP, ioapic)
        for chip_id in (api.KVM_IRQCHIP_PIC_MASTER, api.KVM_IRQCHIP_PIC_SLAVE):
            pic = self.get_irqchip(chip_id)
            p = pic.chip.pic
            elcr, elcr_mask = p.elcr, p.elcr_mask
            ctypes.memset(ctypes.addressof(p), 0, ctypes.sizeof(p))
            p.elcr, p.elcr_mask = elcr, elcr_mask
            ioctl(self.fd, api.KVM_SET_IRQCHIP, pic)

    def irq_line(self, gsi: int, level: int) -> None:
        ioctl(self.fd, api.KVM_IRQ_LINE, api.KvmIrqLevel(gsi, level))

    # --- MSI routing ----------------------------------------------------------------
    def _default_routes(self) -> list[api.KvmIrqRoutingEntry]:
        """What KVM_CREATE_IRQCHIP installs: GSI 0-15 to both PICs, 0-23 to the IOAPIC.

        KVM_SET_GSI_ROUTING replaces the whole table, so these go in every time.
        """
        routes = []
        for gsi in range(16):
            chip = api.KVM_IRQCHIP_PIC_MASTER if gsi < 8 else api.KVM_IRQCHIP_PIC_SLAVE
            routes.append(self._irqchip_route(gsi, chip, gsi % 8))
        for gsi in range(IOAPIC_NUM_PINS):
            if gsi == 0:
                # The PIT's output reaches IOAPIC pin 2 (interrupt source override).
                routes.append(self._irqchip_route(0, api.KVM_IRQCHIP_IOAPIC, 2))
            elif gsi != 2:
                routes.append(self._irqchip_route(gsi, api.KVM_IRQCHIP_IOAPIC, gsi))
        return routes

    @staticmethod
    def _irqchip_route(gsi: int, chip: int, pin: int) -> api.KvmIrqRoutingEntry:
        e = api.KvmIrqRoutingEntry(gsi=gsi, type=api.KVM_IRQ_ROUTING_IRQCHIP)
        e.u.irqchip.irqchip = chip
        e.u.irqchip.pin = pin
        return e

    def _commit_routes(self) -> None:
        routes = self._default_routes()
        for gsi, (address, data) in sorted(self._msi_routes.items()):
            e = api.KvmIrqRoutingEntry(gsi=gsi, type=api.KVM_IRQ_ROUTING_MSI)
            e.u.msi.address_lo = address & 0xFFFF_FFFF
            e.u.msi.address_hi = address >> 32
            e.u.msi.data = data
            routes.append(e)
        table = api.kvm_irq_routing(len(routes))()
        table.nr = len(routes)
        for i, e in enumerate(routes):
            table.entries[i] = e
        try:
            ioctl(self.fd, api.KVM_SET_GSI_ROUTING, table)
        except OSError as e:
            raise KvmError(f"KVM_SET_GSI_ROUTING: {e.strerror}") from None

    def setup_irq_routing(self) -> None:
        """Install the PC's wiring (PIT on IOAPIC pin 2) before any MSI route exists."""
        with self._routing_lock:
            self._commit_routes()

    def add_msi_route(self, address: int, data: int) -> int:
        """Allocate a GSI that delivers the MSI (address, data); returns the GSI."""
        with self._routing_lock:
            gsi = self._next_gsi
            self._next_gsi += 1
            self._msi_routes[gsi] = (address, data)
            self._commit_routes()
            return gsi

    def update_msi_route(self, gsi: int, address: int, data: int) -> None:
        with self._routing_lock:
            if self._msi_routes.get(gsi) != (address, data):
                self._msi_routes[gsi] = (address, data)
                self._commit_routes()

    def signal_msi(self, address: int, data: int) -> int:
        """Inject one MSI directly (returns >0 if delivered, 0 if the guest blocked it)."""
        msg = api.KvmMsi(address_lo=address & 0xFFFF_FFFF, address_hi=address >> 32,
                         data=data)
        return ioctl(self.fd, api.KVM_SIGNAL_MSI, msg)

    # --- eventfds -------------------------------------------------------------------
    def irqfd(self, fd: int, gsi: int, deassign: bool = False) -> None:
        """Writing 1 to eventfd fd raises (edge) GSI gsi, without leaving the kernel."""
        flags = api.KVM_IRQFD_FLAG_DEASSIGN if deassign else 0
        try:
            ioctl(self.fd, api.KVM_IRQFD, api.KvmIrqfd(fd=fd, gsi=gsi, flags=flags))
        except OSError as e:
            raise KvmError(f"KVM_IRQFD gsi {gsi}: {e.strerror}") from None

    def ioeventfd(self, fd: int, addr: int, length: int, datamatch: int | None = None,
                  pio: bool = False, deassign: bool = False) -> None:
        """A guest write of length bytes at addr (MMIO or port) signals eventfd fd."""
        flags = (api.KVM_IOEVENTFD_FLAG_PIO if pio else 0) | \
            (api.KVM_IOEVENTFD_FLAG_DEASSIGN if deassign else 0)
        if datamatch is not None:
            flags |= api.KVM_IOEVENTFD_FLAG_DATAMATCH
        req = api.KvmIoeventfd(datamatch=datamatch or 0, addr=addr, len=length, fd=fd,
                               flags=flags)
        try:
            ioctl(self.fd, api.KVM_IOEVENTFD, req)
        except OSError as e:
            raise KvmError(f"KVM_IOEVENTFD at {addr:#x}: {e.strerror}") from None

    # --- kvmclock ---------------------------------------------------------------------
    def get_clock(self) -> int:
        data = api.KvmClockData()
        ioctl(self.fd, api.KVM_GET_CLOCK, data)
        return data.clock

    def set_clock(self, ns: int) -> None:
        """Set the kvmclock time base the guest reads through its pvclock pages."""
        ioctl(self.fd, api.KVM_SET_CLOCK, api.KvmClockData(clock=ns))

    def create_vcpu(self, vcpu_id: int) -> KvmVcpu:
        from pyqemu.accel.kvm.vcpu import KvmVcpu
        return KvmVcpu(self, vcpu_id)

    def close(self) -> None:
        os.close(self.fd)
