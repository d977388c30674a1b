"""virtio: the transport-independent device core, split virtqueues, the virtio-mmio
transport, and the devices (blk, rng, console).  virtio-pci lives in virtio_pci*.py."""
