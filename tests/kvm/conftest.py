import pytest

from kvm.kvmlib import kvm_usable


def pytest_collection_modifyitems(config, items):
    reason = kvm_usable()
    if reason is None:
        return
    for item in items:
        if "tests/kvm" in str(item.fspath) and not item.get_closest_marker("no_kvm_needed"):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config):
    config.addinivalue_line("markers", "no_kvm_needed: runs without /dev/kvm")
