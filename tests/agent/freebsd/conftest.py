"""Fixtures: the stand-in module and a device transport pointed at it."""
from __future__ import annotations

import pytest

from bsdnet.agent.transport_device import DeviceTransport

from .fakedev import INTERFACES, SMALL, FakeModule


@pytest.fixture
def fake(tmp_path):
    m = FakeModule(str(tmp_path), INTERFACES)
    yield m
    m.close()


@pytest.fixture
def transport(fake):
    t = DeviceTransport("/dev/bsdnet", create=True, sizes=SMALL, ops=fake)
    yield t
    t.close()


@pytest.fixture
def region(transport):
    r = transport.open_region()
    yield r
    r.close()
