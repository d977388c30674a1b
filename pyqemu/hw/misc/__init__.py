"""Miscellaneous board devices."""
