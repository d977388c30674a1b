"""Board infrastructure shared by every machine type."""
