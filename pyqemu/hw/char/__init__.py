"""Character devices: UARTs."""
