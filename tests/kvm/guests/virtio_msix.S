/* virtio_blk.S waiting for MSI-X interrupts instead of polling. */
    .set MSIX, 1
    .include "virtio_blk.S"
