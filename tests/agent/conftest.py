"""Fixtures for the agent tests (region and tables: tests/conftest.py)."""
from __future__ import annotations

import shutil
import tempfile

import pytest

from bsdnet.shm.region import Region, small_geometry

from .helpers import AgentProc, fabric_topology


@pytest.fixture
def sockdir():
    """A short directory for unix sockets (sun_path holds 108 bytes)."""
    d = tempfile.mkdtemp(prefix="bnag")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def topo_doc():
    return fabric_topology()


@pytest.fixture
def agent(tmp_path, sockdir):
    region = Region.create(str(tmp_path / "region"), small_geometry())
    a = AgentProc(tmp_path, sockdir, region.path)
    a.region = region
    yield a
    a.stop()
    region.close()
