"""qcow2 image format (QEMU docs/interop/qcow2.txt), versions 2 and 3."""
