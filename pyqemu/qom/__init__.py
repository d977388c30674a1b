"""Object model: devices with declared properties, realize/reset and migratable state."""

from pyqemu.qom.device import (
    DEVICE_TYPES,
    Device,
    DeviceError,
    Prop,
    parse_bool,
    parse_size,
    prop_bool,
    prop_int,
    prop_size,
    prop_str,
    register_device,
)

__all__ = ["DEVICE_TYPES", "Device", "DeviceError", "Prop", "parse_bool", "parse_size",
           "prop_bool", "prop_int", "prop_size", "prop_str", "register_device"]
