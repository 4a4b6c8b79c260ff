"""Fixtures for the agent tests (region and tables: tests/conftest.py)."""
from __future__ import annotations

import shutil
import tempfile

import pytest

from .helpers import fabric_topology


@pytest.fixture
def sockdir():
    """A short directory for unix sockets (sun_path holds 108 bytes)."""
    d = tempfile.mkdtemp(prefix="bnag")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def topo_doc():
    return fabric_topology()
