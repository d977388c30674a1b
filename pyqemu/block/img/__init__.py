"""The operations behind pyqemu-img's subcommands (qemu-img's, same output shapes)."""
