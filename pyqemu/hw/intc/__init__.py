"""Interrupt controllers: PLIC, ACLINT."""
