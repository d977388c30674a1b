"""The state a Python-backend block function runs on in user mode: the engine's list of
words (RiscvCPU.use_word_list), with the hart's conversion views at cpu_state.CONV."""

from pyqemu.target.riscv.cpu_state import CONV, conversion_buffer


def state_words(values) -> list:
    words = list(values)
    assert len(words) <= CONV
    return words + [0] * (CONV - len(words)) + [conversion_buffer()]
