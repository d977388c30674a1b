"""x86 PC hardware: the ``pc`` board, its ISA glue devices and direct Linux boot."""
