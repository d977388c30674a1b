"""PCI: configuration space and BARs of a device, MSI-X, and the PC's host bridge."""
