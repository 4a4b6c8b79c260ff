"""Fixtures for the agent tests: small regions in temporary files, no
datapath needed."""
from __future__ import annotations

import shutil
import tempfile

import pytest

from bsdnet.agent.region import Region, small_geometry
from bsdnet.agent.tables import Tables


@pytest.fixture
def region(tmp_path):
    r = Region.create(str(tmp_path / "region"), small_geometry())
    yield r
    r.close()


@pytest.fixture
def tables(region):
    # No grace period: tests of quarantine make their own pool.
    return Tables(region, grace=0.0)


@pytest.fixture
def sockdir():
    """A short directory for unix sockets (sun_path holds 108 bytes)."""
    d = tempfile.mkdtemp(prefix="bnag")
    yield d
    shutil.rmtree(d, ignore_errors=True)


from .helpers import fabric_topology  # noqa: E402


@pytest.fixture
def topo_doc():
    return fabric_topology()

