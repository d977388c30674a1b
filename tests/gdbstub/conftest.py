"""Fixtures of the gdbstub tests."""

import pytest

from .gdbutil import kill_started


@pytest.fixture(autouse=True)
def _reap_emulators():
    yield
    kill_started()
