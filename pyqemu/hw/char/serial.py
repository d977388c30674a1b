"""The 16550A UART (National Semiconductor / TI PC16550D datasheet), bus-agnostic.

Eight byte-wide registers at ``index << regshift`` (the riscv virt board maps them as
MMIO at 0x10000000 with regshift 0; a PC uses port I/O 0x3f8).  With DLAB (LCR bit 7)
set, offsets 0 and 1 are the divisor latch.  FIFO mode (FCR bit 0) gives 16-byte
receive and transmit FIFOs and the receive trigger levels 1/4/8/14.

Transmission is instantaneous: a THR write goes straight to the chardev (or, in
loopback, into the receive FIFO), so THRE and TEMT read as 1 and the "THR empty"
interrupt is re-armed at once — the guest sees a very fast line.  The character
timeout indication (IIR 0x0C) is raised as soon as received data sits below the
trigger level: a zero-length timeout, which every 8250 driver handles like "data
available".

Interrupt identification priorities (datasheet table "Interrupt Control Functions"):
receiver line status (0x06) > received data available (0x04) > character timeout
(0x0C) > THR empty (0x02) > modem status (0x00); bit 0 set means none pending.
"""

from __future__ import annotations

from collections import deque

from pyqemu.chardev import CHR_EVENT_BREAK, Chardev
from pyqemu.hw.irq import IrqLine
from pyqemu.qom.device import Device

# Register indexes.
RBR_THR_DLL, IER_DLM, IIR_FCR, LCR, MCR, LSR, MSR, SCR = range(8)

IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 0x01, 0x02, 0x04, 0x08

IIR_NO_INT, IIR_MSI, IIR_THRI, IIR_RDI, IIR_RLSI, IIR_CTI = 0x01, 0x00, 0x02, 0x04, 0x06, 0x0C
IIR_FIFO_ENABLED = 0xC0

FCR_ENABLE, FCR_CLEAR_RX, FCR_CLEAR_TX = 0x01, 0x02, 0x04
FIFO_TRIGGER = (1, 4, 8, 14)

LCR_DLAB = 0x80

MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10

LSR_DR, LSR_OE, LSR_PE, LSR_FE, LSR_BI = 0x01, 0x02, 0x04, 0x08, 0x10
LSR_THRE, LSR_TEMT, LSR_RXFIFO_ERR = 0x20, 0x40, 0x80
LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI

MSR_DCTS, MSR_DDSR, MSR_TERI, MSR_DDCD = 0x01, 0x02, 0x04, 0x08
MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80
MSR_DELTAS = 0x0F

FIFO_SIZE = 16


class Serial16550A(Device):
    type_name = "serial"
    vmstate = ("divisor", "ier", "lcr", "mcr", "lsr", "msr", "scr", "fcr", "thr_ipending",
               "rx_fifo_list")

    def __init__(self, chardev: Chardev | None, irq: IrqLine, regshift: int = 0,
                 baudbase: int = 115200) -> None:
        super().__init__()
        self.chardev = chardev
        self.irq = irq
        self.regshift = regshift
        self.baudbase = baudbase
        self.rx_fifo: deque[int] = deque()
        if chardev is not None:
            chardev.attach(self)
        self.reset()

    def reset(self) -> None:
        self.divisor = 0x0C          # 9600 baud from the 1.8432 MHz crystal
        self.ier = 0
        self.lcr = 0
        self.mcr = MCR_OUT2
        self.lsr = LSR_THRE | LSR_TEMT
        # With nothing connected to the modem lines QEMU reports carrier, DSR and CTS.
        self.msr = MSR_DCD | MSR_DSR | MSR_CTS
        self.scr = 0
        self.fcr = 0
        self.thr_ipending = False
        self.rx_fifo.clear()
        self._update_irq()

    vmstate_variable = ("rx_fifo_list",)

    def post_load(self) -> None:
        """After loadvm: drive the interrupt line from the restored registers."""
        self._update_irq()

    @property
    def rx_fifo_list(self) -> list[int]:
        return list(self.rx_fifo)

    @rx_fifo_list.setter
    def rx_fifo_list(self, values: list[int]) -> None:
        self.rx_fifo = deque(values)

    # --- bus side -----------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if offset & ((1 << self.regshift) - 1):
            return 0
        reg = offset >> self.regshift
        if reg == RBR_THR_DLL:
            if self.lcr & LCR_DLAB:
                return self.divisor & 0xFF
            return self._read_rbr()
        if reg == IER_DLM:
            return (self.divisor >> 8) if self.lcr & LCR_DLAB else self.ier
        if reg == IIR_FCR:
            iir = self._iir()
            if iir == IIR_THRI:
                # Reading IIR while THRE is the source clears it (datasheet).
                self.thr_ipending = False
                self._update_irq()
            return iir | (IIR_FIFO_ENABLED if self.fcr & FCR_ENABLE else 0)
        if reg == LCR:
            return self.lcr
        if reg == MCR:
            return self.mcr
        if reg == LSR:
            value = self.lsr
            if self.lsr & (LSR_BI | LSR_OE | LSR_PE | LSR_FE):
                self.lsr &= ~(LSR_ERRORS | LSR_RXFIFO_ERR)
                self._update_irq()
            return value
        if reg == MSR:
            value = self._msr_value()
            if self.msr & MSR_DELTAS:
                self.msr &= ~MSR_DELTAS
                self._update_irq()
            return value
        if reg == SCR:
            return self.scr
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset & ((1 << self.regshift) - 1):
            return
        reg = offset >> self.regshift
        value &= 0xFF
        if reg == RBR_THR_DLL:
            if self.lcr & LCR_DLAB:
                self.divisor = (self.divisor & 0xFF00) | value
            else:
                self._transmit(value)
        elif reg == IER_DLM:
            if self.lcr & LCR_DLAB:
                self.divisor = (self.divisor & 0xFF) | (value << 8)
            else:
                old = self.ier
                self.ier = value & 0x0F
                # Enabling ETBEI while the THR is empty raises the THRE interrupt.
                if (self.ier & IER_THRI) and not (old & IER_THRI) and self.lsr & LSR_THRE:
                    self.thr_ipending = True
                self._update_irq()
        elif reg == IIR_FCR:
            self._write_fcr(value)
        elif reg == LCR:
            self.lcr = value
        elif reg == MCR:
            self._write_mcr(value & 0x1F)
        elif reg == LSR:
            pass                     # LSR is read-only on a 16550A (factory test only)
        elif reg == MSR:
            pass
        elif reg == SCR:
            self.scr = value

    # --- registers ---------------------------------------------------------------------
    def _read_rbr(self) -> int:
        if not self.rx_fifo:
            return 0
        ch = self.rx_fifo.popleft()
        if not self.rx_fifo:
            self.lsr &= ~(LSR_DR | LSR_BI)
        self._update_irq()
        if self.chardev is not None and not self.mcr & MCR_LOOP:
            self.chardev.accept_input()
        return ch

    def _write_fcr(self, value: int) -> None:
        if value & FCR_CLEAR_RX:
            self.rx_fifo.clear()
            self.lsr &= ~(LSR_DR | LSR_BI)
        if (value ^ self.fcr) & FCR_ENABLE:
            # Switching FIFO mode on or off empties both FIFOs.
            self.rx_fifo.clear()
            self.lsr &= ~(LSR_DR | LSR_BI)
        self.fcr = value & 0xC9
        self._update_irq()
        if self.chardev is not None:
            self.chardev.accept_input()

    def _write_mcr(self, value: int) -> None:
        old_msr = self._msr_value()
        self.mcr = value
        new_msr = self._msr_value()
        # In loopback the modem outputs drive the modem inputs and their deltas.
        changed = old_msr ^ new_msr
        delta = 0
        if changed & MSR_CTS:
            delta |= MSR_DCTS
        if changed & MSR_DSR:
            delta |= MSR_DDSR
        if changed & MSR_DCD:
            delta |= MSR_DDCD
        if (old_msr & MSR_RI) and not (new_msr & MSR_RI):
            delta |= MSR_TERI          # trailing edge of ring indicator
        self.msr |= delta
        self._update_irq()

    def _msr_value(self) -> int:
        deltas = self.msr & MSR_DELTAS
        if self.mcr & MCR_LOOP:
            m = self.mcr
            lines = ((MSR_CTS if m & MCR_RTS else 0) | (MSR_DSR if m & MCR_DTR else 0)
                     | (MSR_RI if m & MCR_OUT1 else 0) | (MSR_DCD if m & MCR_OUT2 else 0))
            return lines | deltas
        return (self.msr & ~MSR_DELTAS) | deltas

    def _transmit(self, value: int) -> None:
        if self.mcr & MCR_LOOP:
            self._push_rx(bytes([value]))
        elif self.chardev is not None:
            self.chardev.write(bytes([value]))
        # The byte left at once: THR and shifter are empty again.
        self.lsr |= LSR_THRE | LSR_TEMT
        self.thr_ipending = True
        self._update_irq()

    def _fifo_capacity(self) -> int:
        return FIFO_SIZE if self.fcr & FCR_ENABLE else 1

    def _push_rx(self, data: bytes) -> None:
        for b in data:
            if len(self.rx_fifo) >= self._fifo_capacity():
                self.lsr |= LSR_OE     # overrun: the new character is lost
            else:
                self.rx_fifo.append(b)
        if self.rx_fifo:
            self.lsr |= LSR_DR
        self._update_irq()

    def _iir(self) -> int:
        ier, lsr = self.ier, self.lsr
        if ier & IER_RLSI and lsr & LSR_ERRORS:
            return IIR_RLSI
        if ier & IER_RDI and lsr & LSR_DR:
            if not self.fcr & FCR_ENABLE:
                return IIR_RDI
            trigger = FIFO_TRIGGER[self.fcr >> 6]
            return IIR_RDI if len(self.rx_fifo) >= trigger else IIR_CTI
        if ier & IER_THRI and self.thr_ipending:
            return IIR_THRI
        if ier & IER_MSI and self.msr & MSR_DELTAS:
            return IIR_MSI
        return IIR_NO_INT

    def _update_irq(self) -> None:
        # A level-triggered line: only a change is news to the interrupt controller
        # (every byte written re-evaluates it; most leave it as it was).
        level = self._iir() != IIR_NO_INT
        if level != self.irq.level:
            self.irq.set(level)

    # --- chardev frontend -----------------------------------------------------------------
    def can_receive(self) -> int:
        if self.mcr & MCR_LOOP:
            return 0                 # in loopback the line input is disconnected
        return self._fifo_capacity() - len(self.rx_fifo)

    def receive(self, data: bytes) -> None:
        self._push_rx(data)

    def chr_event(self, event: str) -> None:
        if event == CHR_EVENT_BREAK:
            # A break reads as a NUL character with BI set (datasheet LSR bit 4).
            self.lsr |= LSR_BI
            self._push_rx(b"\x00")

    # --- diagnostics ----------------------------------------------------------------------
    @property
    def baud(self) -> int:
        return self.baudbase // self.divisor if self.divisor else 0
