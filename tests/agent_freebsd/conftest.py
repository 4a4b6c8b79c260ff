"""Fixtures: the stand-in module and a device transport pointed at it."""
from __future__ import annotations

import pytest

from bsdnet.agent.transport_device import DeviceTransport

from .fakedev import FakeModule

# Small tables (well under a megabyte), as region.small_geometry().
SMALL = {"nvifs": 64, "nnexthops": 256, "nlabels": 64, "nvrfs": 16,
         "nrtbuckets": 64, "nflowbuckets": 256, "novfbuckets": 64,
         "maxhold": 128}
INTERFACES = {"vtnet0": 3, "tap0": 7, "tap1": 8}


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
